//! POST /webhooks/bigcommerce: auth → parse → normalize → route → dedup → enqueue → mark →
//! answer. BigCommerce only ever waits for KV and one queue send, never for a downstream.

use crate::core::config::{Config, Target};
use crate::core::deliver::message;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::ingest::auth::bearer_matches;
use crate::core::ingest::callback::{self, MAX_BODY_BYTES};
use crate::core::route;
use crate::edge::metrics::{self, Point};
use crate::edge::{enqueue, env, http, log, store};
use serde::Serialize;
use worker::{Env, Request, Response};

#[derive(Serialize)]
pub struct Answer<'a> {
    pub status: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<&'a str>>,
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
        Err(RelayError::unsupported_media_type())
    }
}

/// Enqueues every job `event` needs for `targets`, in one batch. Shared by ingest and the
/// operator's test events, so both take exactly the same path.
pub async fn dispatch(
    env: &Env,
    event: &EncodedEvent,
    targets: &[&Target],
    original: &str,
    received_at_ms: i64,
) -> Result<(), RelayError> {
    if targets.is_empty() {
        return Ok(());
    }
    if env::fault(env, "ingest_enqueue") {
        return Err(RelayError::new(
            ErrorCode::QueueUnavailable,
            "injected fault: ingest_enqueue",
        ));
    }
    let jobs = message::plan_jobs(event, targets, original, received_at_ms);
    enqueue::send(env, jobs)
        .await
        .map_err(|e| RelayError::new(ErrorCode::QueueUnavailable, e))
}

pub async fn handle(req: Request, env: &Env) -> Result<Response, RelayError> {
    let started = env::now_ms();
    let result = accept(req, env, started).await;
    if let Err(e) = &result {
        log::ingest(&log::Ingest {
            msg: "ingest",
            outcome: e.code().as_str(),
            status: e.status(),
            id: None,
            r#type: None,
            store: None,
            targets: None,
            error: Some(e.to_string()),
            duration_ms: env::now_ms() - started,
        });
        metrics::record(
            env,
            &Point {
                kind: "ingest",
                ty: "",
                target: "",
                outcome: e.code().as_str(),
                store: "",
                duration_ms: env::now_ms() - started,
            },
        );
    }
    result
}

async fn accept(mut req: Request, env: &Env, started: i64) -> Result<Response, RelayError> {
    let loaded = env::config(env);
    let cfg: &Config = loaded
        .as_ref()
        .as_ref()
        .map_err(|errors| RelayError::misconfigured(errors.len()))?;

    let authorization = req.headers().get("authorization").ok().flatten();
    if !bearer_matches(authorization.as_deref(), &cfg.ingest_tokens) {
        return Err(RelayError::unauthorized());
    }
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    check_content_type(&req)?;
    let body = req.bytes().await.map_err(|_| {
        RelayError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )
    })?;

    let cb = callback::parse(&body)?;
    let event = EncodedEvent::new(event::normalize(cb, started));
    let targets = route::route(&cfg.targets, &event);
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();

    let outcome = if store::seen(env, &event.id).await? {
        "duplicate"
    } else {
        // parse() accepted the body as JSON, so it is UTF-8.
        dispatch(
            env,
            &event,
            &targets,
            &String::from_utf8_lossy(&body),
            started,
        )
        .await?;
        // Enqueued: from here on the event is safe. A lost mark only risks a later duplicate,
        // which receivers can drop by `webhook-id`.
        if let Err(e) = store::mark(env, &event.id, cfg.dedup_ttl_seconds).await {
            log::problem("dedup mark not written", &e.to_string());
        }
        "accepted"
    };

    let duration_ms = env::now_ms() - started;
    log::ingest(&log::Ingest {
        msg: "ingest",
        outcome,
        status: 200,
        id: Some(&event.id),
        r#type: Some(&event.ty),
        store: Some(&event.storehash),
        targets: (outcome == "accepted").then(|| names.clone()),
        error: None,
        duration_ms,
    });
    metrics::record(
        env,
        &Point {
            kind: "ingest",
            ty: event.short_type(),
            target: "",
            outcome,
            store: &event.storehash,
            duration_ms,
        },
    );
    let answer = Answer {
        status: outcome,
        id: &event.id,
        targets: (outcome == "accepted").then_some(names),
    };
    Ok(http::json(
        200,
        serde_json::to_string(&answer).unwrap_or_default(),
    ))
}
