//! Where a target's lane lives and how it is spoken to. Each target's [`LaneState`] is kept by
//! one Durable Object (`edge::lane`); this module is what the consumer and the admin API send
//! it, what it answers, and what it does with a call ([`serve`], pure). Also which lane queue
//! carries a target's deliveries ([`lane_of`]).
//!
//! Protocol: `POST https://lane/{op}` with a [`LaneCall`] as JSON; the answer is an [`Answer`].
//! `admit` takes `n` and answers `n` admissions; `record` takes `(ticket, result)` pairs;
//! `pause` and `resume` answer whether the mode changed and the view; `view` the view. The
//! object itself tells about transitions (log line, operational events), so they never travel
//! back. Admissions and results travel as numbers and tuples ([`WireAdmission`],
//! [`WireResult`]), not serde's enum forms: the derived enum readers cost several KB of wasm.

use crate::core::deliver::attempts::{Attempt, DELIVERED};
use crate::core::deliver::lane::{
    Admission, AttemptResult, HoldReason, LaneConfig, LaneState, LaneView, Transition,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An admission on the wire: `[0, ticket, wait_ms]` attempt, `[1, delay_seconds, reason]` hold,
/// `[2, 0, 0]` dead letter. The caller does not need `probe`, so it does not travel.
pub type WireAdmission = [u64; 3];

const REASONS: [HoldReason; 5] = [
    HoldReason::Open,
    HoldReason::Probing,
    HoldReason::Paused,
    HoldReason::RateLimited,
    HoldReason::InFlight,
];

pub fn admission_to_wire(a: &Admission) -> WireAdmission {
    match *a {
        Admission::Attempt {
            ticket, wait_ms, ..
        } => [0, ticket, u64::from(wait_ms)],
        Admission::Hold {
            delay_seconds,
            reason,
        } => {
            let r = REASONS.iter().position(|x| *x == reason).unwrap_or(0);
            [1, u64::from(delay_seconds), r as u64]
        }
        Admission::DeadLetter => [2, 0, 0],
    }
}

/// Anything unknown reads as a plain attempt: the caller fails open, never drops.
pub fn admission_from_wire(w: WireAdmission) -> Admission {
    let n32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    match w {
        [1, delay, r] => Admission::Hold {
            delay_seconds: n32(delay),
            reason: usize::try_from(r)
                .ok()
                .and_then(|r| REASONS.get(r).copied())
                .unwrap_or(HoldReason::Open),
        },
        [2, _, _] => Admission::DeadLetter,
        [0, ticket, wait] => Admission::Attempt {
            ticket,
            probe: false,
            wait_ms: n32(wait),
        },
        _ => Admission::Attempt {
            ticket: 0,
            probe: false,
            wait_ms: 0,
        },
    }
}

/// A result on the wire: `(ticket, 0 delivered | 1 failure | 2 rejected, error text)`.
pub type WireResult = (u64, u8, String);

pub fn result_to_wire(ticket: u64, r: AttemptResult) -> WireResult {
    match r {
        AttemptResult::Delivered => (ticket, 0, String::new()),
        AttemptResult::Failure { error } => (ticket, 1, error),
        AttemptResult::Rejected { error } => (ticket, 2, error),
    }
}

pub fn result_from_wire((ticket, kind, error): WireResult) -> (u64, AttemptResult) {
    let r = match kind {
        0 => AttemptResult::Delivered,
        2 => AttemptResult::Rejected { error },
        _ => AttemptResult::Failure { error },
    };
    (ticket, r)
}

/// The body of every call. The target's name is in it because the object cannot learn its
/// own name from its id; it reads the target's settings from the configuration itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LaneCall {
    pub target: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<WireResult>,
}

/// What the object keeps, as one stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stored {
    pub lane: LaneState,
    #[serde(skip_serializing_if = "Backlog::is_empty")]
    held: Backlog,
}

/// Most due-time buckets kept for the backlog estimate; beyond it the earliest two merge.
const BACKLOG_BUCKETS: usize = 64;

/// Held deliveries not yet due back, counted by the second they are due: a hold is a delayed
/// re-send of the message, so this is about the backlog waiting in the queue for the target.
/// A message that comes back leaves its bucket (it is due) and, held again, joins a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Backlog(Vec<(i64, u32)>);

impl Backlog {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

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

/// A lane as `GET /admin/targets` shows it: the lane's view and the backlog estimate.
#[derive(Serialize)]
struct View {
    #[serde(flatten)]
    lane: LaneView,
    /// About how many deliveries are waiting in the queue, held (not attempted).
    held_backlog: u32,
}

#[derive(Serialize)]
struct Reply {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    admissions: Vec<WireAdmission>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    view: Option<View>,
}

/// The object's answer as the caller reads it; the view stays JSON text for the admin answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Answer {
    pub admissions: Vec<WireAdmission>,
    /// `pause`/`resume`: the mode changed (and the object told about it).
    pub changed: bool,
    pub view: Option<Box<RawValue>>,
}

/// A served call: the answer's JSON, whether the state must be written back, and the
/// transitions to tell about.
#[derive(Debug)]
pub struct Served {
    pub body: String,
    pub changed: bool,
    pub transitions: Vec<Transition>,
}

fn view(stored: &Stored, cfg: &LaneConfig, now_ms: i64) -> View {
    View {
        lane: stored.lane.view(cfg, now_ms),
        held_backlog: stored.held.count(now_ms.div_euclid(1000)),
    }
}

/// One call to a target's lane, as the Durable Object serves it.
pub fn serve(
    stored: &mut Stored,
    op: Op,
    call: &LaneCall,
    cfg: &LaneConfig,
    now_ms: i64,
) -> Served {
    let mut reply = Reply {
        admissions: Vec::new(),
        changed: false,
        view: None,
    };
    let mut transitions = Vec::new();
    let changed = match op {
        Op::Admit => {
            let now_s = now_ms.div_euclid(1000);
            for _ in 0..call.n.min(MAX_ADMIT) {
                let a = stored.lane.admit(cfg, now_ms);
                if let Admission::Hold { delay_seconds, .. } = a {
                    stored.held.add(now_s + i64::from(delay_seconds), now_s);
                }
                reply.admissions.push(admission_to_wire(&a));
            }
            !reply.admissions.is_empty()
        }
        Op::Record => {
            for w in &call.results {
                let (ticket, result) = result_from_wire(w.clone());
                transitions.extend(stored.lane.record(cfg, ticket, result, now_ms));
            }
            !call.results.is_empty()
        }
        Op::Pause | Op::Resume => {
            let t = match op {
                Op::Pause => stored.lane.pause(now_ms),
                _ => stored.lane.resume(now_ms),
            };
            reply.changed = t.is_some();
            transitions.extend(t);
            reply.view = Some(view(stored, cfg, now_ms));
            reply.changed
        }
        Op::View => {
            reply.view = Some(view(stored, cfg, now_ms));
            false
        }
    };
    Served {
        // Plain structs of numbers and strings: serializing cannot fail.
        body: serde_json::to_string(&reply).unwrap_or_default(),
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
    use crate::core::deliver::lane::{parse_lane_config, HoldReason, Mode, TransitionKind};
    use crate::core::deliver::retry::Outcome;
    use serde_json::{json, Value};

    const T0: i64 = 1_700_000_000_000;

    fn cfg(v: Value) -> LaneConfig {
        let Value::Object(m) = v else { unreachable!() };
        parse_lane_config(&m).unwrap()
    }

    fn call(v: Value) -> LaneCall {
        serde_json::from_value(v).unwrap()
    }

    fn answer(s: &Served) -> Answer {
        serde_json::from_str(&s.body).unwrap()
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

    fn admissions(s: &Served) -> Vec<Admission> {
        answer(s)
            .admissions
            .into_iter()
            .map(admission_from_wire)
            .collect()
    }

    #[test]
    fn admit_then_record_over_the_wire() {
        let c = cfg(json!({"breaker_failures": 2}));
        let mut s = Stored::default();
        let served = serve(
            &mut s,
            Op::Admit,
            &call(json!({"target": "crm", "n": 3})),
            &c,
            T0,
        );
        assert!(served.changed);
        assert_eq!(served.body, r#"{"admissions":[[0,1,0],[0,2,0],[0,3,0]]}"#);
        let tickets: Vec<u64> = admissions(&served)
            .iter()
            .map(|a| match a {
                Admission::Attempt { ticket, .. } => *ticket,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tickets, [1, 2, 3]);
        // The caller's encoding of the results, read back by the object.
        let results = LaneCall {
            target: "crm".into(),
            n: 0,
            results: vec![
                result_to_wire(1, AttemptResult::Delivered),
                result_to_wire(
                    2,
                    AttemptResult::Failure {
                        error: "HTTP 503".into(),
                    },
                ),
                result_to_wire(
                    3,
                    AttemptResult::Failure {
                        error: "timed out".into(),
                    },
                ),
            ],
        };
        let text = serde_json::to_string(&results).unwrap();
        assert_eq!(
            text,
            r#"{"target":"crm","results":[[1,0,""],[2,1,"HTTP 503"],[3,1,"timed out"]]}"#
        );
        let served = serve(
            &mut s,
            Op::Record,
            &serde_json::from_str(&text).unwrap(),
            &c,
            T0 + 5,
        );
        assert_eq!(served.body, "{}");
        let t = served.transitions;
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].kind, t[0].mode), (TransitionKind::Opened, Mode::Open));
        assert_eq!(t[0].last_error.as_deref(), Some("timed out"));
        // Open: the next admissions are holds, and the backlog counts them until they are due.
        let served = serve(
            &mut s,
            Op::Admit,
            &call(json!({"target": "crm", "n": 4})),
            &c,
            T0 + 6,
        );
        assert!(admissions(&served).iter().all(|a| matches!(
            a,
            Admission::Hold {
                delay_seconds: 30,
                reason: HoldReason::Open
            }
        )));
        let v = serve(
            &mut s,
            Op::View,
            &call(json!({"target": "crm"})),
            &c,
            T0 + 7,
        );
        assert!(!v.changed);
        let view: Value = serde_json::from_str(answer(&v).view.unwrap().get()).unwrap();
        assert_eq!(view["mode"], "open");
        assert_eq!(view["held_backlog"], 4);
        assert_eq!(view["consecutive_failures"], 2);
        let v = serve(
            &mut s,
            Op::View,
            &call(json!({"target": "crm"})),
            &c,
            T0 + 40_000,
        );
        let view: Value = serde_json::from_str(answer(&v).view.unwrap().get()).unwrap();
        assert_eq!(view["held_backlog"], 0);
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
        for a in all {
            assert_eq!(admission_from_wire(admission_to_wire(&a)), a);
        }
        // Unknown kinds from a newer object: attempted, never dropped.
        assert!(matches!(
            admission_from_wire([7, 1, 1]),
            Admission::Attempt { ticket: 0, .. }
        ));
        for r in [
            AttemptResult::Delivered,
            AttemptResult::Failure { error: "x".into() },
            AttemptResult::Rejected {
                error: "HTTP 400".into(),
            },
        ] {
            assert_eq!(result_from_wire(result_to_wire(4, r.clone())), (4, r));
        }
    }

    #[test]
    fn pause_and_resume_answer_their_transition_once() {
        let c = LaneConfig::default();
        let mut s = Stored::default();
        let c0 = call(json!({"target": "crm"}));
        let p = serve(&mut s, Op::Pause, &c0, &c, T0);
        assert!(p.changed);
        assert_eq!(p.transitions[0].kind, TransitionKind::Paused);
        let a = answer(&p);
        assert!(a.changed);
        let view: Value = serde_json::from_str(a.view.unwrap().get()).unwrap();
        assert_eq!(view["mode"], "paused");
        let again = serve(&mut s, Op::Pause, &c0, &c, T0 + 1);
        assert!(!again.changed && !answer(&again).changed);
        assert!(again.transitions.is_empty());
        let held = serve(
            &mut s,
            Op::Admit,
            &call(json!({"target": "crm", "n": 2})),
            &c,
            T0 + 2,
        );
        assert!(admissions(&held).iter().all(|a| matches!(
            a,
            Admission::Hold {
                reason: HoldReason::Paused,
                ..
            }
        )));
        let r = serve(&mut s, Op::Resume, &c0, &c, T0 + 3);
        assert_eq!(r.transitions[0].kind, TransitionKind::Resumed);
        assert_eq!(s.lane.mode(), Mode::Healthy);
        // The state survives the object's storage: what it writes, it reads back the same.
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Stored>(&text).unwrap(), s);
        assert_eq!(
            serde_json::from_str::<Stored>("{}").unwrap(),
            Stored::default()
        );
    }

    #[test]
    fn admit_is_capped_at_one_queue_batch() {
        let mut s = Stored::default();
        let served = serve(
            &mut s,
            Op::Admit,
            &call(json!({"target": "crm", "n": 5000})),
            &LaneConfig::default(),
            T0,
        );
        assert_eq!(answer(&served).admissions.len(), MAX_ADMIT as usize);
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
        let cases = [
            (
                logged(DELIVERED, Some(204), None),
                Outcome::Status {
                    code: 204,
                    retry_after: None,
                },
            ),
            (
                logged(RETRY, Some(503), Some("HTTP 503")),
                Outcome::Status {
                    code: 503,
                    retry_after: None,
                },
            ),
            (
                logged(RETRY, Some(429), Some("HTTP 429")),
                Outcome::Status {
                    code: 429,
                    retry_after: None,
                },
            ),
            (
                logged(DEAD_LETTER, Some(410), Some("HTTP 410")),
                Outcome::Status {
                    code: 410,
                    retry_after: None,
                },
            ),
            (
                logged(RETRY, Some(404), Some("HTTP 404")),
                Outcome::Status {
                    code: 404,
                    retry_after: None,
                },
            ),
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
