//! The BigCommerce webhook envelope: parse and validate, without trusting any field.
//!
//! `{"scope","store_id","data","hash","created_at","producer"}`. `data` is kept as the exact
//! JSON text BigCommerce sent, so it can be forwarded unchanged.

use crate::core::error::RelayError;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Largest body accepted on ingest. BigCommerce callbacks are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Latest `created_at` that still formats as an RFC 3339 year (9999-12-31T23:59:59Z).
const MAX_CREATED_AT: i64 = 253_402_300_799;

/// A validated callback.
#[derive(Debug, Clone)]
pub struct Callback {
    pub scope: String,
    /// Always a string, even when BigCommerce sent a number.
    pub store_id: String,
    pub data: Box<RawValue>,
    pub hash: String,
    pub created_at: i64,
    /// From `producer` (`stores/{store_hash}`).
    pub store_hash: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    store_id: Option<Value>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    hash: Option<Value>,
    #[serde(default)]
    created_at: Option<Value>,
    #[serde(default)]
    producer: Option<Value>,
}

/// Any JSON value, read through `deserialize_any` so that serde_json checks every string
/// (UTF-8, escapes, surrogates), every number's range and the nesting depth, and kept nowhere:
/// the validation of a `Value` parse without its allocations.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

fn missing(field: &str) -> RelayError {
    RelayError::bad_request("missing_field", format!("`{field}` is required"))
}

fn invalid(field: &str, why: &str) -> RelayError {
    RelayError::bad_request("invalid_field", format!("`{field}` {why}"))
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
        return Err(RelayError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    // serde would also read a JSON array positionally into the struct: only objects count.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(RelayError::bad_request(
            "invalid_json",
            "body is not a JSON object",
        ));
    }
    let not_json = |e: serde_json::Error| {
        RelayError::bad_request("invalid_json", format!("body is not a JSON object: {e}"))
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| RelayError::bad_request("invalid_json", "body is not valid UTF-8"))?;
    // The envelope parse below skips unknown fields and keeps `data` raw, and skipping checks
    // neither UTF-8, nor `\u` surrogates, nor number range, nor depth. A full parse does, so
    // what is forwarded (`data`, or the whole body) is JSON every receiver can read.
    serde_json::from_str::<Checked>(text).map_err(not_json)?;
    let env: Envelope = serde_json::from_str(text).map_err(not_json)?;

    let scope = match env.scope {
        None | Some(Value::Null) => return Err(missing("scope")),
        Some(Value::String(s)) if valid_scope(&s) => s,
        Some(Value::String(_)) => {
            return Err(invalid(
                "scope",
                "must look like `store/<resource>/<action>`",
            ))
        }
        Some(_) => return Err(invalid("scope", "must be a string")),
    };

    let store_id = match env.store_id {
        None | Some(Value::Null) => return Err(missing("store_id")),
        Some(Value::String(s)) if s.len() <= 64 && is_ident(&s, b"_-") => s,
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(Value::String(_)) => {
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
        None | Some(Value::Null) => return Err(missing("hash")),
        Some(Value::String(s)) if s.len() <= 128 && is_ident(&s, b"") => s,
        Some(Value::String(_)) => return Err(invalid("hash", "must be 1-128 letters or digits")),
        Some(_) => return Err(invalid("hash", "must be a string")),
    };

    let created_at = match env.created_at {
        None | Some(Value::Null) => return Err(missing("created_at")),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (0..=MAX_CREATED_AT).contains(&t) => t,
            _ => {
                return Err(invalid(
                    "created_at",
                    "must be unix seconds (0 to year 9999)",
                ))
            }
        },
        Some(_) => return Err(invalid("created_at", "must be an integer (unix seconds)")),
    };

    let store_hash = match env.producer {
        None | Some(Value::Null) => return Err(missing("producer")),
        Some(Value::String(p)) => match p.strip_prefix("stores/") {
            Some(h) if h.len() <= 64 && is_ident(h, b"") => h.to_owned(),
            _ => return Err(invalid("producer", "must be `stores/{store_hash}`")),
        },
        Some(_) => return Err(invalid("producer", "must be a string")),
    };

    Ok(Callback {
        scope,
        store_id,
        data,
        hash,
        created_at,
        store_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        parse(body.as_bytes()).unwrap_err().code().to_owned()
    }

    #[test]
    fn parses_a_documented_callback() {
        let cb = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(cb.scope, "store/company/created");
        assert_eq!(cb.store_id, "1001");
        assert_eq!(cb.data.get(), r#"{"company_id":1234}"#);
        assert_eq!(cb.created_at, 1_700_000_000);
        assert_eq!(cb.store_hash, "abc123");
    }

    #[test]
    fn numeric_store_id_becomes_a_string() {
        assert_eq!(
            parse(with("store_id", "1001").as_bytes()).unwrap().store_id,
            "1001"
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
    fn every_missing_field_is_named() {
        for f in [
            "scope",
            "store_id",
            "data",
            "hash",
            "created_at",
            "producer",
        ] {
            let err = parse(with(f, "").as_bytes()).unwrap_err();
            assert_eq!(err.code(), "missing_field", "{f}");
            assert!(err.to_string().contains(f), "{f}: {err}");
            assert_eq!(code(&with(f, "null")), "missing_field", "{f} null");
        }
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
            ("store_id", r#""""#),
            ("data", "[]"),
            ("data", r#""x""#),
            ("data", "7"),
            ("hash", "1"),
            ("hash", r#""""#),
            ("created_at", r#""1700000000""#),
            ("created_at", "1.5"),
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
            "invalid_json"
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
