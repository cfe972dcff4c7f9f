//! What the consumer does with one queue message, decided here and only performed by the edge.
//!
//! Every decision is a [`Plan`]: effects to perform in order (queue sends, dead-letter and
//! unreadable-message records), then a [`Disposition`]. The edge runs the effects and applies
//! the disposition only if every effect succeeded; otherwise it hands the message back to the
//! queue ([`settle`]). So "ack only after the durable write" is one rule in one function, and
//! every path below is a plain unit test.

use crate::core::config::{Config, Target};
use crate::core::deliver::attempts::{self, Attempt};
use crate::core::deliver::enrich::{self, Enrichment, Verdict, FAST_ATTEMPTS};
use crate::core::deliver::lane::Admission;
use crate::core::deliver::message::{
    DeadLetter, Decoded, Delivery, EnrichJob, Job, Unreadable, MAX_MESSAGE_BYTES,
};
use crate::core::deliver::redact;
use crate::core::deliver::retry::{Decision, Outcome, MAX_DELAY_SECONDS};
use crate::core::event::EncodedEvent;

/// How long a message waits when the consumer cannot proceed right now (configuration broken,
/// a newer message version, a failed write). Overridable for tests (`REQUEUE_SECONDS`).
pub const REQUEUE_SECONDS: u32 = 60;

const CRASHED: &str = "the delivery consumer failed on this message repeatedly (dead-letter queue)";

#[derive(Debug, Clone)]
pub enum Effect {
    /// Messages to enqueue now, all or nothing (an enriched event's deliveries).
    Send(Vec<Job>),
    /// One message to enqueue after a delay (the next attempt).
    SendDelayed {
        job: Job,
        delay_seconds: u32,
    },
    /// This message's own body, unchanged, after a delay: held without using up the queue's
    /// `max_retries` (a broken configuration, a message from a newer relay).
    Resend {
        delay_seconds: u32,
        why: Hold,
    },
    PutDeadLetter(DeadLetter),
    PutUnreadable(Unreadable),
}

impl Effect {
    pub fn name(&self) -> &'static str {
        match self {
            Effect::Send(_) => "send",
            Effect::SendDelayed { .. } => "send_delayed",
            Effect::Resend { .. } => "resend",
            Effect::PutDeadLetter(_) => "put_dead_letter",
            Effect::PutUnreadable(_) => "put_unreadable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    ConfigurationInvalid,
    /// The message's schema version, newer than this relay's.
    NewerVersion(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Ack,
    /// Give the message back to the queue, which redelivers it after the delay (and, after
    /// the consumer's `max_retries`, moves it to the dead-letter queue).
    HandBack {
        delay_seconds: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub effects: Vec<Effect>,
    pub disposition: Disposition,
}

impl Plan {
    fn ack_after(effects: Vec<Effect>) -> Plan {
        Plan {
            effects,
            disposition: Disposition::Ack,
        }
    }
}

/// The one rule: a message is acknowledged only when every effect before it succeeded.
/// `failed` is whether any effect failed (the edge stops at the first failure).
pub fn settle(planned: Disposition, failed: bool, requeue_seconds: u32) -> Disposition {
    if failed {
        Disposition::HandBack {
            delay_seconds: requeue_seconds,
        }
    } else {
        planned
    }
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Deliveries,
    /// The dead-letter queue: the consumer failed on this message `max_retries` times.
    DeadLetterQueue,
}

/// The next step for a readable message.
#[derive(Debug)]
pub enum Step {
    /// Nothing to call: the plan is final.
    Settled(Plan),
    /// Make delivery attempt `delivery.attempt` to `target`, then [`after_attempt`].
    Attempt(Delivery),
    /// Call the B2B API at this path, then [`after_enrichment`].
    Enrich(EnrichJob, String),
}

/// First decision on a message: `body` is its text as read from the queue, `message_id` the
/// queue's id for it, `cfg` the configuration (or its errors).
pub fn on_message(
    body: Option<&str>,
    message_id: &str,
    source: Source,
    cfg: Option<&Config>,
    now: i64,
    requeue_seconds: u32,
) -> Step {
    let job = match crate::core::deliver::message::decode(body) {
        Decoded::Job(job) => job,
        Decoded::Newer(version) => {
            // Written by a newer relay during a gradual deployment: that version will read it.
            return Step::Settled(Plan::ack_after(vec![Effect::Resend {
                delay_seconds: requeue_seconds,
                why: Hold::NewerVersion(version),
            }]));
        }
        Decoded::Unreadable(reason) => {
            return Step::Settled(Plan::ack_after(vec![Effect::PutUnreadable(
                Unreadable::new(message_id, source_name(source), body, reason, now),
            )]))
        }
    };
    if source == Source::DeadLetterQueue {
        return Step::Settled(crashed(job, now));
    }
    let Some(cfg) = cfg else {
        // Held, not handed back: handing back would use up max_retries within minutes and turn
        // the whole backlog into dead letters while the operator fixes the configuration.
        return Step::Settled(Plan::ack_after(vec![Effect::Resend {
            delay_seconds: requeue_seconds,
            why: Hold::ConfigurationInvalid,
        }]));
    };
    match job {
        Job::Deliver(d) => {
            if cfg.target(&d.target).is_none() {
                let error = format!("target `{}` is no longer configured", d.target);
                return Step::Settled(Plan::ack_after(vec![Effect::PutDeadLetter(
                    d.into_dead_letter(None, error, now),
                )]));
            }
            Step::Attempt(d)
        }
        Job::Enrich(mut e) => {
            e.first_attempt_at.get_or_insert(now);
            match enrich::plan(&e.event) {
                enrich::Plan::Fetch(path) => Step::Enrich(e, path),
                // Not planned at ingest for such events; handled the same way if it happens.
                enrich::Plan::Resolved(r) => Step::Settled(Plan::ack_after(vec![Effect::Send(
                    deliveries(&e, &e.targets, &r, cfg),
                )])),
            }
        }
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Deliveries => "deliveries",
        Source::DeadLetterQueue => "dead_letter_queue",
    }
}

/// A message from the dead-letter queue: every delivery it stood for becomes a record.
fn crashed(job: Job, now: i64) -> Plan {
    let effects = match job {
        Job::Deliver(d) => vec![Effect::PutDeadLetter(d.into_dead_letter(
            None,
            CRASHED.into(),
            now,
        ))],
        Job::Enrich(e) => e
            .targets
            .iter()
            .map(|t| {
                let mut d = Delivery::first(t, e.event.clone(), None, e.received_at_ms);
                d.attempt = e.attempt;
                d.first_attempt_at = e.first_attempt_at;
                Effect::PutDeadLetter(d.into_dead_letter(None, CRASHED.into(), now))
            })
            .collect(),
    };
    Plan::ack_after(effects)
}

/// What one attempt led to: the plan, and the attempt as the log shows it.
pub fn after_attempt(
    mut d: Delivery,
    target: &Target,
    outcome: Outcome,
    cfg: &Config,
    now: i64,
    random: u32,
    duration_ms: i64,
) -> (Plan, Attempt) {
    // Set here, not when the message is read: a delivery held by its lane was not attempted.
    d.first_attempt_at.get_or_insert(now);
    let outcome = redact::outcome(outcome, target);
    let decision = cfg
        .retry
        .decide(&outcome, d.attempt, target.max_attempts, random);
    let attempt = Attempt {
        msg: "",
        id: d.event.id.clone(),
        target: target.name.clone(),
        attempt: d.attempt,
        outcome: match decision {
            Decision::Delivered => attempts::DELIVERED,
            Decision::Retry { .. } => attempts::RETRY,
            Decision::DeadLetter => attempts::DEAD_LETTER,
        },
        status: outcome.status(),
        error: (!matches!(decision, Decision::Delivered)).then(|| outcome.describe()),
        duration_ms,
        next_retry_seconds: match decision {
            Decision::Retry { delay_seconds } => Some(delay_seconds),
            _ => None,
        },
    };
    let plan =
        match decision {
            Decision::Delivered => Plan::ack_after(Vec::new()),
            Decision::Retry { delay_seconds } => {
                // The next attempt is a new message (the attempt number travels in it); this one
                // is acked only once that send succeeded.
                d.attempt += 1;
                d.last_error = Some(outcome.describe());
                Plan::ack_after(vec![Effect::SendDelayed {
                    job: Job::Deliver(d),
                    delay_seconds,
                }])
            }
            Decision::DeadLetter => Plan::ack_after(vec![Effect::PutDeadLetter(
                d.into_dead_letter(outcome.status(), outcome.describe(), now),
            )]),
        };
    (plan, attempt)
}

/// `last_error` of a delivery dead-lettered because its target is disabled.
pub const TARGET_DISABLED: &str = "target disabled";

/// What a delivery's lane (`deliver::lane`) said before its attempt. Lives for one match:
/// boxing the delivery would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Admitted {
    /// Attempt it after `wait_ms`, then report the result with `ticket`.
    Attempt {
        delivery: Delivery,
        ticket: u64,
        wait_ms: u32,
    },
    /// Not attempted: the plan, and the log entry if it ended the delivery.
    Settled(Plan, Option<Attempt>),
}

/// A held delivery is the same message (same attempt number) re-sent after the delay, which
/// uses no attempt and no queue retry; a disabled target's delivery becomes a dead letter
/// (replayable). Either way the message is acked only after that write.
pub fn on_admission(d: Delivery, admission: Admission, now: i64) -> Admitted {
    match admission {
        Admission::Attempt {
            ticket, wait_ms, ..
        } => Admitted::Attempt {
            delivery: d,
            ticket,
            wait_ms,
        },
        Admission::Hold { delay_seconds, .. } => Admitted::Settled(
            Plan::ack_after(vec![Effect::SendDelayed {
                job: Job::Deliver(d),
                delay_seconds,
            }]),
            None,
        ),
        Admission::DeadLetter => {
            let attempt = Attempt {
                msg: "",
                id: d.event.id.clone(),
                target: d.target.clone(),
                attempt: d.attempt,
                outcome: attempts::DEAD_LETTER,
                status: None,
                error: Some(TARGET_DISABLED.into()),
                duration_ms: 0,
                next_retry_seconds: None,
            };
            let plan = Plan::ack_after(vec![Effect::PutDeadLetter(d.into_dead_letter(
                None,
                TARGET_DISABLED.into(),
                now,
            ))]);
            Admitted::Settled(plan, Some(attempt))
        }
    }
}

/// The enriched event's deliveries to `targets`, less those whose `where` filter now says no
/// (filters on enriched fields are decided here, after enrichment).
fn deliveries(job: &EnrichJob, targets: &[String], e: &Enrichment, cfg: &Config) -> Vec<Job> {
    let enriched = EncodedEvent::new(enrich::apply(&job.event, e));
    targets
        .iter()
        .filter(|t| cfg.target(t).is_none_or(|t| t.accepts(&enriched)))
        .map(|t| {
            Job::Deliver(Delivery::first(
                t,
                enriched.clone(),
                None,
                job.received_at_ms,
            ))
        })
        .collect()
}

/// What an enrichment call led to. Targets that can live without the resource stop waiting
/// after [`FAST_ATTEMPTS`] (`enrichment: "failed"`); those with `enrich_required` wait until
/// their `max_attempts`, then become dead letters.
pub fn after_enrichment(
    mut job: EnrichJob,
    verdict: Verdict,
    cfg: &Config,
    now: i64,
    random: u32,
) -> Plan {
    let (reason, retry_after) = match verdict {
        Verdict::Done(e) => {
            return Plan::ack_after(vec![Effect::Send(deliveries(&job, &job.targets, &e, cfg))])
        }
        Verdict::Retry {
            retry_after,
            reason,
        } => (redact::text(&reason, &[]), retry_after),
    };
    let (required, optional): (Vec<String>, Vec<String>) = job
        .targets
        .iter()
        .cloned()
        .partition(|t| cfg.target(t).is_some_and(|t| t.enrich_required));
    let mut effects = Vec::new();
    let waiting = if job.attempt >= FAST_ATTEMPTS {
        let ready = deliveries(&job, &optional, &Enrichment::Failed(reason.clone()), cfg);
        if !ready.is_empty() {
            effects.push(Effect::Send(ready));
        }
        required
    } else {
        job.targets.clone()
    };
    if waiting.is_empty() {
        return Plan::ack_after(effects);
    }
    let limit = waiting
        .iter()
        .filter_map(|t| cfg.target(t))
        .map(|t| t.max_attempts.max(FAST_ATTEMPTS))
        .max()
        .unwrap_or(FAST_ATTEMPTS);
    if job.attempt >= limit {
        for t in &waiting {
            let mut d = Delivery::first(t, job.event.clone(), None, job.received_at_ms);
            d.attempt = job.attempt;
            d.first_attempt_at = job.first_attempt_at;
            effects.push(Effect::PutDeadLetter(d.into_dead_letter(
                None,
                format!("enrichment failed: {reason}"),
                now,
            )));
        }
    } else {
        let delay_seconds = retry_after
            .map(|s| s.min(MAX_DELAY_SECONDS))
            .unwrap_or_else(|| cfg.retry.delay(job.attempt, random));
        job.targets = waiting;
        job.attempt += 1;
        job.last_error = Some(reason);
        effects.push(Effect::SendDelayed {
            job: Job::Enrich(job),
            delay_seconds,
        });
    }
    Plan::ack_after(effects)
}

/// Messages larger than the queue accepts cannot be re-sent whole; the cap keeps an
/// unreadable record's body within what KV and the admin API handle comfortably.
pub const MAX_UNREADABLE_BODY: usize = MAX_MESSAGE_BYTES;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config;
    use crate::core::deliver::message::{encode, plan_jobs};
    use crate::core::event;
    use crate::core::ingest::callback;

    fn cfg() -> Config {
        let src = |k: &str| {
            match k {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "RETRY_SCHEDULE_SECONDS" => Some("5".to_owned()),
            "TARGETS" => Some(
                r#"[{"name":"crm","url":"https://crm.example/hook?token=sekrit","max_attempts":3,
                     "headers":{"X-Key":"plainvalue"}},
                    {"name":"rich","url":"https://rich.example","enrich":true},
                    {"name":"strict","url":"https://strict.example","enrich_required":true,"max_attempts":5}]"#
                    .to_owned(),
            ),
            _ => None,
        }
        };
        config::load(&src).unwrap()
    }

    fn ev(scope: &str) -> EncodedEvent {
        let body = format!(
            r#"{{"scope":"{scope}","store_id":"1","data":{{"company_id":7}},"hash":"ab","created_at":1,"producer":"stores/abc"}}"#
        );
        event::normalize(callback::parse(body.as_bytes()).unwrap(), 0).into()
    }

    fn text(job: Job) -> String {
        encode(&mut { job }).unwrap()
    }

    fn delivery(target: &str, attempt: u32) -> Delivery {
        let mut d = Delivery::first(target, ev("store/company/created"), None, 0);
        d.attempt = attempt;
        d
    }

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    fn names(plan: &Plan) -> Vec<&'static str> {
        plan.effects.iter().map(Effect::name).collect()
    }

    /// Every plan that acks has a durable write before it, or nothing to write at all
    /// (a delivered attempt). No plan acks a message whose work would otherwise be lost.
    fn acks_only_after_durable_write(plan: &Plan, must_write: bool) {
        assert_eq!(plan.disposition, Disposition::Ack);
        if must_write {
            assert!(!plan.effects.is_empty(), "an ack with nothing written");
        }
    }

    fn attempt_plan(d: Delivery, outcome: Outcome) -> Plan {
        let c = cfg();
        let t = c.target(&d.target).unwrap().clone();
        after_attempt(d, &t, outcome, &c, 100, 0, 5).0
    }

    #[test]
    fn delivered_acks_with_nothing_to_write() {
        let plan = attempt_plan(delivery("crm", 1), status(204));
        acks_only_after_durable_write(&plan, false);
        assert!(plan.effects.is_empty());
    }

    #[test]
    fn a_retry_is_sent_before_the_ack() {
        let plan = attempt_plan(delivery("crm", 1), status(500));
        acks_only_after_durable_write(&plan, true);
        let [Effect::SendDelayed {
            job: Job::Deliver(next),
            delay_seconds,
        }] = plan.effects.as_slice()
        else {
            panic!("{:?}", names(&plan))
        };
        assert_eq!((next.attempt, *delay_seconds), (2, 5));
        assert_eq!(next.last_error.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn the_last_attempt_and_410_write_a_dead_letter_before_the_ack() {
        for (d, outcome) in [
            (delivery("crm", 3), status(500)),
            (delivery("crm", 1), status(410)),
        ] {
            let plan = attempt_plan(d, outcome);
            acks_only_after_durable_write(&plan, true);
            assert_eq!(names(&plan), ["put_dead_letter"]);
        }
    }

    #[test]
    fn an_unknown_target_becomes_a_dead_letter() {
        let body = text(Job::Deliver(delivery("gone", 1)));
        let c = cfg();
        let Step::Settled(plan) =
            on_message(Some(&body), "m1", Source::Deliveries, Some(&c), 9, 60)
        else {
            panic!()
        };
        acks_only_after_durable_write(&plan, true);
        let [Effect::PutDeadLetter(r)] = plan.effects.as_slice() else {
            panic!()
        };
        assert!(r.last_error.contains("`gone` is no longer configured"));
    }

    #[test]
    fn a_broken_configuration_holds_without_using_retries() {
        let body = text(Job::Deliver(delivery("crm", 1)));
        let Step::Settled(plan) = on_message(Some(&body), "m1", Source::Deliveries, None, 9, 60)
        else {
            panic!()
        };
        acks_only_after_durable_write(&plan, true);
        assert!(matches!(
            plan.effects.as_slice(),
            [Effect::Resend {
                delay_seconds: 60,
                why: Hold::ConfigurationInvalid
            }]
        ));
    }

    #[test]
    fn an_unreadable_message_is_kept_not_dropped() {
        for body in [Some("not json"), Some(r#"{"deliver":{"target":1}}"#), None] {
            let Step::Settled(plan) =
                on_message(body, "m7", Source::Deliveries, Some(&cfg()), 9, 60)
            else {
                panic!()
            };
            acks_only_after_durable_write(&plan, true);
            let [Effect::PutUnreadable(u)] = plan.effects.as_slice() else {
                panic!()
            };
            assert_eq!(u.message_id, "m7");
            assert_eq!(u.body.as_deref(), body);
        }
    }

    #[test]
    fn a_newer_message_version_is_held_for_the_newer_relay() {
        let body = r#"{"v":99,"deliver":{"whatever":true}}"#;
        let Step::Settled(plan) =
            on_message(Some(body), "m1", Source::Deliveries, Some(&cfg()), 9, 60)
        else {
            panic!()
        };
        acks_only_after_durable_write(&plan, true);
        assert!(matches!(
            plan.effects.as_slice(),
            [Effect::Resend {
                why: Hold::NewerVersion(99),
                ..
            }]
        ));
    }

    #[test]
    fn the_previous_message_version_is_still_read() {
        // Version 1 had no "v" field.
        let v2 = text(Job::Deliver(delivery("crm", 2)));
        assert!(v2.starts_with(r#"{"v":2,"#), "{v2}");
        let v1 = format!("{{{}", &v2[r#"{"v":2,"#.len()..]);
        let Step::Attempt(d) = on_message(Some(&v1), "m1", Source::Deliveries, Some(&cfg()), 9, 60)
        else {
            panic!()
        };
        assert_eq!(d.attempt, 2);
    }

    #[test]
    fn the_dead_letter_queue_records_every_delivery_it_stood_for() {
        let e = ev("store/company/updated");
        let jobs = plan_jobs(&e, &cfg().targets.iter().collect::<Vec<_>>(), "{}", 0);
        let enrich_job = jobs
            .into_iter()
            .find(|j| matches!(j, Job::Enrich(_)))
            .unwrap();
        for (job, n) in [(Job::Deliver(delivery("crm", 2)), 1), (enrich_job, 2)] {
            let body = text(job);
            // No configuration needed: the record is what matters.
            let Step::Settled(plan) =
                on_message(Some(&body), "m", Source::DeadLetterQueue, None, 9, 60)
            else {
                panic!()
            };
            acks_only_after_durable_write(&plan, true);
            assert_eq!(names(&plan), vec!["put_dead_letter"; n]);
        }
    }

    #[test]
    fn a_failed_effect_hands_the_message_back() {
        assert_eq!(
            settle(Disposition::Ack, true, 60),
            Disposition::HandBack { delay_seconds: 60 }
        );
        assert_eq!(settle(Disposition::Ack, false, 60), Disposition::Ack);
    }

    fn enrich_job(attempt: u32) -> EnrichJob {
        EnrichJob {
            targets: vec!["rich".into(), "strict".into()],
            attempt,
            received_at_ms: 0,
            first_attempt_at: Some(1),
            last_error: None,
            event: ev("store/company/updated"),
        }
    }

    fn retry(reason: &str) -> Verdict {
        Verdict::Retry {
            retry_after: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn enrichment_paths_write_before_they_ack() {
        let c = cfg();
        // Resolved: every target's delivery is enqueued first.
        let done = after_enrichment(enrich_job(1), Verdict::Done(Enrichment::NotFound), &c, 9, 0);
        acks_only_after_durable_write(&done, true);
        let [Effect::Send(jobs)] = done.effects.as_slice() else {
            panic!()
        };
        assert_eq!(jobs.len(), 2);
        // Early failure: everyone waits, one delayed retry.
        let early = after_enrichment(enrich_job(1), retry("HTTP 503"), &c, 9, 0);
        acks_only_after_durable_write(&early, true);
        assert_eq!(names(&early), ["send_delayed"]);
        // After FAST_ATTEMPTS: the optional target goes on without it, the strict one waits.
        let later = after_enrichment(enrich_job(FAST_ATTEMPTS), retry("HTTP 503"), &c, 9, 0);
        assert_eq!(names(&later), ["send", "send_delayed"]);
        // At the strict target's max_attempts: its dead letter, after the optional send.
        let last = after_enrichment(enrich_job(5), retry("HTTP 503"), &c, 9, 0);
        acks_only_after_durable_write(&last, true);
        assert_eq!(names(&last), ["send", "put_dead_letter"]);
    }

    #[test]
    fn a_held_delivery_is_re_sent_unchanged_before_the_ack() {
        let mut d = delivery("crm", 3);
        d.first_attempt_at = None;
        let Admitted::Settled(plan, log) = on_admission(
            d,
            Admission::Hold {
                delay_seconds: 30,
                reason: crate::core::deliver::lane::HoldReason::Open,
            },
            9,
        ) else {
            panic!()
        };
        acks_only_after_durable_write(&plan, true);
        assert!(log.is_none());
        let [Effect::SendDelayed {
            job: Job::Deliver(held),
            delay_seconds: 30,
        }] = plan.effects.as_slice()
        else {
            panic!("{:?}", names(&plan))
        };
        // No attempt used, and none recorded as made.
        assert_eq!((held.attempt, held.first_attempt_at), (3, None));
    }

    #[test]
    fn a_disabled_target_dead_letters_before_the_ack() {
        let Admitted::Settled(plan, Some(log)) =
            on_admission(delivery("crm", 2), Admission::DeadLetter, 9)
        else {
            panic!()
        };
        acks_only_after_durable_write(&plan, true);
        let [Effect::PutDeadLetter(r)] = plan.effects.as_slice() else {
            panic!("{:?}", names(&plan))
        };
        assert_eq!((r.attempts, r.last_error.as_str()), (2, TARGET_DISABLED));
        assert_eq!(log.outcome, attempts::DEAD_LETTER);
        assert_eq!(log.error.as_deref(), Some(TARGET_DISABLED));
        let Admitted::Attempt {
            ticket, wait_ms, ..
        } = on_admission(
            delivery("crm", 1),
            Admission::Attempt {
                ticket: 7,
                probe: true,
                wait_ms: 200,
            },
            9,
        )
        else {
            panic!()
        };
        assert_eq!((ticket, wait_ms), (7, 200));
    }

    #[test]
    fn the_first_attempt_time_is_that_of_the_first_attempt() {
        let mut d = delivery("crm", 1);
        d.first_attempt_at = None;
        let plan = attempt_plan(d, status(500));
        let Effect::SendDelayed {
            job: Job::Deliver(next),
            ..
        } = &plan.effects[0]
        else {
            panic!()
        };
        assert_eq!(next.first_attempt_at, Some(100));
    }

    #[test]
    fn network_errors_keep_no_query_string_or_header_value() {
        let c = cfg();
        let t = c.target("crm").unwrap().clone();
        let outcome = Outcome::Network(
            "fetch to https://crm.example/hook?token=sekrit failed; header plainvalue".into(),
        );
        let (plan, attempt) = after_attempt(delivery("crm", 1), &t, outcome, &c, 9, 0, 1);
        let Effect::SendDelayed {
            job: Job::Deliver(next),
            ..
        } = &plan.effects[0]
        else {
            panic!()
        };
        for text in [
            next.last_error.clone().unwrap(),
            attempt.error.clone().unwrap(),
        ] {
            assert!(!text.contains("sekrit"), "{text}");
            assert!(!text.contains("plainvalue"), "{text}");
            assert!(text.contains("https://crm.example/hook"), "{text}");
        }
    }
}
