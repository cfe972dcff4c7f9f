//! Operator routes under /admin/: bearer `ADMIN_TOKEN` (constant time); without that secret
//! every route answers 404, so an unconfigured relay exposes nothing.

use crate::core::admin::{self, AdminBody, DeadLetterSummary, ReplayReport, REPLAY_LIMIT};
use crate::core::config::Config;
use crate::core::deliver::lanes::Op;
use crate::core::deliver::message::{
    dead_letter_key, replay_job, unreadable_key, UNREADABLE_PREFIX,
};
use crate::core::error::{ErrorCode, RelayError};
use crate::core::event::{self, EncodedEvent};
use crate::core::history::write;
use crate::core::ingest::accept::IngestAnswer;
use crate::core::ingest::auth::bearer_matches;
use crate::core::ingest::callback;
use crate::core::json::Fields;
use crate::core::route;
use crate::core::secret::Secret;
use crate::core::subscriptions::Mode;
use crate::edge::respond::ok;
use crate::edge::{
    bigcommerce, body, concurrent, env, events, health, history, kv, lane, log, quarantine, queue,
    respond,
};
use serde::Serialize;
use worker::{Env, Method, Request, Response};

pub async fn handle(mut req: Request, env: &Env, path: &str) -> Result<Response, RelayError> {
    // Read here, not in the configuration: the admin routes must answer (health) while the
    // configuration is broken. A `Secret` from the moment it is read.
    let Some(token) = env::text(env, "ADMIN_TOKEN")
        .map(|t| Secret::new(t.trim()))
        .filter(|t| !t.is_empty())
    else {
        return Err(RelayError::not_found());
    };
    let authorization = req.headers().get("authorization").ok().flatten();
    if !bearer_matches(authorization.as_deref(), &[token]) {
        return Err(RelayError::unauthorized());
    }
    // Before the configuration check: here the operator reads what is wrong with it.
    if path.trim_end_matches('/') == "/admin/health" {
        return match req.method() {
            Method::Get | Method::Head => health::detailed(env).await,
            _ => Err(RelayError::method_not_allowed("GET")),
        };
    }
    let loaded = env::config(env);
    let cfg: &Config = loaded.as_ref().as_ref().map_err(|errors| {
        RelayError::new(
            ErrorCode::Misconfigured,
            format!("relay configuration is invalid: {}", errors.join("; ")),
        )
    })?;

    // Byte and char patterns only: a `&str` pattern links core's two-way searcher (~4 KB wasm).
    let rest = path
        .strip_prefix("/admin/")
        .unwrap_or(path)
        .trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    let method = req.method();
    match (segments.as_slice(), method) {
        (["targets"], Method::Get) => lane::targets(env, cfg).await,
        (["targets", name], Method::Get) => lane::target(env, cfg, name).await,
        (["targets", name, "pause"], Method::Post) => {
            lane::pause_or_resume(env, cfg, name, Op::Pause).await
        }
        (["targets", name, "resume"], Method::Post) => {
            lane::pause_or_resume(env, cfg, name, Op::Resume).await
        }
        (["targets", _], _) => Err(RelayError::method_not_allowed("GET")),
        (["targets", _, "pause" | "resume"], _) => Err(RelayError::method_not_allowed("POST")),
        (["dead-letters"], Method::Get) => list(&req, env).await,
        (["dead-letters", "replay"], Method::Post) => {
            let request = body::admin(&mut req, &["target", "ids"]).await?;
            replay(env, cfg, request).await
        }
        (["dead-letters", target, id], Method::Get) => {
            match kv::get_dead_letter(env, &dead_letter_key(target, id)).await? {
                Some(record) => ok(&record),
                None => Err(RelayError::not_found()),
            }
        }
        (["dead-letters", target, id], Method::Delete) => {
            let key = dead_letter_key(target, id);
            if kv::get_dead_letter(env, &key).await?.is_none() {
                return Err(RelayError::not_found());
            }
            kv::delete_dead_letter(env, &key).await?;
            deleted(key)
        }
        (["unreadable"], Method::Get) => unreadable_list(&req, env).await,
        (["unreadable", id], Method::Get) => {
            match kv::get_unreadable(env, &unreadable_key(id)).await? {
                Some(record) => ok(&record),
                None => Err(RelayError::not_found()),
            }
        }
        (["unreadable", id], Method::Delete) => {
            let key = unreadable_key(id);
            if kv::get_unreadable(env, &key).await?.is_none() {
                return Err(RelayError::not_found());
            }
            kv::delete_dead_letter(env, &key).await?;
            deleted(key)
        }
        (["unreadable", _], _) => Err(RelayError::method_not_allowed("GET, DELETE")),
        (["quarantine", rest @ ..], _) => quarantine::admin(&mut req, env, cfg, rest).await,
        // Test-only (FAULTS=raw_enqueue): puts a raw body on the queue, as a foreign producer or
        // another relay version would, to show what the consumer does with it.
        (["test-message"], Method::Post) if env::fault(env, "raw_enqueue") => {
            let text = body::text(&mut req).await?;
            queue::send_text(env, text, 0)
                .await
                .map_err(|e| RelayError::new(ErrorCode::QueueUnavailable, e))?;
            ok(&IngestAnswer {
                status: "enqueued",
                id: "",
                targets: None,
            })
        }
        (["test-event"], Method::Post) => {
            let request = body::admin(&mut req, &["scope", "target"]).await?;
            test_event(env, cfg, request).await
        }
        (["bigcommerce", "subscriptions", "sync"], Method::Post) => {
            ok(&bigcommerce::sync(cfg, dry_run(&req)?, Mode::Full).await?)
        }
        (["bigcommerce", "subscriptions"], Method::Get) => ok(&bigcommerce::status(cfg).await?),
        (["targets"] | ["dead-letters"] | ["unreadable"] | ["bigcommerce", "subscriptions"], _) => {
            Err(RelayError::method_not_allowed("GET"))
        }
        (["bigcommerce", "subscriptions", "sync"], _) => {
            Err(RelayError::method_not_allowed("POST"))
        }
        (["dead-letters", "replay"] | ["test-event"], _) => {
            Err(RelayError::method_not_allowed("POST"))
        }
        (["dead-letters", _, _], _) => Err(RelayError::method_not_allowed("GET, DELETE")),
        (["events", ..] | ["recover"] | ["stats"], _) => {
            events::handle(req, env, cfg, &segments).await
        }
        _ => Err(RelayError::not_found()),
    }
}

/// `{"deleted": key}`: one serializer for both delete routes.
fn deleted(key: String) -> Result<Response, RelayError> {
    #[derive(Serialize)]
    struct Deleted {
        deleted: String,
    }
    ok(&Deleted { deleted: key })
}

/// `?dry_run=true|false|1|0`, absent meaning false.
fn dry_run(req: &Request) -> Result<bool, RelayError> {
    match admin::query_pairs(&req.inner().url())
        .into_iter()
        .find(|(k, _)| k == "dry_run")
    {
        None => Ok(false),
        Some((_, v)) => match v.as_str() {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(RelayError::new(
                ErrorCode::InvalidQuery,
                "dry_run must be true or false",
            )),
        },
    }
}

/// `GET /admin/dead-letters?target=&limit=&cursor=`. KV lists keys in key order; each page is
/// sorted newest first by the last attempt time kept in the key's metadata.
async fn list(req: &Request, env: &Env) -> Result<Response, RelayError> {
    let admin::Paging {
        target,
        limit,
        cursor,
    } = admin::paging(&req.inner().url())?;
    let prefix = match &target {
        Some(t) => format!("dlq:{t}:"),
        None => "dlq:".to_owned(),
    };
    let mut page = kv::list_dead_letters(env, &prefix, limit, cursor).await?;
    let (cursor, complete) = (page.cursor.take(), page.complete);
    let keys = page.read(|t| DeadLetterSummary::read(t).ok());
    let mut records: Vec<DeadLetterSummary> = Vec::with_capacity(keys.len());
    for (key, meta) in keys {
        match meta {
            Some(m) => records.push(m),
            // Written without metadata (should not happen): read it.
            None => {
                if let Some(r) = kv::get_dead_letter(env, &key).await? {
                    records.push(DeadLetterSummary::of(&r));
                }
            }
        }
    }
    records.sort_by(|a, b| b.last_attempt_at.cmp(&a.last_attempt_at));
    // Keys in the order `json!` wrote them before (sorted): the answer stays byte for byte.
    #[derive(Serialize)]
    struct Listing {
        cursor: Option<String>,
        records: Vec<DeadLetterSummary>,
    }
    ok(&Listing {
        cursor: if complete { None } else { cursor },
        records,
    })
}

/// `GET /admin/unreadable?limit=&cursor=`: queue messages the consumer could not read, kept
/// instead of being dropped (a message schema this version does not know, a foreign message).
async fn unreadable_list(req: &Request, env: &Env) -> Result<Response, RelayError> {
    let admin::Paging { limit, cursor, .. } = admin::paging(&req.inner().url())?;
    struct Meta {
        reason: String,
        received_at: String,
    }
    #[derive(Serialize)]
    struct Item {
        id: String,
        reason: String,
        received_at: String,
    }
    #[derive(Serialize)]
    struct Listing {
        cursor: Option<String>,
        records: Vec<Item>,
    }
    let mut page = kv::list_dead_letters(env, UNREADABLE_PREFIX, limit, cursor).await?;
    let (cursor, complete) = (page.cursor.take(), page.complete);
    let records = page
        .read(|t| {
            let f = Fields::parse(t).ok()?;
            Some(Meta {
                reason: f.or_default("reason").ok()?,
                received_at: f.or_default("received_at").ok()?,
            })
        })
        .into_iter()
        .map(|(key, meta)| {
            let meta = meta.unwrap_or(Meta {
                reason: String::new(),
                received_at: String::new(),
            });
            Item {
                id: key
                    .get(UNREADABLE_PREFIX.len()..)
                    .unwrap_or_default()
                    .to_owned(),
                reason: meta.reason,
                received_at: meta.received_at,
            }
        })
        .collect();
    ok(&Listing {
        cursor: if complete { None } else { cursor },
        records,
    })
}

/// Each record becomes a fresh delivery (attempt 1; a new enrichment for enriching targets).
/// Records are read a few at a time, their jobs sent in as few queue batches as the limits
/// allow (not one send per record: 100 records were ~300 sequential subrequests), and each
/// record is deleted only after the batch carrying it was enqueued.
async fn replay(env: &Env, cfg: &Config, request: AdminBody) -> Result<Response, RelayError> {
    let mut report = ReplayReport::default();
    let keys: Vec<String> = match (&request.target, &request.ids) {
        (Some(t), Some(ids)) => ids.iter().map(|id| dead_letter_key(t, id)).collect(),
        (None, Some(_)) => {
            return Err(RelayError::new(
                ErrorCode::MissingField,
                "`ids` needs `target`",
            ))
        }
        (target, None) => {
            let prefix = target
                .as_ref()
                .map_or_else(|| "dlq:".to_owned(), |t| format!("dlq:{t}:"));
            let page = kv::list_dead_letters(env, &prefix, REPLAY_LIMIT as u64, None).await?;
            report.remaining = !page.complete;
            page.keys.into_iter().map(|(k, _)| k).collect()
        }
    };
    if keys.len() > REPLAY_LIMIT {
        return Err(RelayError::new(
            ErrorCode::TooManyIds,
            format!("at most {REPLAY_LIMIT} ids per request"),
        ));
    }
    let now_ms = env::now_ms();
    let mut replays = history::Replays::new(now_ms);
    let records = concurrent::map(keys, concurrent::CONNECTIONS, |key| async move {
        let record = kv::get_dead_letter(env, &key).await;
        (key, record)
    })
    .await;
    let mut jobs = Vec::new();
    let mut replayed_keys = Vec::new();
    for (key, record) in records {
        let record = match record {
            Ok(Some(r)) => r,
            Ok(None) => {
                report.not_found += 1;
                continue;
            }
            Err(e) => {
                report.failed += 1;
                report.errors.push(format!("{key}: {e}"));
                continue;
            }
        };
        let Some(target) = cfg.target(&record.target) else {
            report.failed += 1;
            report.errors.push(format!(
                "{key}: target `{}` is not configured",
                record.target
            ));
            continue;
        };
        replays.add(&record.event, &target.name, record.received_at_ms);
        jobs.push(replay_job(target, record.event, record.original, now_ms));
        replayed_keys.push(key);
    }
    let sent = if jobs.is_empty() {
        Ok(())
    } else if env::fault(env, "replay_enqueue") {
        Err("injected fault: replay_enqueue".to_owned())
    } else {
        queue::send(env, jobs).await
    };
    match sent {
        Ok(()) => {
            report.replayed += replayed_keys.len();
            replays.record(env).await;
            let deleted =
                concurrent::map(replayed_keys, concurrent::CONNECTIONS, |key| async move {
                    kv::delete_dead_letter(env, &key).await
                })
                .await;
            for e in deleted.into_iter().filter_map(Result::err) {
                // Replayed but still listed: a second replay would deliver it again, with
                // the same webhook-id.
                log::problem("replayed dead letter not deleted", &e.to_string());
            }
        }
        Err(e) => {
            report.failed += replayed_keys.len();
            for key in replayed_keys {
                report.errors.push(format!("{key}: {e}"));
            }
        }
    }
    let body = serde_json::to_string(&report).unwrap_or_default();
    Ok(respond::json(
        if report.failed == 0 { 200 } else { 503 },
        body,
    ))
}

/// Builds a callback for the configured store and sends it through the ingest pipeline (no
/// dedup), marked `bctest: true`, to one target or to every target that wants it.
async fn test_event(env: &Env, cfg: &Config, request: AdminBody) -> Result<Response, RelayError> {
    let scope = request
        .scope
        .as_deref()
        .ok_or_else(|| RelayError::new(ErrorCode::MissingField, "`scope` is required"))?;
    let store_hash = cfg.store_hash.as_deref().unwrap_or("test");
    let mut nonce = [0u8; 20];
    getrandom::fill(&mut nonce).map_err(|e| RelayError::new(ErrorCode::Internal, e.to_string()))?;
    let now_ms = env::now_ms();
    let body = admin::test_callback(scope, store_hash, now_ms / 1000, &hex::encode(nonce));
    let cb = callback::parse(body.as_bytes())?;
    let mut ev = event::normalize(cb, now_ms);
    ev.bctest = Some(true);
    let ev = EncodedEvent::new(ev);
    let targets = match &request.target {
        Some(name) => vec![cfg.target(name).ok_or_else(|| {
            RelayError::new(
                ErrorCode::UnknownTarget,
                format!("no target named `{name}`"),
            )
        })?],
        None => route::route(&cfg.targets, &ev),
    };
    queue::send_event(env, &ev, &targets, &body, now_ms)
        .await
        .map_err(|e| RelayError::new(ErrorCode::QueueUnavailable, e))?;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    history::write(env, || write::record_accepted(&ev, &names, now_ms)).await;
    ok(&IngestAnswer {
        status: "accepted",
        id: &ev.id,
        targets: Some(names),
    })
}
