//! What the relay records, as statements for one D1 `batch` each.
//!
//! Rows of one kind travel as a single JSON array bound once and read with `json_each`: a
//! consumer batch of any size is two statements and one bound parameter each, far from D1's
//! limit of 100 parameters per statement and 1,000 queries per invocation.

use super::sql::{DUPLICATE, INSERT_ATTEMPTS, INSERT_EVENT, INSERT_LOG, UPSERT_DELIVERIES};
use super::{cut, Bind, State, Statement, MAX_JSON_BYTES};
use crate::core::deliver::attempts::Attempt;
use crate::core::deliver::consume::{Disposition, Effect, Plan};
use crate::core::deliver::lane::HoldReason;
use crate::core::deliver::message::{DeadLetter, Job};
use crate::core::event::EncodedEvent;
use crate::core::time::parse_rfc3339;
use serde::Serialize;

/// Error and reason texts are cut to this: evidence, not a copy of a target's error page.
pub const MAX_TEXT_BYTES: usize = 500;
/// Log `detail` JSON above this is replaced by a note and its start.
pub const MAX_DETAIL_BYTES: usize = 4 * 1024;

/// `log.kind` values the relay writes itself; operational events use their CloudEvent type
/// (`com.b2brelay.target.opened`, …).
pub const LOG_REPLAY: &str = "replay";
pub const LOG_RECOVER: &str = "recover";
pub const LOG_QUARANTINE: &str = "quarantine";
pub const LOG_DEAD_LETTER: &str = "dead_letter";

/// A value of a row bound as JSON.
#[derive(Clone, Copy)]
enum V<'a> {
    S(&'a str),
    I(i64),
    Null,
}

fn s(v: Option<&str>) -> V<'_> {
    v.map_or(V::Null, V::S)
}

fn i(v: Option<impl Into<i64>>) -> V<'static> {
    v.map_or(V::Null, |n| V::I(n.into()))
}

/// Rows of one kind as one JSON array of arrays, for `json_each`. Written by hand: a serde
/// tuple serializer per row shape cost about 4 KB of wasm; strings still go through
/// serde_json's escaping.
struct Rows(String);

impl Rows {
    fn new() -> Rows {
        Rows(String::from("["))
    }

    fn row(&mut self, values: &[V<'_>]) -> &mut Rows {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('[');
        for (k, v) in values.iter().enumerate() {
            if k > 0 {
                self.0.push(',');
            }
            match *v {
                V::S(text) => push_str(&mut self.0, text),
                // itoa, not `write!`: the formatting machinery was most of a row's cost.
                V::I(n) => self.0.push_str(itoa::Buffer::new().format(n)),
                V::Null => self.0.push_str("null"),
            }
        }
        self.0.push(']');
        self
    }

    fn bind(mut self) -> Bind {
        self.0.push(']');
        Bind::Text(self.0)
    }
}

fn push_str(out: &mut String, text: &str) {
    // Ids, names and outcomes need no escape: copied between quotes, as serde_json writes them,
    // without its temporary string. The rest goes through its escaping (a `&str` always
    // serializes).
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
    }
}

/// A JSON array of strings (the routed targets).
fn strings(items: &[&str]) -> String {
    let mut out = String::from("[");
    for (k, t) in items.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_str(&mut out, t);
    }
    out.push(']');
    out
}

fn text(s: Option<&str>) -> Option<&str> {
    s.map(|s| cut(s, MAX_TEXT_BYTES).0)
}

/// One row of [`UPSERT_DELIVERIES`](super::sql::UPSERT_DELIVERIES):
/// `[event_id, target, state, run, attempts, last_status, last_error, reason, at]`.
#[allow(clippy::too_many_arguments)]
fn delivery<'a>(
    rows: &mut Rows,
    id: &'a str,
    target: &'a str,
    state: State,
    run: i64,
    attempts: u32,
    status: Option<u16>,
    error: Option<&'a str>,
    reason: Option<&'a str>,
    at: i64,
) {
    rows.row(&[
        V::S(id),
        V::S(target),
        V::S(state.as_str()),
        V::I(run),
        V::I(attempts.into()),
        i(status),
        s(error),
        s(reason),
        V::I(at),
    ]);
}

fn upsert_deliveries(rows: Rows) -> Statement {
    Statement::new(UPSERT_DELIVERIES, vec![rows.bind()])
}

/// The `events` row of an accepted event (kept as first written if it exists already).
/// `received_at_ms` must be the value its deliveries carry (`Delivery::received_at_ms`).
pub fn record_event(event: &EncodedEvent, targets: &[&str], received_at_ms: i64) -> Statement {
    let (json, truncated) = cut(event.json(), MAX_JSON_BYTES);
    let time = parse_rfc3339(&event.time).and_then(|s| s.checked_mul(1000));
    Statement::new(
        INSERT_EVENT,
        vec![
            event.id.as_str().into(),
            event.ty.as_str().into(),
            event.storehash.as_str().into(),
            event.subject.as_deref().into(),
            time.into(),
            received_at_ms.into(),
            Bind::Text(strings(targets)),
            json.into(),
            i64::from(truncated).into(),
        ],
    )
}

/// At ingest, once the event is accepted: its row and a `pending` state per routed target.
pub fn record_accepted(
    event: &EncodedEvent,
    targets: &[&str],
    received_at_ms: i64,
) -> Vec<Statement> {
    let mut out = vec![record_event(event, targets, received_at_ms)];
    if !targets.is_empty() {
        let mut rows = Rows::new();
        for t in targets {
            let at = received_at_ms;
            delivery(
                &mut rows,
                &event.id,
                t,
                State::Pending,
                at,
                0,
                None,
                None,
                None,
                at,
            );
        }
        out.push(upsert_deliveries(rows));
    }
    out
}

/// A duplicate callback of a recorded event. One of an event no longer (or never) in history
/// changes nothing.
pub fn record_duplicate(event_id: &str, at_ms: i64) -> Statement {
    Statement::new(DUPLICATE, vec![at_ms.into(), event_id.into()])
}

/// One attempt the consumer made, with what the log line lacks.
#[derive(Debug, Clone, Copy)]
pub struct AttemptRecord<'a> {
    pub attempt: &'a Attempt,
    /// The Delivery's `received_at_ms`: which run (ingest or replay) the attempt belongs to.
    pub run: i64,
    /// When the attempt finished.
    pub at_ms: i64,
}

/// After a consumer batch: every attempt row, and the state each leaves (`delivered`,
/// `failed`, `dead_letter`). Empty when nothing was attempted.
pub fn record_attempts(records: &[AttemptRecord<'_>]) -> Vec<Statement> {
    if records.is_empty() {
        return Vec::new();
    }
    let mut rows = Rows::new();
    let mut states = Rows::new();
    for r in records {
        let a = r.attempt;
        let error = text(a.error.as_deref());
        rows.row(&[
            V::S(&a.id),
            V::S(&a.target),
            V::I(r.run),
            V::I(a.attempt.into()),
            V::S(a.outcome),
            i(a.status),
            s(error),
            V::I(a.duration_ms.max(0)),
            V::I(r.at_ms),
            i(a.next_retry_seconds),
        ]);
        if let Some(state) = State::after(a.outcome) {
            let (id, t) = (&a.id, &a.target);
            delivery(
                &mut states,
                id,
                t,
                state,
                r.run,
                a.attempt,
                a.status,
                error,
                None,
                r.at_ms,
            );
        }
    }
    vec![
        Statement::new(INSERT_ATTEMPTS, vec![rows.bind()]),
        upsert_deliveries(states),
    ]
}

/// A state set without an attempt: `held` (paused, breaker open) or `filtered`.
#[derive(Debug, Clone, Copy)]
pub struct StateChange<'a> {
    pub event_id: &'a str,
    pub target: &'a str,
    pub state: State,
    /// The Delivery's `received_at_ms`.
    pub run: i64,
    /// Attempts made so far in this run: the message's `attempt - 1`.
    pub attempts: u32,
    /// Why, for the operator (`target paused`, `breaker open`, `filter: …`).
    pub reason: Option<&'a str>,
    pub at_ms: i64,
}

/// Held and filtered deliveries of a consumer batch, in one statement; `None` if there are none.
pub fn record_states(changes: &[StateChange<'_>]) -> Option<Statement> {
    if changes.is_empty() {
        return None;
    }
    let mut rows = Rows::new();
    for c in changes {
        let reason = text(c.reason);
        let (id, t, st) = (c.event_id, c.target, c.state);
        delivery(
            &mut rows, id, t, st, c.run, c.attempts, None, None, reason, c.at_ms,
        );
    }
    Some(upsert_deliveries(rows))
}

/// Deliveries queued again (`/admin/dead-letters/replay`: [`LOG_REPLAY`]; `/admin/recover`:
/// [`LOG_RECOVER`]): each back to `pending` in a new run, and a log entry each. `now_ms` must
/// be the `received_at_ms` of the deliveries just enqueued, or their attempts would count
/// as an older run than this one. For a dead letter whose event may predate history, run
/// [`record_event`] first.
pub fn record_replays(kind: &str, items: &[(&str, &str)], now_ms: i64) -> Vec<Statement> {
    if items.is_empty() {
        return Vec::new();
    }
    let mut rows = Rows::new();
    let mut log = Rows::new();
    for (id, t) in items {
        let why = Some(kind);
        delivery(
            &mut rows,
            id,
            t,
            State::Pending,
            now_ms,
            0,
            None,
            None,
            why,
            now_ms,
        );
        log.row(&[V::S(kind), V::I(now_ms), V::S(t), V::S(id), V::S("{}")]);
    }
    vec![
        upsert_deliveries(rows),
        Statement::new(INSERT_LOG, vec![log.bind()]),
    ]
}

#[derive(Serialize)]
struct DeadLetterDetail<'a> {
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_status: Option<u16>,
    last_error: &'a str,
    first_attempt_at: &'a str,
    last_attempt_at: &'a str,
}

/// A dead letter stored in KV (by the consumer after its last attempt, or by the dead-letter
/// queue's consumer): its state, and a log entry with its summary (never the event body).
/// `run`: the Delivery's `received_at_ms`.
pub fn record_dead_letter(d: &DeadLetter, run: i64, at_ms: i64) -> Vec<Statement> {
    let last_error = text(Some(&d.last_error));
    let mut rows = Rows::new();
    let (id, t, st) = (&d.event_id, &d.target, State::DeadLetter);
    delivery(
        &mut rows,
        id,
        t,
        st,
        run,
        d.attempts,
        d.last_status,
        last_error,
        None,
        at_ms,
    );
    let detail = DeadLetterDetail {
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: last_error.unwrap_or_default(),
        first_attempt_at: &d.first_attempt_at,
        last_attempt_at: &d.last_attempt_at,
    };
    vec![
        upsert_deliveries(rows),
        log_entry(
            LOG_DEAD_LETTER,
            at_ms,
            Some(&d.target),
            Some(&d.event_id),
            &detail,
        ),
    ]
}

/// One log entry. `detail` is the caller's: names, counts, reasons, never a secret or a
/// header value. Over [`MAX_DETAIL_BYTES`] it is replaced by `{"cut": "<its start>"}`.
pub fn log_entry(
    kind: &str,
    at_ms: i64,
    target: Option<&str>,
    event_id: Option<&str>,
    detail: &impl Serialize,
) -> Statement {
    let mut json = serde_json::to_string(detail).unwrap_or_else(|_| "{}".into());
    if json.len() > MAX_DETAIL_BYTES {
        let mut cut_json = String::from("{\"cut\":");
        push_str(&mut cut_json, cut(&json, MAX_DETAIL_BYTES - 64).0);
        cut_json.push('}');
        json = cut_json;
    }
    let mut row = Rows::new();
    row.row(&[V::S(kind), V::I(at_ms), s(target), s(event_id), V::S(&json)]);
    Statement::new(INSERT_LOG, vec![row.bind()])
}

/// The targets of an enrichment job that its plan neither delivers to, retries nor
/// dead-letters: their `where` filter said no once the resource was in (`filtered`).
pub fn filtered_out<'a>(targets: &'a [String], plan: &Plan) -> Vec<&'a str> {
    let mut kept: Vec<&str> = Vec::new();
    for effect in &plan.effects {
        match effect {
            Effect::Send(jobs) => kept.extend(jobs.iter().filter_map(|j| match j {
                Job::Deliver(d) => Some(d.target.as_str()),
                Job::Enrich(_) => None,
            })),
            Effect::SendDelayed {
                job: Job::Enrich(e),
                ..
            } => kept.extend(e.targets.iter().map(String::as_str)),
            Effect::PutDeadLetter(d) => kept.push(&d.target),
            _ => {}
        }
    }
    // Handed back: nothing was decided about any target.
    if plan.disposition != Disposition::Ack {
        return Vec::new();
    }
    targets
        .iter()
        .map(String::as_str)
        .filter(|t| !kept.contains(t))
        .collect()
}

/// Why a lane holds a delivery, as history's `reason` says it.
pub fn hold_reason(why: HoldReason) -> &'static str {
    match why {
        HoldReason::Open => "breaker open",
        HoldReason::Probing => "breaker probing",
        HoldReason::Paused => "target paused",
        HoldReason::RateLimited => "rate limit",
        HoldReason::InFlight => "in-flight limit",
    }
}

#[cfg(test)]
mod strings_test {
    proptest::proptest! {
        /// The copy without escaping writes what serde_json writes, for any string.
        #[test]
        fn a_bound_string_is_written_as_serde_json_writes_it(text in "\\PC*|[\"\\\\\u{0}-\u{1f}a]*") {
            let mut out = String::new();
            super::push_str(&mut out, &text);
            proptest::prop_assert_eq!(out, serde_json::to_string(&text).unwrap());
        }

        /// A row of integers, strings and nulls reads back as the JSON serde_json writes.
        #[test]
        fn a_row_is_written_as_serde_json_writes_it(n in proptest::num::i64::ANY, m: u32, text in "\\PC{0,8}") {
            let mut rows = super::Rows::new();
            rows.row(&[super::V::I(n), super::V::S(&text), super::V::Null, super::V::I(i64::from(m))]);
            rows.row(&[super::V::I(-n.saturating_abs())]);
            let super::Bind::Text(out) = rows.bind() else {
                return Err(proptest::test_runner::TestCaseError::fail("not text"));
            };
            let want = serde_json::json!([[n, text, null, m], [-n.saturating_abs()]]);
            proptest::prop_assert_eq!(out, want.to_string());
        }
    }
}
