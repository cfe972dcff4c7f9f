//! Queue consumer: reads each message, asks the core what to do (`core::deliver::consume`),
//! performs the one call it needs (a delivery or a B2B API lookup), runs the plan's effects in
//! order and settles the message: acked only if every effect succeeded, otherwise handed back.
//! It never returns an error (workers-rs would panic). One log line per batch, or per attempt
//! (`LOG_DELIVERIES`).

use crate::core::config::Config;
use crate::core::deliver::attempts;
use crate::core::deliver::consume::{
    self, after_attempt, after_enrichment, on_admission, on_message, Admitted, Disposition, Effect,
    Hold, Plan, Source, Step,
};
use crate::core::deliver::enrich::Verdict;
use crate::core::deliver::lane::{Admission, AttemptResult};
use crate::core::deliver::lanes::attempt_result;
use crate::core::deliver::message::Delivery;
use crate::core::deliver::outbound;
use crate::core::deliver::retry::Outcome;
use crate::edge::fetch::{self, Answer, Body};
use crate::edge::metrics::{self, Point};
use crate::edge::{b2b_api, concurrent, env, history, kv, lane, log, queue};
use js_sys::{Object, Reflect};
use serde::Serialize;
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{Message, MessageBatch};
use worker::{Delay, Env, Method};

struct Batch<'a> {
    env: &'a Env,
    cfg: Option<&'a Config>,
    source: Source,
    requeue_seconds: u32,
    log: RefCell<attempts::Log>,
    /// Written in one D1 batch when the batch is done.
    history: RefCell<history::Batch>,
}

/// The queue's own message and batch objects, called directly: worker's wrappers build the
/// retry options through serde_wasm_bindgen, ~5 KB of wasm for one number.
fn message_id(m: &Message) -> String {
    m.id().map(String::from).unwrap_or_default()
}

fn hand_back(m: &Message, delay_seconds: u32) {
    let options = Object::new();
    let _ = Reflect::set(
        &options,
        &"delaySeconds".into(),
        &JsValue::from_f64(f64::from(delay_seconds)),
    );
    if let Err(e) = m.retry(options.into()) {
        log::problem(
            "message not handed back",
            &worker::Error::from(e).to_string(),
        );
    }
}

pub async fn consume(batch: MessageBatch, env: Env) {
    let dead_letter_queue = env::var_or(&env, "DEAD_LETTER_QUEUE", "b2b-relay-deliveries-dlq");
    let queue_name: String = batch.queue().map(String::from).unwrap_or_default();
    let source = if queue_name == dead_letter_queue {
        Source::DeadLetterQueue
    } else {
        Source::Deliveries
    };
    let messages: Vec<Message> = batch
        .messages()
        .map(|all| all.iter().map(JsCast::unchecked_into).collect())
        .unwrap_or_default();
    let loaded = env::config(&env);
    let cfg = loaded
        .as_ref()
        .as_ref()
        .ok()
        .filter(|_| !env::fault(&env, "consume_config_broken"));
    let b = Batch {
        env: &env,
        cfg,
        source,
        requeue_seconds: env::var_or(&env, "REQUEUE_SECONDS", "")
            .parse()
            .unwrap_or(consume::REQUEUE_SECONDS),
        log: RefCell::new(attempts::Log::new(
            cfg.map_or_else(attempts::Mode::default, |c| c.log_deliveries),
        )),
        history: RefCell::new(history::Batch::new(&env)),
    };
    // Read every message first: a target's deliveries are admitted by its lane together,
    // one call per target per batch, and their results reported together afterwards.
    let mut items: Vec<Item> = messages.into_iter().filter_map(|m| read(&b, m)).collect();
    lane_admit(&b, &mut items).await;
    let results = concurrent::map(items, concurrent::CONNECTIONS, |item| {
        let b = &b;
        async move { one(b, item).await }
    })
    .await;
    if let Some(line) = b.log.into_inner().finish() {
        log::write(&line);
    }
    lane::report(&env, results.into_iter().flatten().collect()).await;
    b.history.into_inner().finish(&env).await;
}

/// A message read, with its next step and (for a delivery) what its lane admitted.
struct Item {
    m: Message,
    body: Option<String>,
    step: Step,
    admission: Option<Admission>,
}

fn read(b: &Batch<'_>, m: Message) -> Option<Item> {
    if b.source == Source::Deliveries && env::fault(b.env, "consume_hand_back") {
        // Test-only: the consumer "crashes" on this message, so it ends in the dead-letter queue.
        hand_back(&m, b.requeue_seconds);
        return None;
    }
    let body = m.body().ok().and_then(|b| b.as_string());
    let step = on_message(
        body.as_deref(),
        &message_id(&m),
        b.source,
        b.cfg,
        env::now_ms() / 1000,
        b.requeue_seconds,
    );
    Some(Item {
        m,
        body,
        step,
        admission: None,
    })
}

/// One `admit` per target with deliveries in the batch.
async fn lane_admit(b: &Batch<'_>, items: &mut [Item]) {
    let mut targets: Vec<(&str, usize)> = Vec::new();
    for item in items.iter() {
        if let Step::Attempt(d) = &item.step {
            match targets.iter_mut().find(|(t, _)| *t == d.target) {
                Some((_, n)) => *n += 1,
                None => targets.push((&d.target, 1)),
            }
        }
    }
    // One after another: a lane's batch nearly always holds one target, and a loop is
    // smaller wasm than one more concurrent instance.
    let mut answers: Vec<(String, std::vec::IntoIter<Admission>)> = Vec::new();
    for (t, n) in targets {
        answers.push((t.to_owned(), lane::admit(b.env, t, n).await.into_iter()));
    }
    for item in items.iter_mut() {
        if let Step::Attempt(d) = &item.step {
            item.admission = answers
                .iter_mut()
                .find(|(t, _)| *t == d.target)
                .and_then(|(_, a)| a.next());
        }
    }
}

/// Performs one message's step and settles it; for an attempt, returns what its lane must
/// hear about it.
async fn one(b: &Batch<'_>, item: Item) -> Option<(String, u64, AttemptResult)> {
    let Item {
        m,
        body,
        step,
        admission,
    } = item;
    let now = env::now_ms() / 1000;
    let mut report = None;
    let plan = match (step, b.cfg) {
        (Step::Settled(plan), _) => plan,
        (Step::Attempt(d), Some(cfg)) => {
            // Without an answer from the lane, attempt (fail open).
            let admission = admission.unwrap_or(Admission::Attempt {
                ticket: 0,
                probe: false,
                wait_ms: 0,
            });
            if let Admission::Hold { reason, .. } = admission {
                b.history.borrow_mut().held(&d, reason);
            }
            match on_admission(d, admission, now) {
                Admitted::Attempt {
                    delivery,
                    ticket,
                    wait_ms,
                } => {
                    if wait_ms > 0 {
                        Delay::from(Duration::from_millis(u64::from(wait_ms))).await;
                    }
                    let target = delivery.target.clone();
                    let (plan, result) = attempt(b, cfg, delivery, env::now_ms() / 1000).await;
                    report = result.map(|r| (target, ticket, r));
                    plan
                }
                Admitted::Settled(plan, logged) => {
                    if let Some(line) = logged.and_then(|a| b.log.borrow_mut().record(a)) {
                        log::write(&line);
                    }
                    plan
                }
            }
        }
        (Step::Enrich(job, path), Some(cfg)) => {
            let started = env::now_ms();
            let verdict = b2b_api::call(b.env, cfg, &job.event.storehash, &path).await;
            log_enrichment(&job, &verdict, env::now_ms() - started);
            let seen = b.history.borrow().enriching(&job);
            let plan = after_enrichment(job, verdict, cfg, now, env::random_u32());
            b.history.borrow_mut().enriched(seen, &plan);
            plan
        }
        // on_message only asks for a call when the configuration is loaded.
        (_, None) => Plan {
            effects: Vec::new(),
            disposition: Disposition::HandBack {
                delay_seconds: b.requeue_seconds,
            },
        },
    };
    settle(b, &m, body, plan).await;
    report
}

async fn attempt(
    b: &Batch<'_>,
    cfg: &Config,
    d: Delivery,
    now: i64,
) -> (Plan, Option<AttemptResult>) {
    let Some(target) = cfg.target(&d.target) else {
        // on_message checked it; unreachable, and handing back is always safe.
        let plan = Plan {
            effects: Vec::new(),
            disposition: Disposition::HandBack {
                delay_seconds: b.requeue_seconds,
            },
        };
        return (plan, None);
    };
    let request = outbound::render(target, &d.event, d.original.as_deref(), now);
    let started = env::now_ms();
    let answer = fetch::call(
        Method::Post,
        &request.url,
        &request.headers,
        Some(&request.body),
        target.timeout_ms,
        Body::Discard,
    )
    .await;
    let outcome = match answer {
        Answer::Response(r) => Outcome::Status {
            code: r.status,
            retry_after: r.retry_after,
        },
        Answer::Timeout => Outcome::Timeout,
        Answer::Network(e) => Outcome::Network(e),
    };
    let duration_ms = env::now_ms() - started;
    let ty = d.event.short_type().to_owned();
    let store = d.event.storehash.clone();
    let run = d.received_at_ms;
    let (plan, record) =
        after_attempt(d, target, outcome, cfg, now, env::random_u32(), duration_ms);
    metrics::record(
        b.env,
        &Point {
            kind: "delivery",
            ty: &ty,
            target: &target.name,
            outcome: record.outcome,
            store: &store,
            duration_ms,
        },
    );
    let result = Some(attempt_result(&record));
    b.history.borrow_mut().attempt(&record, run);
    if let Some(line) = b.log.borrow_mut().record(record) {
        log::write(&line);
    }
    (plan, result)
}

/// Runs the plan's effects in order; the message is acked only if all of them succeeded.
async fn settle(b: &Batch<'_>, m: &Message, body: Option<String>, plan: Plan) {
    let mut failed = false;
    let mut body = body;
    for effect in plan.effects {
        let name = effect.name();
        let result = match effect {
            Effect::Send(jobs) => queue::send(b.env, jobs).await,
            Effect::SendDelayed { job, delay_seconds } => {
                queue::send_delayed(b.env, job, delay_seconds).await
            }
            Effect::Resend { delay_seconds, why } => match body.take() {
                Some(text) if matches!(why, Hold::NewerVersion(_)) => {
                    log::problem(
                        "queue message of a newer relay version held for it",
                        &message_id(m),
                    );
                    queue::send_text(b.env, text, delay_seconds).await
                }
                Some(text) => queue::send_text(b.env, text, delay_seconds).await,
                None => Err("the message body is not text".into()),
            },
            Effect::PutDeadLetter(record) => {
                if env::fault(b.env, "dead_letter_put") {
                    Err("injected fault: dead_letter_put".into())
                } else {
                    let put = kv::put_dead_letter(b.env, &record).await;
                    if put.is_ok() {
                        b.history.borrow_mut().dead_letter(&record);
                    }
                    put.map_err(|e| e.to_string())
                }
            }
            Effect::PutUnreadable(record) => {
                log::problem("unreadable queue message kept", &record.key());
                kv::put_unreadable(b.env, &record)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            log::problem(effect_failed(name), &e);
            failed = true;
            break;
        }
    }
    match consume::settle(plan.disposition, failed, b.requeue_seconds) {
        Disposition::Ack => {
            if let Err(e) = m.ack() {
                log::problem("message not acked", &worker::Error::from(e).to_string());
            }
        }
        Disposition::HandBack { delay_seconds } => hand_back(m, delay_seconds),
    }
}

fn effect_failed(name: &str) -> &'static str {
    match name {
        "put_dead_letter" => "dead letter not written; the queue will redeliver",
        "put_unreadable" => "unreadable message not kept; the queue will redeliver",
        "resend" => "held message not re-sent; the queue will redeliver",
        _ => "follow-up message not enqueued; the queue will redeliver",
    }
}

#[derive(Serialize)]
struct EnrichmentLine<'a> {
    msg: &'static str,
    id: &'a str,
    attempt: u32,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    targets: &'a [String],
    duration_ms: i64,
}

fn log_enrichment(job: &crate::core::deliver::message::EnrichJob, v: &Verdict, duration_ms: i64) {
    let (outcome, error) = match v {
        Verdict::Done(e) => (e.as_str(), None),
        Verdict::Retry { reason, .. } => ("retry", Some(reason.as_str())),
    };
    if let Ok(s) = serde_json::to_string(&EnrichmentLine {
        msg: "enrichment",
        id: &job.event.id,
        attempt: job.attempt,
        outcome,
        error,
        targets: &job.targets,
        duration_ms,
    }) {
        log::write(&s);
    }
}
