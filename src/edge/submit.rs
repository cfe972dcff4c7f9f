//! An event through dedup and the queue (`core::ingest::accept` against KV, the queue and,
//! with `DEDUP_MODE = "durable"`, the id's `DedupShard`), copies in flight in this isolate
//! coalesced: the one path of callbacks (`ingest`) and quarantine replays (`quarantine`).

use crate::core::config::{Config, Target};
use crate::core::deliver::message::{self, Job};
use crate::core::error::RelayError;
use crate::core::event::EncodedEvent;
use crate::core::ingest::accept::{self, IngestStore, Outcome};
use crate::core::ingest::coalesce::Coalescer;
use crate::core::ingest::dedup;
use crate::core::route;
use crate::edge::{dedup as shards, env, kv, log, queue};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use worker::Env;

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
                // parse() accepted the body as JSON, so it is UTF-8: `from_utf8` checks it
                // word by word, where `from_utf8_lossy` walks it char by char.
                let original = std::str::from_utf8(original)
                    .map_or_else(|_| String::from_utf8_lossy(original), Cow::Borrowed);
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
