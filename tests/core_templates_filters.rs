//! Properties of body templates (`deliver::template`) and `where` filters (`route::filter`):
//! any template and any event give valid JSON; a template without placeholders is its own
//! output; placeholders give back exactly the event's values; filter operators keep their
//! documented semantics; a filter checked before enrichment never drops an event that would
//! match after it. Also: `path::event_value` equals parsing the event's JSON.

use b2b_relay::core::deliver::enrich::{self, Enrichment};
use b2b_relay::core::deliver::template;
use b2b_relay::core::event::{self, CloudEvent, EncodedEvent};
use b2b_relay::core::ingest::callback;
use b2b_relay::core::route::filter;
use b2b_relay::core::route::path::{event_value, Needs, ATTRIBUTES};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::path::Path;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec!["company_id", "x", "resource", "companyName", "a", "b"])
            .prop_map(str::to_owned),
        "[a-zA-Z_][a-zA-Z0-9_-]{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (-5i64..5).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[a-c\"\\\\{}<>\n ]{0,6}".prop_map(Value::from),
    ]
}

/// Any JSON value, keys included, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A structured CloudEvent with arbitrary `data` (and, sometimes, enrichment in it).
fn event_strategy() -> impl Strategy<Value = Value> {
    (
        json_value(),
        proptest::option::of(json_value()),
        any::<String>(),
    )
        .prop_map(|(data, resource, subject)| {
            let mut data = match data {
                Value::Object(m) => m,
                other => Map::from_iter([("x".to_owned(), other)]),
            };
            if let Some(r) = resource {
                data.insert("resource".into(), r);
                data.insert("enrichment".into(), "ok".into());
            }
            json!({
                "specversion": "1.0",
                "id": "e41ea8cb",
                "source": "https://api.bigcommerce.com/stores/abc123",
                "type": "com.bigcommerce.company.created",
                "subject": subject,
                "time": "2025-11-28T00:00:00Z",
                "storehash": "abc123",
                "storeid": "1001",
                "bcscope": "store/company/created",
                "data": data,
            })
        })
}

/// Strings made of template syntax, valid and broken.
fn template_string() -> impl Strategy<Value = String> {
    let bits = vec![
        "{{ data.x }}",
        "{{data.company_id}}",
        "{{ data.resource.companyName }}",
        "{{ data.a[0].b }}",
        "{{ id }}",
        "{{ subject ?? \"none\" }}",
        "{{ data.x ?? 0 }}",
        "{{ data }}",
        "{{ nope }}",
        "{{",
        "}}",
        "\\{{",
        "\\}}",
        "{",
        "}",
        "?",
        "??",
        "\"",
        "\\",
        " ",
        "text",
        "é",
        "\n",
        "data.x",
    ];
    proptest::collection::vec(proptest::sample::select(bits), 0..6).prop_map(|v| v.concat())
}

fn template_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => template_string().prop_map(Value::from),
        1 => scalar(),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn has_braces(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("}}"),
        Value::Array(a) => a.iter().any(has_braces),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains("{{") || has_braces(v)),
        _ => false,
    }
}

/// What a placeholder inside a string inserts for `v`.
fn as_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_template_with_any_event_renders_valid_json(t in template_value(), ev in event_strategy(), enrich in any::<bool>()) {
        if let Ok(c) = template::compile(&t, enrich) {
            let out = c.render(&ev);
            prop_assert!(serde_json::from_str::<Value>(&out).is_ok(), "{}", out);
            // Against something that is not an event at all, too.
            let odd = c.render(&json!([ev]));
            prop_assert!(serde_json::from_str::<Value>(&odd).is_ok(), "{}", odd);
        }
    }

    #[test]
    fn any_string_is_compiled_or_refused_without_panic(s in prop_oneof![any::<String>(), "[{}?\"\\ a.é\\[\\]0-9]{0,40}"], ev in event_strategy()) {
        let t = Value::String(s.clone());
        if let Ok(c) = template::compile(&t, true) {
            let out = c.render(&ev);
            prop_assert!(serde_json::from_str::<Value>(&out).is_ok(), "{}", out);
        }
        let _ = template::compile_text(&s, false);
    }

    #[test]
    fn a_template_without_placeholders_is_its_own_output(t in json_value(), ev in event_strategy()) {
        prop_assume!(!has_braces(&t));
        let c = template::compile(&t, false).map_err(TestCaseError::fail)?;
        prop_assert_eq!(c.placeholders(), 0);
        prop_assert_eq!(c.render(&ev), serde_json::to_string(&t).unwrap());
    }

    #[test]
    fn placeholders_give_back_the_events_values(v in json_value(), prefix in "[a-z \"<]{0,4}", ev in event_strategy()) {
        let mut ev = ev;
        ev["data"]["x"] = v.clone();
        let t = json!({
            "whole": "{{ data.x }}",
            "text": format!("{prefix}{{{{ data.x }}}}!"),
            "fallback": "{{ data.missing ?? \"dflt\" }}",
            "kept": [1, {"k": "{{ storehash }}"}],
        });
        let out = template::compile(&t, false).unwrap().render(&ev);
        let got: Value = serde_json::from_str(&out).unwrap();
        // A whole placeholder keeps the JSON value (compared through the same text, as
        // serde_json's float parsing is not exact).
        let v_text: Value = serde_json::from_str(&v.to_string()).unwrap();
        prop_assert_eq!(&got["whole"], &v_text);
        prop_assert_eq!(got["text"].as_str().unwrap(), format!("{prefix}{}!", as_text(Some(&v))));
        prop_assert_eq!(&got["fallback"], &json!("dflt"));
        prop_assert_eq!(&got["kept"], &json!([1, {"k": "abc123"}]));
    }

    #[test]
    fn compiling_any_json_as_a_filter_never_panics(f in json_value(), ev in event_strategy()) {
        if let Ok(c) = filter::compile(&f) {
            let _ = c.matches(&ev);
            let _ = c.may_match(&ev);
        }
        let wrapped = json!({"data": f});
        if let Ok(c) = filter::compile(&wrapped) {
            let _ = c.matches(&ev);
        }
    }
}

// ---- Filters ----

fn field_path() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec!["type".to_owned()]),
        Just(vec!["subject".to_owned()]),
        Just(vec!["bcwebhookid".to_owned()]),
        Just(vec!["data".to_owned(), "x".to_owned()]),
        Just(vec!["data".to_owned(), "company_id".to_owned()]),
        Just(vec!["data".to_owned(), "resource".to_owned()]),
        Just(vec![
            "data".to_owned(),
            "resource".to_owned(),
            "a".to_owned()
        ]),
        Just(vec!["data".to_owned(), "enrichment".to_owned()]),
    ]
}

/// `{"data":{"x": leaf}}` for the path `data.x`.
fn nest(path: &[String], leaf: Value) -> Value {
    path.iter().rev().fold(leaf, |acc, k| {
        Value::Object(Map::from_iter([(k.clone(), acc)]))
    })
}

fn get<'a>(ev: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(ev, |v, k| v.as_object()?.get(k))
}

fn operand() -> impl Strategy<Value = Value> {
    prop_oneof![
        scalar(),
        (-3i64..3).prop_map(Value::from),
        Just(json!("com.bigcommerce.company.created")),
        Just(json!([1, 2])),
    ]
}

/// Filters built from the grammar: every operator, nested `$and`/`$or`/`$not`.
fn filter_strategy() -> impl Strategy<Value = Value> {
    let leaf = (
        field_path(),
        proptest::sample::select(vec![
            "$eq",
            "$neq",
            "$in",
            "$nin",
            "$gt",
            "$gte",
            "$lt",
            "$lte",
            "$exist",
            "$startsWith",
            "$endsWith",
            "plain",
        ]),
        operand(),
        proptest::collection::vec(operand(), 0..3),
        any::<bool>(),
        "[a-c.]{0,3}",
    )
        .prop_map(|(path, op, v, list, b, text)| {
            let test = match op {
                "plain" => match v {
                    Value::Object(_) => json!({"$eq": v}),
                    v => v,
                },
                "$in" | "$nin" => json!({ op: list }),
                "$gt" | "$gte" | "$lt" | "$lte" => match v {
                    v @ (Value::Number(_) | Value::String(_)) => json!({ op: v }),
                    _ => json!({ op: 0 }),
                },
                "$exist" => json!({ op: b }),
                "$startsWith" | "$endsWith" => json!({ op: text }),
                _ => json!({ op: v }),
            };
            nest(&path, test)
        });
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$or": v})),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$and": v})),
            inner.prop_map(|f| json!({"$not": f})),
        ]
    })
}

fn small_event() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(operand()),
        proptest::option::of(operand()),
        proptest::option::of(operand()),
        proptest::option::of(proptest::sample::select(vec!["a", "ab", "b.c", ""])),
    )
        .prop_map(|(x, company, resource_a, subject)| {
            let mut data = Map::new();
            if let Some(x) = x {
                data.insert("x".into(), x);
            }
            if let Some(c) = company {
                data.insert("company_id".into(), c);
            }
            if let Some(a) = resource_a {
                data.insert("resource".into(), json!({ "a": a }));
                data.insert("enrichment".into(), "ok".into());
            }
            let mut ev = json!({"type": "com.bigcommerce.company.created", "data": data});
            if let Some(s) = subject {
                ev["subject"] = s.into();
            }
            ev
        })
}

/// The event as it is before enrichment.
fn before_enrichment(ev: &Value) -> Value {
    let mut ev = ev.clone();
    if let Some(d) = ev["data"].as_object_mut() {
        for k in ["resource", "enrichment", "enrichment_error"] {
            d.remove(k);
        }
    }
    ev
}

fn m(f: &Value, ev: &Value) -> bool {
    filter::compile(f)
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .matches(ev)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn checking_before_enrichment_never_drops_a_match(f in filter_strategy(), ev in small_event()) {
        let c = filter::compile(&f).map_err(TestCaseError::fail)?;
        let before = before_enrichment(&ev);
        if c.matches(&ev) {
            prop_assert!(c.may_match(&before), "{} matches {} but may_match refuses {}", f, ev, before);
            prop_assert!(c.may_match(&ev));
        }
        if !c.needs_enrichment() {
            prop_assert_eq!(c.may_match(&ev), c.matches(&ev));
        }
    }

    #[test]
    fn negations_are_complements(path in field_path(), v in operand(), list in proptest::collection::vec(operand(), 0..3), ev in small_event()) {
        let eq = nest(&path, json!({"$eq": v}));
        let neq = nest(&path, json!({"$neq": v}));
        prop_assert_eq!(m(&eq, &ev), !m(&neq, &ev));
        let isin = nest(&path, json!({"$in": list}));
        let nin = nest(&path, json!({"$nin": list}));
        prop_assert_eq!(m(&isin, &ev), !m(&nin, &ev));
        prop_assert_eq!(m(&isin, &ev), list.iter().any(|x| m(&nest(&path, json!({"$eq": x})), &ev)));
        prop_assert_eq!(m(&json!({"$not": eq}), &ev), !m(&eq, &ev));
        let exists = get(&ev, &path).is_some();
        prop_assert_eq!(m(&nest(&path, json!({"$exist": true})), &ev), exists);
        prop_assert_eq!(m(&nest(&path, json!({"$exist": false})), &ev), !exists);
    }

    #[test]
    fn comparisons_follow_the_types(path in field_path(), v in operand(), ev in small_event()) {
        prop_assume!(v.is_number() || v.is_string());
        let cur = get(&ev, &path);
        let comparable = matches!((cur, &v), (Some(Value::Number(_)), Value::Number(_)) | (Some(Value::String(_)), Value::String(_)));
        let gt = m(&nest(&path, json!({"$gt": v})), &ev);
        let lte = m(&nest(&path, json!({"$lte": v})), &ev);
        let lt = m(&nest(&path, json!({"$lt": v})), &ev);
        let gte = m(&nest(&path, json!({"$gte": v})), &ev);
        if comparable {
            prop_assert_eq!(gt, !lte);
            prop_assert_eq!(lt, !gte);
            if let (Some(Value::String(a)), Value::String(b)) = (cur, &v) {
                prop_assert_eq!(gt, a.as_str() > b.as_str());
            }
            if let (Some(Value::Number(a)), Value::Number(b)) = (cur, &v) {
                if let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) {
                    if a != b { prop_assert_eq!(gt, a > b); }
                }
            }
        } else {
            prop_assert!(!gt && !lte && !lt && !gte);
        }
    }

    #[test]
    fn or_is_any_and_is_all(fs in proptest::collection::vec(filter_strategy(), 1..4), ev in small_event()) {
        let each: Vec<bool> = fs.iter().map(|f| m(f, &ev)).collect();
        prop_assert_eq!(m(&json!({"$or": fs}), &ev), each.iter().any(|&b| b));
        prop_assert_eq!(m(&json!({"$and": fs}), &ev), each.iter().all(|&b| b));
    }

    #[test]
    fn plain_values_match_themselves(v in json_value(), ev in event_strategy()) {
        let mut ev = ev;
        ev["data"]["x"] = v.clone();
        // An object in a filter is a nested filter: compare it whole with $eq.
        let f = match &v {
            Value::Object(_) => json!({"data": {"x": {"$eq": v}}}),
            _ => json!({"data": {"x": v}}),
        };
        prop_assert!(m(&f, &ev), "{} vs {}", f, ev);
    }
}

// ---- Picking only what is read ----

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_template_renders_the_same_from_the_picked_event(t in template_value(), ev in event_strategy()) {
        if let Ok(c) = template::compile(&t, true) {
            let text = ev.to_string();
            let full: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(c.render(&c.needs().pick_json(&text)), c.render(&full));
        }
    }

    #[test]
    fn a_filter_answers_the_same_on_the_picked_event(f in filter_strategy(), ev in small_event(), other in filter_strategy()) {
        let c = filter::compile(&f).map_err(TestCaseError::fail)?;
        let text = ev.to_string();
        let mut needs = c.needs();
        // What another target needs as well changes nothing.
        needs.merge(&filter::compile(&other).map_err(TestCaseError::fail)?.needs());
        for n in [c.needs(), needs] {
            let picked = n.pick_json(&text);
            prop_assert_eq!(c.matches(&picked), c.matches(&ev));
            prop_assert_eq!(c.may_match(&picked), c.may_match(&ev));
        }
    }
}

#[test]
fn picking_from_the_event_struct_equals_the_full_value() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/callbacks");
    let t = template::compile(
        &json!({"a": "{{ type }} {{ subject ?? \"-\" }} {{ data.company_id }} {{ bctest }}",
                "r": "{{ data.resource.companyName }}", "d": "{{ data.user_id }}", "s": "{{ storeid }}"}),
        true,
    )
    .unwrap();
    let f = filter::compile(&json!({"$or": [{"data": {"company_id": {"$gte": 1000}}},
                                            {"bctest": true}, {"data": {"resource": {"companyName": "Acme"}}}]}))
    .unwrap();
    let mut needs = t.needs();
    needs.merge(&f.needs());
    for entry in std::fs::read_dir(dir).unwrap() {
        let body = std::fs::read(entry.unwrap().path()).unwrap();
        let mut ev: CloudEvent = event::normalize(callback::parse(&body).unwrap(), 0);
        ev.bctest = Some(true);
        let enriched = enrich::apply(
            &ev,
            &Enrichment::Ok(
                RawValue::from_string(r#"{"companyName":"Acme","x":[1]}"#.into()).unwrap(),
            ),
        );
        for e in [ev, enriched] {
            let (picked, full) = (needs.pick(&e), event_value(&e));
            assert_eq!(t.render(&picked), t.render(&full));
            assert_eq!(f.matches(&picked), f.matches(&full));
            let mut all = Needs::default();
            all.add_keys([]);
            assert_eq!(all.pick(&e), full);
        }
    }
}

// ---- The event as a Value ----

#[test]
fn event_value_equals_the_parsed_event_json() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/callbacks");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let body = std::fs::read(entry.unwrap().path()).unwrap();
        let ev: CloudEvent = event::normalize(callback::parse(&body).unwrap(), 0);
        let enriched = enrich::apply(
            &ev,
            &Enrichment::Ok(RawValue::from_string(r#"{"companyName":"Acme"}"#.into()).unwrap()),
        );
        for mut e in [ev, enriched] {
            for test in [None, Some(true)] {
                e.bctest = test;
                let want: Value =
                    serde_json::from_str(EncodedEvent::new(e.clone()).json()).unwrap();
                assert_eq!(event_value(&e), want);
                // Every attribute the event has is one a path may start with.
                for k in want.as_object().unwrap().keys() {
                    assert!(ATTRIBUTES.contains(&k.as_str()), "{k}");
                }
                n += 1;
            }
        }
    }
    assert!(n >= 19 * 4);
}
