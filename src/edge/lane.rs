//! Each target's lane: the `TargetLane` Durable Object class (binding `TARGET_LANES`, one
//! object per target name, SQLite-backed) that keeps its [`Stored`] state, and the client the
//! consumer and the admin API call it with. The object only performs: every decision is
//! `core::deliver::lanes::serve`.
//!
//! The object also tells about its transitions (a log line, operational events for the
//! `relay.*` targets), so they never travel back to the caller. The client never loses a
//! message over the lane: if `admit` fails the deliveries are attempted anyway (fail open), if
//! `record` fails the results are only logged. A lane that answers "clear" is not asked again
//! for a second (`core::deliver::shortcut`).

use crate::core::admin;
use crate::core::config::{Config, Target};
use crate::core::deliver::lane::{Admission, AttemptResult, Mode, Transition, TransitionKind};
use crate::core::deliver::lanes::{self, Answer, LaneCall, Op, Stored};
use crate::core::deliver::message::Job;
use crate::core::deliver::operational;
use crate::core::deliver::shortcut::Shortcuts;
use crate::core::error::{ErrorCode, RelayError};
use crate::core::history::write;
use crate::edge::{env, history, log, objects, queue, respond};
use serde::Serialize;
use serde_json::value::RawValue;
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, Request, Response, State};

/// The Durable Object namespace binding (wrangler.toml).
pub const BINDING: &str = "TARGET_LANES";
/// Why a call failed when `TARGET_LANES` is not bound.
const UNBOUND: &str = "no Durable Object binding `TARGET_LANES`";
/// The one storage key of an object.
const KEY: &str = "lane";
/// A lane call that takes longer is given up (and the consumer fails open): the object
/// normally answers in milliseconds.
const CALL_TIMEOUT_MS: u64 = 3_000;

#[durable_object(fetch)]
pub struct TargetLane {
    state: State,
    env: Env,
    /// Loaded on the first call, then authoritative: the object is the only writer.
    stored: RefCell<Option<Stored>>,
}

impl DurableObject for TargetLane {
    fn new(state: State, env: Env) -> Self {
        TargetLane {
            state,
            env,
            stored: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        Ok(self.serve(req).await.unwrap_or_else(|e| respond::error(&e)))
    }
}

fn storage_error(e: impl std::fmt::Display) -> RelayError {
    RelayError::new(ErrorCode::StorageUnavailable, format!("lane storage: {e}"))
}

impl TargetLane {
    async fn load(&self) -> Result<Stored, RelayError> {
        let storage = self.state.storage();
        let promise = storage
            .as_raw()
            .get(KEY)
            .map_err(|e| storage_error(worker::Error::from(e)))?;
        let value = JsFuture::from(promise)
            .await
            .map_err(|e| storage_error(worker::Error::from(e)))?;
        let Some(text) = value.as_string() else {
            return Ok(Stored::default());
        };
        Ok(Stored::decode(&text).unwrap_or_else(|| {
            // Only a layout this version does not know: a fresh lane beats a stuck one.
            log::problem("lane state unreadable; starting afresh", &text);
            Stored::default()
        }))
    }

    async fn serve(&self, mut req: Request) -> Result<Response, RelayError> {
        // `/{op}/{target}`
        let path = req.path();
        let (op, target) = path
            .trim_start_matches('/')
            .split_once('/')
            .and_then(|(op, target)| Some((Op::parse(op)?, target)))
            .ok_or_else(RelayError::not_found)?;
        let text = req.text().await.map_err(|_| {
            RelayError::new(
                ErrorCode::UnreadableBody,
                "the request body could not be read",
            )
        })?;
        let call = LaneCall::parse(op, target, &text).ok_or_else(|| {
            RelayError::new(ErrorCode::InvalidField, "not a lane call of this version")
        })?;
        let loaded = env::config(&self.env);
        let cfg = loaded
            .as_ref()
            .as_ref()
            .map_err(|errors| RelayError::misconfigured(errors.len()))?;
        let lane_cfg = cfg
            .target(&call.target)
            .map(|t| t.lane)
            .ok_or_else(|| unknown(&call.target))?;
        if self.stored.borrow().is_none() {
            let stored = self.load().await?;
            // Another call may have loaded (and changed) it meanwhile: keep that one.
            self.stored.borrow_mut().get_or_insert(stored);
        }
        let (served, snapshot) = {
            let mut slot = self.stored.borrow_mut();
            let stored = slot.get_or_insert_with(Stored::default);
            let served = lanes::serve(stored, op, &call, &lane_cfg, env::now_ms());
            let snapshot = served.changed.then(|| stored.encode());
            (served, snapshot)
        };
        if let Some(text) = snapshot {
            let put = self
                .state
                .storage()
                .as_raw()
                .put(KEY, JsValue::from_str(&text))
                .map_err(|e| storage_error(worker::Error::from(e)))?;
            if let Err(e) = JsFuture::from(put).await {
                // Memory is ahead of storage now: read storage again next time.
                self.stored.borrow_mut().take();
                return Err(storage_error(worker::Error::from(e)));
            }
        }
        if !served.transitions.is_empty() {
            let told: Vec<(&str, Transition)> = served
                .transitions
                .into_iter()
                .map(|t| (call.target.as_str(), t))
                .collect();
            notify(&self.env, cfg, &told).await;
        }
        Ok(respond::json(200, served.body))
    }
}

pub fn unknown(target: &str) -> RelayError {
    RelayError::new(ErrorCode::NotFound, format!("no target named `{target}`"))
}

thread_local! {
    static UNBOUND_TOLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// This isolate's shortcuts, shared by its consumer invocations.
    static SHORTCUTS: RefCell<Shortcuts> = const { RefCell::new(Shortcuts::new()) };
}

/// Not generic (one copy in the wasm): callers write their answer into their own variable.
fn shortcuts(f: &mut dyn FnMut(&mut Shortcuts)) {
    SHORTCUTS.with(|s| f(&mut s.borrow_mut()));
}

async fn call(env: &Env, op: Op, call: &LaneCall) -> Result<Answer, String> {
    let url = format!("https://lane/{}/{}", op.as_str(), call.target);
    let answer = objects::call(
        env,
        BINDING,
        &call.target,
        url,
        Some(call.body(op)),
        CALL_TIMEOUT_MS,
    )
    .await;
    match answer {
        Ok(text) => {
            let answer = Answer::parse(op, &text);
            if matches!(op, Op::Admit | Op::Record) {
                shortcuts(&mut |s| s.learn(&call.target, answer.clear, env::now_ms()));
            }
            Ok(answer)
        }
        Err(e) => {
            // Said once per isolate, not once per batch: without the binding every delivery is
            // attempted as before, only without its lane.
            if e == UNBOUND && !UNBOUND_TOLD.with(|t| t.replace(true)) {
                log::problem(
                    "no lanes: deliveries are attempted without breaker or rate limit",
                    BINDING,
                );
            }
            Err(e)
        }
    }
}

fn named(target: &str) -> LaneCall {
    LaneCall {
        target: target.to_owned(),
        ..LaneCall::default()
    }
}

/// `n` admissions for `target`'s deliveries; if the lane cannot answer, `n` plain attempts
/// (ticket 0): a lane outage must not hold deliveries back, let alone lose them.
pub async fn admit(env: &Env, target: &str, n: usize) -> Vec<Admission> {
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let now = env::now_ms();
    let mut shortcut = Err(Default::default());
    shortcuts(&mut |s| shortcut = s.admit(target, n32, now));
    let tally = match shortcut {
        Ok(clear) => return clear,
        Err(tally) => tally,
    };
    let c = LaneCall {
        n: n32,
        tally,
        ..named(target)
    };
    let open = Admission::Attempt {
        ticket: 0,
        probe: false,
        wait_ms: 0,
    };
    let mut admissions: Vec<Admission> = match call(env, Op::Admit, &c).await {
        Ok(a) => a.admissions,
        Err(e) => {
            if e != UNBOUND {
                log::problem(
                    "lane did not admit; attempting anyway",
                    &format!("{target}: {e}"),
                );
            }
            Vec::new()
        }
    };
    admissions.resize(n, open);
    admissions
}

/// Reports a batch's results, one call per target that must hear now (the shortcut keeps a
/// clear lane's deliveries for its next call).
pub async fn report(env: &Env, results: Vec<(String, u64, AttemptResult)>) {
    let mut by_target: Vec<LaneCall> = Vec::new();
    for (target, ticket, result) in results {
        let wire = (ticket, result);
        match by_target.iter_mut().find(|c| c.target == target) {
            Some(c) => c.results.push(wire),
            None => by_target.push(LaneCall {
                results: vec![wire],
                ..named(&target)
            }),
        }
    }
    let now = env::now_ms();
    // One after another, like `admit` (consume.rs): usually a single target.
    for mut c in by_target {
        let mut due = None;
        shortcuts(&mut |s| due = s.report(&c.target, std::mem::take(&mut c.results), now));
        let Some(c) = due else { continue };
        match call(env, Op::Record, &c).await {
            Err(e) if e != UNBOUND => {
                log::problem("lane did not record results", &format!("{}: {e}", c.target));
            }
            _ => {}
        }
    }
}

#[derive(Serialize)]
struct TransitionLine<'a> {
    level: &'static str,
    msg: &'static str,
    target: &'a str,
    mode: Mode,
    consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'a str>,
    /// Targets the operational event was enqueued for.
    notified: Vec<&'a str>,
}

/// Logs each transition and enqueues its operational event for the `relay.*` targets.
/// Best effort: the mode is in the lane either way (`GET /admin/targets`), and a failed
/// enqueue is logged.
async fn notify(env: &Env, cfg: &Config, transitions: &[(&str, Transition)]) {
    if transitions.is_empty() {
        return;
    }
    let source = operational::source(env::text(env, "PUBLIC_URL").as_deref());
    let now_ms = env::now_ms();
    let mut jobs = Vec::new();
    // Also kept in history (D1), beside the event's deliveries.
    let mut entries = Vec::new();
    for (target, t) in transitions {
        let these = operational::jobs(&cfg.targets, target, t, &source, now_ms);
        let notified = these
            .iter()
            .filter_map(|j| match j {
                Job::Deliver(d) => Some(d.target.as_str()),
                Job::Enrich(_) => None,
            })
            .collect();
        let line = TransitionLine {
            level: match t.kind {
                TransitionKind::Recovered | TransitionKind::Resumed => "info",
                _ => "warn",
            },
            msg: t.event_type(),
            target,
            mode: t.mode,
            consecutive_failures: t.consecutive_failures,
            last_error: t.last_error.as_deref(),
            notified,
        };
        if let Ok(s) = serde_json::to_string(&line) {
            log::write(&s);
        }
        entries.push(write::log_entry(
            t.event_type(),
            t.at_ms,
            Some(target),
            None,
            &line,
        ));
        jobs.extend(these);
    }
    history::write(env, || entries).await;
    if let Err(e) = queue::send(env, jobs).await {
        log::problem("operational events not enqueued", &e);
    }
}

/// `pause`, `resume` or `view` for the admin API: the answer, or 503 when the lane cannot.
async fn operate(env: &Env, target: &str, op: Op) -> Result<Answer, RelayError> {
    call(env, op, &named(target)).await.map_err(|e| {
        RelayError::new(
            ErrorCode::StorageUnavailable,
            format!("lane of `{target}`: {e}"),
        )
    })
}

/// The view's JSON, embedded as is.
fn raw(view: Option<String>) -> Option<Box<RawValue>> {
    view.and_then(|v| RawValue::from_string(v).ok())
}

/// A target's lane settings and state, as the admin API adds them to its entry.
#[derive(Serialize)]
struct LaneShown {
    breaker_failures: u32,
    breaker_seconds: u32,
    disable_after_hours: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<u32>,
    /// The lane's state, or why it could not be read (`lane_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    lane: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lane_error: Option<String>,
}

/// A target as the admin API shows it: its settings (`core::admin::target_view`), then its
/// lane's. Two JSON objects joined into one as text: serde's `flatten` costs more wasm than
/// the relay's whole use of it is worth.
async fn with_lane(env: &Env, t: &Target) -> String {
    let (lane, lane_error) = match operate(env, &t.name, Op::View).await {
        Ok(a) => (raw(a.view), None),
        Err(e) => (None, Some(e.to_string())),
    };
    #[allow(clippy::cast_precision_loss)] // at most a year in ms
    let disable_after_hours = t.lane.disable_after_ms as f64 / 3_600_000.0;
    let shown = LaneShown {
        breaker_failures: t.lane.breaker_failures,
        breaker_seconds: t.lane.breaker_seconds,
        disable_after_hours,
        rate_limit: t.lane.rate_limit.map(|l| l.to_string()),
        max_in_flight: t.lane.max_in_flight,
        lane,
        lane_error,
    };
    // Both are non-empty objects of plain fields: serializing cannot fail.
    let mut text = serde_json::to_string(&admin::target_view(t)).unwrap_or_default();
    let more = serde_json::to_string(&shown).unwrap_or_default();
    if text.ends_with('}') && more.starts_with('{') {
        text.pop();
        text.push(',');
        text.push_str(&more[1..]);
    }
    text
}

/// `GET /admin/targets`: every target with its lane.
pub async fn targets(env: &Env, cfg: &Config) -> Result<Response, RelayError> {
    // One lane after another: an operator's request, a few ms per target.
    let mut body = String::from("{\"targets\":[");
    for (i, t) in cfg.targets.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&with_lane(env, t).await);
    }
    body.push_str("]}");
    Ok(respond::json(200, body))
}

/// `GET /admin/targets/{name}`.
pub async fn target(env: &Env, cfg: &Config, name: &str) -> Result<Response, RelayError> {
    let t = cfg.target(name).ok_or_else(|| unknown(name))?;
    Ok(respond::json(200, with_lane(env, t).await))
}

/// `POST /admin/targets/{name}/pause` and `…/resume`: whether the mode changed (the object
/// then told about it) and the lane's view afterwards.
pub async fn pause_or_resume(
    env: &Env,
    cfg: &Config,
    name: &str,
    op: Op,
) -> Result<Response, RelayError> {
    let t = cfg.target(name).ok_or_else(|| unknown(name))?;
    // Other isolates follow within `shortcut::CLEAR_MS`.
    shortcuts(&mut |s| s.learn(&t.name, false, 0));
    let answer = operate(env, &t.name, op).await?;
    // A target name is `[a-z0-9-]` and the view is the lane's JSON: nothing to escape.
    let lane = answer.view.as_deref().unwrap_or("null");
    Ok(respond::json(
        200,
        format!(
            "{{\"target\":\"{}\",\"changed\":{},\"lane\":{lane}}}",
            t.name, answer.changed
        ),
    ))
}
