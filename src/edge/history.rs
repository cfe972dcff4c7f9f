//! History in D1 (the optional `HISTORY` binding): the one place that reads and writes it.
//! What to run is `core::history`'s (statements, and what their rows mean); this file only
//! runs them, through D1's JS API (`prepare`, `bind`, `batch`), and reads the rows back as
//! JSON text for serde_json: worker's D1 wrapper decodes rows with serde_wasm_bindgen, a
//! second deserializer in the wasm for what serde_json already does.
//!
//! Best effort: a write that fails is logged and counted (a metrics point of kind `history`),
//! never the failure of an ingest or a delivery. Without the binding every function returns at
//! once and builds nothing.

use crate::core::deliver::attempts::Attempt;
use crate::core::deliver::consume::Plan;
use crate::core::deliver::lane::HoldReason;
use crate::core::deliver::message::{DeadLetter, Delivery, EnrichJob};
use crate::core::event::EncodedEvent;
use crate::core::history::retention::{self, Tally};
use crate::core::history::write::{self, AttemptRecord, StateChange};
use crate::core::history::{schema_version, Bind, SchemaStatus, State, Statement, SCHEMA_VERSION};
use crate::edge::metrics::{self, Point};
use crate::edge::{env, log};
use js_sys::{Array, Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Context, Env};

pub const BINDING: &str = "HISTORY";

/// The `HISTORY` database.
pub struct Db(JsValue);

fn get(o: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(o, &JsValue::from_str(key))
}

fn js(b: &Bind) -> JsValue {
    match b {
        Bind::Text(s) => JsValue::from_str(s),
        // Counts and unix-ms times: far inside a double's 2^53.
        #[allow(clippy::cast_precision_loss)]
        Bind::Int(n) => JsValue::from_f64(*n as f64),
        Bind::Real(x) => JsValue::from_f64(*x),
        Bind::Null => JsValue::NULL,
    }
}

/// A JS error's first line (D1 errors can carry a stack).
fn text(e: JsValue) -> String {
    let s = worker::Error::from(e).to_string();
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// One row as D1 gives it (an object by column name), read field by field. A serde
/// `Deserialize` per row type cost about 4 KB of wasm each; these four readers serve them all.
pub struct Row(JsValue);

impl Row {
    fn value(&self, column: &str) -> JsValue {
        get(&self.0, column).unwrap_or(JsValue::NULL)
    }

    pub fn opt_text(&self, column: &str) -> Option<String> {
        self.value(column).as_string()
    }

    pub fn text(&self, column: &str) -> String {
        self.opt_text(column).unwrap_or_default()
    }

    /// Integers only: counts, ids and unix-ms times.
    pub fn opt_int(&self, column: &str) -> Option<i64> {
        // Whole numbers well inside 2^53 (SQLite integers as D1 returns them).
        #[allow(clippy::cast_possible_truncation)]
        self.value(column).as_f64().map(|n| n as i64)
    }

    pub fn int(&self, column: &str) -> i64 {
        self.opt_int(column).unwrap_or(0)
    }
}

/// The rows of one D1 result.
pub fn rows(result: &JsValue) -> Vec<Row> {
    get(result, "results")
        .ok()
        .and_then(|r| r.dyn_into::<Array>().ok())
        .map(|a| a.iter().map(Row).collect())
        .unwrap_or_default()
}

/// Rows a statement changed (`meta.changes`).
fn changes(result: &JsValue) -> u64 {
    let n = get(result, "meta")
        .and_then(|m| get(&m, "changes"))
        .ok()
        .and_then(|c| c.as_f64())
        .unwrap_or(0.0);
    // A row count: whole and small.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = n.max(0.0) as u64;
    n
}

impl Db {
    pub fn of(env: &Env) -> Option<Db> {
        let db = get(env.as_ref(), BINDING).ok()?;
        (!db.is_undefined() && !db.is_null()).then_some(Db(db))
    }

    fn prepare(&self, s: &Statement) -> Result<JsValue, JsValue> {
        let prepare: Function = get(&self.0, "prepare")?.dyn_into()?;
        let stmt = prepare.call1(&self.0, &JsValue::from_str(&s.sql))?;
        if s.binds.is_empty() {
            return Ok(stmt);
        }
        let bind: Function = get(&stmt, "bind")?.dyn_into()?;
        bind.apply(&stmt, &s.binds.iter().map(js).collect::<Array>())
    }

    /// One D1 `batch`: a transaction, all or nothing; one result per statement, in order.
    pub async fn batch(&self, ss: &[Statement]) -> Result<Vec<JsValue>, String> {
        let run = async {
            let stmts = ss
                .iter()
                .map(|s| self.prepare(s))
                .collect::<Result<Array, _>>()?;
            let batch: Function = get(&self.0, "batch")?.dyn_into()?;
            let promise: Promise = batch.call1(&self.0, &stmts)?.dyn_into()?;
            JsFuture::from(promise).await
        };
        let results: Array = run.await.map_err(text)?.dyn_into().map_err(text)?;
        Ok(results.iter().collect())
    }

    /// The rows of one query (a batch of one: one JS path for everything).
    pub async fn rows(&self, s: &Statement) -> Result<Vec<Row>, String> {
        let results = self.batch(std::slice::from_ref(s)).await?;
        Ok(results.first().map(rows).unwrap_or_default())
    }
}

/// `ss` built only when history is on, then written in one batch; a failure is logged and
/// counted, never returned.
pub async fn write(env: &Env, ss: impl FnOnce() -> Vec<Statement>) {
    if let Some(db) = Db::of(env) {
        run(env, &db, ss()).await;
    }
}

async fn run(env: &Env, db: &Db, ss: Vec<Statement>) {
    if ss.is_empty() {
        return;
    }
    let started = env::now_ms();
    if let Err(e) = db.batch(&ss).await {
        log::problem("history not written", &e);
        metrics::record(
            env,
            &Point {
                kind: "history",
                ty: "",
                target: "",
                outcome: "write_failed",
                store: "",
                duration_ms: env::now_ms() - started,
            },
        );
    }
}

/// As [`write`], after the answer: the request's `wait_until` keeps the write alive without
/// making the caller wait for D1.
pub fn later(env: &Env, ctx: &Context, ss: impl FnOnce() -> Vec<Statement>) {
    let Some(db) = Db::of(env) else { return };
    let ss = ss();
    let env = env.clone();
    ctx.wait_until(async move {
        // A timer first: the D1 calls' own work (statements bound, the batch sent) then runs
        // after the answer has gone, not in the microtasks before it.
        worker::Delay::from(std::time::Duration::ZERO).await;
        run(&env, &db, ss).await
    });
}

/// One log entry (`core::history::write::log_entry`: a quarantined request, an operational
/// event…), written after the answer. For callers with a request's `Context`; others await
/// [`write`] with the same entry.
pub fn log(env: &Env, ctx: &Context, entry: Statement) {
    later(env, ctx, || vec![entry]);
}

/// Ingest: an accepted event with its routed targets, `received_at_ms` as its deliveries carry.
pub fn accepted(
    env: &Env,
    ctx: &Context,
    event: &EncodedEvent,
    targets: &[&str],
    received_at_ms: i64,
) {
    later(env, ctx, || {
        write::record_accepted(event, targets, received_at_ms)
    });
}

/// Ingest: a callback answered `duplicate`.
pub fn duplicate(env: &Env, ctx: &Context, event_id: &str, at_ms: i64) {
    later(env, ctx, || vec![write::record_duplicate(event_id, at_ms)]);
}

/// An enrichment job's targets before its plan, to tell which ones the plan filtered out.
pub struct Enriching {
    id: String,
    targets: Vec<String>,
    run: i64,
}

/// A state set without an attempt (held, filtered), owned until the batch's end.
struct Change {
    id: String,
    target: String,
    state: State,
    run: i64,
    attempts: u32,
    reason: &'static str,
    at: i64,
}

/// What one consumer batch leaves in history, written in one D1 batch at its end.
pub struct Batch {
    on: bool,
    attempts: Vec<(Attempt, i64, i64)>,
    states: Vec<Change>,
    dead_letters: Vec<Statement>,
}

impl Batch {
    pub fn new(env: &Env) -> Batch {
        Batch {
            on: Db::of(env).is_some(),
            attempts: Vec::new(),
            states: Vec::new(),
            dead_letters: Vec::new(),
        }
    }

    /// An attempt of run `run` (the Delivery's `received_at_ms`), just finished.
    pub fn attempt(&mut self, a: &Attempt, run: i64) {
        if self.on {
            self.attempts.push((a.clone(), run, env::now_ms()));
        }
    }

    /// A dead letter, once it is stored in KV.
    pub fn dead_letter(&mut self, d: &DeadLetter) {
        if self.on {
            let at = env::now_ms();
            let run = d.received_at_ms;
            self.dead_letters
                .extend(write::record_dead_letter(d, run, at));
        }
    }

    /// A delivery its lane holds (paused, breaker open, rate limit): re-sent later unchanged.
    pub fn held(&mut self, d: &Delivery, why: HoldReason) {
        if self.on {
            self.states.push(Change {
                id: d.event.id.clone(),
                target: d.target.clone(),
                state: State::Held,
                run: d.received_at_ms,
                attempts: d.attempt.saturating_sub(1),
                reason: write::hold_reason(why),
                at: env::now_ms(),
            });
        }
    }

    pub fn enriching(&self, job: &EnrichJob) -> Option<Enriching> {
        self.on.then(|| Enriching {
            id: job.event.id.clone(),
            targets: job.targets.clone(),
            run: job.received_at_ms,
        })
    }

    /// After the enrichment's plan: the targets whose filter dropped the enriched event.
    pub fn enriched(&mut self, seen: Option<Enriching>, plan: &Plan) {
        let Some(seen) = seen else { return };
        let at = env::now_ms();
        for t in write::filtered_out(&seen.targets, plan) {
            self.states.push(Change {
                id: seen.id.clone(),
                target: t.to_owned(),
                state: State::Filtered,
                run: seen.run,
                attempts: 0,
                reason: "where filter, after enrichment",
                at,
            });
        }
    }

    pub async fn finish(self, env: &Env) {
        if !self.on {
            return;
        }
        write(env, || {
            let records: Vec<AttemptRecord<'_>> = self
                .attempts
                .iter()
                .map(|(attempt, run, at_ms)| AttemptRecord {
                    attempt,
                    run: *run,
                    at_ms: *at_ms,
                })
                .collect();
            let changes: Vec<StateChange<'_>> = self
                .states
                .iter()
                .map(|c| StateChange {
                    event_id: &c.id,
                    target: &c.target,
                    state: c.state,
                    run: c.run,
                    attempts: c.attempts,
                    reason: Some(c.reason),
                    at_ms: c.at,
                })
                .collect();
            let mut ss = write::record_attempts(&records);
            ss.extend(write::record_states(&changes));
            ss.extend(self.dead_letters);
            ss
        })
        .await;
    }
}

/// Deliveries the operator sent again, recorded once they are enqueued: each back to
/// `pending` in a new run starting `now_ms`, with a log entry.
pub struct Replays {
    kind: &'static str,
    now_ms: i64,
    events: Vec<Statement>,
    items: Vec<(String, String)>,
}

impl Replays {
    /// Dead letters replayed: their events may predate history, so each is recorded too.
    pub fn new(now_ms: i64) -> Replays {
        Replays::of(write::LOG_REPLAY, now_ms)
    }

    pub fn of(kind: &'static str, now_ms: i64) -> Replays {
        Replays {
            kind,
            now_ms,
            events: Vec::new(),
            items: Vec::new(),
        }
    }

    /// A dead letter's event and target; `received_at_ms` 0 (a record from before the field)
    /// counts from now, or retention would take it at once.
    pub fn add(&mut self, event: &EncodedEvent, target: &str, received_at_ms: i64) {
        let at = if received_at_ms > 0 {
            received_at_ms
        } else {
            self.now_ms
        };
        self.events.push(write::record_event(event, &[target], at));
        self.item(&event.id, target);
    }

    /// An event already in history, sent again to `target`.
    pub fn item(&mut self, event_id: &str, target: &str) {
        self.items.push((event_id.to_owned(), target.to_owned()));
    }

    pub async fn record(self, env: &Env) {
        write(env, || {
            let items: Vec<(&str, &str)> = self
                .items
                .iter()
                .map(|(e, t)| (e.as_str(), t.as_str()))
                .collect();
            let mut ss = self.events;
            ss.extend(write::record_replays(self.kind, &items, self.now_ms));
            ss
        })
        .await;
    }
}

/// What `/admin/health` says about history.
#[derive(Serialize)]
pub struct Status {
    /// `on`, `off`, `schema_missing`, `schema_behind` or `unavailable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

fn no_such_table(e: &str) -> bool {
    // A byte window, not a `&str` pattern (BENCHMARKS.md: core's two-way searcher).
    e.as_bytes().windows(13).any(|w| w == b"no such table")
}

pub async fn status(env: &Env, days: Option<u32>) -> Status {
    let Some(db) = Db::of(env) else {
        return Status {
            status: "off",
            message: Some(format!(
                "no D1 binding `{BINDING}`: events and attempts are not kept (README, Configuration)"
            )),
            days: None,
        };
    };
    let schema = match db.rows(&schema_version()).await {
        Ok(rows) => SchemaStatus::of(rows.first().and_then(|r| r.opt_text("value")).as_deref()),
        Err(e) if no_such_table(&e) => SchemaStatus::Missing,
        Err(e) => {
            return Status {
                status: "unavailable",
                message: Some(e),
                days,
            }
        }
    };
    let status = match schema {
        SchemaStatus::Current | SchemaStatus::Ahead { .. } => "on",
        SchemaStatus::Missing => "schema_missing",
        SchemaStatus::Behind { .. } => "schema_behind",
    };
    Status {
        status,
        message: schema
            .problem()
            .or_else(|| Some(format!("schema version {SCHEMA_VERSION}"))),
        days,
    }
}

#[derive(Serialize)]
struct RetentionLine<'a> {
    msg: &'static str,
    days: u32,
    cutoff_ms: i64,
    deleted: &'a Tally,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The cron: deletes what is older than `HISTORY_DAYS`, in bounded rounds, and logs one line.
pub async fn on_schedule(env: &Env) {
    let Some(db) = Db::of(env) else { return };
    let loaded = env::config(env);
    // A broken configuration has no trustworthy HISTORY_DAYS: keep everything until it is fixed.
    let Ok(cfg) = loaded.as_ref() else { return };
    let days = cfg.history_days;
    let cutoff_ms = retention::cutoff_ms(env::now_ms(), days);
    let mut tally = Tally::default();
    let mut error = None;
    loop {
        match db.batch(&retention::round(cutoff_ms)).await {
            Ok(results) => {
                let deleted: Vec<u64> = results.iter().map(changes).collect();
                if !tally.add(&deleted) {
                    break;
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let line = RetentionLine {
        msg: "history retention",
        days,
        cutoff_ms,
        deleted: &tally,
        error,
    };
    if let Ok(s) = serde_json::to_string(&line) {
        log::write(&s);
    }
}
