//! Counters in Workers Analytics Engine, when the optional `METRICS` binding exists; without
//! it the relay runs the same. One data point per ingest, delivery attempt and enrichment:
//! index = store hash; blobs = kind, event type, target, outcome; doubles = count, duration.

use crate::edge::log;
use worker::{AnalyticsEngineDataPointBuilder, Env};

thread_local! {
    static ABSENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub struct Point<'a> {
    pub kind: &'a str,
    pub ty: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub store: &'a str,
    pub duration_ms: i64,
}

pub fn record(env: &Env, p: &Point) {
    // Bindings are fixed per deployment: without one, stop asking (a lookup per delivery).
    if ABSENT.get() {
        return;
    }
    let Ok(dataset) = env.analytics_engine("METRICS") else {
        ABSENT.set(true);
        return;
    };
    #[allow(clippy::cast_precision_loss)] // durations are far below 2^52 ms
    let duration = p.duration_ms as f64;
    let point = AnalyticsEngineDataPointBuilder::new()
        .indexes([p.store])
        .blobs([p.kind, p.ty, p.target, p.outcome])
        .doubles([1.0, duration])
        .build();
    // Metrics are best effort: a failed write must never fail an event.
    let _ = dataset.write_data_point(&point);
}

/// The counter of an ingest answer, from the log line that reports it (its outcome, store and
/// duration): callbacks, errors and quarantined requests are counted as they are logged.
pub fn ingest(env: &Env, line: &log::Ingest, short_type: &str) {
    record(
        env,
        &Point {
            kind: "ingest",
            ty: short_type,
            target: "",
            outcome: line.outcome,
            store: line.store.unwrap_or(""),
            duration_ms: line.duration_ms,
        },
    );
}
