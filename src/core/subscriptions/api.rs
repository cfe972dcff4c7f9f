//! BigCommerce's store hooks API (`/stores/{hash}/v3/hooks`, see `webhooks.v3.yml`): the shapes
//! it lists and accepts, and what its error answers say.

use crate::core::json::Fields;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// Header name → value, as BigCommerce stores them on a hook.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HookHeaders(pub BTreeMap<String, String>);

impl HookHeaders {
    pub fn new() -> Self {
        HookHeaders(BTreeMap::new())
    }
}

impl<const N: usize> From<[(String, String); N]> for HookHeaders {
    fn from(pairs: [(String, String); N]) -> Self {
        HookHeaders(BTreeMap::from(pairs))
    }
}

impl FromIterator<(String, String)> for HookHeaders {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        HookHeaders(iter.into_iter().collect())
    }
}

impl std::ops::Deref for HookHeaders {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Names only: the values carry the relay's bearer token.
impl std::fmt::Debug for HookHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One hook as BigCommerce lists it (`webhook_Full`), read by [`Hook::read`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    pub id: u64,
    pub scope: String,
    pub destination: String,
    /// BigCommerce's default for a hook is active.
    pub is_active: bool,
    pub headers: Option<HookHeaders>,
    // `client_id`, `store_hash`, `created_at`, `updated_at` are ignored: the sync decides on
    // the fields above only, and each field read is code in the wasm.
}

impl Hook {
    /// Field by field (`json::Fields`): a derived visitor per API shape costs KBs of wasm.
    pub fn read(json: &str) -> Result<Hook, String> {
        let f = Fields::parse(json)?;
        Ok(Hook {
            id: f.get("id")?,
            scope: f.get("scope")?,
            destination: f.get("destination")?,
            is_active: f.opt("is_active")?.unwrap_or(true),
            headers: match f.present("headers")? {
                None => None,
                Some(raw) => Some(lenient_headers(raw.get())?),
            },
        })
    }
}

/// The spec says header values are strings. A hook of another app with some other JSON value
/// must not make the whole listing unreadable, so such values are kept as their JSON text.
fn lenient_headers(json: &str) -> Result<HookHeaders, String> {
    let raw: BTreeMap<String, Value> =
        serde_json::from_str(json).map_err(|e| format!("field `headers`: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, s),
            other => (k, json_text(&other)),
        })
        .collect())
}

/// Many hooks' raw JSON, in order.
fn list(json: &str) -> Result<Vec<Hook>, String> {
    let items: Vec<&RawValue> =
        serde_json::from_str(json).map_err(|e| format!("field `data`: {e}"))?;
    items.iter().map(|h| Hook::read(h.get())).collect()
}

/// `GET /v3/hooks`: one page of hooks (`webhooks_Resp`), with only what [`HookPage::next_page`]
/// reads of `meta.pagination` (`total`, `count`, `per_page` and the other links are ignored).
#[derive(Debug, Default)]
pub struct HookPage {
    pub data: Option<Vec<Hook>>,
    pub current_page: Option<u64>,
    pub total_pages: Option<u64>,
    pub next_link: Option<String>,
}

impl HookPage {
    pub fn read(json: &str) -> Result<HookPage, String> {
        let f = Fields::parse(json)?;
        let mut page = HookPage {
            data: f.present("data")?.map(|d| list(d.get())).transpose()?,
            ..HookPage::default()
        };
        let Some(meta) = f.present("meta")? else {
            return Ok(page);
        };
        let meta = Fields::parse(meta.get())?;
        let Some(p) = meta.present("pagination")? else {
            return Ok(page);
        };
        let p = Fields::parse(p.get())?;
        page.current_page = p.opt("current_page")?;
        page.total_pages = p.opt("total_pages")?;
        if let Some(links) = p.present("links")? {
            page.next_link = Fields::parse(links.get())?.opt("next")?;
        }
        Ok(page)
    }
}

impl HookPage {
    /// The page to ask for after `page`, or `None` when this was the last one: by
    /// `current_page`/`total_pages` when BigCommerce sends them, else by a non-empty
    /// `links.next`. An empty page always ends the listing.
    pub fn next_page(&self, page: u64) -> Option<u64> {
        if self.data.as_ref().is_none_or(Vec::is_empty) {
            return None;
        }
        match (self.current_page, self.total_pages) {
            (Some(current), Some(total)) => (current < total).then_some(current + 1),
            _ => self
                .next_link
                .as_deref()
                .is_some_and(|n| !n.trim().is_empty())
                .then_some(page + 1),
        }
    }
}

/// `POST`/`PUT /v3/hooks[/{id}]` answers: `{"data": hook, "meta": {}}`.
pub fn written_hook(json: &str) -> Result<Hook, String> {
    let f = Fields::parse(json)?;
    let data = f.need("data")?;
    Hook::read(data.get())
}

/// The body of a create (`webhook_Base`) or update (`webhook_Put`); absent fields are left as
/// they are by an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    pub is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HookHeaders>,
}

/// A value's compact JSON text, like its `Display`, through the serializer every other JSON
/// output of the relay uses (one copy of it in the wasm, not two).
fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The longest piece of a BigCommerce answer repeated in a report.
const MAX_MESSAGE: usize = 300;

/// What BigCommerce said in an error answer: its `title`, then each entry of `errors`; the raw
/// text (shortened) when the body is not its usual JSON.
pub fn error_message(status: u16, body: &str) -> String {
    // BigCommerce's error bodies (`error_Full`, `errorDetailed_Full`): `title`, `errors`.
    let read = |f: Fields<'_>| -> Result<(Option<String>, Option<Value>), String> {
        Ok((f.opt("title")?, f.opt("errors")?))
    };
    let mut out = match Fields::parse(body).and_then(read) {
        Ok((title, errors)) => {
            let mut parts: Vec<String> = title.into_iter().filter(|t| !t.is_empty()).collect();
            match errors {
                Some(Value::Object(m)) => parts.extend(m.iter().map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {}", json_text(other)),
                })),
                Some(Value::Array(a)) => parts.extend(a.iter().map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => json_text(other),
                })),
                _ => {}
            }
            parts.join("; ")
        }
        Err(_) => body.trim().to_owned(),
    };
    if out.is_empty() {
        out = format!("HTTP {status} without a message");
    }
    shorten(&out)
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Removes every secret from a text that is about to be shown or logged, in case BigCommerce
/// ever echoes part of a request.
pub use crate::core::secret::redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_list_and_follows_pages() {
        let body = r#"{"data":[{"id":18048287,"client_id":"m9r6","store_hash":"sftg45fsd","created_at":1561488106,"updated_at":1561488106,"scope":"store/order/created","destination":"https://665b65a6.ngrok.io/webhooks","is_active":true,"headers":{"custom-key":"developer-defined value","n":5}},{"id":2,"scope":"store/a/b","destination":"https://x","headers":null}],"meta":{"pagination":{"total":12,"count":2,"per_page":5,"current_page":1,"total_pages":3,"links":{"next":"?page=2&limit=5","current":"?page=1&limit=5"}}}}"#;
        let page = HookPage::read(body).unwrap();
        let hooks = page.data.as_ref().unwrap();
        assert_eq!(hooks[0].id, 18048287);
        assert_eq!(
            hooks[0].headers.as_ref().unwrap()["custom-key"],
            "developer-defined value"
        );
        assert_eq!(hooks[0].headers.as_ref().unwrap()["n"], "5");
        assert!(hooks[1].is_active, "absent is_active means active");
        assert_eq!(hooks[1].headers, None);
        assert_eq!(page.next_page(1), Some(2));

        let last = HookPage::read(
            r#"{"data":[{"id":1,"scope":"s","destination":"d"}],"meta":{"pagination":{"current_page":3,"total_pages":3,"links":{"next":"?page=4"}}}}"#,
        )
        .unwrap();
        assert_eq!(last.next_page(3), None, "total_pages wins over links");
        let by_link = HookPage::read(
            r#"{"data":[{"id":1,"scope":"s","destination":"d"}],"meta":{"pagination":{"links":{"next":"?page=5"}}}}"#,
        )
        .unwrap();
        assert_eq!(by_link.next_page(4), Some(5));
        let empty = HookPage::read(
            r#"{"data":[],"meta":{"pagination":{"current_page":1,"total_pages":9}}}"#,
        )
        .unwrap();
        assert_eq!(empty.next_page(1), None, "an empty page ends the listing");
        let bare = HookPage::read(r#"{"data":[{"id":1,"scope":"s","destination":"d"}]}"#).unwrap();
        assert_eq!(bare.next_page(1), None);
    }

    #[test]
    fn error_messages_are_bigcommerces_words() {
        assert_eq!(
            error_message(
                401,
                r#"{"status":401,"title":"Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.","type":"/api-docs/getting-started/api-status-codes"}"#
            ),
            "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store."
        );
        assert_eq!(
            error_message(
                422,
                r#"{"status":422,"title":"JSON data is missing or invalid","errors":{"destination":"error.path.missing."}}"#
            ),
            "JSON data is missing or invalid; destination: error.path.missing."
        );
        assert_eq!(error_message(502, "Bad gateway"), "Bad gateway");
        assert_eq!(error_message(500, "  "), "HTTP 500 without a message");
        assert_eq!(error_message(500, &"x".repeat(1000)).chars().count(), 301);
        assert_eq!(
            redact(
                "token abc123secret leaked, twice abc123secret",
                &["abc123secret", ""]
            ),
            "token [redacted] leaked, twice [redacted]"
        );
    }

    #[test]
    fn replace_all_matches_str_replace() {
        for (text, needle) in [
            ("", "abcd"),
            ("abcd", "abcd"),
            ("abcdabcd", "abcd"),
            ("aaaaa", "aa"),
            ("xx tökén ü tökén", "tökén"),
            ("ü€😀 needle😀needle", "needle"),
            ("no match here", "zzzz"),
            ("abc", "abcd"),
        ] {
            assert_eq!(
                crate::core::secret::replace_all(text, needle, "[r]"),
                text.replace(needle, "[r]"),
                "{text:?} / {needle:?}"
            );
        }
    }
}
