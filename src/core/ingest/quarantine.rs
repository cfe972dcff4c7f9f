//! Quarantine: an authentic request whose body cannot become an event (not JSON, no `scope`,
//! `data` not an object, too deep…) is not refused. Refusing would make BigCommerce retry it for
//! 48 hours and then deactivate the hook, for a body that will never parse. It is answered 200
//! `{"status":"quarantined","id":"…"}` and kept for 14 days, with its headers (secrets
//! redacted), for the operator to look at. Unauthenticated requests are still 401 and nothing
//! is kept; bodies over the 64 KiB limit are still 413.
//!
//! The id is the hex SHA-256 of the raw body, not a random one: the operator can recompute it
//! from a body (`sha256sum`), and resending the same body (BigCommerce firing twice, a retry)
//! rewrites one record instead of piling up copies.

use crate::core::admin::for_metadata;
use crate::core::base64::{self, Padding};
use crate::core::error::{ErrorCode, RelayError};
use crate::core::ingest::auth::{AuthMethod, AuthSettings, Authenticated};
use crate::core::ingest::callback::body_sha256;
use crate::core::time::rfc3339;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long a record is kept (KV `expiration_ttl`).
pub const TTL_SECONDS: u64 = 14 * 86_400;

const KEY_PREFIX: &str = "quarantine:";

/// Header values that are credentials whatever they contain.
const ALWAYS_REDACTED: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "webhook-signature",
];

/// What a redacted value reads as (as `Secret` prints).
pub const REDACTED: &str = "***";

/// The storage key of the record with this id. The prefix lets a listing find them all.
pub fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

pub fn key_prefix() -> &'static str {
    KEY_PREFIX
}

/// True for the errors that mean "this body is no event": what `callback::parse` answers about
/// the content. Size (413) and the rest keep their own answers.
pub fn quarantines(error: &RelayError) -> bool {
    matches!(
        error.code(),
        ErrorCode::InvalidJson | ErrorCode::MissingField | ErrorCode::InvalidField
    )
}

/// Header names lowercased; the value of a credential header, or of any header that contains a
/// configured token or client secret (a token sent under a custom header name), becomes
/// [`REDACTED`]. Contains, not equals: over-redacting loses a little diagnosis, under-redacting
/// would store a secret. A name given twice keeps both values, joined as the runtime joins them.
pub fn redact_headers<K, V>(
    headers: impl IntoIterator<Item = (K, V)>,
    settings: &AuthSettings,
) -> HeaderList
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    // A list joined by hand: a map would be new wasm code (sorting, inserting) for a handful of
    // headers the runtime gives sorted and combined already.
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.as_ref().to_ascii_lowercase();
        let value = value.as_ref();
        let secret = ALWAYS_REDACTED.contains(&name.as_str())
            || settings
                .secret_values()
                .any(|s| !s.is_empty() && value.contains(s));
        let value = if secret { REDACTED } else { value };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            None => out.push((name, value.to_owned())),
        }
    }
    HeaderList(out)
}

/// Header name → value, in the order received, written as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderList(pub Vec<(String, String)>);

impl HeaderList {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Serialize for HeaderList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = HeaderList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("header names and values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<HeaderList, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = m.next_entry()? {
                    out.push(pair);
                }
                Ok(HeaderList(out))
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// The body was valid UTF-8 and `body` is that text, unchanged.
    Utf8,
    /// It was not, and `body` is its standard base64: nothing is lost, unlike a lossy decoding.
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ErrorCode,
    pub message: String,
}

/// One quarantined request, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// Hex SHA-256 of the raw body.
    pub id: String,
    /// RFC 3339.
    pub received_at: String,
    pub received_at_ms: i64,
    /// Why the body is no event: the code and message ingest would have answered.
    pub reason: Reason,
    pub authenticated_by: AuthMethod,
    /// BigCommerce's `webhook-id`, when a signature verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// Request headers, names lowercased, secrets redacted.
    pub headers: HeaderList,
    pub body_encoding: BodyEncoding,
    pub body: String,
    /// Bytes of the raw body.
    pub size: usize,
}

impl QuarantineRecord {
    /// `body` is the raw body (ingest has already refused anything over 64 KiB, so it is whole);
    /// `error` is what `callback::parse` said about it.
    pub fn new<K, V>(
        body: &[u8],
        headers: impl IntoIterator<Item = (K, V)>,
        settings: &AuthSettings,
        auth: &Authenticated,
        error: &RelayError,
        received_at_ms: i64,
    ) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (body_encoding, text) = match std::str::from_utf8(body) {
            Ok(text) => (BodyEncoding::Utf8, text.to_owned()),
            Err(_) => (BodyEncoding::Base64, base64::encode(body)),
        };
        QuarantineRecord {
            id: body_sha256(body),
            received_at: rfc3339(received_at_ms.div_euclid(1000)),
            received_at_ms,
            reason: Reason {
                code: error.code(),
                message: error.message().to_owned(),
            },
            authenticated_by: auth.by,
            webhook_id: auth.webhook_id.clone(),
            headers: redact_headers(headers, settings),
            body_encoding,
            body: text,
            size: body.len(),
        }
    }

    pub fn key(&self) -> String {
        key(&self.id)
    }

    /// The raw body again (to inspect or replay it).
    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        match self.body_encoding {
            BodyEncoding::Utf8 => Some(self.body.clone().into_bytes()),
            BodyEncoding::Base64 => base64::decode(&self.body, Padding::Required),
        }
    }

    pub fn summary(&self) -> QuarantineSummary {
        QuarantineSummary {
            id: self.id.clone(),
            received_at: self.received_at.clone(),
            code: self.reason.code,
            message: for_metadata(&self.reason.message),
            size: self.size,
            authenticated_by: self.authenticated_by,
        }
    }
}

/// The listing entry of a record, also meant as its KV metadata so a list needs no reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineSummary {
    pub id: String,
    pub received_at: String,
    pub code: ErrorCode,
    pub message: String,
    pub size: usize,
    pub authenticated_by: AuthMethod,
}

/// True for what a record id looks like (hex SHA-256): anything else cannot name a record.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Records re-processed per replay call at most: each costs a few KV operations and a queue
/// send, and an invocation's subrequests are limited; `remaining: true` says call again.
pub const REPLAY_LIMIT: usize = 20;

/// What a replay reads of a stored record (the rest is for the operator's eyes, served as
/// stored).
#[derive(Debug, PartialEq, Eq)]
pub struct Stored {
    pub received_at_ms: i64,
    pub webhook_id: Option<String>,
    pub body: Vec<u8>,
}

impl Stored {
    /// Through `serde_json::Value`, whose parser the wasm has anyway: a struct of its own would
    /// link another deserializer for four fields. `None` when the text is no record.
    pub fn parse(text: &str) -> Option<Stored> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let body = v.get("body")?.as_str()?;
        let body = match v.get("body_encoding")?.as_str()? {
            "utf8" => body.as_bytes().to_vec(),
            "base64" => base64::decode(body, Padding::Required)?,
            _ => return None,
        };
        Some(Stored {
            received_at_ms: v.get("received_at_ms")?.as_i64()?,
            webhook_id: v
                .get("webhook_id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            body,
        })
    }
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// It parses now and was accepted as a new event: the record is deleted.
    Accepted,
    /// It parses now and its event was accepted before: deleted too.
    Duplicate,
    /// It still does not parse: kept.
    Quarantined,
    NotFound,
    /// Storage or the queue failed: kept, try again.
    Failed,
}

#[derive(Debug, Serialize)]
pub struct ReplayResult {
    pub id: String,
    pub outcome: ReplayOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub replayed: usize,
    pub duplicates: usize,
    pub still_quarantined: usize,
    pub not_found: usize,
    pub failed: usize,
    /// More records are kept than this call looked at.
    pub remaining: bool,
    pub results: Vec<ReplayResult>,
}

impl ReplayReport {
    pub fn push(&mut self, r: ReplayResult) {
        match r.outcome {
            ReplayOutcome::Accepted => self.replayed += 1,
            ReplayOutcome::Duplicate => self.duplicates += 1,
            ReplayOutcome::Quarantined => self.still_quarantined += 1,
            ReplayOutcome::NotFound => self.not_found += 1,
            ReplayOutcome::Failed => self.failed += 1,
        }
        self.results.push(r);
    }
}

impl ReplayOutcome {
    /// Whether the record goes: it became an event (new or known).
    pub fn deletes(self) -> bool {
        matches!(self, ReplayOutcome::Accepted | ReplayOutcome::Duplicate)
    }
}

#[derive(Serialize)]
struct Answer<'a> {
    status: &'static str,
    id: &'a str,
}

/// Ingest's 200 answer for a quarantined request: `{"status":"quarantined","id":"…"}`.
pub fn answer(id: &str) -> String {
    serde_json::to_string(&Answer {
        status: "quarantined",
        id,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ingest::auth::Mode;
    use crate::core::ingest::callback;

    fn settings() -> AuthSettings {
        AuthSettings::new(
            Mode::Any,
            &["token-abc-123"],
            &["client-secret-xyz", "old-client-secret"],
            300,
        )
    }

    fn auth() -> Authenticated {
        Authenticated {
            by: AuthMethod::Both,
            webhook_id: Some("msg_1".into()),
        }
    }

    const HEADERS: [(&str, &str); 8] = [
        ("Authorization", "Bearer token-abc-123"),
        ("Content-Type", "application/json"),
        ("Webhook-Signature", "v1,abc="),
        ("webhook-id", "msg_1"),
        ("X-Relay-Token", "token-abc-123"),
        ("X-Other", "prefix client-secret-xyz suffix"),
        ("Cookie", "a=b"),
        ("X-Forwarded-For", "203.0.113.9"),
    ];

    #[test]
    fn headers_are_redacted_by_name_and_by_value() {
        let h = redact_headers(HEADERS, &settings());
        let get = |k: &str| h.get(k);
        assert_eq!(get("authorization"), Some(REDACTED));
        assert_eq!(get("webhook-signature"), Some(REDACTED));
        assert_eq!(get("cookie"), Some(REDACTED));
        assert_eq!(get("x-relay-token"), Some(REDACTED));
        assert_eq!(get("x-other"), Some(REDACTED));
        assert_eq!(get("content-type"), Some("application/json"));
        assert_eq!(get("webhook-id"), Some("msg_1"));
        assert_eq!(get("x-forwarded-for"), Some("203.0.113.9"));
        let text = serde_json::to_string(&h).unwrap();
        for secret in ["token-abc-123", "client-secret-xyz", "v1,abc"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        let twice = redact_headers([("Via", "a"), ("via", "b")], &settings());
        assert_eq!(twice.get("via"), Some("a, b"));
    }

    #[test]
    fn a_record_keeps_the_body_the_reason_and_no_secret() {
        let body = br#"{"data":{"company_id":1}}"#;
        let err = callback::parse(body).unwrap_err();
        assert!(quarantines(&err));
        let r = QuarantineRecord::new(body, HEADERS, &settings(), &auth(), &err, 1_764_288_000_500);
        assert_eq!(r.id, callback::body_sha256(body));
        assert_eq!(r.key(), format!("quarantine:{}", r.id));
        assert!(r.key().starts_with(key_prefix()));
        assert_eq!(r.received_at, "2025-11-28T00:00:00Z");
        assert_eq!(r.reason.code, ErrorCode::MissingField);
        assert_eq!((r.body_encoding, r.size), (BodyEncoding::Utf8, body.len()));
        assert_eq!(r.body_bytes().as_deref(), Some(&body[..]));
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains(r#""reason":{"code":"missing_field","message":"`scope` is required"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""authenticated_by":"both","webhook_id":"msg_1""#),
            "{json}"
        );
        for secret in ["token-abc-123", "client-secret-xyz"] {
            assert!(!json.contains(secret), "{secret}: {json}");
        }
        let back: QuarantineRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_body_that_is_not_utf8_is_kept_as_base64() {
        let body = b"{\"scope\":\"\xff\"}";
        let err = callback::parse(body).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidJson);
        let r = QuarantineRecord::new(body, [("a", "b")], &settings(), &auth(), &err, 0);
        assert_eq!(r.body_encoding, BodyEncoding::Base64);
        assert_eq!(r.body, base64::encode(body.as_ref()));
        assert_eq!(r.body_bytes().as_deref(), Some(&body[..]));
        assert!(serde_json::to_string(&r)
            .unwrap()
            .contains(r#""body_encoding":"base64""#));
    }

    #[test]
    fn only_content_errors_quarantine() {
        for body in [
            &b"not json"[..],
            b"[]",
            br#"{"scope":"store/a/b","data":[]}"#,
        ] {
            assert!(quarantines(&callback::parse(body).unwrap_err()));
        }
        assert!(!quarantines(&RelayError::payload_too_large(1)));
        assert!(!quarantines(&RelayError::unauthorized()));
    }

    #[test]
    fn replay_counts_each_outcome_and_deletes_only_events() {
        let mut report = ReplayReport::default();
        for outcome in [
            ReplayOutcome::Accepted,
            ReplayOutcome::Duplicate,
            ReplayOutcome::Quarantined,
            ReplayOutcome::NotFound,
            ReplayOutcome::Failed,
            ReplayOutcome::Accepted,
        ] {
            report.push(ReplayResult {
                id: "x".into(),
                outcome,
                event_id: None,
                error: None,
            });
        }
        let counts = (
            report.replayed,
            report.duplicates,
            report.still_quarantined,
            report.not_found,
            report.failed,
        );
        assert_eq!(counts, (2, 1, 1, 1, 1));
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.starts_with(r#"{"replayed":2,"duplicates":1,"still_quarantined":1,"not_found":1,"failed":1,"remaining":false,"results":[{"id":"x","outcome":"accepted"}"#), "{json}");
        assert!(ReplayOutcome::Duplicate.deletes() && !ReplayOutcome::Quarantined.deletes());
        assert!(!ReplayOutcome::Failed.deletes());
        assert!(valid_id(&callback::body_sha256(b"x")));
        assert!(!valid_id("../dlq:x") && !valid_id(&"A".repeat(64)));
        let err = RelayError::new(ErrorCode::InvalidJson, "x");
        let r = QuarantineRecord::new(b"\xff", [("a", "b")], &settings(), &auth(), &err, 5);
        let stored = Stored::parse(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(
            stored,
            Stored {
                received_at_ms: 5,
                webhook_id: Some("msg_1".into()),
                body: b"\xff".to_vec()
            }
        );
        let utf8 = QuarantineRecord::new(b"{}", [("a", "b")], &settings(), &auth(), &err, 6);
        let stored = Stored::parse(&serde_json::to_string(&utf8).unwrap()).unwrap();
        assert_eq!(stored.body, b"{}");
        assert_eq!(Stored::parse("{}"), None);
    }

    #[test]
    fn summary_and_answer_are_small() {
        let err = RelayError::new(ErrorCode::InvalidJson, "é".repeat(500));
        let r = QuarantineRecord::new(b"x", [("a", "b")], &settings(), &auth(), &err, 0);
        let s = r.summary();
        assert!(s.message.len() <= 204 && s.message.ends_with('…'));
        assert!(serde_json::to_string(&s).unwrap().len() < 1024);
        assert_eq!(
            answer(&r.id),
            format!(r#"{{"status":"quarantined","id":"{}"}}"#, r.id)
        );
    }
}
