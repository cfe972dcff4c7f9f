//! Retention: the cron deletes history older than `HISTORY_DAYS`, a bounded number of rows
//! at a time (a D1 query has a time limit, and one long delete would hold the database).
//!
//! Each table goes by its own time: events and deliveries by `received_at`, attempts and log
//! entries by `at`. A retry can be attempted after its event's cutoff and so outlive it by
//! at most the retry window; nothing is left behind for good.

use super::{State, Statement};
use serde::Serialize;

pub const DEFAULT_HISTORY_DAYS: u32 = 7;
pub const MAX_HISTORY_DAYS: u32 = 90;
/// Rows per table per round.
pub const DELETE_LIMIT: i64 = 1000;
/// Rounds per cron run: 4 queries each, well inside D1's 1,000 queries per invocation. At
/// 50,000 rows a day per table the daily cron keeps up; more traffic wants a more frequent
/// cron (each run continues where the last stopped).
pub const MAX_ROUNDS: u32 = 50;

/// `HISTORY_DAYS`: unset or empty → 7; otherwise a whole number of days, 1 to 90.
pub fn parse_history_days(v: Option<&str>) -> Result<u32, String> {
    let v = v.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Ok(DEFAULT_HISTORY_DAYS);
    }
    match v.parse::<u32>() {
        Ok(d) if (1..=MAX_HISTORY_DAYS).contains(&d) => Ok(d),
        // The value is not echoed: a misplaced secret must not reach /admin/health or the log.
        _ => Err(format!(
            "HISTORY_DAYS: must be a whole number of days from 1 to {MAX_HISTORY_DAYS}"
        )),
    }
}

/// Rows older than this (unix ms) are deleted.
pub fn cutoff_ms(now_ms: i64, days: u32) -> i64 {
    now_ms.saturating_sub(i64::from(days) * 86_400_000)
}

/// The tables in the order [`round`] deletes from them.
pub const TABLES: [&str; 4] = ["attempts", "deliveries", "log", "events"];

/// One round: a D1 `batch` of a bounded delete per table ([`TABLES`] order); each result's
/// `meta.changes` says how many rows went.
pub fn round(cutoff_ms: i64) -> Vec<Statement> {
    // deliveries has no index on received_at alone, but its state is a closed set: one
    // range of `deliveries_state` per state, instead of a scan or one more index to write.
    let states = State::ALL
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let sqls = [
        "DELETE FROM attempts WHERE (event_id, target, run, attempt) IN \
         (SELECT event_id, target, run, attempt FROM attempts WHERE at < ? LIMIT ?)"
            .to_owned(),
        format!(
            "DELETE FROM deliveries WHERE (event_id, target) IN (SELECT event_id, target \
             FROM deliveries WHERE state IN ({states}) AND received_at < ? LIMIT ?)"
        ),
        "DELETE FROM log WHERE id IN (SELECT id FROM log WHERE at < ? LIMIT ?)".to_owned(),
        "DELETE FROM events WHERE rowid IN \
         (SELECT rowid FROM events WHERE received_at < ? LIMIT ?)"
            .to_owned(),
    ];
    sqls.into_iter()
        .map(|sql| Statement::new(sql, vec![cutoff_ms.into(), DELETE_LIMIT.into()]))
        .collect()
}

/// What a cron run deleted, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub rounds: u32,
    pub attempts: u64,
    pub deliveries: u64,
    pub log: u64,
    pub events: u64,
    /// Stopped at [`MAX_ROUNDS`] with old rows left: the next run goes on.
    pub more: bool,
}

impl Tally {
    /// Adds one round's `meta.changes` ([`TABLES`] order); whether to run another round.
    pub fn add(&mut self, deleted: &[u64]) -> bool {
        self.rounds += 1;
        let get = |i: usize| deleted.get(i).copied().unwrap_or(0);
        self.attempts += get(0);
        self.deliveries += get(1);
        self.log += get(2);
        self.events += get(3);
        // A full round means rows may be left; a short one that the table is done.
        let full = deleted.iter().any(|&n| n >= DELETE_LIMIT as u64);
        self.more = full && self.rounds >= MAX_ROUNDS;
        full && self.rounds < MAX_ROUNDS
    }
}
