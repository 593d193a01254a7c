//! PostgreSQL, in postfix-mta-sts-resolver's layout:
//!
//! ```sql
//! CREATE TABLE sts_policy_cache (id serial primary key, domain text, ts integer, pol_id text, pol_body jsonb);
//! CREATE UNIQUE INDEX sts_policy_domain ON sts_policy_cache (domain);
//! CREATE INDEX sts_policy_domain_ts ON sts_policy_cache (domain, ts);
//! CREATE TABLE proactive_fetch_ts (id serial primary key, last_fetch_ts integer);
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use mta_sts_cache::{
    BoxFuture, CacheAdmin, CacheError, CachedPolicy, Corruption, PolicyCache, ScanCursor, ScanPage,
};
use mta_sts_policy::Domain;
use tokio_postgres::NoTls;

use crate::json::{from_json_value, to_json_value};
use crate::unix;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS sts_policy_cache (id serial primary key, domain text, ts integer, pol_id text, pol_body jsonb);
    CREATE UNIQUE INDEX IF NOT EXISTS sts_policy_domain ON sts_policy_cache (domain);
    CREATE INDEX IF NOT EXISTS sts_policy_domain_ts ON sts_policy_cache (domain, ts);
    CREATE TABLE IF NOT EXISTS proactive_fetch_ts (id serial primary key, last_fetch_ts integer);";

/// A policy cache in PostgreSQL, through a connection pool.
///
/// Construction does not connect: the daemon starts even while the database is down, and the
/// tables are created by the first operation that reaches it. Every operation has a deadline.
#[derive(Clone)]
pub struct PostgresCache {
    pool: Pool,
    timeout: Duration,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for PostgresCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCache")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> CacheError {
    CacheError::Unavailable(Box::new(e))
}

fn read_row(row: &tokio_postgres::Row, first: usize) -> Result<Arc<CachedPolicy>, Corruption> {
    let column = |_| Corruption::Format("unexpected column types in sts_policy_cache");
    let ts: i32 = row.try_get(first).map_err(column)?;
    let id: String = row.try_get(first + 1).map_err(column)?;
    let body: String = row.try_get(first + 2).map_err(column)?;
    entry_from(ts, &id, &body)
}

/// The `integer` column holds seconds up to 2038-01-19; later times are refused, not clamped.
fn to_column(at: SystemTime) -> Result<i32, CacheError> {
    let secs = unix::to_secs(at);
    i32::try_from(secs).map_err(|_| CacheError::Unavailable(Box::new(TimeOutOfRange(secs))))
}

/// A time the shared layout's `integer` column cannot hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "time {0} (seconds since 1970) does not fit the integer column of the shared layout (2038 limit)"
)]
struct TimeOutOfRange(u64);

fn entry_from(ts: i32, id: &str, body: &str) -> Result<Arc<CachedPolicy>, Corruption> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|_| Corruption::Format("pol_body is not JSON"))?;
    let policy = from_json_value(&value)?;
    let id = id.parse()?;
    Ok(Arc::new(CachedPolicy::new(
        policy,
        id,
        unix::from_i64(i64::from(ts))?,
    )))
}

impl PostgresCache {
    /// A cache for the database named by `dsn` (`postgres://user:password@host:port/db` or
    /// `host=… user=… dbname=…`), with at most `max_connections` connections.
    pub fn new(dsn: &str, max_connections: usize, timeout: Duration) -> Result<Self, CacheError> {
        let config: tokio_postgres::Config =
            dsn.parse()
                .map_err(|e: tokio_postgres::Error| CacheError::Open {
                    target: redact(dsn),
                    source: Box::new(e),
                })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()
            .map_err(|e| CacheError::Open {
                target: redact(dsn),
                source: Box::new(e),
            })?;
        Ok(Self {
            pool,
            timeout,
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, CacheError> {
        let mut client = self.pool.get().await.map_err(unavailable)?;
        if !self.ready.load(Ordering::Acquire) {
            // Create only what is missing: a role without CREATE rights can use existing tables
            // (made by postfix-mta-sts-resolver or an administrator).
            let present = client
                .query_one(
                    "SELECT to_regclass('sts_policy_cache') IS NOT NULL AND to_regclass('proactive_fetch_ts') IS NOT NULL",
                    &[],
                )
                .await
                .map_err(unavailable)?;
            if !present.try_get::<_, bool>(0).unwrap_or(false) {
                let created = async {
                    let tx = client.transaction().await?;
                    tx.execute("SELECT pg_advisory_xact_lock(8461)", &[])
                        .await?;
                    tx.batch_execute(SCHEMA).await?;
                    tx.commit().await
                }
                .await;
                if let Err(e) = created {
                    // Never hand a connection in an unknown state back to the pool.
                    drop(deadpool_postgres::Object::take(client));
                    return Err(unavailable(e));
                }
            }
            self.ready.store(true, Ordering::Release);
        }
        Ok(client)
    }

    async fn within<T>(
        &self,
        f: impl Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .unwrap_or(Err(CacheError::Timeout(self.timeout)))
    }
}

/// The DSN without its password, for error messages.
fn redact(dsn: &str) -> String {
    match (dsn.find("://"), dsn.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &dsn[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &dsn[..s + 3], user, &dsn[at..])
        }
        _ => dsn
            .split_whitespace()
            .filter(|kv| !kv.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl PolicyCache for PostgresCache {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let domain = domain.as_str();
            let row = client
                .query_opt(
                    "SELECT ts, pol_id, pol_body::text FROM sts_policy_cache WHERE domain = $1",
                    &[&domain],
                )
                .await
                .map_err(unavailable)?;
            Ok(row.map(|r| read_row(&r, 0)).transpose()?)
        }))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let domain = domain.as_str();
            let ts = to_column(entry.fetched_at())?;
            let body = to_json_value(entry.policy()).to_string();
            client
                .execute(
                    "INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES ($1, $2, $3, $4::text::jsonb)
                     ON CONFLICT (domain) DO UPDATE SET ts = EXCLUDED.ts, pol_id = EXCLUDED.pol_id, pol_body = EXCLUDED.pol_body
                     WHERE sts_policy_cache.ts <= EXCLUDED.ts",
                    &[&domain, &ts, &entry.id().as_str(), &body],
                )
                .await
                .map_err(unavailable)?;
            Ok(())
        }))
    }
}

impl CacheAdmin for PostgresCache {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let domain = domain.as_str();
            client
                .execute("DELETE FROM sts_policy_cache WHERE domain = $1", &[&domain])
                .await
                .map_err(unavailable)?;
            Ok(())
        }))
    }

    /// Pages in domain order; the cursor is the last domain of the page.
    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    "SELECT domain, ts, pol_id, pol_body::text FROM sts_policy_cache WHERE domain > $1 ORDER BY domain LIMIT $2",
                    &[&after.map_or("", ScanCursor::as_str), &limit],
                )
                .await
                .map_err(unavailable)?;
            let mut page = ScanPage::default();
            for row in &rows {
                let Ok(domain) = row.try_get::<_, String>(0) else {
                    page.skipped += 1;
                    continue;
                };
                match (domain.parse::<Domain>(), read_row(row, 1)) {
                    (Ok(parsed), Ok(entry)) => page.entries.push((parsed, entry)),
                    _ => page.skipped += 1,
                }
                page.next = Some(ScanCursor::new(domain));
            }
            if i64::try_from(rows.len()).unwrap_or(i64::MAX) < limit {
                page.next = None;
            }
            Ok(page)
        }))
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT last_fetch_ts FROM proactive_fetch_ts WHERE id = 1",
                    &[],
                )
                .await
                .map_err(unavailable)?;
            Ok(row
                .and_then(|r| r.try_get::<_, Option<i32>>(0).ok().flatten())
                .map(|ts| unix::from_i64(i64::from(ts)))
                .transpose()?)
        }))
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(self.within(async move {
            let client = self.client().await?;
            let ts = to_column(at)?;
            client
                .execute(
                    "INSERT INTO proactive_fetch_ts (id, last_fetch_ts) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET last_fetch_ts = EXCLUDED.last_fetch_ts",
                    &[&ts],
                )
                .await
                .map_err(unavailable)?;
            Ok(())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://sts:secret@db:5432/sts"),
            "postgres://sts:***@db:5432/sts"
        );
        assert_eq!(
            redact("host=db user=sts password=secret dbname=sts"),
            "host=db user=sts dbname=sts"
        );
    }
}
