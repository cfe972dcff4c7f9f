//! Where a target's lane lives and how it is spoken to. Each target's [`LaneState`] is kept by
//! one Durable Object (`edge::lane`); this module is what the consumer and the admin API send
//! it, what it answers, and what it does with a call ([`serve`], pure). Also which lane queue
//! carries a target's deliveries ([`lane_of`]).
//!
//! Protocol: `POST https://lane/{op}/{target}`, a [`LaneCall`] in plain text
//! ([`LaneCall::body`]); the answer is an [`Answer`] ([`Answer::parse`]). `admit` takes `n` and
//! answers `n` admissions; `record` takes `(ticket, result)` pairs; both also take the
//! isolate's [`Tally`] and answer whether the lane is clear (`deliver::shortcut`); `pause`
//! and `resume` answer whether the mode changed, and the view; `view` the view. The object
//! tells about transitions itself (log line, operational events), so they never travel back.
//! Numbers and lines, not JSON: derived serde readers for these shapes cost several KB of the
//! upload, and both ends are this relay.

use crate::core::deliver::attempts::{Attempt, DELIVERED};
use crate::core::deliver::compact::{self, Reader, Writer};
use crate::core::deliver::lane::{
    Admission, AttemptResult, HoldReason, LaneConfig, LaneState, Transition,
};

/// The queue that carries the deliveries of the target at `index` in `TARGETS`, when `lanes`
/// lane queues exist: lane `1 + index mod lanes`, or 0 (the main queue) without lane queues.
/// More targets than lanes share them, round robin.
pub fn lane_of(index: usize, lanes: usize) -> usize {
    match lanes {
        0 => 0,
        l => 1 + index % l,
    }
}

/// Most deliveries one `admit` asks for: a queue batch holds at most 100 messages.
pub const MAX_ADMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Admit,
    Record,
    Pause,
    Resume,
    View,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "admit" => Op::Admit,
            "record" => Op::Record,
            "pause" => Op::Pause,
            "resume" => Op::Resume,
            "view" => Op::View,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Admit => "admit",
            Op::Record => "record",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::View => "view",
        }
    }
}

const REASONS: [HoldReason; 5] = [
    HoldReason::Open,
    HoldReason::Probing,
    HoldReason::Paused,
    HoldReason::RateLimited,
    HoldReason::InFlight,
];

/// An admission as three numbers: `0 ticket wait_ms` attempt, `1 delay_seconds reason` hold,
/// `2 0 0` dead letter. The caller does not need `probe`, so it does not travel.
fn write_admission(w: &mut Writer, a: &Admission) {
    let n = match *a {
        Admission::Attempt {
            ticket, wait_ms, ..
        } => [0, compact::signed(ticket), i64::from(wait_ms)],
        Admission::Hold {
            delay_seconds,
            reason,
        } => {
            let r = REASONS.iter().position(|x| *x == reason).unwrap_or(0);
            [1, i64::from(delay_seconds), i64::try_from(r).unwrap_or(0)]
        }
        Admission::DeadLetter => [2, 0, 0],
    };
    for x in n {
        w.int(x);
    }
}

/// Anything unknown reads as a plain attempt: the caller fails open, never drops.
fn read_admission(kind: i64, a: i64, b: i64) -> Admission {
    let n32 = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    match kind {
        1 => Admission::Hold {
            delay_seconds: n32(a),
            reason: usize::try_from(b)
                .ok()
                .and_then(|r| REASONS.get(r).copied())
                .unwrap_or(HoldReason::Open),
        },
        2 => Admission::DeadLetter,
        _ => Admission::Attempt {
            ticket: if kind == 0 {
                u64::try_from(a).unwrap_or(0)
            } else {
                0
            },
            probe: false,
            wait_ms: if kind == 0 { n32(b) } else { 0 },
        },
    }
}

/// Attempts an isolate made without asking (the lane was clear) and how many of them were
/// delivered, not yet reported ([`LaneState::tally`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub attempts: u32,
    pub delivered: u32,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.attempts == 0 && self.delivered == 0
    }
}

/// One call. The target's name travels because the object cannot learn its own name from
/// its id; it reads the target's settings from the configuration itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaneCall {
    pub target: String,
    /// `admit`: how many deliveries.
    pub n: u32,
    /// `record`: each attempt's ticket and result.
    pub results: Vec<(u64, AttemptResult)>,
    /// `admit` and `record`: what the isolate did while the lane was clear.
    pub tally: Tally,
}

impl LaneCall {
    /// `admit`: `n attempts delivered` (the last two: the tally). `record`: `attempts
    /// delivered`, then a line per result, `ticket kind error` (kind 0 delivered, 1 failure,
    /// 2 rejected; the error on one line). Otherwise empty.
    pub fn body(&self, op: Op) -> String {
        let mut w = Writer::default();
        if op == Op::Admit {
            w.int(i64::from(self.n));
        }
        w.int(i64::from(self.tally.attempts));
        w.int(i64::from(self.tally.delivered));
        match op {
            Op::Admit => w.finish(),
            Op::Record => {
                let mut out = w.finish();
                for (ticket, r) in &self.results {
                    out.push('\n');
                    let (kind, error) = match r {
                        AttemptResult::Delivered => (0, ""),
                        AttemptResult::Failure { error } => (1, error.as_str()),
                        AttemptResult::Rejected { error } => (2, error.as_str()),
                    };
                    out.push_str(&format!("{ticket} {kind} "));
                    out.extend(error.chars().map(|c| if c == '\n' { ' ' } else { c }));
                }
                out
            }
            Op::Pause | Op::Resume | Op::View => String::new(),
        }
    }

    /// Reads what [`LaneCall::body`] wrote; `None` if it is not that.
    pub fn parse(op: Op, target: &str, body: &str) -> Option<LaneCall> {
        let mut call = LaneCall {
            target: target.to_owned(),
            ..LaneCall::default()
        };
        if matches!(op, Op::Pause | Op::Resume | Op::View) {
            return Some(call);
        }
        let mut lines = body.split('\n');
        let mut r = Reader::new(lines.next()?);
        if op == Op::Admit {
            call.n = r.u32()?;
        }
        call.tally = Tally {
            attempts: r.u32()?,
            delivered: r.u32()?,
        };
        if !r.at_end() {
            return None;
        }
        if op == Op::Record {
            for line in lines {
                let mut parts = line.splitn(3, ' ');
                let ticket = parts.next()?.parse().ok()?;
                let kind = parts.next()?;
                let error = parts.next().unwrap_or_default().to_owned();
                let r = match kind {
                    "0" => AttemptResult::Delivered,
                    "1" => AttemptResult::Failure { error },
                    "2" => AttemptResult::Rejected { error },
                    _ => return None,
                };
                call.results.push((ticket, r));
            }
        }
        Some(call)
    }
}

/// What the object keeps, as one stored value ([`Stored::encode`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub lane: LaneState,
    held: Backlog,
}

/// First token of the stored text: a later layout gets another.
const STORED_VERSION: i64 = 1;

impl Stored {
    /// `1 <lane numbers> <backlog>`, then a newline and the last error text if there is one.
    pub fn encode(&self) -> String {
        let mut w = Writer::default();
        w.int(STORED_VERSION);
        self.lane.encode(&mut w);
        w.int(i64::try_from(self.held.0.len()).unwrap_or(0));
        for (due, n) in &self.held.0 {
            w.int(*due);
            w.int(i64::from(*n));
        }
        let mut text = w.finish();
        if let Some(e) = self.lane.last_error() {
            text.push('\n');
            text.push_str(e);
        }
        text
    }

    /// `None` if `text` is not what [`Stored::encode`] writes.
    pub fn decode(text: &str) -> Option<Stored> {
        let (numbers, error) = match text.split_once('\n') {
            Some((n, e)) => (n, Some(e.to_owned())),
            None => (text, None),
        };
        let mut r = Reader::new(numbers);
        if r.int()? != STORED_VERSION {
            return None;
        }
        let lane = LaneState::decode(&mut r, error)?;
        let n = r.len(BACKLOG_BUCKETS)?;
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            held.push((r.int()?, r.u32()?));
        }
        r.at_end().then_some(Stored {
            lane,
            held: Backlog(held),
        })
    }
}

/// Most due-time buckets kept for the backlog estimate; beyond it the earliest two merge.
const BACKLOG_BUCKETS: usize = 64;

/// Held deliveries not yet due back, counted by the second they are due: a hold is a delayed
/// re-send of the message, so this is about the backlog waiting in the queue for the target.
/// A message that comes back leaves its bucket (it is due) and, held again, joins a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Backlog(Vec<(i64, u32)>);

impl Backlog {
    fn prune(&mut self, now_s: i64) {
        self.0.retain(|b| b.0 > now_s);
    }

    fn add(&mut self, due_s: i64, now_s: i64) {
        self.prune(now_s);
        match self.0.binary_search_by_key(&due_s, |b| b.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(1),
            Err(i) => self.0.insert(i, (due_s, 1)),
        }
        if self.0.len() > BACKLOG_BUCKETS {
            // The earliest come back first; counting them a little longer costs least.
            let (_, n) = self.0.remove(0);
            self.0[0].1 = self.0[0].1.saturating_add(n);
        }
    }

    fn count(&self, now_s: i64) -> u32 {
        self.0
            .iter()
            .filter(|b| b.0 > now_s)
            .fold(0u32, |n, b| n.saturating_add(b.1))
    }
}

/// The object's answer as the caller reads it: a line of numbers (`admit`: three per
/// admission, then `1`/`0` for whether the lane is clear; `record`: that flag alone;
/// `pause`/`resume`: `1`/`0` for whether the mode changed), then the view's JSON if any.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub admissions: Vec<Admission>,
    /// `pause`/`resume`: the mode changed (and the object told about it).
    pub changed: bool,
    /// `admit`/`record`: the lane is clear ([`LaneState::clear`]).
    pub clear: bool,
    /// JSON, passed on as is by the admin API.
    pub view: Option<String>,
}

impl Answer {
    pub fn parse(op: Op, text: &str) -> Answer {
        let (numbers, view) = match text.split_once('\n') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (text, None),
        };
        let mut answer = Answer {
            view,
            ..Answer::default()
        };
        let mut r = Reader::new(numbers);
        let mut n = Vec::new();
        while let Some(x) = r.int() {
            n.push(x);
        }
        if matches!(op, Op::Admit | Op::Record) && n.len() % 3 == 1 {
            answer.clear = n.pop() == Some(1);
        }
        if let [x] = n.as_slice() {
            answer.changed = *x == 1;
        }
        for a in n.chunks_exact(3) {
            answer.admissions.push(read_admission(a[0], a[1], a[2]));
        }
        answer
    }
}

/// A served call: the answer's text, whether the state must be written back, and the
/// transitions to tell about.
#[derive(Debug)]
pub struct Served {
    pub body: String,
    pub changed: bool,
    pub transitions: Vec<Transition>,
}

fn view(stored: &Stored, cfg: &LaneConfig, now_ms: i64) -> String {
    let mut v = stored.lane.view(cfg, now_ms);
    v.held_backlog = stored.held.count(now_ms.div_euclid(1000));
    // Plain structs of numbers and strings: serializing cannot fail.
    serde_json::to_string(&v).unwrap_or_default()
}

/// One call to a target's lane, as the Durable Object serves it.
pub fn serve(
    stored: &mut Stored,
    op: Op,
    call: &LaneCall,
    cfg: &LaneConfig,
    now_ms: i64,
) -> Served {
    let mut w = Writer::default();
    let mut transitions = Vec::new();
    let mut shown = None;
    let tallied = !call.tally.is_empty();
    if tallied {
        stored
            .lane
            .tally(call.tally.attempts, call.tally.delivered, now_ms);
    }
    let changed = match op {
        Op::Admit => {
            let now_s = now_ms.div_euclid(1000);
            let n = call.n.min(MAX_ADMIT);
            for _ in 0..n {
                let a = stored.lane.admit(cfg, now_ms);
                if let Admission::Hold { delay_seconds, .. } = a {
                    stored.held.add(now_s + i64::from(delay_seconds), now_s);
                }
                write_admission(&mut w, &a);
            }
            n > 0 || tallied
        }
        Op::Record => {
            for (ticket, result) in &call.results {
                transitions.extend(stored.lane.record(cfg, *ticket, result.clone(), now_ms));
            }
            !call.results.is_empty() || tallied
        }
        Op::Pause | Op::Resume => {
            let t = match op {
                Op::Pause => stored.lane.pause(now_ms),
                _ => stored.lane.resume(now_ms),
            };
            let changed = t.is_some();
            w.int(i64::from(changed));
            transitions.extend(t);
            shown = Some(view(stored, cfg, now_ms));
            changed
        }
        Op::View => {
            shown = Some(view(stored, cfg, now_ms));
            false
        }
    };
    if matches!(op, Op::Admit | Op::Record) {
        // After the calls' own effects: whether the isolate may stop asking.
        w.int(i64::from(stored.lane.clear(cfg)));
    }
    let mut body = w.finish();
    if let Some(v) = shown {
        body.push('\n');
        body.push_str(&v);
    }
    Served {
        body,
        changed,
        transitions,
    }
}

/// The lane's view of an attempt, from what the consumer logs about it (its status and its
/// redacted error): the same split as [`crate::core::deliver::lane::classify`].
pub fn attempt_result(a: &Attempt) -> AttemptResult {
    let error = a.error.clone().unwrap_or_default();
    match a.status {
        _ if a.outcome == DELIVERED => AttemptResult::Delivered,
        Some(200..=299) => AttemptResult::Delivered,
        Some(429 | 500..=599) | None => AttemptResult::Failure { error },
        Some(_) => AttemptResult::Rejected { error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::deliver::attempts::{DEAD_LETTER, RETRY};
    use crate::core::deliver::lane::{parse_lane_config, Mode, TransitionKind};
    use crate::core::deliver::retry::Outcome;
    use serde_json::{json, Value};

    const T0: i64 = 1_700_000_000_000;

    fn cfg(v: Value) -> LaneConfig {
        let Value::Object(m) = v else { unreachable!() };
        parse_lane_config(&m).unwrap()
    }

    fn named(n: u32) -> LaneCall {
        LaneCall {
            target: "crm".into(),
            n,
            results: Vec::new(),
            tally: Tally::default(),
        }
    }

    fn view_of(s: &Served) -> Value {
        serde_json::from_str(Answer::parse(Op::View, &s.body).view.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn targets_spread_over_the_lanes_and_share_them_beyond_seven() {
        assert_eq!(lane_of(0, 0), 0);
        assert_eq!(lane_of(5, 0), 0);
        let lanes: Vec<usize> = (0..9).map(|i| lane_of(i, 7)).collect();
        assert_eq!(lanes, [1, 2, 3, 4, 5, 6, 7, 1, 2]);
        assert_eq!(lane_of(3, 2), 2);
    }

    #[test]
    fn ops_round_trip() {
        for op in [Op::Admit, Op::Record, Op::Pause, Op::Resume, Op::View] {
            assert_eq!(Op::parse(op.as_str()), Some(op));
        }
        assert_eq!(Op::parse("reset"), None);
    }

    #[test]
    fn admit_then_record_over_the_wire() {
        let c = cfg(json!({"breaker_failures": 2}));
        let mut s = Stored::default();
        let body = named(3).body(Op::Admit);
        assert_eq!(body, "3 0 0");
        let call = LaneCall::parse(Op::Admit, "crm", &body).unwrap();
        let served = serve(&mut s, Op::Admit, &call, &c, T0);
        assert!(served.changed);
        assert_eq!(served.body, "0 1 0 0 2 0 0 3 0 1", "three attempts; clear");
        let tickets: Vec<u64> = Answer::parse(Op::Admit, &served.body)
            .admissions
            .iter()
            .map(|a| match a {
                Admission::Attempt { ticket, .. } => *ticket,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tickets, [1, 2, 3]);
        // The caller's encoding of the results, read back by the object.
        let results = LaneCall {
            results: vec![
                (1, AttemptResult::Delivered),
                (
                    2,
                    AttemptResult::Failure {
                        error: "HTTP 503".into(),
                    },
                ),
                (
                    3,
                    AttemptResult::Failure {
                        error: "timed out".into(),
                    },
                ),
            ],
            ..named(0)
        };
        let text = results.body(Op::Record);
        assert_eq!(text, "0 0\n1 0 \n2 1 HTTP 503\n3 1 timed out");
        let back = LaneCall::parse(Op::Record, "crm", &text).unwrap();
        assert_eq!(back, results);
        let served = serve(&mut s, Op::Record, &back, &c, T0 + 5);
        assert_eq!(served.body, "0", "not clear any more");
        let t = served.transitions;
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].kind, t[0].mode), (TransitionKind::Opened, Mode::Open));
        assert_eq!(t[0].last_error.as_deref(), Some("timed out"));
        // Open: the next admissions are holds, and the backlog counts them until they are due.
        let served = serve(&mut s, Op::Admit, &named(4), &c, T0 + 6);
        assert!(Answer::parse(Op::Admit, &served.body)
            .admissions
            .iter()
            .all(|a| matches!(
                a,
                Admission::Hold {
                    delay_seconds: 30,
                    reason: HoldReason::Open
                }
            )));
        let v = serve(&mut s, Op::View, &named(0), &c, T0 + 7);
        assert!(!v.changed);
        let view = view_of(&v);
        assert_eq!(view["mode"], "open");
        assert_eq!(view["held_backlog"], 4);
        assert_eq!(view["consecutive_failures"], 2);
        let v = serve(&mut s, Op::View, &named(0), &c, T0 + 40_000);
        assert_eq!(view_of(&v)["held_backlog"], 0);
    }

    #[test]
    fn every_admission_and_result_survives_the_wire() {
        let all = [
            Admission::Attempt {
                ticket: 9,
                probe: false,
                wait_ms: 600,
            },
            Admission::Hold {
                delay_seconds: 60,
                reason: HoldReason::Paused,
            },
            Admission::Hold {
                delay_seconds: 2,
                reason: HoldReason::RateLimited,
            },
            Admission::Hold {
                delay_seconds: 5,
                reason: HoldReason::Probing,
            },
            Admission::Hold {
                delay_seconds: 1,
                reason: HoldReason::InFlight,
            },
            Admission::DeadLetter,
        ];
        let mut w = Writer::default();
        for a in &all {
            write_admission(&mut w, a);
        }
        assert_eq!(Answer::parse(Op::Admit, &w.finish()).admissions, all);
        // Unknown kinds from a newer object: attempted, never dropped.
        assert_eq!(
            Answer::parse(Op::Admit, "7 1 1").admissions,
            [Admission::Attempt {
                ticket: 0,
                probe: false,
                wait_ms: 0
            }]
        );
        let results = LaneCall {
            results: vec![
                (4, AttemptResult::Delivered),
                (
                    5,
                    AttemptResult::Failure {
                        error: "x y\nz".into(),
                    },
                ),
                (
                    6,
                    AttemptResult::Rejected {
                        error: "HTTP 400".into(),
                    },
                ),
            ],
            ..named(0)
        };
        let back = LaneCall::parse(Op::Record, "crm", &results.body(Op::Record)).unwrap();
        assert_eq!(
            back.results[1].1,
            AttemptResult::Failure {
                error: "x y z".into()
            }
        );
        assert_eq!(back.results[2], results.results[2]);
        for bad in ["0 0\nx 0 ", "0 0\n1 9 oops", "1 0 ", ""] {
            assert_eq!(LaneCall::parse(Op::Record, "crm", bad), None, "{bad}");
        }
        assert_eq!(LaneCall::parse(Op::Admit, "crm", "many"), None);
    }

    #[test]
    fn a_tally_travels_with_either_call_and_only_counts() {
        let c = cfg(json!({"breaker_failures": 2}));
        let tally = Tally {
            attempts: 12,
            delivered: 11,
        };
        let admit = LaneCall {
            n: 2,
            tally,
            ..named(0)
        };
        assert_eq!(admit.body(Op::Admit), "2 12 11");
        assert_eq!(
            LaneCall::parse(Op::Admit, "crm", "2 12 11"),
            Some(admit.clone())
        );
        let record = LaneCall {
            results: vec![(0, AttemptResult::Delivered)],
            tally,
            ..named(0)
        };
        let text = record.body(Op::Record);
        assert_eq!(text, "12 11\n0 0 ");
        assert_eq!(
            LaneCall::parse(Op::Record, "crm", &text),
            Some(record.clone())
        );
        assert_eq!(LaneCall::parse(Op::Record, "crm", "12\n"), None);
        let mut s = Stored::default();
        // Failing now: late successes change neither the mode nor the failure count.
        let fail = LaneCall {
            results: vec![(
                0,
                AttemptResult::Failure {
                    error: "HTTP 500".into(),
                },
            )],
            ..named(0)
        };
        serve(&mut s, Op::Record, &fail, &c, T0);
        let served = serve(&mut s, Op::Admit, &admit, &c, T0 + 1);
        let a = Answer::parse(Op::Admit, &served.body);
        assert_eq!((a.admissions.len(), a.clear), (2, false));
        assert_eq!(s.lane.mode(), Mode::Failing);
        let counts = s.lane.counts();
        assert_eq!((counts.attempts, counts.delivered), (14, 11));
        let v = view_of(&serve(&mut s, Op::View, &named(0), &c, T0 + 2));
        assert_eq!(v["consecutive_failures"], 1);
        assert_eq!(v["recent_delivered"], 11);
        assert!(v["last_success_at"].is_string());
        // A tally alone is worth storing.
        let only = LaneCall { tally, ..named(0) };
        assert!(serve(&mut s, Op::Record, &only, &c, T0 + 3).changed);
    }

    #[test]
    fn pause_and_resume_answer_their_transition_once() {
        let c = LaneConfig::default();
        let mut s = Stored::default();
        let p = serve(&mut s, Op::Pause, &named(0), &c, T0);
        assert!(p.changed);
        assert_eq!(p.transitions[0].kind, TransitionKind::Paused);
        assert!(Answer::parse(Op::Pause, &p.body).changed);
        assert_eq!(view_of(&p)["mode"], "paused");
        let again = serve(&mut s, Op::Pause, &named(0), &c, T0 + 1);
        assert!(!again.changed && !Answer::parse(Op::Pause, &again.body).changed);
        assert!(again.transitions.is_empty());
        let held = serve(&mut s, Op::Admit, &named(2), &c, T0 + 2);
        assert!(Answer::parse(Op::Admit, &held.body)
            .admissions
            .iter()
            .all(|a| matches!(
                a,
                Admission::Hold {
                    reason: HoldReason::Paused,
                    ..
                }
            )));
        let r = serve(&mut s, Op::Resume, &named(0), &c, T0 + 3);
        assert_eq!(r.transitions[0].kind, TransitionKind::Resumed);
        assert_eq!(s.lane.mode(), Mode::Healthy);
        // The state survives the object's storage: what it writes, it reads back the same.
        assert_eq!(Stored::decode(&s.encode()), Some(s.clone()));
    }

    #[test]
    fn the_stored_text_keeps_the_backlog_and_any_error_text() {
        let c = cfg(json!({"breaker_failures": 1}));
        let mut s = Stored::default();
        assert_eq!(Stored::decode(&s.encode()), Some(s.clone()));
        assert!(serve(&mut s, Op::Admit, &named(1), &c, T0).changed);
        let fail = LaneCall {
            results: vec![(
                1,
                AttemptResult::Failure {
                    error: "a\nb c".into(),
                },
            )],
            ..named(0)
        };
        serve(&mut s, Op::Record, &fail, &c, T0 + 1);
        serve(&mut s, Op::Admit, &named(3), &c, T0 + 2);
        assert_eq!(s.held.count(T0 / 1000), 3);
        let text = s.encode();
        assert!(text.starts_with("1 2 "), "{text}");
        assert!(text.ends_with("\na\nb c"), "{text}");
        assert_eq!(Stored::decode(&text), Some(s));
        for bad in ["", "2 0", "1 0 0", "{\"lane\":{}}"] {
            assert_eq!(Stored::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn admit_is_capped_at_one_queue_batch() {
        let mut s = Stored::default();
        let served = serve(&mut s, Op::Admit, &named(5000), &LaneConfig::default(), T0);
        assert_eq!(
            Answer::parse(Op::Admit, &served.body).admissions.len(),
            MAX_ADMIT as usize
        );
    }

    #[test]
    fn the_backlog_estimate_stays_small() {
        let mut b = Backlog::default();
        for i in 0..1_000 {
            b.add(100 + i, 0);
        }
        assert_eq!(b.0.len(), BACKLOG_BUCKETS);
        assert_eq!(b.count(0), 1_000);
        // The merged ones count until the later due time: an estimate, never an undercount
        // of those not yet back.
        assert_eq!(b.count(1_035), 1_000);
        assert_eq!(b.count(1_036), 63);
        b.add(5_000, 1_200);
        assert_eq!(b.count(1_200), 1);
    }

    fn logged(outcome: &'static str, status: Option<u16>, error: Option<&str>) -> Attempt {
        Attempt {
            msg: "",
            id: "e".into(),
            target: "crm".into(),
            attempt: 1,
            outcome,
            status,
            error: error.map(str::to_owned),
            duration_ms: 1,
            next_retry_seconds: None,
        }
    }

    #[test]
    fn attempt_results_follow_the_breaker_rules() {
        use crate::core::deliver::lane::classify;
        let status = |code| Outcome::Status {
            code,
            retry_after: None,
        };
        let cases = [
            (logged(DELIVERED, Some(204), None), status(204)),
            (logged(RETRY, Some(503), Some("HTTP 503")), status(503)),
            (logged(RETRY, Some(429), Some("HTTP 429")), status(429)),
            (
                logged(DEAD_LETTER, Some(410), Some("HTTP 410")),
                status(410),
            ),
            (logged(RETRY, Some(404), Some("HTTP 404")), status(404)),
            (logged(RETRY, None, Some("timed out")), Outcome::Timeout),
        ];
        for (a, outcome) in cases {
            assert_eq!(attempt_result(&a), classify(&outcome), "{a:?}");
        }
        assert_eq!(
            attempt_result(&logged(RETRY, None, Some("network error: reset"))),
            AttemptResult::Failure {
                error: "network error: reset".into()
            }
        );
    }
}
