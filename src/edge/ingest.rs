//! POST /webhooks/bigcommerce: auth → parse → normalize → route → dedup → enqueue → mark →
//! answer. BigCommerce only ever waits for KV and one queue send, never for a downstream.

use crate::core::auth::bearer_matches;
use crate::core::callback::{self, MAX_BODY_BYTES};
use crate::core::config::Config;
use crate::core::delivery;
use crate::core::error::RelayError;
use crate::core::event;
use crate::core::route;
use crate::edge::{enqueue, env, http, log, store};
use serde::Serialize;
use worker::{Env, Request, Response};

#[derive(Serialize)]
struct Answer<'a> {
    status: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    targets: Option<Vec<&'a str>>,
}

fn check_content_type(req: &Request) -> Result<(), RelayError> {
    let Some(ct) = req.headers().get("content-type").ok().flatten() else {
        return Ok(());
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(RelayError::UnsupportedMediaType)
    }
}

pub async fn handle(req: Request, env: &Env) -> Result<Response, RelayError> {
    let started = env::now_ms();
    let result = accept(req, env, started).await;
    if let Err(e) = &result {
        log::ingest(&log::Ingest {
            msg: "ingest",
            outcome: e.code(),
            status: e.status(),
            id: None,
            r#type: None,
            store: None,
            targets: None,
            error: Some(e.to_string()),
            duration_ms: env::now_ms() - started,
        });
    }
    result
}

async fn accept(mut req: Request, env: &Env, started: i64) -> Result<Response, RelayError> {
    let loaded = env::config(env);
    let cfg: &Config = loaded
        .as_ref()
        .as_ref()
        .map_err(|errors| RelayError::Misconfigured(errors.clone()))?;

    let authorization = req.headers().get("authorization").ok().flatten();
    if !bearer_matches(authorization.as_deref(), &cfg.ingest_tokens) {
        return Err(RelayError::Unauthorized);
    }
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(RelayError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    check_content_type(&req)?;
    let body = req.bytes().await.map_err(|_| {
        RelayError::bad_request("unreadable_body", "the request body could not be read")
    })?;

    let cb = callback::parse(&body)?;
    let event = event::normalize(&cb);
    let targets = route::route(&cfg.targets, &event);
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();

    if store::seen(env, &event.id).await? {
        log::ingest(&log::Ingest {
            msg: "ingest",
            outcome: "duplicate",
            status: 200,
            id: Some(&event.id),
            r#type: Some(&event.ty),
            store: Some(&event.storehash),
            targets: None,
            error: None,
            duration_ms: env::now_ms() - started,
        });
        let answer = Answer {
            status: "duplicate",
            id: &event.id,
            targets: None,
        };
        return Ok(http::json(
            200,
            serde_json::to_string(&answer).unwrap_or_default(),
        ));
    }

    if !targets.is_empty() {
        // parse() accepted the body as JSON, so it is UTF-8.
        let text = String::from_utf8_lossy(&body);
        let jobs = delivery::plan_jobs(&event, &targets, &text, started);
        enqueue::send(env, jobs)
            .await
            .map_err(|e| RelayError::unavailable("queue_unavailable", e))?;
    }

    // Enqueued: from here on the event is safe. A lost mark only risks a later duplicate,
    // which receivers can drop by `webhook-id`.
    if let Err(e) = store::mark(env, &event.id, cfg.dedup_ttl_seconds).await {
        log::problem("dedup mark not written", &e.to_string());
    }

    log::ingest(&log::Ingest {
        msg: "ingest",
        outcome: "accepted",
        status: 200,
        id: Some(&event.id),
        r#type: Some(&event.ty),
        store: Some(&event.storehash),
        targets: Some(names.clone()),
        error: None,
        duration_ms: env::now_ms() - started,
    });
    let answer = Answer {
        status: "accepted",
        id: &event.id,
        targets: Some(names),
    };
    Ok(http::json(
        200,
        serde_json::to_string(&answer).unwrap_or_default(),
    ))
}
