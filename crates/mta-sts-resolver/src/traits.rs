use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ResultType;

/// DNS TXT lookups, as the resolver needs them.
///
/// Implementations follow CNAMEs (TXT-11) and return each TXT record's character-strings.
pub trait TxtLookup: Send + Sync + 'static {
    /// Why a lookup failed (SERVFAIL, timeout, ...). NXDOMAIN and NODATA are not errors.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The TXT records at `name` (an absolute name such as `_mta-sts.example.com`), each a list of
    /// character-strings. An empty list means NXDOMAIN or NODATA: the name has no TXT record.
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Vec<Vec<u8>>>, Self::Error>> + Send;
}

impl<T: TxtLookup> TxtLookup for std::sync::Arc<T> {
    type Error = T::Error;

    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Vec<Vec<u8>>>, Self::Error>> + Send {
        (**self).lookup_txt(name)
    }
}

/// Errors of a policy fetch say which TLSRPT result type they are (RFC 8460 §4.3.2.2).
pub trait FetchFailure: std::error::Error + Send + Sync + 'static {
    /// `sts-webpki-invalid` for certificate failures, `sts-policy-fetch-error` for the rest.
    fn result_type(&self) -> ResultType;
}

/// HTTPS policy fetches, as the resolver needs them.
pub trait PolicyFetch: Send + Sync + 'static {
    /// Why a fetch failed.
    type Error: FetchFailure;

    /// The body of `https://mta-sts.<domain>/.well-known/mta-sts.txt`, fetched under the rules of
    /// RFC 8461 §3.3 (status 200 only, no redirects, no HTTP caching, size and time limits).
    fn fetch_policy(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

impl<F: PolicyFetch> PolicyFetch for std::sync::Arc<F> {
    type Error = F::Error;

    fn fetch_policy(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        (**self).fetch_policy(domain)
    }
}

/// Wall-clock time in Unix seconds. The resolver never reads the system clock itself.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// A clock that only moves when told to: for tests and simulations.
///
/// ```
/// use mta_sts_resolver::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `now` (Unix seconds).
    pub fn new(now: u64) -> Self {
        Self(AtomicU64::new(now))
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
