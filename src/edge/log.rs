//! One JSON line per ingest and per consumer batch (`LOG_DELIVERIES`), for `wrangler tail` and
//! Workers Logs.
//! Lines carry ids, names and outcomes, never a token, secret, signature or URL.

use serde::Serialize;

fn emit<T: Serialize>(line: &T) {
    if let Ok(s) = serde_json::to_string(line) {
        write(&s);
    }
}

#[derive(Serialize)]
pub struct Ingest<'a> {
    pub msg: &'static str,
    pub outcome: &'a str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<&'a str>>,
    /// How the request proved authentic: `token`, `signature` or `both`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
}

pub fn ingest(line: &Ingest) {
    emit(line);
}

/// A line made by the core (delivery attempts: `core::deliver::attempts`).
pub fn write(line: &str) {
    // Straight to `console.log`: `console_log!` formats its argument into a new string first.
    worker::web_sys::console::log_1(&line.into());
}

#[derive(Serialize)]
struct Problem<'a> {
    level: &'static str,
    msg: &'static str,
    error: &'a str,
}

/// Something the operator should see (a KV write lost, an unreadable message...).
pub fn problem(msg: &'static str, error: &str) {
    let line = Problem {
        level: "error",
        msg,
        error,
    };
    if let Ok(s) = serde_json::to_string(&line) {
        worker::web_sys::console::error_1(&s.as_str().into());
    }
}

pub fn config_errors(errors: &[String]) {
    problem("configuration invalid", &errors.join("; "));
}
