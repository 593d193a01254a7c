//! The in-memory cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mta_sts_policy::Domain;

use crate::{BoxFuture, CacheAdmin, CacheError, CachedPolicy, PolicyCache, ScanCursor, ScanPage};

/// A bounded in-memory cache (postfix-mta-sts-resolver's `internal`, default size 10000).
///
/// Lookups and stores are O(1) and concurrent (a sharded CLOCK-Pro cache, quick_cache); when full,
/// the least useful entries are evicted. Stores of one domain are serialised by a striped lock so
/// an older fetch never replaces a newer one, whatever the interleaving. Every future it returns
/// is ready at once: it needs no runtime.
#[derive(Debug)]
pub struct MemoryCache {
    entries: quick_cache::sync::Cache<Domain, Arc<CachedPolicy>>,
    writers: [Mutex<()>; 64],
    last_refresh: Mutex<Option<SystemTime>>,
    /// Reads that found an entry and reads that did not, for metrics (relaxed: no lock).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl MemoryCache {
    /// A cache that keeps `capacity` domains (at least one), and at most about a quarter more
    /// before it evicts.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        // quick_cache splits its capacity among shards and keys never spread evenly: sized
        // exactly, it starts evicting at 93-99.5% of the capacity (measured with 100 to 100,000
        // domains), so a working set of exactly `capacity` domains would keep missing. A quarter
        // more room keeps them all.
        let capacity = capacity.max(1);
        Self {
            entries: quick_cache::sync::Cache::new(capacity.saturating_add(capacity / 4 + 16)),
            writers: std::array::from_fn(|_| Mutex::new(())),
            last_refresh: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The number of domains cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reads that found an entry, since the cache was created.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Reads that found nothing, since the cache was created.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn store(&self, domain: &Domain, entry: Arc<CachedPolicy>) {
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
        self.entries.insert(domain.clone(), entry);
    }
}

impl PolicyCache for MemoryCache {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        let found = self.entries.get(domain);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(found)))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.store(domain, entry);
        Box::pin(std::future::ready(Ok(())))
    }
}

impl CacheAdmin for MemoryCache {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        self.entries.remove(domain);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Pages in domain order; the cursor is the last domain of the page.
    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        let limit = limit.max(1);
        let after = after.map(ScanCursor::as_str);
        let mut entries: Vec<(Domain, Arc<CachedPolicy>)> = self
            .entries
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = more
            .then(|| entries.last().map(|(d, _)| ScanCursor::new(d.as_str())))
            .flatten();
        Box::pin(std::future::ready(Ok(ScanPage {
            entries,
            skipped: 0,
            next,
        })))
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        let at = *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
        Box::pin(std::future::ready(Ok(at)))
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    fn entry(max_age: u32, fetched_at: u64) -> Arc<CachedPolicy> {
        let body =
            format!("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: {max_age}\n");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(fetched_at);
        Arc::new(CachedPolicy::new(
            body.parse().unwrap(),
            "a1".parse().unwrap(),
            at,
        ))
    }

    fn d(name: &str) -> Domain {
        name.parse().unwrap()
    }

    fn put(cache: &MemoryCache, domain: &str, e: Arc<CachedPolicy>) {
        cache.put(&d(domain), e).now_or_never().unwrap().unwrap();
    }

    fn get(cache: &MemoryCache, domain: &str) -> Option<Arc<CachedPolicy>> {
        cache.get(&d(domain)).now_or_never().unwrap().unwrap()
    }

    #[test]
    fn older_entry_never_overwrites_newer() {
        let cache = MemoryCache::new(10);
        put(&cache, "a.example", entry(100, 2000));
        put(&cache, "a.example", entry(100, 1000));
        let got = get(&cache, "a.example").unwrap();
        assert_eq!(got.fetched_at(), entry(100, 2000).fetched_at());
    }

    #[test]
    fn keeps_a_working_set_of_exactly_its_capacity() {
        for capacity in [100, 1000, 10_000, 100_000] {
            let cache = MemoryCache::new(capacity);
            for i in 0..capacity {
                put(&cache, &format!("d{i}.example"), entry(100, 1000));
            }
            assert_eq!(cache.len(), capacity);
        }
    }

    #[test]
    fn bounded_by_capacity() {
        let cache = MemoryCache::new(100);
        for i in 0..1000u64 {
            put(&cache, &format!("d{i}.example"), entry(100, 1000 + i));
        }
        // The capacity, its headroom and quick_cache's own slack: bounded, nowhere near 1000.
        assert!(cache.len() <= 160, "{} entries", cache.len());
        let kept = (0..1000)
            .map(|i| format!("d{i}.example"))
            .find(|name| get(&cache, name).is_some())
            .expect("some entry kept");
        cache.remove(&d(&kept)).now_or_never().unwrap().unwrap();
        assert!(get(&cache, &kept).is_none());
    }

    #[test]
    fn scan_pages_in_domain_order() {
        let cache = MemoryCache::new(10);
        for name in ["c.example", "a.example", "b.example"] {
            put(&cache, name, entry(100, 1000));
        }
        let first = cache.scan(None, 2).now_or_never().unwrap().unwrap();
        let names: Vec<&str> = first.entries.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(names, ["a.example", "b.example"]);
        let cursor = first.next.expect("more to come");
        let rest = cache
            .scan(Some(&cursor), 2)
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(rest.entries.len(), 1);
        assert!(rest.next.is_none());
    }
}
