use std::sync::Arc;
use std::time::Duration;

use mta_sts_cache::{CacheAdmin, CacheError, PolicyCache};
use mta_sts_store::{RedisCache, TieredCache};
use mta_sts_testkit::{TestRedis, TestSentinel, eventually};
use redis::AsyncCommands;

use crate::conformance::{concurrent_writers, d, entry, suite, t};

const T: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn redis_backend_conformance() {
    let server = TestRedis::start().unwrap();
    suite(&RedisCache::connect(&server.url(), T).unwrap()).await;
    concurrent_writers(Arc::new(RedisCache::connect(&server.url(), T).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_finds_the_master() {
    let master = TestRedis::start().unwrap();
    let sentinel = TestSentinel::start(master.port()).unwrap();
    let cache = RedisCache::sentinel(&[sentinel.url()], "mymaster", 0, None, T).unwrap();
    // The sentinel needs a moment to learn about its master.
    let ready = eventually(Duration::from_secs(5), || async {
        cache.get(&d("probe.example")).await.ok()
    })
    .await;
    assert!(ready.is_some(), "sentinel never named the master");
    suite(&cache).await;
    // The data went to the master.
    let direct = RedisCache::connect(&master.url(), T).unwrap();
    assert!(
        direct
            .get(&d("xn--bcher-kva.example"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn layout_compatible_with_postfix_mta_sts_resolver() {
    let server = TestRedis::start().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    // As the Python daemon writes it: 16 random bytes, then json.dumps([pol_id, pol_body]).
    let mut member = b"0123456789abcdef".to_vec();
    member.extend_from_slice(
        br#"["20240101", {"version": "STSv1", "mode": "enforce", "mx": ["mail.example.org"], "max_age": 604800}]"#,
    );
    let _: () = raw
        .zadd("example.org", member, 1_700_000_000.5f64)
        .await
        .unwrap();
    let _: () = raw
        .hset("_metadata", "proactive_fetch_ts", "1699999999.25")
        .await
        .unwrap();
    let cache = RedisCache::connect(&server.url(), T).unwrap();
    let got = cache.get(&d("example.org")).await.unwrap().unwrap();
    assert_eq!(
        (got.id().as_str(), got.fetched_at()),
        ("20240101", t(1_700_000_000))
    );
    assert!(got.policy().matches_mx("mail.example.org"));
    assert_eq!(cache.last_refresh().await.unwrap(), Some(t(1_699_999_999)));
    // What we write, read the Python way.
    cache
        .put(
            &d("example.com"),
            entry("a1", 1_700_000_100, "mx.example.com"),
        )
        .await
        .unwrap();
    let stored: Vec<(Vec<u8>, f64)> = raw
        .zrevrange_withscores("example.com", 0, -1)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, 1_700_000_100.0);
    let json: serde_json::Value = serde_json::from_slice(&stored[0].0[16..]).unwrap();
    assert_eq!(
        json,
        serde_json::json!(["a1", {"version": "STSv1", "mode": "enforce", "mx": ["mx.example.com"], "max_age": 86400}])
    );
    let page = cache.scan(None, 100).await.unwrap();
    assert!(page.entries.iter().all(|(d, _)| d != "_metadata"));
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_dies_and_comes_back() {
    let mut server = TestRedis::start().unwrap();
    let backend = RedisCache::connect(&server.url(), Duration::from_millis(500)).unwrap();
    // Grace zero: every read goes to the backend, so the failure path is what answers.
    let tier = TieredCache::new(backend.clone(), Duration::ZERO, 1000);
    tier.put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
        .await
        .unwrap();
    server.stop();
    // Reads are answered from the tier; the backend itself fails fast.
    assert_eq!(
        tier.get(&d("example.com"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "a1"
    );
    let started = tokio::time::Instant::now();
    assert!(backend.get(&d("example.com")).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the deadline"
    );
    // A write while Redis is down is acknowledged and kept.
    tier.put(&d("new.example"), entry("n1", 2000, "mx.new.example"))
        .await
        .unwrap();
    assert_eq!(tier.pending_writes(), 1);
    server.resume().unwrap();
    // Redis restarted empty: the next successful operation replays the queued write.
    // The tier leaves a failed backend alone for 5 s, then probes it and replays in the background.
    let replayed = eventually(Duration::from_secs(15), || async {
        let stored = tier
            .put(&d("other.example"), entry("o1", 3000, "mx.other.example"))
            .await
            .is_ok();
        (stored && tier.pending_writes() == 0).then_some(())
    })
    .await;
    assert!(replayed.is_some(), "queued write not replayed");
    assert_eq!(
        backend
            .get(&d("new.example"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "n1"
    );
}

#[test]
fn bad_urls_are_refused_at_start() {
    assert!(matches!(
        RedisCache::connect("http://127.0.0.1:6379", T),
        Err(CacheError::Open { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_failover_is_followed() {
    let mut master = TestRedis::start().unwrap();
    let replica = TestRedis::start_replica(master.port()).unwrap();
    let sentinel = TestSentinel::start(master.port()).unwrap();
    let cache = RedisCache::sentinel(&[sentinel.url()], "mymaster", 0, None, T).unwrap();
    let ready = eventually(Duration::from_secs(10), || async {
        cache
            .put(&d("before.example"), entry("b1", 1000, "mx.example.com"))
            .await
            .ok()
    })
    .await;
    assert!(ready.is_some(), "sentinel never named the master");
    // Let the replica catch up and the sentinel learn about it, then lose the master.
    let replica_direct = RedisCache::connect(&replica.url(), T).unwrap();
    let replicated = eventually(Duration::from_secs(10), || async {
        replica_direct
            .get(&d("before.example"))
            .await
            .ok()
            .flatten()
    })
    .await;
    assert!(replicated.is_some(), "the replica never caught up");
    master.stop();
    // After the failover, writes succeed again, on the promoted replica.
    let written = eventually(Duration::from_secs(30), || async {
        cache
            .put(&d("after.example"), entry("a1", 2000, "mx.example.com"))
            .await
            .ok()
    })
    .await;
    assert!(
        written.is_some(),
        "no write succeeded within 30 s of the master going away"
    );
    // Sentinel kills client connections of the promoted server; the first read may see that.
    let mut promoted = None;
    for _ in 0..3 {
        if let Ok(found) = replica_direct.get(&d("after.example")).await {
            promoted = found;
            break;
        }
    }
    assert_eq!(
        promoted
            .expect("the write went to the promoted replica")
            .id()
            .as_str(),
        "a1"
    );
    assert_eq!(
        cache
            .get(&d("before.example"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "b1"
    );
}
