//! `DEDUP_MODE = "durable"`: the `DedupShard` Durable Object (binding `DEDUP_SHARDS`, SQLite-backed,
//! 16 objects named by the event id's first hex digit) and the client ingest calls it with.
//! The rule is `core::ingest::dedup::decide`; the object only stores rows and wakes waiters.
//!
//! Per new event: two object requests (`claim`, then `commit`, or `release` when the enqueue
//! failed). A copy the KV cache already knows costs none; one KV has not seen yet costs one.
//! A claim of an id another copy holds is answered only when that copy commits (`duplicate`)
//! or releases (this copy takes it), or its lease runs out (this copy takes it over); while it
//! waits it reads the row again every 20 ms (SQLite in the object: no request).

use crate::core::ingest::dedup::{self, Claim, Row, LEASE_MS};
use crate::edge::{env, objects};
use js_sys::Reflect;
use std::cell::Cell;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{durable_object, Delay, DurableObject, Env, Request, Response, State};

/// The Durable Object namespace binding (wrangler.toml).
pub const BINDING: &str = "DEDUP_SHARDS";
/// A claim may wait for another copy's lease; past this the call is given up (503, BigCommerce
/// retries).
const CALL_TIMEOUT_MS: u64 = LEASE_MS.unsigned_abs() + 5_000;

const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS claims (id TEXT PRIMARY KEY, state INTEGER NOT NULL, holder INTEGER NOT NULL, until INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS claims_until ON claims (until)",
];
/// Expired rows removed per commit: bounded work per request, and rows never pile up faster
/// than commits remove them.
const PURGE: &str =
    "DELETE FROM claims WHERE rowid IN (SELECT rowid FROM claims WHERE until <= ? LIMIT 20)";
/// How often a waiting claim looks at the holder's row again.
const POLL_MS: i64 = 20;
const CLAIMED: i64 = 0;
const COMMITTED: i64 = 1;

#[durable_object(fetch)]
pub struct DedupShard {
    state: State,
    /// The schema exists (created on the first request of this instance).
    ready: Cell<bool>,
}

impl DurableObject for DedupShard {
    fn new(state: State, _env: Env) -> Self {
        DedupShard {
            state,
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let path = req.path();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let answer = match parts.as_slice() {
            ["claim", id, holder] => self.claim(id, number(holder)).await,
            ["commit", id, ttl] => self.commit(id, number(ttl)),
            ["release", id, holder] => self.release(id, number(holder)),
            _ => Err("unknown dedup call".into()),
        };
        let (status, text) = match answer {
            Ok(word) => (200, word.to_owned()),
            Err(e) => (500, e),
        };
        Ok(Response::builder()
            .with_status(status)
            .fixed(text.into_bytes()))
    }
}

fn number(text: &str) -> i64 {
    text.parse().unwrap_or(0)
}

fn field(row: &JsValue, name: &str) -> i64 {
    #[allow(clippy::cast_possible_truncation)] // integers the object wrote, below 2^53
    Reflect::get(row, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_f64())
        .map_or(0, |v| v as i64)
}

#[allow(clippy::cast_precision_loss)] // times in ms and u32 holders, below 2^53
fn num(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

impl DedupShard {
    fn sql(&self, query: &str, args: Vec<JsValue>) -> Result<worker::SqlCursor, String> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            for statement in SCHEMA {
                sql.exec_raw(statement, None).map_err(|e| e.to_string())?;
            }
            self.ready.set(true);
        }
        sql.exec_raw(query, args).map_err(|e| e.to_string())
    }

    fn row(&self, id: &str) -> Result<Option<Row>, String> {
        let mut cursor = self.sql(
            "SELECT state, holder, until FROM claims WHERE id = ?",
            vec![id.into()],
        )?;
        let Some(row) = Iterator::next(&mut cursor) else {
            return Ok(None);
        };
        let row = row.map_err(|e| e.to_string())?;
        let until_ms = field(&row, "until");
        Ok(Some(if field(&row, "state") == COMMITTED {
            Row::Committed { until_ms }
        } else {
            Row::Claimed {
                holder: field(&row, "holder"),
                until_ms,
            }
        }))
    }

    fn put(&self, id: &str, state: i64, holder: i64, until_ms: i64) -> Result<(), String> {
        self.sql(
            "INSERT OR REPLACE INTO claims (id, state, holder, until) VALUES (?, ?, ?, ?)",
            vec![id.into(), num(state), num(holder), num(until_ms)],
        )
        .map(|_| ())
    }

    /// `take` or `duplicate`; waits while another copy holds the id, looking at its row again
    /// every [`POLL_MS`] (a timer in this request's own context: a wake-up from the holder's
    /// request would resume this one in the wrong context). Deciding and writing the claim
    /// happen with no await between them: no other request runs in that window.
    async fn claim(&self, id: &str, holder: i64) -> Result<&'static str, String> {
        loop {
            let now = env::now_ms();
            match dedup::decide(self.row(id)?, now) {
                Claim::Take => {
                    self.put(id, CLAIMED, holder, now + LEASE_MS)?;
                    return Ok("take");
                }
                Claim::Duplicate => return Ok("duplicate"),
                Claim::Wait { until_ms } => {
                    let left = (until_ms - now).clamp(1, POLL_MS).unsigned_abs();
                    Delay::from(Duration::from_millis(left)).await;
                }
            }
        }
    }

    fn commit(&self, id: &str, ttl_seconds: i64) -> Result<&'static str, String> {
        let now = env::now_ms();
        self.put(id, COMMITTED, 0, now + ttl_seconds.max(60) * 1000)?;
        // Bounded clean-up of expired rows; a failure only leaves them for the next commit.
        let _ = self.sql(PURGE, vec![num(now)]);
        Ok("ok")
    }

    fn release(&self, id: &str, holder: i64) -> Result<&'static str, String> {
        if dedup::releases(self.row(id)?, holder) {
            self.sql("DELETE FROM claims WHERE id = ?", vec![id.into()])?;
        }
        Ok("ok")
    }
}

/// One call to the id's shard.
async fn call(env: &Env, id: &str, path: String) -> Result<String, String> {
    if env::fault(env, "dedup_object") {
        return Err("injected fault: dedup_object".into());
    }
    let url = format!("https://dedup/{path}");
    let name = dedup::shard(id);
    objects::call(env, BINDING, &name, url, None, CALL_TIMEOUT_MS).await
}

/// `Ok(true)`: this copy holds the id; `Ok(false)`: a duplicate.
pub async fn claim(env: &Env, id: &str, holder: u32) -> Result<bool, String> {
    match call(env, id, format!("claim/{id}/{holder}"))
        .await?
        .as_str()
    {
        "take" => Ok(true),
        "duplicate" => Ok(false),
        other => Err(format!("dedup object: unexpected answer `{other}`")),
    }
}

pub async fn commit(env: &Env, id: &str, ttl_seconds: u64) -> Result<(), String> {
    call(env, id, format!("commit/{id}/{ttl_seconds}"))
        .await
        .map(|_| ())
}

pub async fn release(env: &Env, id: &str, holder: u32) -> Result<(), String> {
    call(env, id, format!("release/{id}/{holder}"))
        .await
        .map(|_| ())
}
