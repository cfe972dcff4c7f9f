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
    #[test]
    fn key_is_namespaced() {
        assert_eq!(super::key("ab"), "dedup:ab");
    }
}
