//! Queue consumer: one POST per message, then ack, re-send with a delay, or dead-letter.
//! It never returns an error (workers-rs would panic): every message is acked or retried.

use crate::core::config::{Config, Target};
use crate::core::delivery::Delivery;
use crate::core::outbound::{self, Outbound};
use crate::core::retry::{parse_retry_after, Decision, Outcome};
use crate::edge::{env, log, store};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Env, Fetch, Headers, MessageBatch, MessageBuilder, MessageExt, Method,
    QueueRetryOptionsBuilder, RawMessage, Request, RequestInit, RequestRedirect,
};

/// Workers allow six simultaneous open connections per invocation.
const CONCURRENCY: usize = 6;
/// How long a message waits before the queue retries it when this consumer cannot proceed
/// (configuration broken, a KV or queue write failed).
const REQUEUE_SECONDS: u32 = 60;

pub async fn consume(batch: MessageBatch<String>, env: Env) {
    let dead_letter_queue = env::var_or(&env, "DEAD_LETTER_QUEUE", "b2b-relay-deliveries-dlq");
    let from_dlq = batch.queue() == dead_letter_queue;
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    futures_util::stream::iter(messages)
        .for_each_concurrent(CONCURRENCY, |m| {
            let env = &env;
            async move {
                if from_dlq {
                    record_crashed(m, env).await;
                } else {
                    deliver(m, env).await;
                }
            }
        })
        .await;
}

fn requeue(m: &RawMessage) {
    m.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(REQUEUE_SECONDS)
            .build(),
    );
}

fn parse(m: &RawMessage) -> Option<Delivery> {
    let parsed = m
        .body()
        .as_string()
        .and_then(|s| serde_json::from_str::<Delivery>(&s).ok());
    if parsed.is_none() {
        // Not ours (nothing the relay sends looks like this): nothing can be delivered.
        log::problem("unreadable queue message dropped", &m.id());
        m.ack();
    }
    parsed
}

/// A message that reached the dead-letter queue: the consumer failed on it repeatedly.
async fn record_crashed(m: RawMessage, env: &Env) {
    let Some(d) = parse(&m) else { return };
    let now = env::now_ms() / 1000;
    let error = "the delivery consumer failed on this message repeatedly (dead-letter queue)";
    let record = d.into_dead_letter(None, error.into(), now);
    match store::put_dead_letter(env, &record).await {
        Ok(()) => m.ack(),
        Err(e) => {
            log::problem("dead letter not written", &e.to_string());
            requeue(&m);
        }
    }
}

async fn deliver(m: RawMessage, env: &Env) {
    let Some(mut d) = parse(&m) else { return };
    let loaded = env::config(env);
    let Ok(cfg) = loaded.as_ref() else {
        // Held in the queue until the operator fixes the configuration.
        requeue(&m);
        return;
    };
    let now = env::now_ms() / 1000;
    d.first_attempt_at.get_or_insert(now);
    let Some(target) = cfg.target(&d.target) else {
        let error = format!("target `{}` is no longer configured", d.target);
        dead_letter(&m, env, d, None, error, now).await;
        return;
    };

    let request = outbound::render(target, &d.event, d.original.as_deref(), now);
    let started = env::now_ms();
    let outcome = send(request, target).await;
    let decision = cfg
        .retry
        .decide(&outcome, d.attempt, target.max_attempts, env::random_u32());
    log::attempt(&log::Attempt {
        msg: "delivery",
        id: &d.event.id,
        target: &target.name,
        attempt: d.attempt,
        outcome: match decision {
            Decision::Delivered => "delivered",
            Decision::Retry { .. } => "retry",
            Decision::DeadLetter => "dead_letter",
        },
        status: outcome.status(),
        error: (!matches!(decision, Decision::Delivered)).then(|| outcome.describe()),
        duration_ms: env::now_ms() - started,
        next_retry_seconds: match decision {
            Decision::Retry { delay_seconds } => Some(delay_seconds),
            _ => None,
        },
    });

    match decision {
        Decision::Delivered => m.ack(),
        Decision::Retry { delay_seconds } => retry(&m, env, cfg, d, &outcome, delay_seconds).await,
        Decision::DeadLetter => {
            dead_letter(&m, env, d, outcome.status(), outcome.describe(), now).await;
        }
    }
}

/// The next attempt is a new message (the attempt number travels in it); the current one is
/// acked only once that send succeeded.
async fn retry(
    m: &RawMessage,
    env: &Env,
    _cfg: &Config,
    mut d: Delivery,
    outcome: &Outcome,
    delay: u32,
) {
    d.attempt += 1;
    d.last_error = Some(outcome.describe());
    let sent = match (serde_json::to_string(&d), env.queue("DELIVERIES")) {
        (Ok(text), Ok(q)) => q
            .send(MessageBuilder::new(text).delay_seconds(delay).build())
            .await
            .map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(e.to_string()),
    };
    match sent {
        Ok(()) => m.ack(),
        Err(e) => {
            log::problem("retry not enqueued; the queue will redeliver", &e);
            requeue(m);
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

async fn send(out: Outbound, target: &Target) -> Outcome {
    let headers = Headers::new();
    for (k, v) in &out.headers {
        if headers.set(k, v).is_err() {
            return Outcome::Network(format!("header `{k}` was refused by the runtime"));
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        // A redirect is an answer to fix in the configuration, not to follow blindly.
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(JsValue::from_str(&out.body)));
    let request = match Request::new_with_init(&out.url, &init) {
        Ok(r) => r,
        Err(e) => return Outcome::Network(e.to_string()),
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = std::pin::pin!(fetch.send_with_signal(&signal));
    let timeout = std::pin::pin!(Delay::from(Duration::from_millis(u64::from(
        target.timeout_ms
    ))));
    match select(call, timeout).await {
        Either::Left((Ok(resp), _)) => {
            let code = resp.status_code();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| parse_retry_after(&v, env::now_ms() / 1000));
            Outcome::Status { code, retry_after }
        }
        Either::Left((Err(e), _)) => Outcome::Network(e.to_string()),
        Either::Right(_) => {
            controller.abort();
            Outcome::Timeout
        }
    }
}
