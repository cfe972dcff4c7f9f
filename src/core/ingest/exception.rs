//! `store/hook/deliveryException`: BigCommerce telling the app that one of its hooks has
//! trouble reaching its destination. One such hook per store and client, and its destination
//! must differ from every other hook's, so it has its own route,
//! `POST /webhooks/bigcommerce/exceptions` (same authentication as ingest). It is an event like
//! any other (type `com.bigcommerce.hook.deliveryException`, routed by `hook.*` globs); what is
//! special is read here: the code, the hook, and whether the relay should step in.
//!
//! `{"scope":"store/hook/deliveryException","data":{"type":"webhook","id":123,"error_code":90001,
//! "message":"Non-200 response received when delivering to https://…, will retry"},…}`

use crate::core::admin::for_metadata;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

pub const SCOPE: &str = "store/hook/deliveryException";
/// Appended to `PUBLIC_URL` for the exceptions hook's destination.
pub const PATH: &str = "/webhooks/bigcommerce/exceptions";
/// After a 90002, how long before the relay looks at the hook (BigCommerce is disabling it as
/// it tells), and how long before a second look if it was still active at the first.
pub const REACTIVATE_AFTER_MS: u64 = 12_000;
pub const REACTIVATE_AGAIN_AFTER_MS: u64 = 12_000;

/// BigCommerce's `error_code`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 90001: deliveries fail; BigCommerce keeps retrying (sent at most every 10 minutes).
    WillRetry,
    /// 90002: every retry failed; the hook is being disabled.
    Exhausted,
    /// 90003: the destination's domain is blocklisted for a while.
    Blocklisted,
    Other(u64),
}

impl Code {
    pub fn of(n: u64) -> Code {
        match n {
            90_001 => Code::WillRetry,
            90_002 => Code::Exhausted,
            90_003 => Code::Blocklisted,
            other => Code::Other(other),
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Code::WillRetry => "deliveries failing; BigCommerce will retry",
            Code::Exhausted => "retries exhausted; BigCommerce is disabling the hook",
            Code::Blocklisted => "destination domain temporarily blocklisted",
            Code::Other(_) => "unknown error code",
        }
    }
}

/// A whole number, or its digits as a string.
fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// What the relay reads from one exception's `data`. Every part is optional: the event is
/// forwarded whatever `data` holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryException {
    /// The hook whose deliveries fail.
    pub hook_id: Option<u64>,
    pub error_code: Option<u64>,
    /// BigCommerce's text, cut to 200 bytes for the log.
    pub message: Option<String>,
}

impl DeliveryException {
    /// Through `serde_json::Value` (its parser is in the wasm anyway; `data` is small).
    pub fn read(data: &RawValue) -> Self {
        let v: Value = serde_json::from_str(data.get()).unwrap_or_default();
        DeliveryException {
            hook_id: number(v.get("id")),
            error_code: number(v.get("error_code")),
            message: v.get("message").and_then(Value::as_str).map(for_metadata),
        }
    }

    pub fn code(&self) -> Option<Code> {
        self.error_code.map(Code::of)
    }

    /// The hook to re-activate: on 90002 only. 90001 and 90003 are passing trouble BigCommerce
    /// retries through; re-activating is for a hook it gave up on.
    pub fn reactivates(&self) -> Option<u64> {
        (self.code() == Some(Code::Exhausted))
            .then_some(self.hook_id)
            .flatten()
    }
}

/// The warning line ingest logs for each exception.
#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub level: &'static str,
    pub msg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u64>,
    pub meaning: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<u64>,
    pub store: &'a str,
    pub event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    /// True when the relay will re-activate the hook shortly.
    pub reactivating: bool,
}

impl DeliveryException {
    pub fn line<'a>(&'a self, store: &'a str, event_id: &'a str, reactivating: bool) -> Line<'a> {
        Line {
            level: "warn",
            msg: "bigcommerce delivery exception",
            error_code: self.error_code,
            meaning: self.code().map_or("no error code", Code::meaning),
            hook_id: self.hook_id,
            store,
            event_id,
            message: self.message.as_deref(),
            reactivating,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::normalize;
    use crate::core::ingest::callback::parse;

    const DOC: &str = r#"{"scope":"store/hook/deliveryException","store_id":"1025646","data":{"type":"webhook","id":123,"error_code":90001,"message":"Non-200 response received when delivering to https://app.com/bc/webhook, will retry"},"hash":"e0c298b8097a6a2f39d17e593a9b360f5b2fef7d","created_at":1561482670,"producer":"stores/{store_hash}"}"#;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn the_documented_example_reads_and_becomes_a_hook_event() {
        // The docs' literal `stores/{store_hash}` is no store hash: refused as a producer, so
        // the example is sent with a real one.
        let body = DOC.replace("{store_hash}", "abc123");
        let ev = normalize(parse(body.as_bytes()).unwrap(), 0);
        assert_eq!(ev.ty, "com.bigcommerce.hook.deliveryException");
        assert_eq!(ev.short_type(), "hook.deliveryException");
        assert!(crate::core::route::glob_match("hook.*", ev.short_type()));
        let x = DeliveryException::read(&ev.data);
        assert_eq!((x.hook_id, x.error_code), (Some(123), Some(90_001)));
        assert_eq!(x.code(), Some(Code::WillRetry));
        assert!(x
            .message
            .as_deref()
            .unwrap()
            .starts_with("Non-200 response"));
        assert_eq!(x.reactivates(), None);
    }

    #[test]
    fn only_90002_reactivates() {
        for (code, hook) in [(90_001, None), (90_002, Some(7)), (90_003, None), (1, None)] {
            let x = DeliveryException::read(&raw(&format!(
                r#"{{"type":"webhook","id":7,"error_code":{code}}}"#
            )));
            assert_eq!(x.reactivates(), hook, "{code}");
        }
        let x = DeliveryException::read(&raw(r#"{"id":"8","error_code":"90002"}"#));
        assert_eq!(x.reactivates(), Some(8), "digit strings count");
    }

    #[test]
    fn any_data_reads_without_failing() {
        for data in [
            "{}",
            r#"{"id":[1],"error_code":{"a":1},"message":5}"#,
            r#"{"id":-3}"#,
        ] {
            assert_eq!(
                DeliveryException::read(&raw(data)),
                DeliveryException::default()
            );
        }
        let none = DeliveryException::default();
        let line = none.line("s", "e", false);
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"level":"warn","msg":"bigcommerce delivery exception","meaning":"no error code","store":"s","event_id":"e","reactivating":false}"#
        );
    }
}
