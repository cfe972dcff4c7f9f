//! Arbitrary `Retry-After` values, clocks, attempt numbers and schedules → `parse_retry_after`
//! and `RetryPolicy::decide`: never a panic, never a delay Queues would refuse, and the
//! classification the README documents.
#![no_main]

use b2b_relay::core::deliver::retry::{
    parse_retry_after, Decision, Outcome, RetryPolicy, BASE_DELAY_SECONDS, MAX_DELAY_SECONDS,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Kind {
    Status(u16),
    Timeout,
    Network(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    now: i64,
    kind: Kind,
    attempt: u32,
    max_attempts: u32,
    random: u32,
    schedule: Option<Vec<u32>>,
    /// Last, so it takes the rest of the input: dictionary words land in it intact.
    retry_after: String,
}

fuzz_target!(|input: Input| {
    let parsed = parse_retry_after(&input.retry_after, input.now);
    if let Ok(n) = input.retry_after.trim().parse::<u32>() {
        assert_eq!(parsed, Some(n), "delta-seconds {:?}", input.retry_after);
    }
    let outcome = match input.kind {
        Kind::Status(code) => Outcome::Status {
            code,
            retry_after: parsed,
        },
        Kind::Timeout => Outcome::Timeout,
        Kind::Network(e) => Outcome::Network(e),
    };
    let _ = outcome.describe();
    let policy = RetryPolicy {
        schedule: input.schedule.clone(),
    };
    let d = policy.decide(&outcome, input.attempt, input.max_attempts, input.random);
    let code = outcome.status();
    match d {
        Decision::Delivered => assert!(matches!(code, Some(200..=299)), "{outcome:?}"),
        Decision::DeadLetter => assert!(
            code == Some(410) || input.attempt >= input.max_attempts,
            "{outcome:?} attempt {} of {}",
            input.attempt,
            input.max_attempts
        ),
        Decision::Retry { delay_seconds } => {
            assert!(delay_seconds <= MAX_DELAY_SECONDS, "{delay_seconds}");
            assert!(!matches!(code, Some(200..=299) | Some(410)));
            assert!(input.attempt < input.max_attempts);
            let honoured = matches!(code, Some(429 | 503)).then_some(parsed).flatten();
            let fixed = input.schedule.as_ref().filter(|s| !s.is_empty());
            match (honoured, fixed) {
                (Some(ra), _) => assert_eq!(delay_seconds, ra.min(MAX_DELAY_SECONDS)),
                (None, Some(s)) => {
                    let i = (input.attempt.max(1) as usize - 1).min(s.len() - 1);
                    assert_eq!(delay_seconds, s[i].min(MAX_DELAY_SECONDS));
                }
                // Default schedule: at least 80 % of the first delay, growing from there.
                (None, None) => assert!(delay_seconds >= BASE_DELAY_SECONDS * 8 / 10),
            }
        }
    }
    for attempt in [0, 1, input.attempt, u32::MAX] {
        assert!(policy.delay(attempt, input.random) <= MAX_DELAY_SECONDS);
    }
});
