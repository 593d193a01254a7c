//! What a cache stores for a domain.

use std::time::{Duration, SystemTime};

use mta_sts_policy::Policy;
use mta_sts_txt::PolicyId;

/// A policy as cached: the policy, the TXT id it was fetched under, and when it was fetched.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mta_sts_cache::CachedPolicy;
///
/// let policy = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n".parse()?;
/// let fetched = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let entry = CachedPolicy::new(policy, "20240101".parse()?, fetched);
/// assert!(entry.is_valid_at(fetched + Duration::from_secs(86_400)));
/// assert!(!entry.is_valid_at(fetched + Duration::from_secs(86_401)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPolicy {
    policy: Policy,
    id: PolicyId,
    fetched_at: SystemTime,
}

impl CachedPolicy {
    /// An entry for `policy`, fetched over HTTPS at `fetched_at` under TXT id `id`.
    pub fn new(policy: Policy, id: PolicyId, fetched_at: SystemTime) -> Self {
        Self {
            policy,
            id,
            fetched_at,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The `id` of the TXT record the policy was fetched under.
    pub fn id(&self) -> &PolicyId {
        &self.id
    }

    /// When the policy was last fetched over HTTPS.
    pub fn fetched_at(&self) -> SystemTime {
        self.fetched_at
    }

    /// The last instant at which the policy may still be applied: `fetched_at + max_age`.
    pub fn expires_at(&self) -> SystemTime {
        later(self.fetched_at, self.policy.max_age().as_duration())
    }

    /// Whether the policy may be applied at `now`: its time since fetch has not exceeded `max_age`
    /// (RFC 8461 §5.1, CACHE-1).
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        now <= self.expires_at()
    }

    /// Whether more than half of the lifetime has passed at `now`, so that the policy should be
    /// fetched again before it expires (refresh-ahead, CACHE-4).
    pub fn wants_refresh_at(&self, now: SystemTime) -> bool {
        let half = self.policy.max_age().as_duration() / 2;
        now.duration_since(self.fetched_at)
            .is_ok_and(|age| age > half)
    }
}

/// `at + by`, or the farthest representable time instead of overflowing: a far-future deadline
/// means the same as an unrepresentable one.
pub(crate) fn later(at: SystemTime, by: Duration) -> SystemTime {
    at.checked_add(by).unwrap_or_else(|| {
        // About 292 billion years past the epoch: no clock reaches it.
        SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn entry(max_age: u32, fetched_at: u64) -> CachedPolicy {
        let body =
            format!("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: {max_age}\n");
        CachedPolicy::new(body.parse().unwrap(), "a1".parse().unwrap(), at(fetched_at))
    }

    #[test]
    fn cache_1_lifetime_from_fetch_time() {
        let e = entry(86_400, 1000);
        assert!(e.is_valid_at(at(1000 + 86_399)));
        assert!(e.is_valid_at(at(1000 + 86_400)));
        assert!(!e.is_valid_at(at(1000 + 86_401)));
        // A-15: max_age 0 applies at the fetch instant only.
        assert!(entry(0, 5).is_valid_at(at(5)));
        assert!(!entry(0, 5).is_valid_at(at(6)));
    }

    #[test]
    fn cache_4_refresh_after_half_the_lifetime() {
        let e = entry(100, 1000);
        assert!(!e.wants_refresh_at(at(1050)));
        assert!(e.wants_refresh_at(at(1051)));
        // A fetch time ahead of the clock is not "old".
        assert!(!e.wants_refresh_at(at(900)));
    }

    #[test]
    fn far_future_does_not_overflow() {
        let e = entry(31_557_600, u64::MAX / 4);
        assert!(e.is_valid_at(at(u64::MAX / 4)));
    }
}
