//! Normalization: a validated callback becomes one CloudEvents 1.0 event with a stable id.

use crate::core::catalog;
use crate::core::ingest::callback::Callback;
use crate::core::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::cell::OnceCell;

/// The prefix of the relay's own event types (`com.b2brelay.target.opened`…), which target
/// patterns name as `relay.…`.
pub const RELAY_TYPE_PREFIX: &str = "com.b2brelay.";

/// A CloudEvent in its structured JSON form. Field order is the serialized order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub time: String,
    pub datacontenttype: String,
    // BigCommerce's extensions; empty (and left out) on the relay's own operational events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storehash: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storeid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bcscope: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bchash: String,
    /// Set on events made by the operator's test-event route, never on real callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bctest: Option<bool>,
    /// BigCommerce's `data`, byte for byte.
    pub data: Box<RawValue>,
}

/// `sha256_hex("{store_hash}:{scope}:{created_at}:{hash}")`. BigCommerce's `hash` covers `data`
/// only, so two real updates of one company share it; scope, store and time keep them apart,
/// while a retried callback (same fields) keeps its id.
pub fn event_id(cb: &Callback) -> String {
    let mut h = Sha256::new();
    h.update(cb.store_hash.as_bytes());
    h.update(b":");
    h.update(cb.scope.as_bytes());
    h.update(b":");
    h.update(cb.created_at.to_string().as_bytes());
    h.update(b":");
    h.update(cb.hash.as_bytes());
    hex::encode(h.finalize())
}

/// Takes the callback by value: its strings move into the event instead of being copied.
pub fn normalize(cb: Callback) -> CloudEvent {
    let known = catalog::lookup(&cb.scope);
    let mut ty = String::with_capacity(catalog::TYPE_PREFIX.len() + cb.scope.len());
    ty.push_str(catalog::TYPE_PREFIX);
    catalog::push_short_type(&mut ty, &cb.scope);
    CloudEvent {
        specversion: "1.0".into(),
        id: event_id(&cb),
        source: format!("https://api.bigcommerce.com/stores/{}", cb.store_hash),
        ty,
        subject: catalog::subject(known.map(|k| k.0), &cb.data),
        time: rfc3339(cb.created_at),
        datacontenttype: "application/json".into(),
        storehash: cb.store_hash,
        storeid: cb.store_id,
        bcscope: cb.scope,
        bchash: cb.hash,
        bctest: None,
        data: cb.data,
    }
}

/// An event together with its structured-mode JSON, serialized at most once. Targets in the
/// default format get exactly these bytes, and queue messages and dead letters embed them, so
/// an event fanned out to N targets is not serialized N times at ingest and again at each
/// delivery. Read-only (it derefs to the event), which is what makes the lazy JSON safe: a
/// changed event is a new `EncodedEvent`.
#[derive(Debug)]
pub struct EncodedEvent {
    event: CloudEvent,
    json: OnceCell<Box<RawValue>>,
}

impl EncodedEvent {
    pub fn new(event: CloudEvent) -> Self {
        EncodedEvent {
            event,
            json: OnceCell::new(),
        }
    }

    fn raw(&self) -> &RawValue {
        // Only strings, a `bool` and valid raw JSON: serializing cannot fail.
        self.json
            .get_or_init(|| serde_json::value::to_raw_value(&self.event).unwrap_or_default())
    }

    /// The CloudEvent as structured JSON (`application/cloudevents+json`).
    pub fn json(&self) -> &str {
        self.raw().get()
    }

    pub fn into_event(self) -> CloudEvent {
        self.event
    }
}

/// Clones are made to fan an event out, and each is then serialized: encode first, so that all
/// of them share the one encoding.
impl Clone for EncodedEvent {
    fn clone(&self) -> Self {
        let _ = self.raw();
        EncodedEvent {
            event: self.event.clone(),
            json: self.json.clone(),
        }
    }
}

impl From<CloudEvent> for EncodedEvent {
    fn from(event: CloudEvent) -> Self {
        EncodedEvent::new(event)
    }
}

impl std::ops::Deref for EncodedEvent {
    type Target = CloudEvent;
    fn deref(&self) -> &CloudEvent {
        &self.event
    }
}

impl Serialize for EncodedEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

impl<'de> Deserialize<'de> for EncodedEvent {
    /// Keeps the bytes it was read from: what was accepted is what is delivered.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Box::<RawValue>::deserialize(d)?;
        let event = serde_json::from_str(json.get()).map_err(serde::de::Error::custom)?;
        Ok(EncodedEvent {
            event,
            json: OnceCell::from(json),
        })
    }
}

impl CloudEvent {
    /// The type without `com.bigcommerce.`: what target `events` globs match against. The
    /// relay's own `com.b2brelay.target.*` events become `relay.target.*`.
    pub fn short_type(&self) -> &str {
        match self.ty.strip_prefix(catalog::TYPE_PREFIX) {
            Some(short) => short,
            None if self.ty.starts_with(RELAY_TYPE_PREFIX) => {
                self.ty.get("com.b2b".len()..).unwrap_or(&self.ty)
            }
            None => &self.ty,
        }
    }

    /// One of the relay's own operational events (no BigCommerce callback behind it).
    pub fn is_operational(&self) -> bool {
        self.ty.starts_with(RELAY_TYPE_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ingest::callback::parse;

    fn cb(scope: &str, created_at: i64, hash: &str) -> Callback {
        let body = format!(
            r#"{{"scope":"{scope}","store_id":"1001","data":{{"company_id":1}},"hash":"{hash}","created_at":{created_at},"producer":"stores/abc"}}"#
        );
        parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn id_is_sha256_of_the_documented_key() {
        let c = cb("store/company/updated", 1_700_000_000, "ff");
        let want = hex::encode(Sha256::digest(b"abc:store/company/updated:1700000000:ff"));
        assert_eq!(event_id(&c), want);
        assert_eq!(event_id(&c).len(), 64);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = cb("store/company/updated", 1_700_000_000, "ff");
        // The same callback parsed again from differently spaced, reordered text.
        let again = parse(
            br#"{ "producer": "stores/abc", "hash": "ff", "data": {"company_id": 1},
                  "created_at": 1700000000, "store_id": "1", "scope": "store/company/updated" }"#,
        )
        .unwrap();
        assert_eq!(event_id(&a), event_id(&again));
        // Same data hash, different time: two real updates stay two events.
        assert_ne!(
            event_id(&a),
            event_id(&cb("store/company/updated", 1_700_000_001, "ff"))
        );
        assert_ne!(
            event_id(&a),
            event_id(&cb("store/company/created", 1_700_000_000, "ff"))
        );
        let mut other_store = a.clone();
        other_store.store_hash = "xyz".into();
        assert_ne!(event_id(&a), event_id(&other_store));
    }

    #[test]
    fn data_is_forwarded_unchanged() {
        let body = r#"{"scope":"store/company/address/created","store_id":1,"data":{"company_id": 9, "address_id":3},"hash":"aa","created_at":1,"producer":"stores/s1"}"#;
        let ev = normalize(parse(body.as_bytes()).unwrap());
        assert_eq!(ev.data.get(), r#"{"company_id": 9, "address_id":3}"#);
        assert_eq!(ev.subject.as_deref(), Some("companies/9/addresses/3"));
        assert_eq!(ev.storeid, "1");
    }
}
