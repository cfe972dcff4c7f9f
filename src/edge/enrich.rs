//! Enrichment jobs: one B2B API call per event, then fan-out of the enriched event to the
//! targets that asked for it. Retries on 429/5xx; after a few attempts the targets that can
//! live without the resource get `enrichment: "failed"`, those with `enrich_required` keep
//! waiting until their `max_attempts`, then become dead letters.

use crate::core::config::Config;
use crate::core::deliver::enrich::{self, Enrichment, Plan, Verdict, FAST_ATTEMPTS, TIMEOUT_MS};
use crate::core::deliver::message::{Delivery, EnrichJob, Job};
use crate::core::deliver::outbound::USER_AGENT;
use crate::core::event::EncodedEvent;
use crate::edge::deliver::requeue;
use crate::edge::fetch::{self, Answer};
use crate::edge::{enqueue, env, log, store};
use serde::Serialize;
use worker::{Env, MessageExt, Method, RawMessage};

#[derive(Serialize)]
struct Line<'a> {
    msg: &'static str,
    id: &'a str,
    attempt: u32,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    targets: &'a [String],
    duration_ms: i64,
}

async fn call_api(env: &Env, cfg: &Config, store_hash: &str, path: &str) -> Verdict {
    let Some(token) = enrich::token_names(store_hash)
        .iter()
        .find_map(|n| env::text(env, n).filter(|t| !t.trim().is_empty()))
    else {
        return Verdict::Retry {
            retry_after: None,
            reason: format!("no BC_ACCESS_TOKEN secret for store {store_hash}"),
        };
    };
    let headers = [
        ("x-auth-token".into(), token.into()),
        ("x-store-hash".into(), store_hash.to_owned().into()),
        ("accept".into(), "application/json".into()),
        ("user-agent".into(), USER_AGENT.into()),
    ];
    let url = format!("{}{path}", cfg.b2b_api_base);
    match fetch::call(Method::Get, &url, &headers, None, TIMEOUT_MS).await {
        Answer::Response(mut resp) => {
            let status = resp.status_code();
            let retry_after = fetch::retry_after(&resp);
            let body = resp.text().await.unwrap_or_default();
            enrich::classify(status, &body, retry_after)
        }
        Answer::Timeout => Verdict::Retry {
            retry_after: None,
            reason: "B2B API timed out".into(),
        },
        Answer::Network(e) => Verdict::Retry {
            retry_after: None,
            reason: format!("B2B API unreachable: {e}"),
        },
    }
}

fn deliveries(job: &EnrichJob, targets: &[String], e: &Enrichment) -> Vec<Job> {
    let enriched = EncodedEvent::new(enrich::apply(&job.event, e));
    targets
        .iter()
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

pub async fn run(m: &RawMessage, env: &Env, cfg: &Config, mut job: EnrichJob) {
    let now = env::now_ms() / 1000;
    job.first_attempt_at.get_or_insert(now);
    let started = env::now_ms();
    let verdict = match enrich::plan(&job.event) {
        Plan::Fetch(path) => call_api(env, cfg, &job.event.storehash, &path).await,
        Plan::Resolved(e) => Verdict::Done(e),
    };
    let (outcome, error) = match &verdict {
        Verdict::Done(e) => (e.as_str(), None),
        Verdict::Retry { reason, .. } => ("retry", Some(reason.as_str())),
    };
    if let Ok(s) = serde_json::to_string(&Line {
        msg: "enrichment",
        id: &job.event.id,
        attempt: job.attempt,
        outcome,
        error,
        targets: &job.targets,
        duration_ms: env::now_ms() - started,
    }) {
        worker::console_log!("{s}");
    }

    let (reason, retry_after) = match verdict {
        Verdict::Done(e) => {
            let jobs = deliveries(&job, &job.targets, &e);
            return match enqueue::send(env, jobs).await {
                Ok(()) => m.ack(),
                Err(err) => {
                    log::problem(
                        "enriched deliveries not enqueued; the queue will redeliver",
                        &err,
                    );
                    requeue(m)
                }
            };
        }
        Verdict::Retry {
            retry_after,
            reason,
        } => (reason, retry_after),
    };

    // Targets that can live without the resource stop waiting after FAST_ATTEMPTS.
    let (required, optional): (Vec<String>, Vec<String>) = job
        .targets
        .iter()
        .cloned()
        .partition(|t| cfg.target(t).is_some_and(|t| t.enrich_required));
    let mut ready = Vec::new();
    let waiting = if job.attempt >= FAST_ATTEMPTS {
        ready = deliveries(&job, &optional, &Enrichment::Failed(reason.clone()));
        required
    } else {
        job.targets.clone()
    };
    let limit = waiting
        .iter()
        .filter_map(|t| cfg.target(t))
        .map(|t| t.max_attempts.max(FAST_ATTEMPTS))
        .max()
        .unwrap_or(FAST_ATTEMPTS);

    let mut result = enqueue::send(env, ready).await;
    if result.is_ok() && !waiting.is_empty() {
        if job.attempt >= limit {
            for t in &waiting {
                let mut d = Delivery::first(t, job.event.clone(), None, job.received_at_ms);
                d.attempt = job.attempt;
                d.first_attempt_at = job.first_attempt_at;
                let record = d.into_dead_letter(None, format!("enrichment failed: {reason}"), now);
                if let Err(e) = store::put_dead_letter(env, &record).await {
                    result = Err(e.to_string());
                    break;
                }
            }
        } else {
            let delay = retry_after
                .map(|s| s.min(crate::core::deliver::retry::MAX_DELAY_SECONDS))
                .unwrap_or_else(|| cfg.retry.delay(job.attempt, env::random_u32()));
            job.targets = waiting;
            job.attempt += 1;
            job.last_error = Some(reason);
            result = enqueue::send_delayed(env, Job::Enrich(job), delay).await;
        }
    }
    match result {
        Ok(()) => m.ack(),
        Err(e) => {
            log::problem(
                "enrichment retry not enqueued; the queue will redeliver",
                &e,
            );
            requeue(m);
        }
    }
}
