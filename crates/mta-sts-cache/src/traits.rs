//! The interfaces between the resolver and a cache.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use mta_sts_policy::Domain;

use crate::{CacheError, CachedPolicy};

/// A boxed future, so that the cache traits stay object-safe (a program can pick its backend at
/// run time and hold an `Arc<dyn PolicyCache>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the resolver needs from a cache: the entry of a domain, and storing a new one.
///
/// This is the trait to implement to give the resolver your own storage. Implementations decide
/// nothing about freshness: entries carry their fetch time and the resolver judges them.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use mta_sts_cache::{BoxFuture, CacheError, CachedPolicy, PolicyCache};
/// use mta_sts_policy::Domain;
///
/// #[derive(Default)]
/// struct MyCache(Mutex<HashMap<Domain, Arc<CachedPolicy>>>);
///
/// impl PolicyCache for MyCache {
///     fn get<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
///         let found = self.0.lock().unwrap().get(domain).cloned();
///         Box::pin(async move { Ok(found) })
///     }
///     fn put<'a>(&'a self, domain: &'a Domain, entry: Arc<CachedPolicy>) -> BoxFuture<'a, Result<(), CacheError>> {
///         let mut map = self.0.lock().unwrap();
///         // Never let an older fetch replace a newer one.
///         if map.get(domain).is_none_or(|old| old.fetched_at() <= entry.fetched_at()) {
///             map.insert(domain.clone(), entry);
///         }
///         Box::pin(async { Ok(()) })
///     }
/// }
/// ```
pub trait PolicyCache: Send + Sync {
    /// The entry for `domain`, expired or not.
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>>;

    /// Stores `entry` unless the cache holds a newer one for `domain` (an older fetch never
    /// overwrites a newer one).
    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>>;
}

/// Where a [`CacheAdmin::scan`] stopped: pass it back to resume. Backend-specific (a domain for
/// ordered stores, a Redis `SCAN` cursor), so treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScanCursor(String);

impl ScanCursor {
    /// A cursor with this backend-specific content.
    pub fn new(position: impl Into<String>) -> Self {
        Self(position.into())
    }

    /// The backend-specific content.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of [`CacheAdmin::scan`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ScanPage {
    /// The entries of this page.
    pub entries: Vec<(Domain, Arc<CachedPolicy>)>,
    /// Entries on this page that could not be read (corrupt, or a key that is not a domain), skipped.
    pub skipped: usize,
    /// The cursor for the next page, or `None` when the scan is complete.
    pub next: Option<ScanCursor>,
}

/// What operating a cache needs beyond lookups: forgetting a domain, walking every entry
/// (proactive refresh, administration), and the time of the last complete proactive refresh,
/// shared by every daemon using the same store so that they take turns.
pub trait CacheAdmin: PolicyCache {
    /// Forgets `domain`.
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Up to about `limit` entries after `after` (from the start when `None`); pass the returned
    /// [`ScanPage::next`] to resume. A complete scan sees every entry stored before it began and
    /// not removed during it at least once.
    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>>;

    /// When the last complete proactive refresh finished, if ever.
    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>>;

    /// Records that a complete proactive refresh finished at `at`.
    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>>;

    /// Writes acknowledged but not yet stored (a tier in front of a failing backend queues
    /// them), or `None` for a cache that never queues.
    fn queued_writes(&self) -> Option<usize> {
        None
    }
}

impl<C: PolicyCache + ?Sized> PolicyCache for Arc<C> {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        (**self).get(domain)
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        (**self).put(domain, entry)
    }
}

impl<C: CacheAdmin + ?Sized> CacheAdmin for Arc<C> {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        (**self).remove(domain)
    }

    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        (**self).scan(after, limit)
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        (**self).last_refresh()
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        (**self).set_last_refresh(at)
    }

    fn queued_writes(&self) -> Option<usize> {
        (**self).queued_writes()
    }
}
