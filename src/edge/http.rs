//! Routes only: which handler answers which path and method.

use crate::core::error::RelayError;
use crate::edge::{admin, health, ingest, respond};
use worker::{Context, Env, Method, Request, Response};

/// `ctx` lets ingest write history after its answer (`wait_until`).
pub async fn handle(req: Request, env: Env, ctx: Context) -> Response {
    let path = req.path();
    let method = req.method();
    let result = match path.as_str() {
        // The exceptions hook needs a destination of its own (BigCommerce's rule); both are
        // one handler.
        "/webhooks/bigcommerce" | "/webhooks/bigcommerce/exceptions" => match method {
            Method::Post => ingest::handle(req, &env, &ctx).await,
            _ => Err(RelayError::method_not_allowed("POST")),
        },
        "/health" => match method {
            Method::Get | Method::Head => health::public(&env),
            _ => Err(RelayError::method_not_allowed("GET")),
        },
        p if p.starts_with("/admin/") => admin::handle(req, &env, p).await,
        _ => Err(RelayError::not_found()),
    };
    result.unwrap_or_else(|e| respond::error(&e))
}
