use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mta_sts_cache::{CacheAdmin, CachedPolicy, MemoryCache, PolicyCache, ScanCursor};
use mta_sts_policy::Domain;
use mta_sts_store::{SqliteCache, TieredCache};

/// A policy domain.
pub(crate) fn d(name: &str) -> Domain {
    name.parse().unwrap()
}

/// `secs` seconds after the epoch.
pub(crate) fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

pub(crate) fn entry(id: &str, fetched_at: u64, mx: &str) -> Arc<CachedPolicy> {
    let body = format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n");
    Arc::new(CachedPolicy::new(
        body.parse().unwrap(),
        id.parse().unwrap(),
        t(fetched_at),
    ))
}

pub(crate) fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mta-sts-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("cache.db")
}

/// The same policy, field by field: stores such as PostgreSQL's jsonb do not keep the order of
/// the lines, only their content.
fn same_policy(a: &mta_sts_policy::Policy, b: &mta_sts_policy::Policy) -> bool {
    a.mode() == b.mode()
        && a.max_age() == b.max_age()
        && a.mx().eq(b.mx())
        && a.extensions() == b.extensions()
}

/// Every backend must pass this.
pub(crate) async fn suite(cache: &dyn CacheAdmin) {
    // get / put / ordering
    assert!(cache.get(&d("example.com")).await.unwrap().is_none());
    cache
        .put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
        .await
        .unwrap();
    let got = cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!((got.id().as_str(), got.fetched_at()), ("a1", t(1000)));
    assert!(got.policy().matches_mx("mx.example.com"));
    cache
        .put(&d("example.com"), entry("b2", 2000, "mx2.example.com"))
        .await
        .unwrap();
    cache
        .put(&d("example.com"), entry("old", 1500, "old.example.com"))
        .await
        .unwrap();
    let got = cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(
        got.id().as_str(),
        "b2",
        "an older entry never overwrites a newer one"
    );
    // large entries and odd domains
    let many: String = (0..500)
        .map(|i| format!("mx: m{i}.example.net\n"))
        .collect();
    let big: mta_sts_policy::Policy =
        format!("version: STSv1\nmode: testing\n{many}max_age: 604800\nnote: caf\u{e9}\n")
            .parse()
            .unwrap();
    let big = Arc::new(CachedPolicy::new(big, "big".parse().unwrap(), t(3000)));
    for domain in ["xn--bcher-kva.example", "a-b.c_d.example", "x.example."] {
        cache.put(&d(domain), big.clone()).await.unwrap();
        let got = cache.get(&d(domain)).await.unwrap().unwrap();
        assert!(
            same_policy(got.policy(), big.policy()),
            "{domain}: policy changed in the store"
        );
    }
    // scan, resumable (cursors are backend-specific; Redis may repeat keys)
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<ScanCursor> = None;
    for _ in 0..100 {
        let page = cache.scan(cursor.as_ref(), 2).await.unwrap();
        seen.extend(page.entries.iter().map(|(d, _)| d.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let seen: Vec<&str> = seen.iter().map(Domain::as_str).collect();
    assert_eq!(
        seen,
        [
            "a-b.c_d.example",
            "example.com",
            "x.example",
            "xn--bcher-kva.example"
        ]
    );
    // remove
    cache.remove(&d("example.com")).await.unwrap();
    assert!(cache.get(&d("example.com")).await.unwrap().is_none());
    cache.remove(&d("never.example")).await.unwrap();
    // metadata
    assert_eq!(cache.last_refresh().await.unwrap(), None);
    cache.set_last_refresh(t(1_700_000_000)).await.unwrap();
    cache.set_last_refresh(t(1_700_000_100)).await.unwrap();
    assert_eq!(cache.last_refresh().await.unwrap(), Some(t(1_700_000_100)));
}

/// Concurrent writers of one domain: the newest fetch wins whatever the interleaving.
pub(crate) async fn concurrent_writers(cache: Arc<dyn CacheAdmin>) {
    let writers: Vec<_> = (0..16u64)
        .map(|i| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move {
                cache
                    .put(
                        &d("race.example"),
                        entry(&format!("id{i}"), 10_000 + i, "mx.example.com"),
                    )
                    .await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    assert_eq!(
        cache
            .get(&d("race.example"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "id15"
    );
}

#[tokio::test]
async fn memory_backend() {
    suite(&MemoryCache::new(100)).await;
    concurrent_writers(Arc::new(MemoryCache::new(100))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_backend() {
    let path = temp_db("suite");
    suite(&SqliteCache::open(&path).unwrap()).await;
    concurrent_writers(Arc::new(SqliteCache::open(temp_db("race")).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_reopen() {
    let path = temp_db("reopen");
    {
        let cache = SqliteCache::open(&path).unwrap();
        cache
            .put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
            .await
            .unwrap();
    }
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

#[tokio::test(flavor = "multi_thread")]
async fn tiered_sqlite_backend() {
    let tier = TieredCache::new(
        SqliteCache::open(temp_db("tier")).unwrap(),
        Duration::ZERO,
        100,
    );
    suite(&tier).await;
    let tier = TieredCache::new(
        SqliteCache::open(temp_db("tier-race")).unwrap(),
        Duration::from_secs(60),
        100,
    );
    concurrent_writers(Arc::new(tier)).await;
}

/// An entry removed from the store by another process (a purge through another daemon) leaves a
/// tier once its copy is older than `grace`: the backend's "nothing" is the truth, not the
/// tier's old copy. Within `grace` the copy is still answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_removal_by_another_writer_reaches_the_tier_after_grace() {
    let path = temp_db("tier-removal");
    let grace = Duration::from_millis(200);
    let ours = TieredCache::new(SqliteCache::open(&path).unwrap(), grace, 100);
    let theirs = SqliteCache::open(&path).unwrap();
    ours.put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
        .await
        .unwrap();
    ours.put(&d("kept.example"), entry("k1", 1000, "mx.example.com"))
        .await
        .unwrap();
    theirs.remove(&d("example.com")).await.unwrap();
    let gone = mta_sts_testkit::eventually(Duration::from_secs(10), || async {
        ours.get(&d("example.com"))
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the tier kept an entry the store no longer has"
    );
    // Still gone on the next read, and the other entry is untouched.
    assert!(ours.get(&d("example.com")).await.unwrap().is_none());
    assert!(ours.get(&d("kept.example")).await.unwrap().is_some());
}
