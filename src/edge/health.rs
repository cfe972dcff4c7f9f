//! `/health` for anyone (status and a count of problems, never their texts: those name
//! secrets) and `/admin/health` for the operator (every problem, by name).

use crate::core::error::RelayError;
use crate::edge::{env, history, respond};
use serde::Serialize;
use worker::{Env, Response};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    targets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [String]>,
    /// `configured` or `not configured: …` (what to set).
    sync: &'a str,
    /// Only at `/admin/health`: asking D1 on every load-balancer probe would cost a read each.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<history::Status>,
}

fn answer(
    env: &Env,
    detailed: bool,
    history: Option<history::Status>,
) -> Result<Response, RelayError> {
    let cfg = env::config(env);
    let (status, targets, errors, sync): (&str, usize, &[String], _) = match cfg.as_ref() {
        Ok(c) => ("ok", c.targets.len(), &[], c.sync_status()),
        Err(errors) => (
            "misconfigured",
            0,
            errors,
            "not configured: the configuration is invalid".into(),
        ),
    };
    respond::ok(&Health {
        status,
        version: VERSION,
        targets,
        problems: (!errors.is_empty()).then_some(errors.len()),
        errors: detailed.then_some(errors),
        sync: &sync,
        history,
    })
}

pub fn public(env: &Env) -> Result<Response, RelayError> {
    answer(env, false, None)
}

/// Behind the admin token (checked by `admin`).
pub async fn detailed(env: &Env) -> Result<Response, RelayError> {
    let days = env::config(env)
        .as_ref()
        .as_ref()
        .ok()
        .map(|c| c.history_days);
    answer(env, true, Some(history::status(env, days).await))
}
