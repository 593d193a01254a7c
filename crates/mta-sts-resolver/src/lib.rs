//! The MTA-STS policy discovery and cache rules of
//! [RFC 8461](https://www.rfc-editor.org/rfc/rfc8461) (§3, §5.1, §10.2), with no I/O of its own.
//!
//! [`Resolver::lookup`] answers "which policy applies to this domain now?":
//!
//! - a valid cached policy checked less than `grace` ago is used without any DNS query;
//! - otherwise the `_mta-sts` TXT record is read; if its `id` equals the cached policy's, nothing is
//!   fetched (FETCH-11); if it differs, or nothing valid is cached, the policy is fetched over HTTPS;
//! - when any step fails, an unexpired cached policy still applies (CACHE-3, TXT-12); a missing
//!   record does not remove it; an expired policy is never applied (CACHE-1);
//! - a policy's lifetime extends only on a successful HTTPS fetch (A-10); once past half its
//!   lifetime a lookup hands back a [`Refresh`] to run in the background (CACHE-4);
//! - a failed fetch for one (domain, id) is not retried for `failure_backoff` (FETCH-9);
//!   "no record" is remembered for `negative_ttl`;
//! - concurrent lookups of one domain share one discovery.
//!
//! Every outcome is typed ([`Outcome`]); failures carry their TLSRPT result type ([`ResultType`]).
//!
//! # Design
//!
//! Sans-io: the resolver is generic over [`TxtLookup`], [`PolicyFetch`],
//! [`PolicyCache`](mta_sts_cache::PolicyCache) and [`Clock`]. The crate `mta-sts-fetch` provides
//! the real DNS and HTTPS implementations; tests use in-memory fakes and [`ManualClock`]. It spawns
//! nothing: background work is returned to the caller as a [`Refresh`] future.
//!
//! The common case, the system's DNS and the real HTTPS fetcher, is one call in the crate
//! `mta-sts-fetch` (`mta_sts_fetch::resolver(cache)`); `docs/embedding.md` shows more.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::{Duration, SystemTime};
//! use mta_sts_cache::MemoryCache;
//! use mta_sts_policy::Domain;
//! use mta_sts_resolver::*;
//!
//! struct Dns;
//! impl TxtLookup for Dns {
//!     type Error = Infallible;
//!     async fn lookup_txt(&self, _name: &str) -> Result<TxtAnswer, Infallible> {
//!         Ok(TxtAnswer::Records(vec![vec![b"v=STSv1; id=20240101".to_vec()]]))
//!     }
//! }
//! #[derive(Debug, thiserror::Error)]
//! #[error("unreachable")]
//! struct Down;
//! impl FetchFailure for Down {
//!     fn result_type(&self) -> ResultType { ResultType::StsPolicyFetchError }
//! }
//! struct Https;
//! impl PolicyFetch for Https {
//!     type Error = Down;
//!     async fn fetch_policy(&self, _domain: &Domain) -> Result<Vec<u8>, Down> {
//!         Ok(b"version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n".to_vec())
//!     }
//! }
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let resolver = Resolver::new(Dns, Https, MemoryCache::new(100), clock, ResolverConfig::default());
//! let domain: Domain = "example.com".parse().unwrap();
//! let first = resolver.lookup(&domain).await;
//! assert!(matches!(first.outcome(), Outcome::Fetched(_)));
//! let second = resolver.lookup(&domain).await; // within the grace period: no DNS, no HTTPS
//! assert!(matches!(second.outcome(), Outcome::Cached { reason: CacheReason::Grace, .. }));
//! # }).unwrap();
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | No optional features. |
#![forbid(unsafe_code)]

pub use outcome::{CacheReason, Failure, NoPolicy, NoRecord, Outcome, ResultType, Stage};
pub use resolver::{Lookup, Refresh, Remembered, Resolver, ResolverConfig};
pub use traits::{Clock, FetchFailure, ManualClock, PolicyFetch, TxtAnswer, TxtLookup};

mod memo;
mod outcome;
mod resolver;
mod traits;

/// `at + by`, or the farthest representable time instead of overflowing: a far-future deadline
/// means the same as an unrepresentable one.
pub(crate) fn later(at: std::time::SystemTime, by: std::time::Duration) -> std::time::SystemTime {
    at.checked_add(by).unwrap_or_else(|| {
        // About 292 billion years past the epoch: no clock reaches it.
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i64::MAX as u64)
    })
}
