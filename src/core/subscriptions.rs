//! Subscribing the store: BigCommerce's store hooks (`/stores/{hash}/v3/hooks`, see
//! `webhooks.v3.yml`) and the pure planner that decides, per wanted scope, what one sync does.
//!
//! A hook is *ours* when its destination is `{PUBLIC_URL}/webhooks/bigcommerce` (scheme and
//! host compared case-insensitively, trailing slashes ignored). Hooks to any other destination
//! belong to someone else and are never touched. Sync never deletes anything.

use crate::core::catalog::CATALOG;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The path of the relay's ingest route, appended to `PUBLIC_URL`.
pub const INGEST_PATH: &str = "/webhooks/bigcommerce";

/// Header name → value, as BigCommerce stores them on a hook.
pub type HookHeaders = BTreeMap<String, String>;

/// One hook as BigCommerce lists it (`webhook_Full`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub id: u64,
    pub scope: String,
    pub destination: String,
    /// BigCommerce's default for a hook is active.
    #[serde(default = "active_by_default")]
    pub is_active: bool,
    #[serde(default, deserialize_with = "lenient_headers")]
    pub headers: Option<HookHeaders>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

fn active_by_default() -> bool {
    true
}

/// The spec says header values are strings. A hook of another app with some other JSON value
/// must not make the whole listing unreadable, so such values are kept as their JSON text.
fn lenient_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<HookHeaders>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw.map(|m| {
        m.into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, json_text(&other)),
            })
            .collect()
    }))
}

/// `GET /v3/hooks`: one page of hooks (`webhooks_Resp`).
#[derive(Debug, Deserialize)]
pub struct HookPage {
    #[serde(default)]
    pub data: Option<Vec<Hook>>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Pagination {
    pub total: Option<u64>,
    pub count: Option<u64>,
    pub per_page: Option<u64>,
    pub current_page: Option<u64>,
    pub total_pages: Option<u64>,
    #[serde(default)]
    pub links: Option<Links>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Links {
    pub previous: Option<String>,
    pub current: Option<String>,
    pub next: Option<String>,
}

impl HookPage {
    /// The page to ask for after `page`, or `None` when this was the last one: by
    /// `current_page`/`total_pages` when BigCommerce sends them, else by a non-empty
    /// `links.next`. An empty page always ends the listing.
    pub fn next_page(&self, page: u64) -> Option<u64> {
        if self.data.as_ref().is_none_or(Vec::is_empty) {
            return None;
        }
        let p = self.meta.as_ref()?.pagination.as_ref()?;
        match (p.current_page, p.total_pages) {
            (Some(current), Some(total)) => (current < total).then_some(current + 1),
            _ => p
                .links
                .as_ref()
                .and_then(|l| l.next.as_deref())
                .is_some_and(|n| !n.trim().is_empty())
                .then_some(page + 1),
        }
    }
}

/// `POST`/`PUT /v3/hooks[/{id}]` answers: `{"data": hook, "meta": {}}`.
#[derive(Debug, Deserialize)]
pub struct HookEnvelope {
    pub data: Hook,
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

/// BigCommerce's error bodies (`error_Full`, `errorDetailed_Full`).
#[derive(Debug, Deserialize)]
struct BcError {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    errors: Option<Value>,
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
    let mut out = match serde_json::from_str::<BcError>(body) {
        Ok(BcError { title, errors }) => {
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
pub fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |t, s| replace_all(&t, s, "[redacted]"))
}

/// `text.replace(needle, with)` by a byte-wise search: a `&str` pattern links core's two-way
/// searcher (~4 KB wasm) for what are short error texts here. A match of a UTF-8 needle in
/// UTF-8 text always starts and ends on character boundaries.
fn replace_all(text: &str, needle: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = (rest.as_bytes().windows(needle.len())).position(|w| w == needle.as_bytes())
    {
        let (Some(head), Some(tail)) = (rest.get(..i), rest.get(i + needle.len()..)) else {
            break;
        };
        out.push_str(head);
        out.push_str(with);
        rest = tail;
    }
    out.push_str(rest);
    out
}

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

/// `BC_API_BASE` when unset.
pub const DEFAULT_API_BASE: &str = "https://api.bigcommerce.com";

/// Everything one sync needs. No `Debug`: it holds the access token.
pub struct Settings {
    pub api_base: String,
    pub store_hash: String,
    pub access_token: String,
    pub destination: String,
    /// The first `INGEST_TOKENS` token, put in each hook's `Authorization` header.
    pub bearer_token: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// None of BC_STORE_HASH, BC_ACCESS_TOKEN, PUBLIC_URL is set: the operator does not use
    /// the sync (the cron then does nothing, quietly).
    Absent,
    /// Some are set but something is missing or wrong, named in each message.
    Invalid(Vec<String>),
}

impl SettingsError {
    pub fn message(&self) -> String {
        match self {
            SettingsError::Absent => {
                "sync not configured: set BC_STORE_HASH, the secret BC_ACCESS_TOKEN and PUBLIC_URL"
                    .into()
            }
            SettingsError::Invalid(errors) => format!("sync not configured: {}", errors.join("; ")),
        }
    }
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() {
            h
        } else {
            host
        }
    });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Reads and checks the sync's settings; `get` returns a variable or secret, `None` when
/// unset. Every problem is named; no value is ever repeated (the token is a secret).
pub fn settings(get: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
    let get = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let store_hash = get("BC_STORE_HASH");
    let access_token = get("BC_ACCESS_TOKEN");
    let public_url = get("PUBLIC_URL");
    if store_hash.is_none() && access_token.is_none() && public_url.is_none() {
        return Err(SettingsError::Absent);
    }
    let mut errors = Vec::new();
    match &store_hash {
        None => {
            errors.push("BC_STORE_HASH is not set (the store hash, as in stores/{hash})".into())
        }
        Some(h)
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            errors.push("BC_STORE_HASH must be letters and digits only".into());
        }
        Some(_) => {}
    }
    if access_token.is_none() {
        errors.push(
            "BC_ACCESS_TOKEN is not set (a secret: npx wrangler secret put BC_ACCESS_TOKEN)".into(),
        );
    }
    let destination = match public_url.as_deref().map(destination) {
        None => {
            errors.push("PUBLIC_URL is not set (the worker's https origin)".into());
            None
        }
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        Some(Ok(d)) => Some(d),
    };
    let api_base = get("BC_API_BASE")
        .map(|b| b.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
    if !(api_base.starts_with("https://") || is_loopback_http(&api_base)) {
        errors
            .push("BC_API_BASE must be an https:// URL (http:// only for a loopback host)".into());
    }
    let bearer_token = get("INGEST_TOKENS").and_then(|raw| {
        crate::core::ingest::auth::parse_tokens(&raw)
            .into_iter()
            .next()
    });
    if bearer_token.is_none() {
        errors.push("INGEST_TOKENS is not set: hooks need its first token".into());
    }
    let scopes = wanted_scopes(get("BC_SCOPES").as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    match (store_hash, access_token, destination, bearer_token) {
        (Some(store_hash), Some(access_token), Some(destination), Some(bearer_token))
            if errors.is_empty() =>
        {
            Ok(Settings {
                api_base,
                store_hash,
                access_token,
                destination,
                bearer_token,
                scopes,
            })
        }
        _ => Err(SettingsError::Invalid(errors)),
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
        redact(text, &[&self.access_token, &self.bearer_token])
    }
}

/// The default wanted scopes: the 19 B2B Edition scopes of the catalog.
pub fn default_scopes() -> Vec<String> {
    CATALOG.iter().map(|(s, _, _)| (*s).to_owned()).collect()
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

/// The hook destination for `PUBLIC_URL`, the worker's https origin (a trailing slash is
/// ignored). A path is refused: the worker serves the ingest route at the root only.
pub fn destination(public_url: &str) -> Result<String, String> {
    let base = public_url.trim().trim_end_matches('/');
    let host = base
        .strip_prefix("https://")
        .ok_or("PUBLIC_URL must start with https:// (BigCommerce only calls https on port 443)")?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    {
        return Err(
            "PUBLIC_URL must be the worker's origin only, like https://b2b-relay.example.workers.dev (no path, query or credentials)"
                .into(),
        );
    }
    Ok(format!("{base}{INGEST_PATH}"))
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

/// The headers every hook of ours carries: the relay's ingest token.
pub fn wanted_headers(bearer_token: &str) -> HookHeaders {
    HookHeaders::from([("Authorization".to_owned(), format!("Bearer {bearer_token}"))])
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
    destination: &str,
    bearer_token: &str,
    mode: Mode,
) -> Vec<Action> {
    let headers = wanted_headers(bearer_token);
    let full_body = |scope: &str| HookWrite {
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
    destination: &str,
    bearer_token: &str,
) -> Vec<Row> {
    let headers = wanted_headers(bearer_token);
    let mut seen: Vec<&str> = Vec::new();
    let mut rows = Vec::new();
    for scope in wanted_scopes {
        if seen.contains(&scope.as_str()) {
            continue;
        }
        seen.push(scope);
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

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: &str = "https://relay.example.com/webhooks/bigcommerce";
    const TOKEN: &str = "ingest-1";

    fn hook(id: u64, scope: &str, destination: &str, active: bool, token: &str) -> Hook {
        Hook {
            id,
            scope: scope.into(),
            destination: destination.into(),
            is_active: active,
            headers: Some(wanted_headers(token)),
            client_id: None,
            store_hash: None,
            created_at: None,
            updated_at: None,
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
                        client_id: None,
                        store_hash: None,
                        created_at: None,
                        updated_at: None,
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

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_name_what_is_missing_and_never_echo_the_token() {
        assert_eq!(
            settings(env(&[("INGEST_TOKENS", "t")])).err(),
            Some(SettingsError::Absent)
        );
        let full = [
            ("BC_STORE_HASH", "abc123"),
            ("BC_ACCESS_TOKEN", "very-secret-token"),
            ("PUBLIC_URL", "https://relay.example.com/"),
            ("INGEST_TOKENS", " first , second"),
        ];
        let s = settings(env(&full)).ok().unwrap();
        assert_eq!(s.api_base, DEFAULT_API_BASE);
        assert_eq!(s.destination, DEST);
        assert_eq!(s.bearer_token, "first");
        assert_eq!(s.scopes.len(), 19);
        assert_eq!(
            s.hooks_url(Some(7)),
            "https://api.bigcommerce.com/stores/abc123/v3/hooks/7"
        );
        assert_eq!(
            s.redact("x very-secret-token y first z"),
            "x [redacted] y [redacted] z"
        );

        let Err(SettingsError::Invalid(errors)) =
            settings(env(&[("BC_ACCESS_TOKEN", "very-secret-token")]))
        else {
            panic!("expected errors")
        };
        let text = errors.join("\n");
        for want in [
            "BC_STORE_HASH is not set",
            "PUBLIC_URL is not set",
            "INGEST_TOKENS is not set",
        ] {
            assert!(text.contains(want), "{want} missing in {text}");
        }
        assert!(!text.contains("very-secret-token"));

        let mut broken = full.to_vec();
        broken.retain(|(k, _)| *k != "BC_ACCESS_TOKEN");
        broken.extend([
            ("BC_API_BASE", "http://api.example.com"),
            ("BC_SCOPES", "store/company/created,nope"),
            ("BC_STORE_HASH", "abc/../x"),
        ]);
        let e = settings(env(&broken)).err().unwrap();
        let msg = e.message();
        for want in [
            "BC_ACCESS_TOKEN is not set",
            "BC_API_BASE must be an https:// URL",
            "BC_SCOPES: `nope`",
            "BC_STORE_HASH must be letters and digits",
        ] {
            assert!(msg.contains(want), "{want} missing in {msg}");
        }
        assert!(msg.starts_with("sync not configured: "));
    }

    #[test]
    fn api_base_may_be_plain_http_only_on_loopback() {
        for (base, ok) in [
            ("http://127.0.0.1:8123", true),
            ("http://localhost:1/", true),
            ("http://[::1]:9", true),
            ("https://api.bigcommerce.com/", true),
            ("http://127.0.0.1.evil.com", false),
            ("http://api.bigcommerce.com", false),
            ("ftp://127.0.0.1", false),
        ] {
            let mut pairs = vec![
                ("BC_STORE_HASH", "abc123"),
                ("BC_ACCESS_TOKEN", "tok"),
                ("PUBLIC_URL", "https://relay.example.com"),
                ("INGEST_TOKENS", "t"),
            ];
            pairs.push(("BC_API_BASE", base));
            let got = settings(env(&pairs));
            assert_eq!(got.is_ok(), ok, "{base}");
            if let Ok(s) = got {
                assert!(!s.api_base.ends_with('/'));
            }
        }
    }

    #[test]
    fn empty_store_creates_every_b2b_scope_once_then_nothing() {
        let wanted = default_scopes();
        assert_eq!(wanted.len(), 19);
        let mut state = Vec::new();
        let first = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
        assert_eq!(first.len(), 19);
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
        assert_eq!(state.len(), 19);
        let second = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
        assert!(second
            .iter()
            .all(|a| a.outcome == Outcome::Unchanged && a.write.is_none() && a.hook_id.is_some()));
        let rows: Vec<Outcome> = status(&state, &wanted, DEST, TOKEN)
            .iter()
            .map(|r| r.outcome)
            .collect();
        assert_eq!(rows, vec![Outcome::Active; 19]);
    }

    #[test]
    fn dry_run_rows_carry_the_planned_outcome_and_send_nothing() {
        let state = vec![hook(7, "store/quote/created", DEST, false, TOKEN)];
        let rows: Vec<Row> = plan(
            &state,
            &scopes(&["store/quote/created", "store/quote/deleted"]),
            DEST,
            TOKEN,
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
                TOKEN,
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
        let p = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Reactivated]);
        assert_eq!(p[0].note, None);
        let Some(Write::Put { id: 3, body }) = &p[0].write else {
            panic!("expected a PUT of hook 3")
        };
        assert!(body.is_active && body.headers.is_some() && body.destination.is_some());
        apply(&mut state, &p);
        assert!(state[0].is_active);
        assert_eq!(
            outcomes(&plan(&state, &wanted, DEST, TOKEN, Mode::Full)),
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
        let p = plan(&state, &wanted, DEST, TOKEN, Mode::ReactivateOnly);
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
        assert_eq!(state[0].headers, Some(wanted_headers("old-token")));
        let again = plan(&state, &wanted, DEST, TOKEN, Mode::ReactivateOnly);
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
        let p = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
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
            .all(|h| h.destination == DEST && h.headers == Some(wanted_headers(TOKEN))));
        assert!(plan(&state, &wanted, DEST, TOKEN, Mode::Full)
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
            status(&state, &wanted, DEST, TOKEN)[0].outcome,
            Outcome::Foreign
        );
        let p = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
        assert_eq!(outcomes(&p), [Outcome::Created]);
        assert!(matches!(p[0].write, Some(Write::Post(_))));
        assert_eq!(
            p[0].note.as_deref(),
            Some("hooks of this scope to other destinations left alone (ids 9, 10)")
        );
        assert_eq!(
            outcomes(&plan(&state, &wanted, DEST, TOKEN, Mode::ReactivateOnly)),
            [Outcome::Missing],
            "reactivate-only must not revive someone else's hook"
        );
        apply(&mut state, &p);
        assert_eq!(state[0], other);
        assert_eq!(state[1], other2);
        assert_eq!(
            status(&state, &wanted, DEST, TOKEN)[0].outcome,
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
        let p = plan(&state, &wanted, DEST, TOKEN, Mode::Full);
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
        let p = plan(&inactive, &wanted, DEST, TOKEN, Mode::ReactivateOnly);
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
            TOKEN,
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
        let a = plan(&[], &scopes(&["store/a/b"]), DEST, TOKEN, Mode::Full).remove(0);
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
            scopes: vec![row],
        };
        assert_eq!(report.count(Outcome::Error), 1);
        assert!(serde_json::to_string(&report)
            .unwrap()
            .starts_with(r#"{"dry_run":false,"destination":"https://relay.example.com/webhooks/bigcommerce","scopes":[{"scope":"store/a/b","outcome":"error","hook_id":42,"#));
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

    #[test]
    fn destination_is_public_url_plus_the_ingest_path() {
        assert_eq!(destination("https://relay.example.com").unwrap(), DEST);
        assert_eq!(destination(" https://relay.example.com/ ").unwrap(), DEST);
        assert_eq!(
            destination("https://b2b-relay.acme.workers.dev").unwrap(),
            "https://b2b-relay.acme.workers.dev/webhooks/bigcommerce"
        );
        for bad in [
            "http://relay.example.com",
            "relay.example.com",
            "https://",
            "https://relay.example.com/relay",
            "https://relay.example.com?x=1",
            "https://user:pw@relay.example.com",
        ] {
            assert!(destination(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_the_documented_list_and_follows_pages() {
        let body = r#"{"data":[{"id":18048287,"client_id":"m9r6","store_hash":"sftg45fsd","created_at":1561488106,"updated_at":1561488106,"scope":"store/order/created","destination":"https://665b65a6.ngrok.io/webhooks","is_active":true,"headers":{"custom-key":"developer-defined value","n":5}},{"id":2,"scope":"store/a/b","destination":"https://x","headers":null}],"meta":{"pagination":{"total":12,"count":2,"per_page":5,"current_page":1,"total_pages":3,"links":{"next":"?page=2&limit=5","current":"?page=1&limit=5"}}}}"#;
        let page: HookPage = serde_json::from_str(body).unwrap();
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

        let last: HookPage = serde_json::from_str(
            r#"{"data":[{"id":1,"scope":"s","destination":"d"}],"meta":{"pagination":{"current_page":3,"total_pages":3,"links":{"next":"?page=4"}}}}"#,
        )
        .unwrap();
        assert_eq!(last.next_page(3), None, "total_pages wins over links");
        let by_link: HookPage = serde_json::from_str(
            r#"{"data":[{"id":1,"scope":"s","destination":"d"}],"meta":{"pagination":{"links":{"next":"?page=5"}}}}"#,
        )
        .unwrap();
        assert_eq!(by_link.next_page(4), Some(5));
        let empty: HookPage = serde_json::from_str(
            r#"{"data":[],"meta":{"pagination":{"current_page":1,"total_pages":9}}}"#,
        )
        .unwrap();
        assert_eq!(empty.next_page(1), None, "an empty page ends the listing");
        let bare: HookPage =
            serde_json::from_str(r#"{"data":[{"id":1,"scope":"s","destination":"d"}]}"#).unwrap();
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
                replace_all(text, needle, "[r]"),
                text.replace(needle, "[r]"),
                "{text:?} / {needle:?}"
            );
        }
    }
}
