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

/// The targets that receive `event`, in configuration order.
pub fn route<'a>(targets: &'a [Target], event: &CloudEvent) -> Vec<&'a Target> {
    let ty = event.short_type();
    targets
        .iter()
        .filter(|t| t.wants(ty, &event.storehash))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

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
}
