//! History: every event and every delivery attempt, kept searchable in D1 for `HISTORY_DAYS`.
//!
//! This module only *says* what to run: each function returns [`Statement`]s (SQL text and
//! its [`Bind`] values) for the edge to `prepare(sql).bind(..)` and `batch([..])`, and pure
//! functions turn the rows D1 answers into the admin API's JSON. Every statement is run
//! against real SQLite by the tests, with `EXPLAIN QUERY PLAN` checked for index use.
//!
//! # Schema (`migrations/0001_history.sql`)
//!
//! | table | one row per | key | indexes |
//! | --- | --- | --- | --- |
//! | `meta` | setting (`schema_version`) | key | — |
//! | `events` | accepted event | id | received_at · type · store · subject (each + received_at, id) |
//! | `deliveries` | (event, target) | (event_id, target) | (state, received_at) · (target, state, received_at) |
//! | `attempts` | delivery attempt | (event_id, target, run, attempt) | (at, target, outcome, duration_ms, run) |
//! | `log` | replay, recovery, quarantine, dead letter, operational event | id | at · (kind, at) · event_id |
//!
//! Times are unix milliseconds throughout. `run` is the queue run a delivery belongs to (the
//! Delivery's `received_at_ms`): a replay starts a new run whose attempts count from 1 again,
//! so the attempt key stays unique and the later run's state wins.
//!
//! Writes are upserts that apply only when not older than what is stored, by
//! `(run, attempts, updated_at)`: a consumer that records an attempt before the ingest's own
//! write lands, or a queue retry that records one twice, changes nothing. History is evidence,
//! not the source of truth (the queue and KV are), so there are no foreign keys either.
//!
//! # Costs (D1 bills rows written and rows read; each index entry written counts as a row)
//!
//! Rows written for one callback delivered at the first attempt:
//!
//! | step | 1 target | 3 targets |
//! | --- | --- | --- |
//! | ingest: `events` row + 5 index entries (id, received, type, store, subject) | 6 | 6 |
//! | ingest: `pending` deliveries, 1 + 2 index entries each | 3 | 9 |
//! | consumer: attempt row + 1 index entry | 2 | 6 |
//! | consumer: delivery state, 1 + 2 index entries (state is in both) | 3 | 9 |
//! | total | 14 | 30 |
//!
//! Each further attempt adds 5 per target (attempt 2, state 3). Statements: 2 at ingest, 2
//! per consumer batch however many messages it has (rows travel as one JSON bind read with
//! `json_each`, so no statement comes near D1's 100 bound parameters).
//!
//! Rows read per search page of `limit` events: the driving index entries up to `limit + 1`
//! matches (one per match under an equality filter: `id`, `type` without `*`, `store`,
//! `status`), each event row, and each of its deliveries for the `states` column: about
//! `(limit + 1) × (2 + targets)`. Filters that cannot drive an index (`type` globs, `target`
//! without `status`) walk newest first and read until the page is full, at worst the whole
//! window; `subject` reads every event under that subject in the window (a company's own
//! events, few) and sorts them. Recover reads at most 4 × 101 delivery index entries per page,
//! stats every attempt in its window once (from a covering index), retention 1,000 rows per
//! table per round.

//! # What the edge calls, and when
//!
//! Every list of statements below is one D1 `batch`. History is best effort: a failed write
//! is logged and never fails the callback or the delivery.
//!
//! - `/health`: [`schema_version`] (`first()`; an error `no such table` → `None`) →
//!   [`SchemaStatus::of`] → [`SchemaStatus::problem`].
//! - Ingest, after the event is enqueued: [`write::record_accepted`] with the routed targets
//!   and the same `received_at_ms` as the deliveries; a duplicate: [`write::record_duplicate`];
//!   a quarantined request: [`write::log_entry`] with [`write::LOG_QUARANTINE`].
//! - Consumer, once per batch: [`write::record_attempts`] (every attempt made) and
//!   [`write::record_states`] (held, filtered); a dead letter stored in KV (by the consumer
//!   or the dead-letter queue's consumer): [`write::record_dead_letter`]; an operational
//!   event: [`write::log_entry`] with its type as kind.
//! - `POST /admin/dead-letters/replay`, after the enqueue: [`write::record_event`] per record
//!   (its event may predate history), then [`write::record_replays`] with
//!   [`write::LOG_REPLAY`] and the `now_ms` the new deliveries carry.
//! - `GET /admin/events`: `admin::query_pairs` → [`query::parse_events_query`] →
//!   [`query::EventsQuery::statement`] (`all()`) → [`query::events_page`].
//! - `GET /admin/events/{id}`: [`query::event_detail`] (one batch of four) →
//!   [`query::assemble_event_detail`]; `None` is a 404.
//! - `POST /admin/recover`: [`query::parse_recover`] → [`query::RecoverQuery::statement`] →
//!   [`query::recover_page`] → enqueue each event again → [`write::record_replays`] with
//!   [`write::LOG_RECOVER`] → answer [`query::RecoverReport`].
//! - `GET /admin/stats`: [`stats::parse_stats_query`] → [`stats::StatsQuery::statement`] →
//!   [`stats::stats_answer`].
//! - Cron: [`retention::parse_history_days`] → [`retention::cutoff_ms`] → repeat
//!   [`retention::round`] while [`retention::Tally::add`] says so.

pub mod query;
pub mod retention;
pub mod sql;
pub mod stats;
pub mod write;

#[cfg(test)]
mod testdb;
#[cfg(test)]
mod tests;

use crate::core::base64;
use crate::core::error::{ErrorCode, RelayError};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// The `meta.schema_version` this relay reads and writes. Each migration that changes the
/// schema sets the value it brings it to, and this constant follows.
pub const SCHEMA_VERSION: i64 = 1;

/// D1 refuses statements with more bound parameters than this.
pub const MAX_BINDS: usize = 100;

/// Event JSON above this is stored cut (at a char boundary) and flagged `truncated`.
pub const MAX_JSON_BYTES: usize = 32 * 1024;

/// A value bound to a `?`. The edge turns each into a JS value: `Int` as a number (every
/// value bound here is a count or a unix-ms time, well inside 2^53), `Null` as `null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
    Null,
}

impl From<&str> for Bind {
    fn from(s: &str) -> Self {
        Bind::Text(s.to_owned())
    }
}

impl From<String> for Bind {
    fn from(s: String) -> Self {
        Bind::Text(s)
    }
}

impl From<i64> for Bind {
    fn from(n: i64) -> Self {
        Bind::Int(n)
    }
}

impl<T: Into<Bind>> From<Option<T>> for Bind {
    fn from(v: Option<T>) -> Self {
        v.map_or(Bind::Null, Into::into)
    }
}

/// One SQL statement and its values, in `?` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub binds: Vec<Bind>,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, binds: Vec<Bind>) -> Self {
        Statement {
            sql: sql.into(),
            binds,
        }
    }
}

/// The state of an (event, target), as stored in `deliveries.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Accepted, queued, not attempted yet (or replayed and queued again).
    Pending,
    Delivered,
    /// The last attempt failed and a retry is scheduled.
    Failed,
    DeadLetter,
    /// The consumer holds it: the target is paused or its breaker is open.
    Held,
    /// Dropped by the target's content filter after enrichment.
    Filtered,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Pending,
        State::Delivered,
        State::Failed,
        State::DeadLetter,
        State::Held,
        State::Filtered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::DeadLetter => "dead_letter",
            State::Held => "held",
            State::Filtered => "filtered",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The state an attempt's outcome (`attempts::DELIVERED`, `RETRY`, `DEAD_LETTER`) leaves.
    pub fn after(outcome: &str) -> Option<State> {
        use crate::core::deliver::attempts::{DEAD_LETTER, DELIVERED, RETRY};
        match outcome {
            DELIVERED => Some(State::Delivered),
            RETRY => Some(State::Failed),
            DEAD_LETTER => Some(State::DeadLetter),
            _ => None,
        }
    }
}

/// `SELECT` of the stored schema version; `first()` gives `{value}` or nothing. A D1 error
/// `no such table: meta` means the migrations were never applied: pass `None` on.
pub fn schema_version() -> Statement {
    Statement::new(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        Vec::new(),
    )
}

/// What `/health` says about the history schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    Current,
    /// No `meta` table or no version row: `wrangler d1 migrations apply` was not run.
    Missing,
    /// Migrations this relay needs are not applied yet.
    Behind {
        found: i64,
    },
    /// A newer relay migrated already. Migrations only add, so this one still works.
    Ahead {
        found: i64,
    },
}

impl SchemaStatus {
    /// `found`: the `value` column of [`schema_version`], `None` if the table or row is absent.
    pub fn of(found: Option<&str>) -> SchemaStatus {
        match found.and_then(|v| v.trim().parse::<i64>().ok()) {
            None => SchemaStatus::Missing,
            Some(v) if v < SCHEMA_VERSION => SchemaStatus::Behind { found: v },
            Some(v) if v > SCHEMA_VERSION => SchemaStatus::Ahead { found: v },
            Some(_) => SchemaStatus::Current,
        }
    }

    /// The problem to report on `/health`, if it is one.
    pub fn problem(&self) -> Option<String> {
        match self {
            SchemaStatus::Current | SchemaStatus::Ahead { .. } => None,
            SchemaStatus::Missing => Some(format!(
                "history schema missing: apply migrations/ (version {SCHEMA_VERSION})"
            )),
            SchemaStatus::Behind { found } => Some(format!(
                "history schema at version {found}, this relay needs {SCHEMA_VERSION}: apply migrations/"
            )),
        }
    }
}

/// Why an admin query or body was refused: `invalid_json` for a body that does not parse,
/// `invalid_query` (400) for everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    UnknownParameter(String),
    RepeatedParameter(String),
    EmptyValue(&'static str),
    /// Neither unix milliseconds nor `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    BadTime(&'static str),
    /// `since` is not before `until`.
    EmptyWindow,
    BadLimit,
    BadCursor,
    BadStatus(String),
    BadBucket(String),
    /// `(until - since) / bucket` above [`stats::MAX_BUCKETS`].
    TooManyBuckets,
    BadBody(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::UnknownParameter(p) => write!(f, "unknown parameter `{p}`"),
            QueryError::RepeatedParameter(p) => write!(f, "parameter `{p}` given twice"),
            QueryError::EmptyValue(p) => write!(f, "`{p}` is empty"),
            QueryError::BadTime(p) => {
                write!(f, "`{p}` must be unix milliseconds or YYYY-MM-DDTHH:MM:SSZ")
            }
            QueryError::EmptyWindow => f.write_str("`since` must be before `until`"),
            QueryError::BadLimit => write!(f, "`limit` must be 1 to {}", query::MAX_LIMIT),
            QueryError::BadCursor => f.write_str("`cursor` is not one this relay gave out"),
            QueryError::BadStatus(s) => write!(
                f,
                "unknown status `{s}`: pending, delivered, failed, dead_letter, held or filtered"
            ),
            QueryError::BadBucket(b) => {
                write!(f, "unknown bucket `{b}`: minute, hour, day or all")
            }
            QueryError::TooManyBuckets => write!(
                f,
                "more than {} buckets: narrow the window or widen the bucket",
                stats::MAX_BUCKETS
            ),
            QueryError::BadBody(e) => write!(f, "{e}"),
        }
    }
}

impl From<QueryError> for RelayError {
    fn from(e: QueryError) -> Self {
        let code = match e {
            QueryError::BadBody(_) => ErrorCode::InvalidJson,
            _ => ErrorCode::InvalidQuery,
        };
        RelayError::new(code, e.to_string())
    }
}

/// A keyset position: the `(received_at, id)` of the last row a page gave. Opaque to clients
/// (base64url of `received_at:id`) so its form can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        base64::encode_url(format!("{}:{}", self.received_at, self.id).as_bytes())
    }

    pub fn decode(s: &str) -> Result<Cursor, QueryError> {
        let bytes = base64::decode_url(s.trim()).ok_or(QueryError::BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| QueryError::BadCursor)?;
        let (at, id) = text.split_once(':').ok_or(QueryError::BadCursor)?;
        let received_at = at.parse().map_err(|_| QueryError::BadCursor)?;
        if id.is_empty() {
            return Err(QueryError::BadCursor);
        }
        Ok(Cursor {
            received_at,
            id: id.to_owned(),
        })
    }
}

/// `1700000000000`, `2023-11-14T22:13:20Z` or `2023-11-14T22:13:20.5Z` → unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // Fractional seconds: split them off, then the exact form `time::parse_rfc3339` reads.
    let (whole, ms) = match s.split_once('.') {
        Some((head, frac)) => {
            let digits = frac.strip_suffix('Z')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let ms: i64 = format!("{digits:0<3}").get(..3)?.parse().ok()?;
            (format!("{head}Z"), ms)
        }
        None => (s.to_owned(), 0),
    };
    let secs = crate::core::time::parse_rfc3339(&whole)?;
    secs.checked_mul(1000)?.checked_add(ms)
}

/// Cut `s` to at most `max` bytes at a char boundary; whether it was cut.
pub fn cut(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s.get(..end).unwrap_or_default(), true)
}

/// Admin query parameters checked against the names a route takes: a misspelt filter is an
/// error, not a silently wider search.
pub(crate) fn params<'a>(
    pairs: &'a [(String, String)],
    known: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, QueryError> {
    let mut seen: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if !known.contains(&k.as_str()) {
            return Err(QueryError::UnknownParameter(k.clone()));
        }
        if seen.iter().any(|(s, _)| s == k) {
            return Err(QueryError::RepeatedParameter(k.clone()));
        }
        seen.push((k.as_str(), v.as_str()));
    }
    Ok(seen)
}

/// A parameter's trimmed value; empty is an error (`store=` is a mistake, not "any store").
pub(crate) fn non_empty(name: &'static str, v: &str) -> Result<String, QueryError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(QueryError::EmptyValue(name));
    }
    Ok(v.to_owned())
}

pub(crate) fn time_param(name: &'static str, v: &str) -> Result<i64, QueryError> {
    parse_time(v).ok_or(QueryError::BadTime(name))
}
