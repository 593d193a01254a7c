//! SQLite, in postfix-mta-sts-resolver's layout, so either program can read what the other wrote.
//!
//! ```sql
//! CREATE TABLE sts_policy_cache (domain TEXT, ts INTEGER, pol_id TEXT, pol_body TEXT);
//! CREATE UNIQUE INDEX sts_policy_domain ON sts_policy_cache (domain);
//! CREATE INDEX sts_policy_domain_ts ON sts_policy_cache (domain, ts);
//! CREATE TABLE proactive_fetch_ts (id INTEGER PRIMARY KEY, last_fetch_ts INTEGER);
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mta_sts_cache::{
    BoxFuture, CacheAdmin, CacheError, CachedPolicy, Corruption, PolicyCache, ScanCursor, ScanPage,
};
use mta_sts_policy::Domain;
use rusqlite::{Connection, OptionalExtension, params};

use crate::json::{from_json, to_json};
use crate::unix;

/// A policy cache in a SQLite file (WAL journal). Blocking SQLite calls run on tokio's blocking pool,
/// never on the async worker threads; a committed write survives `kill -9`.
#[derive(Debug, Clone)]
pub struct SqliteCache {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    timeout: std::time::Duration,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> CacheError {
    CacheError::Unavailable(Box::new(e))
}

impl SqliteCache {
    /// Opens (creating if needed) the cache at `path`. Errors say what is wrong with the file: not
    /// writable, not a database, or a table of another shape.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CacheError> {
        let path = path.as_ref().to_path_buf();
        let open_error = |e: rusqlite::Error| CacheError::Open {
            target: path.display().to_string(),
            source: diagnose(&path, e),
        };
        let conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_error)?;
        // Read as a query: the pragma returns the mode now in force.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), %mode, "SQLite refused WAL journaling (network or read-only file system?); writes will block readers");
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sts_policy_cache (domain TEXT, ts INTEGER, pol_id TEXT, pol_body TEXT);
             CREATE UNIQUE INDEX IF NOT EXISTS sts_policy_domain ON sts_policy_cache (domain);
             CREATE INDEX IF NOT EXISTS sts_policy_domain_ts ON sts_policy_cache (domain, ts);
             CREATE TABLE IF NOT EXISTS proactive_fetch_ts (id INTEGER PRIMARY KEY, last_fetch_ts INTEGER);",
        )
        .map_err(open_error)?;
        // Fail now, not at the first lookup, if the file is read-only or the tables differ.
        conn.execute_batch("BEGIN IMMEDIATE; SELECT domain, ts, pol_id, pol_body FROM sts_policy_cache LIMIT 0; ROLLBACK;")
            .map_err(open_error)?;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
            timeout: std::time::Duration::from_secs(5),
        })
    }

    /// Sets the deadline of each operation (default 5 s): a stalled disk makes operations fail
    /// instead of holding up lookups.
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, CacheError> + Send + 'static,
    ) -> Result<T, CacheError> {
        let conn = Arc::clone(&self.conn);
        let task = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(joined) => joined.map_err(unavailable)?,
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        }
    }
}

/// Why SQLite could not open the file, in terms of what to fix: rusqlite says "unable to open
/// database file" for a missing directory and for missing permissions alike.
#[derive(Debug, thiserror::Error)]
enum OpenProblem {
    /// The directory does not exist.
    #[error("the directory {0} does not exist")]
    NoDirectory(PathBuf),
    /// The process may not create files in the directory.
    #[error(
        "permission denied: the directory {0} is not writable by this user (SQLite creates the database and its -wal and -shm files there)"
    )]
    DirectoryNotWritable(PathBuf),
    /// The database file exists but may not be written.
    #[error("permission denied: the file {0} is not writable by this user")]
    FileNotWritable(PathBuf),
}

/// The most useful explanation of an open failure: a problem with the directory or the file's
/// permissions if there is one, else SQLite's own error.
fn diagnose(path: &Path, error: rusqlite::Error) -> Box<dyn std::error::Error + Send + Sync> {
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !directory.is_dir() {
        return Box::new(OpenProblem::NoDirectory(directory.to_owned()));
    }
    let probe = directory.join(format!(".mta-sts-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Box::new(OpenProblem::DirectoryNotWritable(directory.to_owned()));
        }
        Err(_) => {}
    }
    let file_denied = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
    if file_denied {
        return Box::new(OpenProblem::FileNotWritable(path.to_owned()));
    }
    Box::new(error)
}

fn row_to_entry(ts: i64, id: &str, body: &str) -> Result<Arc<CachedPolicy>, Corruption> {
    let policy = from_json(body)?;
    let id = id.parse()?;
    Ok(Arc::new(CachedPolicy::new(policy, id, unix::from_i64(ts)?)))
}

impl PolicyCache for SqliteCache {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        let domain = domain.as_str().to_owned();
        Box::pin(self.run(move |conn| {
            let row = conn
                .query_row(
                    "SELECT ts, pol_id, pol_body FROM sts_policy_cache WHERE domain = ?1",
                    params![domain],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(unavailable)?;
            Ok(row
                .map(|(ts, id, body)| row_to_entry(ts, &id, &body))
                .transpose()?)
        }))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        let domain = domain.as_str().to_owned();
        Box::pin(self.run(move |conn| {
            let ts = unix::to_i64(entry.fetched_at());
            conn.execute(
                "INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (domain) DO UPDATE SET ts = excluded.ts, pol_id = excluded.pol_id, pol_body = excluded.pol_body
                 WHERE sts_policy_cache.ts <= excluded.ts",
                params![domain, ts, entry.id().as_str(), to_json(entry.policy())],
            )
            .map_err(unavailable)?;
            Ok(())
        }))
    }
}

impl CacheAdmin for SqliteCache {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        let domain = domain.as_str().to_owned();
        Box::pin(self.run(move |conn| {
            conn.execute(
                "DELETE FROM sts_policy_cache WHERE domain = ?1",
                params![domain],
            )
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
        let after = after.map_or("", ScanCursor::as_str).to_owned();
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        Box::pin(self.run(move |conn| {
            let mut stmt = conn
                .prepare("SELECT domain, ts, pol_id, pol_body FROM sts_policy_cache WHERE domain > ?1 ORDER BY domain LIMIT ?2")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![after, limit], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
                })
                .map_err(unavailable)?;
            let mut page = ScanPage::default();
            for row in rows {
                // A row whose columns have unexpected types is skipped, not fatal to the scan.
                let Ok((domain, ts, id, body)) = row else {
                    page.skipped += 1;
                    continue;
                };
                page.next = Some(ScanCursor::new(domain.as_str()));
                // One bad row must not stop a proactive refresh of the others.
                match (domain.parse::<Domain>(), row_to_entry(ts, &id, &body)) {
                    (Ok(domain), Ok(entry)) => page.entries.push((domain, entry)),
                    _ => page.skipped += 1,
                }
            }
            if page.entries.len() + page.skipped < usize::try_from(limit).unwrap_or(usize::MAX) {
                page.next = None;
            }
            Ok(page)
        }))
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        Box::pin(self.run(|conn| {
            let ts: Option<i64> = conn
                .query_row(
                    "SELECT last_fetch_ts FROM proactive_fetch_ts WHERE id = 1",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            Ok(ts.map(unix::from_i64).transpose()?)
        }))
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(self.run(move |conn| {
            let ts = unix::to_i64(at);
            conn.execute(
                "INSERT INTO proactive_fetch_ts (id, last_fetch_ts) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET last_fetch_ts = excluded.last_fetch_ts",
                params![ts],
            )
            .map_err(unavailable)?;
            Ok(())
        }))
    }
}
