//! Dedup: one KV mark per event id. The order that loses nothing is look up → enqueue → mark →
//! answer: a failed enqueue leaves no mark, so BigCommerce's retry is processed again.

/// Default mark lifetime: 72 h, longer than BigCommerce's 48 h of retries.
pub const DEFAULT_TTL_SECONDS: u64 = 259_200;
/// KV refuses expirations shorter than this.
pub const MIN_TTL_SECONDS: u64 = 60;

pub fn key(event_id: &str) -> String {
    format!("dedup:{event_id}")
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
}
