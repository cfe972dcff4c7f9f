//! Configuration: `TARGETS`, `INGEST_TOKENS`, `DEDUP_TTL_SECONDS`, `RETRY_SCHEDULE_SECONDS`,
//! `LOG_DELIVERIES`, validated once, up front. Every problem is collected and named
//! (`TARGETS[1] "crm": …`), never echoing a secret, so `/health` and the log say exactly what to
//! fix.
//!
//! `targets` reads `TARGETS`, `settings` the scalar settings, `url` holds the URL rules.

mod settings;
mod targets;
pub mod url;

pub use targets::{Format, Target, DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_MS};
pub use url::check_url;

use crate::core::deliver::attempts;
use crate::core::deliver::retry::RetryPolicy;
use crate::core::ingest::auth::parse_tokens;
use settings::{b2b_api_base, log_deliveries, retry, ttl};
use targets::targets;

/// Where configuration comes from: Worker vars and secrets by name (the edge implements it;
/// tests use a map). Values are text; `TARGETS` arrives as JSON text.
pub trait Source {
    fn text(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn text(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub ingest_tokens: Vec<String>,
    pub targets: Vec<Target>,
    pub dedup_ttl_seconds: u64,
    pub retry: RetryPolicy,
    /// `BC_B2B_API_BASE`, without a trailing slash.
    pub b2b_api_base: String,
    pub log_deliveries: attempts::Mode,
}

impl Config {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// Reads and checks everything. `Err` lists every problem found, by name.
pub fn load(src: &dyn Source) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let ingest_tokens = src
        .text("INGEST_TOKENS")
        .map(|t| parse_tokens(&t))
        .unwrap_or_default();
    if ingest_tokens.is_empty() {
        errors.push("INGEST_TOKENS: secret is not set (comma-separated bearer tokens)".into());
    }
    let targets = targets(src, &mut errors);
    let dedup_ttl_seconds = ttl(src, &mut errors);
    let retry = retry(src, &mut errors);
    let log_deliveries = log_deliveries(src, &mut errors);
    let b2b_api_base = b2b_api_base(src, &mut errors);
    if errors.is_empty() {
        Ok(Config {
            ingest_tokens,
            targets,
            dedup_ttl_seconds,
            retry,
            b2b_api_base,
            log_deliveries,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod testing {
    use super::load;
    use std::collections::HashMap;

    pub fn src(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    pub fn errors(targets: &str, extra: &[(&str, &str)]) -> Vec<String> {
        let mut pairs = vec![("INGEST_TOKENS", "t"), ("TARGETS", targets)];
        pairs.extend_from_slice(extra);
        load(&src(&pairs)).err().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{errors, src};
    use super::*;

    #[test]
    fn bad_secrets_and_settings_are_named_without_echo() {
        let e = errors(
            r#"[{"name":"a","url":"https://x","signing_secret":"K"}]"#,
            &[
                ("K", "not-a-whsec-secret"),
                ("DEDUP_TTL_SECONDS", "30"),
                ("RETRY_SCHEDULE_SECONDS", "1,x"),
                ("LOG_DELIVERIES", "verbose"),
            ],
        );
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("signing secret `K` must start with `whsec_`"));
        assert!(e.iter().all(|m| !m.contains("not-a-whsec-secret")));
        assert!(e[1].starts_with("DEDUP_TTL_SECONDS"));
        assert!(e[2].starts_with("RETRY_SCHEDULE_SECONDS"));
        assert_eq!(e[3], "LOG_DELIVERIES: must be batch, each or failures");
        let none = load(&src(&[])).unwrap_err();
        assert!(none[0].starts_with("INGEST_TOKENS"));
    }
}
