//! Fetch times as the shared layouts store them: seconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_cache::Corruption;

/// Whole seconds since the epoch; a time before it (a broken clock) is stored as 0, which only
/// makes the entry look old.
pub(crate) fn to_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// [`to_secs`] for an `i64` column.
pub(crate) fn to_i64(at: SystemTime) -> i64 {
    i64::try_from(to_secs(at)).unwrap_or(i64::MAX)
}

/// A stored time in whole seconds.
pub(crate) fn from_i64(secs: i64) -> Result<SystemTime, Corruption> {
    u64::try_from(secs)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .ok_or_else(|| Corruption::Timestamp(secs.to_string()))
}

/// A stored time in fractional seconds (Redis scores, Python's `time.time()`).
#[cfg(feature = "redis")]
pub(crate) fn from_f64(secs: f64) -> Result<SystemTime, Corruption> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| Corruption::Timestamp(secs.to_string()))
}
