//! BigCommerce's own signatures: Standard Webhooks 1.0. A callback carries `webhook-id`,
//! `webhook-timestamp` (unix seconds) and `webhook-signature` (space-separated `v1,<base64>`
//! entries); each `v1` entry is HMAC-SHA256 over `{id}.{timestamp}.{body}`.
//!
//! The key: BigCommerce's samples call the official libraries as `Webhook(base64(client_secret))`.
//! Both libraries base64-decode a text key (after stripping an optional `whsec_` prefix, which
//! base64 text never has: `_` is not in its alphabet), so the HMAC key is exactly the client
//! secret's UTF-8 bytes, whatever the secret looks like: [`VerifyingKey::from_client_secret`].
//! [`VerifyingKey::from_standard_secret`] takes a plain Standard Webhooks secret (`whsec_…`).
//!
//! Like the libraries, the timestamp is signed as its integer value and checked in both
//! directions (`|now - timestamp| <= tolerance`); only `v1` entries count, and any one of them
//! matching any key is enough. Unlike them, the signature is checked before the timestamp, so
//! "stale" always means a genuine callback that arrived late (clocks, replays), never a wrong key.

use crate::core::base64::{self, Padding};
use crate::core::deliver::sign;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// `SIGNATURE_TOLERANCE_SECONDS` when unset: the libraries' five minutes.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// The HMAC keyed once per configuration: each request starts from the keyed state instead of
/// hashing the key's pads again (like `deliver::sign::SigningKey`).
#[derive(Clone)]
pub struct VerifyingKey(Hmac<Sha256>);

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyingKey(<redacted>)")
    }
}

impl VerifyingKey {
    /// What `Webhook(base64(client_secret))` verifies with: the secret's bytes, taken whole (a
    /// secret that happens to start with `whsec_` keeps it). The message never echoes it.
    pub fn from_client_secret(secret: &str) -> Result<Self, &'static str> {
        Self::from_bytes(secret.as_bytes())
    }

    /// A Standard Webhooks secret, as `Webhook(secret)` reads it: an optional `whsec_`, then
    /// base64 (padded or not).
    pub fn from_standard_secret(secret: &str) -> Result<Self, &'static str> {
        let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
        // The Python library adds padding before decoding, so unpadded secrets work there too.
        let key = base64::decode(b64, Padding::Either)
            .ok_or("is not valid base64 (after an optional `whsec_`)")?;
        Self::from_bytes(&key)
    }

    fn from_bytes(key: &[u8]) -> Result<Self, &'static str> {
        if key.is_empty() {
            return Err("is empty");
        }
        Hmac::<Sha256>::new_from_slice(key)
            .map(VerifyingKey)
            .map_err(|_| "is not a usable HMAC key")
    }

    /// The raw HMAC of one message; `timestamp` is the canonical decimal text.
    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        sign::mac(&self.0, id, timestamp, body)
    }

    /// `v1,<base64>` for these parts, as a sender would write it (tests and tooling).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::from("v1,");
        base64::encode_to(&self.mac(id, &timestamp.to_string(), body), &mut out);
        out
    }
}

/// The three request headers, as the runtime gives them (`None` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> SignatureHeaders<'a> {
    /// An empty value counts as absent, as in the libraries.
    fn part(v: Option<&'a str>) -> Option<&'a str> {
        v.map(str::trim).filter(|s| !s.is_empty())
    }

    /// True when the request carries a `webhook-signature` at all.
    pub fn has_signature(&self) -> bool {
        Self::part(self.signature).is_some()
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// One of the three headers is missing while another is there (its name).
    Missing(&'static str),
    /// `webhook-timestamp` is not whole unix seconds.
    BadTimestamp,
    /// No `v1` entry matches any configured key (malformed and unknown-version entries never
    /// match).
    NoMatch,
}

impl Problem {
    pub fn message(self) -> String {
        match self {
            Problem::Missing(h) => format!("the `{h}` header is missing"),
            Problem::BadTimestamp => "`webhook-timestamp` must be whole unix seconds".into(),
            Problem::NoMatch => {
                "no `v1` entry of `webhook-signature` matches the body with a configured client secret"
                    .into()
            }
        }
    }
}

/// The outcome of checking one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification<'a> {
    /// None of the three headers: the request is not signed.
    Absent,
    Valid {
        webhook_id: &'a str,
        timestamp: i64,
    },
    Invalid(Problem),
    /// The signature matches but the timestamp is further than the tolerance from now
    /// (`skew_seconds` = now - timestamp: positive when old, negative when from the future).
    Stale {
        timestamp: i64,
        skew_seconds: i64,
    },
}

/// Whole seconds, digits only (no sign, no fraction, no spaces). Leading zeros are allowed and
/// signed without them, as the libraries do after parsing.
fn parse_timestamp(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Checks `headers` against `body` with every key; `now` and `tolerance_seconds` in seconds.
pub fn verify<'a>(
    keys: &[VerifyingKey],
    headers: &SignatureHeaders<'a>,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Verification<'a> {
    let id = SignatureHeaders::part(headers.id);
    let timestamp = SignatureHeaders::part(headers.timestamp);
    let signature = SignatureHeaders::part(headers.signature);
    let (id, timestamp_text, signature) = match (id, timestamp, signature) {
        (None, None, None) => return Verification::Absent,
        (Some(i), Some(t), Some(s)) => (i, t, s),
        (None, ..) => return Verification::Invalid(Problem::Missing("webhook-id")),
        (_, None, _) => return Verification::Invalid(Problem::Missing("webhook-timestamp")),
        (.., None) => return Verification::Invalid(Problem::Missing("webhook-signature")),
    };
    let Some(timestamp) = parse_timestamp(timestamp_text) else {
        return Verification::Invalid(Problem::BadTimestamp);
    };
    let canonical;
    let signed_timestamp = if timestamp_text.len() > 1 && timestamp_text.starts_with('0') {
        canonical = timestamp.to_string();
        canonical.as_str()
    } else {
        timestamp_text
    };

    // Every key against every entry, no early exit: the time taken does not depend on which
    // key or entry matched, nor on how much of a guess was right.
    let mut found = subtle::Choice::from(0);
    for key in keys {
        let expected = key.mac(id, signed_timestamp, body);
        for entry in signature.split(' ') {
            let Some(("v1", b64)) = entry.split_once(',') else {
                continue;
            };
            // 32 bytes are 44 base64 characters: anything longer cannot match.
            if b64.len() != 44 {
                continue;
            }
            match base64::decode(b64, Padding::Required) {
                Some(given) if given.len() == 32 => found |= expected.ct_eq(&given),
                _ => continue,
            }
        }
    }
    if !bool::from(found) {
        return Verification::Invalid(Problem::NoMatch);
    }
    let skew_seconds = now.saturating_sub(timestamp);
    if skew_seconds.unsigned_abs() > tolerance_seconds.unsigned_abs() {
        return Verification::Stale {
            timestamp,
            skew_seconds,
        };
    }
    Verification::Valid {
        webhook_id: id,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const CLIENT_SECRET: &str = "bc-client-secret-0123456789abcdef";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignatureHeaders<'a> {
        SignatureHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn check<'s>(keys: &[VerifyingKey], sig: &'s str, body: &[u8], now: i64) -> Verification<'s> {
        verify(keys, &headers(MSG_ID, "1614265330", sig), body, now, 300)
    }

    fn vector_key() -> VerifyingKey {
        VerifyingKey::from_standard_secret(WHSEC).unwrap()
    }

    fn valid() -> Verification<'static> {
        Verification::Valid {
            webhook_id: MSG_ID,
            timestamp: TS,
        }
    }

    /// The test vector published with the Standard Webhooks specification and its libraries.
    #[test]
    fn standard_webhooks_test_vector() {
        let key = vector_key();
        assert_eq!(key.sign(MSG_ID, TS, BODY), VECTOR_SIG);
        assert_eq!(check(&[key], VECTOR_SIG, BODY, TS), valid());
        // The `whsec_` prefix is optional for a Standard Webhooks secret, padding too.
        let bare = VerifyingKey::from_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(check(&[bare], VECTOR_SIG, BODY, TS), valid());
    }

    /// BigCommerce's samples: `Webhook(base64(client_secret))`, i.e. the standard path with the
    /// base64 of the secret, must equal the client-secret key.
    #[test]
    fn a_client_secret_is_what_webhook_of_its_base64_verifies_with() {
        for secret in [
            CLIENT_SECRET,
            "whsec_looks-prefixed-but-is-not",
            "é ünïcode",
        ] {
            let via_base64 =
                VerifyingKey::from_standard_secret(&base64::encode(secret.as_bytes())).unwrap();
            let direct = VerifyingKey::from_client_secret(secret).unwrap();
            let sig = via_base64.sign(MSG_ID, TS, BODY);
            assert_eq!(direct.sign(MSG_ID, TS, BODY), sig, "{secret}");
            assert_eq!(check(&[direct], &sig, BODY, TS + 299), valid(), "{secret}");
        }
        // Independently: HMAC keyed with the secret's bytes.
        let mut mac = Hmac::<Sha256>::new_from_slice(CLIENT_SECRET.as_bytes()).unwrap();
        mac.update(b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.");
        mac.update(BODY);
        let want = format!("v1,{}", base64::encode(&mac.finalize().into_bytes()));
        let key = VerifyingKey::from_client_secret(CLIENT_SECRET).unwrap();
        assert_eq!(key.sign(MSG_ID, TS, BODY), want);
        // Written by the official Python library (`standardwebhooks` on PyPI) as BigCommerce's
        // sample calls it: `Webhook(base64.b64encode(secret.encode()).decode()).sign(...)`.
        assert_eq!(want, "v1,wEg+x0SJbPrt0gV/yK0AJtrF459/uv8XKF6Ye/mJKQI=");
    }

    #[test]
    fn a_tampered_body_or_a_wrong_secret_is_invalid() {
        let key = vector_key();
        for body in [
            &br#"{"test": 2432232315}"#[..],
            br#"{"test":2432232314}"#,
            b"",
        ] {
            assert_eq!(
                check(std::slice::from_ref(&key), VECTOR_SIG, body, TS),
                Verification::Invalid(Problem::NoMatch)
            );
        }
        let wrong = VerifyingKey::from_client_secret("not-the-secret").unwrap();
        assert_eq!(
            check(&[wrong], VECTOR_SIG, BODY, TS),
            Verification::Invalid(Problem::NoMatch)
        );
        // Another id or timestamp than the signed ones.
        let other_id = verify(
            std::slice::from_ref(&key),
            &headers("msg_other", "1614265330", VECTOR_SIG),
            BODY,
            TS,
            300,
        );
        assert_eq!(other_id, Verification::Invalid(Problem::NoMatch));
        let other_ts = verify(
            &[key],
            &headers(MSG_ID, "1614265331", VECTOR_SIG),
            BODY,
            TS,
            300,
        );
        assert_eq!(other_ts, Verification::Invalid(Problem::NoMatch));
    }

    #[test]
    fn stale_and_future_timestamps_beyond_the_tolerance() {
        let keys = [vector_key()];
        assert_eq!(check(&keys, VECTOR_SIG, BODY, TS + 300), valid());
        assert_eq!(check(&keys, VECTOR_SIG, BODY, TS - 300), valid());
        assert_eq!(
            check(&keys, VECTOR_SIG, BODY, TS + 301),
            Verification::Stale {
                timestamp: TS,
                skew_seconds: 301
            }
        );
        assert_eq!(
            check(&keys, VECTOR_SIG, BODY, TS - 301),
            Verification::Stale {
                timestamp: TS,
                skew_seconds: -301
            }
        );
        // Extreme clocks saturate rather than overflow.
        assert!(matches!(
            check(&keys, VECTOR_SIG, BODY, i64::MIN),
            Verification::Stale { .. }
        ));
        // A tolerance of its own.
        let h = headers(MSG_ID, "1614265330", VECTOR_SIG);
        assert_eq!(verify(&keys, &h, BODY, TS + 3600, 3600), valid());
        // A stale timestamp with a bad signature is invalid, not stale.
        assert_eq!(
            check(&keys, VECTOR_SIG, b"x", TS + 10_000),
            Verification::Invalid(Problem::NoMatch)
        );
    }

    #[test]
    fn missing_parts_and_malformed_timestamps() {
        let keys = [vector_key()];
        let none = SignatureHeaders::default();
        assert_eq!(verify(&keys, &none, BODY, TS, 300), Verification::Absent);
        let empty = headers("", " ", "");
        assert_eq!(verify(&keys, &empty, BODY, TS, 300), Verification::Absent);
        let cases = [
            (None, Some("1614265330"), Some(VECTOR_SIG), "webhook-id"),
            (Some(MSG_ID), None, Some(VECTOR_SIG), "webhook-timestamp"),
            (Some(MSG_ID), Some("1614265330"), None, "webhook-signature"),
            (Some(MSG_ID), None, None, "webhook-timestamp"),
            (None, None, Some(VECTOR_SIG), "webhook-id"),
        ];
        for (id, timestamp, signature, missing) in cases {
            let h = SignatureHeaders {
                id,
                timestamp,
                signature,
            };
            assert_eq!(
                verify(&keys, &h, BODY, TS, 300),
                Verification::Invalid(Problem::Missing(missing)),
                "{h:?}"
            );
        }
        for ts in [
            "-1614265330",
            "1614265330.0",
            "+1614265330",
            "16142e5",
            "99999999999999999999",
            "x",
        ] {
            assert_eq!(
                verify(&keys, &headers(MSG_ID, ts, VECTOR_SIG), BODY, TS, 300),
                Verification::Invalid(Problem::BadTimestamp),
                "{ts}"
            );
        }
        // Leading zeros are the same number, and signed as the number (as the libraries do).
        assert_eq!(
            verify(
                &keys,
                &headers(MSG_ID, "01614265330", VECTOR_SIG),
                BODY,
                TS,
                300
            ),
            valid()
        );
        // Surrounding spaces are not part of a header value.
        assert_eq!(
            verify(
                &keys,
                &headers(" msg_p5jXN8AQM9LWM0D4loKWxJek ", " 1614265330 ", VECTOR_SIG),
                BODY,
                TS,
                300
            ),
            valid()
        );
    }

    #[test]
    fn unknown_versions_and_malformed_entries_never_count() {
        let keys = [vector_key()];
        let b64 = VECTOR_SIG.strip_prefix("v1,").unwrap();
        for sig in [
            format!("v2,{b64}"),
            format!("v1a,{b64}"),
            format!("V1,{b64}"),
            b64.to_owned(),
            format!("v1,{}", &b64[..43]),
            format!("v1,{b64}AAAA"),
            format!("v1, {b64}"),
            "v1,".to_owned(),
            "v1,!!!!".to_owned(),
            ",,, ,".to_owned(),
        ] {
            assert_eq!(
                check(&keys, &sig, BODY, TS),
                Verification::Invalid(Problem::NoMatch),
                "{sig}"
            );
        }
    }

    #[test]
    fn one_good_entry_among_several_is_enough() {
        let keys = [vector_key()];
        let bad = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for sig in [
            format!("{bad} {VECTOR_SIG}"),
            format!("{VECTOR_SIG} {bad}"),
            format!("v2,xyz  {VECTOR_SIG} v1a,abc"),
            format!("v1,garbage {bad} {VECTOR_SIG}"),
        ] {
            assert_eq!(check(&keys, &sig, BODY, TS), valid(), "{sig}");
        }
    }

    /// Two client secrets during rotation: a signature by either verifies.
    #[test]
    fn any_configured_key_verifies() {
        let old = VerifyingKey::from_client_secret("old-secret").unwrap();
        let new = VerifyingKey::from_client_secret("new-secret").unwrap();
        let keys = [old.clone(), new.clone()];
        for signer in [&old, &new] {
            let sig = signer.sign(MSG_ID, TS, BODY);
            assert_eq!(check(&keys, &sig, BODY, TS), valid());
        }
        let stranger = VerifyingKey::from_client_secret("someone-else").unwrap();
        let sig = stranger.sign(MSG_ID, TS, BODY);
        assert_eq!(
            check(&keys, &sig, BODY, TS),
            Verification::Invalid(Problem::NoMatch)
        );
        assert_eq!(
            check(&[], VECTOR_SIG, BODY, TS),
            Verification::Invalid(Problem::NoMatch)
        );
    }

    #[test]
    fn bad_secrets_are_refused_without_echo() {
        assert!(VerifyingKey::from_client_secret("").is_err());
        for s in ["whsec_", "whsec_%%%", "%%%"] {
            let e = VerifyingKey::from_standard_secret(s).unwrap_err();
            assert!(!e.contains('%'));
        }
        assert_eq!(
            format!("{:?}", VerifyingKey::from_client_secret("hunter2").unwrap()),
            "VerifyingKey(<redacted>)"
        );
    }
}
