//! KV: dedup marks in `DEDUP`, dead-letter records in `DEAD_LETTERS`. The only place that
//! knows the key layout on the edge side.

use crate::core::admin::DeadLetterSummary;
use crate::core::dedup;
use crate::core::delivery::{dead_letter_key, DeadLetter};
use crate::edge::env;
use worker::{Env, Error, Result};

fn injected(env: &Env, point: &str) -> Result<()> {
    if env::fault(env, point) {
        return Err(Error::RustError(format!("injected fault: {point}")));
    }
    Ok(())
}

pub async fn seen(env: &Env, event_id: &str) -> Result<bool> {
    injected(env, "dedup_lookup")?;
    let kv = env.kv("DEDUP")?;
    Ok(kv.get(&dedup::key(event_id)).text().await?.is_some())
}

pub async fn mark(env: &Env, event_id: &str, ttl_seconds: u64) -> Result<()> {
    injected(env, "dedup_mark")?;
    let kv = env.kv("DEDUP")?;
    kv.put(&dedup::key(event_id), "1")?
        .expiration_ttl(ttl_seconds)
        .execute()
        .await?;
    Ok(())
}

/// The record, with its summary as KV metadata so listings need no extra reads.
pub async fn put_dead_letter(env: &Env, record: &DeadLetter) -> Result<()> {
    let kv = env.kv("DEAD_LETTERS")?;
    let text = serde_json::to_string(record)?;
    kv.put(&dead_letter_key(&record.target, &record.event_id), text)?
        .metadata(DeadLetterSummary::of(record))?
        .execute()
        .await?;
    Ok(())
}

pub async fn get_dead_letter(env: &Env, key: &str) -> Result<Option<DeadLetter>> {
    let kv = env.kv("DEAD_LETTERS")?;
    // Text + serde_json: the JS-object route (`.json()`) cannot carry the event's raw `data`.
    match kv.get(key).text().await? {
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        None => Ok(None),
    }
}

pub async fn delete_dead_letter(env: &Env, key: &str) -> Result<()> {
    env.kv("DEAD_LETTERS")?.delete(key).await?;
    Ok(())
}

pub struct Page {
    pub keys: Vec<(String, Option<DeadLetterSummary>)>,
    pub cursor: Option<String>,
    pub complete: bool,
}

pub async fn list_dead_letters(
    env: &Env,
    prefix: &str,
    limit: u64,
    cursor: Option<String>,
) -> Result<Page> {
    let kv = env.kv("DEAD_LETTERS")?;
    let mut list = kv.list().prefix(prefix.to_owned()).limit(limit);
    if let Some(c) = cursor {
        list = list.cursor(c);
    }
    let resp = list.execute().await?;
    Ok(Page {
        keys: resp
            .keys
            .into_iter()
            .map(|k| {
                let meta = k.metadata.and_then(|m| serde_json::from_value(m).ok());
                (k.name, meta)
            })
            .collect(),
        cursor: resp.cursor.filter(|c| !c.is_empty()),
        complete: resp.list_complete,
    })
}
