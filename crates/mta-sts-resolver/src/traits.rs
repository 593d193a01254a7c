use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use mta_sts_policy::Domain;

use crate::ResultType;

/// What a DNS TXT lookup found.
///
/// NXDOMAIN and NODATA are answers, not errors: both mean the domain publishes no record, which
/// the resolver treats differently from a lookup that failed (SERVFAIL, timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no TXT records (NODATA).
    NoRecords,
    /// The TXT records, each as the list of its character-strings (RFC 1035 §3.3.14).
    Records(Vec<Vec<Vec<u8>>>),
}

impl TxtAnswer {
    /// The records, empty for [`NoSuchName`](Self::NoSuchName) and [`NoRecords`](Self::NoRecords).
    pub fn records(&self) -> &[Vec<Vec<u8>>] {
        match self {
            Self::Records(records) => records,
            Self::NoSuchName | Self::NoRecords => &[],
        }
    }
}

/// DNS TXT lookups, as the resolver needs them.
///
/// Implementations follow CNAMEs (TXT-11) and return each TXT record's character-strings.
pub trait TxtLookup: Send + Sync + 'static {
    /// Why a lookup failed (SERVFAIL, timeout, ...). NXDOMAIN and NODATA are not errors.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The TXT records at `name`, an absolute name such as `_mta-sts.example.com` (no search list
    /// applies).
    fn lookup_txt(&self, name: &str)
    -> impl Future<Output = Result<TxtAnswer, Self::Error>> + Send;
}

impl<T: TxtLookup> TxtLookup for std::sync::Arc<T> {
    type Error = T::Error;

    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<TxtAnswer, Self::Error>> + Send {
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
        domain: &Domain,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

impl<F: PolicyFetch> PolicyFetch for std::sync::Arc<F> {
    type Error = F::Error;

    fn fetch_policy(
        &self,
        domain: &Domain,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        (**self).fetch_policy(domain)
    }
}

/// Wall-clock time. The resolver never reads the system clock itself.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// A clock that only moves when told to: for tests and simulations.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use mta_sts_resolver::{Clock, ManualClock};
///
/// let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), start + Duration::from_secs(60));
/// ```
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    /// A clock showing `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = crate::later(*now, by);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: SystemTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}
