//! Arbitrary configuration text → `config::load`. The input is split on `\n` into
//! `TARGETS`, `INGEST_TOKENS`, `DEDUP_TTL_SECONDS`, `RETRY_SCHEDULE_SECONDS` and the value of
//! every secret a target names (a missing part, or a part that is exactly `~`, is unset; secret
//! names starting with `UNSET` are always unset, and so are the sync's `BC_*` and `PUBLIC_URL`,
//! whose URL rules the `url` target covers). A loaded configuration must satisfy every
//! rule the README states; a refused one must name its problems without echoing a secret; any
//! URL the relay accepts must be one the Workers runtime (WHATWG URL parser) accepts too.
#![no_main]

mod oracle;

use b2b_relay::core::config::{self, check_url, Config};
use b2b_relay::core::deliver::retry::MAX_DELAY_SECONDS;
use b2b_relay::core::ingest::dedup;
use libfuzzer_sys::fuzz_target;

fn part<'a>(parts: &[&'a str], i: usize) -> Option<&'a str> {
    parts.get(i).copied().filter(|p| *p != "~")
}

fn check_loaded(c: &Config, tokens: &str) {
    // No client secrets here: tokens are then required.
    assert!(!c.auth.tokens().is_empty());
    for t in c.auth.tokens() {
        let t = t.expose();
        assert!(!t.is_empty() && t.trim() == t && !t.contains(','), "{t:?}");
        assert!(tokens.contains(t));
    }
    assert!(c.dedup_ttl_seconds >= dedup::MIN_TTL_SECONDS);
    if let Some(s) = &c.retry.schedule {
        assert!(s.iter().all(|&d| d <= MAX_DELAY_SECONDS), "{s:?}");
    }
    for (i, t) in c.targets.iter().enumerate() {
        assert!(
            c.targets[..i].iter().all(|o| o.name != t.name),
            "duplicate name {}",
            t.name
        );
        assert!(!t.name.is_empty() && t.name.len() <= 64);
        assert!(t
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert_eq!(check_url(&t.url), Ok(()));
        assert!(oracle::check(&t.url));
        assert!(!t.events.is_empty());
        assert!(t.events.iter().all(|g| !g.is_empty()
            && g.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"*._-".contains(&b))));
        if let Some(stores) = &t.stores {
            assert!(!stores.is_empty());
            assert!(stores
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())));
        }
        assert!((100..=120_000).contains(&t.timeout_ms));
        assert!((1..=100).contains(&t.max_attempts));
        for (k, v) in &t.headers {
            let v = v.expose();
            assert_eq!(k, &k.to_ascii_lowercase());
            assert!(!k.is_empty());
            assert!(!k.starts_with("ce-") && !k.starts_with("webhook-"), "{k}");
            assert!(!matches!(
                k.as_str(),
                "content-type" | "content-length" | "host" | "user-agent"
            ));
            assert!(!v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parts: Vec<&str> = text.splitn(5, '\n').collect();
    let targets = part(&parts, 0);
    let tokens = part(&parts, 1);
    let ttl = part(&parts, 2);
    let retry = part(&parts, 3);
    let secret = part(&parts, 4);

    // The URL check on its own, on every part: fast to reach, and the same oracle.
    for p in &parts {
        oracle::check(p);
    }

    let src = |name: &str| {
        match name {
            "TARGETS" => targets,
            "INGEST_TOKENS" => tokens,
            "DEDUP_TTL_SECONDS" => ttl,
            "RETRY_SCHEDULE_SECONDS" => retry,
            n if n.starts_with("UNSET") => None,
            "BC_STORE_HASH" | "BC_ACCESS_TOKEN" | "PUBLIC_URL" | "BC_API_BASE" | "BC_SCOPES" => {
                None
            }
            // Ingest's other settings have their own tests (`auth`, the signature target).
            "BC_CLIENT_SECRETS" | "INGEST_AUTH" | "SIGNATURE_TOLERANCE_SECONDS" | "DEDUP_MODE" => None,
            _ => secret,
        }
        .map(str::to_owned)
    };
    // No problem report and no `{:?}` of a loaded configuration shows a secret. Only checkable
    // for a secret long enough not to occur by chance in fixed text, and not also typed into
    // another input.
    let hidden = secret
        .map(str::trim)
        .filter(|s| s.len() >= 16)
        .filter(|s| !parts[..parts.len().min(4)].iter().any(|p| p.contains(s)));
    match config::load(&src) {
        Ok(c) => {
            check_loaded(&c, tokens.unwrap_or(""));
            if ttl.is_none_or(|t| t.trim().is_empty()) {
                assert_eq!(c.dedup_ttl_seconds, dedup::DEFAULT_TTL_SECONDS);
            }
            if targets.is_none_or(|t| t.trim().is_empty()) {
                assert!(c.targets.is_empty());
            }
            if let Some(s) = hidden {
                assert!(!format!("{c:?}").contains(s), "secret shown by Debug");
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| !e.is_empty()));
            if let Some(s) = hidden {
                for e in &errors {
                    assert!(!e.contains(s), "secret echoed in {e:?}");
                }
            }
        }
    }
});
