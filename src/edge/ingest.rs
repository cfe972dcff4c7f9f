//! POST /webhooks/bigcommerce: auth → parse → normalize → route → dedup → enqueue → mark →
//! answer. BigCommerce only ever waits for KV and one queue send, never for a downstream.

use crate::core::auth::bearer_matches;
use crate::core::callback::{self, MAX_BODY_BYTES};
use crate::core::config::{Config, Format};
use crate::core::delivery::Delivery;
use crate::core::error::RelayError;
use crate::core::event::{self, CloudEvent};
use crate::core::route;
use crate::edge::{env, http, log, store};
use serde::Serialize;
use worker::{Env, Request, Response};

/// Cloudflare Queues refuse messages over 128 KB.
const MAX_MESSAGE_BYTES: usize = 120 * 1024;

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

/// One queue message per matching target. The original body rides along only for
/// `bigcommerce`-format targets, and is dropped (rebuilt at delivery) if it would make the
/// message too large for Queues.
fn messages(
    event: &CloudEvent,
    targets: &[&crate::core::config::Target],
    body: &str,
    now_ms: i64,
) -> Result<Vec<String>, RelayError> {
    targets
        .iter()
        .map(|t| {
            let mut d = Delivery {
                target: t.name.clone(),
                attempt: 1,
                received_at_ms: now_ms,
                first_attempt_at: None,
                last_error: None,
                event: event.clone(),
                original: (t.format == Format::Bigcommerce).then(|| body.to_owned()),
            };
            let mut text = serde_json::to_string(&d)
                .map_err(|e| RelayError::unavailable("encode", e.to_string()))?;
            if text.len() > MAX_MESSAGE_BYTES && d.original.is_some() {
                d.original = None;
                text = serde_json::to_string(&d)
                    .map_err(|e| RelayError::unavailable("encode", e.to_string()))?;
            }
            Ok(text)
        })
        .collect()
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
        let batch = messages(&event, &targets, &text, started)?;
        env.queue("DELIVERIES")?
            .send_batch(batch)
            .await
            .map_err(|e| RelayError::unavailable("queue_unavailable", e.to_string()))?;
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
