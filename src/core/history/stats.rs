//! `GET /admin/stats?since=&until=&bucket=minute|hour|day|all&target=`: per target and bucket,
//! attempts by outcome and the p50 / p95 of attempt duration and of ingest → delivery.
//! `all` is one bucket for the whole window (`start` = `since`): percentiles do not add up
//! across buckets, so "p95 over the last hour" needs the window's own.
//!
//! SQLite has no percentile function. They are computed in the query, by rank: window
//! functions number each bucket's attempts by duration (and its deliveries by latency), and
//! the value at rank ⌈p·n⌉ is picked (nearest rank). Fetching the rows to rank them here
//! would read exactly as many rows (D1 bills rows read either way) and then send every one of
//! them to the worker; in SQL only one row per target and bucket leaves D1. The attempts are
//! read once, from the covering index `attempts_at`, never from the table.

use super::{params, time_param, Bind, QueryError, Statement};
use serde::{Deserialize, Serialize};

/// A day of minutes, a month of hours: the answer stays small.
pub const MAX_BUCKETS: i64 = 1440;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
    /// The whole window as one bucket.
    All,
}

impl Bucket {
    /// The length of a fixed bucket; `All` is as long as the window.
    pub fn ms(self) -> Option<i64> {
        match self {
            Bucket::Minute => Some(60_000),
            Bucket::Hour => Some(3_600_000),
            Bucket::Day => Some(DAY_MS),
            Bucket::All => None,
        }
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        match s.trim() {
            "minute" => Some(Bucket::Minute),
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "all" => Some(Bucket::All),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// Attempts with `since <= at < until` (unix ms).
    pub since: i64,
    pub until: i64,
    pub bucket: Bucket,
    pub target: Option<String>,
}

/// Defaults: the 24 hours before `until`, `until` now, hourly buckets.
pub fn parse_stats_query(
    pairs: &[(String, String)],
    now_ms: i64,
) -> Result<StatsQuery, QueryError> {
    let (mut since, mut until, mut bucket, mut target) = (None, None, Bucket::Hour, None);
    for (k, v) in params(pairs, &["since", "until", "bucket", "target"])? {
        match k {
            "since" => since = Some(time_param("since", v)?),
            "until" => until = Some(time_param("until", v)?),
            "bucket" => bucket = Bucket::parse(v).ok_or(QueryError::BadBucket(v.into()))?,
            "target" => target = Some(super::non_empty("target", v)?),
            _ => {}
        }
    }
    let until = until.unwrap_or(now_ms);
    let since = since.unwrap_or(until.saturating_sub(DAY_MS));
    if since >= until {
        return Err(QueryError::EmptyWindow);
    }
    // Buckets are aligned to the epoch (UTC), so a window may touch one more than it spans.
    if let Some(ms) = bucket.ms() {
        if until.div_euclid(ms) - since.div_euclid(ms) + 1 > MAX_BUCKETS {
            return Err(QueryError::TooManyBuckets);
        }
    }
    Ok(StatsQuery {
        since,
        until,
        bucket,
        target,
    })
}

/// ?1 since, ?2 until, ?3 bucket width, ?4 target or NULL, ?5 origin: an attempt's bucket is
/// `(at - origin) / width`, its start `origin + b * width` (see [`StatsQuery::grid`]). D1 binds a
/// JavaScript number as a REAL, and `at / 60000.0` would put every attempt in a bucket of its
/// own: ?3 and ?5 are cast to integers.
/// Nearest rank: p50 at ⌈n/2⌉ = (n + 1) / 2, p95 at ⌈0.95·n⌉ = (95·n + 99) / 100, in integer
/// arithmetic. Latency counts
/// delivered attempts only (partitioned apart from the NULLs of the others).
const STATS_SQL: &str = "WITH a AS ( \
       SELECT target, (at - CAST(?5 AS INTEGER)) / CAST(?3 AS INTEGER) AS b, outcome, duration_ms AS d, \
         CASE WHEN outcome = 'delivered' THEN at - run END AS lat \
       FROM attempts WHERE at >= ?1 AND at < ?2 AND (?4 IS NULL OR target = ?4) \
     ), r AS ( \
       SELECT target, b, outcome, d, lat, \
         row_number() OVER (PARTITION BY target, b ORDER BY d) AS dr, \
         count(*) OVER (PARTITION BY target, b) AS n, \
         row_number() OVER (PARTITION BY target, b, lat IS NULL ORDER BY lat) AS lr, \
         count(lat) OVER (PARTITION BY target, b) AS ln \
       FROM a \
     ) \
     SELECT target, CAST(?5 AS INTEGER) + b * CAST(?3 AS INTEGER) AS bucket, count(*) AS attempts, \
       sum(outcome = 'delivered') AS delivered, sum(outcome = 'retry') AS failed, \
       sum(outcome = 'dead_letter') AS dead_letters, \
       max(CASE WHEN dr = (n + 1) / 2 THEN d END) AS duration_p50, \
       max(CASE WHEN dr = (95 * n + 99) / 100 THEN d END) AS duration_p95, \
       max(CASE WHEN lat IS NOT NULL AND lr = (ln + 1) / 2 THEN lat END) AS latency_p50, \
       max(CASE WHEN lat IS NOT NULL AND lr = (95 * ln + 99) / 100 THEN lat END) AS latency_p95 \
     FROM r GROUP BY target, b ORDER BY target, b";

/// [`STATS_SQL`]'s rows made into `GET /admin/stats`'s `targets` array by D1 (one row, `{j}`),
/// as [`stats_answer`] builds it: targets by name, each with its totals and its buckets in
/// time order.
const STATS_JSON: &str = "), t AS (SELECT DISTINCT target FROM s) \
     SELECT coalesce((SELECT json_group_array(json(o)) FROM (SELECT json_object('target', t.target, \
       'totals', json((SELECT json_object('attempts', sum(attempts), 'delivered', sum(delivered), \
         'failed', sum(failed), 'dead_letters', sum(dead_letters)) FROM s WHERE s.target = t.target)), \
       'buckets', json((SELECT json_group_array(json(b)) FROM (SELECT json_object('start', bucket, \
         'attempts', attempts, 'delivered', delivered, 'failed', failed, \
         'dead_letters', dead_letters, \
         'duration_ms', json_object('p50', duration_p50, 'p95', duration_p95), \
         'latency_ms', json_object('p50', latency_p50, 'p95', latency_p95)) AS b \
         FROM s WHERE s.target = t.target ORDER BY bucket)))) AS o FROM t ORDER BY t.target)), '[]') AS j";

impl StatsQuery {
    /// The `targets` of the answer as JSON text, one row `{j}`: see [`stats_answer_json`].
    pub fn json_statement(&self) -> Statement {
        let inner = self.statement();
        Statement::new(format!("WITH s AS ({}{STATS_JSON}", inner.sql), inner.binds)
    }
}

/// `GET /admin/stats`'s answer text around [`StatsQuery::json_statement`]'s `targets`: the
/// same JSON as [`stats_answer`].
pub fn stats_answer_json(q: &StatsQuery, targets: &str) -> String {
    let bucket = match q.bucket {
        Bucket::Minute => "minute",
        Bucket::Hour => "hour",
        Bucket::Day => "day",
        Bucket::All => "all",
    };
    format!(
        "{{\"since\":{},\"until\":{},\"bucket\":\"{bucket}\",\"targets\":{targets}}}",
        q.since, q.until
    )
}

impl StatsQuery {
    /// `(origin, width)` of the buckets: fixed ones are aligned to the epoch (origin 0); `all`
    /// is the window itself, one bucket starting at `since`.
    pub fn grid(&self) -> (i64, i64) {
        match self.bucket.ms() {
            Some(ms) => (0, ms),
            None => (self.since, self.until - self.since),
        }
    }

    /// Rows: [`StatsRow`], one per target and bucket with attempts.
    pub fn statement(&self) -> Statement {
        let (origin, width) = self.grid();
        Statement::new(
            STATS_SQL,
            vec![
                self.since.into(),
                self.until.into(),
                width.into(),
                self.target.as_deref().map_or(Bind::Null, Bind::from),
                origin.into(),
            ],
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatsRow {
    pub target: String,
    pub bucket: i64,
    pub attempts: i64,
    pub delivered: i64,
    pub failed: i64,
    pub dead_letters: i64,
    pub duration_p50: Option<i64>,
    pub duration_p95: Option<i64>,
    pub latency_p50: Option<i64>,
    pub latency_p95: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: Option<i64>,
    pub p95: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub attempts: i64,
    pub delivered: i64,
    /// Attempts that failed and were scheduled for a retry.
    pub failed: i64,
    pub dead_letters: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketStats {
    /// Unix ms of the bucket's start.
    pub start: i64,
    #[serde(flatten)]
    pub counts: Counts,
    pub duration_ms: Percentiles,
    /// Ingest (or replay) → delivery, over the bucket's delivered attempts.
    pub latency_ms: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStats {
    pub target: String,
    /// Sums over the buckets (percentiles do not add up, so there are none here).
    pub totals: Counts,
    pub buckets: Vec<BucketStats>,
}

/// `GET /admin/stats`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatsAnswer {
    pub since: i64,
    pub until: i64,
    pub bucket: Bucket,
    pub targets: Vec<TargetStats>,
}

/// The answer from [`StatsQuery::statement`]'s rows (ordered by target, then bucket).
pub fn stats_answer(q: &StatsQuery, rows: Vec<StatsRow>) -> StatsAnswer {
    let mut targets: Vec<TargetStats> = Vec::new();
    for r in rows {
        let counts = Counts {
            attempts: r.attempts,
            delivered: r.delivered,
            failed: r.failed,
            dead_letters: r.dead_letters,
        };
        let bucket = BucketStats {
            start: r.bucket,
            counts,
            duration_ms: Percentiles {
                p50: r.duration_p50,
                p95: r.duration_p95,
            },
            latency_ms: Percentiles {
                p50: r.latency_p50,
                p95: r.latency_p95,
            },
        };
        let t = match targets.last_mut() {
            Some(t) if t.target == r.target => t,
            _ => {
                targets.push(TargetStats {
                    target: r.target,
                    totals: Counts::default(),
                    buckets: Vec::new(),
                });
                match targets.last_mut() {
                    Some(t) => t,
                    None => continue,
                }
            }
        };
        t.totals.attempts += counts.attempts;
        t.totals.delivered += counts.delivered;
        t.totals.failed += counts.failed;
        t.totals.dead_letters += counts.dead_letters;
        t.buckets.push(bucket);
    }
    StatsAnswer {
        since: q.since,
        until: q.until,
        bucket: q.bucket,
        targets,
    }
}
