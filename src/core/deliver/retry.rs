//! Retry policy: how an attempt's answer is classified and when the next attempt happens.

use crate::core::time::parse_http_date;

/// Cloudflare Queues cannot delay a message by more than 12 h.
pub const MAX_DELAY_SECONDS: u32 = 43_200;
/// First retry of the default schedule; each later one waits 4× longer (±20 % jitter):
/// 30 s, 2 min, 8 min, 32 min, 2.1 h, 8.5 h, then 12 h.
pub const BASE_DELAY_SECONDS: u32 = 30;

/// What one delivery attempt produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Status {
        code: u16,
        /// Seconds from a `Retry-After` header (only honoured on 429 and 503).
        retry_after: Option<u32>,
    },
    Timeout,
    Network(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    Retry { delay_seconds: u32 },
    DeadLetter,
}

impl Outcome {
    /// Short text for logs and dead-letter records.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Status { code, .. } => format!("HTTP {code}"),
            Outcome::Timeout => "timed out".into(),
            Outcome::Network(e) => format!("network error: {e}"),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Fixed delays (`RETRY_SCHEDULE_SECONDS`); the last one repeats. `None`: the default
    /// exponential schedule with jitter.
    pub schedule: Option<Vec<u32>>,
}

impl RetryPolicy {
    /// Delay before attempt `failed_attempt + 1`. `random` is any u32 (jitter source).
    pub fn delay(&self, failed_attempt: u32, random: u32) -> u32 {
        let n = failed_attempt.max(1);
        if let Some(s) = self.schedule.as_ref().filter(|s| !s.is_empty()) {
            let i = usize::try_from(n - 1)
                .unwrap_or(usize::MAX)
                .min(s.len() - 1);
            return s[i].min(MAX_DELAY_SECONDS);
        }
        let base = 4u64
            .saturating_pow(n - 1)
            .saturating_mul(u64::from(BASE_DELAY_SECONDS))
            .min(u64::from(MAX_DELAY_SECONDS) * 2);
        // ±20 %: factor in [0.8, 1.2).
        let jittered = base * (800 + u64::from(random % 400)) / 1000;
        u32::try_from(jittered.min(u64::from(MAX_DELAY_SECONDS))).unwrap_or(MAX_DELAY_SECONDS)
    }

    /// What to do after attempt number `attempt` (1-based) ended with `outcome`.
    pub fn decide(
        &self,
        outcome: &Outcome,
        attempt: u32,
        max_attempts: u32,
        random: u32,
    ) -> Decision {
        let retry_after = match outcome {
            Outcome::Status {
                code: 200..=299, ..
            } => return Decision::Delivered,
            // 410 Gone: the receiver says it will never want this again.
            Outcome::Status { code: 410, .. } => return Decision::DeadLetter,
            Outcome::Status {
                code: 429 | 503,
                retry_after,
            } => *retry_after,
            _ => None,
        };
        if attempt >= max_attempts {
            return Decision::DeadLetter;
        }
        let delay_seconds = retry_after
            .map(|s| s.min(MAX_DELAY_SECONDS))
            .unwrap_or_else(|| self.delay(attempt, random));
        Decision::Retry { delay_seconds }
    }
}

/// `Retry-After`: delta-seconds or an HTTP-date, relative to `now` (unix seconds).
pub fn parse_retry_after(value: &str, now: i64) -> Option<u32> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(u32::try_from(secs).unwrap_or(u32::MAX));
    }
    let at = parse_http_date(v)?;
    Some(u32::try_from(at.saturating_sub(now).max(0)).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn default_schedule_grows_from_30s_to_12h_with_bounded_jitter() {
        let p = RetryPolicy::default();
        let mid = 200; // factor exactly 1.0
        let got: Vec<u32> = (1..=8).map(|n| p.delay(n, mid)).collect();
        assert_eq!(got, [30, 120, 480, 1920, 7680, 30720, 43200, 43200]);
        for n in 1..=40 {
            for r in [0, 199, 399, u32::MAX] {
                let d = p.delay(n, r);
                assert!(d <= MAX_DELAY_SECONDS);
                let nominal = p.delay(n, mid);
                if nominal < MAX_DELAY_SECONDS {
                    assert!(
                        d * 10 >= nominal * 8 && d * 10 < nominal * 12,
                        "{n} {r} {d}"
                    );
                }
            }
        }
    }

    #[test]
    fn fixed_schedule_repeats_its_last_delay() {
        let p = RetryPolicy {
            schedule: Some(vec![1, 2, 5]),
        };
        let got: Vec<u32> = (1..=5).map(|n| p.delay(n, 7)).collect();
        assert_eq!(got, [1, 2, 5, 5, 5]);
    }

    #[test]
    fn classification() {
        let p = RetryPolicy {
            schedule: Some(vec![3]),
        };
        assert_eq!(p.decide(&status(200), 1, 8, 0), Decision::Delivered);
        assert_eq!(p.decide(&status(204), 8, 8, 0), Decision::Delivered);
        for code in [301, 400, 401, 404, 409, 500, 502] {
            assert_eq!(
                p.decide(&status(code), 1, 8, 0),
                Decision::Retry { delay_seconds: 3 },
                "{code}"
            );
        }
        assert_eq!(
            p.decide(&Outcome::Timeout, 1, 8, 0),
            Decision::Retry { delay_seconds: 3 }
        );
        assert_eq!(
            p.decide(&Outcome::Network("reset".into()), 7, 8, 0),
            Decision::Retry { delay_seconds: 3 }
        );
        assert_eq!(p.decide(&status(500), 8, 8, 0), Decision::DeadLetter);
        assert_eq!(p.decide(&status(410), 1, 8, 0), Decision::DeadLetter);
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        let p = RetryPolicy {
            schedule: Some(vec![3]),
        };
        let with = |code, s| Outcome::Status {
            code,
            retry_after: Some(s),
        };
        assert_eq!(
            p.decide(&with(429, 90), 1, 8, 0),
            Decision::Retry { delay_seconds: 90 }
        );
        assert_eq!(
            p.decide(&with(503, 99_999), 1, 8, 0),
            Decision::Retry {
                delay_seconds: MAX_DELAY_SECONDS
            }
        );
        assert_eq!(
            p.decide(&with(500, 90), 1, 8, 0),
            Decision::Retry { delay_seconds: 3 }
        );
    }

    #[test]
    fn parses_retry_after() {
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120));
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:20 GMT", 1_699_999_990),
            Some(10)
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:20 GMT", 1_800_000_000),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-5", 0), None);
    }
}
