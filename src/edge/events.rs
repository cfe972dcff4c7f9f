//! The history routes under /admin/ (the admin token is checked by `admin`): search, one
//! event with every attempt, replay from history, recover what did not reach a target, stats.
//! What to query and what the rows mean is `core::history`'s; without the `HISTORY` binding
//! every route answers 409 `not_configured`.

use crate::core::admin::query_pairs;
use crate::core::config::{Config, Target};
use crate::core::deliver::message::replay_job;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::EncodedEvent;
use crate::core::history::query::{
    event_detail, event_detail_json, events_page_json, parse_events_query, parse_recover,
    parse_replay, recover_page, JsonRow, RecoverReport, RecoverRow,
};
use crate::core::history::stats::{parse_stats_query, stats_answer_json};
use crate::core::history::write::{LOG_RECOVER, LOG_REPLAY};
use crate::core::ingest::accept::IngestAnswer;
use crate::edge::history::{self, Db, Replays, Row};
use crate::edge::respond::ok;
use crate::edge::{body, env, queue, respond};
use worker::{Env, Method, Request, Response};

fn unavailable(e: String) -> RelayError {
    RelayError::new(
        ErrorCode::StorageUnavailable,
        format!("history unavailable: {e}"),
    )
}

fn target<'a>(cfg: &'a Config, name: &str) -> Result<&'a Target, RelayError> {
    cfg.target(name).ok_or_else(|| {
        RelayError::new(
            ErrorCode::UnknownTarget,
            format!("no target named `{name}`"),
        )
    })
}

pub async fn handle(
    mut req: Request,
    env: &Env,
    cfg: &Config,
    segments: &[&str],
) -> Result<Response, RelayError> {
    let Some(db) = Db::of(env) else {
        return Err(RelayError::new(
            ErrorCode::NotConfigured,
            format!(
                "history is off: bind a D1 database as `{}` and apply migrations/ (README, Configuration)",
                history::BINDING
            ),
        ));
    };
    let pairs = || query_pairs(&req.inner().url());
    match (segments, req.method()) {
        (["events"], Method::Get) => {
            let q = parse_events_query(&pairs())?;
            let rows: Vec<JsonRow> = (db.rows(&q.json_statement()).await)
                .map_err(unavailable)?
                .iter()
                .map(|r| JsonRow {
                    j: r.text("j"),
                    received_at: r.int("received_at"),
                    id: r.text("id"),
                })
                .collect();
            Ok(respond::json(200, events_page_json(&rows, q.limit)))
        }
        (["events", id], Method::Get) => detail(&db, id).await,
        (["events", id, "replay"], Method::Post) => {
            let text = body::text(&mut req).await?;
            replay(env, cfg, &db, id, &text).await
        }
        (["recover"], Method::Post) => {
            let text = body::text(&mut req).await?;
            recover(env, cfg, &db, &text).await
        }
        (["stats"], Method::Get) => {
            let q = parse_stats_query(&pairs(), env::now_ms())?;
            let rows = db.rows(&q.json_statement()).await.map_err(unavailable)?;
            let targets = rows.first().map_or_else(|| "[]".into(), |r| r.text("j"));
            Ok(respond::json(200, stats_answer_json(&q, &targets)))
        }
        (["events"] | ["events", _] | ["stats"], _) => Err(RelayError::method_not_allowed("GET")),
        (["events", _, "replay"] | ["recover"], _) => Err(RelayError::method_not_allowed("POST")),
        _ => Err(RelayError::not_found()),
    }
}

fn no_event(id: &str) -> RelayError {
    RelayError::new(
        ErrorCode::NotFound,
        format!("no event `{id}` in history (older than HISTORY_DAYS, or never accepted)"),
    )
}

/// The answer is D1's: `core::history::query::event_detail_json`.
async fn detail(db: &Db, id: &str) -> Result<Response, RelayError> {
    let rows = db.rows(&event_detail_json(id)).await.map_err(unavailable)?;
    let j = rows
        .first()
        .map(|r| r.text("j"))
        .ok_or_else(|| no_event(id))?;
    Ok(respond::json(200, j))
}

fn stored_event(json: &str, id: &str) -> Result<EncodedEvent, RelayError> {
    serde_json::from_str(json).map_err(|e| {
        RelayError::new(
            ErrorCode::NotReplayable,
            format!("event `{id}` in history does not read back as an event: {e}"),
        )
    })
}

/// A fresh delivery (attempt 1) per target through the normal path, the same event and so
/// the same `webhook-id`; recorded as a new run once enqueued.
async fn replay(
    env: &Env,
    cfg: &Config,
    db: &Db,
    id: &str,
    text: &str,
) -> Result<Response, RelayError> {
    let named = parse_replay(text)?;
    let [lookup, ..] = event_detail(id);
    let rows = db.rows(&lookup).await.map_err(unavailable)?;
    let row = rows.first().ok_or_else(|| no_event(id))?;
    if row.int("truncated") != 0 {
        return Err(RelayError::new(
            ErrorCode::NotReplayable,
            format!(
                "event `{id}` is over 32 KiB and history keeps only its start; replay its dead letter instead"
            ),
        ));
    }
    let names = match named {
        Some(t) => t,
        None => serde_json::from_str::<Vec<String>>(&row.text("targets")).unwrap_or_default(),
    };
    if names.is_empty() {
        return Err(RelayError::new(
            ErrorCode::MissingField,
            "`targets`: the event was routed to no target, name the ones to send it to",
        ));
    }
    let targets = names
        .iter()
        .map(|n| target(cfg, n))
        .collect::<Result<Vec<_>, _>>()?;
    let event = stored_event(&row.text("json"), id)?;
    let now_ms = env::now_ms();
    let jobs = targets
        .iter()
        .map(|t| replay_job(t, event.clone(), None, now_ms))
        .collect();
    queue::send(env, jobs)
        .await
        .map_err(|e| RelayError::new(ErrorCode::QueueUnavailable, e))?;
    let mut replays = Replays::of(LOG_REPLAY, now_ms);
    for n in &names {
        replays.item(id, n);
    }
    replays.record(env).await;
    ok(&IngestAnswer {
        status: "replayed",
        id,
        targets: Some(names.iter().map(String::as_str).collect()),
    })
}

/// `POST /admin/recover`: one page of the window's events whose delivery to the target did not
/// end delivered, each enqueued again; `next_cursor` says there is more.
async fn recover(env: &Env, cfg: &Config, db: &Db, text: &str) -> Result<Response, RelayError> {
    let now_ms = env::now_ms();
    let q = parse_recover(text, now_ms)?;
    let t = target(cfg, &q.target)?;
    let rows = db.rows(&q.statement()).await.map_err(unavailable)?;
    let page = recover_page(rows.iter().map(recover_row).collect());
    let mut report = RecoverReport {
        target: q.target.clone(),
        unrecoverable: page.unrecoverable,
        next_cursor: page.next_cursor,
        ..RecoverReport::default()
    };
    let mut jobs = Vec::with_capacity(page.events.len());
    let mut replays = Replays::of(LOG_RECOVER, now_ms);
    for r in page.events {
        match serde_json::from_str::<EncodedEvent>(&r.json) {
            Ok(event) => {
                replays.item(&r.event_id, &t.name);
                jobs.push(replay_job(t, event, None, now_ms));
            }
            Err(_) => report.unrecoverable.push(r.event_id),
        }
    }
    let count = jobs.len();
    if count > 0 {
        if let Err(e) = queue::send(env, jobs).await {
            report.failed = count;
            report.errors.push(e);
            let body = serde_json::to_string(&report).unwrap_or_default();
            return Ok(respond::json(503, body));
        }
        report.requeued = count;
        replays.record(env).await;
    }
    ok(&report)
}

/// A recover row from D1's, by the column names of `core::history::query::RECOVER_SQL`.
fn recover_row(r: &Row) -> RecoverRow {
    RecoverRow {
        event_id: r.text("event_id"),
        received_at: r.int("received_at"),
        state: r.text("state"),
        json: r.opt_text("json"),
        truncated: r.opt_int("truncated"),
    }
}
