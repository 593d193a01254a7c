//! The MTA-STS policy cache: what is stored ([`CachedPolicy`]), the interface the resolver uses
//! ([`PolicyCache`]: get and put), what operating a cache adds ([`CacheAdmin`]: remove, scan, the
//! last proactive refresh), and a bounded in-memory cache ([`MemoryCache`]).
//!
//! RFC 8461 §3.2: "Well-behaved clients SHOULD cache a policy for up to \[max_age\] from the last
//! policy fetch time"; §10: MTA-STS protects a domain only once a policy has been cached (trust on
//! first use). The cache is what makes the protection last.
//!
//! # Design
//!
//! Sans-io: no runtime, no clock, no sockets. Entries carry their fetch time and answer freshness
//! questions for a `now` the caller passes in. The traits are object-safe (methods return boxed
//! futures), so a program can choose a backend at run time. Persistent backends (SQLite, Redis,
//! PostgreSQL) and the in-process tier in front of them live in the `mta-sts-store` crate; an MTA
//! with its own storage implements [`PolicyCache`] (two methods) and hands it to the resolver.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use mta_sts_cache::{CachedPolicy, MemoryCache, PolicyCache};
//! use mta_sts_policy::Domain;
//!
//! # futures_util::FutureExt::now_or_never(async {
//! let cache = MemoryCache::new(10_000);
//! let domain: Domain = "example.com".parse()?;
//! let policy = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n".parse()?;
//! let fetched = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! cache.put(&domain, Arc::new(CachedPolicy::new(policy, "20240101".parse()?, fetched))).await?;
//! let got = cache.get(&domain).await?.expect("cached");
//! assert!(got.is_valid_at(fetched + Duration::from_secs(86_400)));
//! assert!(!got.is_valid_at(fetched + Duration::from_secs(86_401)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap().unwrap();
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | No optional features. |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use entry::CachedPolicy;
pub use error::{CacheError, Corruption};
pub use memory::MemoryCache;
pub use traits::{BoxFuture, CacheAdmin, PolicyCache, ScanCursor, ScanPage};

mod entry;
mod error;
mod memory;
mod traits;
