//! The MTA-STS policy cache: what is stored ([`CachedPolicy`]), the interface the resolver uses
//! ([`PolicyCache`]), and a bounded in-memory backend ([`MemoryCache`]).
//!
//! RFC 8461 §3.2: "Well-behaved clients SHOULD cache a policy for up to \[max_age\] from the last
//! policy fetch time"; §10: MTA-STS protects a domain only once a policy has been cached (trust on
//! first use). The cache is what makes the protection last.
//!
//! # Design
//!
//! Sans-io: entries carry their fetch time and answer freshness questions for a `now` the caller
//! passes in. The trait is object-safe (methods return boxed futures), so a program can choose a
//! backend at run time. Persistent backends (SQLite, Redis, PostgreSQL) are added behind features
//! in a later release.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use mta_sts_cache::{CachedPolicy, MemoryCache, PolicyCache};
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let cache = MemoryCache::new(10_000);
//! let policy = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n".parse()?;
//! let entry = Arc::new(CachedPolicy::new(policy, "20240101".parse()?, 1_700_000_000));
//! cache.put("example.com", entry.clone()).await?;
//! let got = cache.get("example.com").await?.expect("cached");
//! assert!(got.is_valid_at(1_700_000_000 + 86_400));
//! assert!(!got.is_valid_at(1_700_000_000 + 86_401));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `redis` | no | [`RedisCache`] (Redis and Redis Sentinel) in postfix-mta-sts-resolver's layout, fronted by [`TieredCache`] |
//! | `postgres` | no | [`PostgresCache`] in postfix-mta-sts-resolver's layout, fronted by [`TieredCache`] |
//! | `sqlite` | no | [`SqliteCache`]: the embedded persistent store, in postfix-mta-sts-resolver's layout (rusqlite, bundled SQLite) |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "__json")]
mod json;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "sqlite", feature = "__remote"))]
mod tier;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisCache, redis_url};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteCache;
#[cfg(any(feature = "sqlite", feature = "__remote"))]
pub use tier::TieredCache;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use mta_sts_policy::Policy;
use mta_sts_txt::PolicyId;

/// A boxed future, so that [`PolicyCache`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A policy as cached: the policy, the TXT id it was fetched under, and when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPolicy {
    policy: Policy,
    id: PolicyId,
    fetched_at: u64,
}

impl CachedPolicy {
    /// An entry for `policy`, fetched over HTTPS at `fetched_at` (Unix seconds) under TXT id `id`.
    pub fn new(policy: Policy, id: PolicyId, fetched_at: u64) -> Self {
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

    /// When the policy was last fetched over HTTPS, in Unix seconds.
    pub fn fetched_at(&self) -> u64 {
        self.fetched_at
    }

    /// The last second at which the policy may still be applied: `fetched_at + max_age`.
    pub fn expires_at(&self) -> u64 {
        self.fetched_at
            .saturating_add(u64::from(self.policy.max_age().as_secs()))
    }

    /// Whether the policy may be applied at `now`: its time since fetch has not exceeded `max_age`
    /// (RFC 8461 §5.1, CACHE-1).
    pub fn is_valid_at(&self, now: u64) -> bool {
        now <= self.expires_at()
    }

    /// Whether more than half of the lifetime has passed at `now`, so that the policy should be
    /// fetched again before it expires (refresh-ahead, CACHE-4).
    pub fn wants_refresh_at(&self, now: u64) -> bool {
        let half = u64::from(self.policy.max_age().as_secs()) / 2;
        now.saturating_sub(self.fetched_at) > half
    }
}

/// A cache backend failed. The resolver treats it as a miss and goes on with live discovery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend could not be reached or answered with an error.
    #[error("cache backend unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// A stored entry cannot be read back (not JSON, not a valid policy, bad id).
    #[error("corrupt cache entry: {0}")]
    Corrupt(String),
    /// The backend did not answer within its deadline.
    #[error("cache backend did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The store could not be opened (missing directory, read-only or corrupt file, wrong schema).
    #[error("cannot open cache {path}: {reason}")]
    Open {
        /// The file or address.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// One page of [`PolicyCache::scan`]: entries in domain order after the cursor.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ScanPage {
    /// The entries of this page.
    pub entries: Vec<(String, Arc<CachedPolicy>)>,
    /// Entries on this page that could not be read (corrupt), skipped.
    pub skipped: usize,
    /// The cursor for the next page, or `None` when the scan is complete.
    pub next: Option<String>,
}

/// Where policies are kept between lookups. Keys are policy domains: lower-case A-labels without a
/// trailing dot.
pub trait PolicyCache: Send + Sync {
    /// The entry for `domain`, expired or not.
    fn get<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>>;

    /// Stores `entry` unless the cache holds a newer one for `domain` (an older fetch never
    /// overwrites a newer one).
    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Forgets `domain`.
    fn remove<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Up to `limit` entries whose domain sorts after `after` (all when `None`), for proactive
    /// refresh; pass the returned [`ScanPage::next`] to resume.
    fn scan<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>>;

    /// When the last complete proactive refresh finished (Unix seconds), if ever.
    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<u64>, CacheError>>;

    /// Records that a complete proactive refresh finished at `at`.
    fn set_last_refresh(&self, at: u64) -> BoxFuture<'_, Result<(), CacheError>>;
}

impl<C: PolicyCache + ?Sized> PolicyCache for Arc<C> {
    fn get<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        (**self).get(domain)
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        (**self).put(domain, entry)
    }

    fn remove<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        (**self).remove(domain)
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        (**self).scan(after, limit)
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<u64>, CacheError>> {
        (**self).last_refresh()
    }

    fn set_last_refresh(&self, at: u64) -> BoxFuture<'_, Result<(), CacheError>> {
        (**self).set_last_refresh(at)
    }
}

/// A quick_cache that really keeps `capacity` entries. Its capacity is split among shards, and
/// keys never spread evenly: sized exactly, it starts evicting at 93-99.5% of the capacity (measured
/// with 100 to 100,000 domains), so a working set of exactly `cache_size` domains would keep
/// missing. A quarter more room keeps them all.
pub(crate) fn sized_for<K, V>(capacity: usize) -> quick_cache::sync::Cache<K, V>
where
    K: Eq + std::hash::Hash,
    V: Clone,
{
    let capacity = capacity.max(1);
    quick_cache::sync::Cache::new(capacity.saturating_add(capacity / 4 + 16))
}

/// A bounded in-memory cache (postfix-mta-sts-resolver's `internal`, default size 10000).
///
/// Lookups and stores are O(1) and concurrent (a sharded CLOCK-Pro cache, quick_cache); when full,
/// the least useful entries are evicted. Stores of one domain are serialised by a striped lock so
/// an older fetch never replaces a newer one, whatever the interleaving.
#[derive(Debug)]
pub struct MemoryCache {
    entries: quick_cache::sync::Cache<String, Arc<CachedPolicy>>,
    writers: [Mutex<()>; 64],
    last_refresh: Mutex<Option<u64>>,
}

impl MemoryCache {
    /// A cache that keeps `capacity` domains (at least one), and at most about a quarter more
    /// before it evicts.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: sized_for(capacity),
            writers: std::array::from_fn(|_| Mutex::new(())),
            last_refresh: Mutex::new(None),
        }
    }

    /// The number of domains cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn store(&self, domain: &str, entry: Arc<CachedPolicy>) {
        use std::hash::{BuildHasher, RandomState};
        static STRIPES: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let stripe =
            STRIPES.get_or_init(RandomState::new).hash_one(domain) as usize % self.writers.len();
        // A panic while holding this lock cannot leave anything half-written.
        let _guard = self.writers[stripe]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self
            .entries
            .get(domain)
            .is_some_and(|old| old.fetched_at() > entry.fetched_at())
        {
            return;
        }
        self.entries.insert(domain.to_owned(), entry);
    }
}

impl PolicyCache for MemoryCache {
    fn get<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        Box::pin(std::future::ready(Ok(self.entries.get(domain))))
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.store(domain, entry);
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        self.entries.remove(domain);
        Box::pin(std::future::ready(Ok(())))
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        let limit = limit.max(1);
        let mut entries: Vec<(String, Arc<CachedPolicy>)> = self
            .entries
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = more.then(|| entries.last().map(|e| e.0.clone())).flatten();
        Box::pin(std::future::ready(Ok(ScanPage {
            entries,
            skipped: 0,
            next,
        })))
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<u64>, CacheError>> {
        let at = *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
        Box::pin(std::future::ready(Ok(at)))
    }

    fn set_last_refresh(&self, at: u64) -> BoxFuture<'_, Result<(), CacheError>> {
        *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn entry(max_age: u32, fetched_at: u64) -> Arc<CachedPolicy> {
        let body =
            format!("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: {max_age}\n");
        Arc::new(CachedPolicy::new(
            body.parse().unwrap(),
            "a1".parse().unwrap(),
            fetched_at,
        ))
    }

    #[test]
    fn cache_1_lifetime_from_fetch_time() {
        let e = entry(86_400, 1000);
        assert!(e.is_valid_at(1000 + 86_399));
        assert!(e.is_valid_at(1000 + 86_400));
        assert!(!e.is_valid_at(1000 + 86_401));
        // A-15: max_age 0 applies at the fetch second only.
        assert!(entry(0, 5).is_valid_at(5));
        assert!(!entry(0, 5).is_valid_at(6));
    }

    #[test]
    fn cache_4_refresh_after_half_the_lifetime() {
        let e = entry(100, 1000);
        assert!(!e.wants_refresh_at(1050));
        assert!(e.wants_refresh_at(1051));
    }

    #[test]
    fn older_entry_never_overwrites_newer() {
        let cache = MemoryCache::new(10);
        cache
            .put("a.example", entry(100, 2000))
            .now_or_never()
            .unwrap()
            .unwrap();
        cache
            .put("a.example", entry(100, 1000))
            .now_or_never()
            .unwrap()
            .unwrap();
        let got = cache
            .get("a.example")
            .now_or_never()
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got.fetched_at(), 2000);
    }

    #[test]
    fn keeps_a_working_set_of_exactly_its_capacity() {
        for capacity in [100, 1000, 10_000, 100_000] {
            let cache = MemoryCache::new(capacity);
            for i in 0..capacity {
                let domain = format!("d{i}.example");
                cache
                    .put(&domain, entry(100, 1000))
                    .now_or_never()
                    .unwrap()
                    .unwrap();
            }
            assert_eq!(cache.len(), capacity);
        }
    }

    #[test]
    fn bounded_by_capacity() {
        let cache = MemoryCache::new(100);
        let get = |d: &str| cache.get(d).now_or_never().unwrap().unwrap();
        for i in 0..1000u64 {
            let domain = format!("d{i}.example");
            cache
                .put(&domain, entry(100, 1000 + i))
                .now_or_never()
                .unwrap()
                .unwrap();
        }
        // The capacity, its headroom and quick_cache's own slack: bounded, nowhere near 1000.
        assert!(cache.len() <= 160, "{} entries", cache.len());
        let kept = (0..1000)
            .map(|i| format!("d{i}.example"))
            .find(|d| get(d).is_some());
        let kept = kept.expect("some entry kept");
        cache.remove(&kept).now_or_never().unwrap().unwrap();
        assert!(get(&kept).is_none());
    }
}
