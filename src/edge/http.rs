//! Routes and answers: every handler returns `Result<Response, RelayError>` and this is the one
//! place that turns a `RelayError` into HTTP.

use crate::core::error::{ErrorCode, RelayError};
use crate::edge::{admin, env, ingest};
use serde::Serialize;
use worker::{Env, Method, Request, Response};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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

pub fn error(e: &RelayError) -> Response {
    let resp = json(e.status(), e.to_json());
    if let Some(allow) = e.allow {
        let _ = resp.headers().set("allow", allow);
    }
    resp
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    targets: usize,
    errors: &'a [String],
    /// `configured` or `not configured: …` (what to set).
    sync: &'a str,
}

/// The configuration's state: `/health`, and `/admin/health` for the operator.
pub fn health(env: &Env) -> Response {
    let cfg = env::config(env);
    let (status, targets, errors, sync): (&str, usize, &[String], _) = match cfg.as_ref() {
        Ok(c) => ("ok", c.targets.len(), &[], c.sync_status()),
        Err(errors) => (
            "misconfigured",
            0,
            errors,
            "not configured: the configuration is invalid".into(),
        ),
    };
    let body = serde_json::to_string(&Health {
        status,
        version: VERSION,
        targets,
        errors,
        sync: &sync,
    })
    .unwrap_or_default();
    json(200, body)
}

pub async fn handle(req: Request, env: Env) -> Response {
    let path = req.path();
    let method = req.method();
    let result = match path.as_str() {
        "/webhooks/bigcommerce" => match method {
            Method::Post => ingest::handle(req, &env).await,
            _ => Err(RelayError::method_not_allowed("POST")),
        },
        "/health" => match method {
            Method::Get | Method::Head => Ok(health(&env)),
            _ => Err(RelayError::method_not_allowed("GET")),
        },
        p if p.starts_with("/admin/") => admin::handle(req, &env, p).await,
        _ => Err(RelayError::not_found()),
    };
    result.unwrap_or_else(|e| error(&e))
}
