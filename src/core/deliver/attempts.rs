//! What the consumer logs about its delivery attempts (`LOG_DELIVERIES`).
//!
//! By default one line per consumer batch lists every attempt in it: Workers Logs counts (and
//! bills) every line, and under `wrangler dev` each `console.log` costs the runtime more CPU than
//! the relay's own work on an event (BENCHMARKS.md), so a line per attempt made logging the
//! biggest cost of a fan-out.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One `{"msg":"deliveries",…}` line per consumer batch with every attempt in it.
    #[default]
    Batch,
    /// One `{"msg":"delivery",…}` line per attempt.
    Each,
    /// One `{"msg":"delivery",…}` line per attempt that did not deliver; successes unlogged.
    Failures,
}

impl Mode {
    pub const NAMES: &'static str = "batch, each or failures";

    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "" | "batch" => Some(Mode::Batch),
            "each" => Some(Mode::Each),
            "failures" => Some(Mode::Failures),
            _ => None,
        }
    }
}

pub const DELIVERED: &str = "delivered";
pub const RETRY: &str = "retry";
pub const DEAD_LETTER: &str = "dead_letter";

/// One attempt: ids, names and outcomes, never a secret, signature or URL.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// `"delivery"` on a line of its own; empty (left out) inside a batch line.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub msg: &'static str,
    pub id: String,
    pub target: String,
    pub attempt: u32,
    /// [`DELIVERED`], [`RETRY`] or [`DEAD_LETTER`].
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_retry_seconds: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The batch line. Zero counts are left out, so `wrangler tail --search dead_letter` finds only
/// batches that dead-lettered something.
#[derive(Serialize)]
struct BatchLine<'a> {
    msg: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    delivered: u32,
    #[serde(skip_serializing_if = "is_zero")]
    retry: u32,
    #[serde(skip_serializing_if = "is_zero")]
    dead_letter: u32,
    attempts: &'a [Attempt],
}

/// The attempts of one consumer batch, and the lines to write about them.
#[derive(Debug, Default)]
pub struct Log {
    mode: Mode,
    attempts: Vec<Attempt>,
}

impl Log {
    pub fn new(mode: Mode) -> Log {
        Log {
            mode,
            attempts: Vec::new(),
        }
    }

    /// Takes one attempt; returns the line to write now, if the mode writes one per attempt.
    pub fn record(&mut self, mut attempt: Attempt) -> Option<String> {
        match self.mode {
            Mode::Batch => {
                attempt.msg = "";
                self.attempts.push(attempt);
                None
            }
            Mode::Failures if attempt.outcome == DELIVERED => None,
            Mode::Each | Mode::Failures => {
                attempt.msg = "delivery";
                serde_json::to_string(&attempt).ok()
            }
        }
    }

    /// The batch line, once the batch is done (mode `batch`, when it attempted anything).
    pub fn finish(self) -> Option<String> {
        if self.attempts.is_empty() {
            return None;
        }
        let count = |outcome: &str| {
            let n = self
                .attempts
                .iter()
                .filter(|a| a.outcome == outcome)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        serde_json::to_string(&BatchLine {
            msg: "deliveries",
            delivered: count(DELIVERED),
            retry: count(RETRY),
            dead_letter: count(DEAD_LETTER),
            attempts: &self.attempts,
        })
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn attempt(id: &str, outcome: &'static str, status: Option<u16>) -> Attempt {
        Attempt {
            msg: "",
            id: id.into(),
            target: "crm".into(),
            attempt: 2,
            outcome,
            status,
            error: (outcome != DELIVERED).then(|| format!("HTTP {}", status.unwrap_or(0))),
            duration_ms: 7,
            next_retry_seconds: (outcome == RETRY).then_some(60),
        }
    }

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).unwrap_or(Value::Null)
    }

    #[test]
    fn batch_mode_writes_one_line_with_every_attempt_and_the_counts() {
        let mut log = Log::new(Mode::Batch);
        assert_eq!(log.record(attempt("a", DELIVERED, Some(200))), None);
        assert_eq!(log.record(attempt("b", RETRY, Some(503))), None);
        assert_eq!(log.record(attempt("c", DELIVERED, Some(204))), None);
        let line = log.finish().unwrap_or_default();
        assert_eq!(
            parsed(&line),
            json!({
                "msg": "deliveries", "delivered": 2, "retry": 1,
                "attempts": [
                    {"id": "a", "target": "crm", "attempt": 2, "outcome": "delivered", "status": 200, "duration_ms": 7},
                    {"id": "b", "target": "crm", "attempt": 2, "outcome": "retry", "status": 503,
                     "error": "HTTP 503", "duration_ms": 7, "next_retry_seconds": 60},
                    {"id": "c", "target": "crm", "attempt": 2, "outcome": "delivered", "status": 204, "duration_ms": 7},
                ]
            })
        );
        assert!(
            !line.contains("dead_letter"),
            "zero counts left out: {line}"
        );
    }

    #[test]
    fn batch_mode_writes_nothing_for_a_batch_without_attempts() {
        assert_eq!(Log::new(Mode::Batch).finish(), None);
    }

    #[test]
    fn each_mode_writes_a_line_per_attempt_and_none_at_the_end() {
        let mut log = Log::new(Mode::Each);
        let ok = log.record(attempt("a", DELIVERED, Some(200)));
        let dead = log.record(attempt("b", DEAD_LETTER, None));
        assert_eq!(
            parsed(ok.as_deref().unwrap_or_default()),
            json!({"msg": "delivery", "id": "a", "target": "crm", "attempt": 2,
                   "outcome": "delivered", "status": 200, "duration_ms": 7})
        );
        assert_eq!(
            parsed(dead.as_deref().unwrap_or_default())["outcome"],
            "dead_letter"
        );
        assert_eq!(log.finish(), None);
    }

    #[test]
    fn failures_mode_writes_only_what_did_not_deliver() {
        let mut log = Log::new(Mode::Failures);
        assert_eq!(log.record(attempt("a", DELIVERED, Some(200))), None);
        let retry = log.record(attempt("b", RETRY, Some(500)));
        assert_eq!(parsed(retry.as_deref().unwrap_or_default())["id"], "b");
        assert_eq!(log.finish(), None);
    }

    #[test]
    fn modes_by_name() {
        assert_eq!(Mode::parse(""), Some(Mode::Batch));
        assert_eq!(Mode::parse(" batch "), Some(Mode::Batch));
        assert_eq!(Mode::parse("each"), Some(Mode::Each));
        assert_eq!(Mode::parse("failures"), Some(Mode::Failures));
        assert_eq!(Mode::parse("all"), None);
        assert_eq!(Mode::parse("Each"), None);
    }
}
