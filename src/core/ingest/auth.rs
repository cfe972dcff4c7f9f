//! Verify: is a callback authentic? Two proofs exist. A bearer token the operator put in the
//! hook's `headers` at creation (`INGEST_TOKENS`), which BigCommerce sends back with every
//! callback; and BigCommerce's own Standard Webhooks signature, keyed with the app's client
//! secret (`BC_CLIENT_SECRETS`, see `signature`). `INGEST_AUTH` says which one is required:
//!
//! - `token`: the bearer token (the relay's behaviour before signatures);
//! - `signature`: a valid signature; the bearer is not needed;
//! - `any` (default): either;
//! - `all`: both.
//!
//! Whatever the mode, once client secrets are configured a request that carries a
//! `webhook-signature` which does not verify, or whose timestamp is out of tolerance, is
//! refused even with a right token: a bad signature is a forgery or a replay, not a lesser proof.

use crate::core::config::Source;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::ingest::signature::{
    self, SignatureHeaders, Verification, VerifyingKey, DEFAULT_TOLERANCE_SECONDS,
};
use crate::core::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Splits `INGEST_TOKENS` (comma-separated, so two tokens allow rotation without downtime).
/// `BC_CLIENT_SECRETS` is split the same way.
fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `INGEST_TOKENS` as secrets.
pub fn parse_tokens(raw: &str) -> Vec<Secret> {
    split_list(raw).into_iter().map(Secret::new).collect()
}

fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, rest) = authorization?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// True when `authorization` is `Bearer <t>` with `sha256(t)` among `digests`. Hashing both
/// sides makes the comparison take the same time whatever the length or content of the guess,
/// and every digest is compared (no early exit).
fn bearer_matches_digests(authorization: Option<&str>, digests: &[[u8; 32]]) -> bool {
    let Some(given) = bearer(authorization) else {
        return false;
    };
    let given = Sha256::digest(given.as_bytes());
    digests
        .iter()
        .fold(subtle::Choice::from(0), |found, d| found | d.ct_eq(&given))
        .into()
}

/// True when `authorization` is `Bearer <t>` for one of `tokens`.
pub fn bearer_matches(authorization: Option<&str>, tokens: &[Secret]) -> bool {
    let digests: Vec<[u8; 32]> = tokens
        .iter()
        .map(|t| Sha256::digest(t.expose().as_bytes()).into())
        .collect();
    bearer_matches_digests(authorization, &digests)
}

/// `INGEST_AUTH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Token,
    Signature,
    #[default]
    Any,
    All,
}

impl Mode {
    pub const NAMES: &'static str = "token, signature, any or all";

    /// Empty means the default (`any`).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "any" => Some(Mode::Any),
            "token" => Some(Mode::Token),
            "signature" => Some(Mode::Signature),
            "all" => Some(Mode::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Token => "token",
            Mode::Signature => "signature",
            Mode::Any => "any",
            Mode::All => "all",
        }
    }
}

/// `SIGNATURE_TOLERANCE_SECONDS` bounds. Below a minute, ordinary clock drift and delivery
/// delays would refuse genuine callbacks; a week is far beyond BigCommerce's 48 h of retries.
pub const MIN_TOLERANCE_SECONDS: i64 = 60;
pub const MAX_TOLERANCE_SECONDS: i64 = 7 * 86_400;

/// How ingest authenticates, checked once with the rest of the configuration. Tokens are kept
/// hashed for the comparison and whole for redaction; HMACs are keyed once.
#[derive(Clone)]
pub struct AuthSettings {
    pub mode: Mode,
    pub tolerance_seconds: i64,
    tokens: Vec<Secret>,
    token_digests: Vec<[u8; 32]>,
    client_secrets: Vec<Secret>,
    keys: Vec<VerifyingKey>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("tokens", &self.tokens.len())
            .field("client_secrets", &self.client_secrets.len())
            .finish()
    }
}

impl AuthSettings {
    /// Built from values already read (tests, tools); [`auth_settings`] is the checked path.
    /// Empty entries are dropped; a client secret is always a usable key once non-empty.
    pub fn new<T: AsRef<str>, U: AsRef<str>>(
        mode: Mode,
        tokens: &[T],
        client_secrets: &[U],
        tolerance_seconds: i64,
    ) -> Self {
        fn secrets<S: AsRef<str>>(values: &[S]) -> Vec<Secret> {
            values
                .iter()
                .map(|v| v.as_ref().trim())
                .filter(|v| !v.is_empty())
                .map(Secret::new)
                .collect()
        }
        let tokens = secrets(tokens);
        let client_secrets = secrets(client_secrets);
        AuthSettings {
            mode,
            tolerance_seconds,
            token_digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.expose().as_bytes()).into())
                .collect(),
            keys: client_secrets
                .iter()
                .filter_map(|s| VerifyingKey::from_client_secret(s.expose()).ok())
                .collect(),
            tokens,
            client_secrets,
        }
    }

    pub fn tokens(&self) -> &[Secret] {
        &self.tokens
    }

    pub fn client_secrets(&self) -> &[Secret] {
        &self.client_secrets
    }

    /// True when BigCommerce's signatures are checked (`BC_CLIENT_SECRETS` is set).
    pub fn verifies_signatures(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Every configured secret value (tokens and client secrets), for redaction.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.tokens
            .iter()
            .chain(&self.client_secrets)
            .map(Secret::expose)
    }
}

fn tolerance(src: &dyn Source, errors: &mut Vec<String>) -> i64 {
    let Some(text) = src
        .text("SIGNATURE_TOLERANCE_SECONDS")
        .filter(|t| !t.trim().is_empty())
    else {
        return DEFAULT_TOLERANCE_SECONDS;
    };
    match text.trim().parse::<i64>() {
        Ok(v) if (MIN_TOLERANCE_SECONDS..=MAX_TOLERANCE_SECONDS).contains(&v) => v,
        _ => {
            errors.push(format!(
                "SIGNATURE_TOLERANCE_SECONDS: must be whole seconds from {MIN_TOLERANCE_SECONDS} to {MAX_TOLERANCE_SECONDS}"
            ));
            DEFAULT_TOLERANCE_SECONDS
        }
    }
}

/// Reads `INGEST_TOKENS`, `BC_CLIENT_SECRETS`, `INGEST_AUTH` and `SIGNATURE_TOLERANCE_SECONDS`.
/// `Err` lists every problem, by setting name, never echoing a value. At least one of the two
/// secrets must be set, and the mode must be one that what is set can satisfy.
pub fn auth_settings(src: &dyn Source) -> Result<AuthSettings, Vec<String>> {
    let mut errors = Vec::new();
    let list = |name: &str| src.text(name).map(|t| split_list(&t)).unwrap_or_default();
    let tokens = list("INGEST_TOKENS");
    let client_secrets = list("BC_CLIENT_SECRETS");
    let mode = Mode::parse(&src.text("INGEST_AUTH").unwrap_or_default()).unwrap_or_else(|| {
        errors.push(format!("INGEST_AUTH: must be {}", Mode::NAMES));
        Mode::default()
    });
    let tolerance_seconds = tolerance(src, &mut errors);
    if tokens.is_empty() && client_secrets.is_empty() {
        errors.push(
            "INGEST_TOKENS: secret is not set, nor is BC_CLIENT_SECRETS; set INGEST_TOKENS \
             (comma-separated bearer tokens), BC_CLIENT_SECRETS (BigCommerce client secrets, \
             comma-separated) or both"
                .into(),
        );
    } else {
        let need = |setting: &str| {
            format!(
                "INGEST_AUTH: `{}` needs {setting}, which is not set",
                mode.as_str()
            )
        };
        if matches!(mode, Mode::Token | Mode::All) && tokens.is_empty() {
            errors.push(need("INGEST_TOKENS"));
        }
        if matches!(mode, Mode::Signature | Mode::All) && client_secrets.is_empty() {
            errors.push(need("BC_CLIENT_SECRETS"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AuthSettings::new(
        mode,
        &tokens,
        &client_secrets,
        tolerance_seconds,
    ))
}

/// Which proof a request gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Token,
    Signature,
    Both,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::Signature => "signature",
            AuthMethod::Both => "both",
        }
    }
}

/// An authentic request: how it proved it, and BigCommerce's `webhook-id` when its signature
/// verified (never otherwise: an unverified id is anyone's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub by: AuthMethod,
    pub webhook_id: Option<String>,
}

fn unauthorized(message: &'static str) -> RelayError {
    RelayError::new(ErrorCode::Unauthorized, message)
}

/// The decision for one request, before its body is parsed (the signature covers the raw
/// bytes). `now` is unix seconds. Errors are 401: `invalid_signature`, `stale_signature` or
/// `unauthorized`.
pub fn authenticate(
    settings: &AuthSettings,
    authorization: Option<&str>,
    signature_headers: SignatureHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<Authenticated, RelayError> {
    let verification = if settings.verifies_signatures() {
        signature::verify(
            &settings.keys,
            &signature_headers,
            body,
            now,
            settings.tolerance_seconds,
        )
    } else {
        // Nothing to check a signature with; the mode is then `token` or `any` (checked at load).
        Verification::Absent
    };
    let webhook_id = match verification {
        Verification::Valid { webhook_id, .. } => Some(webhook_id),
        Verification::Stale { skew_seconds, .. } => {
            return Err(RelayError::new(
                ErrorCode::StaleSignature,
                format!(
                    "`webhook-timestamp` is {} s {} now, more than the {} s allowed",
                    skew_seconds.unsigned_abs(),
                    if skew_seconds > 0 { "before" } else { "after" },
                    settings.tolerance_seconds
                ),
            ))
        }
        // Refused whatever the token says: the request claims a signature that is not good.
        Verification::Invalid(problem) if signature_headers.has_signature() => {
            return Err(RelayError::new(
                ErrorCode::InvalidSignature,
                problem.message(),
            ))
        }
        // `webhook-id`/`webhook-timestamp` without a signature: no signature was offered, so
        // a token can still carry the request where the mode allows it.
        Verification::Invalid(_) | Verification::Absent => None,
    };
    let token = !settings.token_digests.is_empty()
        && bearer_matches_digests(authorization, &settings.token_digests);
    let signed = webhook_id.is_some();
    // The answer when the mode wants a signature the request does not give.
    let no_signature = || match verification {
        Verification::Invalid(problem) => {
            RelayError::new(ErrorCode::InvalidSignature, problem.message())
        }
        _ => unauthorized(SIGNATURE_REQUIRED),
    };
    let by = match (settings.mode, token, signed) {
        (_, true, true) => AuthMethod::Both,
        (Mode::Token | Mode::Any, true, false) => AuthMethod::Token,
        (Mode::Signature | Mode::Any, false, true) => AuthMethod::Signature,
        (Mode::Token, false, _) => return Err(RelayError::unauthorized()),
        (Mode::Signature | Mode::All, _, false) => return Err(no_signature()),
        (Mode::All, false, true) => return Err(unauthorized(TOKEN_REQUIRED_TOO)),
        (Mode::Any, false, false) => {
            return Err(match verification {
                Verification::Invalid(_) => no_signature(),
                _ if settings.verifies_signatures() => unauthorized(NEITHER),
                _ => RelayError::unauthorized(),
            })
        }
    };
    Ok(Authenticated {
        by,
        webhook_id: webhook_id.map(str::to_owned),
    })
}

const SIGNATURE_REQUIRED: &str =
    "a BigCommerce webhook signature (webhook-id, webhook-timestamp, webhook-signature) is required";
const TOKEN_REQUIRED_TOO: &str =
    "missing or invalid bearer token (a signature alone is not enough here)";
const NEITHER: &str = "missing or invalid bearer token, and no BigCommerce webhook signature";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn accepts_any_configured_token() {
        let tokens = parse_tokens(" old-token , new-token,,");
        assert_eq!(tokens, [Secret::new("old-token"), Secret::new("new-token")]);
        assert!(bearer_matches(Some("Bearer old-token"), &tokens));
        assert!(bearer_matches(Some("bearer new-token"), &tokens));
    }

    #[test]
    fn rejects_everything_else() {
        let tokens = parse_tokens("secret");
        for h in [
            None,
            Some(""),
            Some("secret"),
            Some("Basic secret"),
            Some("Bearer secre"),
            Some("Bearer secret2"),
            Some("Bearer "),
        ] {
            assert!(!bearer_matches(h, &tokens), "{h:?}");
        }
        assert!(!bearer_matches(Some("Bearer x"), &[]));
    }

    fn src(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn settings_default_to_any_with_five_minutes() {
        let s = auth_settings(&src(&[
            ("INGEST_TOKENS", "a, b"),
            ("BC_CLIENT_SECRETS", " s1 ,s2,"),
        ]))
        .unwrap();
        assert_eq!((s.mode, s.tolerance_seconds), (Mode::Any, 300));
        assert_eq!(s.tokens().len(), 2);
        assert_eq!(s.client_secrets()[1].expose(), "s2");
        assert!(s.verifies_signatures());
        let shown = format!("{s:?}");
        assert!(!shown.contains("s1") && !shown.contains("\"a\""), "{shown}");
        let s = auth_settings(&src(&[
            ("INGEST_TOKENS", "t"),
            ("INGEST_AUTH", " Token "),
            ("SIGNATURE_TOLERANCE_SECONDS", "600"),
        ]))
        .unwrap();
        assert_eq!((s.mode, s.tolerance_seconds), (Mode::Token, 600));
        assert!(!s.verifies_signatures());
    }

    #[test]
    fn each_mode_needs_what_it_checks() {
        let ok = [
            ("token", true, false),
            ("any", true, false),
            ("any", false, true),
            ("", false, true),
            ("signature", false, true),
            ("signature", true, true),
            ("all", true, true),
            ("token", true, true),
        ];
        for (mode, tokens, secrets) in ok {
            let mut pairs = vec![("INGEST_AUTH", mode)];
            if tokens {
                pairs.push(("INGEST_TOKENS", "t"));
            }
            if secrets {
                pairs.push(("BC_CLIENT_SECRETS", "s"));
            }
            assert!(
                auth_settings(&src(&pairs)).is_ok(),
                "{mode} {tokens} {secrets}"
            );
        }
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let bad: [Case; 7] = [
            (
                &[],
                &["INGEST_TOKENS: secret is not set, nor is BC_CLIENT_SECRETS"],
            ),
            (
                &[("INGEST_TOKENS", " , "), ("BC_CLIENT_SECRETS", "")],
                &["INGEST_TOKENS: secret is not set"],
            ),
            (
                &[("INGEST_AUTH", "signature"), ("INGEST_TOKENS", "t")],
                &["INGEST_AUTH: `signature` needs BC_CLIENT_SECRETS, which is not set"],
            ),
            (
                &[("INGEST_AUTH", "token"), ("BC_CLIENT_SECRETS", "s")],
                &["INGEST_AUTH: `token` needs INGEST_TOKENS, which is not set"],
            ),
            (
                &[("INGEST_AUTH", "all"), ("BC_CLIENT_SECRETS", "s")],
                &["INGEST_AUTH: `all` needs INGEST_TOKENS"],
            ),
            (
                &[("INGEST_AUTH", "both"), ("INGEST_TOKENS", "t")],
                &["INGEST_AUTH: must be token, signature, any or all"],
            ),
            (
                &[("INGEST_TOKENS", "t"), ("SIGNATURE_TOLERANCE_SECONDS", "5")],
                &["SIGNATURE_TOLERANCE_SECONDS: must be whole seconds from 60 to 604800"],
            ),
        ];
        for (pairs, want) in bad {
            let errors = auth_settings(&src(pairs)).unwrap_err();
            assert_eq!(errors.len(), want.len(), "{pairs:?}: {errors:?}");
            for (e, w) in errors.iter().zip(want) {
                assert!(e.starts_with(w), "{pairs:?}: {e}");
            }
        }
        for t in ["x", "-300", "604801", "1.5"] {
            let e = auth_settings(&src(&[
                ("INGEST_TOKENS", "t"),
                ("SIGNATURE_TOLERANCE_SECONDS", t),
            ]))
            .unwrap_err();
            assert!(e[0].starts_with("SIGNATURE_TOLERANCE_SECONDS"), "{t}");
        }
        // Never a value in a message.
        let e = auth_settings(&src(&[
            ("INGEST_AUTH", "all"),
            ("BC_CLIENT_SECRETS", "very-secret-value"),
        ]))
        .unwrap_err();
        assert!(e.iter().all(|m| !m.contains("very-secret-value")));
    }

    const TOKEN: &str = "ingest-token";
    const SECRET: &str = "bc-client-secret";
    const ID: &str = "msg_2abc";
    const BODY: &[u8] = br#"{"scope":"store/company/created","data":{"company_id":1}}"#;
    const NOW: i64 = 1_764_288_000;

    /// What a request offers, each way it can.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Bearer {
        None,
        Right,
        Wrong,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Sig {
        None,
        Good,
        /// Signed with another secret.
        Bad,
        /// Good signature, timestamp 301 s old.
        Stale,
        /// `webhook-signature` without `webhook-timestamp`.
        Malformed,
        /// `webhook-id` and `webhook-timestamp` but no `webhook-signature`.
        Unsigned,
    }

    fn run(settings: &AuthSettings, bearer: Bearer, sig: Sig) -> Result<Authenticated, ErrorCode> {
        let authorization = match bearer {
            Bearer::None => None,
            Bearer::Right => Some(format!("Bearer {TOKEN}")),
            Bearer::Wrong => Some("Bearer nope".to_owned()),
        };
        let key = VerifyingKey::from_client_secret(SECRET).unwrap();
        let other = VerifyingKey::from_client_secret("another-secret").unwrap();
        let (ts, signature) = match sig {
            Sig::None => (None, None),
            Sig::Good => (Some(NOW), Some(key.sign(ID, NOW, BODY))),
            Sig::Bad => (Some(NOW), Some(other.sign(ID, NOW, BODY))),
            Sig::Stale => (Some(NOW - 301), Some(key.sign(ID, NOW - 301, BODY))),
            Sig::Malformed => (None, Some(key.sign(ID, NOW, BODY))),
            Sig::Unsigned => (Some(NOW), None),
        };
        let ts = ts.map(|t| t.to_string());
        let headers = SignatureHeaders {
            id: (sig != Sig::None).then_some(ID),
            timestamp: ts.as_deref(),
            signature: signature.as_deref(),
        };
        authenticate(settings, authorization.as_deref(), headers, BODY, NOW).map_err(|e| {
            assert_eq!(e.status(), 401, "{e:?}");
            assert!(!e.message().contains(SECRET) && !e.message().contains(TOKEN));
            e.code()
        })
    }

    /// Every mode × bearer × signature, with both secrets configured.
    #[test]
    fn the_whole_matrix_with_tokens_and_secrets() {
        use AuthMethod::*;
        use ErrorCode::{InvalidSignature as Invalid, StaleSignature as Stale, Unauthorized};
        let ok = |by| Ok::<_, ErrorCode>(by);
        let bearers = [Bearer::None, Bearer::Right, Bearer::Wrong];
        let sigs = [
            Sig::None,
            Sig::Good,
            Sig::Bad,
            Sig::Stale,
            Sig::Malformed,
            Sig::Unsigned,
        ];
        for mode in [Mode::Token, Mode::Signature, Mode::Any, Mode::All] {
            let settings = AuthSettings::new(mode, &[TOKEN, "other-token"], &[SECRET], 300);
            for bearer in bearers {
                for sig in sigs {
                    let token = bearer == Bearer::Right;
                    let want = match sig {
                        // Never overridden by a token, in any mode.
                        Sig::Bad | Sig::Malformed => Err(Invalid),
                        Sig::Stale => Err(Stale),
                        Sig::Good => match (mode, token) {
                            (_, true) => ok(Both),
                            (Mode::Token | Mode::All, false) => Err(Unauthorized),
                            (Mode::Signature | Mode::Any, false) => ok(Signature),
                        },
                        Sig::None | Sig::Unsigned => match (mode, token) {
                            (Mode::Token | Mode::Any, true) => ok(Token),
                            (Mode::Token, false) => Err(Unauthorized),
                            (_, _) if sig == Sig::Unsigned && mode != Mode::Token => Err(Invalid),
                            (_, _) => Err(Unauthorized),
                        },
                    };
                    let got = run(&settings, bearer, sig);
                    assert_eq!(
                        got.as_ref().map(|a| a.by).map_err(|e| *e),
                        want,
                        "{mode:?} {bearer:?} {sig:?}"
                    );
                    if let Ok(a) = got {
                        assert_eq!(
                            a.webhook_id.as_deref(),
                            (sig == Sig::Good).then_some(ID),
                            "{mode:?} {bearer:?} {sig:?}"
                        );
                    }
                }
            }
        }
    }

    /// Without client secrets, signature headers are not looked at: nothing could check them.
    #[test]
    fn tokens_only_ignore_signature_headers() {
        for mode in [Mode::Token, Mode::Any] {
            let settings = AuthSettings::new(mode, &[TOKEN], &[] as &[&str], 300);
            for sig in [Sig::None, Sig::Good, Sig::Bad, Sig::Stale, Sig::Malformed] {
                let got = run(&settings, Bearer::Right, sig).map(|a| (a.by, a.webhook_id));
                assert_eq!(got, Ok((AuthMethod::Token, None)), "{mode:?} {sig:?}");
                assert_eq!(
                    run(&settings, Bearer::Wrong, sig).map(|a| a.by),
                    Err(ErrorCode::Unauthorized),
                    "{mode:?} {sig:?}"
                );
            }
        }
    }

    /// Without tokens, a bearer header is never a proof.
    #[test]
    fn secrets_only_need_the_signature() {
        for mode in [Mode::Signature, Mode::Any] {
            let settings = AuthSettings::new(mode, &[] as &[&str], &[SECRET], 300);
            assert_eq!(
                run(&settings, Bearer::Right, Sig::Good).map(|a| a.by),
                Ok(AuthMethod::Signature)
            );
            for bearer in [Bearer::None, Bearer::Right] {
                assert_eq!(
                    run(&settings, bearer, Sig::None).map(|a| a.by),
                    Err(ErrorCode::Unauthorized),
                    "{mode:?}"
                );
            }
            assert_eq!(
                run(&settings, Bearer::Right, Sig::Bad).map(|a| a.by),
                Err(ErrorCode::InvalidSignature)
            );
        }
    }

    #[test]
    fn rotation_and_tolerance_come_from_the_settings() {
        let key = VerifyingKey::from_client_secret("new-secret").unwrap();
        let settings = AuthSettings::new(
            Mode::Signature,
            &[] as &[&str],
            &["old-secret", "new-secret"],
            600,
        );
        let ts = (NOW - 599).to_string();
        let sig = key.sign(ID, NOW - 599, BODY);
        let headers = SignatureHeaders {
            id: Some(ID),
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        let a = authenticate(&settings, None, headers, BODY, NOW).unwrap();
        assert_eq!(a.webhook_id.as_deref(), Some(ID));
        let e = authenticate(&settings, None, headers, BODY, NOW + 2).unwrap_err();
        assert_eq!(e.code(), ErrorCode::StaleSignature);
        assert!(e.message().contains("601 s before now"), "{e}");
    }
}
