//! KV: dedup marks in `DEDUP`; dead-letter records, unreadable queue messages and quarantined
//! callbacks (`quarantine:{id}`, 14 days) in `DEAD_LETTERS`. The only place that knows the key
//! layout on the edge side.

use crate::core::admin::DeadLetterSummary;
use crate::core::deliver::message::{dead_letter_key, DeadLetter, Unreadable};
use crate::core::ingest::dedup;
use crate::core::ingest::quarantine::{self, QuarantineRecord};

use crate::edge::env;
use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Error, Result};

fn injected(env: &Env, point: &str) -> Result<()> {
    if env::fault(env, point) {
        return Err(Error::RustError(format!("injected fault: {point}")));
    }
    Ok(())
}

/// A KV namespace through its JS API. worker's KV builders serialize their options with
/// serde_wasm_bindgen and metadata with serde_json's value serializer; calling the four
/// methods the relay needs directly saved ~10 KB of wasm (BENCHMARKS.md).
struct Kv(JsValue);

fn get(o: &JsValue, key: &str) -> Result<JsValue> {
    Ok(Reflect::get(o, &JsValue::from_str(key))?)
}

fn set(o: &Object, key: &str, value: &JsValue) -> Result<()> {
    Reflect::set(o, &JsValue::from_str(key), value)?;
    Ok(())
}

impl Kv {
    fn of(env: &Env, binding: &str) -> Result<Kv> {
        let ns = get(env.as_ref(), binding)?;
        if ns.is_undefined() {
            return Err(Error::RustError(format!("no KV binding `{binding}`")));
        }
        Ok(Kv(ns))
    }

    async fn call(&self, method: &str, args: &[&JsValue]) -> Result<JsValue> {
        let f: Function = get(&self.0, method)?.dyn_into()?;
        let promise: Promise = f
            .apply(&self.0, &args.iter().copied().collect::<Array>())?
            .dyn_into()?;
        Ok(JsFuture::from(promise).await?)
    }

    async fn text(&self, key: &str) -> Result<Option<String>> {
        let options = Object::new();
        set(&options, "type", &"text".into())?;
        Ok(self
            .call("get", &[&key.into(), &options])
            .await?
            .as_string())
    }

    async fn put(&self, key: &str, value: &str, options: &Object) -> Result<()> {
        self.call("put", &[&key.into(), &value.into(), options])
            .await
            .map(|_| ())
    }
}

pub async fn seen(env: &Env, event_id: &str) -> Result<bool> {
    injected(env, "dedup_lookup")?;
    let kv = Kv::of(env, "DEDUP")?;
    Ok(kv.text(&dedup::key(event_id)).await?.is_some())
}

pub async fn mark(env: &Env, event_id: &str, ttl_seconds: u64) -> Result<()> {
    injected(env, "dedup_mark")?;
    let options = Object::new();
    #[allow(clippy::cast_precision_loss)] // a TTL in seconds, far below 2^52
    set(
        &options,
        "expirationTtl",
        &JsValue::from_f64(ttl_seconds as f64),
    )?;
    Kv::of(env, "DEDUP")?
        .put(&dedup::key(event_id), "1", &options)
        .await
}

/// The record, with its summary as KV metadata so listings need no extra reads.
pub async fn put_dead_letter(env: &Env, record: &DeadLetter) -> Result<()> {
    let text = serde_json::to_string(record)?;
    let summary = serde_json::to_string(&DeadLetterSummary::of(record))?;
    let options = Object::new();
    set(&options, "metadata", &JSON::parse(&summary)?)?;
    Kv::of(env, "DEAD_LETTERS")?
        .put(
            &dead_letter_key(&record.target, &record.event_id),
            &text,
            &options,
        )
        .await
}

/// An unreadable queue message, kept for the operator; its reason as metadata for listings.
pub async fn put_unreadable(env: &Env, record: &Unreadable) -> Result<()> {
    injected(env, "unreadable_put")?;
    let text = serde_json::to_string(record)?;
    let options = Object::new();
    let meta = Object::new();
    set(&meta, "reason", &record.reason.as_str().into())?;
    set(&meta, "received_at", &record.received_at.as_str().into())?;
    set(&options, "metadata", &meta)?;
    Kv::of(env, "DEAD_LETTERS")?
        .put(&record.key(), &text, &options)
        .await
}

/// A quarantined callback, its summary as metadata (listings need no reads), kept 14 days.
pub async fn put_quarantine(env: &Env, record: &QuarantineRecord) -> Result<()> {
    injected(env, "quarantine_put")?;
    let text = serde_json::to_string(record)?;
    let summary = serde_json::to_string(&record.summary())?;
    let options = Object::new();
    set(&options, "metadata", &JSON::parse(&summary)?)?;
    #[allow(clippy::cast_precision_loss)] // 14 days in seconds
    set(
        &options,
        "expirationTtl",
        &JsValue::from_f64(quarantine::TTL_SECONDS as f64),
    )?;
    Kv::of(env, "DEAD_LETTERS")?
        .put(&record.key(), &text, &options)
        .await
}

/// The record's JSON text as stored: served as is, or read in part for a replay.
pub async fn get_quarantine(env: &Env, id: &str) -> Result<Option<String>> {
    Kv::of(env, "DEAD_LETTERS")?
        .text(&quarantine::key(id))
        .await
}

pub async fn get_unreadable(env: &Env, key: &str) -> Result<Option<Unreadable>> {
    match Kv::of(env, "DEAD_LETTERS")?.text(key).await? {
        Some(text) => Ok(Some(Unreadable::read(&text).map_err(Error::RustError)?)),
        None => Ok(None),
    }
}

pub async fn get_dead_letter(env: &Env, key: &str) -> Result<Option<DeadLetter>> {
    // Text + serde_json: the JS-object route (`.json()`) cannot carry the event's raw `data`.
    match Kv::of(env, "DEAD_LETTERS")?.text(key).await? {
        Some(text) => Ok(Some(DeadLetter::read(&text).map_err(Error::RustError)?)),
        None => Ok(None),
    }
}

/// Deletes any key of `DEAD_LETTERS` (a dead letter or an unreadable message).
pub async fn delete_dead_letter(env: &Env, key: &str) -> Result<()> {
    Kv::of(env, "DEAD_LETTERS")?
        .call("delete", &[&key.into()])
        .await
        .map(|_| ())
}

/// Keys with their metadata as JSON text: one listing routine in the wasm, whatever the
/// callers read the metadata as (see [`Page::read`]).
pub struct Page {
    pub keys: Vec<(String, Option<String>)>,
    pub cursor: Option<String>,
    pub complete: bool,
}

impl Page {
    /// The keys with their metadata read by `read` (dead letters: [`DeadLetterSummary::read`];
    /// unreadable messages: their reason and time); metadata that does not read is `None`.
    pub fn read<T>(self, read: impl Fn(&str) -> Option<T>) -> Vec<(String, Option<T>)> {
        self.keys
            .into_iter()
            .map(|(k, m)| (k, m.and_then(|t| read(&t))))
            .collect()
    }
}

/// Keys of `DEAD_LETTERS` under `prefix` with their metadata.
pub async fn list_dead_letters(
    env: &Env,
    prefix: &str,
    limit: u64,
    cursor: Option<String>,
) -> Result<Page> {
    let options = Object::new();
    set(&options, "prefix", &prefix.into())?;
    #[allow(clippy::cast_precision_loss)] // at most 1000
    set(&options, "limit", &JsValue::from_f64(limit as f64))?;
    if let Some(c) = cursor {
        set(&options, "cursor", &c.into())?;
    }
    let answer = Kv::of(env, "DEAD_LETTERS")?
        .call("list", &[&options])
        .await?;
    let keys: Array = get(&answer, "keys")?.dyn_into()?;
    let mut page = Page {
        keys: Vec::with_capacity(keys.length() as usize),
        cursor: get(&answer, "cursor")?
            .as_string()
            .filter(|c| !c.is_empty()),
        complete: get(&answer, "list_complete")?.as_bool().unwrap_or(true),
    };
    for key in keys.iter() {
        let name = get(&key, "name")?.as_string().unwrap_or_default();
        let metadata = get(&key, "metadata")?;
        let summary = if metadata.is_undefined() || metadata.is_null() {
            None
        } else {
            JSON::stringify(&metadata).ok().and_then(|t| t.as_string())
        };
        page.keys.push((name, summary));
    }
    Ok(page)
}
