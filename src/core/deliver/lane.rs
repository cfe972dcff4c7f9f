//! One lane per target, so one failing target never slows the others: a circuit breaker, a
//! rate limit, an in-flight cap, operator pause and automatic disabling, decided from a small
//! state the caller keeps (a Durable Object per target) and a clock it passes in.
//!
//! Per delivery: [`LaneState::admit`] before the request; on `Attempt` send (after `wait_ms`)
//! and [`LaneState::record`] the result with the attempt's ticket. A `Hold` re-sends the same
//! message later without using an attempt; `DeadLetter` only comes from a disabled target.
//!
//! Modes: `healthy` → `failing` (recent failures, still attempted) → `open` (not attempted,
//! for `breaker_seconds`, doubled by each failed probe up to an hour) → `probing` (one
//! delivery goes through) → `healthy`. `paused` by the operator; `disabled` after
//! `disable_after_hours` without a success. `resume` brings both back.
//!
//! What counts against the breaker: timeouts, network errors, 5xx and 429 (the target is down
//! or asks for less). Any other answer (3xx, 4xx) is the receiver speaking, so it proves the
//! target is up: it resets the consecutive count and ends an open breaker, though it is not
//! a success (it does not stop the clock towards `disabled`).

use crate::core::config::DEFAULT_TIMEOUT_MS;
use crate::core::deliver::compact::{signed, Reader, Writer};
use crate::core::deliver::rate::{parse_rate_limit, Limiter, RateDecision, RateLimit};
use crate::core::deliver::retry::{Outcome, MAX_DELAY_SECONDS};
use crate::core::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
pub const DEFAULT_BREAKER_SECONDS: u32 = 30;
/// Longest open period: doubling stops here.
pub const MAX_BREAKER_SECONDS: u32 = 3_600;
pub const DEFAULT_DISABLE_AFTER_HOURS: f64 = 120.0;
/// Outcomes kept for the success rate (a bit each).
pub const WINDOW: u8 = 20;
/// A paused target's deliveries ask again this often: a resume takes effect within a minute,
/// and each hold is a fresh message, so a pause of days never meets the queue's retention.
pub const PAUSED_HOLD_SECONDS: u32 = 60;
/// Longest hold while a probe is out: it usually answers well before its lease ends.
pub const PROBE_HOLD_MAX_SECONDS: u32 = 5;
/// Deliveries held while open that come back when the period ends (one consumer batch, enough
/// for the probe); the others come back a lease later, once the probe has answered, so a
/// backlog is handled once per open period instead of twice (measured: RELIABILITY.md, run 5).
pub const PROBE_CANDIDATES: u32 = 6;
/// Added to the target's timeout for a lease (probe, in-flight slot): the consumer also
/// builds, signs and reports around the request.
pub const LEASE_MARGIN_MS: i64 = 5_000;
/// Longest wait handed to the consumer as `Attempt::wait_ms`; longer ones become holds.
pub const MAX_INLINE_WAIT_MS: u32 = 1_000;
/// Error text kept, in characters, so the state stays small.
pub const MAX_ERROR_CHARS: usize = 200;
pub const MAX_IN_FLIGHT: u32 = 256;
const BREAKER_FAILURES: RangeInclusive<u32> = 1..=1_000;
const BREAKER_SECONDS: RangeInclusive<u32> = 1..=MAX_BREAKER_SECONDS;
const MAX_DISABLE_AFTER_HOURS: f64 = 8_760.0;
/// Spacing of in-flight holds before any attempt duration is known.
const DEFAULT_ATTEMPT_MS: u32 = 1_000;

/// A target's lane settings, from its entry in `TARGETS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneConfig {
    /// Consecutive breaker failures that open the breaker.
    pub breaker_failures: u32,
    /// First open period; doubled by each failed probe up to [`MAX_BREAKER_SECONDS`].
    pub breaker_seconds: u32,
    /// `disable_after_hours`, in ms.
    pub disable_after_ms: i64,
    pub rate_limit: Option<RateLimit>,
    pub max_in_flight: Option<u32>,
    /// The target's request timeout: leases last this plus [`LEASE_MARGIN_MS`].
    pub timeout_ms: u32,
}

impl Default for LaneConfig {
    fn default() -> Self {
        LaneConfig {
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_seconds: DEFAULT_BREAKER_SECONDS,
            disable_after_ms: hours_to_ms(DEFAULT_DISABLE_AFTER_HOURS),
            rate_limit: None,
            max_in_flight: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

fn hours_to_ms(hours: f64) -> i64 {
    // In range by validation (at most a year), so the cast cannot saturate.
    ((hours * 3_600_000.0).round() as i64).max(1)
}

fn whole(
    raw: &Map<String, Value>,
    field: &str,
    range: RangeInclusive<u32>,
    errors: &mut Vec<String>,
) -> Option<u32> {
    let v = raw.get(field).filter(|v| !v.is_null())?;
    let n = v
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| range.contains(n));
    if n.is_none() {
        errors.push(format!(
            "{field} must be a whole number from {} to {}",
            range.start(),
            range.end()
        ));
    }
    n
}

/// Reads `breaker_failures`, `breaker_seconds`, `disable_after_hours`, `rate_limit` and
/// `max_in_flight` from a target's JSON object (absent or `null`: the default); every
/// problem is reported, each naming its field. `timeout_ms` is taken when it is a valid
/// number; the target parser owns its errors.
pub fn parse_lane_config(raw: &Map<String, Value>) -> Result<LaneConfig, Vec<String>> {
    let mut errors = Vec::new();
    let mut cfg = LaneConfig::default();
    if let Some(n) = whole(raw, "breaker_failures", BREAKER_FAILURES, &mut errors) {
        cfg.breaker_failures = n;
    }
    if let Some(n) = whole(raw, "breaker_seconds", BREAKER_SECONDS, &mut errors) {
        cfg.breaker_seconds = n;
    }
    if let Some(v) = raw.get("disable_after_hours").filter(|v| !v.is_null()) {
        match v
            .as_f64()
            .filter(|h| *h > 0.0 && *h <= MAX_DISABLE_AFTER_HOURS)
        {
            Some(h) => cfg.disable_after_ms = hours_to_ms(h),
            None => errors.push(
                "disable_after_hours must be a number of hours above 0 and at most 8760".into(),
            ),
        }
    }
    match raw.get("rate_limit") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => match parse_rate_limit(text) {
            Ok(l) => cfg.rate_limit = Some(l),
            Err(e) => errors.push(format!("rate_limit {e}")),
        },
        Some(_) => errors.push("rate_limit must be text such as \"100/10s\"".into()),
    }
    cfg.max_in_flight = whole(raw, "max_in_flight", 1..=MAX_IN_FLIGHT, &mut errors);
    if let Some(t) = raw
        .get("timeout_ms")
        .and_then(Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
    {
        cfg.timeout_ms = t;
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

/// The lane settings of a target's entry in `TARGETS` (besides `timeout_ms`).
pub const LANE_FIELDS: [&str; 5] = [
    "breaker_failures",
    "breaker_seconds",
    "disable_after_hours",
    "rate_limit",
    "max_in_flight",
];

/// [`parse_lane_config`] on a target's entry, then removes [`LANE_FIELDS`] from it, so the
/// target parser that follows still refuses every field it does not know.
pub fn take_lane_config(raw: &mut Value) -> Result<LaneConfig, Vec<String>> {
    let Value::Object(map) = raw else {
        return Ok(LaneConfig::default());
    };
    let cfg = parse_lane_config(map);
    for f in LANE_FIELDS {
        map.remove(f);
    }
    cfg
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Healthy,
    /// Recent breaker failures, fewer than `breaker_failures`: still attempted.
    Failing,
    /// Not attempted until the open period ends.
    Open,
    /// The open period ended: one delivery at a time goes through as the probe.
    Probing,
    /// By the operator: everything is held.
    Paused,
    /// No success for `disable_after_hours`: deliveries are dead-lettered (replayable).
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    Open,
    Probing,
    Paused,
    RateLimited,
    InFlight,
}

/// What to do with one delivery now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it, not before `wait_ms` from now (that moment is reserved for it), then
    /// `record` the result with `ticket`. `probe`: this attempt decides whether the breaker
    /// closes.
    Attempt {
        ticket: u64,
        probe: bool,
        wait_ms: u32,
    },
    /// Re-send the same message (same attempt number) with this delay; nothing was used.
    Hold {
        delay_seconds: u32,
        reason: HoldReason,
    },
    /// The target is disabled: dead-letter it now.
    DeadLetter,
}

/// One attempt's result as the lane sees it; [`classify`] maps an [`Outcome`] to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Timeout, network error, 5xx, 429: counts towards opening the breaker.
    Failure {
        error: String,
    },
    /// Any other answer (3xx, 4xx): not delivered, but the target is up.
    Rejected {
        error: String,
    },
}

pub fn classify(outcome: &Outcome) -> AttemptResult {
    match outcome {
        Outcome::Status {
            code: 200..=299, ..
        } => AttemptResult::Delivered,
        Outcome::Status {
            code: 429 | 500..=599,
            ..
        }
        | Outcome::Timeout
        | Outcome::Network(_) => AttemptResult::Failure {
            error: outcome.describe(),
        },
        Outcome::Status { .. } => AttemptResult::Rejected {
            error: outcome.describe(),
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// The breaker opened (not repeated when a probe fails: the target is still down).
    Opened,
    /// A probe (or any answer) got through after the breaker opened.
    Recovered,
    Paused,
    Resumed,
    Disabled,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Opened => "opened",
            TransitionKind::Recovered => "recovered",
            TransitionKind::Paused => "paused",
            TransitionKind::Resumed => "resumed",
            TransitionKind::Disabled => "disabled",
        }
    }
}

/// The CloudEvents `type` of an operational event.
pub fn operational_event_type(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::Opened => "com.b2brelay.target.opened",
        TransitionKind::Recovered => "com.b2brelay.target.recovered",
        TransitionKind::Paused => "com.b2brelay.target.paused",
        TransitionKind::Resumed => "com.b2brelay.target.resumed",
        TransitionKind::Disabled => "com.b2brelay.target.disabled",
    }
}

/// Cumulative counters of a lane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub attempts: u64,
    pub delivered: u64,
    pub failed: u64,
    pub rejected: u64,
    pub held: u64,
    pub dead_lettered: u64,
}

/// A mode change worth telling, with the lane as it was right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub kind: TransitionKind,
    pub at_ms: i64,
    pub mode: Mode,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub opened_until_ms: Option<i64>,
    pub counts: Counts,
}

/// The `data` of an operational CloudEvent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionData<'a> {
    pub target: &'a str,
    pub mode: Mode,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'a str>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_until: Option<String>,
    pub counts: Counts,
}

impl Transition {
    pub fn event_type(&self) -> &'static str {
        operational_event_type(self.kind)
    }

    pub fn data<'a>(&'a self, target: &'a str) -> TransitionData<'a> {
        TransitionData {
            target,
            mode: self.mode,
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.as_deref(),
            opened_until: self.opened_until_ms.map(rfc3339_ms),
            counts: self.counts,
        }
    }
}

fn rfc3339_ms(ms: i64) -> String {
    rfc3339(ms.div_euclid(1000))
}

/// A slot handed out: `[ticket, until_ms]` in the state, for compactness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Lease(u64, i64);

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A target's lane state: what the Durable Object stores (serde, a few hundred bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaneState {
    #[serde(skip_serializing_if = "is_default")]
    mode: Mode,
    /// When `mode` last changed (ms).
    #[serde(skip_serializing_if = "is_default")]
    mode_since: i64,
    #[serde(skip_serializing_if = "is_default")]
    consecutive_failures: u32,
    /// Outcomes since the last success that were not one (failures and rejections).
    #[serde(skip_serializing_if = "is_default")]
    unsuccessful: u32,
    /// First outcome after the last success that was not one (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_success: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    /// The last `recent_len` outcomes, newest in bit 0; 1 = delivered.
    #[serde(skip_serializing_if = "is_default")]
    recent: u32,
    #[serde(skip_serializing_if = "is_default")]
    recent_len: u8,
    #[serde(skip_serializing_if = "is_default")]
    open_until: i64,
    /// The current open period (s): 0 until the breaker opens, then doubled by failed probes.
    #[serde(skip_serializing_if = "is_default")]
    open_seconds: u32,
    /// Deliveries held in the current open period ([`PROBE_CANDIDATES`]).
    #[serde(skip_serializing_if = "is_default")]
    open_holds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<Lease>,
    /// In-flight slots; only kept when `max_in_flight` is set, so at most that many.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    leases: Vec<Lease>,
    /// Last ticket handed out; tickets start at 1 (0 means unknown).
    #[serde(skip_serializing_if = "is_default")]
    ticket: u64,
    #[serde(skip_serializing_if = "is_default")]
    limiter: Limiter,
    /// Next in-flight hold slot (ms): spreads those holds like the limiter's.
    #[serde(skip_serializing_if = "is_default")]
    slot_next: i64,
    /// Moving average of attempt durations (ms), for that spacing.
    #[serde(skip_serializing_if = "is_default")]
    avg_ms: u32,
    counts: Counts,
}

const MODES: [Mode; 6] = [
    Mode::Healthy,
    Mode::Failing,
    Mode::Open,
    Mode::Probing,
    Mode::Paused,
    Mode::Disabled,
];

impl LaneState {
    /// The numbers of the state in the compact form (`deliver::compact`); the error text is
    /// apart ([`LaneState::last_error`]), since it may hold any character.
    pub fn encode(&self, w: &mut Writer) {
        let mode = MODES.iter().position(|m| *m == self.mode).unwrap_or(0);
        w.int(i64::try_from(mode).unwrap_or(0));
        w.int(self.mode_since);
        w.int(i64::from(self.consecutive_failures));
        w.int(i64::from(self.unsuccessful));
        w.opt(self.failing_since);
        w.opt(self.last_success);
        w.opt(self.last_failure);
        w.int(i64::from(self.recent));
        w.int(i64::from(self.recent_len));
        w.int(self.open_until);
        w.int(i64::from(self.open_seconds));
        w.int(i64::from(self.open_holds));
        w.opt(self.probe.map(|p| signed(p.0)));
        w.opt(self.probe.map(|p| p.1));
        w.int(i64::try_from(self.leases.len()).unwrap_or(0));
        for l in &self.leases {
            w.int(signed(l.0));
            w.int(l.1);
        }
        w.int(signed(self.ticket));
        self.limiter.encode(w);
        w.int(self.slot_next);
        w.int(i64::from(self.avg_ms));
        let c = &self.counts;
        for n in [
            c.attempts,
            c.delivered,
            c.failed,
            c.rejected,
            c.held,
            c.dead_lettered,
        ] {
            w.int(signed(n));
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Reads what [`LaneState::encode`] wrote; `None` if the text is not such a state.
    pub fn decode(r: &mut Reader<'_>, last_error: Option<String>) -> Option<LaneState> {
        let mode = *MODES.get(usize::try_from(r.int()?).ok()?)?;
        let mode_since = r.int()?;
        let consecutive_failures = r.u32()?;
        let unsuccessful = r.u32()?;
        let failing_since = r.opt()?;
        let last_success = r.opt()?;
        let last_failure = r.opt()?;
        let recent = r.u32()?;
        let recent_len = u8::try_from(r.int()?).ok()?;
        let open_until = r.int()?;
        let open_seconds = r.u32()?;
        let open_holds = r.u32()?;
        let probe_ticket = r.opt()?;
        let probe_until = r.opt()?;
        let probe = match (probe_ticket, probe_until) {
            (Some(t), Some(u)) => Some(Lease(u64::try_from(t).ok()?, u)),
            _ => None,
        };
        let n = r.len(usize::try_from(MAX_IN_FLIGHT).unwrap_or(256))?;
        let mut leases = Vec::with_capacity(n);
        for _ in 0..n {
            leases.push(Lease(r.u64()?, r.int()?));
        }
        let ticket = r.u64()?;
        let limiter = Limiter::decode(r)?;
        let slot_next = r.int()?;
        let avg_ms = r.u32()?;
        let counts = Counts {
            attempts: r.u64()?,
            delivered: r.u64()?,
            failed: r.u64()?,
            rejected: r.u64()?,
            held: r.u64()?,
            dead_lettered: r.u64()?,
        };
        Some(LaneState {
            mode,
            mode_since,
            consecutive_failures,
            unsuccessful,
            failing_since,
            last_success,
            last_failure,
            last_error,
            recent,
            recent_len,
            open_until,
            open_seconds,
            open_holds,
            probe,
            leases,
            ticket,
            limiter,
            slot_next,
            avg_ms,
            counts,
        })
    }
}

/// Whole seconds for a queue delay: rounded up (never back early), 1 s to 12 h.
fn delay_seconds(ms: i64) -> u32 {
    let s = (ms.max(0) + 999) / 1000;
    u32::try_from(s)
        .unwrap_or(MAX_DELAY_SECONDS)
        .clamp(1, MAX_DELAY_SECONDS)
}

fn truncate(mut text: String) -> String {
    if let Some((i, _)) = text.char_indices().nth(MAX_ERROR_CHARS) {
        text.truncate(i);
    }
    text
}

impl LaneState {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    fn set_mode(&mut self, mode: Mode, now_ms: i64) {
        if self.mode != mode {
            self.mode = mode;
            self.mode_since = now_ms;
        }
    }

    fn hold(&mut self, delay_seconds: u32, reason: HoldReason) -> Admission {
        self.counts.held += 1;
        Admission::Hold {
            delay_seconds,
            reason,
        }
    }

    fn lease_ms(cfg: &LaneConfig) -> i64 {
        i64::from(cfg.timeout_ms) + LEASE_MARGIN_MS
    }

    /// May one delivery be attempted at `now_ms`?
    pub fn admit(&mut self, cfg: &LaneConfig, now_ms: i64) -> Admission {
        match self.mode {
            Mode::Disabled => {
                self.counts.dead_lettered += 1;
                return Admission::DeadLetter;
            }
            Mode::Paused => return self.hold(PAUSED_HOLD_SECONDS, HoldReason::Paused),
            Mode::Open if now_ms < self.open_until => {
                self.open_holds = self.open_holds.saturating_add(1);
                let back = match self.open_holds {
                    n if n <= PROBE_CANDIDATES => self.open_until,
                    _ => self.open_until + Self::lease_ms(cfg),
                };
                return self.hold(delay_seconds(back - now_ms), HoldReason::Open);
            }
            Mode::Open => {
                self.set_mode(Mode::Probing, now_ms);
                self.probe = None;
            }
            Mode::Probing => {
                // A probe that never reported back loses its lease, and another goes.
                if let Some(Lease(_, until)) = self.probe.filter(|p| p.1 > now_ms) {
                    let s = delay_seconds(until - now_ms).min(PROBE_HOLD_MAX_SECONDS);
                    return self.hold(s, HoldReason::Probing);
                }
            }
            Mode::Healthy | Mode::Failing => {}
        }
        let probe = self.mode == Mode::Probing;
        if let Some(max) = cfg.max_in_flight {
            // A consumer that died mid-attempt gives its slot back when the lease ends.
            self.leases.retain(|l| l.1 > now_ms);
            if self.leases.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
                let avg = match self.avg_ms {
                    0 => DEFAULT_ATTEMPT_MS,
                    a => a,
                };
                let spacing = (i64::from(avg) / i64::from(max.max(1))).max(1);
                let slot = (now_ms + 1_000).max(self.slot_next);
                self.slot_next = slot + spacing;
                return self.hold(delay_seconds(slot - now_ms), HoldReason::InFlight);
            }
        }
        let mut wait_ms = 0;
        if let Some(limit) = &cfg.rate_limit {
            match self.limiter.admit(limit, now_ms, MAX_INLINE_WAIT_MS) {
                RateDecision::Admit { wait_ms: w } => wait_ms = w,
                RateDecision::Hold { delay_ms } => {
                    return self.hold(delay_seconds(delay_ms), HoldReason::RateLimited)
                }
            }
        }
        self.ticket = self.ticket.wrapping_add(1).max(1);
        let lease = Lease(
            self.ticket,
            now_ms + i64::from(wait_ms) + Self::lease_ms(cfg),
        );
        if cfg.max_in_flight.is_some() {
            self.leases.push(lease);
        }
        if probe {
            self.probe = Some(lease);
        }
        self.counts.attempts += 1;
        Admission::Attempt {
            ticket: self.ticket,
            probe,
            wait_ms,
        }
    }

    fn push_recent(&mut self, delivered: bool) {
        self.recent = ((self.recent << 1) | u32::from(delivered)) & ((1 << WINDOW) - 1);
        self.recent_len = (self.recent_len + 1).min(WINDOW);
    }

    fn not_delivered(&mut self, error: String, now_ms: i64) {
        self.unsuccessful = self.unsuccessful.saturating_add(1);
        self.failing_since.get_or_insert(now_ms);
        self.last_failure = Some(now_ms);
        self.last_error = Some(truncate(error));
        self.push_recent(false);
    }

    /// The receiver answered: an open breaker has nothing left to protect.
    fn target_is_up(&mut self, now_ms: i64, out: &mut Vec<Transition>) {
        self.consecutive_failures = 0;
        match self.mode {
            Mode::Open | Mode::Probing => {
                self.set_mode(Mode::Healthy, now_ms);
                self.open_seconds = 0;
                self.probe = None;
                out.push(self.transition(TransitionKind::Recovered, now_ms));
            }
            Mode::Failing => self.set_mode(Mode::Healthy, now_ms),
            Mode::Healthy | Mode::Paused | Mode::Disabled => {}
        }
    }

    fn open(&mut self, seconds: u32, now_ms: i64) {
        self.open_holds = 0;
        self.open_seconds = seconds.clamp(1, MAX_BREAKER_SECONDS);
        self.open_until = now_ms + i64::from(self.open_seconds) * 1000;
        self.probe = None;
        self.set_mode(Mode::Open, now_ms);
    }

    /// Records the result of the attempt `ticket` (0 if unknown: counted, no slot freed).
    pub fn record(
        &mut self,
        cfg: &LaneConfig,
        ticket: u64,
        result: AttemptResult,
        now_ms: i64,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        if let Some(i) = self.leases.iter().position(|l| l.0 == ticket) {
            let Lease(_, until) = self.leases.swap_remove(i);
            let took = (now_ms - (until - Self::lease_ms(cfg))).clamp(1, i64::from(u32::MAX));
            let took = u32::try_from(took).unwrap_or(u32::MAX);
            self.avg_ms = match self.avg_ms {
                0 => took,
                a => u32::try_from((u64::from(a) * 7 + u64::from(took)) / 8).unwrap_or(took),
            };
        }
        let was_probe = ticket != 0 && self.probe.is_some_and(|p| p.0 == ticket);
        if was_probe {
            self.probe = None;
        }
        match result {
            AttemptResult::Delivered => {
                self.counts.delivered += 1;
                self.last_success = Some(now_ms);
                self.failing_since = None;
                self.unsuccessful = 0;
                self.push_recent(true);
                self.target_is_up(now_ms, &mut out);
            }
            AttemptResult::Rejected { error } => {
                self.counts.rejected += 1;
                self.not_delivered(error, now_ms);
                self.target_is_up(now_ms, &mut out);
            }
            AttemptResult::Failure { error } => {
                self.counts.failed += 1;
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.not_delivered(error, now_ms);
                match self.mode {
                    Mode::Healthy | Mode::Failing
                        if self.consecutive_failures >= cfg.breaker_failures =>
                    {
                        self.open(cfg.breaker_seconds, now_ms);
                        out.push(self.transition(TransitionKind::Opened, now_ms));
                    }
                    Mode::Healthy => self.set_mode(Mode::Failing, now_ms),
                    // Only the probe's own answer decides; an older attempt's failure
                    // arriving now says nothing new.
                    Mode::Probing if was_probe => {
                        let next = match self.open_seconds {
                            0 => cfg.breaker_seconds,
                            s => s.saturating_mul(2),
                        };
                        self.open(next, now_ms);
                    }
                    _ => {}
                }
            }
        }
        self.check_disable(cfg, now_ms, &mut out);
        out
    }

    fn check_disable(&mut self, cfg: &LaneConfig, now_ms: i64, out: &mut Vec<Transition>) {
        if matches!(self.mode, Mode::Paused | Mode::Disabled) {
            return;
        }
        // Several outcomes, not just time: one failure, days of silence and another
        // failure is not a target failing continuously.
        let long = self
            .failing_since
            .is_some_and(|s| now_ms - s >= cfg.disable_after_ms);
        if long && self.unsuccessful >= cfg.breaker_failures.max(1) {
            self.probe = None;
            self.set_mode(Mode::Disabled, now_ms);
            out.push(self.transition(TransitionKind::Disabled, now_ms));
        }
    }

    /// Whether an isolate may attempt this lane's deliveries for a while without asking
    /// (`deliver::shortcut`): healthy with nothing against it, and nothing to count out
    /// (no rate limit, no in-flight cap). Any failure makes the consumer ask again.
    pub fn clear(&self, cfg: &LaneConfig) -> bool {
        self.mode == Mode::Healthy
            && self.consecutive_failures == 0
            && self.unsuccessful == 0
            && self.probe.is_none()
            && cfg.rate_limit.is_none()
            && cfg.max_in_flight.is_none()
    }

    /// Attempts an isolate made while the lane was clear, and how many of them were
    /// delivered, reported late and together: counts, last success and the recent window
    /// only. They are older than anything the object heard since, so they change no mode
    /// and no failure count.
    pub fn tally(&mut self, attempts: u32, delivered: u32, now_ms: i64) {
        self.counts.attempts += u64::from(attempts);
        self.counts.delivered += u64::from(delivered);
        if delivered > 0 {
            self.last_success = Some(self.last_success.map_or(now_ms, |t| t.max(now_ms)));
            for _ in 0..delivered.min(u32::from(WINDOW)) {
                self.push_recent(true);
            }
        }
    }

    /// The operator pauses the target: every delivery is held until `resume`.
    pub fn pause(&mut self, now_ms: i64) -> Option<Transition> {
        if self.mode == Mode::Paused {
            return None;
        }
        self.probe = None;
        self.set_mode(Mode::Paused, now_ms);
        Some(self.transition(TransitionKind::Paused, now_ms))
    }

    /// The operator resumes a paused, disabled or open target: healthy, with a clean slate
    /// (breaker count, open period, clock towards `disabled`). Nothing to do otherwise.
    pub fn resume(&mut self, now_ms: i64) -> Option<Transition> {
        if matches!(self.mode, Mode::Healthy | Mode::Failing) {
            return None;
        }
        self.consecutive_failures = 0;
        self.unsuccessful = 0;
        self.failing_since = None;
        self.open_seconds = 0;
        self.open_until = 0;
        self.probe = None;
        self.set_mode(Mode::Healthy, now_ms);
        Some(self.transition(TransitionKind::Resumed, now_ms))
    }

    fn transition(&self, kind: TransitionKind, now_ms: i64) -> Transition {
        Transition {
            kind,
            at_ms: now_ms,
            mode: self.mode,
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
            opened_until_ms: (self.mode == Mode::Open).then_some(self.open_until),
            counts: self.counts,
        }
    }

    /// What the admin API shows for the target.
    pub fn view(&self, cfg: &LaneConfig, now_ms: i64) -> LaneView {
        let len = u32::from(self.recent_len.min(WINDOW));
        let mask = (1u32 << len) - 1;
        let delivered = (self.recent & mask).count_ones();
        let breaker = matches!(self.mode, Mode::Open | Mode::Probing);
        LaneView {
            mode: self.mode,
            mode_since: (self.mode_since != 0).then(|| rfc3339_ms(self.mode_since)),
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since.map(rfc3339_ms),
            last_success_at: self.last_success.map(rfc3339_ms),
            last_failure_at: self.last_failure.map(rfc3339_ms),
            last_error: self.last_error.clone(),
            recent_attempts: len,
            recent_delivered: delivered,
            success_rate_percent: (len > 0).then(|| delivered * 100 / len),
            opened_until: (self.mode == Mode::Open).then(|| rfc3339_ms(self.open_until)),
            breaker_seconds: breaker.then_some(self.open_seconds),
            probe_in_flight: self.probe.is_some_and(|p| p.1 > now_ms),
            rate_limit: cfg.rate_limit.map(|l| l.to_string()),
            held_for_rate: cfg
                .rate_limit
                .map_or(0, |l| self.limiter.held_estimate(&l, now_ms)),
            in_flight: cfg.max_in_flight.map(|_| {
                let n = self.leases.iter().filter(|l| l.1 > now_ms).count();
                u32::try_from(n).unwrap_or(u32::MAX)
            }),
            max_in_flight: cfg.max_in_flight,
            held_backlog: 0,
            counts: self.counts,
        }
    }
}

/// A lane as the admin API shows it. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneView {
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_since: Option<String>,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Outcomes in the window (the last [`WINDOW`]).
    pub recent_attempts: u32,
    pub recent_delivered: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate_percent: Option<u32>,
    /// While `open`; once it has passed, the next delivery is the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_until: Option<String>,
    /// The current open period while `open` or `probing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_seconds: Option<u32>,
    pub probe_in_flight: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// About how many deliveries are held for the rate limit.
    pub held_for_rate: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// About how many deliveries wait in the queue, held: the lane's keeper counts them
    /// (`lanes::serve`); 0 from [`LaneState::view`] itself.
    pub held_backlog: u32,
    pub counts: Counts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use TransitionKind::*;

    const T0: i64 = 1_700_000_000_000;

    fn cfg() -> LaneConfig {
        LaneConfig::default()
    }

    fn cfg_from(v: Value) -> LaneConfig {
        match v {
            Value::Object(m) => parse_lane_config(&m).unwrap(),
            _ => unreachable!(),
        }
    }

    fn fail() -> AttemptResult {
        AttemptResult::Failure {
            error: "HTTP 503".into(),
        }
    }

    fn rejected() -> AttemptResult {
        AttemptResult::Rejected {
            error: "HTTP 400".into(),
        }
    }

    fn kinds(ts: &[Transition]) -> Vec<TransitionKind> {
        ts.iter().map(|t| t.kind).collect()
    }

    /// Admits one delivery that must be attempted; returns (ticket, probe).
    fn attempt(l: &mut LaneState, cfg: &LaneConfig, now: i64) -> (u64, bool) {
        match l.admit(cfg, now) {
            Admission::Attempt { ticket, probe, .. } => (ticket, probe),
            other => panic!("expected an attempt at {now}, got {other:?}"),
        }
    }

    /// Attempts and records `n` breaker failures one millisecond apart from `now`.
    fn failures(l: &mut LaneState, cfg: &LaneConfig, n: u32, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        for i in 0..n {
            let t = now + i64::from(i);
            let (ticket, _) = attempt(l, cfg, t);
            out.extend(l.record(cfg, ticket, fail(), t));
        }
        out
    }

    #[test]
    fn the_breaker_opens_after_exactly_five_failures() {
        let c = cfg();
        let mut l = LaneState::default();
        assert!(failures(&mut l, &c, 4, T0).is_empty());
        assert_eq!(l.mode(), Mode::Failing);
        assert_eq!(l.consecutive_failures, 4);
        let (ticket, _) = attempt(&mut l, &c, T0 + 10);
        let t = l.record(&c, ticket, fail(), T0 + 10);
        assert_eq!(kinds(&t), [Opened]);
        assert_eq!(t[0].mode, Mode::Open);
        assert_eq!(t[0].consecutive_failures, 5);
        assert_eq!(t[0].last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(t[0].opened_until_ms, Some(T0 + 10 + 30_000));
        assert_eq!(t[0].counts.failed, 5);
        assert_eq!(l.mode(), Mode::Open);
    }

    #[test]
    fn an_open_target_holds_without_using_attempts() {
        let c = cfg();
        let mut l = LaneState::default();
        failures(&mut l, &c, 5, T0);
        let opened = T0 + 4;
        let attempts = l.counts.attempts;
        assert_eq!(
            l.admit(&c, opened),
            Admission::Hold {
                delay_seconds: 30,
                reason: HoldReason::Open
            }
        );
        assert_eq!(
            l.admit(&c, opened + 29_500),
            Admission::Hold {
                delay_seconds: 1,
                reason: HoldReason::Open
            }
        );
        assert_eq!(l.counts.attempts, attempts);
        assert_eq!(l.counts.held, 2);
    }

    #[test]
    fn only_a_batch_comes_back_when_the_open_period_ends_the_rest_after_the_probe() {
        let c = cfg_from(json!({"timeout_ms": 5_000}));
        let mut l = LaneState::default();
        failures(&mut l, &c, 5, T0);
        let opened = T0 + 4;
        let lease_s = (5_000 + LEASE_MARGIN_MS) / 1000;
        let delays: Vec<u32> = (0..10)
            .map(|i| match l.admit(&c, opened + i) {
                Admission::Hold {
                    delay_seconds,
                    reason: HoldReason::Open,
                } => delay_seconds,
                other => panic!("{other:?}"),
            })
            .collect();
        let probe_s = u32::try_from(lease_s).unwrap() + 30;
        assert_eq!(
            delays,
            [30, 30, 30, 30, 30, 30, probe_s, probe_s, probe_s, probe_s]
        );
        // A failed probe opens a new period: its first batch comes back at its end again.
        let end = l.open_until;
        let (t, _) = attempt(&mut l, &c, end);
        l.record(&c, t, fail(), end + 5_000);
        assert!(matches!(
            l.admit(&c, end + 5_001),
            Admission::Hold {
                delay_seconds: 60,
                reason: HoldReason::Open
            }
        ));
    }

    #[test]
    fn one_probe_at_a_time_then_recovery_lets_everything_through() {
        let c = cfg();
        let mut l = LaneState::default();
        failures(&mut l, &c, 5, T0);
        let end = T0 + 4 + 30_000;
        let (probe, is_probe) = attempt(&mut l, &c, end);
        assert!(is_probe);
        assert_eq!(l.mode(), Mode::Probing);
        for i in 1..4 {
            assert_eq!(
                l.admit(&c, end + i),
                Admission::Hold {
                    delay_seconds: PROBE_HOLD_MAX_SECONDS,
                    reason: HoldReason::Probing
                }
            );
        }
        let t = l.record(&c, probe, AttemptResult::Delivered, end + 200);
        assert_eq!(kinds(&t), [Recovered]);
        assert_eq!(t[0].mode, Mode::Healthy);
        assert_eq!(l.consecutive_failures, 0);
        for i in 0..10 {
            assert!(!attempt(&mut l, &c, end + 300 + i).1);
        }
    }

    #[test]
    fn failed_probes_double_the_open_period_up_to_an_hour() {
        let c = cfg();
        let mut l = LaneState::default();
        let mut all = failures(&mut l, &c, 5, T0);
        let mut now = T0 + 4;
        let mut periods = vec![l.open_seconds];
        for _ in 0..9 {
            now = l.open_until;
            // Still open a millisecond before the end.
            assert!(matches!(
                l.admit(&c, now - 1),
                Admission::Hold {
                    reason: HoldReason::Open,
                    ..
                }
            ));
            let (ticket, probe) = attempt(&mut l, &c, now);
            assert!(probe);
            all.extend(l.record(&c, ticket, fail(), now + 100));
            assert_eq!(l.mode(), Mode::Open);
            assert_eq!(l.open_until, now + 100 + i64::from(l.open_seconds) * 1000);
            periods.push(l.open_seconds);
        }
        assert_eq!(
            periods,
            [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
        assert_eq!(
            l.admit(&c, now + 100),
            Admission::Hold {
                delay_seconds: 3600,
                reason: HoldReason::Open
            }
        );
        // Opened once: a failed probe is not news.
        assert_eq!(kinds(&all), [Opened]);
        // A recovery starts the next outage from the configured period again.
        let now = l.open_until;
        let (ticket, _) = attempt(&mut l, &c, now);
        assert_eq!(
            kinds(&l.record(&c, ticket, AttemptResult::Delivered, now)),
            [Recovered]
        );
        failures(&mut l, &c, 5, now + 1);
        assert_eq!(l.open_seconds, 30);
    }

    #[test]
    fn a_probe_that_never_reports_loses_its_lease() {
        let c = cfg_from(json!({"timeout_ms": 2_000}));
        let mut l = LaneState::default();
        failures(&mut l, &c, 5, T0);
        let end = l.open_until;
        let (first, probe) = attempt(&mut l, &c, end);
        assert!(probe);
        let lease_end = end + 2_000 + LEASE_MARGIN_MS;
        assert_eq!(
            l.admit(&c, lease_end - 1),
            Admission::Hold {
                delay_seconds: 1,
                reason: HoldReason::Probing
            }
        );
        let (second, probe) = attempt(&mut l, &c, lease_end);
        assert!(probe);
        assert_ne!(first, second);
        // The lost probe's late failure is not the current probe's answer.
        assert!(l.record(&c, first, fail(), lease_end + 10).is_empty());
        assert_eq!(l.mode(), Mode::Probing);
        assert!(matches!(
            l.admit(&c, lease_end + 20),
            Admission::Hold {
                reason: HoldReason::Probing,
                ..
            }
        ));
        let t = l.record(&c, second, AttemptResult::Delivered, lease_end + 30);
        assert_eq!(kinds(&t), [Recovered]);
    }

    #[test]
    fn client_errors_never_open_the_breaker_and_reset_its_count() {
        let c = cfg();
        let mut l = LaneState::default();
        failures(&mut l, &c, 4, T0);
        let (ticket, _) = attempt(&mut l, &c, T0 + 10);
        assert!(l.record(&c, ticket, rejected(), T0 + 10).is_empty());
        assert_eq!(l.consecutive_failures, 0);
        assert_eq!(l.mode(), Mode::Healthy);
        assert!(failures(&mut l, &c, 4, T0 + 20).is_empty());
        assert_eq!(l.mode(), Mode::Failing);
        for i in 0..50 {
            let (ticket, _) = attempt(&mut l, &c, T0 + 100 + i);
            assert!(l.record(&c, ticket, rejected(), T0 + 100 + i).is_empty());
        }
        assert_eq!(l.mode(), Mode::Healthy);
        assert_eq!(l.counts.rejected, 51);
        assert_eq!(l.last_error.as_deref(), Some("HTTP 400"));
    }

    #[test]
    fn any_answer_from_the_receiver_closes_the_breaker() {
        let c = cfg();
        // A 4xx to the probe: the target is up.
        let mut l = LaneState::default();
        failures(&mut l, &c, 5, T0);
        let end = l.open_until;
        let (ticket, _) = attempt(&mut l, &c, end);
        assert_eq!(kinds(&l.record(&c, ticket, rejected(), end)), [Recovered]);
        // An attempt made before the breaker opened succeeds while it is open.
        let mut l = LaneState::default();
        let (early, _) = attempt(&mut l, &c, T0);
        failures(&mut l, &c, 5, T0 + 1);
        assert_eq!(l.mode(), Mode::Open);
        let t = l.record(&c, early, AttemptResult::Delivered, T0 + 100);
        assert_eq!(kinds(&t), [Recovered]);
        assert_eq!(l.mode(), Mode::Healthy);
    }

    #[test]
    fn pause_holds_everything_and_resume_heals() {
        let c = cfg();
        let mut l = LaneState::default();
        let (in_flight, _) = attempt(&mut l, &c, T0);
        let p = l.pause(T0 + 1).unwrap();
        assert_eq!((p.kind, p.mode), (Paused, Mode::Paused));
        assert_eq!(l.pause(T0 + 2), None);
        for i in 0..3 {
            assert_eq!(
                l.admit(&c, T0 + 10 + i),
                Admission::Hold {
                    delay_seconds: PAUSED_HOLD_SECONDS,
                    reason: HoldReason::Paused
                }
            );
        }
        // Reports from before the pause change nothing about it.
        assert!(l.record(&c, in_flight, fail(), T0 + 20).is_empty());
        assert_eq!(l.mode(), Mode::Paused);
        let r = l.resume(T0 + 30).unwrap();
        assert_eq!((r.kind, r.mode), (Resumed, Mode::Healthy));
        assert_eq!(l.resume(T0 + 31), None);
        attempt(&mut l, &c, T0 + 40);
        assert_eq!(l.consecutive_failures, 0);

        // Resume also closes an open breaker at once (the operator fixed the target).
        failures(&mut l, &c, 5, T0 + 50);
        assert_eq!(l.mode(), Mode::Open);
        assert_eq!(l.resume(T0 + 60).map(|t| t.kind), Some(Resumed));
        attempt(&mut l, &c, T0 + 61);
    }

    #[test]
    fn continuous_failure_disables_and_resume_re_enables() {
        // 0.001 h = 3.6 s.
        let c = cfg_from(json!({"disable_after_hours": 0.001}));
        assert_eq!(c.disable_after_ms, 3_600);
        let mut l = LaneState::default();
        assert_eq!(kinds(&failures(&mut l, &c, 5, T0)), [Opened]);
        let end = l.open_until;
        let (probe, _) = attempt(&mut l, &c, end);
        let t = l.record(&c, probe, fail(), end + 10);
        assert_eq!(kinds(&t), [Disabled]);
        assert_eq!(t[0].mode, Mode::Disabled);
        assert_eq!(t[0].consecutive_failures, 6);
        assert_eq!(l.admit(&c, end + 20), Admission::DeadLetter);
        assert_eq!(l.admit(&c, end + 30), Admission::DeadLetter);
        assert_eq!(l.counts.dead_lettered, 2);
        // A straggler's failure reports nothing new.
        assert!(l.record(&c, 0, fail(), end + 40).is_empty());
        assert_eq!(l.resume(end + 50).map(|t| t.kind), Some(Resumed));
        assert_eq!(l.mode(), Mode::Healthy);
        attempt(&mut l, &c, end + 60);
        // The clock restarts: one failure right after does not disable again.
        assert!(failures(&mut l, &c, 1, end + 70).is_empty());
        assert_eq!(l.mode(), Mode::Failing);
    }

    #[test]
    fn disabling_needs_continuous_failure_not_two_failures_days_apart() {
        let c = cfg_from(json!({"disable_after_hours": 1}));
        let mut l = LaneState::default();
        failures(&mut l, &c, 1, T0);
        assert!(failures(&mut l, &c, 1, T0 + 10 * 3_600_000).is_empty());
        assert_eq!(l.mode(), Mode::Failing);
        // A success stops the clock.
        let mut l = LaneState::default();
        failures(&mut l, &c, 4, T0);
        let (t, _) = attempt(&mut l, &c, T0 + 10);
        l.record(&c, t, AttemptResult::Delivered, T0 + 10);
        assert!(failures(&mut l, &c, 4, T0 + 3_600_000).is_empty());
        assert_eq!(l.failing_since, Some(T0 + 3_600_000));
    }

    #[test]
    fn a_target_answering_4xx_for_days_is_disabled_too() {
        let c = cfg_from(json!({"disable_after_hours": 0.001}));
        let mut l = LaneState::default();
        let mut all = Vec::new();
        let mut now = T0;
        while let Admission::Attempt { ticket, .. } = l.admit(&c, now) {
            all.extend(l.record(&c, ticket, rejected(), now));
            now += 1_000;
        }
        // 3.6 s and at least `breaker_failures` answers: the fifth, at 4 s.
        assert_eq!(now, T0 + 5_000);
        assert_eq!(kinds(&all), [Disabled]);
    }

    #[test]
    fn each_transition_is_emitted_exactly_once() {
        let c = cfg_from(json!({"disable_after_hours": 0.05}));
        let mut l = LaneState::default();
        let mut all: Vec<Transition> = Vec::new();
        let mut now = T0;
        // Down: opened; probes fail; a probe succeeds: recovered.
        all.extend(failures(&mut l, &c, 5, now));
        for _ in 0..2 {
            now = l.open_until;
            let (t, _) = attempt(&mut l, &c, now);
            all.extend(l.record(&c, t, fail(), now));
            // Held deliveries say nothing.
            l.admit(&c, now + 1);
        }
        now = l.open_until;
        let (t, _) = attempt(&mut l, &c, now);
        all.extend(l.record(&c, t, AttemptResult::Delivered, now));
        for _ in 0..3 {
            let (t, _) = attempt(&mut l, &c, now + 1);
            all.extend(l.record(&c, t, AttemptResult::Delivered, now + 1));
        }
        // Paused twice, resumed twice: one of each.
        all.extend(l.pause(now + 2));
        all.extend(l.pause(now + 3));
        all.extend(l.resume(now + 4));
        all.extend(l.resume(now + 5));
        // Down for good: opened, then disabled (0.05 h = 180 s) by a probe's failure.
        now += 10;
        all.extend(failures(&mut l, &c, 5, now));
        while l.mode() != Mode::Disabled {
            now = l.open_until;
            let (t, _) = attempt(&mut l, &c, now);
            all.extend(l.record(&c, t, fail(), now));
        }
        l.admit(&c, now + 1);
        all.extend(l.resume(now + 2));
        assert_eq!(
            kinds(&all),
            [Opened, Recovered, Paused, Resumed, Opened, Disabled, Resumed]
        );
    }

    #[test]
    fn max_in_flight_counts_unreported_attempts_with_a_lease() {
        let c = cfg_from(json!({"max_in_flight": 2, "timeout_ms": 1_000}));
        let mut l = LaneState::default();
        let (a, _) = attempt(&mut l, &c, T0);
        attempt(&mut l, &c, T0 + 1);
        let mut slots = Vec::new();
        for i in 0..4 {
            match l.admit(&c, T0 + 2 + i) {
                Admission::Hold {
                    delay_seconds,
                    reason: HoldReason::InFlight,
                } => slots.push(delay_seconds),
                other => panic!("{other:?}"),
            }
        }
        assert!(slots.windows(2).all(|w| w[1] >= w[0]), "{slots:?}");
        assert!(slots.iter().all(|&s| s >= 1));
        l.record(&c, a, AttemptResult::Delivered, T0 + 300);
        attempt(&mut l, &c, T0 + 301);
        assert!(matches!(l.admit(&c, T0 + 302), Admission::Hold { .. }));
        // Nobody reports: a slot comes back when its lease ends (timeout + margin).
        let lease_end = T0 + 1 + 1_000 + LEASE_MARGIN_MS;
        assert!(matches!(l.admit(&c, lease_end - 1), Admission::Hold { .. }));
        assert_eq!(l.view(&c, lease_end - 1).in_flight, Some(2));
        assert_eq!(l.view(&c, lease_end).in_flight, Some(1));
        attempt(&mut l, &c, lease_end);
        // The moving average saw the 300 ms attempt.
        assert_eq!(l.avg_ms, 300);
    }

    #[test]
    fn the_rate_limit_waits_then_holds_and_never_uses_an_attempt() {
        let c = cfg_from(json!({"rate_limit": "5/s"}));
        let mut l = LaneState::default();
        for _ in 0..5 {
            assert!(matches!(
                l.admit(&c, T0),
                Admission::Attempt { wait_ms: 0, .. }
            ));
        }
        let mut delays = Vec::new();
        for _ in 0..20 {
            match l.admit(&c, T0) {
                Admission::Hold {
                    delay_seconds,
                    reason: HoldReason::RateLimited,
                } => delays.push(delay_seconds),
                other => panic!("{other:?}"),
            }
        }
        // Slots 250 ms apart from 1.25 s: at most 5 come back in any one second.
        assert_eq!(delays[..6], [2, 2, 2, 2, 3, 3]);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert!(delays.chunk_by(|a, b| a == b).all(|g| g.len() <= 5));
        assert_eq!(l.counts.attempts, 5);
        // Half a second later the next slot is 750 ms away: attempted after a wait.
        assert!(matches!(
            l.admit(&c, T0 + 500),
            Admission::Attempt { wait_ms: 750, .. }
        ));
        let v = l.view(&c, T0 + 500);
        assert_eq!(v.rate_limit.as_deref(), Some("5/s"));
        assert!(v.held_for_rate >= 20);
    }

    #[test]
    fn the_rate_limit_also_paces_the_probe() {
        let c = cfg_from(json!({"rate_limit": "1/m"}));
        let mut l = LaneState::default();
        let (t, _) = attempt(&mut l, &c, T0);
        l.record(&c, t, fail(), T0);
        // Breaker opens on the 5th failure; the rate limit spaces attempts a minute apart.
        let mut now = T0;
        while l.mode() != Mode::Open {
            now += 62_000;
            let (t, _) = attempt(&mut l, &c, now);
            l.record(&c, t, fail(), now);
        }
        assert_eq!(l.consecutive_failures, 5);
        // The open period (30 s) ends before the rate limit allows another attempt.
        let end = l.open_until;
        assert!(matches!(
            l.admit(&c, end),
            Admission::Hold {
                reason: HoldReason::RateLimited,
                ..
            }
        ));
        assert_eq!(l.mode(), Mode::Probing);
        assert!(attempt(&mut l, &c, now + 62_000).1);
    }

    #[test]
    fn parses_lane_settings_with_defaults() {
        let c = cfg_from(json!({"name": "crm", "url": "https://x"}));
        assert_eq!(c, LaneConfig::default());
        assert_eq!(c.disable_after_ms, 120 * 3_600_000);
        let c = cfg_from(json!({
            "breaker_failures": 3, "breaker_seconds": 10, "disable_after_hours": 2.5,
            "rate_limit": "100/10s", "max_in_flight": 4, "timeout_ms": 500,
        }));
        assert_eq!(
            c,
            LaneConfig {
                breaker_failures: 3,
                breaker_seconds: 10,
                disable_after_ms: 9_000_000,
                rate_limit: Some(RateLimit {
                    count: 100,
                    period_ms: 10_000
                }),
                max_in_flight: Some(4),
                timeout_ms: 500,
            }
        );
        let c = cfg_from(json!({"rate_limit": null, "max_in_flight": null}));
        assert_eq!(c, LaneConfig::default());
    }

    #[test]
    fn every_bad_setting_is_named() {
        let Value::Object(raw) = json!({
            "breaker_failures": 0, "breaker_seconds": 3601, "disable_after_hours": -1,
            "rate_limit": "5/d", "max_in_flight": 1.5,
        }) else {
            unreachable!()
        };
        let errors = parse_lane_config(&raw).unwrap_err();
        assert_eq!(
            errors,
            [
                "breaker_failures must be a whole number from 1 to 1000",
                "breaker_seconds must be a whole number from 1 to 3600",
                "disable_after_hours must be a number of hours above 0 and at most 8760",
                "rate_limit period unit must be s, m or h",
                "max_in_flight must be a whole number from 1 to 256",
            ]
        );
        for (v, field) in [
            (json!({"rate_limit": 5}), "rate_limit"),
            (json!({"rate_limit": "5"}), "rate_limit"),
            (json!({"disable_after_hours": "120"}), "disable_after_hours"),
            (json!({"disable_after_hours": 0}), "disable_after_hours"),
            (json!({"breaker_failures": "5"}), "breaker_failures"),
            (json!({"breaker_seconds": -30}), "breaker_seconds"),
        ] {
            let Value::Object(raw) = v else {
                unreachable!()
            };
            let errors = parse_lane_config(&raw).unwrap_err();
            assert_eq!(errors.len(), 1);
            assert!(errors[0].starts_with(field), "{errors:?}");
        }
    }

    #[test]
    fn classifies_outcomes() {
        let status = |code| Outcome::Status {
            code,
            retry_after: None,
        };
        assert_eq!(classify(&status(200)), AttemptResult::Delivered);
        assert_eq!(classify(&status(204)), AttemptResult::Delivered);
        for code in [429, 500, 502, 503, 599] {
            assert!(
                matches!(classify(&status(code)), AttemptResult::Failure { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            classify(&Outcome::Timeout),
            AttemptResult::Failure { .. }
        ));
        assert_eq!(
            classify(&Outcome::Network("reset".into())),
            AttemptResult::Failure {
                error: "network error: reset".into()
            }
        );
        for code in [301, 400, 401, 404, 408, 410, 422] {
            assert!(
                matches!(classify(&status(code)), AttemptResult::Rejected { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn state_is_small_and_round_trips() {
        assert_eq!(
            serde_json::to_string(&LaneState::default()).unwrap(),
            r#"{"counts":{"attempts":0,"delivered":0,"failed":0,"rejected":0,"held":0,"dead_lettered":0}}"#
        );
        // A busy rate-limited, in-flight-capped target with a recent failure.
        let c = cfg_from(json!({"rate_limit": "5/s", "max_in_flight": 4}));
        let mut l = LaneState::default();
        let mut now = T0;
        for i in 0..5_000u32 {
            now += 150;
            if let Admission::Attempt { ticket, .. } = l.admit(&c, now) {
                let r = if i % 50 == 0 {
                    fail()
                } else {
                    AttemptResult::Delivered
                };
                l.record(&c, ticket, r, now + 80);
            }
        }
        let (t, _) = attempt(&mut l, &c, now + 10_000);
        l.record(
            &c,
            t,
            AttemptResult::Failure {
                error: "timed out".into(),
            },
            now + 10_000,
        );
        let text = serde_json::to_string(&l).unwrap();
        assert!(text.len() < 450, "{} bytes: {text}", text.len());
        let back: LaneState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l);
        // The compact form the Durable Object stores: smaller still, and the same state back.
        let mut w = Writer::default();
        l.encode(&mut w);
        let compact = w.finish();
        assert!(compact.len() < 300, "{} bytes: {compact}", compact.len());
        let mut r = Reader::new(&compact);
        let back = LaneState::decode(&mut r, l.last_error().map(str::to_owned)).unwrap();
        assert!(r.at_end());
        assert_eq!(back, l);
        // Missing fields are defaults: a state written by an older version still loads.
        let old: LaneState = serde_json::from_str(r#"{"mode":"open","open_until":5}"#).unwrap();
        assert_eq!((old.mode(), old.open_until), (Mode::Open, 5));
    }

    #[test]
    fn the_compact_form_keeps_probes_leases_and_every_mode() {
        let c = cfg_from(json!({"max_in_flight": 3, "rate_limit": "2/s"}));
        let round_trip = |l: &LaneState| {
            let mut w = Writer::default();
            l.encode(&mut w);
            let text = w.finish();
            let back =
                LaneState::decode(&mut Reader::new(&text), l.last_error().map(str::to_owned));
            assert_eq!(back.as_ref(), Some(l), "{text}");
        };
        let mut l = LaneState::default();
        round_trip(&l);
        attempt(&mut l, &c, T0);
        attempt(&mut l, &c, T0 + 1);
        round_trip(&l);
        failures(&mut l, &cfg(), 5, T0 + 2_000);
        round_trip(&l);
        let end = l.open_until;
        assert!(attempt(&mut l, &cfg(), end).1);
        assert_eq!(l.mode(), Mode::Probing);
        assert!(l.probe.is_some());
        round_trip(&l);
        l.pause(end + 1);
        round_trip(&l);
        l.mode = Mode::Disabled;
        round_trip(&l);
        // Not a state: refused, never a half-read one.
        assert_eq!(LaneState::decode(&mut Reader::new("9 0"), None), None);
        assert_eq!(LaneState::decode(&mut Reader::new("0 1 2"), None), None);
    }

    #[test]
    fn long_error_text_is_cut() {
        let c = cfg();
        let mut l = LaneState::default();
        let (t, _) = attempt(&mut l, &c, T0);
        let error = "é".repeat(1_000);
        l.record(&c, t, AttemptResult::Failure { error }, T0);
        assert_eq!(
            l.last_error.as_ref().map(|e| e.chars().count()),
            Some(MAX_ERROR_CHARS)
        );
    }

    #[test]
    fn view_shows_the_lane() {
        let c = cfg_from(json!({"rate_limit": "100/10s"}));
        let mut l = LaneState::default();
        for i in 0..3 {
            let (t, _) = attempt(&mut l, &c, T0 + i);
            l.record(&c, t, AttemptResult::Delivered, T0 + i);
        }
        failures(&mut l, &c, 5, T0 + 1_000);
        let v = l.view(&c, T0 + 2_000);
        let got = serde_json::to_value(&v).unwrap();
        assert_eq!(
            got,
            json!({
                "mode": "open",
                "mode_since": "2023-11-14T22:13:21Z",
                "consecutive_failures": 5,
                "failing_since": "2023-11-14T22:13:21Z",
                "last_success_at": "2023-11-14T22:13:20Z",
                "last_failure_at": "2023-11-14T22:13:21Z",
                "last_error": "HTTP 503",
                "recent_attempts": 8,
                "recent_delivered": 3,
                "success_rate_percent": 37,
                "opened_until": "2023-11-14T22:13:51Z",
                "breaker_seconds": 30,
                "probe_in_flight": false,
                "rate_limit": "100/10s",
                "held_for_rate": 0,
                "held_backlog": 0,
                "counts": {"attempts": 8, "delivered": 3, "failed": 5, "rejected": 0, "held": 0, "dead_lettered": 0},
            })
        );
        // The window keeps the last 20.
        let mut l = LaneState::default();
        failures(&mut l, &c, 3, T0);
        for i in 0..40 {
            let (t, _) = attempt(&mut l, &c, T0 + 100 + i);
            l.record(&c, t, AttemptResult::Delivered, T0 + 100 + i);
        }
        let v = l.view(&c, T0 + 200);
        assert_eq!(
            (
                v.recent_attempts,
                v.recent_delivered,
                v.success_rate_percent
            ),
            (20, 20, Some(100))
        );
    }

    #[test]
    fn operational_events() {
        assert_eq!(operational_event_type(Opened), "com.b2brelay.target.opened");
        assert_eq!(
            operational_event_type(Recovered),
            "com.b2brelay.target.recovered"
        );
        assert_eq!(operational_event_type(Paused), "com.b2brelay.target.paused");
        assert_eq!(
            operational_event_type(Resumed),
            "com.b2brelay.target.resumed"
        );
        assert_eq!(
            operational_event_type(Disabled),
            "com.b2brelay.target.disabled"
        );
        let c = cfg();
        let mut l = LaneState::default();
        let t = failures(&mut l, &c, 5, T0);
        assert_eq!(t[0].event_type(), "com.b2brelay.target.opened");
        assert_eq!(
            serde_json::to_value(t[0].data("crm")).unwrap(),
            json!({
                "target": "crm", "mode": "open", "consecutive_failures": 5,
                "last_error": "HTTP 503", "opened_until": "2023-11-14T22:13:50Z",
                "counts": {"attempts": 5, "delivered": 0, "failed": 5, "rejected": 0, "held": 0, "dead_lettered": 0},
            })
        );
        for k in [Opened, Recovered, Paused, Resumed, Disabled] {
            assert!(operational_event_type(k).ends_with(k.as_str()));
        }
    }
}
