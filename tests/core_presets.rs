//! Chat presets: one golden body per preset × B2B event type (`tests/golden/presets/`), made
//! from the golden events (`tests/golden/events/`) enriched with the API examples in
//! `tests/golden/resources/`, and checks of each vendor's documented message shape on the
//! goldens, on events without enrichment and on hostile events.
//!
//! `UPDATE_GOLDEN=1 cargo test --test core_presets` rewrites the goldens; review the diff.

use b2b_relay::core::catalog::{self, Action, Resource, CATALOG};
use b2b_relay::core::deliver::enrich::{self, Enrichment};
use b2b_relay::core::deliver::presets::{self, Preset};
use b2b_relay::core::event::CloudEvent;
use b2b_relay::core::route::path::event_value;
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const PUBLIC_URL: &str = "https://relay.example.com";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn short(scope: &str) -> String {
    catalog::short_type(scope)
}

fn golden_event(scope: &str) -> CloudEvent {
    let path = golden_dir().join(format!("events/{}.json", short(scope)));
    CloudEvent::read(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The API's answer for the event's resource, as enrichment would put it in `data.resource`;
/// a few statuses are set to what the event says happened.
fn resource(scope: &str) -> Enrichment {
    let (res, action) = catalog::lookup(scope).unwrap();
    if action == Action::Deleted {
        return Enrichment::NotFound;
    }
    let file = match res {
        Resource::Company => "company",
        Resource::CompanyUser => "user",
        Resource::CompanyAddress => "address",
        Resource::SuperAdmin => "superadmin",
        Resource::Quote => "quote",
    };
    let mut v: Value =
        serde_json::from_str(&read(&golden_dir().join(format!("resources/{file}.json")))).unwrap();
    match scope {
        // A company that signs up on the storefront waits for approval.
        "store/company/created" => v["companyStatus"] = json!("0"),
        "store/quote/created" => v["status"] = json!(0),
        "store/quote/statusUpdated" => v["status"] = json!(4),
        _ => {}
    }
    Enrichment::Ok(RawValue::from_string(v.to_string()).unwrap())
}

fn enriched(scope: &str) -> Value {
    let ev = golden_event(scope);
    event_value(&enrich::apply(&ev, &resource(scope)))
}

#[test]
fn goldens_per_preset_and_type() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for preset in Preset::ALL {
        let dir = golden_dir().join(format!("presets/{}", preset.name()));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for (scope, _, _) in CATALOG {
            let body = presets::render(preset, &enriched(scope), Some(PUBLIC_URL));
            let got: Value = serde_json::from_str(&body).unwrap();
            check(preset, &got).unwrap_or_else(|e| panic!("{} {scope}: {e}", preset.name()));
            let path = dir.join(format!("{}.json", short(scope)));
            if update {
                let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
            } else {
                let want: Value = serde_json::from_str(&read(&path)).unwrap();
                if got != want {
                    stale.push(format!("{}:\n{body}", path.display()));
                }
            }
        }
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, CATALOG.len(), "{}: one file per type", dir.display());
    }
    assert!(
        stale.is_empty(),
        "bodies differ from their goldens (UPDATE_GOLDEN=1 rewrites them):\n{}",
        stale.join("\n")
    );
}

/// What each golden says in words: the sentence a person reads first.
#[test]
fn goldens_read_well() {
    let text = |scope: &str| -> String {
        let v: Value =
            serde_json::from_str(&presets::render(Preset::Slack, &enriched(scope), None)).unwrap();
        v["text"].as_str().unwrap().to_owned()
    };
    for (scope, want) in [
        (
            "store/company/created",
            "*Great Buys Incorporated* applied for a company account and is awaiting approval",
        ),
        (
            "store/company/statusUpdated",
            "Company *Great Buys Incorporated* is now approved",
        ),
        ("store/company/deleted", "Company *#1234* was deleted"),
        (
            "store/company/user/created",
            "*Marie Curie* was added to company *#123456*",
        ),
        (
            "store/company/address/created",
            "New address for company *#123456*: *512 Bluebonnet Lane, Building 1, Austin, Texas, 78704, United States*",
        ),
        (
            "store/superadmin/assignmentUpdated",
            "The companies assigned to super admin *Isaac Newton* changed",
        ),
        (
            "store/quote/created",
            "New quote *QN101234* from *Great Buys Incorporated*",
        ),
        ("store/quote/statusUpdated", "Quote *QN101234* is now *Ordered*"),
    ] {
        assert_eq!(text(scope), want, "{scope}");
    }
}

#[test]
fn events_without_enrichment_use_ids() {
    for preset in Preset::ALL {
        for (scope, _, _) in CATALOG {
            let v = event_value(&golden_event(scope));
            let body: Value = serde_json::from_str(&presets::render(preset, &v, None)).unwrap();
            check(preset, &body).unwrap_or_else(|e| panic!("{} {scope}: {e}", preset.name()));
            let all = body.to_string();
            assert!(all.contains('#'), "{scope}: no id in {all}");
            assert!(
                !all.contains("/console/"),
                "{scope}: a link without a public URL"
            );
        }
    }
}

// ---- The vendors' documented shapes ----

fn s<'a>(v: &'a Value, k: &str) -> Result<&'a str, String> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{k}` is not a string in {v}"))
}

fn arr<'a>(v: &'a Value, k: &str) -> Result<&'a Vec<Value>, String> {
    v.get(k)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("`{k}` is not an array in {v}"))
}

fn len_in(what: &str, text: &str, min: usize, max: usize) -> Result<(), String> {
    let n = text.chars().count();
    if n < min || n > max {
        return Err(format!("{what}: {n} chars, allowed {min}..={max}"));
    }
    Ok(())
}

fn url(what: &str, u: &str, max: usize) -> Result<(), String> {
    if !u.starts_with("https://") && !u.starts_with("http://") {
        return Err(format!("{what}: not an http(s) URL: {u}"));
    }
    len_in(what, u, 1, max)
}

fn keys_within(v: &Value, allowed: &[&str]) -> Result<(), String> {
    let m = v.as_object().ok_or_else(|| format!("not an object: {v}"))?;
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("unexpected key `{k}`")),
        None => Ok(()),
    }
}

fn check(preset: Preset, v: &Value) -> Result<(), String> {
    match preset {
        Preset::Slack => check_slack(v),
        Preset::Teams => check_teams(v),
        Preset::Discord => check_discord(v),
        Preset::GoogleChat => check_google_chat(v),
    }
}

/// A Block Kit text object: `plain_text` or `mrkdwn`, within `max` characters.
fn slack_text(what: &str, t: &Value, max: usize) -> Result<(), String> {
    let ty = s(t, "type")?;
    if ty != "plain_text" && ty != "mrkdwn" {
        return Err(format!("{what}: text type {ty}"));
    }
    len_in(what, s(t, "text")?, 1, max)
}

/// Slack incoming webhooks / Block Kit: ≤ 50 blocks; header plain_text ≤ 150; section text
/// ≤ 3000 and ≤ 10 fields of ≤ 2000; context ≤ 10 elements; buttons: text ≤ 75, url ≤ 3000.
fn check_slack(v: &Value) -> Result<(), String> {
    keys_within(v, &["text", "blocks"])?;
    len_in("text", s(v, "text")?, 1, 40_000)?;
    let blocks = arr(v, "blocks")?;
    len_in("blocks", &"x".repeat(blocks.len()), 1, 50)?;
    for b in blocks {
        match s(b, "type")? {
            "header" => {
                let t = &b["text"];
                if s(t, "type")? != "plain_text" {
                    return Err("header text must be plain_text".into());
                }
                len_in("header", s(t, "text")?, 1, 150)?;
            }
            "section" => {
                let text = b.get("text");
                let fields = b.get("fields");
                if text.is_none() && fields.is_none() {
                    return Err("section without text or fields".into());
                }
                if let Some(t) = text {
                    slack_text("section text", t, 3000)?;
                }
                if fields.is_some() {
                    let fields = arr(b, "fields")?;
                    len_in("fields", &"x".repeat(fields.len()), 1, 10)?;
                    for f in fields {
                        slack_text("field", f, 2000)?;
                    }
                }
            }
            "context" => {
                let els = arr(b, "elements")?;
                len_in("context", &"x".repeat(els.len()), 1, 10)?;
                for e in els {
                    slack_text("context element", e, 3000)?;
                }
            }
            "actions" => {
                let els = arr(b, "elements")?;
                len_in("actions", &"x".repeat(els.len()), 1, 25)?;
                for e in els {
                    if s(e, "type")? != "button" {
                        return Err("only buttons in actions".into());
                    }
                    let t = &e["text"];
                    if s(t, "type")? != "plain_text" {
                        return Err("button text must be plain_text".into());
                    }
                    len_in("button text", s(t, "text")?, 1, 75)?;
                    url("button url", s(e, "url")?, 3000)?;
                }
            }
            other => return Err(format!("block type {other}")),
        }
    }
    Ok(())
}

/// Teams Workflows: `{"type":"message","attachments":[{contentType adaptive, content card}]}`,
/// an AdaptiveCard 1.4 whose body holds TextBlocks and FactSets, OpenUrl actions; a message
/// stays under Teams' 28 KB.
fn check_teams(v: &Value) -> Result<(), String> {
    keys_within(v, &["type", "attachments"])?;
    if s(v, "type")? != "message" {
        return Err("type must be message".into());
    }
    let atts = arr(v, "attachments")?;
    if atts.len() != 1 {
        return Err("one attachment".into());
    }
    let a = &atts[0];
    if s(a, "contentType")? != "application/vnd.microsoft.card.adaptive" {
        return Err("contentType".into());
    }
    let card = &a["content"];
    keys_within(card, &["$schema", "type", "version", "body", "actions"])?;
    if s(card, "type")? != "AdaptiveCard" || s(card, "version")? != "1.4" {
        return Err("AdaptiveCard 1.4".into());
    }
    s(card, "$schema")?;
    let body = arr(card, "body")?;
    if body.is_empty() {
        return Err("empty body".into());
    }
    for el in body {
        match s(el, "type")? {
            "TextBlock" => len_in("TextBlock", s(el, "text")?, 1, 10_000)?,
            "FactSet" => {
                let facts = arr(el, "facts")?;
                if facts.is_empty() {
                    return Err("empty FactSet".into());
                }
                for f in facts {
                    keys_within(f, &["title", "value"])?;
                    len_in("fact title", s(f, "title")?, 1, 1000)?;
                    len_in("fact value", s(f, "value")?, 1, 10_000)?;
                }
            }
            other => return Err(format!("element type {other}")),
        }
    }
    if card.get("actions").is_some() {
        for act in arr(card, "actions")? {
            if s(act, "type")? != "Action.OpenUrl" {
                return Err("only Action.OpenUrl".into());
            }
            len_in("action title", s(act, "title")?, 1, 100)?;
            url("action url", s(act, "url")?, 2048)?;
        }
    }
    if v.to_string().len() > 28 * 1024 {
        return Err("over 28 KB".into());
    }
    Ok(())
}

/// Discord Execute Webhook: content ≤ 2000; ≤ 10 embeds; title ≤ 256, description ≤ 4096,
/// ≤ 25 fields (name 1..=256, value 1..=1024), footer ≤ 2048, an embed's text ≤ 6000 in all;
/// color 0..=0xFFFFFF; timestamp ISO 8601.
fn check_discord(v: &Value) -> Result<(), String> {
    keys_within(v, &["content", "embeds", "allowed_mentions"])?;
    if v.get("content").is_none() && v.get("embeds").is_none() {
        return Err("neither content nor embeds".into());
    }
    if v.get("content").is_some() {
        len_in("content", s(v, "content")?, 1, 2000)?;
    }
    if v["allowed_mentions"] != json!({"parse": []}) {
        return Err("mentions must be disabled".into());
    }
    let embeds = arr(v, "embeds")?;
    len_in("embeds", &"x".repeat(embeds.len()), 1, 10)?;
    for e in embeds {
        keys_within(
            e,
            &[
                "title",
                "description",
                "url",
                "color",
                "fields",
                "footer",
                "timestamp",
            ],
        )?;
        let mut total = 0;
        let title = s(e, "title")?;
        len_in("title", title, 1, 256)?;
        total += title.chars().count();
        if e.get("description").is_some() {
            let d = s(e, "description")?;
            len_in("description", d, 1, 4096)?;
            total += d.chars().count();
        }
        if e.get("url").is_some() {
            url("embed url", s(e, "url")?, 2048)?;
        }
        let color = e["color"].as_u64().ok_or("color is not an integer")?;
        if color > 0xff_ff_ff {
            return Err("color over 0xFFFFFF".into());
        }
        let fields = arr(e, "fields")?;
        if fields.len() > 25 {
            return Err("over 25 fields".into());
        }
        for f in fields {
            let (n, val) = (s(f, "name")?, s(f, "value")?);
            len_in("field name", n, 1, 256)?;
            len_in("field value", val, 1, 1024)?;
            if !f["inline"].is_boolean() {
                return Err("inline must be a bool".into());
            }
            total += n.chars().count() + val.chars().count();
        }
        let footer = s(&e["footer"], "text")?;
        len_in("footer", footer, 1, 2048)?;
        total += footer.chars().count();
        if total > 6000 {
            return Err(format!("embed text {total} chars, over 6000"));
        }
        if e.get("timestamp").is_some() {
            let t = s(e, "timestamp")?;
            if b2b_relay::core::time::parse_rfc3339(t).is_none() {
                return Err(format!("timestamp {t}"));
            }
        }
    }
    Ok(())
}

/// Google Chat incoming webhook: `text` ≤ 4096; `cardsV2` items `{cardId, card}`; a card's
/// header has a title; each section has widgets, each widget one kind; buttons open links;
/// a message is at most 32,000 bytes.
fn check_google_chat(v: &Value) -> Result<(), String> {
    keys_within(v, &["text", "cardsV2"])?;
    len_in("text", s(v, "text")?, 1, 4096)?;
    for c in arr(v, "cardsV2")? {
        keys_within(c, &["cardId", "card"])?;
        len_in("cardId", s(c, "cardId")?, 1, 100)?;
        let card = &c["card"];
        keys_within(card, &["header", "sections"])?;
        len_in("header title", s(&card["header"], "title")?, 1, 200)?;
        if card.get("sections").is_some() {
            for sec in arr(card, "sections")? {
                let widgets = arr(sec, "widgets")?;
                if widgets.is_empty() {
                    return Err("section without widgets".into());
                }
                for w in widgets {
                    let m = w.as_object().ok_or("widget not an object")?;
                    if m.len() != 1 {
                        return Err(format!("a widget has exactly one kind: {w}"));
                    }
                    if let Some(d) = w.get("decoratedText") {
                        len_in("decoratedText", s(d, "text")?, 1, 10_000)?;
                        s(d, "topLabel")?;
                    } else if let Some(b) = w.get("buttonList") {
                        for btn in arr(b, "buttons")? {
                            len_in("button text", s(btn, "text")?, 1, 100)?;
                            url("button url", s(&btn["onClick"]["openLink"], "url")?, 2048)?;
                        }
                    } else {
                        return Err(format!("widget kind {w}"));
                    }
                }
            }
        }
    }
    if v.to_string().len() > 32_000 {
        return Err("over 32,000 bytes".into());
    }
    Ok(())
}

// ---- Hostile events ----

/// Strings a company could be named: markup, mentions, quotes, control characters, very long.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("<!channel> @everyone <users/all> *bold* `x` [a](http://x) & \" \\ \n# h".to_owned()),
        (1usize..6000).prop_map(|n| "&<>".repeat(n)),
        (1usize..6000).prop_map(|n| "é".repeat(n)),
        Just(String::new()),
        Just("   ".to_owned()),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        nasty().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(Value::Null),
        Just(json!({"nested": [1, "x"]})),
        (0u64..10).prop_map(Value::from),
        (0u64..10).prop_map(|n| Value::from(n.to_string())),
    ]
}

fn hostile_event() -> impl Strategy<Value = Value> {
    let scopes: Vec<&str> = CATALOG
        .iter()
        .map(|c| c.0)
        .chain(["store/order/created", ""])
        .collect();
    let keys = [
        "companyName",
        "companyStatus",
        "companyEmail",
        "firstName",
        "lastName",
        "email",
        "role",
        "companyRoleName",
        "addressLine1",
        "addressLine2",
        "city",
        "stateName",
        "zipCode",
        "countryName",
        "label",
        "quoteNumber",
        "quoteTitle",
        "status",
        "grandTotal",
    ];
    (
        proptest::sample::select(scopes),
        proptest::collection::vec((proptest::sample::select(keys.to_vec()), any_value()), 0..12),
        any_value(),
        any_value(),
        any_value(),
        nasty(),
        proptest::option::of(nasty()),
        any::<bool>(),
    )
        .prop_map(
            |(scope, fields, company_id, user_id, contact, id, url, test)| {
                let mut resource = serde_json::Map::new();
                for (k, v) in fields {
                    resource.insert(k.to_owned(), v);
                }
                resource.insert("contactInfo".into(), json!({"name": contact, "companyName": "Acme"}));
                resource.insert("currency".into(), json!({"currencyCode": "<EUR>", "decimalPlaces": 9}));
                let ty = format!("com.bigcommerce.{}", catalog::short_type(scope));
                json!({
                    "id": id,
                    "type": ty,
                    "bcscope": scope,
                    "time": url.clone().unwrap_or_else(|| "2025-11-28T00:00:00Z".into()),
                    "subject": url,
                    "storehash": "abc123",
                    "bctest": test,
                    "data": {
                        "company_id": company_id, "user_id": user_id, "address_id": 1, "quote_id": 2,
                        "resource": resource, "enrichment": "failed", "enrichment_error": "<!here>",
                    }
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_events_still_give_well_formed_messages(ev in hostile_event(), url in proptest::option::of(nasty())) {
        for preset in Preset::ALL {
            let public = url.as_deref().map(|u| format!("https://{}", u.chars().take(3000).collect::<String>()));
            let body = presets::render(preset, &ev, public.as_deref());
            let v: Value = serde_json::from_str(&body).map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
            check(preset, &v).map_err(|e| TestCaseError::fail(format!("{}: {e}", preset.name())))?;
        }
    }

    #[test]
    fn any_json_is_an_acceptable_event(v in any_value()) {
        for preset in Preset::ALL {
            let body: Value = serde_json::from_str(&presets::render(preset, &v, Some(PUBLIC_URL))).unwrap();
            check(preset, &body).map_err(TestCaseError::fail)?;
        }
    }
}
