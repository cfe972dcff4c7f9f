//! Standard Webhooks 1.0 signatures: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
//! with the key decoded from the `whsec_…` secret, so consumers verify with the official
//! libraries.

use crate::core::base64::{self, Padding};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HMAC keyed once at configuration load: each signature starts from the keyed state
/// instead of hashing the key's pads again.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Accepts `whsec_<base64>`; the message never echoes the secret.
    pub fn from_secret(secret: &str) -> Result<Self, &'static str> {
        let b64 = secret
            .trim()
            .strip_prefix("whsec_")
            .ok_or("must start with `whsec_`")?;
        match base64::decode(b64, Padding::Required) {
            Some(key) if !key.is_empty() => Hmac::<Sha256>::new_from_slice(&key)
                .map(SigningKey)
                .map_err(|_| "is not a usable HMAC key"),
            Some(_) => Err("has an empty key after `whsec_`"),
            None => Err("is not valid base64 after `whsec_`"),
        }
    }

    /// `timestamp` is the `webhook-timestamp` header's text (unix seconds).
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut out = String::with_capacity(47);
        out.push_str("v1,");
        base64::encode_to(&mac(&self.0, id, timestamp, body), &mut out);
        out
    }
}

/// The Standard Webhooks MAC of one message, `HMAC(key, "{id}.{timestamp}.{body}")`, from a
/// keyed state: the one definition, for signing here and for verifying BigCommerce's
/// signatures (`ingest::signature`).
pub fn mac(key: &Hmac<Sha256>, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn standard_webhooks_test_vector() {
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused_with_the_reason() {
        for (s, why) in [
            (
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "must start with `whsec_`",
            ),
            ("whsec_", "has an empty key after `whsec_`"),
            ("whsec_%%%", "is not valid base64 after `whsec_`"),
        ] {
            assert_eq!(SigningKey::from_secret(s).unwrap_err(), why);
        }
        assert_eq!(
            format!("{:?}", SigningKey::from_secret("whsec_AAAA").unwrap()),
            "SigningKey(<redacted>)"
        );
    }
}
