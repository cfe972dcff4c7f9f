//! Configuration: `TARGETS`, ingest's authentication (`INGEST_TOKENS`, `BC_CLIENT_SECRETS`,
//! `INGEST_AUTH`, `SIGNATURE_TOLERANCE_SECONDS`: `ingest::auth`), `DEDUP_MODE`, `DEDUP_TTL_SECONDS`,
//! `RETRY_SCHEDULE_SECONDS`, `LOG_DELIVERIES`, `BC_B2B_API_BASE`, `HISTORY_DAYS`, the sync's `BC_*`
//! and `PUBLIC_URL`, validated once, up front, by [`load`]. Every problem is collected and named (`TARGETS[1] "crm": …`), never
//! echoing a secret, so `/health` and the log say exactly what to fix.
//!
//! `targets` reads `TARGETS`, `settings` the scalar settings, `sync` the subscription sync's
//! settings (which may be absent: the relay works without the sync), `url` holds the rules
//! every URL setting follows. Secrets are held as [`Secret`]s, so `{:?}` of a `Config` shows
//! none of them.

mod settings;
mod sync;
mod targets;
pub mod url;

pub use targets::{Format, HeaderValue, Target, DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_MS};
pub use url::check_url;

use crate::core::deliver::attempts;
use crate::core::deliver::retry::RetryPolicy;
use crate::core::ingest::auth::{auth_settings, AuthSettings};
use crate::core::ingest::dedup;
use crate::core::subscriptions::{Settings, SettingsError};
use settings::{b2b_api_base, dedup_mode, log_deliveries, retry, ttl};
use std::borrow::Cow;
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
    /// How ingest authenticates: tokens, BigCommerce client secrets, mode, tolerance.
    pub auth: AuthSettings,
    pub targets: Vec<Target>,
    /// `DEDUP_MODE`: KV marks alone, or KV in front of the `DedupShard` Durable Object.
    pub dedup: dedup::Mode,
    pub dedup_ttl_seconds: u64,
    pub retry: RetryPolicy,
    /// `BC_B2B_API_BASE`, without a trailing slash.
    pub b2b_api_base: String,
    pub log_deliveries: attempts::Mode,
    /// `BC_STORE_HASH` when set: the sync's store, and the store of operator test events.
    pub store_hash: Option<String>,
    /// The subscription sync's settings, or why it is not configured.
    pub sync: Result<Settings, SettingsError>,
    /// `HISTORY_DAYS`: how long D1 history is kept (used only with the `HISTORY` binding).
    pub history_days: u32,
}

impl Config {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The sync's state for `/health`: `configured` or `not configured: …` (what to set).
    pub fn sync_status(&self) -> Cow<'static, str> {
        match &self.sync {
            Ok(_) => Cow::Borrowed("configured"),
            Err(e) => Cow::Owned(format!("not configured: {}", e.reason())),
        }
    }
}

/// Reads and checks everything. `Err` lists every problem found, by name.
pub fn load(src: &dyn Source) -> Result<Config, Vec<String>> {
    let mut errors = Vec::new();
    let auth = auth_settings(src).map_err(|e| errors.extend(e)).ok();
    let mut targets = targets(src, &mut errors);
    // PUBLIC_URL itself is checked with the sync's settings; presets only link to it.
    let public_url = src
        .text("PUBLIC_URL")
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty());
    for t in targets.iter_mut().filter(|t| t.format.preset().is_some()) {
        t.shape.public_url.clone_from(&public_url);
    }
    let dedup = dedup_mode(src, &mut errors);
    let dedup_ttl_seconds = ttl(src, &mut errors);
    let retry = retry(src, &mut errors);
    let log_deliveries = log_deliveries(src, &mut errors);
    let b2b_api_base = b2b_api_base(src, &mut errors);
    let store_hash = sync::store_hash(src, &mut errors);
    let tokens = auth.as_ref().map_or(&[][..], AuthSettings::tokens);
    let sync = sync::settings(src, store_hash.as_deref(), tokens, &mut errors);
    let history_days = settings::history_days(src, &mut errors);
    match auth {
        Some(auth) if errors.is_empty() => Ok(Config {
            auth,
            targets,
            dedup,
            dedup_ttl_seconds,
            retry,
            b2b_api_base,
            log_deliveries,
            store_hash,
            sync,
            history_days,
        }),
        _ => Err(errors),
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

    #[test]
    fn debug_output_shows_no_secret() {
        let secrets = [
            "ingest-token-one-7f3a",
            "ingest-token-two-91bc",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "header-api-key-5d2e",
            "bc-access-token-c0ffee",
        ];
        let c = load(&src(&[
            ("INGEST_TOKENS", "ingest-token-one-7f3a,ingest-token-two-91bc"),
            (
                "TARGETS",
                r#"[{"name":"crm","url":"https://crm.example.com/","signing_secret":"CRM_KEY","headers":{"X-Api-Key":"secret:CRM_API_KEY","X-Team":"b2b"}}]"#,
            ),
            ("CRM_KEY", secrets[2]),
            ("CRM_API_KEY", secrets[4]),
            ("BC_STORE_HASH", "abc123"),
            ("BC_ACCESS_TOKEN", secrets[5]),
            ("PUBLIC_URL", "https://relay.example.com"),
        ]))
        .unwrap();
        assert_eq!(c.sync_status(), "configured");
        let shown = format!("{c:?} {c:#?} {:?}", c.targets[0]);
        for s in secrets {
            assert!(!shown.contains(s), "{s} shown in {shown}");
        }
        // What is not secret still shows, so the test would notice an empty `Debug`.
        assert!(shown.contains("CRM_API_KEY") && shown.contains("b2b") && shown.contains("abc123"));
        assert_eq!(c.targets[0].headers[0].1.expose(), secrets[4]);
        assert_eq!(c.auth.tokens()[1].expose(), secrets[1]);
    }

    #[test]
    fn authentication_and_dedup_settings_are_checked_with_the_rest() {
        let c = load(&src(&[("BC_CLIENT_SECRETS", "s1,s2")])).unwrap();
        assert!(c.auth.verifies_signatures() && c.auth.tokens().is_empty());
        assert_eq!(c.dedup, dedup::Mode::Kv);
        let c = load(&src(&[("INGEST_TOKENS", "t"), ("DEDUP_MODE", "durable")])).unwrap();
        assert_eq!(c.dedup, dedup::Mode::Durable);
        let e = load(&src(&[
            ("INGEST_AUTH", "signature"),
            ("INGEST_TOKENS", "t"),
            ("DEDUP_MODE", "redis"),
            ("SIGNATURE_TOLERANCE_SECONDS", "1"),
        ]))
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("SIGNATURE_TOLERANCE_SECONDS"), "{e:?}");
        assert!(e[1].starts_with("INGEST_AUTH: `signature` needs BC_CLIENT_SECRETS"));
        assert_eq!(e[2], "DEDUP_MODE: must be kv or durable");
        let shown = format!("{:?}", load(&src(&[("BC_CLIENT_SECRETS", "cs-value-9")])));
        assert!(!shown.contains("cs-value-9"), "{shown}");
    }

    #[test]
    fn sync_status_says_what_is_missing() {
        let c = load(&src(&[("INGEST_TOKENS", "t")])).unwrap();
        assert_eq!(
            c.sync_status(),
            "not configured: set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL"
        );
        let c = load(&src(&[("INGEST_TOKENS", "t"), ("BC_STORE_HASH", "abc")])).unwrap();
        assert!(c
            .sync_status()
            .starts_with("not configured: BC_ACCESS_TOKEN is not set"));
    }

    #[test]
    fn history_days_default_range_and_error() {
        let days = |v: &str| load(&src(&[("INGEST_TOKENS", "t"), ("HISTORY_DAYS", v)]));
        assert_eq!(
            load(&src(&[("INGEST_TOKENS", "t")])).unwrap().history_days,
            7
        );
        assert_eq!(days(" 90 ").unwrap().history_days, 90);
        assert_eq!(days("").unwrap().history_days, 7);
        for bad in ["0", "91", "7d", "-1", "whsec_notanumber"] {
            let e = days(bad).unwrap_err();
            assert!(e[0].starts_with("HISTORY_DAYS"), "{e:?}");
        }
        let e = days("whsec_notanumber").unwrap_err();
        assert!(!e[0].contains("whsec"), "the value is not echoed: {e:?}");
    }
}
