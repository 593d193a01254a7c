//! Get and put latency of every cache backend, against private servers on loopback.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin cache-measure [OPERATIONS]
//! cargo run --release -p mta-sts-benches --bin cache-measure memory POLICIES SHAPE HOLDER
//! ```
//! Sequential operations on one task, so the figures are per-operation latency (p50, p99), not
//! throughput under concurrency.
//!
//! `memory` fills one in-process holder with POLICIES parsed policies and prints the process's
//! resident memory before and after, and per policy. SHAPE is `bench` (what `daemon-bench.sh`
//! stores: each domain its own `mx<i>.example.net` and a shared `*.example.org`) or `mixed` (a
//! mix shaped like the policies published today: 40% Microsoft 365's one wildcard, 15% Google's
//! five hosts, 45% self-hosted with one or two hosts of their own). HOLDER is `internal` (a
//! `MemoryCache` of POLICIES, as the daemon's `internal` type with `cache_size` = POLICIES) or
//! `tier` (the `TieredCache` front of POLICIES in front of a store that keeps nothing, so only
//! the in-process tier is counted). Run it once per line: a process does not give back freed
//! memory, so one measurement per process.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mta_sts_cache::{
    BoxFuture, CacheAdmin, CacheError, CachedPolicy, MemoryCache, PolicyCache, ScanCursor, ScanPage,
};
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

/// The process's resident memory, in bytes (Linux).
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// The policy file of domain `i` in `shape`, as fetched.
fn policy_body(shape: &str, i: u64) -> String {
    let head = "version: STSv1\nmode: enforce\n";
    match (shape, i % 20) {
        ("bench", _) => {
            format!("{head}mx: mx{i}.example.net\nmx: *.example.org\nmax_age: 604800\n")
        }
        (_, 0..8) => format!("{head}mx: *.mail.protection.outlook.com\nmax_age: 604800\n"),
        (_, 8..11) => "version: STSv1\nmode: testing\nmx: aspmx.l.google.com\n\
             mx: *.aspmx.l.google.com\nmx: alt1.aspmx.l.google.com\nmx: alt2.aspmx.l.google.com\n\
             mx: *.googlemail.com\nmax_age: 86400\n"
            .to_owned(),
        (_, 11..16) => format!("{head}max_age: 1209600\nmx: mail.d{i}.example\n"),
        _ => format!("{head}mx: mx1.d{i}.example\nmx: mx2.d{i}.example\nmax_age: 2592000\n"),
    }
}

/// The entries alone, in a vector (what the policies take without any cache's own overhead).
#[derive(Debug)]
struct Held(std::sync::Mutex<Vec<(Domain, Arc<CachedPolicy>)>>);

impl PolicyCache for Held {
    fn get<'a>(
        &'a self,
        _: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        let first = self.0.lock().unwrap().first().map(|(_, e)| Arc::clone(e));
        Box::pin(std::future::ready(Ok(first)))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.0.lock().unwrap().push((domain.clone(), entry));
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A store that keeps nothing, so that only the tier in front of it holds memory.
#[derive(Debug)]
struct Discard;

impl PolicyCache for Discard {
    fn get<'a>(
        &'a self,
        _: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    fn put<'a>(
        &'a self,
        _: &'a Domain,
        _: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl CacheAdmin for Discard {
    fn remove<'a>(&'a self, _: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn scan<'a>(
        &'a self,
        _: Option<&'a ScanCursor>,
        _: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        Box::pin(std::future::ready(Ok(ScanPage::default())))
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    fn set_last_refresh(&self, _: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// `memory POLICIES SHAPE HOLDER`: resident memory of POLICIES policies held in process.
async fn memory(args: &[String]) {
    let n: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let shape = args.get(1).map_or("bench", String::as_str);
    let holder = args.get(2).map_or("internal", String::as_str);
    assert!(
        matches!(shape, "bench" | "mixed"),
        "SHAPE is bench or mixed"
    );
    let before = resident();
    let cache: Box<dyn PolicyCache> = match holder {
        "vec" => Box::new(Held(std::sync::Mutex::new(Vec::with_capacity(n as usize)))),
        "internal" => Box::new(MemoryCache::new(n as usize)),
        "tier" => Box::new(TieredCache::new(
            Discard,
            Duration::from_secs(3600),
            n as usize,
        )),
        other => panic!("unknown holder {other}: internal or tier"),
    };
    let fetched = SystemTime::now();
    let template = CachedPolicy::new(
        policy_body(shape, 0).parse().expect("a valid policy"),
        "20240101T000000".parse().expect("an id"),
        fetched,
    );
    for i in 0..n {
        let domain: Domain = format!("d{i}.example").parse().expect("a domain");
        let policy = policy_body(shape, i).parse().expect("a valid policy");
        let entry = Arc::new(CachedPolicy::new(policy, template.id().clone(), fetched));
        cache.put(&domain, entry).await.expect("put");
    }
    let mut held = 0;
    for i in 0..n {
        let domain: Domain = format!("d{i}.example").parse().expect("a domain");
        held += usize::from(cache.get(&domain).await.expect("get").is_some());
    }
    let after = resident();
    let grown = after.saturating_sub(before);
    println!(
        "| {holder} | {shape} | {n} | {held} | {:.1} MB | {:.1} MB | {} bytes |",
        after as f64 / 1e6,
        grown as f64 / 1e6,
        grown / n.max(1)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "memory") {
        return memory(&args[1..]).await;
    }
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
