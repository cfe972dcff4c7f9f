//! Golden files: every B2B Edition scope (plus unknown ones) as BigCommerce sends it, and the
//! exact CloudEvent the relay must make of it. Expectations in `tests/golden/events/` were
//! derived independently of this crate (see `tests/golden/README.md`).

use b2b_relay::core::catalog::CATALOG;
use b2b_relay::core::config::{self, Format, Target};
use b2b_relay::core::deliver::outbound::{self, Outbound};
use b2b_relay::core::event::{self, CloudEvent, EncodedEvent};
use b2b_relay::core::ingest::callback;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// When every golden callback is received: the `time` of those without `created_at`
/// (2026-01-01T00:00:00.250Z).
const RECEIVED_AT_MS: i64 = 1_767_225_600_250;
const TARGETS: &str = r#"[
  {"name":"structured","url":"https://ce.example.com/hooks","format":"cloudevents","signing_secret":"GOLDEN_SIGNING_SECRET"},
  {"name":"binary","url":"https://bin.example.com/hooks","format":"cloudevents-binary"},
  {"name":"original","url":"https://bc.example.com/hooks","format":"bigcommerce","signing_secret":"GOLDEN_SIGNING_SECRET"}
]"#;

struct Golden {
    name: String,
    /// The callback file, byte for byte.
    callback: String,
    /// The expected event, parsed.
    event: Value,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect()
}

/// Every callback/event pair; a file without its partner fails.
fn goldens() -> Vec<Golden> {
    let dir = golden_dir();
    let callbacks = names_in(&dir.join("callbacks"));
    let events = names_in(&dir.join("events"));
    assert_eq!(callbacks, events, "callbacks/ and events/ must pair up");
    assert!(!callbacks.is_empty());
    callbacks
        .into_iter()
        .map(|name| {
            let callback = read(&dir.join(format!("callbacks/{name}.json")));
            let text = read(&dir.join(format!("events/{name}.json")));
            let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            Golden {
                name,
                callback,
                event,
            }
        })
        .collect()
}

/// The fields of a callback file, read with serde_json alone (not the crate's parser).
#[derive(serde::Deserialize)]
struct RawCallback<'a> {
    scope: String,
    #[serde(borrow)]
    data: &'a RawValue,
    hash: Option<String>,
    created_at: Option<i64>,
    producer: Option<String>,
}

impl RawCallback<'_> {
    /// The documented id key, when the callback has all of it.
    fn id_key(&self) -> Option<String> {
        let store_hash = self.producer.as_deref()?.strip_prefix("stores/").unwrap();
        Some(format!(
            "{store_hash}:{}:{}:{}",
            self.scope,
            self.created_at?,
            self.hash.as_deref()?
        ))
    }
}

fn normalized(g: &Golden) -> CloudEvent {
    let cb = callback::parse(g.callback.as_bytes())
        .unwrap_or_else(|e| panic!("{}: callback rejected: {e:?}", g.name));
    event::normalize(cb, RECEIVED_AT_MS)
}

/// `company.created--minimal` → `company.created`.
fn scope_name(name: &str) -> &str {
    name.split("--").next().unwrap()
}

fn as_value(ev: &CloudEvent) -> Value {
    serde_json::from_str(&serde_json::to_string(ev).unwrap()).unwrap()
}

fn str_field<'a>(ev: &'a Value, key: &str) -> &'a str {
    ev[key]
        .as_str()
        .unwrap_or_else(|| panic!("golden event has no string `{key}`"))
}

#[test]
fn every_callback_normalizes_to_its_golden_event() {
    for g in goldens() {
        let ev = normalized(&g);
        assert_eq!(as_value(&ev), g.event, "{}", g.name);

        let raw: RawCallback = serde_json::from_str(&g.callback).unwrap();
        assert_eq!(
            ev.data.get(),
            raw.data.get(),
            "{}: data not byte-for-byte",
            g.name
        );

        // The file's own claims, rechecked here: the name follows the scope, the hash is a
        // SHA-1 hex, and the id is SHA-256 of the documented key, or of the whole file when
        // the callback lacks part of the key.
        let short = raw.scope.strip_prefix("store/").unwrap().replace('/', ".");
        assert_eq!(
            scope_name(&g.name),
            short,
            "file name must follow the scope"
        );
        if let Some(hash) = &raw.hash {
            assert!(
                hash.len() == 40
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}: hash",
                g.name
            );
        }
        let digest = match raw.id_key() {
            Some(key) => Sha256::digest(key.as_bytes()),
            None => Sha256::digest(g.callback.as_bytes()),
        };
        assert_eq!(
            str_field(&g.event, "id"),
            hex::encode(digest),
            "{}: id",
            g.name
        );
    }
}

/// BigCommerce's documented example, a callback with nothing but `scope` and `data`, and one
/// without `producer` are all among the goldens.
#[test]
fn callbacks_without_the_whole_id_key_have_goldens() {
    let goldens = goldens();
    let raw: Vec<(&str, RawCallback)> = goldens
        .iter()
        .map(|g| (g.name.as_str(), serde_json::from_str(&g.callback).unwrap()))
        .collect();
    let order = raw
        .iter()
        .find(|(n, _)| *n == "order.statusUpdated")
        .unwrap();
    assert!(order.1.created_at.is_none() && order.1.producer.is_some());
    assert!(raw
        .iter()
        .any(|(_, r)| r.producer.is_none() && r.hash.is_none() && r.created_at.is_none()));
    assert!(raw
        .iter()
        .any(|(_, r)| r.producer.is_none() && r.created_at.is_some()));
}

#[test]
fn there_is_exactly_one_golden_per_catalog_scope() {
    let catalog: BTreeSet<&str> = CATALOG.iter().map(|c| c.0).collect();
    assert_eq!(catalog.len(), 19);
    let mut known = BTreeMap::new();
    let mut unknown = Vec::new();
    for g in goldens().into_iter().filter(|g| !g.name.contains("--")) {
        let scope = str_field(&g.event, "bcscope").to_owned();
        if catalog.contains(scope.as_str()) {
            assert!(known.insert(scope, g.name.clone()).is_none(), "{}", g.name);
        } else {
            unknown.push(g);
        }
    }
    let covered: BTreeSet<&str> = known.keys().map(String::as_str).collect();
    assert_eq!(covered, catalog, "every CATALOG scope needs a golden pair");
    assert_eq!(known.len(), 19);
    // Unknown scopes are forwarded too: one with a subject, one without.
    assert!(unknown.iter().any(|g| g.event.get("subject").is_some()));
    assert!(unknown.iter().any(|g| g.event.get("subject").is_none()));
}

fn targets() -> Vec<Target> {
    let source = |name: &str| -> Option<String> {
        match name {
            "INGEST_TOKENS" => Some("golden-token".into()),
            "TARGETS" => Some(TARGETS.into()),
            "GOLDEN_SIGNING_SECRET" => Some(SECRET.into()),
            _ => None,
        }
    };
    let cfg = config::load(&source).unwrap_or_else(|e| panic!("config: {e:?}"));
    let formats: Vec<Format> = cfg.targets.iter().map(|t| t.format).collect();
    assert_eq!(
        formats,
        [
            Format::Cloudevents,
            Format::CloudeventsBinary,
            Format::Bigcommerce
        ]
    );
    cfg.targets
}

fn header<'a>(out: &'a Outbound, name: &str) -> Option<&'a str> {
    let mut found = out.headers.iter().filter(|(k, _)| k == name);
    let first = found.next().map(|(_, v)| v.as_ref());
    assert!(found.next().is_none(), "header `{name}` is set twice");
    first
}

fn expect_header(out: &Outbound, name: &str, what: &str) -> String {
    header(out, name)
        .unwrap_or_else(|| panic!("{what}: no `{name}` header"))
        .to_owned()
}

/// Standard Webhooks: `v1,` + base64(HMAC-SHA256(base64-decoded key, "{id}.{ts}.{body}")).
fn expected_signature(id: &str, timestamp: &str, body: &str) -> String {
    let key = STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[test]
fn every_golden_event_renders_for_every_format() {
    let targets = targets();
    for g in goldens() {
        // The golden event as the pipeline holds it: equal to the golden file, with `data`
        // still the exact bytes BigCommerce sent (the pretty-printed golden has lost those).
        let ev = normalized(&g);
        assert_eq!(as_value(&ev), g.event, "{}", g.name);
        let raw: RawCallback = serde_json::from_str(&g.callback).unwrap();
        let now = raw.created_at.unwrap_or(RECEIVED_AT_MS / 1000) + 7;
        let ev = EncodedEvent::new(ev);
        for t in &targets {
            let what = format!("{} → {}", g.name, t.format.as_str());
            let out = outbound::render(t, &ev, Some(&g.callback), now);
            assert_eq!(out.url, t.url, "{what}");
            let content_type = expect_header(&out, "content-type", &what);
            match t.format {
                Format::Cloudevents => {
                    assert_eq!(content_type, "application/cloudevents+json", "{what}");
                    let body: Value = serde_json::from_str(&out.body).unwrap();
                    assert_eq!(body, g.event, "{what}");
                    let embedded = CloudEvent::read(&out.body).unwrap();
                    assert_eq!(embedded.data.get(), raw.data.get(), "{what}: data bytes");
                }
                Format::CloudeventsBinary => {
                    assert_eq!(content_type, "application/json", "{what}");
                    for (h, field) in [
                        ("ce-specversion", "specversion"),
                        ("ce-id", "id"),
                        ("ce-source", "source"),
                        ("ce-type", "type"),
                        ("ce-subject", "subject"),
                        ("ce-time", "time"),
                        ("ce-storehash", "storehash"),
                        ("ce-storeid", "storeid"),
                        ("ce-bcscope", "bcscope"),
                        ("ce-bchash", "bchash"),
                    ] {
                        assert_eq!(
                            header(&out, h),
                            g.event.get(field).map(|v| v.as_str().unwrap()),
                            "{what}: {h}"
                        );
                    }
                    assert_eq!(header(&out, "ce-bctest"), None, "{what}");
                    assert_eq!(out.body, raw.data.get(), "{what}: body must be data");
                }
                Format::Bigcommerce => {
                    assert_eq!(content_type, "application/json", "{what}");
                    assert_eq!(out.body, g.callback, "{what}: body must be the original");
                }
                // Templates and chat presets have goldens of their own (core_presets.rs,
                // core_templates_filters.rs); this test's targets use the three event formats.
                other => panic!("{what}: no {other:?} target in this test"),
            }

            let id = expect_header(&out, "webhook-id", &what);
            assert_eq!(id, str_field(&g.event, "id"), "{what}");
            let timestamp = expect_header(&out, "webhook-timestamp", &what);
            assert_eq!(timestamp, now.to_string(), "{what}");
            match &t.signing {
                Some(_) => assert_eq!(
                    expect_header(&out, "webhook-signature", &what),
                    expected_signature(&id, &timestamp, &out.body),
                    "{what}: signature"
                ),
                None => assert_eq!(header(&out, "webhook-signature"), None, "{what}"),
            }
        }
    }
}

/// Without the original body, a `bigcommerce` target gets a rebuilt callback that means the
/// same thing: it normalizes back to the golden event. An event whose id is its body's digest
/// gets another id from the rebuilt body (other bytes), and only that differs.
#[test]
fn a_rebuilt_callback_normalizes_to_the_same_event() {
    let targets = targets();
    let bc = targets
        .iter()
        .find(|t| t.format == Format::Bigcommerce)
        .unwrap();
    for g in goldens() {
        let ev = CloudEvent::read(&g.event.to_string()).unwrap();
        let out = outbound::render(bc, &ev.into(), None, 1_800_000_000);
        let again = callback::parse(out.body.as_bytes())
            .unwrap_or_else(|e| panic!("{}: rebuilt callback rejected: {e:?}", g.name));
        let mut again = as_value(&event::normalize(again, 0));
        let raw: RawCallback = serde_json::from_str(&g.callback).unwrap();
        if raw.id_key().is_none() {
            assert_ne!(again["id"], g.event["id"], "{}", g.name);
            again["id"] = g.event["id"].clone();
        }
        assert_eq!(again, g.event, "{}", g.name);
    }
}
