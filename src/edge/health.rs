//! `/health` for anyone (status and a count of problems, never their texts: those name
//! secrets) and `/admin/health` for the operator (every problem, by name).

use crate::core::error::RelayError;
use crate::edge::{env, respond};
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
}

fn answer(env: &Env, detailed: bool) -> Result<Response, RelayError> {
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
    })
}

pub fn public(env: &Env) -> Result<Response, RelayError> {
    answer(env, false)
}

/// Behind the admin token (checked by `admin`).
pub fn detailed(env: &Env) -> Result<Response, RelayError> {
    answer(env, true)
}
