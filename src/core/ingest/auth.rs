//! Verify: BigCommerce signs nothing, so a callback is authentic when it carries one of the
//! bearer tokens the operator put in the hook's `headers` at creation.

use crate::core::secret::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Splits `INGEST_TOKENS` (comma-separated, so two tokens allow rotation without downtime).
pub fn parse_tokens(raw: &str) -> Vec<Secret> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .collect()
}

/// True when `authorization` is `Bearer <t>` for one of `tokens`. Both sides are hashed first so
/// the comparison takes the same time whatever the length or content of the guess, and every
/// token is compared (no early exit).
pub fn bearer_matches(authorization: Option<&str>, tokens: &[Secret]) -> bool {
    let Some(given) = authorization.and_then(|h| {
        let (scheme, rest) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    }) else {
        return false;
    };
    let given = Sha256::digest(given.as_bytes());
    tokens
        .iter()
        .fold(subtle::Choice::from(0), |found, t| {
            found | Sha256::digest(t.expose().as_bytes()).ct_eq(&given)
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_configured_token() {
        let tokens = parse_tokens(" old-token , new-token,,");
        let values: Vec<&str> = tokens.iter().map(Secret::expose).collect();
        assert_eq!(values, ["old-token", "new-token"]);
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
}
