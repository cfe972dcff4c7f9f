//! The one error type of the relay. Every failure on a request path ends up here and maps to
//! exactly one HTTP answer, so handlers never decide status codes ad hoc.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// The body is not a valid BigCommerce callback (400).
    BadRequest { code: &'static str, message: String },
    /// Missing or wrong bearer token (401).
    Unauthorized,
    /// Unknown route (404).
    NotFound,
    /// Known route, wrong method (405); carries the allowed methods.
    MethodNotAllowed(&'static str),
    /// A content type other than JSON (415).
    UnsupportedMediaType,
    /// Body larger than the ingest limit (413).
    PayloadTooLarge { limit: usize },
    /// The relay's own configuration is invalid (503 until the operator fixes it).
    Misconfigured(Vec<String>),
    /// KV or the queue failed: BigCommerce should retry (503).
    Unavailable { code: &'static str, message: String },
    /// The operation cannot work with the current settings, or an upstream refused them (409):
    /// the operator must change a setting; repeating the request as is cannot help.
    Conflict { code: &'static str, message: String },
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl RelayError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        RelayError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        RelayError::Unavailable {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        RelayError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            RelayError::BadRequest { .. } => 400,
            RelayError::Unauthorized => 401,
            RelayError::NotFound => 404,
            RelayError::MethodNotAllowed(_) => 405,
            RelayError::Conflict { .. } => 409,
            RelayError::PayloadTooLarge { .. } => 413,
            RelayError::UnsupportedMediaType => 415,
            RelayError::Misconfigured(_) | RelayError::Unavailable { .. } => 503,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            RelayError::BadRequest { code, .. }
            | RelayError::Unavailable { code, .. }
            | RelayError::Conflict { code, .. } => code,
            RelayError::Unauthorized => "unauthorized",
            RelayError::NotFound => "not_found",
            RelayError::MethodNotAllowed(_) => "method_not_allowed",
            RelayError::PayloadTooLarge { .. } => "payload_too_large",
            RelayError::UnsupportedMediaType => "unsupported_media_type",
            RelayError::Misconfigured(_) => "misconfigured",
        }
    }

    /// `{"error":{"code":"…","message":"…"}}`
    pub fn to_json(&self) -> String {
        let message = self.to_string();
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code(),
                message: &message,
            },
        })
        .unwrap_or_else(|_| String::from(r#"{"error":{"code":"internal","message":""}}"#))
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::BadRequest { message, .. }
            | RelayError::Unavailable { message, .. }
            | RelayError::Conflict { message, .. } => f.write_str(message),
            RelayError::Unauthorized => f.write_str("missing or invalid bearer token"),
            RelayError::NotFound => f.write_str("no such route"),
            RelayError::MethodNotAllowed(allow) => write!(f, "method not allowed; use {allow}"),
            RelayError::PayloadTooLarge { limit } => {
                write!(f, "body larger than {limit} bytes")
            }
            RelayError::UnsupportedMediaType => {
                f.write_str("content-type must be application/json")
            }
            RelayError::Misconfigured(errors) => {
                write!(f, "relay configuration is invalid: {}", errors.join("; "))
            }
        }
    }
}

impl std::error::Error for RelayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_http() {
        let e = RelayError::bad_request("missing_field", "`scope` is required");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"missing_field","message":"`scope` is required"}}"#
        );
        assert_eq!(RelayError::Unauthorized.status(), 401);
        assert_eq!(RelayError::PayloadTooLarge { limit: 1 }.status(), 413);
        assert_eq!(RelayError::Misconfigured(vec!["x".into()]).status(), 503);
        assert_eq!(RelayError::unavailable("kv", "down").status(), 503);
        let e = RelayError::conflict("not_configured", "BC_STORE_HASH is not set");
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.to_json(),
            r#"{"error":{"code":"not_configured","message":"BC_STORE_HASH is not set"}}"#
        );
    }
}
