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
}

fn answer(env: &Env, detailed: bool) -> Result<Response, RelayError> {
    let cfg = env::config(env);
    let (status, targets, errors): (&str, usize, &[String]) = match cfg.as_ref() {
        Ok(c) => ("ok", c.targets.len(), &[]),
        Err(errors) => ("misconfigured", 0, errors),
    };
    respond::ok(&Health {
        status,
        version: VERSION,
        targets,
        problems: (!errors.is_empty()).then_some(errors.len()),
        errors: detailed.then_some(errors),
    })
}

pub fn public(env: &Env) -> Result<Response, RelayError> {
    answer(env, false)
}

/// Behind the admin token (checked by `admin`).
pub fn detailed(env: &Env) -> Result<Response, RelayError> {
    answer(env, true)
}
