//! The one error type of the relay. Every failure on a request path ends up here and maps to
//! exactly one HTTP answer, so handlers never decide status codes ad hoc. Public error codes
//! are an enum: a typo cannot mint a new one.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Every code the relay answers with, as written on the wire (`snake_case`). Read back too:
/// stored records (quarantine) name the code that put them there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400: the request cannot be used as it is.
    InvalidJson,
    MissingField,
    InvalidField,
    UnknownTarget,
    UnreadableBody,
    InvalidQuery,
    TooManyIds,
    // 401
    Unauthorized,
    InvalidSignature,
    StaleSignature,
    // 404, 405
    NotFound,
    MethodNotAllowed,
    // 409: a setting must change first.
    NotConfigured,
    BigcommerceRejected,
    /// History keeps only the start of an event over 32 KiB: it cannot be sent again from there.
    NotReplayable,
    // 413, 415
    PayloadTooLarge,
    UnsupportedMediaType,
    // 503: retry later.
    Misconfigured,
    QueueUnavailable,
    StorageUnavailable,
    BigcommerceUnavailable,
    // 500
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownTarget => "unknown_target",
            ErrorCode::UnreadableBody => "unreadable_body",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::TooManyIds => "too_many_ids",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::StaleSignature => "stale_signature",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotConfigured => "not_configured",
            ErrorCode::BigcommerceRejected => "bigcommerce_rejected",
            ErrorCode::NotReplayable => "not_replayable",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Misconfigured => "misconfigured",
            ErrorCode::QueueUnavailable => "queue_unavailable",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::BigcommerceUnavailable => "bigcommerce_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | MissingField | InvalidField | UnknownTarget | UnreadableBody
            | InvalidQuery | TooManyIds => 400,
            Unauthorized | InvalidSignature | StaleSignature => 401,
            NotFound => 404,
            MethodNotAllowed => 405,
            NotConfigured | BigcommerceRejected | NotReplayable => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            Internal => 500,
            Misconfigured | QueueUnavailable | StorageUnavailable | BigcommerceUnavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayError {
    pub code: ErrorCode,
    message: Cow<'static, str>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl RelayError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        RelayError {
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "missing or invalid bearer token")
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        RelayError {
            allow: Some(allow),
            ..Self::new(
                ErrorCode::MethodNotAllowed,
                format!("method not allowed; use {allow}"),
            )
        }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("body larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "content-type must be application/json",
        )
    }

    /// The public face of a broken configuration: how many problems, never which (their texts
    /// name secrets; the operator reads them at `/admin/health` and in the log).
    pub fn misconfigured(problems: usize) -> Self {
        Self::new(
            ErrorCode::Misconfigured,
            format!(
                "relay configuration is invalid ({problems} problem{}); the operator finds the details at /admin/health",
                if problems == 1 { "" } else { "s" }
            ),
        )
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// `{"error":{"code":"…","message":"…"}}`
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| String::from(r#"{"error":{"code":"internal","message":""}}"#))
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RelayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_http() {
        let e = RelayError::new(ErrorCode::MissingField, "`scope` is required");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"missing_field","message":"`scope` is required"}}"#
        );
        assert_eq!(RelayError::unauthorized().status(), 401);
        assert_eq!(RelayError::payload_too_large(1).status(), 413);
        assert_eq!(RelayError::method_not_allowed("GET").allow, Some("GET"));
        let e = RelayError::new(ErrorCode::NotConfigured, "BC_STORE_HASH is not set");
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"not_configured","message":"BC_STORE_HASH is not set"}}"#
        );
    }

    #[test]
    fn wire_names_match_serde() {
        use ErrorCode::*;
        for c in [
            InvalidJson,
            MissingField,
            InvalidField,
            UnknownTarget,
            UnreadableBody,
            InvalidQuery,
            TooManyIds,
            Unauthorized,
            InvalidSignature,
            StaleSignature,
            NotFound,
            MethodNotAllowed,
            NotConfigured,
            BigcommerceRejected,
            NotReplayable,
            PayloadTooLarge,
            UnsupportedMediaType,
            Misconfigured,
            QueueUnavailable,
            StorageUnavailable,
            BigcommerceUnavailable,
            Internal,
        ] {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }

    #[test]
    fn misconfigured_answer_names_no_problem() {
        let e = RelayError::misconfigured(2);
        assert_eq!(e.status(), 503);
        assert!(e.to_json().contains("2 problems"), "{}", e.to_json());
    }
}
