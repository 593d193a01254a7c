use mta_sts_cache::{CacheAdmin, CacheError, PolicyCache};
use mta_sts_store::SqliteCache;
use rusqlite::Connection;

use crate::conformance::{d, entry, t, temp_db};

/// What postfix-mta-sts-resolver creates and writes (its SQLite cache), reproduced with plain SQL.
fn python_store(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS sts_policy_cache (domain text, ts integer, pol_id text, pol_body text);
         CREATE UNIQUE INDEX IF NOT EXISTS sts_policy_domain ON sts_policy_cache (domain);
         CREATE INDEX IF NOT EXISTS sts_policy_domain_ts ON sts_policy_cache (domain, ts);
         CREATE TABLE IF NOT EXISTS proactive_fetch_ts (id integer primary key, last_fetch_ts integer);",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            "example.org",
            1_700_000_000i64,
            "20240101T000000",
            r#"{"version": "STSv1", "mode": "enforce", "mx": ["mail.example.org", "*.example.net"], "max_age": 604800}"#
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO proactive_fetch_ts (id, last_fetch_ts) VALUES (1, 1699999999)",
        [],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_a_store_written_by_postfix_mta_sts_resolver() {
    let path = temp_db("python");
    python_store(&path);
    let cache = SqliteCache::open(&path).unwrap();
    let got = cache
        .get(&d("example.org"))
        .await
        .unwrap()
        .expect("the learned policy is kept");
    assert_eq!(got.id().as_str(), "20240101T000000");
    assert_eq!(got.fetched_at(), t(1_700_000_000));
    assert!(got.policy().matches_mx("mx1.example.net"));
    assert_eq!(cache.last_refresh().await.unwrap(), Some(t(1_699_999_999)));
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_what_postfix_mta_sts_resolver_reads() {
    let path = temp_db("ours");
    let cache = SqliteCache::open(&path).unwrap();
    cache
        .put(
            &d("example.com"),
            entry("a1", 1_700_000_000, "mx.example.com"),
        )
        .await
        .unwrap();
    cache.set_last_refresh(t(1_700_000_500)).await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let (ts, id, body): (i64, String, String) = conn
        .query_row(
            "SELECT ts, pol_id, pol_body FROM sts_policy_cache WHERE domain = 'example.com'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((ts, id.as_str()), (1_700_000_000, "a1"));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"version": "STSv1", "mode": "enforce", "mx": ["mx.example.com"], "max_age": 86400})
    );
    let last: i64 = conn
        .query_row(
            "SELECT last_fetch_ts FROM proactive_fetch_ts WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, 1_700_000_500);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_row_is_an_error_not_a_policy() {
    let path = temp_db("corrupt-row");
    python_store(&path);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE sts_policy_cache SET pol_body = '{\"mode\": \"enforce\"}'",
            [],
        )
        .unwrap();
    let cache = SqliteCache::open(&path).unwrap();
    assert!(matches!(
        cache.get(&d("example.org")).await,
        Err(CacheError::Corrupt(_))
    ));
    let page = cache.scan(None, 10).await.unwrap();
    assert_eq!((page.entries.len(), page.skipped), (0, 1));
}

#[test]
fn unusable_files_give_a_clear_error_at_open() {
    let garbage = temp_db("garbage");
    std::fs::write(
        &garbage,
        b"this is not a database, just text that is long enough to look like one....",
    )
    .unwrap();
    let err = SqliteCache::open(&garbage).unwrap_err();
    assert!(
        matches!(&err, CacheError::Open { target, .. } if target.ends_with("cache.db")),
        "{err}"
    );
    assert!(err.to_string().contains("not a database"), "{err}");

    // Issue 11: a missing directory is named, not "unable to open database file".
    let missing = std::path::Path::new("/nonexistent-dir/cache.db");
    let err = SqliteCache::open(missing).unwrap_err();
    assert!(matches!(err, CacheError::Open { .. }));
    assert!(
        err.to_string()
            .contains("the directory /nonexistent-dir does not exist"),
        "{err}"
    );
}

const CHILD_ROLE: &str = "MTA_STS_CACHE_TEST_CHILD";

/// Runs `sqlite_compat::child_role` of this test binary in a new process, as `user` when given.
/// Where another user runs a copy of this test binary from.
fn child_bin_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mta-sts-cache-it-bin-{}", std::process::id()))
}

fn spawn_child(role: &str, user: Option<&str>) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match user {
        Some(user) => {
            // The build directory may not be reachable by that user (a checkout in a 0700
            // directory, as `mktemp -d` makes): run a copy from a directory anyone may enter.
            use std::os::unix::fs::PermissionsExt;
            let dir = child_bin_dir();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let copy = dir.join("it");
            std::fs::copy(&exe, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", user, "--"]).arg(&copy);
            c
        }
        None => std::process::Command::new(&exe),
    };
    cmd.args([
        "--exact",
        "sqlite_compat::child_role",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ROLE, role)
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap()
}

/// Not a test of its own: the body of the child processes below (does nothing otherwise).
#[test]
fn child_role() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let (kind, path) = role.split_once(':').unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match kind {
        "write-then-hang" => runtime.block_on(async {
            let cache = SqliteCache::open(path).unwrap();
            cache
                .put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
                .await
                .unwrap();
            std::fs::write(format!("{path}.written"), b"").unwrap();
            // Stay alive, holding whatever SQLite holds, until the parent kills us.
            std::future::pending::<()>().await;
        }),
        "open-read-only" => {
            let err = SqliteCache::open(path).unwrap_err();
            assert!(matches!(err, CacheError::Open { .. }), "{err}");
            // Said in terms of what to fix, not SQLite's "readonly database".
            let text = err.to_string();
            assert!(
                text.contains("permission denied") && text.contains("not writable"),
                "{text}"
            );
            // A distinct status proves this branch ran (the role reached the child).
            std::process::exit(42);
        }
        other => panic!("unknown role {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_write_survives_kill_9() {
    let path = temp_db("kill9");
    let path_str = path.to_str().unwrap().to_owned();
    let mut child = spawn_child(&format!("write-then-hang:{path_str}"), None);
    let marker = std::path::PathBuf::from(format!("{path_str}.written"));
    let acknowledged = mta_sts_testkit::eventually(std::time::Duration::from_secs(10), || {
        std::future::ready(marker.exists().then_some(()))
    })
    .await;
    assert!(
        acknowledged.is_some(),
        "the child never acknowledged its write"
    );
    child.kill().unwrap(); // SIGKILL: no destructor, no checkpoint
    child.wait().unwrap();
    let cache = SqliteCache::open(&path).unwrap();
    assert_eq!(
        cache
            .get(&d("example.com"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "a1"
    );
}

#[test]
fn a_read_only_file_is_refused_at_open() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_db("readonly");
    drop(SqliteCache::open(&path).unwrap());
    let dir = path.parent().unwrap().to_owned();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root may write anything, so the check runs as an unprivileged user, as the daemon would.
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        .starts_with(b"0\n");
    let user = is_root.then_some("nobody");
    let status = spawn_child(&format!("open-read-only:{}", path.display()), user)
        .wait()
        .unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(child_bin_dir());
    assert_eq!(
        status.code(),
        Some(42),
        "opening a read-only database did not fail clearly"
    );
}
