use std::sync::Arc;
use std::time::Duration;

use mta_sts_cache::{CacheAdmin, CacheError, PolicyCache};
use mta_sts_store::{PostgresCache, TieredCache};
use mta_sts_testkit::TestPostgres;

use crate::conformance::{concurrent_writers, d, entry, suite, t};

const T: Duration = Duration::from_secs(5);

/// One server for every PostgreSQL scenario, each in its own database.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_backend() {
    let server = TestPostgres::start().unwrap();

    suite(&PostgresCache::new(&server.database("suite").unwrap(), 4, T).unwrap()).await;
    concurrent_writers(Arc::new(
        PostgresCache::new(&server.database("race").unwrap(), 8, T).unwrap(),
    ))
    .await;

    // Layout compatibility, both ways.
    let dsn = server.database("compat").unwrap();
    let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE sts_policy_cache (id serial primary key, domain text, ts integer, pol_id text, pol_body jsonb);
             CREATE UNIQUE INDEX sts_policy_domain ON sts_policy_cache (domain);
             CREATE INDEX sts_policy_domain_ts ON sts_policy_cache (domain, ts);
             CREATE TABLE proactive_fetch_ts (id serial primary key, last_fetch_ts integer);
             INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) VALUES ('example.org', 1700000000, '20240101',
               '{\"version\": \"STSv1\", \"mode\": \"enforce\", \"mx\": [\"mail.example.org\"], \"max_age\": 604800}');
             INSERT INTO proactive_fetch_ts (id, last_fetch_ts) VALUES (1, 1699999999);",
        )
        .await
        .unwrap();
    let cache = PostgresCache::new(&dsn, 2, T).unwrap();
    let got = cache.get(&d("example.org")).await.unwrap().unwrap();
    assert_eq!(
        (got.id().as_str(), got.fetched_at()),
        ("20240101", t(1_700_000_000))
    );
    assert_eq!(cache.last_refresh().await.unwrap(), Some(t(1_699_999_999)));
    cache
        .put(
            &d("example.com"),
            entry("a1", 1_700_000_100, "mx.example.com"),
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT ts, pol_id, pol_body::text FROM sts_policy_cache WHERE domain = 'example.com'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, &str>(1)),
        (1_700_000_100, "a1")
    );
    let body: serde_json::Value = serde_json::from_str(row.get::<_, &str>(2)).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"version": "STSv1", "mode": "enforce", "mx": ["mx.example.com"], "max_age": 86400})
    );

    // Through the tier.
    let tiered = TieredCache::new(
        PostgresCache::new(&server.database("tiered").unwrap(), 2, T).unwrap(),
        Duration::from_secs(60),
        100,
    );
    suite(&tiered).await;
}

#[tokio::test]
async fn unreachable_at_start_fails_fast_and_clearly() {
    // Nothing listens on port 1.
    let cache = PostgresCache::new(
        "host=127.0.0.1 port=1 user=postgres dbname=none",
        2,
        Duration::from_secs(2),
    )
    .unwrap();
    let started = tokio::time::Instant::now();
    let err = cache.get(&d("example.com")).await.unwrap_err();
    assert!(
        matches!(err, CacheError::Unavailable(_) | CacheError::Timeout(_)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // The tier keeps acknowledging writes and answering reads meanwhile.
    let tier = TieredCache::new(cache, Duration::ZERO, 100);
    tier.put(&d("example.com"), entry("a1", 1000, "mx.example.com"))
        .await
        .unwrap();
    assert_eq!(
        tier.get(&d("example.com"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "a1"
    );
    assert_eq!(tier.pending_writes(), 1);
    assert!(matches!(
        PostgresCache::new("not a dsn at all=", 2, Duration::from_secs(1)),
        Err(CacheError::Open { .. })
    ));
}
