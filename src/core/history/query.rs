//! The read side of the admin API: `GET /admin/events` (search), `GET /admin/events/{id}`
//! (one event with every attempt) and `POST /admin/recover` (what did not reach a target).

use super::{non_empty, params, time_param, Bind, Cursor, QueryError, State, Statement, MAX_BINDS};
use crate::core::admin::{AdminBody, Time};
use crate::core::catalog::TYPE_PREFIX;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// Events per `/admin/recover` call: each is re-enqueued, and D1 answers carry their JSON.
pub const RECOVER_PAGE: u32 = 100;

/// `GET /admin/events`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// An exact event id.
    pub id: Option<String>,
    /// A glob over the short type (`quote.*`, `*.deleted`), as target `events` take.
    pub ty: Option<String>,
    pub store: Option<String>,
    /// That subject and everything under it: `companies/1234` finds
    /// `companies/1234/users/5`, not `companies/12345`.
    pub subject: Option<String>,
    pub target: Option<String>,
    /// The state at `target`, or at any target without one.
    pub status: Option<State>,
    /// `received_at >= since` (unix ms).
    pub since: Option<i64>,
    /// `received_at < until` (unix ms).
    pub until: Option<i64>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// The query parameters of `GET /admin/events` (from `admin::query_pairs`).
pub fn parse_events_query(pairs: &[(String, String)]) -> Result<EventsQuery, QueryError> {
    const KNOWN: [&str; 10] = [
        "id", "type", "store", "subject", "target", "status", "since", "until", "limit", "cursor",
    ];
    let mut q = EventsQuery {
        limit: DEFAULT_LIMIT,
        ..EventsQuery::default()
    };
    for (k, v) in params(pairs, &KNOWN)? {
        match k {
            "id" => q.id = Some(non_empty("id", v)?),
            "type" => {
                let t = non_empty("type", v)?;
                // The full type names the same events as its short form.
                q.ty = Some(t.strip_prefix(TYPE_PREFIX).map_or(t.clone(), str::to_owned));
            }
            "store" => q.store = Some(non_empty("store", v)?),
            "subject" => {
                let s = non_empty("subject", v)?;
                let s = s.trim_end_matches('/');
                if s.is_empty() {
                    return Err(QueryError::EmptyValue("subject"));
                }
                q.subject = Some(s.to_owned());
            }
            "target" => q.target = Some(non_empty("target", v)?),
            "status" => {
                q.status = Some(State::parse(v.trim()).ok_or(QueryError::BadStatus(v.into()))?)
            }
            "since" => q.since = Some(time_param("since", v)?),
            "until" => q.until = Some(time_param("until", v)?),
            "limit" => {
                q.limit = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(QueryError::BadLimit)?
            }
            "cursor" => q.cursor = Some(Cursor::decode(v)?),
            _ => {}
        }
    }
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if s >= u {
            return Err(QueryError::EmptyWindow);
        }
    }
    Ok(q)
}

/// A short-type glob (`*` only, as `route::glob_match`) as an SQLite GLOB over the full
/// type: `?` and `[` are GLOB syntax, so they are written as one-character sets.
pub fn type_glob(short: &str) -> String {
    let mut out = String::with_capacity(TYPE_PREFIX.len() + short.len() + 4);
    for c in TYPE_PREFIX.chars().chain(short.chars()) {
        match c {
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            '*' => out.push('*'),
            c => out.push(c),
        }
    }
    out
}

/// The keys of a subject search: `subject = p OR subject LIKE 'p/%'`, as one index range
/// `[p, p0)` ('0' follows '/') with the strings that only look alike (`p-1`, `p.x`, which
/// sort between `p` and `p/`) filtered out.
fn subject_range(p: &str) -> [Bind; 4] {
    [
        p.into(),
        format!("{p}0").into(),
        p.into(),
        format!("{p}/").into(),
    ]
}

/// SQL text with its binds, built in step.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, s: &str, b: impl Into<Bind>) -> &mut Self {
        self.text.push_str(s);
        self.binds.push(b.into());
        self
    }
}

/// The index a search walks, named with `INDEXED BY`: the relay picks it from the filters,
/// so the cost of a page does not hang on the planner's statistics (without ANALYZE it walks
/// the time index for a subject; with them, whatever the last sample suggested).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// The primary key.
    Id,
    /// Every event under the subject, then sorted: a company's events are few.
    Subject,
    /// `deliveries_target` or `deliveries_state`, already newest first.
    Status,
    Type,
    Store,
    /// `events_received` newest first, the other filters checked on the way.
    Time,
}

const LIST_COLUMNS: &str = "e.id AS id, e.type AS type, e.store AS store, e.subject AS subject, \
     e.time AS time, {received} AS received_at, e.targets AS targets, e.truncated AS truncated, \
     e.duplicates AS duplicates, (SELECT json_group_array(json_object('target', x.target, \
     'state', x.state, 'attempts', x.attempts)) FROM deliveries x WHERE x.event_id = e.id) AS states";

impl EventsQuery {
    /// The most selective filter drives: an id; a subject (one company); a status (rare
    /// ones are what operators look for); an exact type; a store (often the only one).
    fn driver(&self) -> Driver {
        let exact_type = self.ty.as_deref().is_some_and(|t| !t.contains('*'));
        if self.id.is_some() {
            Driver::Id
        } else if self.subject.is_some() {
            Driver::Subject
        } else if self.status.is_some() {
            Driver::Status
        } else if exact_type {
            Driver::Type
        } else if self.store.is_some() {
            Driver::Store
        } else {
            Driver::Time
        }
    }

    /// One page, newest first by (received_at, id): `limit + 1` rows at most, the extra one
    /// only saying that there is a next page. Rows: [`EventListRow`].
    pub fn statement(&self) -> Statement {
        let driver = self.driver();
        let on_deliveries = driver == Driver::Status;
        // The keyset columns: those of the driving table, whose index gives the order.
        let (ra, key) = if on_deliveries {
            ("d.received_at", "d.event_id")
        } else {
            ("e.received_at", "e.id")
        };
        let mut sql = Sql {
            text: String::with_capacity(1024),
            binds: Vec::with_capacity(16),
        };
        sql.push("SELECT ")
            .push(&LIST_COLUMNS.replace("{received}", ra));
        let events_index = match driver {
            Driver::Subject => " INDEXED BY events_subject",
            Driver::Type => " INDEXED BY events_type",
            Driver::Store => " INDEXED BY events_store",
            Driver::Time => " INDEXED BY events_received",
            Driver::Id | Driver::Status => "",
        };
        if on_deliveries {
            // CROSS JOIN: SQLite keeps the left table outermost.
            sql.push(if self.target.is_some() {
                " FROM deliveries d INDEXED BY deliveries_target"
            } else {
                " FROM deliveries d INDEXED BY deliveries_state"
            })
            .push(" CROSS JOIN events e ON e.id = d.event_id WHERE ");
            if let Some(t) = &self.target {
                sql.bind("d.target = ? AND ", t.as_str());
            }
            if let Some(s) = self.status {
                sql.bind("d.state = ? AND ", s.as_str());
            }
        } else {
            sql.push(" FROM events e")
                .push(events_index)
                .push(" WHERE ");
        }
        let hi = match (&self.until, &self.cursor) {
            (Some(u), Some(c)) => (u - 1).min(c.received_at),
            (Some(u), None) => u - 1,
            (None, Some(c)) => c.received_at,
            (None, None) => i64::MAX,
        };
        sql.bind(&format!("{ra} >= ?"), self.since.unwrap_or(0))
            .bind(&format!(" AND {ra} <= ?"), hi);
        if let Some(c) = &self.cursor {
            sql.bind(&format!(" AND ({ra} < ?"), c.received_at)
                .bind(&format!(" OR {key} < ?)"), c.id.as_str());
        }
        if let Some(id) = &self.id {
            sql.bind(" AND e.id = ?", id.as_str());
        }
        if let Some(p) = &self.subject {
            let [lo, hi, eq, under] = subject_range(p);
            sql.bind(" AND e.subject >= ?", lo)
                .bind(" AND e.subject < ?", hi)
                .bind(" AND (e.subject = ?", eq)
                .bind(" OR e.subject >= ?)", under);
        }
        if let Some(t) = &self.ty {
            if t.contains('*') {
                // Never a driver: `*.deleted` would range over every type.
                sql.bind(" AND e.type GLOB ?", type_glob(t));
            } else {
                sql.bind(" AND e.type = ?", format!("{TYPE_PREFIX}{t}"));
            }
        }
        if let Some(s) = &self.store {
            sql.bind(" AND e.store = ?", s.as_str());
        }
        if !on_deliveries && (self.target.is_some() || self.status.is_some()) {
            sql.push(" AND EXISTS (SELECT 1 FROM deliveries x WHERE x.event_id = e.id");
            if let Some(t) = &self.target {
                sql.bind(" AND x.target = ?", t.as_str());
            }
            if let Some(s) = self.status {
                sql.bind(" AND x.state = ?", s.as_str());
            }
            sql.push(")");
        }
        if on_deliveries && self.target.is_none() {
            // Several targets of one event may share the state: one row per event, which
            // the index order keeps adjacent (no temporary B-tree).
            sql.push(" GROUP BY d.received_at, d.event_id");
        }
        sql.push(&format!(" ORDER BY {ra} DESC, {key} DESC"))
            .bind(" LIMIT ?", i64::from(self.limit) + 1);
        debug_assert!(sql.binds.len() <= MAX_BINDS);
        Statement::new(sql.text, sql.binds)
    }
}

/// Each event of [`EventsQuery::statement`] as its [`EventSummary`] JSON, made by D1: the
/// worker joins the texts ([`events_page_json`]) instead of carrying a row type and a
/// serializer per answer (about 9 KiB of gzipped wasm for the three read routes). The states
/// come in target order from the `deliveries` key, as [`events_page`] sorts them.
const EVENT_JSON: &str = "SELECT json_object('id', id, 'type', type, 'store', store, \
     'subject', subject, 'time', time, 'received_at', received_at, \
     'targets', json(CASE WHEN json_valid(targets) THEN targets ELSE '[]' END), \
     'truncated', json(CASE WHEN truncated != 0 THEN 'true' ELSE 'false' END), \
     'duplicates', duplicates, 'states', json(coalesce(states, '[]'))) AS j, received_at, id \
     FROM (";

impl EventsQuery {
    /// [`Self::statement`] with each row made into its answer's JSON: rows [`JsonRow`].
    pub fn json_statement(&self) -> Statement {
        let inner = self.statement();
        Statement::new(
            format!(
                "{EVENT_JSON}{}) ORDER BY received_at DESC, id DESC",
                inner.sql
            ),
            inner.binds,
        )
    }
}

/// A row of [`EventsQuery::json_statement`].
#[derive(Debug, Clone, Deserialize)]
pub struct JsonRow {
    pub j: String,
    pub received_at: i64,
    pub id: String,
}

/// The one row of [`event_detail_json`] and [`super::stats::StatsQuery::json_statement`].
#[cfg(test)]
#[derive(Debug, Clone, Deserialize)]
pub struct JsonRow2 {
    pub j: String,
}

/// `GET /admin/events`'s answer text from [`EventsQuery::json_statement`]'s rows: the same
/// JSON as [`events_page`] gives.
pub fn events_page_json(rows: &[JsonRow], limit: u32) -> String {
    let limit = limit as usize;
    let page = rows.get(..limit).unwrap_or(rows);
    let mut out = String::with_capacity(32 + page.iter().map(|r| r.j.len() + 1).sum::<usize>());
    out.push_str("{\"events\":[");
    for (i, r) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&r.j);
    }
    out.push_str("],\"next_cursor\":");
    match page.last().filter(|_| rows.len() > limit) {
        // base64url: nothing to escape.
        Some(r) => {
            out.push('"');
            out.push_str(
                &Cursor {
                    received_at: r.received_at,
                    id: r.id.clone(),
                }
                .encode(),
            );
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

/// A row of [`EventsQuery::statement`], as D1's `all()` gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct EventListRow {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub store: String,
    pub subject: Option<String>,
    pub time: Option<i64>,
    pub received_at: i64,
    /// JSON array of names.
    pub targets: String,
    pub truncated: i64,
    pub duplicates: i64,
    /// JSON array of `{target, state, attempts}`.
    pub states: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    pub target: String,
    pub state: String,
    pub attempts: i64,
}

/// An event in a search answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub store: String,
    pub subject: Option<String>,
    /// The event's own time, unix ms.
    pub time: Option<i64>,
    pub received_at: i64,
    pub targets: Vec<String>,
    pub truncated: bool,
    pub duplicates: i64,
    pub states: Vec<TargetState>,
}

/// `GET /admin/events`'s answer: `{"events": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventsPage {
    pub events: Vec<EventSummary>,
    pub next_cursor: Option<String>,
}

/// The answer from the rows of [`EventsQuery::statement`] (at most `limit + 1`).
pub fn events_page(mut rows: Vec<EventListRow>, limit: u32) -> EventsPage {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = rows.last().filter(|_| more).map(|r| {
        Cursor {
            received_at: r.received_at,
            id: r.id.clone(),
        }
        .encode()
    });
    let events = rows
        .into_iter()
        .map(|r| {
            let mut states: Vec<TargetState> = r
                .states
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            states.sort_by(|a, b| a.target.cmp(&b.target));
            EventSummary {
                targets: serde_json::from_str(&r.targets).unwrap_or_default(),
                id: r.id,
                ty: r.ty,
                store: r.store,
                subject: r.subject,
                time: r.time,
                received_at: r.received_at,
                truncated: r.truncated != 0,
                duplicates: r.duplicates,
                states,
            }
        })
        .collect();
    EventsPage {
        events,
        next_cursor,
    }
}

/// `GET /admin/events/{id}`: one D1 `batch` of four statements, answered by
/// [`EventRow`] (`first`), [`DeliveryRow`]s, [`AttemptRow`]s and [`LogRow`]s, in that order.
pub fn event_detail(id: &str) -> [Statement; 4] {
    let s = |sql: &'static str| Statement::new(sql, vec![id.into()]);
    [
        s(
            "SELECT id, type, store, subject, time, received_at, targets, json, truncated, \
           duplicates, last_duplicate_at FROM events WHERE id = ?",
        ),
        s(
            "SELECT target, state, run, attempts, last_status, last_error, reason, updated_at, \
           delivered_at FROM deliveries WHERE event_id = ? ORDER BY target",
        ),
        s(
            "SELECT target, run, attempt, outcome, status, error, duration_ms, at, \
           next_retry_seconds FROM attempts WHERE event_id = ? ORDER BY target, run, attempt",
        ),
        s("SELECT id, kind, at, target, detail FROM log WHERE event_id = ? ORDER BY at, id"),
    ]
}

/// `GET /admin/events/{id}`'s whole answer, made by D1: one row, `{j}`, or none (a 404). The
/// JSON of [`assemble_event_detail`] (the tests hold the two equal): routed targets in
/// routing order, then the others with a record (those with a delivery row by name, then
/// those with attempts only); attempts in (run, attempt) order, from the `attempts` key. A
/// scalar subquery's JSON comes back as text, hence each in `json(…)`.
pub fn event_detail_json(id: &str) -> Statement {
    const SQL: &str = "WITH r AS (SELECT value AS target, key AS k FROM json_each((SELECT \
       CASE WHEN json_valid(targets) THEN targets ELSE '[]' END FROM events WHERE id = ?1))), \
     n AS (SELECT target, 0 AS g, k FROM r UNION ALL \
       SELECT target, min(g), 0 FROM (SELECT target, 1 AS g FROM deliveries WHERE event_id = ?1 \
         UNION ALL SELECT target, 2 FROM attempts WHERE event_id = ?1) \
       WHERE target NOT IN (SELECT target FROM r) GROUP BY target) \
     SELECT json_object( \
       'event', CASE WHEN e.truncated = 0 AND json_valid(e.json) THEN json(e.json) ELSE json_quote(e.json) END, \
       'received_at', e.received_at, \
       'truncated', json(CASE WHEN e.truncated != 0 THEN 'true' ELSE 'false' END), \
       'duplicates', e.duplicates, 'last_duplicate_at', e.last_duplicate_at, \
       'targets', json((SELECT json_group_array(json(o)) FROM (SELECT json_object('target', n.target, \
         'state', d.state, 'last_status', d.last_status, 'last_error', d.last_error, \
         'reason', d.reason, 'updated_at', d.updated_at, 'delivered_at', d.delivered_at, \
         'latency_ms', d.delivered_at - d.run, \
         'attempts', json((SELECT json_group_array(json_object('run', a.run, 'attempt', a.attempt, \
           'outcome', a.outcome, 'status', a.status, 'error', a.error, \
           'duration_ms', a.duration_ms, 'at', a.at, 'next_retry_seconds', a.next_retry_seconds)) \
           FROM attempts a WHERE a.event_id = ?1 AND a.target = n.target))) AS o \
         FROM n LEFT JOIN deliveries d ON d.event_id = ?1 AND d.target = n.target \
         ORDER BY n.g, n.k, n.target))), \
       'log', json((SELECT json_group_array(json(o)) FROM (SELECT json_object('kind', kind, 'at', at, \
         'target', target, 'detail', \
         CASE WHEN json_valid(detail) THEN json(detail) ELSE json_quote(detail) END) AS o \
         FROM log WHERE event_id = ?1 ORDER BY at, id)))) AS j \
     FROM events e WHERE e.id = ?1";
    Statement::new(SQL, vec![id.into()])
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventRow {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub store: String,
    pub subject: Option<String>,
    pub time: Option<i64>,
    pub received_at: i64,
    pub targets: String,
    pub json: String,
    pub truncated: i64,
    pub duplicates: i64,
    pub last_duplicate_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRow {
    pub target: String,
    pub state: String,
    pub run: i64,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttemptRow {
    pub target: String,
    pub run: i64,
    pub attempt: i64,
    pub outcome: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
    pub next_retry_seconds: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogRow {
    pub id: i64,
    pub kind: String,
    pub at: i64,
    pub target: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub run: i64,
    pub attempt: i64,
    pub outcome: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
    pub next_retry_seconds: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetHistory {
    pub target: String,
    /// `null` when only attempts were recorded (the state write was lost).
    pub state: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub updated_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// `delivered_at - received_at`: ingest (or replay) to delivery.
    pub latency_ms: Option<i64>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogView {
    pub kind: String,
    pub at: i64,
    pub target: Option<String>,
    pub detail: Box<RawValue>,
}

/// `GET /admin/events/{id}`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    /// The CloudEvent as stored; a JSON string of its start when `truncated`.
    pub event: Box<RawValue>,
    pub received_at: i64,
    pub truncated: bool,
    pub duplicates: i64,
    pub last_duplicate_at: Option<i64>,
    /// The routed targets, in routing order, then any other target with a record.
    pub targets: Vec<TargetHistory>,
    pub log: Vec<LogView>,
}

fn raw_or_string(text: &str) -> Box<RawValue> {
    let valid = serde_json::from_str::<Box<RawValue>>(text).ok();
    valid.unwrap_or_else(|| serde_json::value::to_raw_value(text).unwrap_or_else(|_| raw_null()))
}

fn raw_null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// The answer from [`event_detail`]'s results; `None` (a 404) without the event row.
pub fn assemble_event_detail(
    event: Option<EventRow>,
    deliveries: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
    log: Vec<LogRow>,
) -> Option<EventDetail> {
    let event = event?;
    let routed: Vec<String> = serde_json::from_str(&event.targets).unwrap_or_default();
    let mut names = routed;
    for n in deliveries
        .iter()
        .map(|d| &d.target)
        .chain(attempts.iter().map(|a| &a.target))
    {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let targets = names
        .into_iter()
        .map(|name| {
            let d = deliveries.iter().find(|d| d.target == name);
            let delivered_at = d.and_then(|d| d.delivered_at);
            // Latency from the run's start: a replay is measured from its replay.
            let latency_ms = d.and_then(|d| Some(d.delivered_at? - d.run));
            TargetHistory {
                state: d.map(|d| d.state.clone()),
                last_status: d.and_then(|d| d.last_status),
                last_error: d.and_then(|d| d.last_error.clone()),
                reason: d.and_then(|d| d.reason.clone()),
                updated_at: d.map(|d| d.updated_at),
                delivered_at,
                latency_ms,
                attempts: attempts
                    .iter()
                    .filter(|a| a.target == name)
                    .map(|a| AttemptView {
                        run: a.run,
                        attempt: a.attempt,
                        outcome: a.outcome.clone(),
                        status: a.status,
                        error: a.error.clone(),
                        duration_ms: a.duration_ms,
                        at: a.at,
                        next_retry_seconds: a.next_retry_seconds,
                    })
                    .collect(),
                target: name,
            }
        })
        .collect();
    let truncated = event.truncated != 0;
    Some(EventDetail {
        event: if truncated {
            serde_json::value::to_raw_value(&event.json).unwrap_or_else(|_| raw_null())
        } else {
            raw_or_string(&event.json)
        },
        received_at: event.received_at,
        truncated,
        duplicates: event.duplicates,
        last_duplicate_at: event.last_duplicate_at,
        targets,
        log: log
            .into_iter()
            .map(|l| LogView {
                kind: l.kind,
                at: l.at,
                target: l.target,
                detail: raw_or_string(&l.detail),
            })
            .collect(),
    })
}

/// The bodies of `POST /admin/recover` (`{"target","since","until"?,"cursor"?}`) and
/// `POST /admin/events/{id}/replay` (`{"targets"?}`): each route refuses the other's members
/// by name.
fn admin_body(body: &str) -> Result<AdminBody, QueryError> {
    AdminBody::read(body, &["target", "targets", "since", "until", "cursor"])
        .map_err(|e| QueryError::BadBody(format!("invalid request body: {e}")))
}

fn refuse(present: bool, field: &str) -> Result<(), QueryError> {
    if present {
        return Err(QueryError::UnknownParameter(field.to_owned()));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverQuery {
    pub target: String,
    pub since: i64,
    pub until: i64,
    pub cursor: Option<Cursor>,
}

fn body_time(name: &'static str, t: &Time) -> Result<i64, QueryError> {
    match t {
        Time::Ms(n) => Ok(*n),
        Time::Text(s) => time_param(name, s),
    }
}

/// `{"target", "since", "until"?, "cursor"?}`; `until` defaults to `now_ms`.
pub fn parse_recover(body: &str, now_ms: i64) -> Result<RecoverQuery, QueryError> {
    let b = admin_body(body)?;
    refuse(b.targets.is_some(), "targets")?;
    let target = non_empty("target", b.target.as_deref().unwrap_or_default())?;
    let since = body_time(
        "since",
        b.since.as_ref().ok_or(QueryError::EmptyValue("since"))?,
    )?;
    let until = match &b.until {
        Some(t) => body_time("until", t)?,
        None => now_ms,
    };
    if since >= until {
        return Err(QueryError::EmptyWindow);
    }
    let cursor = b.cursor.as_deref().map(Cursor::decode).transpose()?;
    Ok(RecoverQuery {
        target,
        since,
        until,
        cursor,
    })
}

/// `POST /admin/events/{id}/replay`'s body: the targets named, or `None` (an empty body, no
/// `targets` or an empty list) for every target the event was routed to.
pub fn parse_replay(body: &str) -> Result<Option<Vec<String>>, QueryError> {
    let b = admin_body(body)?;
    for (present, field) in [
        (b.target.is_some(), "target"),
        (b.since.is_some(), "since"),
        (b.until.is_some(), "until"),
        (b.cursor.is_some(), "cursor"),
    ] {
        refuse(present, field)?;
    }
    Ok(b.targets.filter(|t| !t.is_empty()))
}

/// The states recover takes: everything but `delivered` and `filtered` (dropped on purpose).
/// `pending` includes what is still queued: a receiver deduplicates by event id.
pub const RECOVER_STATES: [State; 4] = [
    State::Pending,
    State::Failed,
    State::DeadLetter,
    State::Held,
];

/// Oldest first by (received_at, event_id), one ordered index range per state merged, so a
/// page reads at most 4 × (page + 1) index entries however many rows the window holds, and
/// only the page's own events (the merge is limited before the join, which SQLite would
/// otherwise push into each arm). ?1 target, ?2 from (inclusive), ?3 until (exclusive),
/// ?4/?5 the cursor, ?6 page + 1.
const RECOVER_SQL: &str = "WITH k AS ( \
     SELECT * FROM (SELECT event_id, received_at, state FROM deliveries WHERE target = ?1 \
       AND state = 'pending' AND received_at >= ?2 AND received_at < ?3 \
       AND (received_at > ?4 OR event_id > ?5) ORDER BY received_at, event_id LIMIT ?6) \
     UNION ALL SELECT * FROM (SELECT event_id, received_at, state FROM deliveries WHERE target = ?1 \
       AND state = 'failed' AND received_at >= ?2 AND received_at < ?3 \
       AND (received_at > ?4 OR event_id > ?5) ORDER BY received_at, event_id LIMIT ?6) \
     UNION ALL SELECT * FROM (SELECT event_id, received_at, state FROM deliveries WHERE target = ?1 \
       AND state = 'dead_letter' AND received_at >= ?2 AND received_at < ?3 \
       AND (received_at > ?4 OR event_id > ?5) ORDER BY received_at, event_id LIMIT ?6) \
     UNION ALL SELECT * FROM (SELECT event_id, received_at, state FROM deliveries WHERE target = ?1 \
       AND state = 'held' AND received_at >= ?2 AND received_at < ?3 \
       AND (received_at > ?4 OR event_id > ?5) ORDER BY received_at, event_id LIMIT ?6) \
     ORDER BY received_at, event_id LIMIT ?6) \
     SELECT k.event_id AS event_id, k.received_at AS received_at, k.state AS state, \
       e.json AS json, e.truncated AS truncated \
     FROM k LEFT JOIN events e ON e.id = k.event_id ORDER BY k.received_at, k.event_id";

impl RecoverQuery {
    /// Rows: [`RecoverRow`], at most [`RECOVER_PAGE`] + 1.
    pub fn statement(&self) -> Statement {
        let (from, after_at, after_id) = match &self.cursor {
            Some(c) => (self.since.max(c.received_at), c.received_at, c.id.as_str()),
            // No cursor: `received_at > since - 1` holds for the whole window.
            None => (self.since, self.since.saturating_sub(1), ""),
        };
        Statement::new(
            RECOVER_SQL,
            vec![
                self.target.as_str().into(),
                from.into(),
                self.until.into(),
                after_at.into(),
                after_id.into(),
                i64::from(RECOVER_PAGE + 1).into(),
            ],
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecoverRow {
    pub event_id: String,
    pub received_at: i64,
    pub state: String,
    /// `null` when the event row is gone (only its delivery state was recorded).
    pub json: Option<String>,
    pub truncated: Option<i64>,
}

/// An event to enqueue again for the target: `json` reads as an `EncodedEvent`.
#[derive(Debug, Clone)]
pub struct Recoverable {
    pub event_id: String,
    pub state: String,
    pub json: String,
}

/// One page of recover: what can be re-enqueued, and what cannot (JSON cut or missing: its
/// dead letter, if it has one, can still be replayed).
#[derive(Debug, Clone)]
pub struct RecoverPage {
    pub events: Vec<Recoverable>,
    pub unrecoverable: Vec<String>,
    pub next_cursor: Option<String>,
}

pub fn recover_page(mut rows: Vec<RecoverRow>) -> RecoverPage {
    let page = RECOVER_PAGE as usize;
    let more = rows.len() > page;
    rows.truncate(page);
    let next_cursor = rows.last().filter(|_| more).map(|r| {
        Cursor {
            received_at: r.received_at,
            id: r.event_id.clone(),
        }
        .encode()
    });
    let mut events = Vec::with_capacity(rows.len());
    let mut unrecoverable = Vec::new();
    for r in rows {
        match r.json {
            Some(json) if r.truncated == Some(0) => events.push(Recoverable {
                event_id: r.event_id,
                state: r.state,
                json,
            }),
            _ => unrecoverable.push(r.event_id),
        }
    }
    RecoverPage {
        events,
        unrecoverable,
        next_cursor,
    }
}

/// `POST /admin/recover`'s answer. `next_cursor` set: call again with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoverReport {
    pub target: String,
    pub requeued: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrecoverable: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub next_cursor: Option<String>,
}
