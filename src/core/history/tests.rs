//! Every statement of the history module run on real SQLite with realistic data, checked
//! against a plain Rust model of what each answer must hold, and `EXPLAIN QUERY PLAN`
//! checked for index use.

use super::query::{
    self, assemble_event_detail, event_detail, events_page, parse_events_query, parse_recover,
    recover_page, AttemptRow, DeliveryRow, EventListRow, EventRow, EventsQuery, LogRow, RecoverRow,
    RECOVER_PAGE,
};
use super::retention::{self, parse_history_days, Tally, DELETE_LIMIT};
use super::stats::{parse_stats_query, stats_answer, Bucket, StatsRow};
use super::testdb::Db;
use super::write::{self, AttemptRecord, StateChange};
use super::*;
use crate::core::catalog::{self, TYPE_PREFIX};
use crate::core::deliver::attempts::{Attempt, DEAD_LETTER, DELIVERED, RETRY};
use crate::core::event::{CloudEvent, EncodedEvent};
use crate::core::route::glob_match;
use crate::core::time::rfc3339;
use serde_json::{json, value::RawValue, Value};

const BASE: i64 = 1_700_000_000_000;

fn event(id: &str, short: &str, store: &str, subject: Option<&str>) -> EncodedEvent {
    event_with_data(id, short, store, subject, r#"{"company_id":1}"#)
}

fn event_with_data(
    id: &str,
    short: &str,
    store: &str,
    subject: Option<&str>,
    data: &str,
) -> EncodedEvent {
    EncodedEvent::new(CloudEvent {
        specversion: "1.0".into(),
        id: id.into(),
        source: format!("https://api.bigcommerce.com/stores/{store}"),
        ty: format!("{TYPE_PREFIX}{short}"),
        subject: subject.map(Into::into),
        time: rfc3339(BASE / 1000),
        datacontenttype: "application/json".into(),
        storehash: store.into(),
        storeid: "1001".into(),
        bcscope: format!("store/{}", short.replace('.', "/")),
        bchash: "ff".into(),
        bctest: None,
        bcwebhookid: None,
        data: RawValue::from_string(data.into()).unwrap(),
    })
}

fn attempt(
    id: &str,
    target: &str,
    n: u32,
    outcome: &'static str,
    status: Option<u16>,
    ms: i64,
) -> Attempt {
    Attempt {
        msg: "",
        id: id.into(),
        target: target.into(),
        attempt: n,
        outcome,
        status,
        error: (outcome != DELIVERED).then(|| format!("HTTP {}", status.unwrap_or(0))),
        duration_ms: ms,
        next_retry_seconds: (outcome == RETRY).then_some(30 * n),
    }
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn deliveries(db: &Db, id: &str) -> Vec<DeliveryRow> {
    db.rows(&event_detail(id)[1])
}

fn state_of(db: &Db, id: &str, target: &str) -> Option<String> {
    deliveries(db, id)
        .into_iter()
        .find(|d| d.target == target)
        .map(|d| d.state)
}

// ---------------------------------------------------------------------------------------
// The model: a few hundred events across types, stores, subjects and targets, with flaky
// targets, dead letters, held and filtered deliveries.

struct ModelEvent {
    id: String,
    short: String,
    store: String,
    subject: Option<String>,
    received_at: i64,
    /// (target, final state)
    states: Vec<(String, State)>,
}

struct ModelAttempt {
    target: String,
    outcome: &'static str,
    duration: i64,
    at: i64,
    latency: Option<i64>,
}

struct World {
    db: Db,
    events: Vec<ModelEvent>,
    attempts: Vec<ModelAttempt>,
}

/// A small deterministic generator: the same world every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const SUBJECTS: [Option<&str>; 10] = [
    Some("companies/1234"),
    Some("companies/1234/users/7"),
    Some("companies/1234/addresses/3"),
    Some("companies/12345"),
    Some("companies/12345/users/1"),
    Some("companies/123"),
    Some("companies/1234-x"),
    Some("companies/12340"),
    Some("quotes/9"),
    None,
];

fn short_types() -> Vec<String> {
    let mut v: Vec<String> = catalog::CATALOG
        .iter()
        .map(|(s, ..)| catalog::short_type(s))
        .collect();
    // Unknown scopes are forwarded too; these carry GLOB syntax that must stay literal.
    v.push("odd?type".into());
    v.push("odd[x].deleted".into());
    v
}

fn world(n: usize) -> World {
    let db = Db::new();
    let types = short_types();
    let stores = ["abc", "def", "ghi"];
    let all_targets = ["crm", "erp", "wh"];
    let mut rng = Lcg(42);
    let mut events = Vec::new();
    let mut attempts = Vec::new();
    for i in 0..n {
        // Pairs share a received_at: the id breaks the tie.
        let received_at = BASE + (i as i64 / 2) * 1_000;
        let id = format!("{:016x}", rng.next(u64::MAX));
        let short = types[rng.next(types.len() as u64) as usize].clone();
        let store = stores[rng.next(3) as usize];
        let subject = SUBJECTS[rng.next(SUBJECTS.len() as u64) as usize];
        let targets: Vec<&str> = all_targets
            .iter()
            .copied()
            .filter(|_| rng.next(3) > 0)
            .collect();
        let ev = event(&id, &short, store, subject);
        db.batch(&write::record_accepted(&ev, &targets, received_at));
        let mut states = Vec::new();
        for t in &targets {
            let mut at = received_at + 50;
            let mut records: Vec<(Attempt, i64)> = Vec::new();
            let state = match rng.next(10) {
                0 => State::Pending,
                1 | 2 => {
                    // Flaky: two failures, then through.
                    records.push((attempt(&id, t, 1, RETRY, Some(503), 900), at));
                    at += 30_000;
                    records.push((attempt(&id, t, 2, RETRY, None, 10_000), at));
                    at += 60_000;
                    records.push((attempt(&id, t, 3, DELIVERED, Some(200), 120), at));
                    State::Delivered
                }
                3 => {
                    for k in 1..=3 {
                        let o = if k == 3 { DEAD_LETTER } else { RETRY };
                        records.push((attempt(&id, t, k, o, Some(500), 40 * i64::from(k)), at));
                        at += 10_000;
                    }
                    State::DeadLetter
                }
                4 => {
                    records.push((attempt(&id, t, 1, RETRY, Some(429), 15), at));
                    State::Failed
                }
                5 => State::Held,
                6 => State::Filtered,
                _ => {
                    let ms = 5 + rng.next(300) as i64;
                    records.push((attempt(&id, t, 1, DELIVERED, Some(204), ms), at));
                    State::Delivered
                }
            };
            let recs: Vec<AttemptRecord<'_>> = records
                .iter()
                .map(|(a, at)| AttemptRecord {
                    attempt: a,
                    run: received_at,
                    at_ms: *at,
                })
                .collect();
            db.batch(&write::record_attempts(&recs));
            if matches!(state, State::Held | State::Filtered) {
                let change = StateChange {
                    event_id: &id,
                    target: t,
                    state,
                    run: received_at,
                    attempts: 0,
                    reason: Some("target paused"),
                    at_ms: received_at + 10,
                };
                db.run(&write::record_states(&[change]).unwrap());
            }
            for (a, at) in &records {
                attempts.push(ModelAttempt {
                    target: (*t).to_owned(),
                    outcome: a.outcome,
                    duration: a.duration_ms,
                    at: *at,
                    latency: (a.outcome == DELIVERED).then_some(*at - received_at),
                });
            }
            states.push(((*t).to_owned(), state));
        }
        events.push(ModelEvent {
            id,
            short,
            store: store.into(),
            subject: subject.map(Into::into),
            received_at,
            states,
        });
    }
    World {
        db,
        events,
        attempts,
    }
}

impl ModelEvent {
    fn matches(&self, q: &EventsQuery) -> bool {
        let state_ok = |t: &Option<String>, s: Option<State>| match (t, s) {
            (None, None) => true,
            (Some(t), None) => self.states.iter().any(|(n, _)| n == t),
            (None, Some(s)) => self.states.iter().any(|(_, st)| *st == s),
            (Some(t), Some(s)) => self.states.iter().any(|(n, st)| n == t && *st == s),
        };
        q.id.as_ref().is_none_or(|id| *id == self.id)
            && q.ty.as_ref().is_none_or(|g| glob_match(g, &self.short))
            && q.store.as_ref().is_none_or(|s| *s == self.store)
            && q.subject.as_ref().is_none_or(|p| {
                self.subject
                    .as_ref()
                    .is_some_and(|s| s == p || s.starts_with(&format!("{p}/")))
            })
            && state_ok(&q.target, q.status)
            && q.since.is_none_or(|s| self.received_at >= s)
            && q.until.is_none_or(|u| self.received_at < u)
    }
}

impl World {
    /// The ids a search must return, newest first.
    fn expected(&self, q: &EventsQuery) -> Vec<String> {
        let mut hits: Vec<&ModelEvent> = self.events.iter().filter(|e| e.matches(q)).collect();
        hits.sort_by(|a, b| (b.received_at, &b.id).cmp(&(a.received_at, &a.id)));
        hits.into_iter().map(|e| e.id.clone()).collect()
    }

    /// Every page of a search, following `next_cursor` to the end.
    fn all_pages(&self, q: &[(&str, &str)]) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut p = pairs(q);
            if let Some(c) = &cursor {
                p.push(("cursor".into(), c.clone()));
            }
            let parsed = parse_events_query(&p).unwrap();
            let rows: Vec<EventListRow> = self.db.rows(&parsed.statement());
            assert!(rows.len() <= parsed.limit as usize + 1);
            let page = events_page(rows, parsed.limit);
            assert!(page.events.len() <= parsed.limit as usize);
            ids.extend(page.events.iter().map(|e| e.id.clone()));
            pages += 1;
            assert!(pages < 1000, "paging does not end");
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        (ids, pages)
    }
}

/// Every filter alone and in combination, small and default pages.
const SEARCHES: &[&[(&str, &str)]] = &[
    &[],
    &[("limit", "7")],
    &[("id", "__ID__")],
    &[("type", "quote.*"), ("limit", "9")],
    &[("type", "company.user.*")],
    &[("type", "*.deleted"), ("limit", "11")],
    &[("type", "company.created")],
    &[("type", "com.bigcommerce.quote.created")],
    &[("type", "odd?type")],
    &[("type", "odd[x].*")],
    &[("type", "odd*")],
    &[("store", "def"), ("limit", "13")],
    &[("subject", "companies/1234"), ("limit", "5")],
    &[("subject", "companies/1234/")],
    &[("subject", "companies/12345")],
    &[("subject", "companies/123")],
    &[("subject", "quotes/9"), ("store", "abc")],
    &[("target", "erp"), ("limit", "17")],
    &[("status", "dead_letter")],
    &[("status", "delivered"), ("limit", "23")],
    &[("status", "held"), ("target", "crm")],
    &[
        ("status", "filtered"),
        ("target", "wh"),
        ("type", "company.*"),
    ],
    &[("status", "failed"), ("store", "ghi")],
    &[("status", "pending"), ("subject", "companies/1234")],
    &[("target", "crm"), ("subject", "companies/12345")],
    &[
        ("type", "company.updated"),
        ("store", "abc"),
        ("status", "delivered"),
    ],
    &[
        ("since", "1700000030000"),
        ("until", "1700000090000"),
        ("limit", "6"),
    ],
    &[("since", "2023-11-14T22:13:50Z"), ("type", "*.created")],
    &[
        ("until", "2023-11-14T22:14:40.5Z"),
        ("store", "abc"),
        ("limit", "4"),
    ],
    &[
        ("since", "1700000010000"),
        ("status", "dead_letter"),
        ("target", "erp"),
        ("limit", "2"),
    ],
    &[("id", "__ID__"), ("status", "delivered")],
];

fn with_id<'a>(q: &[(&'a str, &'a str)], id: &'a str) -> Vec<(&'a str, &'a str)> {
    q.iter()
        .map(|&(k, v)| (k, if v == "__ID__" { id } else { v }))
        .collect()
}

#[test]
fn searches_page_through_every_match_once_in_order() {
    let w = world(400);
    let some_id = w.events[123].id.clone();
    let mut nonempty = 0;
    for q in SEARCHES {
        let q = with_id(q, &some_id);
        let parsed = parse_events_query(&pairs(&q)).unwrap();
        let want = w.expected(&parsed);
        let (got, pages) = w.all_pages(&q);
        assert_eq!(got, want, "search {q:?}");
        let limit = parsed.limit as usize;
        assert_eq!(pages, want.len().div_ceil(limit).max(1), "pages of {q:?}");
        nonempty += usize::from(!want.is_empty());
    }
    // The data set is meant to give every search something to find.
    assert!(nonempty >= SEARCHES.len() - 1, "{nonempty}");
}

#[test]
fn subjects_match_themselves_and_what_is_under_them_only() {
    let db = Db::new();
    let subjects = [
        "companies/1234",
        "companies/1234/users/1",
        "companies/1234/addresses/2",
        "companies/12345",
        "companies/12345/users/1",
        "companies/1234-x",
        "companies/1234.5",
        "companies/12340",
        "companies/123",
    ];
    for (i, s) in subjects.iter().enumerate() {
        let ev = event(&format!("e{i}"), "company.updated", "abc", Some(s));
        db.batch(&write::record_accepted(&ev, &["crm"], BASE + i as i64));
    }
    let find = |p: &str| -> Vec<String> {
        let q = parse_events_query(&pairs(&[("subject", p)])).unwrap();
        let mut got: Vec<String> = events_page(db.rows(&q.statement()), q.limit)
            .events
            .into_iter()
            .filter_map(|e| e.subject)
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        find("companies/1234"),
        [
            "companies/1234",
            "companies/1234/addresses/2",
            "companies/1234/users/1"
        ]
    );
    assert_eq!(
        find("companies/12345"),
        ["companies/12345", "companies/12345/users/1"]
    );
    assert_eq!(find("companies/1234/users/1"), ["companies/1234/users/1"]);
    assert_eq!(find("companies/123"), ["companies/123"]);
    assert!(find("companies/9").is_empty());
    assert_eq!(find("companies/1234/users"), ["companies/1234/users/1"]);
    assert!(find("companies/1234/user").is_empty());
}

#[test]
fn type_globs_follow_target_globs_and_keep_glob_syntax_literal() {
    assert_eq!(type_glob_of("quote.*"), "com.bigcommerce.quote.*");
    assert_eq!(type_glob_of("a?b[c]*"), "com.bigcommerce.a[?]b[[]c]*");
    let db = Db::new();
    let types = [
        "odd?type",
        "oddXtype",
        "odd[x]",
        "oddx",
        "company.user.created",
    ];
    for (i, t) in types.iter().enumerate() {
        let ev = event(&format!("t{i}"), t, "abc", None);
        db.batch(&write::record_accepted(&ev, &[], BASE + i as i64));
    }
    let find = |g: &str| -> Vec<String> {
        let q = parse_events_query(&pairs(&[("type", g)])).unwrap();
        let mut got: Vec<String> = events_page(db.rows(&q.statement()), q.limit)
            .events
            .into_iter()
            .map(|e| e.ty.trim_start_matches(TYPE_PREFIX).to_owned())
            .collect();
        got.sort();
        got
    };
    assert_eq!(find("odd?type"), ["odd?type"]);
    assert_eq!(find("odd?t*"), ["odd?type"]);
    assert_eq!(find("odd[x]"), ["odd[x]"]);
    assert_eq!(find("odd[x*"), ["odd[x]"]);
    // Byte order: 'X' < '[' < 'x'.
    assert_eq!(find("odd*"), ["odd?type", "oddXtype", "odd[x]", "oddx"]);
    assert_eq!(find("*.created"), ["company.user.created"]);
    assert_eq!(find("company.*"), ["company.user.created"]);
    assert!(find("company").is_empty());
}

fn type_glob_of(s: &str) -> String {
    query::type_glob(s)
}

#[test]
fn every_search_uses_an_index_with_and_without_statistics() {
    let w = world(300);
    let id = w.events[5].id.clone();
    let cursor = Cursor {
        received_at: BASE + 50_000,
        id: "8".into(),
    }
    .encode();
    let check = |label: &str| {
        for q in SEARCHES {
            let mut q = with_id(q, &id);
            for paged in [false, true] {
                if paged {
                    q.push(("cursor", cursor.as_str()));
                }
                let s = parse_events_query(&pairs(&q)).unwrap().statement();
                w.db.assert_indexed(&format!("{label} {q:?}"), &s);
            }
        }
    };
    check("no stats");
    // D1 may have run `PRAGMA optimize`: the plans must hold with statistics too.
    w.db.conn.execute_batch("ANALYZE").unwrap();
    check("analyzed");
}

#[test]
fn searches_walk_the_index_that_fits() {
    let db = Db::new();
    let plan = |q: &[(&str, &str)]| {
        db.plan(&parse_events_query(&pairs(q)).unwrap().statement())
            .join(" | ")
    };
    assert!(plan(&[]).contains("INDEX events_received"));
    assert!(plan(&[("id", "x"), ("store", "a")]).contains("sqlite_autoindex_events_1 (id=?)"));
    assert!(plan(&[("store", "a")]).contains("events_store (store=?"));
    assert!(plan(&[("type", "quote.created"), ("store", "a")]).contains("events_type (type=?"));
    assert!(plan(&[("type", "quote.*")]).contains("events_received"));
    let subject = plan(&[("subject", "companies/1"), ("store", "a"), ("type", "a.b")]);
    assert!(
        subject.contains("events_subject (subject>? AND subject<?)"),
        "{subject}"
    );
    let status = plan(&[("status", "failed"), ("type", "quote.created")]);
    assert!(status.contains("deliveries_state (state=?"), "{status}");
    assert!(!status.contains("TEMP B-TREE"), "{status}");
    let at_target = plan(&[("status", "failed"), ("target", "crm")]);
    assert!(
        at_target.contains("deliveries_target (target=? AND state=?"),
        "{at_target}"
    );
    let target = plan(&[("target", "crm")]);
    assert!(
        target.contains("PRIMARY KEY (event_id=? AND target=?)"),
        "{target}"
    );
}

#[test]
fn search_rows_carry_states_and_the_answer_shape() {
    let db = Db::new();
    let ev = event("e1", "company.created", "abc", Some("companies/1"));
    db.batch(&write::record_accepted(&ev, &["erp", "crm"], BASE));
    let a = attempt("e1", "crm", 1, DELIVERED, Some(200), 12);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a,
        run: BASE,
        at_ms: BASE + 40,
    }]));
    let q = parse_events_query(&[]).unwrap();
    let page = events_page(db.rows(&q.statement()), q.limit);
    assert_eq!(
        serde_json::to_value(&page).unwrap(),
        json!({
            "events": [{
                "id": "e1", "type": "com.bigcommerce.company.created", "store": "abc",
                "subject": "companies/1", "time": BASE, "received_at": BASE,
                "targets": ["erp", "crm"], "truncated": false, "duplicates": 0,
                "states": [
                    {"target": "crm", "state": "delivered", "attempts": 1},
                    {"target": "erp", "state": "pending", "attempts": 0}
                ]
            }],
            "next_cursor": null
        })
    );
}

// ---------------------------------------------------------------------------------------
// Writes: order, repetition, replays.

#[test]
fn a_flaky_delivery_and_a_dead_letter_leave_their_states_and_attempts() {
    let db = Db::new();
    // A real callback, normalized as ingest does.
    let body = br#"{"scope":"store/company/user/created","store_id":"1001","data":{"company_id":1234,"user_id":7},"hash":"ab","created_at":1700000000,"producer":"stores/abc"}"#;
    let ev: EncodedEvent =
        crate::core::event::normalize(crate::core::ingest::callback::parse(body).unwrap(), 0)
            .into();
    let id = ev.id.clone();
    db.batch(&write::record_accepted(&ev, &["crm", "erp"], BASE));
    let tries = [
        attempt(&id, "crm", 1, RETRY, Some(502), 300),
        attempt(&id, "erp", 1, RETRY, None, 10_000),
        attempt(&id, "crm", 2, DELIVERED, Some(200), 80),
        attempt(&id, "erp", 2, DEAD_LETTER, Some(500), 90),
    ];
    for (i, a) in tries.iter().enumerate() {
        let r = AttemptRecord {
            attempt: a,
            run: BASE,
            at_ms: BASE + 1_000 * (i as i64 + 1),
        };
        db.batch(&write::record_attempts(&[r]));
    }
    let [ev_s, dl_s, at_s, log_s] = event_detail(&id);
    let detail = assemble_event_detail(
        db.first::<EventRow>(&ev_s),
        db.rows::<DeliveryRow>(&dl_s),
        db.rows::<AttemptRow>(&at_s),
        db.rows::<LogRow>(&log_s),
    )
    .unwrap();
    let v = serde_json::to_value(&detail).unwrap();
    assert_eq!(v["event"]["id"], id);
    assert_eq!(v["event"]["subject"], "companies/1234/users/7");
    assert_eq!(v["truncated"], false);
    assert_eq!(
        v["targets"][0],
        json!({
            "target": "crm", "state": "delivered", "last_status": 200, "last_error": null,
            "reason": null, "updated_at": BASE + 3_000, "delivered_at": BASE + 3_000,
            "latency_ms": 3_000,
            "attempts": [
                {"run": BASE, "attempt": 1, "outcome": "retry", "status": 502, "error": "HTTP 502",
                 "duration_ms": 300, "at": BASE + 1_000, "next_retry_seconds": 30},
                {"run": BASE, "attempt": 2, "outcome": "delivered", "status": 200, "error": null,
                 "duration_ms": 80, "at": BASE + 3_000, "next_retry_seconds": null}
            ]
        })
    );
    assert_eq!(v["targets"][1]["target"], "erp");
    assert_eq!(v["targets"][1]["state"], "dead_letter");
    assert_eq!(v["targets"][1]["last_error"], "HTTP 500");
    assert_eq!(v["targets"][1]["attempts"].as_array().unwrap().len(), 2);
}

#[test]
fn late_and_repeated_writes_change_nothing() {
    let db = Db::new();
    let ev = event("e1", "quote.created", "abc", Some("quotes/1"));
    let a1 = attempt("e1", "crm", 1, RETRY, Some(503), 10);
    let a2 = attempt("e1", "crm", 2, DELIVERED, Some(200), 10);
    let rec = |a: &Attempt, at: i64| {
        write::record_attempts(&[AttemptRecord {
            attempt: a,
            run: BASE,
            at_ms: at,
        }])
    };
    // The consumer's writes land before the ingest's own.
    db.batch(&rec(&a2, BASE + 2_000));
    db.batch(&rec(&a1, BASE + 1_000));
    db.batch(&write::record_accepted(&ev, &["crm"], BASE));
    assert_eq!(state_of(&db, "e1", "crm").as_deref(), Some("delivered"));
    let d = &deliveries(&db, "e1")[0];
    assert_eq!((d.attempts, d.delivered_at), (2, Some(BASE + 2_000)));
    // A queue retry records a batch twice.
    db.batch(&rec(&a2, BASE + 2_000));
    assert_eq!(db.count("SELECT count(*) FROM attempts"), 2);
    // A hold decided before attempt 2 arrives after it: too old to apply.
    let held = StateChange {
        event_id: "e1",
        target: "crm",
        state: State::Held,
        run: BASE,
        attempts: 1,
        reason: Some("breaker open"),
        at_ms: BASE + 1_500,
    };
    db.run(&write::record_states(&[held]).unwrap());
    assert_eq!(state_of(&db, "e1", "crm").as_deref(), Some("delivered"));
    // The ingest write repeated.
    db.batch(&write::record_accepted(&ev, &["crm"], BASE));
    assert_eq!(state_of(&db, "e1", "crm").as_deref(), Some("delivered"));
    assert_eq!(db.count("SELECT count(*) FROM events"), 1);
    // The delivery row took the event's received_at, the key of status searches.
    assert_eq!(
        db.count("SELECT received_at FROM deliveries WHERE event_id = 'e1'"),
        BASE
    );
}

#[test]
fn holds_keep_the_last_error_and_a_later_attempt_wins() {
    let db = Db::new();
    let ev = event("e1", "quote.created", "abc", None);
    db.batch(&write::record_accepted(&ev, &["crm"], BASE));
    let a1 = attempt("e1", "crm", 1, RETRY, Some(503), 10);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a1,
        run: BASE,
        at_ms: BASE + 100,
    }]));
    let held = StateChange {
        event_id: "e1",
        target: "crm",
        state: State::Held,
        run: BASE,
        attempts: 1,
        reason: Some("target paused"),
        at_ms: BASE + 200,
    };
    db.run(&write::record_states(&[held]).unwrap());
    let d = &deliveries(&db, "e1")[0];
    assert_eq!(d.state, "held");
    assert_eq!(d.reason.as_deref(), Some("target paused"));
    assert_eq!(
        (d.last_status, d.last_error.as_deref()),
        (Some(503), Some("HTTP 503"))
    );
    // The same attempt recorded again (a queue retry) does not undo the hold.
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a1,
        run: BASE,
        at_ms: BASE + 100,
    }]));
    assert_eq!(state_of(&db, "e1", "crm").as_deref(), Some("held"));
    let a2 = attempt("e1", "crm", 2, DELIVERED, Some(200), 10);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a2,
        run: BASE,
        at_ms: BASE + 300,
    }]));
    let d = &deliveries(&db, "e1")[0];
    assert_eq!((d.state.as_str(), d.reason.as_deref()), ("delivered", None));
}

#[test]
fn a_replay_starts_a_new_run_that_wins_over_the_old_one() {
    let db = Db::new();
    let ev = event("e1", "company.deleted", "abc", Some("companies/1"));
    db.batch(&write::record_accepted(&ev, &["crm"], BASE));
    let dead = attempt("e1", "crm", 1, DEAD_LETTER, Some(410), 10);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &dead,
        run: BASE,
        at_ms: BASE + 10,
    }]));
    let record = crate::core::deliver::message::Delivery::first("crm", ev.clone(), None, BASE)
        .into_dead_letter(Some(410), "HTTP 410".into(), BASE / 1000);
    db.batch(&write::record_dead_letter(&record, BASE, BASE + 11));
    assert_eq!(state_of(&db, "e1", "crm").as_deref(), Some("dead_letter"));
    let now = BASE + 3_600_000;
    db.batch(&write::record_replays(
        write::LOG_REPLAY,
        &[("e1", "crm")],
        now,
    ));
    let d = &deliveries(&db, "e1")[0];
    assert_eq!((d.state.as_str(), d.run, d.attempts), ("pending", now, 0));
    assert_eq!(
        d.last_error.as_deref(),
        Some("HTTP 410"),
        "why it failed stays"
    );
    // Attempt 1 of the new run does not collide with attempt 1 of the first.
    let again = attempt("e1", "crm", 1, DELIVERED, Some(200), 10);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &again,
        run: now,
        at_ms: now + 50,
    }]));
    // A straggler of the old run arrives last.
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &dead,
        run: BASE,
        at_ms: BASE + 10,
    }]));
    let d = &deliveries(&db, "e1")[0];
    assert_eq!(
        (d.state.as_str(), d.delivered_at),
        ("delivered", Some(now + 50))
    );
    assert_eq!(db.count("SELECT count(*) FROM attempts"), 2);
    let [ev_s, dl_s, at_s, log_s] = event_detail("e1");
    let detail = assemble_event_detail(
        db.first(&ev_s),
        db.rows(&dl_s),
        db.rows(&at_s),
        db.rows(&log_s),
    )
    .unwrap();
    let v = serde_json::to_value(&detail).unwrap();
    assert_eq!(v["targets"][0]["latency_ms"], 50);
    let kinds: Vec<&str> = v["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dead_letter", "replay"]);
    assert_eq!(v["log"][0]["detail"]["last_error"], "HTTP 410");
    assert!(
        !v["log"][0].to_string().contains("company_id"),
        "no event body in the log"
    );
}

#[test]
fn a_dead_letter_from_before_history_is_recorded_with_its_event() {
    let db = Db::new();
    let ev = event("old", "quote.updated", "abc", Some("quotes/3"));
    let now = BASE + 1_000;
    db.run(&write::record_event(&ev, &["crm"], now));
    db.batch(&write::record_replays(
        write::LOG_REPLAY,
        &[("old", "crm")],
        now,
    ));
    assert_eq!(state_of(&db, "old", "crm").as_deref(), Some("pending"));
    let q = parse_events_query(&pairs(&[("status", "pending")])).unwrap();
    let page = events_page(db.rows(&q.statement()), q.limit);
    assert_eq!(page.events.len(), 1);
}

#[test]
fn duplicates_are_counted_on_the_event() {
    let db = Db::new();
    db.batch(&write::record_accepted(
        &event("e1", "company.created", "abc", None),
        &["crm"],
        BASE,
    ));
    assert_eq!(db.run(&write::record_duplicate("e1", BASE + 500)), 1);
    assert_eq!(db.run(&write::record_duplicate("e1", BASE + 300)), 1);
    assert_eq!(db.run(&write::record_duplicate("unknown", BASE)), 0);
    let row: EventRow = db.first(&event_detail("e1")[0]).unwrap();
    assert_eq!(
        (row.duplicates, row.last_duplicate_at),
        (2, Some(BASE + 500))
    );
}

#[test]
fn large_events_are_cut_at_a_char_boundary_and_flagged() {
    let db = Db::new();
    let big = format!(r#"{{"note":"{}"}}"#, "é".repeat(20_000));
    let ev = event_with_data("big", "company.updated", "abc", None, &big);
    assert!(ev.json().len() > MAX_JSON_BYTES);
    db.batch(&write::record_accepted(&ev, &["crm"], BASE));
    let small = event("small", "company.updated", "abc", None);
    db.batch(&write::record_accepted(&small, &["crm"], BASE + 1));
    let row: EventRow = db.first(&event_detail("big")[0]).unwrap();
    assert_eq!(row.truncated, 1);
    assert!(row.json.len() <= MAX_JSON_BYTES && row.json.len() > MAX_JSON_BYTES - 4);
    assert!(ev.json().starts_with(&row.json));
    let detail = assemble_event_detail(Some(row), Vec::new(), Vec::new(), Vec::new()).unwrap();
    let v = serde_json::to_value(&detail).unwrap();
    assert!(v["event"]
        .as_str()
        .unwrap()
        .starts_with(r#"{"specversion""#));
    assert_eq!(v["truncated"], true);
    // Recover cannot re-send a cut event: it says so instead.
    let q = parse_recover(r#"{"target":"crm","since":0}"#, BASE + 10).unwrap();
    let page = recover_page(db.rows(&q.statement()));
    assert_eq!(page.unrecoverable, ["big"]);
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_id, "small");
    let back: EncodedEvent = serde_json::from_str(&page.events[0].json).unwrap();
    assert_eq!(back.json(), small.json());
}

#[test]
fn cut_respects_char_boundaries() {
    assert_eq!(cut("abc", 3), ("abc", false));
    assert_eq!(cut("aé", 2), ("a", true));
    assert_eq!(cut("éé", 3), ("é", true));
    assert_eq!(cut("", 0), ("", false));
}

#[test]
fn long_errors_and_details_are_bounded() {
    let db = Db::new();
    let mut a = attempt("e1", "crm", 1, RETRY, Some(500), 1);
    a.error = Some("ü".repeat(1_000));
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a,
        run: BASE,
        at_ms: BASE,
    }]));
    let rows: Vec<AttemptRow> = db.rows(&event_detail("e1")[2]);
    assert!(rows[0].error.as_ref().unwrap().len() <= write::MAX_TEXT_BYTES);
    let detail = json!({"reason": "x".repeat(10_000)});
    db.run(&write::log_entry(
        write::LOG_QUARANTINE,
        BASE,
        None,
        None,
        &detail,
    ));
    let stored: String = db
        .conn
        .query_row("SELECT detail FROM log", [], |r| r.get(0))
        .unwrap();
    assert!(stored.len() <= write::MAX_DETAIL_BYTES);
    let v: Value = serde_json::from_str(&stored).unwrap();
    assert!(v["cut"].as_str().unwrap().starts_with(r#"{"reason":"xxx"#));
}

#[test]
fn log_entries_keep_kind_target_event_and_detail() {
    let db = Db::new();
    let ops = json!({"state": "open", "failures": 5});
    db.run(&write::log_entry(
        "com.b2brelay.target.opened",
        BASE,
        Some("crm"),
        None,
        &ops,
    ));
    db.run(&write::log_entry(
        write::LOG_QUARANTINE,
        BASE + 1,
        None,
        Some("e9"),
        &json!({"reason": "unknown store"}),
    ));
    let rows: Vec<(String, Option<String>, Option<String>, String)> = {
        let mut st = db
            .conn
            .prepare("SELECT kind, target, event_id, detail FROM log ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        rows,
        [
            (
                "com.b2brelay.target.opened".into(),
                Some("crm".into()),
                None,
                r#"{"failures":5,"state":"open"}"#.into()
            ),
            (
                "quarantine".into(),
                None,
                Some("e9".into()),
                r#"{"reason":"unknown store"}"#.into()
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Recover.

#[test]
fn recover_pages_through_what_did_not_reach_the_target() {
    let w = world(600);
    let (since, until) = (BASE + 20_000, BASE + 280_000);
    let mut want: Vec<(i64, String)> = w
        .events
        .iter()
        .filter(|e| e.received_at >= since && e.received_at < until)
        .filter(|e| {
            e.states.iter().any(|(t, s)| {
                t == "crm"
                    && matches!(
                        s,
                        State::Pending | State::Failed | State::DeadLetter | State::Held
                    )
            })
        })
        .map(|e| (e.received_at, e.id.clone()))
        .collect();
    want.sort();
    assert!(want.len() > RECOVER_PAGE as usize, "{} to page", want.len());
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let body = json!({
            "target": "crm", "since": since, "until": rfc3339(until / 1000), "cursor": cursor
        });
        let q = parse_recover(&body.to_string(), 0).unwrap();
        let s = q.statement();
        w.db.assert_indexed("recover", &s);
        let rows: Vec<RecoverRow> = w.db.rows(&s);
        let page = recover_page(rows);
        assert!(page.unrecoverable.is_empty());
        // What the edge does next: enqueue each again, then record it.
        let items: Vec<(&str, &str)> = page
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), "crm"))
            .collect();
        w.db.batch(&write::record_replays(
            write::LOG_RECOVER,
            &items,
            BASE + 9_000_000,
        ));
        got.extend(page.events.iter().map(|e| e.event_id.clone()));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want_ids: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
    assert_eq!(got, want_ids);
    assert_eq!(pages, got.len().div_ceil(RECOVER_PAGE as usize));
    assert_eq!(
        w.db.count("SELECT count(*) FROM log WHERE kind = 'recover'"),
        got.len() as i64
    );
}

#[test]
fn recover_bodies_are_checked() {
    let ok = parse_recover(
        r#"{"target":"crm","since":"2023-11-14T22:13:20Z"}"#,
        BASE + 5,
    )
    .unwrap();
    assert_eq!((ok.since, ok.until), (BASE, BASE + 5));
    let bad = [
        r#"{"since":1}"#,
        r#"{"target":"","since":1}"#,
        r#"{"target":"crm","since":"yesterday"}"#,
        r#"{"target":"crm","since":5,"until":5}"#,
        r#"{"target":"crm","since":1,"cursor":"!!"}"#,
        r#"{"target":"crm","since":1,"ids":[]}"#,
        r#"{"target":"crm","since":1.5}"#,
        "not json",
    ];
    for b in bad {
        assert!(parse_recover(b, BASE).is_err(), "{b}");
    }
}

// ---------------------------------------------------------------------------------------
// Stats.

fn nearest_rank(mut v: Vec<i64>, p: usize) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = (p * v.len()).div_ceil(100).max(1);
    v.get(rank - 1).copied()
}

#[test]
fn stats_add_up_to_the_attempts_recorded() {
    let w = world(400);
    let (since, until) = (BASE, BASE + 400_000);
    for (bucket, start) in [
        (
            "minute",
            (|at: i64| at.div_euclid(60_000) * 60_000) as fn(i64) -> i64,
        ),
        ("hour", |at| at.div_euclid(3_600_000) * 3_600_000),
        ("day", |at| at.div_euclid(86_400_000) * 86_400_000),
        // One bucket for the window, starting at `since` (BASE).
        ("all", |_| BASE),
    ] {
        let q = parse_stats_query(
            &pairs(&[
                ("since", &since.to_string()),
                ("until", &until.to_string()),
                ("bucket", bucket),
            ]),
            0,
        )
        .unwrap();
        let s = q.statement();
        w.db.assert_indexed("stats", &s);
        let answer = stats_answer(&q, w.db.rows::<StatsRow>(&s));
        let inside: Vec<&ModelAttempt> = w
            .attempts
            .iter()
            .filter(|a| a.at >= since && a.at < until)
            .collect();
        let total: i64 = answer.targets.iter().map(|t| t.totals.attempts).sum();
        assert_eq!(total, inside.len() as i64, "{bucket}");
        if bucket == "all" {
            assert!(
                answer.targets.iter().all(|t| t.buckets.len() == 1),
                "one bucket"
            );
        }
        for t in &answer.targets {
            for b in &t.buckets {
                let mine: Vec<&&ModelAttempt> = inside
                    .iter()
                    .filter(|a| a.target == t.target && start(a.at) == b.start)
                    .collect();
                let count = |o: &str| mine.iter().filter(|a| a.outcome == o).count() as i64;
                assert_eq!(b.counts.attempts, mine.len() as i64);
                assert_eq!(b.counts.delivered, count(DELIVERED));
                assert_eq!(b.counts.failed, count(RETRY));
                assert_eq!(b.counts.dead_letters, count(DEAD_LETTER));
                let durations: Vec<i64> = mine.iter().map(|a| a.duration).collect();
                let latencies: Vec<i64> = mine.iter().filter_map(|a| a.latency).collect();
                assert_eq!(b.duration_ms.p50, nearest_rank(durations.clone(), 50));
                assert_eq!(b.duration_ms.p95, nearest_rank(durations, 95));
                assert_eq!(b.latency_ms.p50, nearest_rank(latencies.clone(), 50));
                assert_eq!(b.latency_ms.p95, nearest_rank(latencies, 95));
            }
        }
    }
    // One target only.
    let q = parse_stats_query(&pairs(&[("target", "erp"), ("until", "1700001000000")]), 0).unwrap();
    let answer = stats_answer(&q, w.db.rows(&q.statement()));
    assert_eq!(answer.targets.len(), 1);
    assert_eq!(answer.targets[0].target, "erp");
    assert_eq!(
        answer.targets[0].totals.attempts,
        w.attempts.iter().filter(|a| a.target == "erp").count() as i64
    );
}

/// D1 binds JavaScript numbers, so the integers arrive as REALs: the buckets must not change.
#[test]
fn stats_buckets_hold_with_numbers_bound_as_reals() {
    let w = world(400);
    for bucket in ["minute", "hour", "all"] {
        let q = parse_stats_query(
            &pairs(&[
                ("since", &BASE.to_string()),
                ("until", &(BASE + 400_000).to_string()),
                ("bucket", bucket),
            ]),
            0,
        )
        .unwrap();
        let mut reals = q.statement();
        for b in &mut reals.binds {
            if let Bind::Int(n) = *b {
                *b = Bind::Real(n as f64);
            }
        }
        assert_eq!(
            stats_answer(&q, w.db.rows(&reals)),
            stats_answer(&q, w.db.rows(&q.statement())),
            "{bucket}"
        );
    }
}

#[test]
fn stats_shape_and_queries() {
    let q = parse_stats_query(&[], BASE).unwrap();
    assert_eq!(
        (q.since, q.until, q.bucket),
        (BASE - 86_400_000, BASE, Bucket::Hour)
    );
    let bad: &[&[(&str, &str)]] = &[
        &[("bucket", "week")],
        &[("bucket", "minute"), ("since", "0")],
        &[("since", "5"), ("until", "5")],
        &[("foo", "1")],
        &[("target", "")],
    ];
    for b in bad {
        assert!(parse_stats_query(&pairs(b), BASE).is_err(), "{b:?}");
    }
    let db = Db::new();
    let a = attempt("e1", "crm", 1, DELIVERED, Some(200), 42);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &a,
        run: BASE - 1_000,
        at_ms: BASE,
    }]));
    let q = parse_stats_query(&pairs(&[("bucket", "day")]), BASE + 1).unwrap();
    let v = serde_json::to_value(stats_answer(&q, db.rows(&q.statement()))).unwrap();
    let day = BASE.div_euclid(86_400_000) * 86_400_000;
    assert_eq!(
        v,
        json!({
            "since": BASE + 1 - 86_400_000, "until": BASE + 1, "bucket": "day",
            "targets": [{
                "target": "crm",
                "totals": {"attempts": 1, "delivered": 1, "failed": 0, "dead_letters": 0},
                "buckets": [{
                    "start": day, "attempts": 1, "delivered": 1, "failed": 0, "dead_letters": 0,
                    "duration_ms": {"p50": 42, "p95": 42}, "latency_ms": {"p50": 1000, "p95": 1000}
                }]
            }]
        })
    );
}

// ---------------------------------------------------------------------------------------
// Retention.

#[test]
fn retention_deletes_only_old_rows_in_bounded_rounds() {
    let db = Db::new();
    let days = parse_history_days(Some("7")).unwrap();
    let now = BASE + 30 * 86_400_000;
    let cutoff = retention::cutoff_ms(now, days);
    // 1,500 old events (two rounds' worth of attempts), 10 recent ones.
    let old: Vec<EncodedEvent> = (0..1_500)
        .map(|i| event(&format!("old{i:04}"), "company.updated", "abc", None))
        .collect();
    let attempts: Vec<Attempt> = old
        .iter()
        .map(|e| attempt(&e.id, "crm", 1, DELIVERED, Some(200), 5))
        .collect();
    for (i, e) in old.iter().enumerate() {
        db.batch(&write::record_accepted(
            e,
            &["crm"],
            cutoff - 10_000 + i as i64,
        ));
    }
    let recs: Vec<AttemptRecord<'_>> = attempts
        .iter()
        .enumerate()
        .map(|(i, a)| AttemptRecord {
            attempt: a,
            run: cutoff - 10_000 + i as i64,
            at_ms: cutoff - 10_000 + i as i64 + 1,
        })
        .collect();
    let stmts = write::record_attempts(&recs);
    assert!(stmts.iter().all(|s| s.binds.len() == 1));
    db.batch(&stmts);
    db.run(&write::log_entry(
        write::LOG_REPLAY,
        cutoff - 1,
        None,
        None,
        &json!({}),
    ));
    for i in 0..10 {
        let e = event(&format!("new{i}"), "company.updated", "abc", None);
        let a = attempt(&e.id, "crm", 1, DELIVERED, Some(200), 5);
        db.batch(&write::record_accepted(&e, &["crm"], cutoff + i));
        db.batch(&write::record_attempts(&[AttemptRecord {
            attempt: &a,
            run: cutoff + i,
            at_ms: cutoff + i + 1,
        }]));
        db.run(&write::log_entry(
            write::LOG_REPLAY,
            cutoff + i,
            None,
            None,
            &json!({}),
        ));
    }
    let mut tally = Tally::default();
    loop {
        let round = retention::round(cutoff);
        for (s, table) in round.iter().zip(retention::TABLES) {
            db.assert_indexed(table, s);
        }
        let deleted: Vec<u64> = db.batch(&round).into_iter().map(|n| n as u64).collect();
        assert!(deleted.iter().all(|&n| n <= DELETE_LIMIT as u64));
        if !tally.add(&deleted) {
            break;
        }
    }
    assert_eq!(
        tally,
        Tally {
            rounds: 2,
            attempts: 1_500,
            deliveries: 1_500,
            log: 1,
            events: 1_500,
            more: false
        }
    );
    for table in retention::TABLES {
        assert_eq!(
            db.count(&format!("SELECT count(*) FROM {table}")),
            10,
            "{table}"
        );
    }
    assert_eq!(db.count("SELECT min(received_at) FROM events"), cutoff);
}

#[test]
fn retention_stops_after_its_rounds() {
    let mut t = Tally::default();
    let full = [DELETE_LIMIT as u64; 4];
    let mut rounds = 0;
    while t.add(&full) {
        rounds += 1;
    }
    assert_eq!(rounds + 1, retention::MAX_ROUNDS);
    assert!(t.more);
    assert!(!Tally::default().add(&[0, 0, 999, 0]));
}

#[test]
fn history_days() {
    assert_eq!(parse_history_days(None), Ok(7));
    assert_eq!(parse_history_days(Some(" ")), Ok(7));
    assert_eq!(parse_history_days(Some("1")), Ok(1));
    assert_eq!(parse_history_days(Some(" 90 ")), Ok(90));
    for bad in ["0", "91", "-1", "7d", "1.5"] {
        assert!(parse_history_days(Some(bad)).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// Query parsing, cursors, schema, binds, plans of the writes.

#[test]
fn event_queries_refuse_bad_values_by_name() {
    let err = |q: &[(&str, &str)]| parse_events_query(&pairs(q)).unwrap_err();
    assert_eq!(
        err(&[("stauts", "x")]),
        QueryError::UnknownParameter("stauts".into())
    );
    assert_eq!(
        err(&[("store", "a"), ("store", "b")]),
        QueryError::RepeatedParameter("store".into())
    );
    assert_eq!(err(&[("limit", "0")]), QueryError::BadLimit);
    assert_eq!(err(&[("limit", "201")]), QueryError::BadLimit);
    assert_eq!(err(&[("limit", "ten")]), QueryError::BadLimit);
    assert_eq!(err(&[("since", "yesterday")]), QueryError::BadTime("since"));
    assert_eq!(
        err(&[("until", "2023-11-14T22:13:20+01:00")]),
        QueryError::BadTime("until")
    );
    assert_eq!(
        err(&[("since", "9"), ("until", "9")]),
        QueryError::EmptyWindow
    );
    assert_eq!(err(&[("cursor", "bm9wZQ")]), QueryError::BadCursor);
    assert_eq!(err(&[("status", "ok")]), QueryError::BadStatus("ok".into()));
    assert_eq!(err(&[("store", " ")]), QueryError::EmptyValue("store"));
    assert_eq!(err(&[("subject", "/")]), QueryError::EmptyValue("subject"));
    let e: crate::core::error::RelayError = err(&[("limit", "0")]).into();
    assert_eq!(e.code, crate::core::error::ErrorCode::InvalidQuery);
    let q = parse_events_query(&pairs(&[("limit", "200"), ("status", "dead_letter")])).unwrap();
    assert_eq!((q.limit, q.status), (200, Some(State::DeadLetter)));
    assert_eq!(parse_events_query(&[]).unwrap().limit, query::DEFAULT_LIMIT);
}

#[test]
fn cursors_and_times_round_trip() {
    let c = Cursor {
        received_at: BASE,
        id: "ab:cd".into(),
    };
    assert_eq!(Cursor::decode(&c.encode()), Ok(c));
    assert_eq!(Cursor::decode("!"), Err(QueryError::BadCursor));
    assert_eq!(parse_time("1700000000000"), Some(BASE));
    assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(BASE));
    assert_eq!(parse_time("2023-11-14T22:13:20.25Z"), Some(BASE + 250));
    assert_eq!(parse_time("2023-11-14T22:13:20.123456Z"), Some(BASE + 123));
    for bad in [
        "",
        "-5",
        "2023-11-14",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20.1",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
    // The admin route's own URL parsing feeds the parser.
    let url = "https://relay/admin/events?subject=companies%2F1234&type=quote.*&cursor=";
    let p = crate::core::admin::query_pairs(url);
    assert_eq!(
        parse_events_query(&p).unwrap_err(),
        QueryError::BadCursor,
        "an empty cursor is not the first page"
    );
}

#[test]
fn the_schema_version_is_readable_and_judged() {
    let db = Db::new();
    let row: Value = db.json_rows(&schema_version()).remove(0);
    let found = row["value"].as_str();
    assert_eq!(SchemaStatus::of(found), SchemaStatus::Current);
    assert_eq!(found, Some(SCHEMA_VERSION.to_string().as_str()));
    assert_eq!(SchemaStatus::of(None), SchemaStatus::Missing);
    assert!(SchemaStatus::of(None).problem().is_some());
    assert_eq!(
        SchemaStatus::of(Some("0")),
        SchemaStatus::Behind { found: 0 }
    );
    assert!(SchemaStatus::of(Some("0")).problem().is_some());
    assert_eq!(
        SchemaStatus::of(Some("2")),
        SchemaStatus::Ahead { found: 2 }
    );
    assert_eq!(SchemaStatus::of(Some("2")).problem(), None);
    // Without the migrations, D1 answers `no such table`: the edge passes `None`.
    let empty = rusqlite::Connection::open_in_memory().unwrap();
    assert!(empty.prepare(&schema_version().sql).is_err());
}

#[test]
fn the_latest_migration_sets_the_version_the_relay_expects() {
    let files = testdb::migrations();
    let last = &files.last().unwrap().1;
    assert!(
        last.contains(&format!("'schema_version', '{SCHEMA_VERSION}'"))
            || last.contains(&format!("value = '{SCHEMA_VERSION}'")),
        "migrations must set schema_version to {SCHEMA_VERSION}"
    );
}

#[test]
fn no_statement_comes_near_the_bind_limit() {
    let ids: Vec<String> = (0..500).map(|i| format!("e{i}")).collect();
    let targets: Vec<&str> = (0..50).map(|_| "t").collect();
    let ev = event("e1", "quote.created", "abc", Some("quotes/1"));
    let attempts: Vec<Attempt> = ids
        .iter()
        .map(|id| attempt(id, "crm", 1, RETRY, Some(500), 1))
        .collect();
    let recs: Vec<AttemptRecord<'_>> = attempts
        .iter()
        .map(|a| AttemptRecord {
            attempt: a,
            run: 1,
            at_ms: 2,
        })
        .collect();
    let items: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "crm")).collect();
    let mut all = write::record_accepted(&ev, &targets, 1);
    all.extend(write::record_attempts(&recs));
    all.extend(write::record_replays(write::LOG_REPLAY, &items, 3));
    let every_filter = EventsQuery {
        id: Some("x".into()),
        ty: Some("a.*".into()),
        store: Some("s".into()),
        subject: Some("companies/1".into()),
        target: Some("t".into()),
        status: Some(State::Held),
        since: Some(1),
        until: Some(9),
        limit: MAX_LIMIT_FOR_TEST,
        cursor: Some(Cursor {
            received_at: 5,
            id: "y".into(),
        }),
    };
    all.push(every_filter.statement());
    let max = all.iter().map(|s| s.binds.len()).max().unwrap();
    assert!(max <= 20, "{max}");
    // And they run.
    let db = Db::new();
    for s in &all {
        if s.sql.starts_with("SELECT") {
            db.json_rows(s);
        } else {
            db.run(s);
        }
    }
}

const MAX_LIMIT_FOR_TEST: u32 = query::MAX_LIMIT;

#[test]
fn writes_and_the_detail_look_rows_up_by_key() {
    let db = Db::new();
    let ev = event("e1", "quote.created", "abc", None);
    let a = attempt("e1", "crm", 1, RETRY, Some(500), 1);
    let rec = [AttemptRecord {
        attempt: &a,
        run: 1,
        at_ms: 2,
    }];
    let mut stmts = write::record_accepted(&ev, &["crm"], 1);
    stmts.extend(write::record_attempts(&rec));
    stmts.push(write::record_duplicate("e1", 3));
    stmts.extend(event_detail("e1"));
    for s in &stmts {
        let plan = db.plan(s);
        // A plain INSERT … VALUES has no plan lines.
        if !plan.is_empty() && s.sql.contains("deliveries") || s.sql.starts_with("UPDATE") {
            db.assert_indexed(&s.sql, s);
        }
    }
    for s in event_detail("e1") {
        db.assert_indexed(&s.sql, &s);
    }
}

#[test]
fn events_arriving_while_paging_neither_repeat_nor_hide_older_ones() {
    let db = Db::new();
    for i in 0..30 {
        let ev = event(&format!("e{i:02}"), "quote.updated", "abc", None);
        db.batch(&write::record_accepted(&ev, &["crm"], BASE + i / 3));
    }
    let page = |cursor: Option<&str>| {
        let mut p = pairs(&[("limit", "8")]);
        if let Some(c) = cursor {
            p.push(("cursor".into(), c.into()));
        }
        let q = parse_events_query(&p).unwrap();
        events_page(db.rows(&q.statement()), q.limit)
    };
    let first = page(None);
    // Newer events land between two page requests.
    for i in 30..40 {
        let ev = event(&format!("e{i:02}"), "quote.updated", "abc", None);
        db.batch(&write::record_accepted(&ev, &["crm"], BASE + 100 + i));
    }
    let mut seen: Vec<String> = first.events.iter().map(|e| e.id.clone()).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let p = page(Some(&c));
        seen.extend(p.events.iter().map(|e| e.id.clone()));
        cursor = p.next_cursor;
    }
    let want: Vec<String> = (0..30).rev().map(|i| format!("e{i:02}")).collect();
    assert_eq!(seen, want);
}

#[test]
fn filtered_out_are_the_targets_an_enrichment_plan_drops() {
    use crate::core::deliver::consume::{Disposition, Effect, Plan};
    use crate::core::deliver::message::{Delivery, EnrichJob, Job};
    let ev = event("e1", "company.updated", "s1", Some("companies/1"));
    let targets: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let waiting = EnrichJob {
        targets: vec!["c".into()],
        attempt: 2,
        received_at_ms: BASE,
        first_attempt_at: None,
        last_error: None,
        event: ev.clone(),
    };
    let dead = Delivery::first("d", ev.clone(), None, BASE).into_dead_letter(None, "x".into(), 1);
    let mut plan = Plan {
        effects: vec![
            Effect::Send(vec![Job::Deliver(Delivery::first("a", ev, None, BASE))]),
            Effect::SendDelayed {
                job: Job::Enrich(waiting),
                delay_seconds: 5,
            },
            Effect::PutDeadLetter(dead),
        ],
        disposition: Disposition::Ack,
    };
    assert_eq!(write::filtered_out(&targets, &plan), ["b"]);
    plan.disposition = Disposition::HandBack { delay_seconds: 60 };
    assert!(write::filtered_out(&targets, &plan).is_empty());
}

/// D1 binds every JS number as a REAL (`60000.0`): each read must answer the same as with
/// integer binds (integer division, `LIMIT`, comparisons with INTEGER columns).
fn as_d1(s: &Statement) -> Statement {
    let binds = s
        .binds
        .iter()
        .map(|b| match b {
            Bind::Int(n) => Bind::Real(*n as f64),
            b => b.clone(),
        })
        .collect();
    Statement::new(s.sql.clone(), binds)
}

#[test]
fn reads_answer_the_same_with_numbers_bound_as_d1_binds_them() {
    let w = world(300);
    for bucket in ["minute", "hour", "day"] {
        let q = parse_stats_query(
            &pairs(&[
                ("since", "1700000000000"),
                ("until", "1700000400000"),
                ("bucket", bucket),
            ]),
            0,
        )
        .unwrap();
        let s = q.statement();
        assert_eq!(
            stats_answer(&q, w.db.rows(&as_d1(&s))),
            stats_answer(&q, w.db.rows(&s)),
            "{bucket}"
        );
    }
    for q in [
        vec![("limit", "7")],
        vec![("subject", "companies/1"), ("limit", "5")],
        vec![("status", "failed"), ("target", "crm")],
        vec![("since", "1700000100000"), ("until", "1700000300000")],
    ] {
        let s = parse_events_query(&pairs(&q)).unwrap().statement();
        assert_eq!(w.db.json_rows(&as_d1(&s)), w.db.json_rows(&s), "{q:?}");
    }
    let r = parse_recover(
        r#"{"target":"crm","since":1700000000000}"#,
        BASE + 1_000_000,
    )
    .unwrap();
    let s = r.statement();
    assert_eq!(w.db.json_rows(&as_d1(&s)), w.db.json_rows(&s));
}

// ---------------------------------------------------------------------------------------
// Answers made by D1: the same JSON as the Rust assembly, on the model world and on the
// corners (replayed runs, dead letters and their log, cut events, attempts without a state).

fn rust_detail(db: &Db, id: &str) -> Option<Value> {
    let [ev_s, dl_s, at_s, log_s] = event_detail(id);
    let d = assemble_event_detail(
        db.first(&ev_s),
        db.rows(&dl_s),
        db.rows(&at_s),
        db.rows(&log_s),
    )?;
    Some(serde_json::to_value(&d).unwrap())
}

fn sql_detail(db: &Db, id: &str) -> Option<Value> {
    let s = query::event_detail_json(id);
    db.assert_indexed("event detail json", &s);
    let rows: Vec<query::JsonRow2> = db.rows(&s);
    rows.into_iter()
        .next()
        .map(|r| serde_json::from_str(&r.j).unwrap())
}

#[test]
fn answers_made_by_d1_equal_the_rust_assembly() {
    let w = world(240);
    // Searches, with a cursor page each.
    let some_id = w.events[17].id.clone();
    for q in SEARCHES {
        let q = with_id(q, &some_id);
        let parsed = parse_events_query(&pairs(&q)).unwrap();
        let js = parsed.json_statement();
        w.db.assert_indexed("search json", &js);
        let rust = events_page(w.db.rows(&parsed.statement()), parsed.limit);
        let text = query::events_page_json(&w.db.rows(&js), parsed.limit);
        let sql: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(sql, serde_json::to_value(&rust).unwrap(), "{q:?}");
        if let Some(c) = rust.next_cursor {
            let mut p = pairs(&q);
            p.push(("cursor".into(), c));
            let next = parse_events_query(&p).unwrap();
            let rust = events_page(w.db.rows(&next.statement()), next.limit);
            let text = query::events_page_json(&w.db.rows(&next.json_statement()), next.limit);
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                serde_json::to_value(&rust).unwrap(),
                "{q:?}, second page"
            );
        }
    }
    // Every event's detail.
    for e in &w.events {
        assert_eq!(
            sql_detail(&w.db, &e.id),
            rust_detail(&w.db, &e.id),
            "{}",
            e.id
        );
    }
    assert_eq!(sql_detail(&w.db, "nope"), None);
    // Stats, each bucket width, one target and all.
    for q in [
        vec![
            ("since", "1700000000000"),
            ("until", "1700000400000"),
            ("bucket", "minute"),
        ],
        vec![
            ("since", "1700000000000"),
            ("until", "1700000400000"),
            ("bucket", "hour"),
        ],
        vec![
            ("until", "1700001000000"),
            ("target", "erp"),
            ("bucket", "day"),
        ],
        vec![("since", "1600000000000"), ("until", "1600000400000")],
    ] {
        let parsed = parse_stats_query(&pairs(&q), 0).unwrap();
        let js = parsed.json_statement();
        w.db.assert_indexed("stats json", &js);
        let rows: Vec<query::JsonRow2> = w.db.rows(&js);
        let text = stats::stats_answer_json(&parsed, &rows[0].j);
        let rust = stats_answer(&parsed, w.db.rows(&parsed.statement()));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            serde_json::to_value(&rust).unwrap(),
            "{q:?}"
        );
    }
}

#[test]
fn detail_made_by_d1_equals_the_rust_assembly_at_the_corners() {
    let db = Db::new();
    // A dead letter replayed into a second run, with its log.
    let ev = event("e1", "company.deleted", "abc", Some("companies/1"));
    db.batch(&write::record_accepted(&ev, &["crm", "erp"], BASE));
    let dead = attempt("e1", "crm", 1, DEAD_LETTER, Some(410), 10);
    let ok = attempt("e1", "erp", 1, DELIVERED, Some(200), 9);
    db.batch(&write::record_attempts(&[
        AttemptRecord {
            attempt: &dead,
            run: BASE,
            at_ms: BASE + 10,
        },
        AttemptRecord {
            attempt: &ok,
            run: BASE,
            at_ms: BASE + 12,
        },
    ]));
    let record = crate::core::deliver::message::Delivery::first("crm", ev.clone(), None, BASE)
        .into_dead_letter(Some(410), "HTTP 410".into(), BASE / 1000);
    db.batch(&write::record_dead_letter(&record, BASE, BASE + 11));
    let now = BASE + 3_600_000;
    db.batch(&write::record_replays(
        write::LOG_REPLAY,
        &[("e1", "crm")],
        now,
    ));
    let again = attempt("e1", "crm", 1, DELIVERED, Some(200), 10);
    db.batch(&write::record_attempts(&[AttemptRecord {
        attempt: &again,
        run: now,
        at_ms: now + 50,
    }]));
    // Targets it was not routed to: one with a state (held), one with attempts only.
    let change = StateChange {
        event_id: "e1",
        target: "wh",
        state: State::Held,
        run: BASE,
        attempts: 0,
        reason: Some("target paused"),
        at_ms: BASE + 5,
    };
    db.run(&write::record_states(&[change]).unwrap());
    let stray = attempt("e1", "aaa", 1, RETRY, None, 3);
    db.run(
        &write::record_attempts(&[AttemptRecord {
            attempt: &stray,
            run: BASE,
            at_ms: BASE + 7,
        }])[0],
    );
    db.run(&write::log_entry(
        "note",
        BASE + 1,
        None,
        Some("e1"),
        &json!({"a": [1, "x"]}),
    ));
    db.run(&write::record_duplicate("e1", BASE + 99));
    // A cut event, and one with nothing but its row.
    let big = format!(r#"{{"note":"{}"}}"#, "é".repeat(20_000));
    let cut_ev = event_with_data("big", "company.updated", "abc", None, &big);
    db.batch(&write::record_accepted(&cut_ev, &["crm"], BASE));
    db.batch(&write::record_accepted(
        &event("bare", "quote.created", "abc", None),
        &[],
        BASE,
    ));
    for id in ["e1", "big", "bare"] {
        let sql = sql_detail(&db, id);
        assert!(sql.is_some(), "{id}");
        assert_eq!(sql, rust_detail(&db, id), "{id}");
    }
    let v = sql_detail(&db, "e1").unwrap();
    let names: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crm", "erp", "wh", "aaa"]);
}

#[test]
fn replay_bodies_are_checked() {
    use super::query::parse_replay;
    assert_eq!(parse_replay(""), Ok(None));
    assert_eq!(parse_replay(" {} "), Ok(None));
    assert_eq!(parse_replay(r#"{"targets":[]}"#), Ok(None));
    assert_eq!(
        parse_replay(r#"{"targets":["crm","erp"]}"#),
        Ok(Some(vec!["crm".into(), "erp".into()]))
    );
    for bad in [
        r#"{"target":"crm"}"#,
        r#"{"targets":["crm"],"since":1}"#,
        r#"{"targets":"crm"}"#,
        r#"{"ids":[]}"#,
        "not json",
    ] {
        assert!(parse_replay(bad).is_err(), "{bad}");
    }
    // And recover refuses replay's field.
    assert!(parse_recover(r#"{"target":"crm","since":1,"targets":["x"]}"#, BASE).is_err());
    assert!(parse_recover(r#"{"target":"crm","since":true}"#, BASE).is_err());
    assert!(parse_recover(r#"{"target":"crm","since":1e3}"#, BASE).is_err());
}
