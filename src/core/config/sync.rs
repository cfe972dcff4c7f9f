//! The subscription sync's settings: `BC_STORE_HASH`, `BC_ACCESS_TOKEN`, `PUBLIC_URL`,
//! `BC_API_BASE`, `BC_SCOPES`. Missing ones only mean the sync is not configured (the relay
//! works without it); a value that is set but wrong is a configuration error, named.

use super::url::{check_base, check_setting};
use super::Source;
use crate::core::secret::Secret;
use crate::core::subscriptions::{
    wanted_scopes, Settings, SettingsError, DEFAULT_API_BASE, INGEST_PATH,
};

fn get(src: &dyn Source, name: &str) -> Option<String> {
    src.text(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `BC_STORE_HASH`, read on its own: operator test events name the store with it too, sync or
/// not.
pub(super) fn store_hash(src: &dyn Source, errors: &mut Vec<String>) -> Option<String> {
    let hash = get(src, "BC_STORE_HASH")?;
    if !hash
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        errors.push("BC_STORE_HASH must be letters and digits only".into());
    }
    Some(hash)
}

/// The hook destination for `PUBLIC_URL`, the worker's origin (a trailing slash is ignored).
/// A path is refused: the worker serves the ingest route at the root only.
fn destination(public_url: &str) -> Result<String, String> {
    let base = public_url.trim().trim_end_matches('/');
    if !check_setting("PUBLIC_URL", base)?.rest.is_empty() {
        return Err(
            "PUBLIC_URL must be the worker's origin only, like https://b2b-relay.example.workers.dev (no path, query or credentials)"
                .into(),
        );
    }
    Ok(format!("{base}{INGEST_PATH}"))
}

/// Reads the sync's settings; wrong values go to `errors`, missing ones into the answer. No
/// value is ever repeated (the token is a secret). When `errors` grew, `load` refuses the whole
/// configuration, so what this returns then is never used.
pub(super) fn settings(
    src: &dyn Source,
    store_hash: Option<&str>,
    ingest_tokens: &[Secret],
    errors: &mut Vec<String>,
) -> Result<Settings, SettingsError> {
    let access_token = get(src, "BC_ACCESS_TOKEN").map(Secret::new);
    let public_url = get(src, "PUBLIC_URL");
    let destination = public_url
        .as_deref()
        .and_then(|u| destination(u).map_err(|e| errors.push(e)).ok());
    let api_base = match get(src, "BC_API_BASE") {
        None => DEFAULT_API_BASE.to_owned(),
        Some(b) => check_base("BC_API_BASE", &b).unwrap_or_else(|e| {
            errors.push(e);
            b
        }),
    };
    let scopes = wanted_scopes(get(src, "BC_SCOPES").as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    if store_hash.is_none() && access_token.is_none() && public_url.is_none() {
        return Err(SettingsError::Absent);
    }
    let mut missing = Vec::new();
    if store_hash.is_none() {
        missing.push("BC_STORE_HASH is not set (the store hash, as in stores/{hash})".into());
    }
    if access_token.is_none() {
        missing.push(
            "BC_ACCESS_TOKEN is not set (a secret: npx wrangler secret put BC_ACCESS_TOKEN)".into(),
        );
    }
    if public_url.is_none() {
        missing.push("PUBLIC_URL is not set (the worker's https origin)".into());
    }
    // Without tokens (signatures only) hooks carry no headers: nothing else to send.
    let bearer_token = ingest_tokens.first().cloned();
    match (store_hash, access_token, destination) {
        (Some(store_hash), Some(access_token), Some(destination)) => Ok(Settings {
            api_base,
            store_hash: store_hash.to_owned(),
            access_token,
            destination,
            bearer_token,
            scopes,
        }),
        _ => Err(SettingsError::Incomplete(missing)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::src;
    use super::super::{load, Config};
    use super::*;

    const DEST: &str = "https://relay.example.com/webhooks/bigcommerce";

    const FULL: [(&str, &str); 4] = [
        ("BC_STORE_HASH", "abc123"),
        ("BC_ACCESS_TOKEN", "very-secret-token"),
        ("PUBLIC_URL", "https://relay.example.com/"),
        ("INGEST_TOKENS", " first , second"),
    ];

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Vec<String>> {
        load(&src(pairs))
    }

    #[test]
    fn settings_name_what_is_missing_and_never_echo_the_token() {
        let bare = config(&[("INGEST_TOKENS", "t")]).unwrap();
        assert_eq!(bare.sync.err(), Some(SettingsError::Absent));
        let c = config(&FULL).unwrap();
        assert_eq!(c.store_hash.as_deref(), Some("abc123"));
        let s = c.sync.unwrap();
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.destination, DEST);
        assert_eq!(s.bearer_token.as_ref().map(Secret::expose), Some("first"));
        assert_eq!(s.access_token.expose(), "very-secret-token");
        assert_eq!(s.scopes.len(), 20);
        assert_eq!(
            s.exceptions_destination().as_deref(),
            Some("https://relay.example.com/webhooks/bigcommerce/exceptions")
        );
        assert_eq!(
            s.hooks_url(Some(7)),
            "https://api.bigcommerce.com/stores/abc123/v3/hooks/7"
        );
        assert_eq!(
            s.redact("x very-secret-token y first z"),
            "x [redacted] y [redacted] z"
        );

        // Missing settings: the configuration is valid, the sync says what to set.
        let Err(SettingsError::Incomplete(missing)) = config(&[
            ("INGEST_TOKENS", "t"),
            ("BC_ACCESS_TOKEN", "very-secret-token"),
        ])
        .unwrap()
        .sync
        else {
            panic!("expected the sync to be incomplete")
        };
        let text = missing.join("\n");
        for want in ["BC_STORE_HASH is not set", "PUBLIC_URL is not set"] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert!(!text.contains("very-secret-token"));
        // Without INGEST_TOKENS nor BC_CLIENT_SECRETS the whole configuration is refused.
        let errors = config(&[("BC_ACCESS_TOKEN", "very-secret-token")]).unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("INGEST_TOKENS")));
        assert!(errors.iter().all(|e| !e.contains("very-secret-token")));
        // With client secrets only, the sync runs and its hooks carry no token.
        let mut signed = FULL.to_vec();
        signed.retain(|(k, _)| *k != "INGEST_TOKENS");
        signed.push(("BC_CLIENT_SECRETS", "client-secret"));
        let s = config(&signed).unwrap().sync.unwrap();
        assert!(s.bearer_token.is_none());
        assert_eq!(s.redact("x very-secret-token y"), "x [redacted] y");
        // BC_SCOPES without the exceptions scope: no exceptions hook.
        signed.push(("BC_SCOPES", "store/company/created"));
        assert_eq!(
            config(&signed)
                .unwrap()
                .sync
                .unwrap()
                .exceptions_destination(),
            None
        );

        let mut incomplete = FULL.to_vec();
        incomplete.retain(|(k, _)| *k != "BC_ACCESS_TOKEN");
        let msg = config(&incomplete).unwrap().sync.unwrap_err().message();
        assert!(msg.starts_with("sync not configured: "), "{msg}");
        assert!(msg.contains("BC_ACCESS_TOKEN is not set"), "{msg}");

        // Wrong values: configuration errors, each named.
        let mut broken = incomplete.clone();
        broken.extend([
            ("BC_API_BASE", "http://api.example.com"),
            ("BC_SCOPES", "store/company/created,nope"),
            ("BC_STORE_HASH", "abc/../x"),
        ]);
        let text = config(&broken).unwrap_err().join("\n");
        for want in [
            "BC_API_BASE must use https",
            "BC_SCOPES: `nope`",
            "BC_STORE_HASH must be letters and digits",
        ] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert!(!text.contains("BC_ACCESS_TOKEN"), "{text}");
        // Wrong even when the sync is not used at all: a typo must not wait for the first sync.
        let e = config(&[("INGEST_TOKENS", "t"), ("BC_SCOPES", "nope")]).unwrap_err();
        assert_eq!(
            e,
            ["BC_SCOPES: `nope` not a scope (like store/company/created)"]
        );
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
            ("https://api.bigcommerce.com/?x", false),
        ] {
            let mut pairs = FULL.to_vec();
            pairs.push(("BC_API_BASE", base));
            let got = config(&pairs);
            assert_eq!(got.is_ok(), ok, "{base}");
            if let Ok(c) = got {
                assert!(!c.sync.unwrap().api_base.ends_with('/'));
            }
        }
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
            "https://xn--zz.example.com",
        ] {
            assert!(destination(bad).is_err(), "{bad}");
        }
        let e = config(&[("INGEST_TOKENS", "t"), ("PUBLIC_URL", "https://a/x")]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("PUBLIC_URL must be the worker's origin only"));
    }
}
