//! Arbitrary template, event and filter text → `template::compile` + `render`,
//! `filter::compile` + `matches`/`may_match`, and every chat preset. The input is split on
//! `\n` into a template, an event and a filter; a template part that is not JSON is used as
//! one JSON string, so the placeholder parser sees the raw bytes; an event part that is not
//! JSON leaves a fixed golden event. A leading `!` compiles the template for enriched events.
//! Never a panic; every body parses as JSON; a template without braces renders to itself; a
//! template compiled without enrichment never reads enriched fields; an event a filter
//! matches is one it may match before enrichment.
#![no_main]

use b2b_relay::core::deliver::presets::{self, Preset};
use b2b_relay::core::deliver::template;
use b2b_relay::core::route::filter;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const EVENT: &str = r#"{"specversion":"1.0","id":"e41ea8cb","source":"https://api.bigcommerce.com/stores/abc123","type":"com.bigcommerce.company.created","subject":"companies/1234","time":"2025-11-28T00:00:00Z","datacontenttype":"application/json","storehash":"abc123","storeid":"1001","bcscope":"store/company/created","bchash":"82d48cd2","data":{"company_id":1234,"resource":{"companyName":"Acme \"<&>\"","companyStatus":"0"},"enrichment":"ok"}}"#;

fn has_braces(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("}}"),
        Value::Array(a) => a.iter().any(has_braces),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains("{{") || has_braces(v)),
        _ => false,
    }
}

fn parses(what: &str, body: &str) {
    if let Err(e) = serde_json::from_str::<Value>(body) {
        panic!("{what} is not JSON ({e}): {body}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (enrich, text) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, &*text),
    };
    let mut parts = text.splitn(3, '\n');
    let (t, e, f) = (parts.next().unwrap_or(""), parts.next(), parts.next());

    let tpl: Value = serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned()));
    let fixed: Value = serde_json::from_str(EVENT).unwrap();
    let event: Value = e
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| fixed.clone());

    if let Ok(c) = template::compile(&tpl, enrich) {
        for ev in [&event, &fixed] {
            let out = c.render(ev);
            parses("a rendered template", &out);
            assert_eq!(out, c.render(ev), "rendering is deterministic");
            if !has_braces(&tpl) {
                assert_eq!(out, serde_json::to_string(&tpl).unwrap());
            }
        }
        assert!(enrich || !c.needs_enrichment());
    }

    if let Some(f) = f.and_then(|f| serde_json::from_str::<Value>(f).ok()) {
        if let Ok(c) = filter::compile(&f) {
            for ev in [&event, &fixed] {
                // Unknown enriched fields can only turn a yes into a maybe, never into a no.
                if c.matches(ev) {
                    assert!(c.may_match(ev), "matches but may_match refuses");
                }
            }
        }
    }

    for p in Preset::ALL {
        parses(p.name(), &presets::render(p, &event, Some("https://relay.example.com")));
        parses(p.name(), &presets::render(p, &event, e));
    }
});
