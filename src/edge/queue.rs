//! The `DELIVERIES` queue: the only place that writes to it.

use crate::core::config::Target;
use crate::core::deliver::message::{self, batches, encode, Job};
use crate::core::event::EncodedEvent;
use crate::edge::env;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

pub const QUEUE: &str = "DELIVERIES";

/// Calls `method` of the queue binding with `args`. The producer's JS API directly: worker's
/// `send`/`send_batch` serialize every message and option through serde_wasm_bindgen, more
/// wasm than the relay's two calls need (BENCHMARKS.md).
async fn call(env: &Env, method: &str, args: &[&JsValue]) -> Result<(), String> {
    let run = async {
        let queue = Reflect::get(env.as_ref(), &JsValue::from_str(QUEUE))?;
        if queue.is_undefined() {
            return Err(JsValue::from_str("no queue binding `DELIVERIES`"));
        }
        let f: Function = Reflect::get(&queue, &JsValue::from_str(method))?.dyn_into()?;
        let promise: Promise = f
            .apply(&queue, &args.iter().copied().collect::<Array>())?
            .dyn_into()?;
        JsFuture::from(promise).await
    };
    run.await
        .map(|_| ())
        .map_err(|e| worker::Error::from(e).to_string())
}

/// All `jobs`, in as few `sendBatch` calls as the Queues limits allow (100 messages, 256 KB):
/// with one batch either all are durably queued or the caller gets an error.
pub async fn send(env: &Env, jobs: Vec<Job>) -> Result<(), String> {
    if jobs.is_empty() {
        return Ok(());
    }
    let texts = jobs
        .into_iter()
        .map(|mut j| encode(&mut j))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| e.to_string())?;
    for batch in batches(texts) {
        let messages = Array::new();
        for text in batch {
            let message = Object::new();
            Reflect::set(&message, &"body".into(), &text.into())
                .map_err(|_| "message not built")?;
            messages.push(&message);
        }
        call(env, "sendBatch", &[&messages]).await?;
    }
    Ok(())
}

pub async fn send_delayed(env: &Env, mut job: Job, delay_seconds: u32) -> Result<(), String> {
    let text = encode(&mut job).map_err(|e| e.to_string())?;
    send_text(env, text, delay_seconds).await
}

/// A message body as it is (a held message re-sent unchanged).
pub async fn send_text(env: &Env, text: String, delay_seconds: u32) -> Result<(), String> {
    let options = Object::new();
    Reflect::set(
        &options,
        &"delaySeconds".into(),
        &JsValue::from(delay_seconds),
    )
    .map_err(|_| "options not built")?;
    call(env, "send", &[&text.into(), &options]).await
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
