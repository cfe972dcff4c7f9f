//! Answers: JSON responses, and the one place that turns a `RelayError` into HTTP.

use crate::core::error::{ErrorCode, RelayError};
use serde::Serialize;
use worker::Response;

/// Storage failures answer 503 with the error's first line (JS errors carry stack traces).
fn storage(e: &dyn std::fmt::Display) -> RelayError {
    let text = e.to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    RelayError::new(ErrorCode::StorageUnavailable, first)
}

impl From<worker::Error> for RelayError {
    fn from(e: worker::Error) -> Self {
        storage(&e)
    }
}

impl From<worker::kv::KvError> for RelayError {
    fn from(e: worker::kv::KvError) -> Self {
        storage(&e)
    }
}

/// A JSON answer. Building a response from a string cannot fail in practice; if it ever did,
/// an empty 500 is the only honest answer left.
pub fn json(status: u16, body: String) -> Response {
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.into_bytes())
}

/// 200 with `value` as JSON. Answers are plain `Serialize` structs, never `json!`: that macro
/// pulls serde_json's value serializer into the wasm (BENCHMARKS.md).
pub fn ok<T: Serialize>(value: &T) -> Result<Response, RelayError> {
    let body = serde_json::to_string(value)
        .map_err(|e| RelayError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(json(200, body))
}

pub fn error(e: &RelayError) -> Response {
    let resp = json(e.status(), e.to_json());
    if let Some(allow) = e.allow {
        let _ = resp.headers().set("allow", allow);
    }
    resp
}
