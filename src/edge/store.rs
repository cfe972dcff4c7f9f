//! KV: dedup marks in `DEDUP`, dead-letter records in `DEAD_LETTERS`. The only place that
//! knows the key layout on the edge side.

use crate::core::dedup;
use crate::core::delivery::{dead_letter_key, DeadLetter};
use worker::{Env, Result};

pub async fn seen(env: &Env, event_id: &str) -> Result<bool> {
    let kv = env.kv("DEDUP")?;
    Ok(kv.get(&dedup::key(event_id)).text().await?.is_some())
}

pub async fn mark(env: &Env, event_id: &str, ttl_seconds: u64) -> Result<()> {
    let kv = env.kv("DEDUP")?;
    kv.put(&dedup::key(event_id), "1")?
        .expiration_ttl(ttl_seconds)
        .execute()
        .await?;
    Ok(())
}

pub async fn put_dead_letter(env: &Env, record: &DeadLetter) -> Result<()> {
    let kv = env.kv("DEAD_LETTERS")?;
    let text = serde_json::to_string(record)?;
    kv.put(&dead_letter_key(&record.target, &record.event_id), text)?
        .execute()
        .await?;
    Ok(())
}
