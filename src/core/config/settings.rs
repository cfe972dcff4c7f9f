//! The scalar settings: `DEDUP_MODE`, `DEDUP_TTL_SECONDS`, `RETRY_SCHEDULE_SECONDS`,
//! `LOG_DELIVERIES`, `BC_B2B_API_BASE`, `HISTORY_DAYS`. Unset or blank means the default.

use super::url::check_base;
use super::Source;
use crate::core::deliver::attempts;
use crate::core::deliver::retry::{RetryPolicy, MAX_DELAY_SECONDS};
use crate::core::ingest::dedup;

pub(super) fn dedup_mode(src: &dyn Source, errors: &mut Vec<String>) -> dedup::Mode {
    let text = src.text("DEDUP_MODE").unwrap_or_default();
    dedup::Mode::parse(&text).unwrap_or_else(|| {
        errors.push(format!("DEDUP_MODE: must be {}", dedup::Mode::NAMES));
        dedup::Mode::default()
    })
}

pub(super) fn ttl(src: &dyn Source, errors: &mut Vec<String>) -> u64 {
    match src.text("DEDUP_TTL_SECONDS").map(|s| s.trim().to_owned()) {
        None => dedup::DEFAULT_TTL_SECONDS,
        Some(s) if s.is_empty() => dedup::DEFAULT_TTL_SECONDS,
        Some(s) => match s.parse::<u64>() {
            Ok(v) if v >= dedup::MIN_TTL_SECONDS => v,
            _ => {
                errors.push(format!(
                    "DEDUP_TTL_SECONDS: must be a whole number of seconds, at least {}",
                    dedup::MIN_TTL_SECONDS
                ));
                dedup::DEFAULT_TTL_SECONDS
            }
        },
    }
}

pub(super) fn retry(src: &dyn Source, errors: &mut Vec<String>) -> RetryPolicy {
    let Some(text) = src
        .text("RETRY_SCHEDULE_SECONDS")
        .filter(|t| !t.trim().is_empty())
    else {
        return RetryPolicy::default();
    };
    let parsed: Result<Vec<u32>, _> = text.split(',').map(|p| p.trim().parse::<u32>()).collect();
    match parsed {
        Ok(s) if s.iter().all(|&d| d <= MAX_DELAY_SECONDS) => RetryPolicy { schedule: Some(s) },
        _ => {
            errors.push(format!(
                "RETRY_SCHEDULE_SECONDS: must be comma-separated whole seconds, each at most {MAX_DELAY_SECONDS}"
            ));
            RetryPolicy::default()
        }
    }
}

pub(super) fn log_deliveries(src: &dyn Source, errors: &mut Vec<String>) -> attempts::Mode {
    let text = src.text("LOG_DELIVERIES").unwrap_or_default();
    attempts::Mode::parse(&text).unwrap_or_else(|| {
        errors.push(format!("LOG_DELIVERIES: must be {}", attempts::Mode::NAMES));
        attempts::Mode::default()
    })
}

/// `BC_B2B_API_BASE`, without a trailing slash.
pub(super) fn b2b_api_base(src: &dyn Source, errors: &mut Vec<String>) -> String {
    let base = src
        .text("BC_B2B_API_BASE")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| crate::core::deliver::enrich::DEFAULT_API_BASE.into());
    check_base("BC_B2B_API_BASE", &base).unwrap_or_else(|e| {
        errors.push(e);
        base
    })
}

/// `HISTORY_DAYS`: whole days, 1 to 90, default 7. Checked even without the `HISTORY`
/// binding, like every other setting: a typo should not wait for the database to show.
pub(super) fn history_days(src: &dyn Source, errors: &mut Vec<String>) -> u32 {
    use crate::core::history::retention;
    retention::parse_history_days(src.text("HISTORY_DAYS").as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        retention::DEFAULT_HISTORY_DAYS
    })
}
