//! Queue consumer: one POST per delivery, then ack, re-send with a delay, or dead-letter;
//! enrichment jobs go to `edge::enrich`. It never returns an error (workers-rs would panic):
//! every message is acked or handed back to the queue. One log line per batch, or per attempt
//! (`LOG_DELIVERIES`).

use crate::core::config::Config;
use crate::core::deliver::attempts::{self, Attempt};
use crate::core::deliver::message::{Delivery, Job};
use crate::core::deliver::outbound;
use crate::core::deliver::retry::{Decision, Outcome};
use crate::edge::fetch::{self, Answer};
use crate::edge::metrics::{self, Point};
use crate::edge::{enqueue, enrich, env, log, store};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use worker::{Env, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder, RawMessage};

/// Workers allow six simultaneous open connections per invocation.
const CONCURRENCY: usize = 6;
/// How long a message waits before the queue retries it when this consumer cannot proceed
/// (configuration broken, a KV or queue write failed).
const REQUEUE_SECONDS: u32 = 60;

pub async fn consume(batch: MessageBatch<String>, env: Env) {
    let dead_letter_queue = env::var_or(&env, "DEAD_LETTER_QUEUE", "b2b-relay-deliveries-dlq");
    let from_dlq = batch.queue() == dead_letter_queue;
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let loaded = env::config(&env);
    let cfg = loaded.as_ref().as_ref().ok();
    let log = RefCell::new(attempts::Log::new(
        cfg.map_or_else(attempts::Mode::default, |c| c.log_deliveries),
    ));
    for_each_concurrent(messages, CONCURRENCY, |m| {
        let (env, log) = (&env, &log);
        async move {
            let Some(job) = parse(&m) else { return };
            if from_dlq {
                record_crashed(&m, env, job).await;
            } else {
                run(&m, env, cfg, job, log).await;
            }
        }
    })
    .await;
    if let Some(line) = log.into_inner().finish() {
        log::write(&line);
    }
}

/// Runs `f` on every item, at most `limit` at a time, starting the next as soon as one ends.
/// (futures-util's `for_each_concurrent` does the same with ~4 KB more wasm.)
async fn for_each_concurrent<T, Fut: Future<Output = ()>>(
    items: Vec<T>,
    limit: usize,
    f: impl Fn(T) -> Fut,
) {
    let mut waiting = items.into_iter();
    let mut running: Vec<Pin<Box<Fut>>> = Vec::with_capacity(limit);
    poll_fn(|cx| loop {
        while running.len() < limit {
            let Some(item) = waiting.next() else { break };
            running.push(Box::pin(f(item)));
        }
        let before = running.len();
        running.retain_mut(|fut| fut.as_mut().poll(cx).is_pending());
        if running.is_empty() {
            return Poll::Ready(());
        }
        if running.len() == before {
            return Poll::Pending;
        }
    })
    .await;
}

/// Hands the message back to the queue, which redelivers it later (and, after the consumer's
/// `max_retries`, moves it to the dead-letter queue).
pub fn requeue(m: &RawMessage) {
    m.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(REQUEUE_SECONDS)
            .build(),
    );
}

fn parse(m: &RawMessage) -> Option<Job> {
    let parsed = m
        .body()
        .as_string()
        .and_then(|s| serde_json::from_str::<Job>(&s).ok());
    if parsed.is_none() {
        // Not ours (nothing the relay sends looks like this): nothing can be delivered.
        log::problem("unreadable queue message dropped", &m.id());
        m.ack();
    }
    parsed
}

/// A message that reached the dead-letter queue: the consumer failed on it repeatedly.
async fn record_crashed(m: &RawMessage, env: &Env, job: Job) {
    let now = env::now_ms() / 1000;
    let error = "the delivery consumer failed on this message repeatedly (dead-letter queue)";
    let deliveries = match job {
        Job::Deliver(d) => vec![d],
        Job::Enrich(e) => e
            .targets
            .iter()
            .map(|t| Delivery::first(t, e.event.clone(), None, e.received_at_ms))
            .collect(),
    };
    for d in deliveries {
        if let Err(e) =
            store::put_dead_letter(env, &d.into_dead_letter(None, error.into(), now)).await
        {
            log::problem("dead letter not written", &e.to_string());
            return requeue(m);
        }
    }
    m.ack();
}

async fn run(
    m: &RawMessage,
    env: &Env,
    cfg: Option<&Config>,
    job: Job,
    log: &RefCell<attempts::Log>,
) {
    let Some(cfg) = cfg else {
        // Held in the queue until the operator fixes the configuration.
        return requeue(m);
    };
    match job {
        Job::Deliver(d) => deliver(m, env, cfg, d, log).await,
        Job::Enrich(e) => enrich::run(m, env, cfg, e).await,
    }
}

async fn deliver(
    m: &RawMessage,
    env: &Env,
    cfg: &Config,
    mut d: Delivery,
    log: &RefCell<attempts::Log>,
) {
    let now = env::now_ms() / 1000;
    d.first_attempt_at.get_or_insert(now);
    let Some(target) = cfg.target(&d.target) else {
        let error = format!("target `{}` is no longer configured", d.target);
        return dead_letter(m, env, d, None, error, now).await;
    };

    let request = outbound::render(target, &d.event, d.original.as_deref(), now);
    let started = env::now_ms();
    let answer = fetch::call(
        Method::Post,
        &request.url,
        &request.headers,
        Some(&request.body),
        target.timeout_ms,
    )
    .await;
    let outcome = match answer {
        Answer::Response(resp) => Outcome::Status {
            code: resp.status_code(),
            retry_after: fetch::retry_after(&resp),
        },
        Answer::Timeout => Outcome::Timeout,
        Answer::Network(e) => Outcome::Network(e),
    };
    let decision = cfg
        .retry
        .decide(&outcome, d.attempt, target.max_attempts, env::random_u32());
    let outcome_name = match decision {
        Decision::Delivered => attempts::DELIVERED,
        Decision::Retry { .. } => attempts::RETRY,
        Decision::DeadLetter => attempts::DEAD_LETTER,
    };
    let duration_ms = env::now_ms() - started;
    let line = log.borrow_mut().record(Attempt {
        msg: "",
        id: d.event.id.clone(),
        target: target.name.clone(),
        attempt: d.attempt,
        outcome: outcome_name,
        status: outcome.status(),
        error: (!matches!(decision, Decision::Delivered)).then(|| outcome.describe()),
        duration_ms,
        next_retry_seconds: match decision {
            Decision::Retry { delay_seconds } => Some(delay_seconds),
            _ => None,
        },
    });
    if let Some(line) = line {
        log::write(&line);
    }
    metrics::record(
        env,
        &Point {
            kind: "delivery",
            ty: d.event.short_type(),
            target: &target.name,
            outcome: outcome_name,
            store: &d.event.storehash,
            duration_ms,
        },
    );

    match decision {
        Decision::Delivered => m.ack(),
        Decision::Retry { delay_seconds } => {
            // The next attempt is a new message (the attempt number travels in it); this one
            // is acked only once that send succeeded.
            d.attempt += 1;
            d.last_error = Some(outcome.describe());
            match enqueue::send_delayed(env, Job::Deliver(d), delay_seconds).await {
                Ok(()) => m.ack(),
                Err(e) => {
                    log::problem("retry not enqueued; the queue will redeliver", &e);
                    requeue(m);
                }
            }
        }
        Decision::DeadLetter => {
            dead_letter(m, env, d, outcome.status(), outcome.describe(), now).await
        }
    }
}

async fn dead_letter(
    m: &RawMessage,
    env: &Env,
    d: Delivery,
    status: Option<u16>,
    error: String,
    now: i64,
) {
    let record = d.into_dead_letter(status, error, now);
    match store::put_dead_letter(env, &record).await {
        Ok(()) => m.ack(),
        Err(e) => {
            log::problem(
                "dead letter not written; the queue will redeliver",
                &e.to_string(),
            );
            requeue(m);
        }
    }
}
