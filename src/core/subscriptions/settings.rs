//! What one sync needs: the store, its API, the tokens, the hooks' destination and scopes.
//! `config::load` reads and checks them with the rest of the configuration (`Config::sync`).

use super::api::redact;
use crate::core::catalog::CATALOG;
use crate::core::ingest::exception;
use crate::core::secret::Secret;

/// `BC_API_BASE` when unset.
pub const DEFAULT_API_BASE: &str = "https://api.bigcommerce.com";

/// Everything one sync needs. The tokens are [`Secret`]s, so `{:?}` shows neither.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BC_API_BASE`, without a trailing slash.
    pub api_base: String,
    pub store_hash: String,
    /// `BC_ACCESS_TOKEN`, sent as `X-Auth-Token` and nowhere else.
    pub access_token: Secret,
    /// `{PUBLIC_URL}/webhooks/bigcommerce` (the exceptions hook's is derived from it:
    /// `plan::destination_for`).
    pub destination: String,
    /// The first `INGEST_TOKENS` token, put in each hook's `Authorization` header; `None`
    /// without `INGEST_TOKENS` (only signatures authenticate; hooks then carry no headers).
    pub bearer_token: Option<Secret>,
    pub scopes: Vec<String>,
}

/// Why the sync cannot run. Not a configuration error: a relay without the sync is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// None of BC_STORE_HASH, BC_ACCESS_TOKEN, PUBLIC_URL is set: the operator does not use
    /// the sync (the cron then does nothing, quietly).
    Absent,
    /// Some are set, others missing, named in each message.
    Incomplete(Vec<String>),
}

impl SettingsError {
    /// What to set, without the `sync not configured` prefix.
    pub fn reason(&self) -> String {
        match self {
            SettingsError::Absent => {
                "set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL".into()
            }
            SettingsError::Incomplete(missing) => missing.join("; "),
        }
    }

    pub fn message(&self) -> String {
        format!("sync not configured: {}", self.reason())
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
        let bearer = self.bearer_token.as_ref().map_or("", Secret::expose);
        redact(text, &[self.access_token.expose(), bearer])
    }

    /// Whether the delivery-exception hook is wanted, and its destination.
    pub fn exceptions_destination(&self) -> Option<String> {
        self.scopes
            .iter()
            .any(|s| s == exception::SCOPE)
            .then(|| super::plan::destination_for(exception::SCOPE, &self.destination).into_owned())
    }
}

/// The default wanted scopes: the 19 B2B Edition scopes of the catalog, then
/// `store/hook/deliveryException` (BigCommerce's word that a hook is failing).
pub fn default_scopes() -> Vec<String> {
    CATALOG
        .iter()
        .map(|(s, _, _)| *s)
        .chain([exception::SCOPE])
        .map(str::to_owned)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_configured_names_what_to_set() {
        assert_eq!(
            SettingsError::Absent.message(),
            "sync not configured: set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL"
        );
        let e = SettingsError::Incomplete(vec!["A is not set".into(), "B is not set".into()]);
        assert_eq!(
            e.message(),
            "sync not configured: A is not set; B is not set"
        );
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
}
