//! The 19 B2B Edition webhook scopes as resource × action, and the subject each event gets.
//! Anything not listed here is an unknown scope: still accepted and forwarded.

use crate::core::json::{Fields, Scalar};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Company,
    CompanyUser,
    CompanyAddress,
    SuperAdmin,
    Quote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Deleted,
    StatusUpdated,
    AssignmentUpdated,
}

/// Every scope B2B Edition documents, in the order of its documentation.
pub const CATALOG: [(&str, Resource, Action); 19] = {
    use Action::*;
    use Resource::*;
    [
        ("store/company/created", Company, Created),
        ("store/company/updated", Company, Updated),
        ("store/company/deleted", Company, Deleted),
        ("store/company/statusUpdated", Company, StatusUpdated),
        (
            "store/company/superadmin/assignmentUpdated",
            Company,
            AssignmentUpdated,
        ),
        ("store/company/user/created", CompanyUser, Created),
        ("store/company/user/updated", CompanyUser, Updated),
        ("store/company/user/deleted", CompanyUser, Deleted),
        ("store/company/address/created", CompanyAddress, Created),
        ("store/company/address/updated", CompanyAddress, Updated),
        ("store/company/address/deleted", CompanyAddress, Deleted),
        ("store/superadmin/created", SuperAdmin, Created),
        ("store/superadmin/updated", SuperAdmin, Updated),
        ("store/superadmin/deleted", SuperAdmin, Deleted),
        (
            "store/superadmin/assignmentUpdated",
            SuperAdmin,
            AssignmentUpdated,
        ),
        ("store/quote/created", Quote, Created),
        ("store/quote/updated", Quote, Updated),
        ("store/quote/statusUpdated", Quote, StatusUpdated),
        ("store/quote/deleted", Quote, Deleted),
    ]
};

/// The prefix of every CloudEvents `type` the relay emits.
pub const TYPE_PREFIX: &str = "com.bigcommerce.";

pub fn lookup(scope: &str) -> Option<(Resource, Action)> {
    CATALOG
        .iter()
        .find(|(s, _, _)| *s == scope)
        .map(|&(_, r, a)| (r, a))
}

/// `store/company/user/created` → `company.user.created` (the part after `com.bigcommerce.`).
pub fn short_type(scope: &str) -> String {
    let mut out = String::new();
    push_short_type(&mut out, scope);
    out
}

/// `short_type` appended to `out`, so the full type is built in one allocation.
pub fn push_short_type(out: &mut String, scope: &str) {
    let short = scope.strip_prefix("store/").unwrap_or(scope);
    out.extend(short.chars().map(|c| if c == '/' { '.' } else { c }));
}

/// The ids a subject (and an enrichment request) is built from. Ids are numbers in
/// BigCommerce's examples; strings of safe characters are accepted too, anything else is
/// ignored, so an id can always be put in a URL path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ids {
    pub company: Option<String>,
    pub user: Option<String>,
    pub address: Option<String>,
    pub quote: Option<String>,
}

fn id_text(v: Option<Scalar>) -> Option<String> {
    match v? {
        Scalar::U64(n) => Some(n.to_string()),
        Scalar::I64(n) => Some(n.to_string()),
        Scalar::Str(s)
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(s.into_owned())
        }
        _ => None,
    }
}

pub fn ids(data: &RawValue) -> Ids {
    // Through the one object visitor (`json::Fields`): a derived struct here was ~2.7 KB of
    // wasm. `data` that is not an object, or an id that does not read, gives no id.
    let Ok(f) = Fields::parse(data.get()) else {
        return Ids::default();
    };
    let id = |name| id_text(f.opt::<Scalar>(name).ok().flatten());
    Ids {
        company: id("company_id"),
        user: id("user_id"),
        address: id("address_id"),
        quote: id("quote_id"),
    }
}

/// The CloudEvents `subject`: the resource path of the event, or `None` when the ids it needs
/// are not in `data`. Unknown scopes get the most specific path their ids allow.
pub fn subject(resource: Option<Resource>, data: &RawValue) -> Option<String> {
    let Ids {
        company,
        user,
        address,
        quote,
    } = ids(data);
    match resource {
        Some(Resource::Company) => company.map(|c| format!("companies/{c}")),
        Some(Resource::CompanyUser) => Some(format!("companies/{}/users/{}", company?, user?)),
        Some(Resource::CompanyAddress) => {
            Some(format!("companies/{}/addresses/{}", company?, address?))
        }
        Some(Resource::SuperAdmin) => user.map(|u| format!("superadmins/{u}")),
        Some(Resource::Quote) => quote.map(|q| format!("quotes/{q}")),
        None => match (quote, company, user, address) {
            (Some(q), ..) => Some(format!("quotes/{q}")),
            (None, Some(c), _, Some(a)) => Some(format!("companies/{c}/addresses/{a}")),
            (None, Some(c), Some(u), None) => Some(format!("companies/{c}/users/{u}")),
            (None, Some(c), None, None) => Some(format!("companies/{c}")),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn catalog_has_19_distinct_scopes() {
        let mut scopes: Vec<_> = CATALOG.iter().map(|c| c.0).collect();
        scopes.sort_unstable();
        scopes.dedup();
        assert_eq!(scopes.len(), 19);
    }

    #[test]
    fn types_follow_the_scope() {
        assert_eq!(
            short_type("store/company/user/created"),
            "company.user.created"
        );
        assert_eq!(
            short_type("store/quote/statusUpdated"),
            "quote.statusUpdated"
        );
    }

    #[test]
    fn documented_subjects() {
        use Resource::*;
        let cases = [
            (Company, r#"{"company_id":1234}"#, Some("companies/1234")),
            (
                CompanyUser,
                r#"{"company_id":123456,"user_id":321}"#,
                Some("companies/123456/users/321"),
            ),
            (
                CompanyAddress,
                r#"{"company_id":123456,"address_id":1234}"#,
                Some("companies/123456/addresses/1234"),
            ),
            (SuperAdmin, r#"{"user_id":1234}"#, Some("superadmins/1234")),
            (
                Quote,
                r#"{"quote_id":1234,"quote_uuid":"1a2b3c4d"}"#,
                Some("quotes/1234"),
            ),
            (CompanyUser, r#"{"user_id":321}"#, None),
            (Company, r#"{}"#, None),
            (Quote, r#"{"quote_id":{"x":1}}"#, None),
            (Company, r#"{"company_id":"../x"}"#, None),
        ];
        for (r, data, want) in cases {
            assert_eq!(
                subject(Some(r), &raw(data)).as_deref(),
                want,
                "{r:?} {data}"
            );
        }
    }

    #[test]
    fn unknown_scopes_get_the_best_subject_their_ids_allow() {
        assert_eq!(
            subject(None, &raw(r#"{"company_id":7,"user_id":8}"#)).as_deref(),
            Some("companies/7/users/8")
        );
        assert_eq!(
            subject(None, &raw(r#"{"quote_id":"q-1"}"#)).as_deref(),
            Some("quotes/q-1")
        );
        assert_eq!(subject(None, &raw(r#"{"order_id":5}"#)), None);
    }
}
