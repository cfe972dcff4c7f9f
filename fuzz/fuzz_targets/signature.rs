//! Arbitrary signature headers, secrets, bodies and clocks → `signature::verify` and
//! `auth::authenticate`: never a panic; a signature made with a key (by an independent HMAC,
//! as BigCommerce's `Webhook(base64(secret))` would) verifies, and flipping any byte of the body,
//! or a clock beyond the tolerance, makes it fail.
#![no_main]

use b2b_relay::core::error::ErrorCode;
use b2b_relay::core::ingest::auth::{self, AuthSettings, Mode};
use b2b_relay::core::ingest::signature::{
    verify, Problem, SignatureHeaders, Verification, VerifyingKey,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    other_secret: &'a str,
    id: &'a str,
    /// Raw header texts, tried as they are.
    timestamp: &'a str,
    signature: &'a str,
    now: i64,
    tolerance: u32,
    skew: i32,
    flip_at: u16,
    flip_with: u8,
    mode: u8,
    bearer: Option<&'a str>,
    /// Last, so it takes the rest of the input.
    body: &'a [u8],
}

/// The oracle: HMAC-SHA256 keyed with the secret's bytes over `{id}.{timestamp}.{body}`.
fn oracle(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fuzz_target!(|input: Input| {
    let tolerance = i64::from(input.tolerance % 700_000);
    let keys: Vec<VerifyingKey> = [input.secret, input.other_secret]
        .iter()
        .filter_map(|s| VerifyingKey::from_client_secret(s).ok())
        .collect();

    // Whatever the headers say: no panic, and "valid" only for what the oracle signs.
    let raw = SignatureHeaders {
        id: Some(input.id),
        timestamp: Some(input.timestamp),
        signature: Some(input.signature),
    };
    match verify(&keys, &raw, input.body, input.now, tolerance) {
        Verification::Valid {
            webhook_id,
            timestamp,
        } => {
            assert_eq!(webhook_id, input.id.trim());
            assert!((input.now.saturating_sub(timestamp)).unsigned_abs() <= tolerance as u64);
            let signed = [input.secret, input.other_secret].iter().any(|s| {
                !s.is_empty()
                    && input
                        .signature
                        .trim()
                        .split(' ')
                        .any(|e| e == oracle(s, webhook_id, timestamp, input.body))
            });
            assert!(signed, "valid without an oracle signature: {input:?}");
        }
        Verification::Stale { skew_seconds, .. } => {
            assert!(skew_seconds.unsigned_abs() > tolerance as u64)
        }
        Verification::Invalid(_) | Verification::Absent => {}
    }

    // A real signature: made by the oracle with the first secret, at a time within tolerance.
    let id = input.id.trim();
    if input.secret.is_empty() || id.is_empty() {
        return;
    }
    let key = VerifyingKey::from_client_secret(input.secret).expect("a non-empty secret");
    // Far enough from 0 that `timestamp` is positive (whole seconds) whatever the skew.
    let now = input.now.rem_euclid(1 << 40) + 700_001;
    let timestamp = now.saturating_sub(i64::from(input.skew) % (tolerance + 1));
    let sig = oracle(input.secret, id, timestamp, input.body);
    assert_eq!(key.sign(id, timestamp, input.body), sig);
    // BigCommerce's sample key: base64 of the secret, decoded again by the library.
    let sample = VerifyingKey::from_standard_secret(&STANDARD.encode(input.secret))
        .expect("base64 of a non-empty secret");
    assert_eq!(sample.sign(id, timestamp, input.body), sig);

    let ts = timestamp.to_string();
    // Extra entries before and after (junk, other versions) change nothing.
    let header = format!("v2,{} {sig} {}", input.signature.replace(' ', ""), "v1,AAAA");
    let headers = SignatureHeaders {
        id: Some(input.id),
        timestamp: Some(&ts),
        signature: Some(&header),
    };
    assert_eq!(
        verify(&keys, &headers, input.body, now, tolerance),
        Verification::Valid {
            webhook_id: id,
            timestamp
        }
    );
    // Any flipped byte of the body fails; every byte for small bodies.
    let flips: Vec<usize> = if input.body.len() <= 128 {
        (0..input.body.len()).collect()
    } else {
        vec![usize::from(input.flip_at) % input.body.len()]
    };
    let with = input.flip_with.max(1);
    let mut body = input.body.to_vec();
    for i in flips {
        body[i] ^= with;
        assert_eq!(
            verify(std::slice::from_ref(&key), &headers, &body, now, tolerance),
            Verification::Invalid(Problem::NoMatch),
            "flipped byte {i}"
        );
        body[i] ^= with;
    }
    // A byte more or less fails too.
    body.push(b' ');
    assert_eq!(
        verify(std::slice::from_ref(&key), &headers, &body, now, tolerance),
        Verification::Invalid(Problem::NoMatch)
    );
    // Beyond the tolerance, either way: stale.
    for late in [tolerance + 1, -(tolerance + 1)] {
        assert!(matches!(
            verify(&keys, &headers, input.body, timestamp + late, tolerance),
            Verification::Stale { .. }
        ));
    }

    // The whole decision: never a panic, every refusal a 401 that echoes no token.
    let mode = [Mode::Token, Mode::Signature, Mode::Any, Mode::All][usize::from(input.mode % 4)];
    let settings = AuthSettings::new(
        mode,
        &["fuzz-token"],
        &[input.secret, input.other_secret],
        tolerance.max(60),
    );
    let authorization = input.bearer.map(|b| format!("Bearer {b}"));
    for h in [headers, raw, SignatureHeaders::default()] {
        match auth::authenticate(&settings, authorization.as_deref(), h, input.body, now) {
            Ok(a) => assert!(a.webhook_id.is_none() || h.id.is_some()),
            Err(e) => {
                assert_eq!(e.status(), 401);
                assert!(matches!(
                    e.code(),
                    ErrorCode::Unauthorized | ErrorCode::InvalidSignature | ErrorCode::StaleSignature
                ));
                assert!(!e.message().contains("fuzz-token"), "{e:?}");
            }
        }
    }
    // The signed request always passes where a signature is enough (settings trim secrets,
    // as every comma-separated setting is trimmed).
    if matches!(mode, Mode::Signature | Mode::Any) && input.secret.trim() == input.secret {
        let a = auth::authenticate(&settings, None, headers, input.body, now)
            .expect("a good signature is enough in this mode");
        assert_eq!(a.webhook_id.as_deref(), Some(id));
    }
});
