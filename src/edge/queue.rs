//! The delivery queues: the only place that writes to them. `DELIVERIES` carries enrichment
//! jobs and, without lane queues, everything; with lane queues (`LANE_1`…`LANE_7`) each
//! target's deliveries go to its own lane (`core::deliver::lanes::lane_of`), so a target that
//! hangs holds up only the consumer batches of its lane.

use crate::core::config::Target;
use crate::core::deliver::lanes::lane_of;
use crate::core::deliver::message::{self, batches, encode, Job};
use crate::core::event::EncodedEvent;
use crate::edge::{concurrent, env};
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::OnceCell;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

pub const QUEUE: &str = "DELIVERIES";
/// Producer bindings of the lane queues, in order; the lanes are those bound from `LANE_1` on.
const LANES: [&str; 7] = [
    "LANE_1", "LANE_2", "LANE_3", "LANE_4", "LANE_5", "LANE_6", "LANE_7",
];

thread_local! {
    static LANE_COUNT: OnceCell<usize> = const { OnceCell::new() };
}

/// How many lane queues are bound (bindings cannot change within an isolate).
fn lane_count(env: &Env) -> usize {
    LANE_COUNT.with(|c| {
        *c.get_or_init(|| {
            LANES
                .iter()
                .take_while(|b| {
                    Reflect::get(env.as_ref(), &JsValue::from_str(b))
                        .is_ok_and(|v| !v.is_undefined())
                })
                .count()
        })
    })
}

/// The binding of the queue that carries `job`.
fn binding(env: &Env, job: &Job) -> &'static str {
    let Job::Deliver(d) = job else {
        return QUEUE;
    };
    let loaded = env::config(env);
    let index = loaded
        .as_ref()
        .as_ref()
        .ok()
        .and_then(|c| c.targets.iter().position(|t| t.name == d.target));
    match index.map(|i| lane_of(i, lane_count(env))) {
        Some(lane @ 1..) => LANES.get(lane - 1).copied().unwrap_or(QUEUE),
        _ => QUEUE,
    }
}

/// Calls `method` of the queue binding with `args`. The producer's JS API directly: worker's
/// `send`/`send_batch` serialize every message and option through serde_wasm_bindgen, more
/// wasm than the relay's two calls need (BENCHMARKS.md).
async fn call(env: &Env, queue: &str, method: &str, args: &[&JsValue]) -> Result<(), String> {
    let run = async {
        let q = Reflect::get(env.as_ref(), &JsValue::from_str(queue))?;
        if q.is_undefined() {
            return Err(JsValue::from_str(&format!("no queue binding `{queue}`")));
        }
        let f: Function = Reflect::get(&q, &JsValue::from_str(method))?.dyn_into()?;
        let promise: Promise = f
            .apply(&q, &args.iter().copied().collect::<Array>())?
            .dyn_into()?;
        JsFuture::from(promise).await
    };
    run.await
        .map(|_| ())
        .map_err(|e| worker::Error::from(e).to_string())
}

async fn send_batches(env: &Env, queue: &str, texts: Vec<String>) -> Result<(), String> {
    for batch in batches(texts) {
        let messages = Array::new();
        for text in batch {
            let message = Object::new();
            Reflect::set(&message, &"body".into(), &text.into())
                .map_err(|_| "message not built")?;
            messages.push(&message);
        }
        call(env, queue, "sendBatch", &[&messages]).await?;
    }
    Ok(())
}

/// All `jobs`, in as few `sendBatch` calls per queue as the Queues limits allow (100
/// messages, 256 KB), the queues in parallel. With one batch either all are durably queued or
/// the caller gets an error; with several, an error may come after some were queued (ingest
/// then answers 503 and BigCommerce's retry may deliver some twice, same `webhook-id`).
pub async fn send(env: &Env, jobs: Vec<Job>) -> Result<(), String> {
    let mut by_queue: Vec<(&'static str, Vec<String>)> = Vec::new();
    for mut job in jobs {
        let queue = binding(env, &job);
        let text = encode(&mut job).map_err(|e| e.to_string())?;
        match by_queue.iter_mut().find(|(q, _)| *q == queue) {
            Some((_, texts)) => texts.push(text),
            None => by_queue.push((queue, vec![text])),
        }
    }
    let sent = concurrent::map(by_queue, concurrent::CONNECTIONS, |(queue, texts)| {
        send_batches(env, queue, texts)
    })
    .await;
    sent.into_iter().collect()
}

pub async fn send_delayed(env: &Env, mut job: Job, delay_seconds: u32) -> Result<(), String> {
    let queue = binding(env, &job);
    let text = encode(&mut job).map_err(|e| e.to_string())?;
    send_text_to(env, queue, text, delay_seconds).await
}

/// A message body as it is (a held message re-sent unchanged), to `DELIVERIES`.
pub async fn send_text(env: &Env, text: String, delay_seconds: u32) -> Result<(), String> {
    send_text_to(env, QUEUE, text, delay_seconds).await
}

async fn send_text_to(
    env: &Env,
    queue: &str,
    text: String,
    delay_seconds: u32,
) -> Result<(), String> {
    let options = Object::new();
    Reflect::set(
        &options,
        &"delaySeconds".into(),
        &JsValue::from(delay_seconds),
    )
    .map_err(|_| "options not built")?;
    call(env, queue, "send", &[&text.into(), &options]).await
}

/// Every job `event` needs for `targets`. Shared by ingest and the operator's test events, so
/// both take exactly the same path.
pub async fn send_event(
    env: &Env,
    event: &EncodedEvent,
    targets: &[&Target],
    original: &str,
    received_at_ms: i64,
) -> Result<(), String> {
    if targets.is_empty() {
        return Ok(());
    }
    if env::fault(env, "ingest_enqueue") {
        return Err("injected fault: ingest_enqueue".into());
    }
    send(
        env,
        message::plan_jobs(event, targets, original, received_at_ms),
    )
    .await
}
