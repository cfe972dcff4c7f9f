//! POST /webhooks/bigcommerce (and /webhooks/bigcommerce/exceptions, BigCommerce's
//! delivery-exception hook): size → authenticate (token and/or BigCommerce's signature, over the
//! raw body) → parse → normalize → route → [`submit`](crate::edge::submit) (copies in flight coalesced, then the
//! core's storage steps: look up → claim → enqueue → commit → mark) → answer. An authentic body
//! that is no event is quarantined and answered 200. BigCommerce only ever waits for KV (and,
//! with `DEDUP_MODE = "durable"`, the dedup object) and one queue send, never for a downstream.

use crate::core::config::Config;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::ingest::accept::{IngestAnswer, Outcome};
use crate::core::ingest::auth::authenticate;
use crate::core::ingest::callback::{self, MAX_BODY_BYTES};
use crate::core::ingest::exception;
use crate::core::ingest::quarantine::quarantines;
use crate::core::ingest::signature::SignatureHeaders;
use crate::edge::metrics;
use crate::edge::{env, exceptions, history, log, quarantine, respond, submit};
use worker::{Context, Env, Request, Response};

fn check_content_type(req: &Request) -> Result<(), RelayError> {
    let Some(ct) = req.headers().get("content-type").ok().flatten() else {
        return Ok(());
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(RelayError::unsupported_media_type())
    }
}

pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response, RelayError> {
    let started = env::now_ms();
    let result = accept(req, env, ctx, started).await;
    if let Err(e) = &result {
        let line = log::Ingest {
            msg: "ingest",
            outcome: e.code().as_str(),
            status: e.status(),
            id: None,
            r#type: None,
            store: None,
            targets: None,
            auth: None,
            error: Some(e.to_string()),
            duration_ms: env::now_ms() - started,
        };
        log::ingest(&line);
        metrics::ingest(env, &line, "");
    }
    result
}

async fn accept(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    started: i64,
) -> Result<Response, RelayError> {
    let loaded = env::config(env);
    let cfg: &Config = loaded
        .as_ref()
        .as_ref()
        .map_err(|errors| RelayError::misconfigured(errors.len()))?;

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    let body = req.bytes().await.map_err(|_| {
        RelayError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )
    })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(RelayError::payload_too_large(MAX_BODY_BYTES));
    }
    // The signature covers the raw bytes, so the body is read before anyone is trusted; it is
    // kept nowhere unless the request proves authentic.
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (authorization, id, timestamp, signature) = (
        header("authorization"),
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let auth = authenticate(
        &cfg.auth,
        authorization.as_deref(),
        SignatureHeaders {
            id: id.as_deref(),
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
        },
        &body,
        started.div_euclid(1000),
    )?;
    check_content_type(&req)?;

    // `ingest_parse` (tests only) stands for a body the parser of this version cannot read but
    // a later one can: what a quarantine replay is for.
    let parsed = if env::fault(env, "ingest_parse") {
        Err(RelayError::new(
            ErrorCode::InvalidJson,
            "injected fault: ingest_parse",
        ))
    } else {
        callback::parse(&body)
    };
    let cb = match parsed {
        Ok(cb) => cb,
        Err(e) if quarantines(&e) => {
            return quarantine::keep(env, ctx, cfg, req.headers(), &body, &auth, &e, started).await
        }
        Err(e) => return Err(e),
    };
    let mut ev = event::normalize(cb, started);
    // Only a verified id: whatever else a request claims is anyone's text.
    ev.bcwebhookid.clone_from(&auth.webhook_id);
    let event = EncodedEvent::new(ev);
    let (outcome, targets) = submit::submit(env, cfg, &event, &body, started).await?;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let accepted = outcome == Outcome::Accepted;
    if accepted && event.bcscope == exception::SCOPE {
        exceptions::observe(env, ctx, cfg, &event);
    }
    // After the answer: BigCommerce never waits for D1.
    if accepted {
        history::accepted(env, ctx, &event, &names, started);
    } else {
        history::duplicate(env, ctx, &event.id, started);
    }

    let duration_ms = env::now_ms() - started;
    let line = log::Ingest {
        msg: "ingest",
        outcome: outcome.as_str(),
        status: 200,
        id: Some(&event.id),
        r#type: Some(&event.ty),
        store: Some(&event.storehash),
        targets: accepted.then(|| names.clone()),
        auth: Some(auth.by.as_str()),
        error: None,
        duration_ms,
    };
    log::ingest(&line);
    metrics::ingest(env, &line, event.short_type());
    respond::ok(&IngestAnswer {
        status: outcome.as_str(),
        id: &event.id,
        targets: accepted.then_some(names),
    })
}
