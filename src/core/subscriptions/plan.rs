//! The sync planner: per wanted scope, what one sync does (create, update, reactivate, leave
//! alone), and the status view of the same comparison. Pure: the edge sends the writes.

use super::api::{Hook, HookHeaders, HookWrite};
use crate::core::ingest::exception;
use serde::Serialize;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Create missing hooks; update ours whose destination or headers differ or that are
    /// inactive.
    Full,
    /// Only re-activate our inactive hooks (the daily cron): never creates, never rewrites.
    ReactivateOnly,
}

/// One row of a report. Sync rows use `Created` … `Error`; status rows use `Active` …
/// `Foreign` (see [`status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Reactivated,
    Unchanged,
    /// Reactivate-only mode: no hook of ours for this scope, and that mode creates nothing.
    Missing,
    Error,
    /// Status: our hook exists, is active and has the right destination and headers.
    Active,
    /// Status: our hook is active but its destination or headers differ (a sync updates it).
    Outdated,
    /// Status: our hook exists but BigCommerce deactivated it (a sync or the cron reactivates).
    Inactive,
    /// Status: no hook of ours, but hooks of this scope to other destinations exist.
    Foreign,
}

/// The request one action sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Post(HookWrite),
    Put { id: u64, body: HookWrite },
}

/// What a sync does for one scope: the outcome it reports if the write (if any) succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub scope: String,
    pub outcome: Outcome,
    pub hook_id: Option<u64>,
    pub write: Option<Write>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub scope: String,
    pub outcome: Outcome,
    pub hook_id: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub dry_run: bool,
    pub destination: String,
    /// The `store/hook/deliveryException` hook's destination, when that scope is wanted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exceptions_destination: Option<String>,
    pub scopes: Vec<Row>,
}

impl SyncReport {
    /// How many rows have `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.scopes.iter().filter(|r| r.outcome == outcome).count()
    }
}

impl Action {
    /// The row when nothing is sent (dry run, or nothing to do).
    pub fn planned(self) -> Row {
        Row {
            scope: self.scope,
            outcome: self.outcome,
            hook_id: self.hook_id,
            message: self.note,
        }
    }

    /// The row once the write was answered: `Ok(hook)` as BigCommerce returned it, or
    /// `Err(message)`.
    pub fn done(self, result: Result<Option<Hook>, String>) -> Row {
        match result {
            Ok(hook) => {
                let id = hook.as_ref().map(|h| h.id).or(self.hook_id);
                if hook.as_ref().is_some_and(|h| !h.is_active) {
                    return Row {
                        scope: self.scope,
                        outcome: Outcome::Error,
                        hook_id: id,
                        message: Some(
                            "BigCommerce accepted the change but the hook is still inactive".into(),
                        ),
                    };
                }
                Row {
                    scope: self.scope,
                    outcome: self.outcome,
                    hook_id: id,
                    message: self.note,
                }
            }
            Err(message) => Row {
                scope: self.scope,
                outcome: Outcome::Error,
                hook_id: self.hook_id,
                message: Some(message),
            },
        }
    }
}

/// Scheme and host lowercased, trailing slashes dropped: two spellings of one endpoint.
fn normalized(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    // `split_once(':')` + `//`, not `split_once("://")`: a `&str` pattern links core's two-way
    // searcher (~4 KB wasm).
    match url
        .split_once(':')
        .and_then(|(scheme, rest)| Some((scheme, rest.strip_prefix("//")?)))
    {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase(),
                path
            )
        }
        None => url.to_owned(),
    }
}

pub fn is_ours(hook: &Hook, destination: &str) -> bool {
    normalized(&hook.destination) == normalized(destination)
}

/// Where a scope's hook of ours points: `destination` (`{PUBLIC_URL}/webhooks/bigcommerce`),
/// except the delivery-exception hook, whose destination BigCommerce wants different from
/// every other hook's: `{PUBLIC_URL}/webhooks/bigcommerce/exceptions`.
pub fn destination_for<'a>(scope: &str, destination: &'a str) -> Cow<'a, str> {
    if scope == exception::SCOPE {
        Cow::Owned(format!("{}/exceptions", destination.trim_end_matches('/')))
    } else {
        Cow::Borrowed(destination)
    }
}

/// The headers every hook of ours carries: the relay's first ingest token, or none when only
/// BigCommerce's signatures authenticate callbacks (no `INGEST_TOKENS`).
pub fn wanted_headers(bearer_token: Option<&str>) -> HookHeaders {
    // From an array of one, not an iterator: no sort is linked for it.
    match bearer_token {
        Some(t) => HookHeaders::from([("Authorization".to_owned(), format!("Bearer {t}"))]),
        None => HookHeaders::new(),
    }
}

/// What differs between our hook and what we want, for the report (never the values: they
/// hold tokens).
fn differences(hook: &Hook, destination: &str, headers: &HookHeaders) -> Option<&'static str> {
    let dest = hook.destination != destination;
    let head = hook.headers.as_ref().unwrap_or(&HookHeaders::new()) != headers;
    match (dest, head) {
        (true, true) => Some("destination and headers differ"),
        (true, false) => Some("destination differs"),
        (false, true) => Some("headers differ"),
        (false, false) => None,
    }
}

/// The hooks of one scope: ours (best first) and the ids of the others.
struct ScopeHooks<'a> {
    ours: Vec<&'a Hook>,
    foreign: Vec<u64>,
}

fn scope_hooks<'a>(
    existing: &'a [Hook],
    scope: &str,
    destination: &str,
    headers: &HookHeaders,
) -> ScopeHooks<'a> {
    let (mut ours, foreign): (Vec<&Hook>, Vec<&Hook>) = existing
        .iter()
        .filter(|h| h.scope == scope)
        .partition(|h| is_ours(h, destination));
    // With duplicates, keep the one needing the least change: active first, then exact
    // destination, then exact headers, then the oldest id.
    ours.sort_by_key(|h| {
        (
            !h.is_active,
            h.destination != destination,
            h.headers.as_ref().unwrap_or(&HookHeaders::new()) != headers,
            h.id,
        )
    });
    ScopeHooks {
        ours,
        foreign: foreign.iter().map(|h| h.id).collect(),
    }
}

fn join_notes(notes: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let notes: Vec<String> = notes.into_iter().flatten().collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn ids(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn extra_notes(s: &ScopeHooks) -> [Option<String>; 2] {
    let dup: Vec<u64> = s.ours.iter().skip(1).map(|h| h.id).collect();
    [
        (!dup.is_empty()).then(|| {
            format!(
                "other hooks of ours for this scope left as they are (ids {})",
                ids(&dup)
            )
        }),
        (!s.foreign.is_empty()).then(|| {
            format!(
                "hooks of this scope to other destinations left alone (ids {})",
                ids(&s.foreign)
            )
        }),
    ]
}

/// Decides, for each wanted scope in order, what one sync does. Pure: the edge sends the
/// writes (or, in a dry run, only reports them).
pub fn plan(
    existing: &[Hook],
    wanted_scopes: &[String],
    ingest_destination: &str,
    bearer_token: Option<&str>,
    mode: Mode,
) -> Vec<Action> {
    let headers = wanted_headers(bearer_token);
    let full_body = |scope: &str, destination: &str| HookWrite {
        scope: Some(scope.to_owned()),
        destination: Some(destination.to_owned()),
        is_active: true,
        headers: Some(headers.clone()),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut actions = Vec::new();
    for scope in wanted_scopes {
        if seen.contains(&scope.as_str()) {
            continue;
        }
        seen.push(scope);
        let destination = &*destination_for(scope, ingest_destination);
        let full_body = |scope: &str| full_body(scope, destination);
        let hooks = scope_hooks(existing, scope, destination, &headers);
        let [dup_note, foreign_note] = extra_notes(&hooks);
        let action = match (hooks.ours.first(), mode) {
            (None, Mode::Full) => Action {
                scope: scope.clone(),
                outcome: Outcome::Created,
                hook_id: None,
                write: Some(Write::Post(full_body(scope))),
                note: foreign_note,
            },
            (None, Mode::ReactivateOnly) => Action {
                scope: scope.clone(),
                outcome: Outcome::Missing,
                hook_id: None,
                write: None,
                note: join_notes([
                    Some("no hook of ours; reactivate-only mode creates nothing".into()),
                    foreign_note,
                ]),
            },
            (Some(h), mode) => {
                let diff = differences(h, destination, &headers);
                let (outcome, write, note) = match (h.is_active, diff, mode) {
                    (false, _, Mode::ReactivateOnly) => (
                        Outcome::Reactivated,
                        Some(HookWrite {
                            scope: None,
                            destination: None,
                            is_active: true,
                            headers: None,
                        }),
                        None,
                    ),
                    (false, diff, Mode::Full) => (
                        Outcome::Reactivated,
                        Some(full_body(scope)),
                        diff.map(|d| format!("was inactive; {d}")),
                    ),
                    (true, Some(d), Mode::Full) => {
                        (Outcome::Updated, Some(full_body(scope)), Some(d.into()))
                    }
                    (true, diff, _) => (Outcome::Unchanged, None, diff.map(|d| d.to_owned())),
                };
                Action {
                    scope: scope.clone(),
                    outcome,
                    hook_id: Some(h.id),
                    write: write.map(|body| Write::Put { id: h.id, body }),
                    note: join_notes([note, dup_note, foreign_note]),
                }
            }
        };
        actions.push(action);
    }
    actions
}

/// The current state of each wanted scope, without changing anything: `active`, `outdated`
/// (active, destination or headers differ), `inactive`, `missing` (no hook at all) or
/// `foreign` (only hooks to other destinations).
pub fn status(
    existing: &[Hook],
    wanted_scopes: &[String],
    ingest_destination: &str,
    bearer_token: Option<&str>,
) -> Vec<Row> {
    let headers = wanted_headers(bearer_token);
    let mut seen: Vec<&str> = Vec::new();
    let mut rows = Vec::new();
    for scope in wanted_scopes {
        if seen.contains(&scope.as_str()) {
            continue;
        }
        seen.push(scope);
        let destination = &*destination_for(scope, ingest_destination);
        let hooks = scope_hooks(existing, scope, destination, &headers);
        let [dup_note, foreign_note] = extra_notes(&hooks);
        let (outcome, hook_id, note) = match hooks.ours.first() {
            None if hooks.foreign.is_empty() => (Outcome::Missing, None, None),
            None => (Outcome::Foreign, None, None),
            Some(h) => {
                let diff = differences(h, destination, &headers).map(str::to_owned);
                let outcome = match (h.is_active, &diff) {
                    (false, _) => Outcome::Inactive,
                    (true, Some(_)) => Outcome::Outdated,
                    (true, None) => Outcome::Active,
                };
                (outcome, Some(h.id), diff)
            }
        };
        rows.push(Row {
            scope: scope.clone(),
            outcome,
            hook_id,
            message: join_notes([note, dup_note, foreign_note]),
        });
    }
    rows
}

/// What to do about one hook BigCommerce said it gave up on (`90002`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reactivation {
    /// Ours and inactive: send this action's `PUT {"is_active": true}`.
    Reactivate(Action),
    /// Ours and still active: BigCommerce has not disabled it (yet).
    StillActive,
    /// Not among the store's hooks, or another destination's: never touched.
    NotOurs,
}

/// The reactivate-only sync for one hook, by id.
pub fn reactivate_hook(existing: &[Hook], hook_id: u64, ingest_destination: &str) -> Reactivation {
    let Some(h) = existing.iter().find(|h| h.id == hook_id) else {
        return Reactivation::NotOurs;
    };
    if !is_ours(h, &destination_for(&h.scope, ingest_destination)) {
        return Reactivation::NotOurs;
    }
    if h.is_active {
        return Reactivation::StillActive;
    }
    Reactivation::Reactivate(Action {
        scope: h.scope.clone(),
        outcome: Outcome::Reactivated,
        hook_id: Some(h.id),
        write: Some(Write::Put {
            id: h.id,
            body: HookWrite {
                scope: None,
                destination: None,
                is_active: true,
                headers: None,
            },
        }),
        note: Some("after BigCommerce's delivery exception 90002".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::subscriptions::default_scopes;

    const DEST: &str = "https://relay.example.com/webhooks/bigcommerce";
    const TOKEN: &str = "ingest-1";

    fn hook(id: u64, scope: &str, destination: &str, active: bool, token: &str) -> Hook {
        Hook {
            id,
            scope: scope.into(),
            destination: destination.into(),
            is_active: active,
            headers: Some(wanted_headers(Some(token))),
        }
    }

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// What BigCommerce does with the writes of a plan (the mock store, in Rust).
    fn apply(state: &mut Vec<Hook>, actions: &[Action]) {
        for a in actions {
            match &a.write {
                Some(Write::Post(b)) => {
                    let id = state.iter().map(|h| h.id).max().unwrap_or(0) + 1;
                    state.push(Hook {
                        id,
                        scope: b.scope.clone().unwrap(),
                        destination: b.destination.clone().unwrap(),
                        is_active: b.is_active,
                        headers: b.headers.clone(),
                    });
                }
                Some(Write::Put { id, body }) => {
                    let h = state.iter_mut().find(|h| h.id == *id).unwrap();
                    if let Some(s) = &body.scope {
                        h.scope = s.clone();
                    }
                    if let Some(d) = &body.destination {
                        h.destination = d.clone();
                    }
                    if let Some(hd) = &body.headers {
                        h.headers = Some(hd.clone());
                    }
                    h.is_active = body.is_active;
                }
                None => {}
            }
        }
    }

    fn outcomes(actions: &[Action]) -> Vec<Outcome> {
        actions.iter().map(|a| a.outcome).collect()
    }

    #[test]
    fn empty_store_creates_every_b2b_scope_once_then_nothing() {
        let wanted = default_scopes();
        assert_eq!(
            wanted.len(),
            20,
            "19 B2B scopes and the delivery exceptions"
        );
        let mut state = Vec::new();
        let first = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(first.len(), 20);
        assert!(first.iter().all(|a| a.outcome == Outcome::Created));
        let Some(Write::Post(body)) = &first[0].write else {
            panic!("expected a POST")
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({
                "scope": "store/company/created",
                "destination": DEST,
                "is_active": true,
                "headers": {"Authorization": "Bearer ingest-1"}
            })
        );
        apply(&mut state, &first);
        assert_eq!(state.len(), 20);
        assert_eq!(state[19].destination, EXCEPTIONS);
        let second = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert!(second
            .iter()
            .all(|a| a.outcome == Outcome::Unchanged && a.write.is_none() && a.hook_id.is_some()));
        let rows: Vec<Outcome> = status(&state, &wanted, DEST, Some(TOKEN))
            .iter()
            .map(|r| r.outcome)
            .collect();
        assert_eq!(rows, vec![Outcome::Active; 20]);
    }

    const EXCEPTIONS: &str = "https://relay.example.com/webhooks/bigcommerce/exceptions";

    #[test]
    fn the_exceptions_hook_gets_its_own_destination() {
        let wanted = scopes(&["store/company/created", exception::SCOPE]);
        let mut state = vec![
            // At the ingest destination: not ours for this scope (BigCommerce wants it apart).
            hook(1, exception::SCOPE, DEST, true, TOKEN),
        ];
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Created, Outcome::Created]);
        let Some(Write::Post(body)) = &p[1].write else {
            panic!("expected a POST")
        };
        assert_eq!(body.destination.as_deref(), Some(EXCEPTIONS));
        assert_eq!(body.scope.as_deref(), Some(exception::SCOPE));
        apply(&mut state, &p);
        let rows = status(&state, &wanted, DEST, Some(TOKEN));
        assert_eq!(rows[1].outcome, Outcome::Active);
        assert_eq!(rows[1].hook_id, Some(3));
        assert_eq!(destination_for("store/quote/created", DEST), DEST);
        assert_eq!(
            destination_for(exception::SCOPE, &format!("{DEST}/")),
            EXCEPTIONS
        );
    }

    #[test]
    fn without_a_token_hooks_carry_no_headers() {
        assert!(wanted_headers(None).is_empty());
        let mut state = vec![hook(1, "store/a/b", DEST, true, TOKEN)];
        let wanted = scopes(&["store/a/b", "store/a/c"]);
        let p = plan(&state, &wanted, DEST, None, Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Updated, Outcome::Created]);
        let Some(Write::Post(body)) = &p[1].write else {
            panic!("expected a POST")
        };
        assert_eq!(
            serde_json::to_string(body).unwrap(),
            format!(
                r#"{{"scope":"store/a/c","destination":"{DEST}","is_active":true,"headers":{{}}}}"#
            )
        );
        apply(&mut state, &p);
        assert!(plan(&state, &wanted, DEST, None, Mode::Full)
            .iter()
            .all(|a| a.outcome == Outcome::Unchanged));
        // A hook BigCommerce lists with `headers: null` is the same as none.
        let bare = vec![Hook {
            headers: None,
            ..hook(1, "store/a/b", DEST, true, TOKEN)
        }];
        assert_eq!(
            status(&bare, &wanted[..1], DEST, None)[0].outcome,
            Outcome::Active
        );
    }

    #[test]
    fn a_90002_reactivates_only_that_hook_of_ours() {
        let state = vec![
            hook(1, "store/a/b", DEST, false, TOKEN),
            hook(2, "store/a/c", DEST, true, TOKEN),
            hook(3, "store/a/b", "https://crm.example.com/x", false, TOKEN),
            hook(4, exception::SCOPE, EXCEPTIONS, false, TOKEN),
        ];
        let Reactivation::Reactivate(a) = reactivate_hook(&state, 1, DEST) else {
            panic!("hook 1 is ours and inactive")
        };
        assert_eq!((a.outcome, a.hook_id), (Outcome::Reactivated, Some(1)));
        let Some(Write::Put { id: 1, body }) = &a.write else {
            panic!("expected a PUT of hook 1")
        };
        assert_eq!(
            serde_json::to_string(body).unwrap(),
            r#"{"is_active":true}"#
        );
        assert_eq!(reactivate_hook(&state, 2, DEST), Reactivation::StillActive);
        assert_eq!(reactivate_hook(&state, 3, DEST), Reactivation::NotOurs);
        assert_eq!(reactivate_hook(&state, 99, DEST), Reactivation::NotOurs);
        assert!(matches!(
            reactivate_hook(&state, 4, DEST),
            Reactivation::Reactivate(_)
        ));
    }

    #[test]
    fn dry_run_rows_carry_the_planned_outcome_and_send_nothing() {
        let state = vec![hook(7, "store/quote/created", DEST, false, TOKEN)];
        let rows: Vec<Row> = plan(
            &state,
            &scopes(&["store/quote/created", "store/quote/deleted"]),
            DEST,
            Some(TOKEN),
            Mode::Full,
        )
        .into_iter()
        .map(Action::planned)
        .collect();
        assert_eq!(rows[0].outcome, Outcome::Reactivated);
        assert_eq!(rows[0].hook_id, Some(7));
        assert_eq!(rows[1].outcome, Outcome::Created);
        assert_eq!(rows[1].hook_id, None);
        // The planner itself never mutates: the same input plans the same way again.
        assert_eq!(
            plan(
                &state,
                &scopes(&["store/quote/created"]),
                DEST,
                Some(TOKEN),
                Mode::Full
            )[0]
            .outcome,
            Outcome::Reactivated
        );
    }

    #[test]
    fn a_deactivated_hook_is_reactivated_with_the_full_body_in_full_mode() {
        let mut state = vec![hook(3, "store/company/created", DEST, false, TOKEN)];
        let wanted = scopes(&["store/company/created"]);
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Reactivated]);
        assert_eq!(p[0].note, None);
        let Some(Write::Put { id: 3, body }) = &p[0].write else {
            panic!("expected a PUT of hook 3")
        };
        assert!(body.is_active && body.headers.is_some() && body.destination.is_some());
        apply(&mut state, &p);
        assert!(state[0].is_active);
        assert_eq!(
            outcomes(&plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full)),
            [Outcome::Unchanged]
        );
    }

    #[test]
    fn reactivate_only_touches_nothing_but_is_active() {
        let mut state = vec![
            // inactive and with a stale token: only reactivated, the token stays
            hook(1, "store/company/created", DEST, false, "old-token"),
            // active with a stale token: left alone
            hook(2, "store/company/updated", DEST, true, "old-token"),
        ];
        let wanted = scopes(&[
            "store/company/created",
            "store/company/updated",
            "store/company/deleted",
        ]);
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::ReactivateOnly);
        assert_eq!(
            outcomes(&p),
            [Outcome::Reactivated, Outcome::Unchanged, Outcome::Missing]
        );
        let Some(Write::Put { id: 1, body }) = &p[0].write else {
            panic!("expected a PUT of hook 1")
        };
        assert_eq!(
            serde_json::to_string(body).unwrap(),
            r#"{"is_active":true}"#
        );
        assert!(p[1].write.is_none() && p[2].write.is_none());
        assert_eq!(p[1].note.as_deref(), Some("headers differ"));
        apply(&mut state, &p);
        assert_eq!(state.len(), 2, "reactivate-only created a hook");
        assert!(state[0].is_active);
        assert_eq!(state[0].headers, Some(wanted_headers(Some("old-token"))));
        let again = plan(&state, &wanted, DEST, Some(TOKEN), Mode::ReactivateOnly);
        assert_eq!(
            outcomes(&again),
            [Outcome::Unchanged, Outcome::Unchanged, Outcome::Missing]
        );
        assert!(again.iter().all(|a| a.write.is_none()));
    }

    #[test]
    fn stale_headers_or_destination_spelling_are_updated() {
        let mut state = vec![
            hook(1, "store/quote/created", DEST, true, "old-token"),
            hook(
                2,
                "store/quote/updated",
                "https://RELAY.example.com/webhooks/bigcommerce/",
                true,
                TOKEN,
            ),
            Hook {
                headers: None,
                ..hook(3, "store/quote/deleted", DEST, true, TOKEN)
            },
            hook(
                4,
                "store/quote/statusUpdated",
                "https://relay.example.com/webhooks/bigcommerce/",
                false,
                "old",
            ),
        ];
        let wanted = scopes(&[
            "store/quote/created",
            "store/quote/updated",
            "store/quote/deleted",
            "store/quote/statusUpdated",
        ]);
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(
            outcomes(&p),
            [
                Outcome::Updated,
                Outcome::Updated,
                Outcome::Updated,
                Outcome::Reactivated
            ]
        );
        let notes: Vec<_> = p.iter().map(|a| a.note.as_deref()).collect();
        assert_eq!(
            notes,
            [
                Some("headers differ"),
                Some("destination differs"),
                Some("headers differ"),
                Some("was inactive; destination and headers differ")
            ]
        );
        // Reports never carry header values (they hold tokens).
        assert!(p
            .iter()
            .filter_map(|a| a.note.as_deref())
            .all(|n| !n.contains("old") && !n.contains(TOKEN)));
        apply(&mut state, &p);
        assert!(state
            .iter()
            .all(|h| h.destination == DEST && h.headers == Some(wanted_headers(Some(TOKEN)))));
        assert!(plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full)
            .iter()
            .all(|a| a.outcome == Outcome::Unchanged));
    }

    #[test]
    fn hooks_of_other_destinations_are_left_alone() {
        let other = hook(
            9,
            "store/company/created",
            "https://crm.example.com/webhooks/bigcommerce",
            false,
            "their-token",
        );
        let other2 = hook(
            10,
            "store/company/created",
            "https://relay.example.com/other",
            true,
            TOKEN,
        );
        let mut state = vec![other.clone(), other2.clone()];
        let wanted = scopes(&["store/company/created"]);
        assert_eq!(
            status(&state, &wanted, DEST, Some(TOKEN))[0].outcome,
            Outcome::Foreign
        );
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Created]);
        assert!(matches!(p[0].write, Some(Write::Post(_))));
        assert_eq!(
            p[0].note.as_deref(),
            Some("hooks of this scope to other destinations left alone (ids 9, 10)")
        );
        assert_eq!(
            outcomes(&plan(
                &state,
                &wanted,
                DEST,
                Some(TOKEN),
                Mode::ReactivateOnly
            )),
            [Outcome::Missing],
            "reactivate-only must not revive someone else's hook"
        );
        apply(&mut state, &p);
        assert_eq!(state[0], other);
        assert_eq!(state[1], other2);
        assert_eq!(
            status(&state, &wanted, DEST, Some(TOKEN))[0].outcome,
            Outcome::Active
        );
    }

    #[test]
    fn duplicates_keep_the_best_hook_and_leave_the_others() {
        let state = vec![
            hook(5, "store/company/created", DEST, false, TOKEN),
            hook(6, "store/company/created", DEST, true, "old"),
            hook(7, "store/company/created", DEST, true, TOKEN),
            hook(8, "store/company/created", &format!("{DEST}/"), true, TOKEN),
        ];
        let wanted = scopes(&["store/company/created", "store/company/created"]);
        let p = plan(&state, &wanted, DEST, Some(TOKEN), Mode::Full);
        assert_eq!(p.len(), 1, "a scope listed twice is planned once");
        assert_eq!(p[0].outcome, Outcome::Unchanged);
        assert_eq!(p[0].hook_id, Some(7));
        assert_eq!(
            p[0].note.as_deref(),
            Some("other hooks of ours for this scope left as they are (ids 6, 8, 5)")
        );
        // All duplicates inactive: one is reactivated, not all of them.
        let inactive: Vec<Hook> = state
            .iter()
            .map(|h| Hook {
                is_active: false,
                ..h.clone()
            })
            .collect();
        let p = plan(&inactive, &wanted, DEST, Some(TOKEN), Mode::ReactivateOnly);
        assert_eq!(outcomes(&p), [Outcome::Reactivated]);
        assert_eq!(p[0].hook_id, Some(5));
    }

    #[test]
    fn status_names_each_state() {
        let state = vec![
            hook(1, "store/a/created", DEST, true, TOKEN),
            hook(2, "store/a/updated", DEST, true, "old"),
            hook(3, "store/a/deleted", DEST, false, TOKEN),
            hook(
                4,
                "store/b/created",
                "https://elsewhere.example.com/x",
                true,
                "t",
            ),
        ];
        let rows = status(
            &state,
            &scopes(&[
                "store/a/created",
                "store/a/updated",
                "store/a/deleted",
                "store/b/created",
                "store/b/updated",
            ]),
            DEST,
            Some(TOKEN),
        );
        let got: Vec<(Outcome, Option<u64>)> =
            rows.iter().map(|r| (r.outcome, r.hook_id)).collect();
        assert_eq!(
            got,
            [
                (Outcome::Active, Some(1)),
                (Outcome::Outdated, Some(2)),
                (Outcome::Inactive, Some(3)),
                (Outcome::Foreign, None),
                (Outcome::Missing, None),
            ]
        );
        let json = serde_json::to_string(&rows[1]).unwrap();
        assert_eq!(
            json,
            r#"{"scope":"store/a/updated","outcome":"outdated","hook_id":2,"message":"headers differ"}"#
        );
    }

    #[test]
    fn write_results_become_rows() {
        let a = plan(&[], &scopes(&["store/a/b"]), DEST, Some(TOKEN), Mode::Full).remove(0);
        let created = hook(42, "store/a/b", DEST, true, TOKEN);
        let row = a.clone().done(Ok(Some(created.clone())));
        assert_eq!((row.outcome, row.hook_id), (Outcome::Created, Some(42)));
        let row = a
            .clone()
            .done(Err("JSON data is missing or invalid".into()));
        assert_eq!(row.outcome, Outcome::Error);
        assert_eq!(
            row.message.as_deref(),
            Some("JSON data is missing or invalid")
        );
        let row = a.done(Ok(Some(Hook {
            is_active: false,
            ..created
        })));
        assert_eq!(row.outcome, Outcome::Error);
        let report = SyncReport {
            dry_run: false,
            destination: DEST.into(),
            exceptions_destination: None,
            scopes: vec![row],
        };
        assert_eq!(report.count(Outcome::Error), 1);
        assert!(serde_json::to_string(&report)
            .unwrap()
            .starts_with(r#"{"dry_run":false,"destination":"https://relay.example.com/webhooks/bigcommerce","scopes":[{"scope":"store/a/b","outcome":"error","hook_id":42,"#));
    }
}
