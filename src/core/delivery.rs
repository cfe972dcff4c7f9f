//! What travels through the queue (one message per event × target) and what is kept when a
//! delivery gives up (a dead-letter record).

use crate::core::event::CloudEvent;
use serde::{Deserialize, Serialize};

/// One queue message: deliver `event` to `target`. The attempt number travels in the message
/// because workers-rs 0.8 exposes no attempt counter: a retry is a new message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub target: String,
    /// 1-based number of the attempt this message will make.
    pub attempt: u32,
    /// Unix milliseconds when the relay accepted the callback.
    pub received_at_ms: i64,
    /// Unix seconds of attempt 1, once it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub event: CloudEvent,
    /// BigCommerce's body, byte for byte; only carried for `bigcommerce`-format targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// A delivery that will not be retried any more, stored in KV `DEAD_LETTERS`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub target: String,
    pub event_id: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    pub last_error: String,
    /// RFC 3339.
    pub first_attempt_at: String,
    pub last_attempt_at: String,
    pub event: CloudEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

pub fn dead_letter_key(target: &str, event_id: &str) -> String {
    format!("dlq:{target}:{event_id}")
}

impl Delivery {
    pub fn into_dead_letter(
        self,
        last_status: Option<u16>,
        last_error: String,
        now: i64,
    ) -> DeadLetter {
        use crate::core::time::rfc3339;
        DeadLetter {
            event_id: self.event.id.clone(),
            target: self.target,
            attempts: self.attempt,
            last_status,
            last_error,
            first_attempt_at: rfc3339(self.first_attempt_at.unwrap_or(now)),
            last_attempt_at: rfc3339(now),
            event: self.event,
            original: self.original,
        }
    }
}
