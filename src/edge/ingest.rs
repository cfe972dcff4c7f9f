//! POST /webhooks/bigcommerce: auth → parse → normalize → route → the core's storage steps
//! (`core::ingest::accept`: look up → enqueue → mark) → answer. BigCommerce only ever waits
//! for KV and one queue send, never for a downstream.

use crate::core::config::{Config, Target};
use crate::core::deliver::message::{self, Job};
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::ingest::accept::{self, IngestAnswer, IngestStore, Outcome};
use crate::core::ingest::auth::bearer_matches;
use crate::core::ingest::callback::{self, MAX_BODY_BYTES};
use crate::core::route;
use crate::edge::metrics::{self, Point};
use crate::edge::{env, history, kv, log, queue, respond};
use worker::{Context, Env, Request, Response};

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

/// Ingest's storage: dedup marks in KV, jobs to the queue.
struct Storage<'a>(&'a Env);

impl IngestStore for Storage<'_> {
    async fn seen(&self, event_id: &str) -> Result<bool, String> {
        kv::seen(self.0, event_id).await.map_err(|e| e.to_string())
    }
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
        if env::fault(self.0, "ingest_enqueue") {
            return Err("injected fault: ingest_enqueue".into());
        }
        queue::send(self.0, jobs).await
    }
    async fn mark(&self, event_id: &str, ttl_seconds: u64) -> Result<(), String> {
        kv::mark(self.0, event_id, ttl_seconds)
            .await
            .map_err(|e| e.to_string())
    }
}

pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response, RelayError> {
    let started = env::now_ms();
    let result = accept(req, env, ctx, started).await;
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

async fn accept(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    started: i64,
) -> Result<Response, RelayError> {
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
    let targets: Vec<&Target> = route::route(&cfg.targets, &event);
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();

    let done = accept::accept(
        &Storage(env),
        &event.id,
        || {
            // parse() accepted the body as JSON, so it is UTF-8.
            message::plan_jobs(&event, &targets, &String::from_utf8_lossy(&body), started)
        },
        cfg.dedup_ttl_seconds,
    )
    .await?;
    if let Some(e) = &done.mark_error {
        log::problem("dedup mark not written", e);
    }
    let outcome = done.outcome.as_str();
    let accepted = done.outcome == Outcome::Accepted;
    // After the answer: BigCommerce never waits for D1.
    if accepted {
        history::accepted(env, ctx, &event, &names, started);
    } else {
        history::duplicate(env, ctx, &event.id, started);
    }

    let duration_ms = env::now_ms() - started;
    log::ingest(&log::Ingest {
        msg: "ingest",
        outcome,
        status: 200,
        id: Some(&event.id),
        r#type: Some(&event.ty),
        store: Some(&event.storehash),
        targets: accepted.then(|| names.clone()),
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
    respond::ok(&IngestAnswer {
        status: outcome,
        id: &event.id,
        targets: accepted.then_some(names),
    })
}
