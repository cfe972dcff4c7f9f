//! Normalization: a validated callback becomes one CloudEvents 1.0 event with a stable id.

use crate::core::catalog;
use crate::core::ingest::callback::Callback;
use crate::core::json::Fields;
use crate::core::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::cell::OnceCell;

/// The prefix of the relay's own event types (`com.b2brelay.target.opened`…), which target
/// patterns name as `relay.…`.
pub const RELAY_TYPE_PREFIX: &str = "com.b2brelay.";

/// A CloudEvent in its structured JSON form. Field order is the serialized order; read back
/// with [`CloudEvent::read`].
#[derive(Debug, Clone, Serialize)]
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
    /// BigCommerce's extensions, empty when BigCommerce did not send them (`producer`,
    /// `store_id`, `hash`) and then left out of the JSON: CloudEvents has no empty attribute
    /// values. All four are empty on the relay's own operational events (no callback).
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
    /// BigCommerce's `webhook-id` header of a signed callback (Standard Webhooks). Whether it is
    /// stable across BigCommerce's retries is undocumented, so the event id never depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcwebhookid: Option<String>,
    /// BigCommerce's `data`, byte for byte.
    pub data: Box<RawValue>,
}

/// `sha256_hex("{store_hash}:{scope}:{created_at}:{hash}")`. BigCommerce's `hash` covers `data`
/// only, so two real updates of one company share it; scope, store and time keep them apart,
/// while a retried callback (same fields) keeps its id.
///
/// Without one of `producer`, `created_at` and `hash` that key cannot tell events apart, so the
/// id is the SHA-256 of the raw body instead: an identical retry still keeps its id.
pub fn event_id(cb: &Callback) -> String {
    match (&cb.store_hash, cb.created_at, &cb.hash, &cb.body_sha256) {
        (Some(store_hash), Some(created_at), Some(hash), _) => {
            let mut h = Sha256::new();
            h.update(store_hash.as_bytes());
            h.update(b":");
            h.update(cb.scope.as_bytes());
            h.update(b":");
            h.update(created_at.to_string().as_bytes());
            h.update(b":");
            h.update(hash.as_bytes());
            hex::encode(h.finalize())
        }
        (.., Some(digest)) => digest.clone(),
        // A `Callback` built by hand without its body digest: the fields are all there is.
        _ => {
            let mut h = Sha256::new();
            h.update(cb.scope.as_bytes());
            h.update(b":");
            h.update(cb.data.get().as_bytes());
            hex::encode(h.finalize())
        }
    }
}

/// Where an event comes from. `producer` known: `https://api.bigcommerce.com/stores/{hash}`,
/// the store's API root. Only `store_id` known: `urn:bigcommerce:store-id:{store_id}`, since a
/// store id is not a store hash and has no API URL; a URN cannot be mistaken for (or collide
/// with) the URL form. Neither: `urn:bigcommerce:store:unknown`; the id (a body digest) still
/// keeps source + id unique.
pub fn source(store_hash: Option<&str>, store_id: Option<&str>) -> String {
    match (store_hash, store_id) {
        (Some(h), _) => format!("https://api.bigcommerce.com/stores/{h}"),
        (None, Some(id)) => format!("urn:bigcommerce:store-id:{id}"),
        (None, None) => "urn:bigcommerce:store:unknown".into(),
    }
}

/// Takes the callback by value: its strings move into the event instead of being copied.
/// `received_at_ms` (unix milliseconds) is the event's `time` when BigCommerce sent no
/// `created_at`. Fields BigCommerce left out stay empty (`storehash`, `storeid`, `bchash`) and
/// are omitted from the JSON; an event without `storehash` matches no target's `stores`.
pub fn normalize(cb: Callback, received_at_ms: i64) -> CloudEvent {
    let known = catalog::lookup(&cb.scope);
    let mut ty = String::with_capacity(catalog::TYPE_PREFIX.len() + cb.scope.len());
    ty.push_str(catalog::TYPE_PREFIX);
    catalog::push_short_type(&mut ty, &cb.scope);
    CloudEvent {
        specversion: "1.0".into(),
        id: event_id(&cb),
        source: source(cb.store_hash.as_deref(), cb.store_id.as_deref()),
        ty,
        subject: catalog::subject(known.map(|k| k.0), &cb.data),
        time: rfc3339(
            cb.created_at
                .unwrap_or_else(|| received_at_ms.div_euclid(1000)),
        ),
        datacontenttype: "application/json".into(),
        storehash: cb.store_hash.unwrap_or_default(),
        storeid: cb.store_id.unwrap_or_default(),
        bcscope: cb.scope,
        bchash: cb.hash.unwrap_or_default(),
        bctest: None,
        bcwebhookid: None,
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
        EncodedEvent::read(&json).map_err(serde::de::Error::custom)
    }
}

impl EncodedEvent {
    /// The event from raw JSON already checked by the parse that found it (a member of a
    /// queue message or record), keeping those bytes.
    pub fn read(json: &RawValue) -> Result<EncodedEvent, String> {
        Ok(EncodedEvent {
            event: CloudEvent::read(json.get())?,
            json: OnceCell::from(json.to_owned()),
        })
    }
}

impl CloudEvent {
    /// The event from its structured JSON, as [`Serialize`] wrote it (absent extensions empty).
    pub fn read(json: &str) -> Result<CloudEvent, String> {
        let f = Fields::parse(json)?;
        Ok(CloudEvent {
            specversion: f.string("specversion")?,
            id: f.string("id")?,
            source: f.string("source")?,
            ty: f.string("type")?,
            subject: f.opt_string("subject")?,
            time: f.string("time")?,
            datacontenttype: f.string("datacontenttype")?,
            storehash: f.string_or_default("storehash")?,
            storeid: f.string_or_default("storeid")?,
            bcscope: f.string_or_default("bcscope")?,
            bchash: f.string_or_default("bchash")?,
            bctest: f.opt("bctest")?,
            bcwebhookid: f.opt_string("bcwebhookid")?,
            data: f.raw_owned("data")?,
        })
    }

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
        other_store.store_hash = Some("xyz".into());
        assert_ne!(event_id(&a), event_id(&other_store));
    }

    const NOW_MS: i64 = 1_764_288_000_999;

    #[test]
    fn without_the_id_key_the_id_is_the_body_digest_and_time_the_receipt() {
        let body = br#"{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated","data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}"#;
        let ev = normalize(parse(body).unwrap(), NOW_MS);
        assert_eq!(ev.id, hex::encode(Sha256::digest(body)));
        assert_eq!(ev.time, "2025-11-28T00:00:00Z");
        assert_eq!(ev.source, "https://api.bigcommerce.com/stores/abcde");
        assert_eq!(
            (ev.storehash.as_str(), ev.storeid.as_str()),
            ("abcde", "11111")
        );
        // The same bytes again (a retry) keep the id; a later receipt changes only `time`.
        let again = normalize(parse(body).unwrap(), NOW_MS + 60_000);
        assert_eq!(again.id, ev.id);
        assert_eq!(again.time, "2025-11-28T00:01:00Z");
    }

    #[test]
    fn a_bare_callback_has_a_urn_source_and_omits_what_it_lacks() {
        let ev = normalize(
            parse(br#"{"scope":"store/company/created","store_id":42,"data":{"company_id":7}}"#)
                .unwrap(),
            NOW_MS,
        );
        assert_eq!(ev.source, "urn:bigcommerce:store-id:42");
        let bare = br#"{"scope":"store/company/created","data":{"company_id":7}}"#;
        let ev = normalize(parse(bare).unwrap(), NOW_MS);
        assert_eq!(ev.source, "urn:bigcommerce:store:unknown");
        assert_eq!(ev.subject.as_deref(), Some("companies/7"));
        let json: serde_json::Value = serde_json::to_value(&ev).unwrap();
        for absent in ["storehash", "storeid", "bchash"] {
            assert!(json.get(absent).is_none(), "{absent}: {json}");
        }
        // And it reads back (queue messages, dead letters) with the fields empty.
        let back = CloudEvent::read(&json.to_string()).unwrap();
        assert_eq!(back.storehash, "");
        assert_eq!(back.id, hex::encode(Sha256::digest(bare)));
    }

    #[test]
    fn read_is_the_inverse_of_serialize_and_names_what_is_wrong() {
        let body = r#"{"scope":"store/company/user/created","store_id":"1001","data":{"company_id":1,"user_id":"é\u00e9"},"hash":"aa","created_at":1,"producer":"stores/s1"}"#;
        let mut ev = normalize(parse(body.as_bytes()).unwrap(), NOW_MS);
        ev.bctest = Some(true);
        ev.bcwebhookid = Some("msg_1".into());
        let text = serde_json::to_string(&ev).unwrap();
        let back = CloudEvent::read(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
        assert_eq!(back.data.get(), ev.data.get(), "data byte for byte");
        let e = CloudEvent::read(r#"{"specversion":"1.0"}"#).unwrap_err();
        assert_eq!(e, "missing field `id`");
        let e = CloudEvent::read(&text.replace(r#""id":""#, r#""id":1,"x":""#)).unwrap_err();
        assert!(e.starts_with("field `id`: invalid type"), "{e}");
        assert!(CloudEvent::read("[]").is_err());
        assert!(CloudEvent::read(r#"{"a":1"#).is_err());
    }

    #[test]
    fn data_is_forwarded_unchanged() {
        let body = r#"{"scope":"store/company/address/created","store_id":1,"data":{"company_id": 9, "address_id":3},"hash":"aa","created_at":1,"producer":"stores/s1"}"#;
        let ev = normalize(parse(body.as_bytes()).unwrap(), 0);
        assert_eq!(ev.data.get(), r#"{"company_id": 9, "address_id":3}"#);
        assert_eq!(ev.subject.as_deref(), Some("companies/9/addresses/3"));
        assert_eq!(ev.storeid, "1");
    }
}
