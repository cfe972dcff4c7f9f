//! What one sync needs: the store, its API, the token, the hooks' destination and scopes.

use super::api::redact;
use super::INGEST_PATH;
use crate::core::catalog::CATALOG;
use crate::core::config::url::{check_base, check_setting};

/// `BC_API_BASE` when unset.
pub const DEFAULT_API_BASE: &str = "https://api.bigcommerce.com";

/// Everything one sync needs. No `Debug`: it holds the access token.
pub struct Settings {
    pub api_base: String,
    pub store_hash: String,
    pub access_token: String,
    pub destination: String,
    /// The first `INGEST_TOKENS` token, put in each hook's `Authorization` header.
    pub bearer_token: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// None of BC_STORE_HASH, BC_ACCESS_TOKEN, PUBLIC_URL is set: the operator does not use
    /// the sync (the cron then does nothing, quietly).
    Absent,
    /// Some are set but something is missing or wrong, named in each message.
    Invalid(Vec<String>),
}

impl SettingsError {
    pub fn message(&self) -> String {
        match self {
            SettingsError::Absent => {
                "sync not configured: set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL"
                    .into()
            }
            SettingsError::Invalid(errors) => format!("sync not configured: {}", errors.join("; ")),
        }
    }
}

/// Reads and checks the sync's settings; `get` returns a variable or secret, `None` when
/// unset. Every problem is named; no value is ever repeated (the token is a secret).
pub fn settings(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
    let get = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let store_hash = get("BC_STORE_HASH");
    let access_token = get("BC_ACCESS_TOKEN");
    let public_url = get("PUBLIC_URL");
    if store_hash.is_none() && access_token.is_none() && public_url.is_none() {
        return Err(SettingsError::Absent);
    }
    let mut errors = Vec::new();
    match &store_hash {
        None => {
            errors.push("BC_STORE_HASH is not set (the store hash, as in stores/{hash})".into())
        }
        Some(h)
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            errors.push("BC_STORE_HASH must be letters and digits only".into());
        }
        Some(_) => {}
    }
    if access_token.is_none() {
        errors.push(
            "BC_ACCESS_TOKEN is not set (a secret: npx wrangler secret put BC_ACCESS_TOKEN)".into(),
        );
    }
    let destination = match public_url.as_deref().map(destination) {
        None => {
            errors.push("PUBLIC_URL is not set (the worker's https origin)".into());
            None
        }
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        Some(Ok(d)) => Some(d),
    };
    let api_base = match get("BC_API_BASE") {
        None => DEFAULT_API_BASE.to_owned(),
        Some(b) => check_base("BC_API_BASE", &b).unwrap_or_else(|e| {
            errors.push(e);
            b
        }),
    };
    let bearer_token = get("INGEST_TOKENS").and_then(|raw| {
        crate::core::ingest::auth::parse_tokens(&raw)
            .into_iter()
            .next()
    });
    if bearer_token.is_none() {
        errors.push("INGEST_TOKENS is not set: hooks need its first token".into());
    }
    let scopes = wanted_scopes(get("BC_SCOPES").as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    match (store_hash, access_token, destination, bearer_token) {
        (Some(store_hash), Some(access_token), Some(destination), Some(bearer_token))
            if errors.is_empty() =>
        {
            Ok(Settings {
                api_base,
                store_hash,
                access_token,
                destination,
                bearer_token,
                scopes,
            })
        }
        _ => Err(SettingsError::Invalid(errors)),
    }
}

impl Settings {
    /// `{base}/stores/{hash}/v3/hooks`, with `/{id}` for one hook.
    pub fn hooks_url(&self, id: Option<u64>) -> String {
        let base = format!("{}/stores/{}/v3/hooks", self.api_base, self.store_hash);
        match id {
            Some(id) => format!("{base}/{id}"),
            None => base,
        }
    }

    /// Removes the access token and the ingest token from a text meant for a report or a log.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &[&self.access_token, &self.bearer_token])
    }
}

/// The default wanted scopes: the 19 B2B Edition scopes of the catalog.
pub fn default_scopes() -> Vec<String> {
    CATALOG.iter().map(|(s, _, _)| (*s).to_owned()).collect()
}

/// `store/<segment>/…` with letters, digits, `_`, `-`; the last segment may be BigCommerce's
/// wildcard `*`.
fn looks_like_scope(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("store/") else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    s.len() <= 128
        && segments.iter().enumerate().all(|(i, seg)| {
            (i + 1 == segments.len() && i > 0 && *seg == "*")
                || (!seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        })
}

/// `BC_SCOPES`: comma-separated scopes (duplicates dropped, order kept); unset or blank means
/// the 19 B2B scopes.
pub fn wanted_scopes(raw: Option<&str>) -> Result<Vec<String>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(default_scopes());
    };
    let mut out: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    for s in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !looks_like_scope(s) {
            bad.push(format!("`{s}`"));
        } else if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "BC_SCOPES: {} not a scope (like store/company/created)",
            bad.join(", ")
        ));
    }
    Ok(out)
}

/// The hook destination for `PUBLIC_URL`, the worker's https origin (a trailing slash is
/// ignored). A path is refused: the worker serves the ingest route at the root only.
pub fn destination(public_url: &str) -> Result<String, String> {
    let base = public_url.trim().trim_end_matches('/');
    if !check_setting("PUBLIC_URL", base)?.rest.is_empty() {
        return Err(
            "PUBLIC_URL must be the worker's origin only, like https://b2b-relay.example.workers.dev (no path, query or credentials)"
                .into(),
        );
    }
    Ok(format!("{base}{INGEST_PATH}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const DEST: &str = "https://relay.example.com/webhooks/bigcommerce";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_name_what_is_missing_and_never_echo_the_token() {
        assert_eq!(
            settings(env(&[("INGEST_TOKENS", "t")])).err(),
            Some(SettingsError::Absent)
        );
        let full = [
            ("BC_STORE_HASH", "abc123"),
            ("BC_ACCESS_TOKEN", "very-secret-token"),
            ("PUBLIC_URL", "https://relay.example.com/"),
            ("INGEST_TOKENS", " first , second"),
        ];
        let s = settings(env(&full)).ok().unwrap();
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.destination, DEST);
        assert_eq!(s.bearer_token, "first");
        assert_eq!(s.scopes.len(), 19);
        assert_eq!(
            s.hooks_url(Some(7)),
            "https://api.bigcommerce.com/stores/abc123/v3/hooks/7"
        );
        assert_eq!(
            s.redact("x very-secret-token y first z"),
            "x [redacted] y [redacted] z"
        );

        let Err(SettingsError::Invalid(errors)) =
            settings(env(&[("BC_ACCESS_TOKEN", "very-secret-token")]))
        else {
            panic!("expected errors")
        };
        let text = errors.join("\n");
        for want in [
            "BC_STORE_HASH is not set",
            "PUBLIC_URL is not set",
            "INGEST_TOKENS is not set",
        ] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert!(!text.contains("very-secret-token"));

        let mut broken = full.to_vec();
        broken.retain(|(k, _)| *k != "BC_ACCESS_TOKEN");
        broken.extend([
            ("BC_API_BASE", "http://api.example.com"),
            ("BC_SCOPES", "store/company/created,nope"),
            ("BC_STORE_HASH", "abc/../x"),
        ]);
        let e = settings(env(&broken)).err().unwrap();
        let msg = e.message();
        for want in [
            "BC_ACCESS_TOKEN is not set",
            "BC_API_BASE must use https",
            "BC_SCOPES: `nope`",
            "BC_STORE_HASH must be letters and digits",
        ] {
            assert!(msg.contains(want), "{want} missing in {msg}");
        }
        assert!(msg.starts_with("sync not configured: "));
    }

    #[test]
    fn api_base_may_be_plain_http_only_on_loopback() {
        for (base, ok) in [
            ("http://127.0.0.1:8123", true),
            ("http://localhost:1/", true),
            ("http://[::1]:9", true),
            ("https://api.bigcommerce.com/", true),
            ("http://127.0.0.1.evil.com", false),
            ("http://api.bigcommerce.com", false),
            ("ftp://127.0.0.1", false),
        ] {
            let mut pairs = vec![
                ("BC_STORE_HASH", "abc123"),
                ("BC_ACCESS_TOKEN", "tok"),
                ("PUBLIC_URL", "https://relay.example.com"),
                ("INGEST_TOKENS", "t"),
            ];
            pairs.push(("BC_API_BASE", base));
            let got = settings(env(&pairs));
            assert_eq!(got.is_ok(), ok, "{base}");
            if let Ok(s) = got {
                assert!(!s.api_base.ends_with('/'));
            }
        }
    }

    #[test]
    fn scopes_default_to_the_catalog_and_are_validated() {
        assert_eq!(wanted_scopes(None).unwrap(), default_scopes());
        assert_eq!(wanted_scopes(Some("  ")).unwrap(), default_scopes());
        assert_eq!(
            wanted_scopes(Some(
                " store/company/created,store/quote/*, store/company/created ,"
            ))
            .unwrap(),
            ["store/company/created", "store/quote/*"]
        );
        let err = wanted_scopes(Some(
            "store/company/created,company/updated,store//x,store/*",
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "BC_SCOPES: `company/updated`, `store//x`, `store/*` not a scope (like store/company/created)"
        );
    }

    #[test]
    fn destination_is_public_url_plus_the_ingest_path() {
        assert_eq!(destination("https://relay.example.com").unwrap(), DEST);
        assert_eq!(destination(" https://relay.example.com/ ").unwrap(), DEST);
        assert_eq!(
            destination("https://b2b-relay.acme.workers.dev").unwrap(),
            "https://b2b-relay.acme.workers.dev/webhooks/bigcommerce"
        );
        for bad in [
            "http://relay.example.com",
            "relay.example.com",
            "https://",
            "https://relay.example.com/relay",
            "https://relay.example.com?x=1",
            "https://user:pw@relay.example.com",
        ] {
            assert!(destination(bad).is_err(), "{bad}");
        }
    }
}
