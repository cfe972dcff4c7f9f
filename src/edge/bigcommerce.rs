//! BigCommerce's store hooks API over `worker::Fetch`: list every page, create, update. What
//! to send is decided by `core::subscriptions`; this file only talks HTTP and logs one JSON
//! line per sync. The access token goes into `X-Auth-Token` and nowhere else.

use crate::core::config::Config;
use crate::core::deliver::outbound::{Header, USER_AGENT};
use crate::core::error::{ErrorCode, RelayError};
use crate::core::secret::Secret;
use crate::core::subscriptions::{
    self, error_message, written_hook, Hook, HookPage, Mode, Outcome, Reactivation, Settings,
    SettingsError, SyncReport, Write,
};
use crate::edge::{env, fetch};
use serde::Serialize;
use std::collections::BTreeMap;
use worker::{Env, Method};

/// Per BigCommerce call, until the answer's headers (its small JSON body is read after).
const TIMEOUT_MS: u32 = 15_000;
/// Bounds the listing (and the subrequests it costs); at BigCommerce's default page size this
/// is far more hooks than one store has.
const MAX_PAGES: u64 = 20;

/// The sync's settings from the one loaded configuration (`Config::sync`).
fn settings(cfg: &Config) -> Result<&Settings, RelayError> {
    cfg.sync
        .as_ref()
        .map_err(|e| RelayError::new(ErrorCode::NotConfigured, e.message()))
}

/// A page of hooks is a few KB; more means something else answered.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

struct Answer {
    status: u16,
    body: String,
}

async fn call(
    s: &Settings,
    method: Method,
    url: &str,
    body: Option<String>,
) -> Result<Answer, String> {
    let headers: [Header; 4] = [
        // The one place the access token leaves its `Secret`.
        (
            "x-auth-token".into(),
            s.access_token.expose().to_owned().into(),
        ),
        ("accept".into(), "application/json".into()),
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), USER_AGENT.into()),
    ];
    // Redirects are not followed (fetch::send): BigCommerce's API does not redirect, so one
    // means BC_API_BASE is wrong.
    match fetch::call(
        method,
        url,
        &headers,
        body.as_deref(),
        TIMEOUT_MS,
        fetch::Body::Read(MAX_ANSWER_BYTES),
    )
    .await
    {
        fetch::Answer::Response(r) => Ok(Answer {
            status: r.status,
            body: r.body,
        }),
        fetch::Answer::Timeout => Err(format!("BigCommerce did not answer within {TIMEOUT_MS} ms")),
        fetch::Answer::Network(e) => Err(format!("BigCommerce unreachable: {e}")),
    }
}

/// An answer BigCommerce refused: 429 and 5xx are BigCommerce's trouble (503, try later);
/// anything else (401 bad token, 404 unknown store, a redirect...) is the operator's settings
/// (409, fix them).
fn refused(s: &Settings, what: &str, a: &Answer) -> RelayError {
    let message = s.redact(&format!(
        "BigCommerce answered {} to {what}: {}",
        a.status,
        error_message(a.status, &a.body)
    ));
    if a.status == 429 || a.status >= 500 {
        RelayError::new(ErrorCode::BigcommerceUnavailable, message)
    } else {
        RelayError::new(ErrorCode::BigcommerceRejected, message)
    }
}

/// Every hook of the store, following BigCommerce's pagination.
async fn list(s: &Settings) -> Result<Vec<Hook>, RelayError> {
    let mut hooks = Vec::new();
    let mut page = 1;
    loop {
        let url = format!("{}?page={page}", s.hooks_url(None));
        let a = call(s, Method::Get, &url, None)
            .await
            .map_err(|e| RelayError::new(ErrorCode::BigcommerceUnavailable, s.redact(&e)))?;
        match a.status {
            200 => {}
            204 => break,
            _ => return Err(refused(s, "GET /v3/hooks", &a)),
        }
        let parsed = HookPage::read(&a.body).map_err(|e| {
            RelayError::new(
                ErrorCode::BigcommerceUnavailable,
                format!("BigCommerce's list of hooks (page {page}) is not readable: {e}"),
            )
        })?;
        let next = parsed.next_page(page);
        hooks.extend(parsed.data.unwrap_or_default());
        match next {
            None => break,
            Some(n) if n > page && n <= MAX_PAGES => page = n,
            Some(_) => {
                return Err(RelayError::new(
                    ErrorCode::BigcommerceUnavailable,
                    format!("BigCommerce lists more than {MAX_PAGES} pages of hooks; sync stopped"),
                ))
            }
        }
    }
    Ok(hooks)
}

/// Sends one create or update; `Ok` carries the hook as BigCommerce answered it.
async fn send(s: &Settings, w: &Write) -> Result<Option<Hook>, String> {
    let (method, url, body, what) = match w {
        Write::Post(body) => (
            Method::Post,
            s.hooks_url(None),
            body,
            "POST /v3/hooks".to_owned(),
        ),
        Write::Put { id, body } => (
            Method::Put,
            s.hooks_url(Some(*id)),
            body,
            format!("PUT /v3/hooks/{id}"),
        ),
    };
    let text = serde_json::to_string(body).map_err(|e| e.to_string())?;
    let a = call(s, method, &url, Some(text)).await?;
    if (200..300).contains(&a.status) {
        Ok(written_hook(&a.body).ok())
    } else {
        Err(format!(
            "BigCommerce answered {} to {what}: {}",
            a.status,
            error_message(a.status, &a.body)
        ))
    }
}

async fn run(cfg: &Config, dry_run: bool, mode: Mode) -> Result<SyncReport, RelayError> {
    let s = settings(cfg)?;
    let existing = list(s).await?;
    let actions = subscriptions::plan(
        &existing,
        &s.scopes,
        &s.destination,
        s.bearer_token.as_ref().map(Secret::expose),
        mode,
    );
    let mut scopes = Vec::with_capacity(actions.len());
    // One at a time: BigCommerce rate-limits per store, and order keeps the report readable.
    for action in actions {
        let row = match (&action.write, dry_run) {
            (Some(w), false) => {
                let result = send(s, w).await.map_err(|e| s.redact(&e));
                action.done(result)
            }
            _ => action.planned(),
        };
        scopes.push(row);
    }
    Ok(SyncReport {
        dry_run,
        destination: s.destination.clone(),
        exceptions_destination: s.exceptions_destination(),
        scopes,
    })
}

#[derive(Serialize)]
struct SyncLine<'a> {
    msg: &'static str,
    mode: Mode,
    dry_run: bool,
    /// `ok`, `partial` (some scopes failed), `failed` or `not_configured`.
    outcome: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    counts: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: i64,
}

/// The outcome's JSON name (`"created"` → `created`).
fn outcome_name(o: Outcome) -> String {
    serde_json::to_string(&o)
        .map(|t| t.trim_matches('"').to_owned())
        .unwrap_or_default()
}

fn log_sync(mode: Mode, dry_run: bool, result: &Result<SyncReport, RelayError>, started: i64) {
    let mut line = SyncLine {
        msg: "bigcommerce sync",
        mode,
        dry_run,
        outcome: "ok",
        counts: BTreeMap::new(),
        errors: Vec::new(),
        error: None,
        duration_ms: env::now_ms() - started,
    };
    match result {
        Ok(report) => {
            for row in &report.scopes {
                *line.counts.entry(outcome_name(row.outcome)).or_default() += 1;
                if row.outcome == Outcome::Error {
                    let why = row.message.as_deref().unwrap_or("");
                    line.errors.push(format!("{}: {why}", row.scope));
                }
            }
            if !line.errors.is_empty() {
                line.outcome = "partial";
            }
        }
        Err(e) => {
            line.outcome = if e.code() == ErrorCode::NotConfigured {
                "not_configured"
            } else {
                "failed"
            };
            line.error = Some(e.to_string());
        }
    }
    if let Ok(text) = serde_json::to_string(&line) {
        if line.outcome == "ok" {
            worker::console_log!("{text}");
        } else {
            worker::console_error!("{text}");
        }
    }
}

/// Lists the store's hooks and makes each wanted scope's hook of ours exist, active, with the
/// right destination and token (`Mode::Full`), or only re-activates ours
/// (`Mode::ReactivateOnly`). A dry run sends no write and reports what would happen.
pub async fn sync(cfg: &Config, dry_run: bool, mode: Mode) -> Result<SyncReport, RelayError> {
    let started = env::now_ms();
    let result = run(cfg, dry_run, mode).await;
    log_sync(mode, dry_run, &result, started);
    result
}

/// The state of each wanted scope (`active`, `outdated`, `inactive`, `missing`, `foreign`; see
/// `core::subscriptions::status`). Changes nothing, so `dry_run` is always true.
pub async fn status(cfg: &Config) -> Result<SyncReport, RelayError> {
    let s = settings(cfg)?;
    let existing = list(s).await?;
    Ok(SyncReport {
        dry_run: true,
        scopes: subscriptions::status(
            &existing,
            &s.scopes,
            &s.destination,
            s.bearer_token.as_ref().map(Secret::expose),
        ),
        destination: s.destination.clone(),
        exceptions_destination: s.exceptions_destination(),
    })
}

#[derive(Serialize)]
struct HookLine<'a> {
    msg: &'static str,
    hook_id: u64,
    /// `reactivated`, `still_active`, `not_ours`, `failed` or `not_configured`.
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The reactivate-only sync for the one hook BigCommerce said it gave up on (delivery exception
/// 90002): `PUT {"is_active": true}` if it is ours and inactive, nothing otherwise. Logs one
/// line and returns its outcome.
pub async fn reactivate_hook(cfg: &Config, hook_id: u64) -> &'static str {
    let result = async {
        let s = settings(cfg)?;
        let existing = list(s).await?;
        Ok::<_, RelayError>(
            match subscriptions::reactivate_hook(&existing, hook_id, &s.destination) {
                Reactivation::NotOurs => ("not_ours", None),
                Reactivation::StillActive => ("still_active", None),
                Reactivation::Reactivate(action) => {
                    let sent = match &action.write {
                        Some(w) => send(s, w).await.map_err(|e| s.redact(&e)),
                        None => Ok(None),
                    };
                    let row = action.done(sent);
                    match row.outcome {
                        Outcome::Reactivated => ("reactivated", None),
                        _ => ("failed", row.message),
                    }
                }
            },
        )
    }
    .await;
    let (outcome, error) = match result {
        Ok(done) => done,
        Err(e) if e.code() == ErrorCode::NotConfigured => ("not_configured", Some(e.to_string())),
        Err(e) => ("failed", Some(e.to_string())),
    };
    let line = HookLine {
        msg: "bigcommerce hook reactivation",
        hook_id,
        outcome,
        error,
    };
    if let Ok(text) = serde_json::to_string(&line) {
        worker::console_log!("{text}");
    }
    outcome
}

#[derive(Serialize)]
struct Skipped {
    msg: &'static str,
    mode: Mode,
}

/// The cron: brings back hooks BigCommerce deactivated, creates and rewrites nothing. Without
/// any BigCommerce setting it only says so; it never fails (the runtime would only log it).
/// A broken configuration stops it too (its problems are logged when it is loaded).
pub async fn on_schedule(env: &Env) {
    let loaded = env::config(env);
    let cfg = match loaded.as_ref() {
        Ok(cfg) => cfg,
        Err(errors) => {
            let failed = Err(RelayError::misconfigured(errors.len()));
            log_sync(Mode::ReactivateOnly, false, &failed, env::now_ms());
            return;
        }
    };
    if let Err(SettingsError::Absent) = cfg.sync {
        if let Ok(text) = serde_json::to_string(&Skipped {
            msg: "sync not configured",
            mode: Mode::ReactivateOnly,
        }) {
            worker::console_log!("{text}");
        }
        return;
    }
    // `sync` logs its own line, errors included.
    let _ = sync(cfg, false, Mode::ReactivateOnly).await;
}
