//! POST /webhooks/bigcommerce (and /webhooks/bigcommerce/exceptions, BigCommerce's
//! delivery-exception hook): size → authenticate (token and/or BigCommerce's signature, over the
//! raw body) → parse → normalize → route → [`submit`] (copies in flight coalesced, then the
//! core's storage steps: look up → claim → enqueue → commit → mark) → answer. An authentic body
//! that is no event is quarantined and answered 200. BigCommerce only ever waits for KV (and,
//! with `DEDUP_MODE = "durable"`, the dedup object) and one queue send, never for a downstream.

use crate::core::config::{Config, Target};
use crate::core::deliver::message::{self, Job};
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::ingest::accept::{self, IngestAnswer, IngestStore, Outcome};
use crate::core::ingest::auth::authenticate;
use crate::core::ingest::callback::{self, MAX_BODY_BYTES};
use crate::core::ingest::coalesce::Coalescer;
use crate::core::ingest::dedup;
use crate::core::ingest::exception;
use crate::core::ingest::quarantine::quarantines;
use crate::core::ingest::signature::SignatureHeaders;
use crate::core::route;
use crate::edge::metrics::{self, Point};
use crate::edge::{dedup as shards, env, exceptions, kv, log, quarantine, queue, respond};
use std::future::Future;
use std::pin::Pin;
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

/// Ingest's storage: dedup marks in KV, jobs to the queue, and with `DEDUP_MODE = "durable"` the
/// claim in the id's `DedupShard`.
struct Storage<'a> {
    env: &'a Env,
    durable: bool,
    /// This request's claim, so a release never frees a claim another copy took over.
    holder: u32,
}

impl IngestStore for Storage<'_> {
    async fn seen(&self, event_id: &str) -> Result<bool, String> {
        kv::seen(self.env, event_id)
            .await
            .map_err(|e| e.to_string())
    }
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
        // Tests only: a slow queue keeps the first copy in flight while the others arrive.
        if env::fault(self.env, "ingest_enqueue_slow") {
            worker::Delay::from(std::time::Duration::from_millis(400)).await;
        }
        if env::fault(self.env, "ingest_enqueue") {
            return Err("injected fault: ingest_enqueue".into());
        }
        queue::send(self.env, jobs).await
    }
    async fn mark(&self, event_id: &str, ttl_seconds: u64) -> Result<(), String> {
        kv::mark(self.env, event_id, ttl_seconds)
            .await
            .map_err(|e| e.to_string())
    }
    async fn claim(&self, event_id: &str) -> Result<bool, String> {
        if !self.durable {
            return Ok(true);
        }
        shards::claim(self.env, event_id, self.holder).await
    }
    async fn commit(&self, event_id: &str, ttl_seconds: u64) -> Result<(), String> {
        if !self.durable {
            return Ok(());
        }
        shards::commit(self.env, event_id, ttl_seconds).await
    }
    async fn release(&self, event_id: &str) -> Result<(), String> {
        if !self.durable {
            return Ok(());
        }
        shards::release(self.env, event_id, self.holder).await
    }
}

/// A copy waiting for the first looks at its outcome this often, for at most 30 s (then it
/// goes ahead itself: the first's request may have died without a word).
const FOLLOW_POLL_MS: u64 = 20;
const FOLLOW_MAX_POLLS: u32 = 1_500;

thread_local! {
    /// Copies of one event in flight in this isolate: the first does the work, the others wait.
    static IN_FLIGHT: Coalescer<Result<Outcome, RelayError>> = Coalescer::new();
}

type Submitted<'a> = Result<(Outcome, Vec<&'a Target>), RelayError>;

/// An event through dedup and the queue: the one path of callbacks and quarantine replays. A
/// copy of an event whose first copy is still in flight in this isolate waits for it:
/// `duplicate` once it is accepted, its error if it failed. Boxed: both callers then share one
/// copy of its (large) state machine in the wasm.
pub fn submit<'a>(
    env: &'a Env,
    cfg: &'a Config,
    event: &'a EncodedEvent,
    original: &'a [u8],
    received_at_ms: i64,
) -> Pin<Box<dyn Future<Output = Submitted<'a>> + 'a>> {
    Box::pin(submit_inner(env, cfg, event, original, received_at_ms))
}

async fn submit_inner<'a>(
    env: &Env,
    cfg: &'a Config,
    event: &EncodedEvent,
    original: &[u8],
    received_at_ms: i64,
) -> Submitted<'a> {
    let targets: Vec<&Target> = route::route(&cfg.targets, event);
    let store = Storage {
        env,
        durable: cfg.dedup == dedup::Mode::Durable,
        holder: env::random_u32(),
    };
    let work = || async {
        let done = accept::accept(
            &store,
            &event.id,
            || {
                // parse() accepted the body as JSON, so it is UTF-8.
                let original = String::from_utf8_lossy(original);
                message::plan_jobs(event, &targets, &original, received_at_ms)
            },
            cfg.dedup_ttl_seconds,
        )
        .await?;
        if let Some(e) = &done.mark_error {
            log::problem("dedup mark not written", e);
        }
        Ok(done.outcome)
    };
    // Test-only `no_coalesce`: a table of its own, so every copy leads and copies reach the
    // dedup object together (e2e of `DEDUP_MODE = "durable"`). One call site for `work`.
    let in_flight = if env::fault(env, "no_coalesce") {
        Coalescer::new()
    } else {
        IN_FLIGHT.with(Coalescer::clone)
    };
    let pause = || worker::Delay::from(std::time::Duration::from_millis(FOLLOW_POLL_MS));
    let follow = |first: Result<Outcome, RelayError>| first.map(|_| Outcome::Duplicate);
    let outcome = in_flight
        .run(&event.id, work, follow, pause, FOLLOW_MAX_POLLS)
        .await?;
    Ok((outcome, targets))
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
            auth: None,
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

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    let body = req.bytes().await.map_err(|_| {
        RelayError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )
    })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    // The signature covers the raw bytes, so the body is read before anyone is trusted; it is
    // kept nowhere unless the request proves authentic.
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (authorization, id, timestamp, signature) = (
        header("authorization"),
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let auth = authenticate(
        &cfg.auth,
        authorization.as_deref(),
        SignatureHeaders {
            id: id.as_deref(),
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
        },
        &body,
        started.div_euclid(1000),
    )?;
    check_content_type(&req)?;

    // `ingest_parse` (tests only) stands for a body the parser of this version cannot read but
    // a later one can: what a quarantine replay is for.
    let parsed = if env::fault(env, "ingest_parse") {
        Err(RelayError::new(
            ErrorCode::InvalidJson,
            "injected fault: ingest_parse",
        ))
    } else {
        callback::parse(&body)
    };
    let cb = match parsed {
        Ok(cb) => cb,
        Err(e) if quarantines(&e) => {
            return quarantine::keep(env, cfg, req.headers(), &body, &auth, &e, started).await
        }
        Err(e) => return Err(e),
    };
    let mut ev = event::normalize(cb, started);
    // Only a verified id: whatever else a request claims is anyone's text.
    ev.bcwebhookid.clone_from(&auth.webhook_id);
    let event = EncodedEvent::new(ev);
    let (outcome, targets) = submit(env, cfg, &event, &body, started).await?;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let accepted = outcome == Outcome::Accepted;
    if accepted && event.bcscope == exception::SCOPE {
        exceptions::observe(env, ctx, cfg, &event);
    }

    let duration_ms = env::now_ms() - started;
    log::ingest(&log::Ingest {
        msg: "ingest",
        outcome: outcome.as_str(),
        status: 200,
        id: Some(&event.id),
        r#type: Some(&event.ty),
        store: Some(&event.storehash),
        targets: accepted.then(|| names.clone()),
        auth: Some(auth.by.as_str()),
        error: None,
        duration_ms,
    });
    metrics::record(
        env,
        &Point {
            kind: "ingest",
            ty: event.short_type(),
            target: "",
            outcome: outcome.as_str(),
            store: &event.storehash,
            duration_ms,
        },
    );
    respond::ok(&IngestAnswer {
        status: outcome.as_str(),
        id: &event.id,
        targets: accepted.then_some(names),
    })
}
