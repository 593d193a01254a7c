//! Persistent MTA-STS policy stores for [`mta_sts_cache`]'s traits: SQLite, Redis (with Sentinel)
//! and PostgreSQL, each in postfix-mta-sts-resolver's layout so either program reads what the other
//! wrote, and [`TieredCache`], the in-process tier that keeps lookups off the disk and network.
//!
//! Every store implements [`PolicyCache`](mta_sts_cache::PolicyCache) (what the resolver needs)
//! and [`CacheAdmin`](mta_sts_cache::CacheAdmin) (remove, scan, the shared time of the last
//! proactive refresh), re-checks what it reads with the policy parser, and gives every operation a
//! deadline, so a stalled backend fails one operation instead of holding up lookups.
//!
//! # Design
//!
//! This crate does I/O and needs a tokio runtime: SQLite calls run on tokio's blocking pool, Redis
//! and PostgreSQL use async clients, and the tier replays queued writes as a task.
//!
//! # Example
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use mta_sts_cache::PolicyCache;
//! use mta_sts_store::{SqliteCache, TieredCache};
//!
//! let store = SqliteCache::open("/var/lib/mta-sts/cache.db")?;
//! let cache = TieredCache::new(store, Duration::from_secs(60), 100_000);
//! let entry = cache.get(&"example.com".parse()?).await?;
//! # Ok(()) }
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | no | [`SqliteCache`]: the embedded store (rusqlite, bundled SQLite) |
//! | `redis` | no | [`RedisCache`]: Redis and Redis Sentinel (redis-rs) |
//! | `postgres` | no | [`PostgresCache`]: PostgreSQL (tokio-postgres with a deadpool pool) |
//!
//! [`TieredCache`] is always available.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCache;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteCache;
pub use tier::{TierStats, TieredCache};

#[cfg(feature = "__json")]
mod json;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;
mod tier;
#[cfg(feature = "__json")]
mod unix;
