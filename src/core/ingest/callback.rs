//! The BigCommerce webhook envelope: parse and validate, without trusting any field.
//!
//! `{"scope","store_id","data","hash","created_at","producer"}`. `data` is kept as the exact
//! JSON text BigCommerce sent, so it can be forwarded unchanged.
//!
//! Only `scope` and `data` (an object) are required: BigCommerce's schema marks no field
//! required and its documented examples lack `created_at`, so a callback without `store_id`,
//! `hash`, `created_at` or `producer` is still an event. Such a field sent as `null` or `""` is
//! taken as absent; sent with a wrong type or shape it is still refused.

use crate::core::error::{ErrorCode, RelayError};
use crate::core::json::Scalar;
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Largest body accepted on ingest. BigCommerce callbacks are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Latest `created_at` that still formats as an RFC 3339 year (9999-12-31T23:59:59Z).
const MAX_CREATED_AT: i64 = 253_402_300_799;

/// A validated callback. `None` is a field BigCommerce did not send (or sent as `null`/`""`).
#[derive(Debug, Clone)]
pub struct Callback {
    pub scope: String,
    /// Always a string, even when BigCommerce sent a number.
    pub store_id: Option<String>,
    pub data: Box<RawValue>,
    pub hash: Option<String>,
    pub created_at: Option<i64>,
    /// From `producer` (`stores/{store_hash}`).
    pub store_hash: Option<String>,
    /// Hex SHA-256 of the raw body, computed only when the documented id key is incomplete
    /// (no `producer`, `created_at` or `hash`): the event id is then this digest.
    pub body_sha256: Option<String>,
}

impl Callback {
    /// True when `producer`, `created_at` and `hash` are all there, so the event id is the
    /// documented key's digest rather than the body's.
    pub fn has_id_key(&self) -> bool {
        self.store_hash.is_some() && self.created_at.is_some() && self.hash.is_some()
    }
}

/// Hex SHA-256 of `body`: the id of an event without the documented key, and of a quarantined
/// body.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Scope,
    StoreId,
    Data,
    Hash,
    CreatedAt,
    Producer,
    #[serde(other)]
    Unknown,
}

/// The envelope in one pass: known fields kept, unknown ones checked and dropped, a repeated
/// field refused. `data` stays the raw text BigCommerce sent (checked separately).
#[derive(Default)]
struct Envelope<'a> {
    scope: Option<Scalar<'a>>,
    store_id: Option<Scalar<'a>>,
    data: Option<&'a RawValue>,
    hash: Option<Scalar<'a>>,
    created_at: Option<Scalar<'a>>,
    producer: Option<Scalar<'a>>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a BigCommerce webhook callback")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut env = Envelope::default();
        while let Some(field) = map.next_key::<Field>()? {
            let (slot, name) = match field {
                Field::Data => {
                    if env.data.is_some() {
                        return Err(serde::de::Error::duplicate_field("data"));
                    }
                    env.data = Some(map.next_value()?);
                    continue;
                }
                Field::Unknown => {
                    map.next_value::<Scalar>()?;
                    continue;
                }
                Field::Scope => (&mut env.scope, "scope"),
                Field::StoreId => (&mut env.store_id, "store_id"),
                Field::Hash => (&mut env.hash, "hash"),
                Field::CreatedAt => (&mut env.created_at, "created_at"),
                Field::Producer => (&mut env.producer, "producer"),
            };
            if slot.is_some() {
                return Err(serde::de::Error::duplicate_field(name));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(env)
    }
}

fn missing(field: &str) -> RelayError {
    RelayError::new(ErrorCode::MissingField, format!("`{field}` is required"))
}

fn invalid(field: &str, why: &str) -> RelayError {
    RelayError::new(ErrorCode::InvalidField, format!("`{field}` {why}"))
}

fn is_ident(s: &str, extra: &[u8]) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Scopes look like `store/company/user/created`. Unknown scopes are fine; odd characters are
/// not, since the scope ends up in the CloudEvents `type` and in HTTP headers.
fn valid_scope(s: &str) -> bool {
    s.len() <= 128
        && s.strip_prefix("store/")
            .is_some_and(|rest| rest.split('/').all(|seg| is_ident(seg, b"_-")))
}

pub fn parse(body: &[u8]) -> Result<Callback, RelayError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    // serde would also read a JSON array positionally into the struct: only objects count.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(RelayError::new(
            ErrorCode::InvalidJson,
            "body is not a JSON object",
        ));
    }
    let not_json = |e: serde_json::Error| {
        RelayError::new(
            ErrorCode::InvalidJson,
            format!("body is not a JSON object: {e}"),
        )
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| RelayError::new(ErrorCode::InvalidJson, "body is not valid UTF-8"))?;
    // Every value is read through `deserialize_any` (checked like a full parse) except `data`,
    // kept raw: capturing it only skips over it, which checks neither `\u` surrogates, nor
    // number range, nor depth, so it is checked on its own. What is forwarded (`data`, or the
    // whole body) is then JSON every receiver can read.
    let env: Envelope = serde_json::from_str(text).map_err(not_json)?;
    if let Some(raw) = env.data {
        serde_json::from_str::<Scalar>(raw.get()).map_err(not_json)?;
    }

    let scope = match env.scope {
        None | Some(Scalar::Null) => return Err(missing("scope")),
        Some(Scalar::Str(s)) if valid_scope(&s) => s.into_owned(),
        Some(Scalar::Str(_)) => {
            return Err(invalid(
                "scope",
                "must look like `store/<resource>/<action>`",
            ))
        }
        Some(_) => return Err(invalid("scope", "must be a string")),
    };

    let store_id = match env.store_id {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(s)) if s.is_empty() => None,
        Some(Scalar::Str(s)) if s.len() <= 64 && is_ident(&s, b"_-") => Some(s.into_owned()),
        Some(Scalar::U64(n)) => Some(n.to_string()),
        Some(Scalar::Str(_)) => {
            return Err(invalid(
                "store_id",
                "must be 1-64 letters, digits, `_` or `-`",
            ))
        }
        Some(_) => return Err(invalid("store_id", "must be a string or a whole number")),
    };

    let data = match env.data {
        None => return Err(missing("data")),
        Some(raw) if raw.get().starts_with('{') => raw.to_owned(),
        Some(raw) if raw.get() == "null" => return Err(missing("data")),
        Some(_) => return Err(invalid("data", "must be an object")),
    };

    let hash = match env.hash {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(s)) if s.is_empty() => None,
        Some(Scalar::Str(s)) if s.len() <= 128 && is_ident(&s, b"") => Some(s.into_owned()),
        Some(Scalar::Str(_)) => return Err(invalid("hash", "must be 1-128 letters or digits")),
        Some(_) => return Err(invalid("hash", "must be a string")),
    };

    let created_at = match env.created_at {
        None | Some(Scalar::Null) => None,
        Some(Scalar::U64(t)) if t <= MAX_CREATED_AT.unsigned_abs() => Some(t.cast_signed()),
        Some(Scalar::U64(_) | Scalar::I64(_) | Scalar::Float) => {
            return Err(invalid(
                "created_at",
                "must be unix seconds (0 to year 9999)",
            ))
        }
        Some(_) => return Err(invalid("created_at", "must be an integer (unix seconds)")),
    };

    let store_hash = match env.producer {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(p)) if p.is_empty() => None,
        Some(Scalar::Str(p)) => match p.strip_prefix("stores/") {
            Some(h) if h.len() <= 64 && is_ident(h, b"") => Some(h.to_owned()),
            _ => return Err(invalid("producer", "must be `stores/{store_hash}`")),
        },
        Some(_) => return Err(invalid("producer", "must be a string")),
    };

    let mut cb = Callback {
        scope,
        store_id,
        data,
        hash,
        created_at,
        store_hash,
        body_sha256: None,
    };
    // Only here is the body at hand; hashing it when the key is complete would be wasted.
    if !cb.has_id_key() {
        cb.body_sha256 = Some(body_sha256(body));
    }
    Ok(cb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const GOOD: &str = r#"{"scope":"store/company/created","store_id":"1001","data":{"company_id":1234},"hash":"0123456789abcdef0123456789abcdef01234567","created_at":1700000000,"producer":"stores/abc123"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(GOOD).unwrap();
        if value.is_empty() {
            v.remove(field);
        } else {
            v.insert(field.into(), serde_json::from_str(value).unwrap());
        }
        serde_json::to_string(&v).unwrap()
    }

    fn code(body: &str) -> String {
        parse(body.as_bytes())
            .unwrap_err()
            .code()
            .as_str()
            .to_owned()
    }

    #[test]
    fn parses_a_documented_callback() {
        let cb = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(cb.scope, "store/company/created");
        assert_eq!(cb.store_id.as_deref(), Some("1001"));
        assert_eq!(cb.data.get(), r#"{"company_id":1234}"#);
        assert_eq!(cb.created_at, Some(1_700_000_000));
        assert_eq!(cb.store_hash.as_deref(), Some("abc123"));
        assert!(cb.has_id_key());
        assert_eq!(
            cb.body_sha256, None,
            "not hashed when the id key is complete"
        );
    }

    /// BigCommerce's own `store/order/statusUpdated` example has no `created_at`.
    #[test]
    fn parses_the_documented_example_without_created_at() {
        let body = br#"{"store_id":"11111","producer":"stores/abcde","scope":"store/order/statusUpdated","data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}"#;
        let cb = parse(body).unwrap();
        assert_eq!(cb.created_at, None);
        assert_eq!(cb.store_hash.as_deref(), Some("abcde"));
        assert!(!cb.has_id_key());
        assert_eq!(cb.body_sha256, Some(hex::encode(Sha256::digest(body))));
    }

    #[test]
    fn numeric_store_id_becomes_a_string() {
        assert_eq!(
            parse(with("store_id", "1001").as_bytes())
                .unwrap()
                .store_id
                .as_deref(),
            Some("1001")
        );
    }

    #[test]
    fn unknown_scopes_and_extra_fields_are_accepted() {
        let body = with("scope", r#""store/company/catalog/assigned""#);
        assert_eq!(
            parse(body.as_bytes()).unwrap().scope,
            "store/company/catalog/assigned"
        );
        assert!(parse(with("extra", "[1,2]").as_bytes()).is_ok());
    }

    #[test]
    fn scope_and_data_are_required() {
        for f in ["scope", "data"] {
            let err = parse(with(f, "").as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::MissingField, "{f}");
            assert!(err.to_string().contains(f), "{f}: {err}");
            assert_eq!(code(&with(f, "null")), "missing_field", "{f} null");
        }
    }

    #[test]
    fn every_other_field_may_be_missing_null_or_empty() {
        for f in ["store_id", "hash", "created_at", "producer"] {
            for value in ["", "null", r#""""#] {
                if f == "created_at" && value == r#""""# {
                    continue;
                }
                let body = with(f, value);
                let cb = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{f}={value}: {e}"));
                let absent = match f {
                    "store_id" => cb.store_id.is_none(),
                    "hash" => cb.hash.is_none(),
                    "created_at" => cb.created_at.is_none(),
                    _ => cb.store_hash.is_none(),
                };
                assert!(absent, "{f}={value}");
                // store_id is not part of the id key: without it the key is still complete.
                assert_eq!(cb.body_sha256.is_some(), f != "store_id", "{f}={value}");
            }
        }
        let bare = br#"{"scope":"store/company/created","data":{}}"#;
        let cb = parse(bare).unwrap();
        assert_eq!(
            (cb.store_id, cb.hash, cb.created_at, cb.store_hash),
            (None, None, None, None)
        );
        assert_eq!(cb.body_sha256, Some(body_sha256(bare)));
    }

    #[test]
    fn mistyped_fields_are_rejected() {
        let cases = [
            ("scope", "12"),
            ("scope", r#""company/created""#),
            ("scope", r#""store/company/cre ated""#),
            ("store_id", "true"),
            ("store_id", "-5"),
            ("store_id", "1.5"),
            ("store_id", r#""a b""#),
            ("data", "[]"),
            ("data", r#""x""#),
            ("data", "7"),
            ("hash", "1"),
            ("hash", r#""ab-cd""#),
            ("created_at", r#""1700000000""#),
            ("created_at", "1.5"),
            ("created_at", r#""""#),
            ("created_at", "-1"),
            ("created_at", "1e300"),
            ("created_at", "99999999999999999999"),
            ("producer", r#""abc123""#),
            ("producer", r#""stores/""#),
            ("producer", r#""stores/a/b""#),
            ("producer", "5"),
        ];
        for (field, value) in cases {
            assert_eq!(
                code(&with(field, value)),
                "invalid_field",
                "{field}={value}"
            );
        }
    }

    #[test]
    fn non_json_and_non_objects_are_invalid_json() {
        for body in [
            "",
            "{",
            "[]",
            "null",
            "\"x\"",
            "{\"scope\":1,}",
            "\u{feff}{}",
        ] {
            assert_eq!(code(body), "invalid_json", "{body:?}");
        }
        assert_eq!(
            parse(b"{\"scope\":\"\xff\"}").unwrap_err().code(),
            ErrorCode::InvalidJson
        );
        let dup = r#"{"scope":"store/a/b","scope":"store/a/c"}"#;
        assert_eq!(code(dup), "invalid_json");
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse(&big).unwrap_err().status(), 413);
    }
}
