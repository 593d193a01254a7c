//! The in-process tier in front of a persistent backend.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use mta_sts_cache::{
    BoxFuture, CacheAdmin, CacheError, CachedPolicy, PolicyCache, ScanCursor, ScanPage,
};
use mta_sts_policy::Domain;
use tokio::time::Instant;

/// How long the backend is left alone after a failure before one operation probes it again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A small in-process cache in front of a persistent backend (SQLite, Redis, PostgreSQL), so a
/// cached lookup does not wait on disk or network.
///
/// - `get` answers from the tier when the entry was read or written less than `grace` ago, so
///   changes written by other daemons sharing the store are seen within `grace`; otherwise it asks
///   the backend and refreshes the tier.
/// - When the backend fails (error or deadline), it is left alone for a few seconds (a circuit
///   breaker): lookups are answered at once from the tier whatever the entry's age (the resolver
///   still never applies an expired policy), and writes are acknowledged into a bounded queue.
///   Then one operation probes the backend; once it answers, the queue is replayed in the
///   background, newest entry per domain, and an entry leaves the queue only once stored.
/// - A failing backend is logged once when it starts failing and once when it recovers.
///
/// Needs a tokio runtime (the replay runs as a task).
pub struct TieredCache<B> {
    inner: Arc<Inner<B>>,
}

struct Inner<B> {
    back: B,
    grace: Duration,
    capacity: usize,
    front: quick_cache::sync::Cache<Domain, (Instant, Arc<CachedPolicy>)>,
    pending: Mutex<HashMap<Domain, Arc<CachedPolicy>>>,
    down_until: Mutex<Option<Instant>>,
    replaying: AtomicBool,
    /// Serialises updates of the front (reads take no lock), so an older entry never replaces a
    /// newer one between the check and the insert.
    remembering: Mutex<()>,
    counts: Counts,
}

/// What [`TieredCache::stats`] reports; relaxed atomics, so counting costs no lock.
#[derive(Default)]
struct Counts {
    tier_hits: AtomicU64,
    tier_misses: AtomicU64,
    backend_hits: AtomicU64,
    backend_misses: AtomicU64,
    backend_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts of a [`TieredCache`]'s reads since it was created, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Reads answered by the in-process tier alone: an entry younger than `grace`.
    pub tier_hits: u64,
    /// Reads the in-process tier could not answer alone (no entry, or one older than `grace`).
    pub tier_misses: u64,
    /// Of those, reads the backend answered with an entry.
    pub backend_hits: u64,
    /// Of those, reads the backend answered with nothing.
    pub backend_misses: u64,
    /// Backend operations (reads, writes, replays of queued writes) that failed.
    pub backend_errors: u64,
}

impl<B> std::fmt::Debug for TieredCache<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("grace", &self.inner.grace)
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn newest(a: Option<Arc<CachedPolicy>>, b: Option<Arc<CachedPolicy>>) -> Option<Arc<CachedPolicy>> {
    match (a, b) {
        (Some(a), Some(b)) if b.fetched_at() > a.fetched_at() => Some(b),
        (a, b) => a.or(b),
    }
}

impl<B: CacheAdmin + 'static> TieredCache<B> {
    /// A tier that keeps `capacity` entries (and at most about a quarter more), trusted for
    /// `grace`, in front of `back`.
    #[must_use]
    pub fn new(back: B, grace: Duration, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                back,
                grace,
                capacity,
                // Headroom as in `MemoryCache`: quick_cache sized exactly evicts at 93-99.5% of
                // its capacity, so a working set of exactly `capacity` domains would keep missing.
                front: quick_cache::sync::Cache::new(capacity.saturating_add(capacity / 4 + 16)),
                pending: Mutex::new(HashMap::new()),
                down_until: Mutex::new(None),
                replaying: AtomicBool::new(false),
                remembering: Mutex::new(()),
                counts: Counts::default(),
            }),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.inner.back
    }

    /// Writes acknowledged but not yet stored in the backend.
    pub fn pending_writes(&self) -> usize {
        lock(&self.inner.pending).len()
    }

    /// The reads and backend failures counted since the tier was created.
    pub fn stats(&self) -> TierStats {
        let c = &self.inner.counts;
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TierStats {
            tier_hits: read(&c.tier_hits),
            tier_misses: read(&c.tier_misses),
            backend_hits: read(&c.backend_hits),
            backend_misses: read(&c.backend_misses),
            backend_errors: read(&c.backend_errors),
        }
    }

    /// The entries held in the in-process tier.
    pub fn tier_len(&self) -> usize {
        self.inner.front.len()
    }
}

impl<B: CacheAdmin + 'static> Inner<B> {
    fn remember(&self, domain: &Domain, entry: Arc<CachedPolicy>) {
        let _serialised = lock(&self.remembering);
        let keep = self
            .front
            .get(domain)
            .is_none_or(|(_, old)| old.fetched_at() <= entry.fetched_at());
        if keep {
            self.front.insert(domain.clone(), (Instant::now(), entry));
        }
    }

    /// Whether the backend is being left alone after a failure.
    fn is_down(&self) -> bool {
        lock(&self.down_until).is_some_and(|until| Instant::now() < until)
    }

    fn failed(&self, error: &CacheError) {
        bump(&self.counts.backend_errors);
        let mut down = lock(&self.down_until);
        if down.is_none() {
            tracing::warn!(%error, "cache backend failing; answering from the in-process tier and queueing writes");
        }
        *down = Some(Instant::now() + RETRY_AFTER);
    }

    fn queue(&self, domain: &Domain, entry: Arc<CachedPolicy>) -> Result<(), CacheError> {
        let mut pending = lock(&self.pending);
        if pending.len() >= self.capacity && !pending.contains_key(domain) {
            return Err(CacheError::Unavailable(Box::new(std::io::Error::other(
                "cache backend down and the write queue is full",
            ))));
        }
        if pending
            .get(domain)
            .is_none_or(|old| old.fetched_at() <= entry.fetched_at())
        {
            pending.insert(domain.clone(), entry);
        }
        Ok(())
    }

    /// The backend answered: clear the failure, and replay queued writes in the background.
    fn succeeded(self: &Arc<Self>) {
        if lock(&self.down_until).take().is_some() {
            tracing::info!(
                queued = lock(&self.pending).len(),
                "cache backend answering again"
            );
        }
        if lock(&self.pending).is_empty() || self.replaying.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            inner.replay().await;
            inner.replaying.store(false, Ordering::Release);
        });
    }

    async fn replay(&self) {
        let queued: Vec<(Domain, Arc<CachedPolicy>)> = lock(&self.pending)
            .iter()
            .map(|(d, e)| (d.clone(), Arc::clone(e)))
            .collect();
        for (domain, entry) in queued {
            if let Err(error) = self.back.put(&domain, Arc::clone(&entry)).await {
                // Everything not yet stored stays queued.
                self.failed(&error);
                return;
            }
            let mut pending = lock(&self.pending);
            // A newer write may have been queued meanwhile: only remove what was stored.
            if pending.get(&domain).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
                pending.remove(&domain);
            }
        }
    }
}

impl<B: CacheAdmin + 'static> PolicyCache for TieredCache<B> {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        let inner = &self.inner;
        Box::pin(async move {
            let front = inner.front.get(domain);
            // Every put also updates the front, so a fresh front entry is the newest known: the
            // hot path takes no lock beyond the front's own shard.
            if let Some((_, entry)) = front.as_ref().filter(|(at, _)| at.elapsed() < inner.grace) {
                bump(&inner.counts.tier_hits);
                return Ok(Some(Arc::clone(entry)));
            }
            bump(&inner.counts.tier_misses);
            let queued = lock(&inner.pending).get(domain).cloned();
            let local = newest(front.map(|(_, e)| e), queued.clone());
            if inner.is_down() {
                return Ok(local);
            }
            match inner.back.get(domain).await {
                Ok(found) => {
                    bump(match found {
                        Some(_) => &inner.counts.backend_hits,
                        None => &inner.counts.backend_misses,
                    });
                    self.inner.succeeded();
                    // Every stored write reached the backend, so what it answers is the truth
                    // but for writes still queued: an entry only the front knows was removed
                    // from the store (purged, perhaps through another daemon) and goes here too.
                    let best = newest(found, queued);
                    match &best {
                        Some(entry) => inner.remember(domain, Arc::clone(entry)),
                        None => {
                            inner.front.remove(domain);
                        }
                    }
                    Ok(best)
                }
                Err(error) => {
                    inner.failed(&error);
                    match local {
                        Some(entry) => Ok(Some(entry)),
                        None => Err(error),
                    }
                }
            }
        })
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        let inner = &self.inner;
        Box::pin(async move {
            inner.remember(domain, Arc::clone(&entry));
            if inner.is_down() {
                return inner.queue(domain, entry);
            }
            match inner.back.put(domain, Arc::clone(&entry)).await {
                Ok(()) => {
                    self.inner.succeeded();
                    Ok(())
                }
                Err(error) => {
                    inner.failed(&error);
                    inner.queue(domain, entry)
                }
            }
        })
    }
}

impl<B: CacheAdmin + 'static> CacheAdmin for TieredCache<B> {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            self.inner.front.remove(domain);
            lock(&self.inner.pending).remove(domain);
            self.inner.back.remove(domain).await
        })
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        self.inner.back.scan(after, limit)
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        self.inner.back.last_refresh()
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        self.inner.back.set_last_refresh(at)
    }

    fn queued_writes(&self) -> Option<usize> {
        Some(self.pending_writes())
    }
}
