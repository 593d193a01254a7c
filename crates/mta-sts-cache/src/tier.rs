//! The in-process tier in front of a remote backend.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::{BoxFuture, CacheError, CachedPolicy, PolicyCache, ScanPage};

/// A small in-process cache in front of a remote backend (Redis, PostgreSQL), so a cached lookup
/// does not wait on a network round trip.
///
/// - `get` answers from the tier when the entry was read or written less than `grace` ago, so
///   changes written by other daemons sharing the store are seen within `grace`; otherwise it asks
///   the backend and refreshes the tier.
/// - When the backend fails (error or deadline), lookups are answered from the tier whatever its
///   age (the resolver still never applies an expired policy), and writes are kept in a bounded
///   queue and replayed, newest per domain, once the backend answers again: an acknowledged write
///   is not lost while the daemon runs.
/// - A failing backend is logged once when it starts failing and once when it recovers.
pub struct TieredCache<B> {
    back: B,
    grace: Duration,
    capacity: usize,
    front: Mutex<HashMap<String, (Instant, Arc<CachedPolicy>)>>,
    pending: Mutex<HashMap<String, Arc<CachedPolicy>>>,
    failing: AtomicBool,
}

impl<B> std::fmt::Debug for TieredCache<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("grace", &self.grace)
            .field("capacity", &self.capacity)
            .field("failing", &self.failing.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<B: PolicyCache> TieredCache<B> {
    /// A tier of at most `capacity` entries, trusted for `grace`, in front of `back`.
    pub fn new(back: B, grace: Duration, capacity: usize) -> Self {
        Self {
            back,
            grace,
            capacity: capacity.max(1),
            front: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            failing: AtomicBool::new(false),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.back
    }

    /// Writes acknowledged but not yet stored in the backend.
    pub fn pending_writes(&self) -> usize {
        lock(&self.pending).len()
    }

    fn remember(&self, domain: &str, entry: Arc<CachedPolicy>) {
        let mut front = lock(&self.front);
        if front
            .get(domain)
            .is_some_and(|(_, old)| old.fetched_at() > entry.fetched_at())
        {
            return;
        }
        if front.len() >= self.capacity && !front.contains_key(domain) {
            let grace = self.grace;
            front.retain(|_, (at, _)| at.elapsed() < grace);
            if front.len() >= self.capacity {
                front.clear();
            }
        }
        front.insert(domain.to_owned(), (Instant::now(), entry));
    }

    fn failed(&self, error: &CacheError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "cache backend failing; answering from the in-process tier and queueing writes");
        }
    }

    async fn recovered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            let queued: Vec<(String, Arc<CachedPolicy>)> = lock(&self.pending).drain().collect();
            let count = queued.len();
            for (domain, entry) in queued {
                if let Err(error) = self.back.put(&domain, Arc::clone(&entry)).await {
                    self.failed(&error);
                    lock(&self.pending).entry(domain).or_insert(entry);
                    return;
                }
            }
            tracing::info!(replayed = count, "cache backend recovered");
        }
    }
}

impl<B: PolicyCache> PolicyCache for TieredCache<B> {
    fn get<'a>(
        &'a self,
        domain: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        Box::pin(async move {
            let cached = lock(&self.front).get(domain).cloned();
            let fresh = cached.as_ref().filter(|(at, _)| at.elapsed() < self.grace);
            if let Some((_, entry)) = fresh {
                return Ok(Some(Arc::clone(entry)));
            }
            match self.back.get(domain).await {
                Ok(found) => {
                    self.recovered().await;
                    let newest = match (found, cached.map(|(_, e)| e)) {
                        (Some(b), Some(f)) if f.fetched_at() > b.fetched_at() => Some(f),
                        (b, f) => b.or(f),
                    };
                    if let Some(entry) = &newest {
                        self.remember(domain, Arc::clone(entry));
                    }
                    Ok(newest)
                }
                Err(error) => {
                    self.failed(&error);
                    match cached {
                        Some((_, entry)) => Ok(Some(entry)),
                        None => Err(error),
                    }
                }
            }
        })
    }

    fn put<'a>(
        &'a self,
        domain: &'a str,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            self.remember(domain, Arc::clone(&entry));
            match self.back.put(domain, Arc::clone(&entry)).await {
                Ok(()) => {
                    self.recovered().await;
                    Ok(())
                }
                Err(error) => {
                    self.failed(&error);
                    let mut pending = lock(&self.pending);
                    if pending.len() >= self.capacity && !pending.contains_key(domain) {
                        return Err(error);
                    }
                    let keep = pending
                        .get(domain)
                        .is_none_or(|old| old.fetched_at() <= entry.fetched_at());
                    if keep {
                        pending.insert(domain.to_owned(), entry);
                    }
                    Ok(())
                }
            }
        })
    }

    fn remove<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            lock(&self.front).remove(domain);
            lock(&self.pending).remove(domain);
            self.back.remove(domain).await
        })
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        self.back.scan(after, limit)
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<u64>, CacheError>> {
        self.back.last_refresh()
    }

    fn set_last_refresh(&self, at: u64) -> BoxFuture<'_, Result<(), CacheError>> {
        self.back.set_last_refresh(at)
    }
}
