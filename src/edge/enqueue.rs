//! Enqueue: the only place that writes to the `DELIVERIES` queue.

use crate::core::delivery::{batches, encode, Job};
use worker::{Env, MessageBuilder};

pub const QUEUE: &str = "DELIVERIES";

/// All of an event's jobs, in as few `send_batch` calls as the Queues limits allow: either all
/// are durably queued or the caller gets an error (and BigCommerce a 503).
pub async fn send(env: &Env, jobs: Vec<Job>) -> Result<(), String> {
    if jobs.is_empty() {
        return Ok(());
    }
    let texts = jobs
        .into_iter()
        .map(|mut j| encode(&mut j))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| e.to_string())?;
    let queue = env.queue(QUEUE).map_err(|e| e.to_string())?;
    for batch in batches(texts) {
        queue.send_batch(batch).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub async fn send_delayed(env: &Env, mut job: Job, delay_seconds: u32) -> Result<(), String> {
    let text = encode(&mut job).map_err(|e| e.to_string())?;
    let queue = env.queue(QUEUE).map_err(|e| e.to_string())?;
    queue
        .send(
            MessageBuilder::new(text)
                .delay_seconds(delay_seconds)
                .build(),
        )
        .await
        .map_err(|e| e.to_string())
}
