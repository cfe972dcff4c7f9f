//! Enrichment: BigCommerce callbacks carry only ids, so for targets with `enrich = true` the
//! relay fetches the resource from the B2B Edition REST Management API v3 once per event and
//! puts it inside the event's `data`. This module decides what to fetch, how to read the answer
//! and what the enriched event looks like; the edge only does the HTTP call.

use crate::core::catalog::{self, Action, Resource};
use crate::core::event::CloudEvent;
use crate::core::json::Fields;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub const DEFAULT_API_BASE: &str = "https://api-b2b.bigcommerce.com/api/v3/io";
/// Attempts at the API before targets that do not require enrichment get `failed`: a few
/// minutes of retrying, never hours of holding an event back.
pub const FAST_ATTEMPTS: u32 = 4;
/// Per-request timeout for the B2B API.
pub const TIMEOUT_MS: u32 = 10_000;

#[derive(Debug, Clone)]
pub enum Enrichment {
    /// The API response's `data` object.
    Ok(Box<RawValue>),
    /// The resource is gone: every `deleted` event, or a 404.
    NotFound,
    /// The API could not be used; the reason travels in `enrichment_error`.
    Failed(String),
    /// Not one of the 19 B2B scopes: nothing known to fetch.
    Skipped,
}

impl Enrichment {
    pub fn as_str(&self) -> &'static str {
        match self {
            Enrichment::Ok(_) => "ok",
            Enrichment::NotFound => "not_found",
            Enrichment::Failed(_) => "failed",
            Enrichment::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Plan {
    /// GET this path (and query) below the API base.
    Fetch(String),
    /// Known without calling the API.
    Resolved(Enrichment),
}

/// `2023-11-14T…` → `11%2F14%2F2023`: `GET /rfq/{quote_id}` requires the quote's creation date
/// as `%m/%d/%Y`; the event's own date is the best the callback offers (exact for `created`).
fn quote_date(time: &str) -> Option<String> {
    let (y, m, d) = (time.get(0..4)?, time.get(5..7)?, time.get(8..10)?);
    Some(format!("{m}%2F{d}%2F{y}"))
}

pub fn plan(event: &CloudEvent) -> Plan {
    let Some((resource, action)) = catalog::lookup(&event.bcscope) else {
        return Plan::Resolved(Enrichment::Skipped);
    };
    if action == Action::Deleted {
        return Plan::Resolved(Enrichment::NotFound);
    }
    // The B2B API is asked per store (`X-Store-Hash`); without `producer` no store is known.
    if event.storehash.is_empty() {
        return Plan::Resolved(Enrichment::Failed(
            "the callback has no `producer`, so its store hash is unknown".into(),
        ));
    }
    let ids = catalog::ids(&event.data);
    let path = match resource {
        // Company events about super admins are enriched with the company.
        Resource::Company => ids.company.map(|c| format!("/companies/{c}")),
        Resource::CompanyUser => ids.user.map(|u| format!("/users/{u}")),
        Resource::CompanyAddress => ids.address.map(|a| format!("/addresses/{a}")),
        // The spec's read endpoint for one super admin is /super-admins/info/{superAdminId}.
        Resource::SuperAdmin => ids.user.map(|u| format!("/super-admins/info/{u}")),
        Resource::Quote => ids.quote.and_then(|q| {
            let date = quote_date(&event.time)?;
            Some(format!("/rfq/{q}?date={date}"))
        }),
    };
    match path {
        Some(p) => Plan::Fetch(p),
        None => Plan::Resolved(Enrichment::Failed(
            "the callback's data has no id to fetch the resource by".into(),
        )),
    }
}

/// What one API answer means.
#[derive(Debug, Clone)]
pub enum Verdict {
    Done(Enrichment),
    /// Worth another try (429, 5xx, 401/403 that an operator may fix, network, timeout).
    Retry {
        retry_after: Option<u32>,
        reason: String,
    },
}

pub fn classify(status: u16, body: &str, retry_after: Option<u32>) -> Verdict {
    match status {
        200..=299 => match Fields::parse(body).and_then(|f| f.raw("data")) {
            Ok(Some(data)) if data.get().starts_with('{') => {
                Verdict::Done(Enrichment::Ok(data.to_owned()))
            }
            _ => Verdict::Done(Enrichment::Failed(format!(
                "HTTP {status} without a `data` object"
            ))),
        },
        404 => Verdict::Done(Enrichment::NotFound),
        401 | 403 | 408 | 425 | 429 | 500..=599 => Verdict::Retry {
            retry_after,
            reason: format!("HTTP {status}"),
        },
        _ => Verdict::Done(Enrichment::Failed(format!("HTTP {status}"))),
    }
}

/// Secret names for a store's API token, most specific first.
pub fn token_names(store_hash: &str) -> [String; 3] {
    [
        format!("BC_ACCESS_TOKEN_{store_hash}"),
        format!("BC_ACCESS_TOKEN_{}", store_hash.to_ascii_uppercase()),
        "BC_ACCESS_TOKEN".into(),
    ]
}

#[derive(Serialize)]
struct Enriched<'a> {
    #[serde(flatten)]
    ids: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a RawValue>,
    enrichment: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrichment_error: Option<&'a str>,
}

/// The event with `data` = BigCommerce's ids + `resource` + `enrichment` (+ `enrichment_error`).
/// Every other attribute, the id included, stays the same.
pub fn apply(event: &CloudEvent, e: &Enrichment) -> CloudEvent {
    let mut ids: Map<String, Value> = serde_json::from_str(event.data.get()).unwrap_or_default();
    for k in ["resource", "enrichment", "enrichment_error"] {
        ids.remove(k);
    }
    let enriched = Enriched {
        ids,
        resource: match e {
            Enrichment::Ok(r) => Some(r),
            _ => None,
        },
        enrichment: e.as_str(),
        enrichment_error: match e {
            Enrichment::Failed(why) => Some(why),
            _ => None,
        },
    };
    let mut out = event.clone();
    if let Ok(data) = serde_json::to_string(&enriched).and_then(RawValue::from_string) {
        out.data = data;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event;
    use crate::core::ingest::callback;

    fn ev(scope: &str, data: &str) -> CloudEvent {
        let body = format!(
            r#"{{"scope":"{scope}","store_id":"1","data":{data},"hash":"aa","created_at":1700000000,"producer":"stores/abc"}}"#
        );
        event::normalize(callback::parse(body.as_bytes()).unwrap(), 0)
    }

    fn path(scope: &str, data: &str) -> String {
        match plan(&ev(scope, data)) {
            Plan::Fetch(p) => p,
            other => panic!("{scope}: {other:?}"),
        }
    }

    #[test]
    fn each_resource_has_its_endpoint() {
        assert_eq!(
            path("store/company/updated", r#"{"company_id":12}"#),
            "/companies/12"
        );
        assert_eq!(
            path(
                "store/company/superadmin/assignmentUpdated",
                r#"{"company_id":12,"user_id":3}"#
            ),
            "/companies/12"
        );
        assert_eq!(
            path(
                "store/company/user/created",
                r#"{"company_id":12,"user_id":3}"#
            ),
            "/users/3"
        );
        assert_eq!(
            path(
                "store/company/address/updated",
                r#"{"company_id":12,"address_id":4}"#
            ),
            "/addresses/4"
        );
        assert_eq!(
            path("store/superadmin/created", r#"{"user_id":5}"#),
            "/super-admins/info/5"
        );
        assert_eq!(
            path(
                "store/quote/statusUpdated",
                r#"{"quote_id":6,"quote_uuid":"x"}"#
            ),
            "/rfq/6?date=11%2F14%2F2023"
        );
    }

    #[test]
    fn deleted_unknown_and_idless_events_need_no_call() {
        for (scope, data, want) in [
            ("store/company/deleted", r#"{"company_id":1}"#, "not_found"),
            ("store/quote/deleted", r#"{"quote_id":1}"#, "not_found"),
            ("store/order/created", r#"{"order_id":1}"#, "skipped"),
            ("store/company/updated", r#"{}"#, "failed"),
        ] {
            match plan(&ev(scope, data)) {
                Plan::Resolved(e) => assert_eq!(e.as_str(), want, "{scope}"),
                Plan::Fetch(p) => panic!("{scope} fetched {p}"),
            }
        }
        let no_producer = br#"{"scope":"store/company/updated","data":{"company_id":1}}"#;
        let e = event::normalize(callback::parse(no_producer).unwrap(), 0);
        assert!(
            matches!(plan(&e), Plan::Resolved(Enrichment::Failed(ref why)) if why.contains("producer"))
        );
    }

    #[test]
    fn classifies_api_answers() {
        let ok = classify(
            200,
            r#"{"code":200,"data":{"companyId":1,"companyName":"Acme"},"meta":{"message":"SUCCESS"}}"#,
            None,
        );
        assert!(
            matches!(ok, Verdict::Done(Enrichment::Ok(ref d)) if d.get() == r#"{"companyId":1,"companyName":"Acme"}"#)
        );
        assert!(matches!(
            classify(200, "<html>", None),
            Verdict::Done(Enrichment::Failed(_))
        ));
        assert!(matches!(
            classify(404, "{}", None),
            Verdict::Done(Enrichment::NotFound)
        ));
        assert!(matches!(
            classify(429, "", Some(7)),
            Verdict::Retry {
                retry_after: Some(7),
                ..
            }
        ));
        for s in [401, 500, 503] {
            assert!(
                matches!(classify(s, "", None), Verdict::Retry { .. }),
                "{s}"
            );
        }
        assert!(matches!(
            classify(400, "", None),
            Verdict::Done(Enrichment::Failed(_))
        ));
    }

    #[test]
    fn enriched_data_keeps_ids_and_everything_else() {
        let e = ev(
            "store/company/user/created",
            r#"{"company_id":12,"user_id":3}"#,
        );
        let res = RawValue::from_string(r#"{"id":3,"email":"a@b.c"}"#.into()).unwrap();
        let out = apply(&e, &Enrichment::Ok(res));
        assert_eq!(
            out.data.get(),
            r#"{"company_id":12,"user_id":3,"resource":{"id":3,"email":"a@b.c"},"enrichment":"ok"}"#
        );
        assert_eq!(
            (out.id, out.ty, out.subject, out.time),
            (
                e.id.clone(),
                e.ty.clone(),
                e.subject.clone(),
                e.time.clone()
            )
        );
        let failed = apply(&e, &Enrichment::Failed("HTTP 503".into()));
        assert_eq!(
            failed.data.get(),
            r#"{"company_id":12,"user_id":3,"enrichment":"failed","enrichment_error":"HTTP 503"}"#
        );
        assert_eq!(
            apply(&e, &Enrichment::NotFound).data.get(),
            r#"{"company_id":12,"user_id":3,"enrichment":"not_found"}"#
        );
    }

    #[test]
    fn per_store_tokens_come_first() {
        assert_eq!(
            token_names("abc1"),
            [
                "BC_ACCESS_TOKEN_abc1",
                "BC_ACCESS_TOKEN_ABC1",
                "BC_ACCESS_TOKEN"
            ]
        );
    }
}
