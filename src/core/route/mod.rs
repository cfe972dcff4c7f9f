//! Route: which targets want an event, by type glob and store.

pub mod filter;
pub mod path;

use crate::core::config::Target;
use crate::core::event::CloudEvent;

/// `*` matches any run of characters (dots included); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl Target {
    pub fn wants(&self, short_type: &str, store_hash: &str) -> bool {
        self.stores
            .as_ref()
            .is_none_or(|s| s.iter().any(|h| h == store_hash))
            && self.events.iter().any(|g| glob_match(g, short_type))
    }
}

impl Target {
    /// The `where` filter on the event as it is. For an enriching target the filter may read
    /// fields only enrichment adds, so at ingest it only drops what no enrichment could make
    /// match (`may_match`); the full check runs on the enriched event ([`Target::accepts`]).
    pub fn may_accept(&self, event: &CloudEvent) -> bool {
        self.shape.filter.as_ref().is_none_or(|f| {
            let v = self.shape.needs.pick(event);
            if self.enrich {
                f.may_match(&v)
            } else {
                f.matches(&v)
            }
        })
    }

    /// The `where` filter on the final (for enriching targets: enriched) event.
    pub fn accepts(&self, event: &CloudEvent) -> bool {
        self.shape
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(&self.shape.needs.pick(event)))
    }
}

/// The targets that receive `event`, in configuration order: by type glob and store, then by
/// `where` as far as it can be decided before enrichment, so no message is enqueued for nothing.
pub fn route<'a>(targets: &'a [Target], event: &CloudEvent) -> Vec<&'a Target> {
    let ty = event.short_type();
    targets
        .iter()
        .filter(|t| t.wants(ty, &event.storehash) && t.may_accept(event))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let yes = [
            ("*", "company.created"),
            ("company.*", "company.user.created"),
            ("company.*", "company.created"),
            ("quote.statusUpdated", "quote.statusUpdated"),
            ("*.deleted", "company.address.deleted"),
            ("company.*.created", "company.user.created"),
            ("**", ""),
            ("a*b*c", "aXXbYYc"),
        ];
        for (p, t) in yes {
            assert!(glob_match(p, t), "{p} ~ {t}");
        }
        let no = [
            ("company.*", "superadmin.created"),
            ("quote.statusUpdated", "quote.statusupdated"),
            ("quote.created", "quote.created.x"),
            ("*.deleted", "company.deleted.later"),
            ("company.*.created", "company.created"),
            ("a*b*c", "aXXbYY"),
        ];
        for (p, t) in no {
            assert!(!glob_match(p, t), "{p} !~ {t}");
        }
    }

    fn shaped(targets: &str) -> Vec<Target> {
        let src = |k: &str| match k {
            "INGEST_TOKENS" => Some("t".to_owned()),
            "TARGETS" => Some(targets.to_owned()),
            _ => None,
        };
        crate::core::config::load(&src).unwrap().targets
    }

    fn event(scope: &str, data: &str) -> CloudEvent {
        let body = format!(
            r#"{{"scope":"{scope}","store_id":"1","data":{data},"hash":"a","created_at":1,"producer":"stores/abc"}}"#
        );
        crate::core::event::normalize(
            crate::core::ingest::callback::parse(body.as_bytes()).unwrap(),
            0,
        )
    }

    #[test]
    fn where_filters_route_at_ingest_and_wait_for_enrichment_when_they_must() {
        let ts = shaped(
            r#"[{"name":"big","url":"https://a","where":{"data":{"company_id":{"$gte":100}}}},
                {"name":"approved","url":"https://b","enrich":true,"where":{"data":{"resource":{"companyStatus":1}}}},
                {"name":"all","url":"https://c"}]"#,
        );
        let names = |ev: &CloudEvent| -> Vec<String> {
            route(&ts, ev).iter().map(|t| t.name.clone()).collect()
        };
        let small = event("store/company/updated", r#"{"company_id":7}"#);
        let large = event("store/company/updated", r#"{"company_id":700}"#);
        // The enriching target's filter reads data.resource: kept until enrichment tells.
        assert_eq!(names(&small), ["approved", "all"]);
        assert_eq!(names(&large), ["big", "approved", "all"]);
        // After enrichment the full filter decides.
        let enriched = |status: u8| {
            let mut ev = event("store/company/updated", r#"{"company_id":7}"#);
            ev.data = serde_json::value::RawValue::from_string(format!(
                r#"{{"company_id":7,"enrichment":"ok","resource":{{"companyStatus":{status}}}}}"#
            ))
            .unwrap();
            ev
        };
        assert!(ts[1].accepts(&enriched(1)));
        assert!(!ts[1].accepts(&enriched(0)));
        assert!(ts[2].accepts(&enriched(0)), "no filter: everything");
    }

    #[test]
    fn shape_mistakes_are_configuration_errors_by_name() {
        let load = |targets: &str| {
            let src = |k: &str| match k {
                "INGEST_TOKENS" => Some("t".to_owned()),
                "TARGETS" => Some(targets.to_owned()),
                _ => None,
            };
            crate::core::config::load(&src)
                .err()
                .unwrap_or_default()
                .join("\n")
        };
        for (targets, want) in [
            (
                r#"[{"name":"a","url":"https://a","format":"template"}]"#,
                "needs a `template`",
            ),
            (
                r#"[{"name":"a","url":"https://a","template":{"x":"{{ id }}"}}]"#,
                "only used with format \"template\"",
            ),
            (
                r#"[{"name":"a","url":"https://a","format":"template","template":{"x":"{{ nope }}"}}]"#,
                "TARGETS[0] \"a\": `template`:",
            ),
            (
                r#"[{"name":"a","url":"https://a","format":"template","template":{"x":"{{ data.resource.name }}"}}]"#,
                "`template`:",
            ),
            (
                r#"[{"name":"a","url":"https://a","where":{"data":{"resource":{"companyStatus":0}}}}]"#,
                "set enrich = true",
            ),
            (
                r#"[{"name":"a","url":"https://a","where":{"type":{"$bogus":1}}}]"#,
                "`where`:",
            ),
            (
                r#"[{"name":"a","url":"https://a","content_type":"text/plain"}]"#,
                "`content_type` is only used",
            ),
        ] {
            let e = load(targets);
            assert!(e.contains(want), "{targets}: {e}");
        }
    }
}
