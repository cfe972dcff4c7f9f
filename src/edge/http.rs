//! Routes and answers: every handler returns `Result<Response, RelayError>` and this is the one
//! place that turns a `RelayError` into HTTP.

use crate::core::auth::{bearer_matches, parse_tokens};
use crate::core::error::RelayError;
use crate::core::subscriptions::{Mode, SyncReport};
use crate::edge::{bigcommerce, env, ingest};
use serde::Serialize;
use worker::{Env, Method, Request, Response};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl From<worker::Error> for RelayError {
    fn from(e: worker::Error) -> Self {
        RelayError::unavailable("storage_unavailable", e.to_string())
    }
}

impl From<worker::kv::KvError> for RelayError {
    fn from(e: worker::kv::KvError) -> Self {
        RelayError::unavailable("storage_unavailable", e.to_string())
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
    if let RelayError::MethodNotAllowed(allow) = e {
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
}

fn health(env: &Env) -> Response {
    let cfg = env::config(env);
    let (status, targets, errors): (&str, usize, &[String]) = match cfg.as_ref() {
        Ok(c) => ("ok", c.targets.len(), &[]),
        Err(errors) => ("misconfigured", 0, errors),
    };
    let body = serde_json::to_string(&Health {
        status,
        version: VERSION,
        targets,
        errors,
    })
    .unwrap_or_default();
    json(200, body)
}

/// Temporary guard of the subscription routes until the admin router lands: 404 without the
/// secret ADMIN_TOKEN, 401 without its bearer token.
fn admin_only(req: &Request, env: &Env) -> Result<(), RelayError> {
    let tokens = parse_tokens(&env::var_or(env, "ADMIN_TOKEN", ""));
    if tokens.is_empty() {
        return Err(RelayError::NotFound);
    }
    let given = req.headers().get("authorization").ok().flatten();
    if bearer_matches(given.as_deref(), &tokens) {
        Ok(())
    } else {
        Err(RelayError::Unauthorized)
    }
}

/// `?dry_run=true|false|1|0`, absent meaning false.
fn dry_run(req: &Request) -> Result<bool, RelayError> {
    let url = req.url().map_err(|_| RelayError::NotFound)?;
    match url.query_pairs().find(|(k, _)| k == "dry_run") {
        None => Ok(false),
        Some((_, v)) => match v.as_ref() {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(RelayError::bad_request(
                "invalid_query",
                "dry_run must be true or false",
            )),
        },
    }
}

fn report(r: &SyncReport) -> Response {
    json(200, serde_json::to_string(r).unwrap_or_default())
}

pub async fn handle(req: Request, env: Env) -> Response {
    let path = req.path();
    let method = req.method();
    let result = match path.as_str() {
        "/webhooks/bigcommerce" => match method {
            Method::Post => ingest::handle(req, &env).await,
            _ => Err(RelayError::MethodNotAllowed("POST")),
        },
        "/health" => match method {
            Method::Get | Method::Head => Ok(health(&env)),
            _ => Err(RelayError::MethodNotAllowed("GET")),
        },
        "/admin/bigcommerce/subscriptions/sync" => match (admin_only(&req, &env), method) {
            (Err(e), _) => Err(e),
            (Ok(()), Method::Post) => match dry_run(&req) {
                Ok(d) => bigcommerce::sync(&env, d, Mode::Full)
                    .await
                    .map(|r| report(&r)),
                Err(e) => Err(e),
            },
            (Ok(()), _) => Err(RelayError::MethodNotAllowed("POST")),
        },
        "/admin/bigcommerce/subscriptions" => match (admin_only(&req, &env), method) {
            (Err(e), _) => Err(e),
            (Ok(()), Method::Get) => bigcommerce::status(&env).await.map(|r| report(&r)),
            (Ok(()), _) => Err(RelayError::MethodNotAllowed("GET")),
        },
        _ => Err(RelayError::NotFound),
    };
    result.unwrap_or_else(|e| error(&e))
}
