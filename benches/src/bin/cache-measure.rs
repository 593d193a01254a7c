//! Get and put latency of every cache backend, against private servers on loopback.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin cache-measure [OPERATIONS]
//! ```
//! Sequential operations on one task, so the figures are per-operation latency (p50, p99), not
//! throughput under concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mta_sts_cache::{CachedPolicy, MemoryCache, PolicyCache};
use mta_sts_policy::Domain;
use mta_sts_store::{PostgresCache, RedisCache, SqliteCache, TieredCache};
use mta_sts_testkit::{TestPostgres, TestRedis};

fn entry(i: u64) -> Arc<CachedPolicy> {
    let policy =
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 604800\n";
    Arc::new(CachedPolicy::new(
        policy.parse().unwrap(),
        "20240101".parse().unwrap(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i),
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

async fn measure(name: &str, cache: &dyn PolicyCache, ops: u64) {
    let domains: Vec<Domain> = (0..ops)
        .map(|i| format!("d{i}.example.com").parse().expect("a domain"))
        .collect();
    let mut puts = Vec::with_capacity(ops as usize);
    for (i, d) in domains.iter().enumerate() {
        let started = Instant::now();
        cache.put(d, entry(i as u64)).await.expect("put");
        puts.push(started.elapsed());
    }
    let mut gets = Vec::with_capacity(ops as usize);
    for d in &domains {
        let started = Instant::now();
        assert!(
            cache.get(d).await.expect("get").is_some(),
            "{name}: {d} missing"
        );
        gets.push(started.elapsed());
    }
    puts.sort();
    gets.sort();
    println!(
        "| {name} | {ops} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
        percentile(&gets, 0.5),
        percentile(&gets, 0.99),
        percentile(&puts, 0.5),
        percentile(&puts, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let ops: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let t = Duration::from_secs(5);
    let dir = std::env::temp_dir().join(format!("cache-measure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = TestRedis::start().expect("redis-server");
    let postgres = TestPostgres::start().expect("postgres");
    println!("| backend | operations | get p50 | get p99 | put p50 | put p99 |");
    println!("|---|---|---|---|---|---|");
    measure("memory", &MemoryCache::new(100_000), ops).await;
    measure("sqlite", &SqliteCache::open(dir.join("a.db")).unwrap(), ops).await;
    let grace = Duration::from_secs(60);
    let tiered_sqlite =
        TieredCache::new(SqliteCache::open(dir.join("b.db")).unwrap(), grace, 100_000);
    measure("sqlite + in-process tier", &tiered_sqlite, ops).await;
    measure("redis", &RedisCache::connect(&redis.url(), t).unwrap(), ops).await;
    let pg = postgres.database("bench").unwrap();
    measure("postgres", &PostgresCache::new(&pg, 4, t).unwrap(), ops).await;
    let redis_url = redis.url();
    let tiered_redis =
        TieredCache::new(RedisCache::connect(&redis_url, t).unwrap(), grace, 100_000);
    measure("redis + in-process tier", &tiered_redis, ops).await;
    let pg2 = postgres.database("bench2").unwrap();
    let tiered_pg = TieredCache::new(PostgresCache::new(&pg2, 4, t).unwrap(), grace, 100_000);
    measure("postgres + in-process tier", &tiered_pg, ops).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
