//! What the operator routes show and accept: the redacted configuration, dead-letter
//! summaries, replay requests, and the callbacks behind test events.

use crate::core::catalog::{self, Resource, CATALOG};
use crate::core::config::Target;
use crate::core::deliver::message::DeadLetter;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::json::{Fields, Scalar};
use crate::core::route::filter::Filter;
use crate::core::route::glob_match;
use serde::Serialize;
use std::borrow::Cow;

/// `?target=&limit=&cursor=` of a KV listing (dead letters, unreadable messages, quarantined
/// requests): `limit` 1-1000, default 50; an empty value is no value; other keys are ignored.
#[derive(Debug, PartialEq, Eq)]
pub struct Paging {
    pub target: Option<String>,
    pub limit: u64,
    pub cursor: Option<String>,
}

pub fn paging(url: &str) -> Result<Paging, RelayError> {
    let mut p = Paging {
        target: None,
        limit: 50,
        cursor: None,
    };
    for (k, v) in query_pairs(url) {
        match k.as_str() {
            "target" if !v.is_empty() => p.target = Some(v),
            "limit" => {
                p.limit = v
                    .parse::<u64>()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| {
                        RelayError::new(ErrorCode::InvalidField, "`limit` must be 1-1000")
                    })?;
            }
            "cursor" if !v.is_empty() => p.cursor = Some(v),
            _ => {}
        }
    }
    Ok(p)
}

/// Dead letters replayed per request at most: KV allows a bounded number of operations per
/// invocation, so "replay all" works in pages (`remaining: true` says call again).
pub const REPLAY_LIMIT: usize = 100;

/// The query parameters of a request URL, percent-decoded (`+` as space). Parsing the URL with
/// the `url` crate would pull its Unicode (IDNA) tables into the wasm: about 400 KB for two
/// query parameters.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or("");
    let decode = |s: &str| -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = b
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A target as `GET /admin/targets` shows it: every setting, no secret value.
#[derive(Serialize)]
pub struct TargetView<'a> {
    pub name: &'a str,
    /// Scheme, host and path only: a query string may carry a credential.
    pub url: String,
    pub events: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<&'a [String]>,
    pub format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<&'a str>,
    /// Header name → `secret:NAME` or `static`, never the value.
    pub headers: Vec<(&'a str, Cow<'a, str>)>,
    pub timeout_ms: u32,
    pub max_attempts: u32,
    pub enrich: bool,
    pub enrich_required: bool,
    /// The B2B Edition event types (without `com.bigcommerce.`) its patterns match.
    pub matches: Vec<String>,
    /// `template` and `where` as configured (they hold no secret: headers do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<&'a serde_json::Value>,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<&'a serde_json::Value>,
}

pub fn redact_url(url: &str) -> String {
    match url.split_once(['?', '#']) {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

pub fn target_view(t: &Target) -> TargetView<'_> {
    TargetView {
        name: &t.name,
        url: redact_url(&t.url),
        events: &t.events,
        stores: t.stores.as_deref(),
        format: t.format.as_str(),
        signing_secret: t.signing_secret.as_deref(),
        headers: t
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.source()))
            .collect(),
        timeout_ms: t.timeout_ms,
        max_attempts: t.max_attempts,
        enrich: t.enrich,
        enrich_required: t.enrich_required,
        matches: CATALOG
            .iter()
            .map(|(scope, _, _)| catalog::short_type(scope))
            .filter(|ty| t.events.iter().any(|g| glob_match(g, ty)))
            .collect(),
        template: t.shape.template_source.as_ref(),
        filter: t.shape.filter.as_ref().map(Filter::source),
    }
}

/// A message cut to 200 bytes (at a character boundary, `…` marking the cut), so a listing
/// entry stays within KV's 1024 bytes of metadata.
pub fn for_metadata(message: &str) -> String {
    let mut out = message.to_owned();
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The listing entry of a dead letter, also stored as its KV metadata so a list needs no reads.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeadLetterSummary {
    pub target: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub last_error: String,
    pub last_attempt_at: String,
}

impl DeadLetterSummary {
    /// Reads the KV metadata [`Serialize`] wrote.
    pub fn read(json: &str) -> Result<Self, String> {
        let f = Fields::parse(json)?;
        Ok(DeadLetterSummary {
            target: f.get("target")?,
            event_id: f.get("event_id")?,
            ty: f.get("type")?,
            attempts: f.whole("attempts")?,
            last_status: f.opt_whole("last_status")?,
            last_error: f.get("last_error")?,
            last_attempt_at: f.get("last_attempt_at")?,
        })
    }

    pub fn of(d: &DeadLetter) -> Self {
        DeadLetterSummary {
            target: d.target.clone(),
            event_id: d.event_id.clone(),
            ty: d.event.ty.clone(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: for_metadata(&d.last_error),
            last_attempt_at: d.last_attempt_at.clone(),
        }
    }
}

/// Every admin route's JSON body: `target`, `targets`, `ids`, `scope`, `since`, `until`,
/// `cursor`, each route taking some (`known`) and refusing any other member by name. One reader
/// in the wasm (`json::Fields`): a derived visitor per body was ~2 KB each.
#[derive(Debug, Default)]
pub struct AdminBody {
    pub target: Option<String>,
    pub targets: Option<Vec<String>>,
    pub ids: Option<Vec<String>>,
    pub scope: Option<String>,
    pub since: Option<Time>,
    pub until: Option<Time>,
    pub cursor: Option<String>,
}

/// A time in a body: unix ms, or the RFC 3339 text queries take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Time {
    Ms(i64),
    Text(String),
}

impl AdminBody {
    /// A blank body is the empty one.
    pub fn read(text: &str, known: &[&str]) -> Result<AdminBody, String> {
        if text.trim().is_empty() {
            return Ok(AdminBody::default());
        }
        let f = Fields::parse(text)?;
        f.only(known)?;
        Ok(AdminBody {
            target: f.opt("target")?,
            targets: f.opt("targets")?,
            ids: f.opt("ids")?,
            scope: f.opt("scope")?,
            since: time(&f, "since")?,
            until: time(&f, "until")?,
            cursor: f.opt("cursor")?,
        })
    }
}

fn time(f: &Fields, name: &str) -> Result<Option<Time>, String> {
    match f.opt::<Scalar>(name)? {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::I64(n)) => Ok(Some(Time::Ms(n))),
        Some(Scalar::U64(n)) => i64::try_from(n)
            .map(|n| Some(Time::Ms(n)))
            .map_err(|_| format!("field `{name}`: time out of range")),
        Some(Scalar::Str(s)) => Ok(Some(Time::Text(s.into_owned()))),
        Some(_) => Err(format!(
            "field `{name}`: expected unix milliseconds or YYYY-MM-DDTHH:MM:SSZ"
        )),
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReplayReport {
    pub replayed: usize,
    pub failed: usize,
    pub not_found: usize,
    /// More records match than one request replays: call again.
    pub remaining: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Plausible ids for a scope's `data`, following BigCommerce's documented shapes.
fn sample_data(scope: &str) -> &'static str {
    match catalog::lookup(scope).map(|k| k.0) {
        Some(Resource::Company) => r#"{"company_id":1}"#,
        Some(Resource::CompanyUser) => r#"{"company_id":1,"user_id":1}"#,
        Some(Resource::CompanyAddress) => r#"{"company_id":1,"address_id":1}"#,
        Some(Resource::SuperAdmin) => r#"{"user_id":1}"#,
        Some(Resource::Quote) => r#"{"quote_id":1,"quote_uuid":"test"}"#,
        None => "{}",
    }
}

/// A callback body as BigCommerce would send it. `nonce_hex` (40 hex characters) stands in for
/// the data hash so that every test event gets its own id.
pub fn test_callback(scope: &str, store_hash: &str, created_at: i64, nonce_hex: &str) -> String {
    format!(
        r#"{{"scope":{},"store_id":"0","data":{},"hash":"{nonce_hex}","created_at":{created_at},"producer":"stores/{store_hash}"}}"#,
        serde_json::to_string(scope).unwrap_or_default(),
        sample_data(scope)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config;
    use crate::core::ingest::callback;

    #[test]
    fn listing_paging_reads_target_limit_and_cursor() {
        let p = paging("https://r/admin/x?target=crm&limit=7&cursor=abc&other=1").unwrap();
        assert_eq!(
            p,
            Paging {
                target: Some("crm".into()),
                limit: 7,
                cursor: Some("abc".into()),
            }
        );
        let empty = paging("https://r/admin/x?target=&cursor=").unwrap();
        assert_eq!((empty.target, empty.limit, empty.cursor), (None, 50, None));
        for bad in ["0", "1001", "x", ""] {
            let e = paging(&format!("https://r/admin/x?limit={bad}")).unwrap_err();
            assert_eq!(e.to_string(), "`limit` must be 1-1000", "{bad}");
        }
    }

    #[test]
    fn admin_bodies_take_their_routes_members_and_refuse_others_by_name() {
        let b = AdminBody::read(
            r#"{"target":"crm","ids":["a"],"since":1700000000000,"until":"2026-12-01T00:00:00Z"}"#,
            &["target", "ids", "since", "until"],
        )
        .unwrap();
        assert_eq!(b.target.as_deref(), Some("crm"));
        assert_eq!(b.ids, Some(vec!["a".to_owned()]));
        assert_eq!(b.since, Some(Time::Ms(1_700_000_000_000)));
        assert_eq!(b.until, Some(Time::Text("2026-12-01T00:00:00Z".into())));
        assert!(AdminBody::read(" \n", &[]).unwrap().target.is_none());
        assert_eq!(
            AdminBody::read(r#"{"target":"crm","id":"x"}"#, &["target", "ids"]).unwrap_err(),
            "unknown field `id`, expected one of `target`, `ids`"
        );
        assert!(AdminBody::read(r#"{"since":1.5}"#, &["since"])
            .unwrap_err()
            .contains("unix milliseconds"));
        assert!(AdminBody::read("[]", &[]).is_err());
    }

    #[test]
    fn the_view_hides_every_secret_and_lists_matching_types() {
        let src = |k: &str| {
            match k {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "K" => Some("whsec_c2VjcmV0LWtleQ==".to_owned()),
            "API" => Some("api-secret-value".to_owned()),
            "TARGETS" => Some(r#"[{"name":"crm","url":"https://crm.example.com/h?token=abc","events":["quote.*"],"signing_secret":"K","headers":{"X-Api":"secret:API","X-Team":"literal-team"}}]"#.to_owned()),
            _ => None,
        }
        };
        let cfg = config::load(&src).unwrap();
        let text = serde_json::to_string(&target_view(&cfg.targets[0])).unwrap();
        for secret in ["abc", "c2VjcmV0", "api-secret-value", "literal-team"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains(r#""url":"https://crm.example.com/h?…""#),
            "{text}"
        );
        assert!(text.contains(r#""signing_secret":"K""#));
        assert!(
            text.contains(r#"["x-api","secret:API"]"#) && text.contains(r#"["x-team","static"]"#),
            "{text}"
        );
        assert!(text.contains(r#""matches":["quote.created","quote.updated","quote.statusUpdated","quote.deleted"]"#), "{text}");
    }

    #[test]
    fn test_callbacks_are_valid_and_distinct() {
        for (scope, ..) in CATALOG {
            let body = test_callback(scope, "abc", 1_700_000_000, &"a".repeat(40));
            let cb = callback::parse(body.as_bytes()).unwrap();
            assert_eq!(cb.scope, scope);
            assert!(
                crate::core::catalog::subject(
                    crate::core::catalog::lookup(scope).map(|k| k.0),
                    &cb.data
                )
                .is_some(),
                "{scope}"
            );
        }
        let a = callback::parse(test_callback("store/x/y", "abc", 1, &"a".repeat(40)).as_bytes())
            .unwrap();
        let b = callback::parse(test_callback("store/x/y", "abc", 1, &"b".repeat(40)).as_bytes())
            .unwrap();
        assert_ne!(
            crate::core::event::event_id(&a),
            crate::core::event::event_id(&b)
        );
    }

    #[test]
    fn query_pairs_decode() {
        assert_eq!(
            query_pairs(
                "https://x/admin/dead-letters?target=crm&limit=3&cursor=a%2Bb%3D%3D+c&flag#frag"
            ),
            [
                ("target".into(), "crm".into()),
                ("limit".into(), "3".into()),
                ("cursor".into(), "a+b== c".into()),
                ("flag".into(), String::new())
            ]
        );
        assert!(query_pairs("https://x/path").is_empty());
        assert_eq!(
            query_pairs("https://x/?a=%zz&b=%4"),
            [("a".into(), "%zz".into()), ("b".into(), "%4".into())]
        );
    }

    #[test]
    fn long_errors_are_cut_for_kv_metadata() {
        let body = test_callback("store/company/created", "abc", 1, &"a".repeat(40));
        let ev = crate::core::event::normalize(callback::parse(body.as_bytes()).unwrap(), 0);
        let d = crate::core::deliver::message::Delivery::first("crm", ev.into(), None, 0)
            .into_dead_letter(Some(500), "é".repeat(300), 1);
        let s = DeadLetterSummary::of(&d);
        assert!(s.last_error.len() <= 204 && s.last_error.ends_with('…'));
        assert!(serde_json::to_string(&s).unwrap().len() < 1024);
    }
}
