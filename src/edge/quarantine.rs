//! Quarantine on the edge: keeping an authentic callback whose body is no event (KV
//! `DEAD_LETTERS`, key `quarantine:{sha256 of the body}`, 14 days), and the operator's routes
//! `GET /admin/quarantine[/{id}]`, `DELETE /admin/quarantine/{id}`, `POST
//! /admin/quarantine/replay`. What a record holds and when a body is quarantined:
//! `core::ingest::quarantine`.

use crate::core::admin::{self, AdminBody};
use crate::core::config::Config;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::history::write::{self, LOG_QUARANTINE};
use crate::core::ingest::accept::Outcome;
use crate::core::ingest::auth::Authenticated;
use crate::core::ingest::callback;
use crate::core::ingest::quarantine::{
    self, valid_id, QuarantineRecord, ReplayOutcome, ReplayReport, ReplayResult, Stored,
    REPLAY_LIMIT,
};
use crate::edge::metrics;
use crate::edge::{body, env, history, kv, log, respond, submit};
use worker::{Context, Env, Headers, Method, Request, Response};

/// Keeps the request and answers 200 `{"status":"quarantined","id"}`. If KV cannot keep it,
/// 503: BigCommerce retries, and nothing authentic is dropped.
#[allow(clippy::too_many_arguments)] // the request's parts as ingest has them, each read once
pub async fn keep(
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    headers: &Headers,
    body: &[u8],
    auth: &Authenticated,
    error: &RelayError,
    started: i64,
) -> Result<Response, RelayError> {
    let record = QuarantineRecord::new(body, headers.entries(), &cfg.auth, auth, error, started);
    kv::put_quarantine(env, &record).await?;
    // In the event log too (after the answer, like every history write): the record's summary.
    history::log(
        env,
        ctx,
        write::log_entry(LOG_QUARANTINE, started, None, None, &record.summary()),
    );
    let line = log::Ingest {
        msg: "ingest",
        outcome: "quarantined",
        status: 200,
        id: Some(&record.id),
        r#type: None,
        store: None,
        targets: None,
        auth: Some(auth.by.as_str()),
        error: Some(format!("{}: {}", error.code(), error.message())),
        duration_ms: env::now_ms() - started,
    };
    log::ingest(&line);
    metrics::ingest(env, &line, "");
    Ok(respond::json(200, quarantine::answer(&record.id)))
}

fn not_found() -> RelayError {
    RelayError::new(ErrorCode::NotFound, "no such quarantined callback")
}

/// `/admin/quarantine…`, `rest` being the path segments after `quarantine`.
pub async fn admin(
    req: &mut Request,
    env: &Env,
    cfg: &Config,
    rest: &[&str],
) -> Result<Response, RelayError> {
    match (rest, req.method()) {
        ([], Method::Get) => list(req, env).await,
        (["replay"], Method::Post) => {
            let request = body::admin(req, &["target", "ids"]).await?;
            replay(env, cfg, request).await
        }
        // As stored: the record is the relay's own JSON.
        ([id], Method::Get) if valid_id(id) => kv::get_quarantine(env, id)
            .await?
            .map_or_else(|| Err(not_found()), |text| Ok(respond::json(200, text))),
        ([id], Method::Delete) if valid_id(id) => {
            if kv::get_quarantine(env, id).await?.is_none() {
                return Err(not_found());
            }
            let key = quarantine::key(id);
            kv::delete_dead_letter(env, &key).await?;
            // The key is `quarantine:` and hex: nothing to escape.
            Ok(respond::json(200, format!(r#"{{"deleted":"{key}"}}"#)))
        }
        ([id], Method::Get | Method::Delete) if !valid_id(id) => Err(not_found()),
        ([], _) => Err(RelayError::method_not_allowed("GET")),
        (["replay"], _) => Err(RelayError::method_not_allowed("POST")),
        ([_], _) => Err(RelayError::method_not_allowed("GET, DELETE")),
        _ => Err(RelayError::not_found()),
    }
}

/// `GET /admin/quarantine?limit=&cursor=`: the summaries kept as the keys' metadata, passed on
/// as they are, in key order (by id).
async fn list(req: &Request, env: &Env) -> Result<Response, RelayError> {
    let admin::Paging { limit, cursor, .. } = admin::paging(&req.inner().url())?;
    let page = kv::list_dead_letters(env, quarantine::key_prefix(), limit, cursor).await?;
    // The summaries are the relay's own JSON (KV metadata it wrote): joined as they are.
    let records: Vec<String> = page.keys.into_iter().filter_map(|(_, m)| m).collect();
    let cursor = if page.complete { None } else { page.cursor };
    let cursor = serde_json::to_string(&cursor).unwrap_or_else(|_| "null".into());
    Ok(respond::json(
        200,
        format!(r#"{{"records":[{}],"cursor":{cursor}}}"#, records.join(",")),
    ))
}

/// Each record through the current parser and the same path as a callback (normalize, route,
/// dedup, enqueue); deleted once it became an event (new or a duplicate), kept otherwise.
async fn replay(env: &Env, cfg: &Config, request: AdminBody) -> Result<Response, RelayError> {
    let mut report = ReplayReport::default();
    if request.target.is_some() {
        return Err(RelayError::new(
            ErrorCode::InvalidField,
            "`target` is for dead letters; a quarantine replay takes `ids` or nothing",
        ));
    }
    let ids: Vec<String> = match request.ids {
        Some(ids) if ids.len() > REPLAY_LIMIT => {
            return Err(RelayError::new(
                ErrorCode::TooManyIds,
                format!("at most {REPLAY_LIMIT} ids per request"),
            ))
        }
        Some(ids) => ids,
        None => {
            let page =
                kv::list_dead_letters(env, quarantine::key_prefix(), REPLAY_LIMIT as u64, None)
                    .await?;
            report.remaining = !page.complete;
            page.keys
                .into_iter()
                .filter_map(|(k, _)| k.get(quarantine::key_prefix().len()..).map(str::to_owned))
                .collect()
        }
    };
    for id in ids {
        let result = replay_one(env, cfg, &id).await;
        if result.outcome.deletes() {
            if let Err(e) = kv::delete_dead_letter(env, &quarantine::key(&id)).await {
                // Kept but now an event: a second replay answers duplicate and deletes it.
                log::problem("replayed quarantine record not deleted", &e.to_string());
            }
        }
        report.push(result);
    }
    let status = if report.failed == 0 { 200 } else { 503 };
    Ok(respond::json(
        status,
        serde_json::to_string(&report).unwrap_or_default(),
    ))
}

async fn replay_one(env: &Env, cfg: &Config, id: &str) -> ReplayResult {
    let result = |outcome, event_id: Option<&str>, error: Option<String>| ReplayResult {
        id: id.to_owned(),
        outcome,
        event_id: event_id.map(str::to_owned),
        error,
    };
    let text = match kv::get_quarantine(env, id).await {
        Ok(Some(t)) if valid_id(id) => t,
        Ok(_) => return result(ReplayOutcome::NotFound, None, None),
        Err(e) => return result(ReplayOutcome::Failed, None, Some(e.to_string())),
    };
    let Some(record) = Stored::parse(&text) else {
        let why = "the stored record is not readable".to_owned();
        return result(ReplayOutcome::Quarantined, None, Some(why));
    };
    let body = record.body;
    let cb = match callback::parse(&body) {
        Ok(cb) => cb,
        Err(e) => {
            let why = format!("{}: {}", e.code(), e.message());
            return result(ReplayOutcome::Quarantined, None, Some(why));
        }
    };
    let mut ev = event::normalize(cb, record.received_at_ms);
    ev.bcwebhookid = record.webhook_id;
    let ev = EncodedEvent::new(ev);
    match submit::submit(env, cfg, &ev, &body, env::now_ms()).await {
        Ok((Outcome::Accepted, _)) => result(ReplayOutcome::Accepted, Some(&ev.id), None),
        Ok((Outcome::Duplicate, _)) => result(ReplayOutcome::Duplicate, Some(&ev.id), None),
        Err(e) => result(ReplayOutcome::Failed, Some(&ev.id), Some(e.to_string())),
    }
}
