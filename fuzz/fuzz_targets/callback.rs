//! Arbitrary bytes as an ingest body: `callback::parse`, then everything the relay does with an
//! accepted callback (normalize, route, queue message, render in every format). Checks the
//! promises the README makes about each step, not just "no panic".
#![no_main]

use b2b_relay::core::ingest::callback::{self, MAX_BODY_BYTES};
use b2b_relay::core::config::{self, Config, Format};
use b2b_relay::core::deliver::message::Delivery;
use b2b_relay::core::event::{self, CloudEvent, EncodedEvent};
use b2b_relay::core::deliver::outbound::{self, Outbound};
use b2b_relay::core::route;
use b2b_relay::core::time::parse_rfc3339;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

/// The receipt time every input gets: the event's `time` when the body has no `created_at`.
const RECEIVED_AT_MS: i64 = 1_767_225_600_250;

const TARGETS: &str = r#"[
  {"name":"all","url":"https://all.example.com/hooks","signing_secret":"KEY"},
  {"name":"binary","url":"https://bin.example.com/hooks","events":["company.*"],"format":"cloudevents-binary"},
  {"name":"original","url":"http://127.0.0.1:9/hooks","events":["quote.*","*.deleted"],"stores":["abc123"],"format":"bigcommerce","signing_secret":"KEY","headers":{"X-Api-Key":"secret:API_KEY"}}
]"#;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let src = |name: &str| match name {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "TARGETS" => Some(TARGETS.to_owned()),
            "KEY" => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
            "API_KEY" => Some("k-1".to_owned()),
            _ => None,
        };
        config::load(&src).expect("the fixed fuzz configuration is valid")
    })
}

fn header<'a>(out: &'a Outbound, name: &str) -> Option<&'a str> {
    out.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_ref())
}

/// Characters a header value may not carry (they would split or end the header).
fn header_safe(v: &str) -> bool {
    !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

fn check_rejection(data: &[u8], e: &b2b_relay::core::error::RelayError) {
    assert!(
        (400..500).contains(&e.status()),
        "a bad body must be a client error, got {} {e:?}",
        e.status()
    );
    let code = e.code().as_str();
    assert!(
        matches!(
            code,
            "invalid_json" | "missing_field" | "invalid_field" | "payload_too_large"
        ),
        "unexpected code {code}"
    );
    assert_eq!(code == "payload_too_large", data.len() > MAX_BODY_BYTES);
    // The answer body is JSON naming the code.
    let answer: Value = serde_json::from_str(&e.to_json()).expect("error answer is JSON");
    assert_eq!(answer["error"]["code"], code);
}

fn check_event(text: &str, cb: &callback::Callback, ev: &CloudEvent) {
    // id: 64 lowercase hex, and a pure function of the documented key when the callback has
    // all of it, else the SHA-256 of the body.
    assert_eq!(ev.id.len(), 64, "{}", ev.id);
    assert!(ev
        .id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(ev.id, event::event_id(cb));
    assert_eq!(
        cb.has_id_key(),
        cb.store_hash.is_some() && cb.created_at.is_some() && cb.hash.is_some()
    );
    if !cb.has_id_key() {
        assert_eq!(ev.id, callback::body_sha256(text.as_bytes()));
    }
    assert_eq!(ev.specversion, "1.0");
    let source = match (&cb.store_hash, &cb.store_id) {
        (Some(h), _) => format!("https://api.bigcommerce.com/stores/{h}"),
        (None, Some(id)) => format!("urn:bigcommerce:store-id:{id}"),
        (None, None) => "urn:bigcommerce:store:unknown".to_owned(),
    };
    assert_eq!(ev.source, source);
    let short = cb
        .scope
        .strip_prefix("store/")
        .expect("scope starts with store/");
    assert_eq!(
        ev.ty,
        format!("com.bigcommerce.{}", short.replace('/', "."))
    );
    assert_eq!(
        parse_rfc3339(&ev.time),
        Some(cb.created_at.unwrap_or(RECEIVED_AT_MS / 1000)),
        "{}",
        ev.time
    );
    assert_eq!(ev.storehash, cb.store_hash.clone().unwrap_or_default());
    assert_eq!(ev.storeid, cb.store_id.clone().unwrap_or_default());
    assert_eq!(ev.bchash, cb.hash.clone().unwrap_or_default());
    assert_eq!(ev.bcscope, cb.scope);
    assert_eq!(ev.bctest, None);
    // data is BigCommerce's text, byte for byte, and a JSON object.
    assert_eq!(ev.data.get(), cb.data.get());
    assert!(text.contains(cb.data.get()));
    let data_value: Value = serde_json::from_str(ev.data.get()).expect("data parses as JSON");
    assert!(data_value.is_object());
    if let Some(s) = &ev.subject {
        let segments: Vec<&str> = s.split('/').collect();
        assert!(segments.len() == 2 || segments.len() == 4, "{s}");
        assert!(segments.iter().all(|p| !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))));
    }
}

fn check_routing(ev: &CloudEvent, cfg: &Config) {
    let short = ev.short_type();
    let want: Vec<&str> = ["all", "binary", "original"]
        .into_iter()
        .filter(|name| match *name {
            "all" => true,
            "binary" => short.starts_with("company."),
            _ => {
                ev.storehash == "abc123"
                    && (short.starts_with("quote.") || short.ends_with(".deleted"))
            }
        })
        .collect();
    let got: Vec<&str> = route::route(&cfg.targets, ev)
        .into_iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(got, want, "routing of {short} from {}", ev.storehash);
}

fn check_outbound(text: &str, ev: &CloudEvent, id_key: bool, cfg: &Config) {
    let now = 1_800_000_000;
    let structured = serde_json::to_string(ev).expect("event serializes");
    let encoded = EncodedEvent::new(ev.clone());
    for t in &cfg.targets {
        for original in [Some(text), None] {
            let out = outbound::render(t, &encoded, original, now);
            assert_eq!(out.url, t.url);
            assert_eq!(header(&out, "webhook-id"), Some(ev.id.as_str()));
            assert_eq!(header(&out, "webhook-timestamp"), Some("1800000000"));
            assert!(out
                .headers
                .iter()
                .all(|(k, v)| header_safe(k) && header_safe(v)));
            match (t.signing.as_ref(), header(&out, "webhook-signature")) {
                (Some(key), Some(sig)) => {
                    assert_eq!(sig, key.sign(&ev.id, &now.to_string(), out.body.as_bytes()))
                }
                (None, None) => {}
                other => panic!("signature header mismatch: {other:?}"),
            }
            match t.format {
                Format::Cloudevents => {
                    assert_eq!(out.body, structured);
                    assert!(out.body.contains(ev.data.get()));
                }
                Format::CloudeventsBinary => {
                    assert_eq!(out.body, ev.data.get());
                    assert_eq!(header(&out, "ce-id"), Some(ev.id.as_str()));
                    assert_eq!(header(&out, "ce-type"), Some(ev.ty.as_str()));
                }
                Format::Bigcommerce => match original {
                    Some(o) => assert_eq!(out.body, o),
                    None => {
                        // The rebuilt callback must mean the same thing. An id that is the
                        // body's digest cannot survive other bytes; all else must.
                        let again = callback::parse(out.body.as_bytes())
                            .unwrap_or_else(|e| panic!("rebuilt callback rejected: {e:?}"));
                        let ev2 = event::normalize(again, 0);
                        if id_key {
                            assert_eq!(ev2.id, ev.id);
                        }
                        assert_eq!(ev2.data.get(), ev.data.get());
                        assert_eq!(ev2.subject, ev.subject);
                        assert_eq!(
                            (&ev2.source, &ev2.time, &ev2.storehash, &ev2.storeid, &ev2.bchash),
                            (&ev.source, &ev.time, &ev.storehash, &ev.storeid, &ev.bchash)
                        );
                    }
                },
                // Templates and chat presets: always JSON (their own fuzz target checks more).
                Format::Template
                | Format::Slack
                | Format::Teams
                | Format::Discord
                | Format::GoogleChat => {
                    assert!(serde_json::from_str::<Value>(&out.body).is_ok(), "{}", out.body);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    let cb = match callback::parse(data) {
        Ok(cb) => cb,
        Err(e) => return check_rejection(data, &e),
    };
    // README: invalid UTF-8 is `invalid_json`, so an accepted body is text.
    let text = std::str::from_utf8(data).expect("an accepted body is UTF-8");
    // And it is strict JSON: what we accept, any JSON library downstream can read.
    let whole: Value = serde_json::from_str(text).expect("an accepted body parses as JSON");
    assert!(whole.is_object());

    let ev = event::normalize(cb.clone(), RECEIVED_AT_MS);
    check_event(text, &cb, &ev);

    // The structured event is JSON any receiver can parse, and reads back identically.
    let s = serde_json::to_string(&ev).expect("event serializes");
    let v: Value = serde_json::from_str(&s).expect("serialized event parses as JSON");
    assert_eq!(v["id"], ev.id.as_str());
    // Attributes BigCommerce did not send are absent, never empty.
    for (k, val) in [
        ("storehash", &ev.storehash),
        ("storeid", &ev.storeid),
        ("bchash", &ev.bchash),
    ] {
        assert_eq!(
            v.get(k).and_then(Value::as_str),
            (!val.is_empty()).then_some(val.as_str()),
            "{k}"
        );
    }
    let back = CloudEvent::read(&s).expect("event reads back");
    assert_eq!(back.data.get(), ev.data.get());
    assert_eq!(serde_json::to_string(&back).expect("re-serializes"), s);

    // The queue message round-trips, original body included.
    let d = Delivery {
        target: "original".into(),
        attempt: 1,
        received_at_ms: 0,
        first_attempt_at: None,
        last_error: None,
        event: ev.clone().into(),
        original: Some(text.to_owned()),
    };
    let msg = serde_json::to_string(&d).expect("delivery serializes");
    let d2: Delivery = serde_json::from_str(&msg).expect("delivery reads back");
    assert_eq!(d2.original.as_deref(), Some(text));
    assert_eq!(d2.event.id, ev.id);
    assert_eq!(d2.event.data.get(), ev.data.get());
    assert_eq!(d2.event.json(), s, "the queued event is the one delivered");

    check_routing(&ev, cfg);
    check_outbound(text, &ev, cb.has_id_key(), cfg);
});
