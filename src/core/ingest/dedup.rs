//! Dedup: one KV mark per event id. The order that loses nothing is look up → enqueue → mark →
//! answer: a failed enqueue leaves no mark, so BigCommerce's retry is processed again.
//!
//! `DEDUP_MODE = "durable"` adds a claim in a Durable Object (`DedupShard`, 16 shards by the id's
//! first hex digit) between the look-up and the enqueue: claim → enqueue → commit. The object
//! is the one place that sees every copy of an id, whatever isolate or location it reached, so
//! its answer is atomic where KV's is only eventually consistent. [`decide`] is its rule.

/// Default mark lifetime: 72 h, longer than BigCommerce's 48 h of retries.
pub const DEFAULT_TTL_SECONDS: u64 = 259_200;
/// KV refuses expirations shorter than this.
pub const MIN_TTL_SECONDS: u64 = 60;

pub fn key(event_id: &str) -> String {
    format!("dedup:{event_id}")
}

/// `DEDUP_MODE`: where acceptance is decided (not `DEDUP`: that name is the KV binding's, and
/// a Worker's bindings and variables share one namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// KV marks only (best effort across isolates; copies in one isolate are coalesced).
    #[default]
    Kv,
    /// KV as a cache in front of the `DedupShard` Durable Object, which decides atomically.
    Durable,
}

impl Mode {
    pub const NAMES: &'static str = "kv or durable";

    /// Empty means the default (`kv`).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "kv" => Some(Mode::Kv),
            "durable" => Some(Mode::Durable),
            _ => None,
        }
    }
}

/// Shards of `DedupShard`: one object per first hex digit of the event id. Ids are SHA-256 hex,
/// so the load spreads evenly; 16 objects stay far below one object's ~1,000 requests/s.
pub fn shard(event_id: &str) -> String {
    let digit = event_id
        .bytes()
        .next()
        .filter(u8::is_ascii_hexdigit)
        .map_or('0', |b| char::from(b.to_ascii_lowercase()));
    format!("dedup-{digit}")
}

/// How long a claim holds without a commit or a release. Past it, the claimer is presumed gone
/// (its isolate died mid-request) and a waiting copy takes the claim over: at worst the event
/// is enqueued twice, never not at all. Ingest's enqueue takes milliseconds.
pub const LEASE_MS: i64 = 10_000;

/// What the object stores per id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// Being processed by the claim `holder` until `until_ms` (the lease).
    Claimed { holder: i64, until_ms: i64 },
    /// Enqueued; a duplicate until `until_ms` (`DEDUP_TTL_SECONDS` after the commit).
    Committed { until_ms: i64 },
}

/// The answer to a claim, given the id's row and the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody holds it: write `Claimed` for the caller, who enqueues.
    Take,
    /// Enqueued before: answer `duplicate`.
    Duplicate,
    /// Another copy holds it: wait for its commit or release, at most until `until_ms`, then
    /// decide again. Never `duplicate` while the first copy might still fail.
    Wait { until_ms: i64 },
}

pub fn decide(row: Option<Row>, now_ms: i64) -> Claim {
    match row {
        Some(Row::Committed { until_ms }) if now_ms < until_ms => Claim::Duplicate,
        Some(Row::Claimed { until_ms, .. }) if now_ms < until_ms => Claim::Wait { until_ms },
        // Absent, expired, or a lease that ran out.
        _ => Claim::Take,
    }
}

/// A release deletes the claim only if the caller still holds it: a claim taken over after a
/// lease ran out belongs to the copy that took it.
pub fn releases(row: Option<Row>, holder: i64) -> bool {
    matches!(row, Some(Row::Claimed { holder: h, .. }) if h == holder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KV refuses keys over 512 bytes; event ids are 64 hex characters.
    #[test]
    fn keys_fit_kv_and_stay_distinct() {
        let a = key(&"a".repeat(64));
        let b = key(&"b".repeat(64));
        assert!(a.len() <= 512 && b.len() <= 512);
        assert_ne!(a, b);
        assert!(a.ends_with(&"a".repeat(64)));
    }

    #[test]
    fn modes_parse_with_kv_by_default() {
        assert_eq!(Mode::parse(""), Some(Mode::Kv));
        assert_eq!(Mode::parse(" KV "), Some(Mode::Kv));
        assert_eq!(Mode::parse("durable"), Some(Mode::Durable));
        assert_eq!(Mode::parse("do"), None);
    }

    #[test]
    fn shards_follow_the_first_hex_digit() {
        assert_eq!(shard(&format!("a{}", "0".repeat(63))), "dedup-a");
        assert_eq!(shard("F00"), "dedup-f");
        assert_eq!(shard(""), "dedup-0");
        assert_eq!(shard("zz"), "dedup-0");
        let all: std::collections::BTreeSet<String> = "0123456789abcdef"
            .chars()
            .map(|c| shard(&c.to_string()))
            .collect();
        assert_eq!(all.len(), 16);
    }

    #[test]
    fn a_claim_waits_for_a_live_holder_and_takes_over_an_expired_one() {
        let now = 1_000_000;
        assert_eq!(decide(None, now), Claim::Take);
        let held = Row::Claimed {
            holder: 7,
            until_ms: now + LEASE_MS,
        };
        assert_eq!(
            decide(Some(held), now),
            Claim::Wait {
                until_ms: now + LEASE_MS
            }
        );
        assert_eq!(decide(Some(held), now + LEASE_MS), Claim::Take);
        let done = Row::Committed {
            until_ms: now + 60_000,
        };
        assert_eq!(decide(Some(done), now), Claim::Duplicate);
        assert_eq!(
            decide(Some(done), now + 60_000),
            Claim::Take,
            "expired marks are gone"
        );
        assert!(releases(Some(held), 7));
        assert!(
            !releases(Some(held), 8),
            "a claim taken over is not the old holder's"
        );
        assert!(!releases(Some(done), 7), "a commit is never released");
        assert!(!releases(None, 7));
    }
}
