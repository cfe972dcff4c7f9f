//! What one isolate may decide about a lane without asking its Durable Object. Asking costs a
//! request and a storage write per consumer batch and per target, which was most of the
//! consumer's CPU beyond its I/O floor (BENCHMARKS.md). A lane that answers "clear"
//! ([`LaneState::clear`](crate::core::deliver::lane::LaneState::clear): healthy, no failure
//! since the last success, no rate limit, no in-flight cap) lets the isolate attempt that
//! target's deliveries for [`CLEAR_MS`] without asking, and tally what it did; the tally
//! travels with the next call, which is made at the latest [`FLUSH_MS`] after the first
//! thing tallied, at the end of a batch. Any attempt that is not delivered is reported at
//! once, and the isolate asks again from then on.
//!
//! The price, said in the README: a pause (or another isolate's failures) reaches an isolate
//! that was told "clear" within [`CLEAR_MS`], and a lane's counts and last success lag by up
//! to [`FLUSH_MS`] while deliveries flow (a lull keeps the last tally until that isolate's
//! next batch for the target). The isolate that serves a pause forgets at once.

use crate::core::deliver::lane::{Admission, AttemptResult};
use crate::core::deliver::lanes::{LaneCall, Tally};

/// How long a "clear" answer holds in the isolate that got it.
pub const CLEAR_MS: i64 = 1_000;
/// Longest a tally waits for a batch that reports it.
pub const FLUSH_MS: i64 = 1_000;

#[derive(Debug, Default)]
struct Entry {
    target: String,
    clear_until_ms: i64,
    tally: Tally,
    /// When the tally got its first attempt.
    tally_since_ms: i64,
}

impl Entry {
    /// Before adding to the tally: an empty one starts its clock now.
    fn tallying(&mut self, now_ms: i64) -> &mut Tally {
        if self.tally.is_empty() {
            self.tally_since_ms = now_ms;
        }
        &mut self.tally
    }
}

/// Every lane this isolate has heard from (a handful of targets: a list is enough).
#[derive(Debug, Default)]
pub struct Shortcuts {
    lanes: Vec<Entry>,
}

impl Shortcuts {
    pub const fn new() -> Shortcuts {
        Shortcuts { lanes: Vec::new() }
    }

    fn entry(&mut self, target: &str) -> &mut Entry {
        let i = match self.lanes.iter().position(|e| e.target == target) {
            Some(i) => i,
            None => {
                self.lanes.push(Entry {
                    target: target.to_owned(),
                    ..Entry::default()
                });
                self.lanes.len() - 1
            }
        };
        &mut self.lanes[i]
    }

    /// `n` plain attempts if the lane said "clear" less than [`CLEAR_MS`] ago (counted in the
    /// tally); otherwise the tally, to send with the call that asks the object.
    pub fn admit(&mut self, target: &str, n: u32, now_ms: i64) -> Result<Vec<Admission>, Tally> {
        let e = self.entry(target);
        if now_ms >= e.clear_until_ms || n == 0 {
            return Err(std::mem::take(&mut e.tally));
        }
        let tally = e.tallying(now_ms);
        tally.attempts = tally.attempts.saturating_add(n);
        let plain = Admission::Attempt {
            ticket: 0,
            probe: false,
            wait_ms: 0,
        };
        Ok(vec![plain; usize::try_from(n).unwrap_or(0)])
    }

    /// What the object answered: clear or not.
    pub fn learn(&mut self, target: &str, clear: bool, now_ms: i64) {
        self.entry(target).clear_until_ms = if clear { now_ms + CLEAR_MS } else { 0 };
    }

    /// A batch's results for `target`: the call to make now, if any. While the lane is clear
    /// and every attempt was delivered, they join the tally (their tickets hold no lease: a
    /// clear lane has no probe and no in-flight cap), and the tally goes once it is
    /// [`FLUSH_MS`] old. Otherwise everything goes now, and a result other than delivered
    /// ends the shortcut.
    pub fn report(
        &mut self,
        target: &str,
        mut results: Vec<(u64, AttemptResult)>,
        now_ms: i64,
    ) -> Option<LaneCall> {
        let e = self.entry(target);
        let n = results.len();
        let delivered = results
            .iter()
            .filter(|(_, r)| *r == AttemptResult::Delivered)
            .count();
        if delivered < n {
            e.clear_until_ms = 0;
        } else if now_ms < e.clear_until_ms {
            let tally = e.tallying(now_ms);
            tally.delivered = tally
                .delivered
                .saturating_add(u32::try_from(n).unwrap_or(0));
            if now_ms - e.tally_since_ms < FLUSH_MS {
                return None;
            }
            results = Vec::new();
        }
        let tally = std::mem::take(&mut e.tally);
        (!results.is_empty() || !tally.is_empty()).then(|| LaneCall {
            target: target.to_owned(),
            results,
            tally,
            ..LaneCall::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::deliver::lane::{LaneConfig, Mode};
    use crate::core::deliver::lanes::{serve, Answer, Op, Stored};

    const T0: i64 = 1_700_000_000_000;

    fn failure() -> AttemptResult {
        AttemptResult::Failure {
            error: "HTTP 503".into(),
        }
    }

    /// The consumer's loop against a real lane: admit (shortcut or object), deliver with the
    /// given results, report. Returns how many calls reached the object.
    struct Isolate {
        s: Shortcuts,
        calls: u32,
    }

    impl Isolate {
        fn call(&mut self, lane: &mut Stored, op: Op, c: &LaneCall, now: i64) -> Answer {
            self.calls += 1;
            let cfg = LaneConfig::default();
            let text = LaneCall::parse(op, &c.target, &c.body(op)).unwrap();
            let a = Answer::parse(op, &serve(lane, op, &text, &cfg, now).body);
            self.s.learn("crm", a.clear, now);
            a
        }

        fn batch(&mut self, lane: &mut Stored, results: &[AttemptResult], now: i64) {
            let n = u32::try_from(results.len()).unwrap();
            let admitted = match self.s.admit("crm", n, now) {
                Ok(a) => a,
                Err(tally) => {
                    let c = LaneCall {
                        target: "crm".into(),
                        n,
                        tally,
                        ..LaneCall::default()
                    };
                    self.call(lane, Op::Admit, &c, now).admissions
                }
            };
            let out = admitted
                .iter()
                .zip(results)
                .map(|(a, r)| match a {
                    Admission::Attempt { ticket, .. } => (*ticket, r.clone()),
                    other => panic!("{other:?}"),
                })
                .collect();
            if let Some(c) = self.s.report("crm", out, now + 50) {
                self.call(lane, Op::Record, &c, now + 50);
            }
        }
    }

    #[test]
    fn a_healthy_lane_is_asked_about_once_a_second_and_counts_every_attempt() {
        let mut lane = Stored::default();
        let mut i = Isolate {
            s: Shortcuts::default(),
            calls: 0,
        };
        // 40 batches of 6 over 2 s.
        for k in 0..40 {
            i.batch(
                &mut lane,
                &[const { AttemptResult::Delivered }; 6],
                T0 + k * 50,
            );
        }
        assert!(i.calls <= 6, "{} calls", i.calls);
        // What is still tallied reaches the object with the next call.
        let c = LaneCall {
            target: "crm".into(),
            tally: i.s.admit("crm", 0, T0 + 3_000).unwrap_err(),
            ..LaneCall::default()
        };
        i.call(&mut lane, Op::Record, &c, T0 + 3_000);
        let counts = lane.lane.counts();
        assert_eq!((counts.attempts, counts.delivered), (240, 240));
        assert_eq!(lane.lane.mode(), Mode::Healthy);
    }

    #[test]
    fn a_failure_is_reported_at_once_and_ends_the_shortcut() {
        let mut lane = Stored::default();
        let mut i = Isolate {
            s: Shortcuts::default(),
            calls: 0,
        };
        i.batch(&mut lane, &[const { AttemptResult::Delivered }; 2], T0);
        assert_eq!(i.calls, 1, "admitted by the object; its deliveries tallied");
        i.batch(
            &mut lane,
            &[const { AttemptResult::Delivered }; 2],
            T0 + 100,
        );
        let before = i.calls;
        i.batch(&mut lane, &[AttemptResult::Delivered, failure()], T0 + 200);
        assert_eq!(i.calls, before + 1, "the failure went at once");
        let counts = lane.lane.counts();
        assert_eq!(
            (counts.attempts, counts.delivered, counts.failed),
            (6, 5, 1)
        );
        assert_eq!(lane.lane.mode(), Mode::Failing);
        // Not clear any more: every batch asks and reports.
        i.batch(&mut lane, &[failure()], T0 + 300);
        assert_eq!(i.calls, before + 3);
        assert!(i.s.admit("crm", 1, T0 + 400).is_err());
    }

    #[test]
    fn a_pause_served_here_takes_effect_at_once() {
        let mut s = Shortcuts::new();
        s.learn("crm", true, T0);
        assert!(s.admit("crm", 1, T0 + 10).is_ok());
        // The edge's pause and resume.
        s.learn("crm", false, T0 + 15);
        assert!(s.admit("crm", 1, T0 + 20).is_err());
        // And a "clear" lasts CLEAR_MS at most.
        s.learn("crm", true, T0 + 30);
        assert!(s.admit("crm", 1, T0 + 30 + CLEAR_MS).is_err());
        // Other targets are their own.
        assert!(s.admit("erp", 1, T0 + 40).is_err());
    }

    #[test]
    fn a_lane_with_a_rate_limit_or_cap_is_never_clear() {
        use crate::core::deliver::lane::parse_lane_config;
        use serde_json::json;
        for v in [json!({"rate_limit": "10/s"}), json!({"max_in_flight": 2})] {
            let serde_json::Value::Object(m) = v else {
                unreachable!()
            };
            let cfg = parse_lane_config(&m).unwrap();
            let mut lane = Stored::default();
            let c = LaneCall {
                target: "crm".into(),
                n: 1,
                ..LaneCall::default()
            };
            let a = Answer::parse(Op::Admit, &serve(&mut lane, Op::Admit, &c, &cfg, T0).body);
            assert!(!a.clear);
            assert_eq!(a.admissions.len(), 1);
        }
    }
}
