//! The socketmap server: listeners, connections, lookups, shutdown.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use mta_sts_cache::{
    MemoryCache, PolicyCache, PostgresCache, RedisCache, SqliteCache, TieredCache, redis_url,
};
use mta_sts_fetch::{DnsClient, FetchConfig, PolicyClient, Proxy, Roots, SystemClock, clients};
use mta_sts_resolver::{Outcome, Resolver, ResolverConfig};
use postfix_socketmap::{Reply, Request, ServerCodec};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use crate::answer::ReplyMemo;
use crate::{CacheType, Config, Key, OnFailure, RootsSetting, normalize_key};

/// An idle connection is closed after this long (Postfix closes its own after 10 s).
const IDLE: Duration = Duration::from_secs(60);
/// How many domains' last replies are kept ready (the hot set; a miss only costs formatting).
const REPLY_MEMO: usize = 16_384;

type Cache = Arc<dyn PolicyCache>;
type DaemonResolver = Resolver<DnsClient, PolicyClient, Cache, SystemClock>;

/// A configured daemon: the resolver with its cache, and the answer rules.
#[derive(Clone)]
pub struct Daemon {
    config: Arc<Config>,
    resolver: DaemonResolver,
    replies: Arc<ReplyMemo>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}

/// The DNS and HTTPS settings a configuration asks for.
pub fn fetch_config(config: &Config) -> FetchConfig {
    let mut fetch = FetchConfig::default()
        .with_nameservers(config.dns.nameservers.clone())
        .with_roots(match config.tls.roots {
            RootsSetting::Webpki => Roots::Webpki,
            RootsSetting::System => Roots::System,
        })
        .with_proxy(Proxy::FromEnv);
    if let Some(ca) = &config.tls.ca_file {
        fetch = fetch.with_ca_file(ca);
    }
    // One fetch may use the longest zone timeout; each lookup is also cut at its own zone's.
    let longest = config
        .zones
        .values()
        .map(|z| z.timeout)
        .fold(config.default_zone.timeout, f64::max);
    fetch.with_timeout(Duration::from_secs_f64(longest))
}

fn option_str<'a>(options: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    options.get(key).and_then(Value::as_str)
}

fn option_u64(options: &serde_json::Map<String, Value>, key: &str) -> Option<u64> {
    options
        .get(key)
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
}

/// The cache a configuration names, persistent backends behind the in-process tier.
pub fn open_cache(config: &Config) -> anyhow::Result<Cache> {
    let options = &config.cache.options;
    let grace = Duration::from_secs_f64(config.cache_grace);
    let tier_size = option_u64(options, "cache_size").unwrap_or(100_000) as usize;
    let timeout = Duration::from_secs(option_u64(options, "timeout").unwrap_or(5).max(1));
    Ok(match config.cache.kind {
        CacheType::Internal => Arc::new(MemoryCache::new(
            option_u64(options, "cache_size").unwrap_or(10_000) as usize,
        )),
        CacheType::Sqlite => {
            let file = option_str(options, "filename")
                .context("cache.options.filename: the SQLite file is required")?;
            Arc::new(TieredCache::new(
                SqliteCache::open(file)?.with_timeout(timeout),
                grace,
                tier_size,
            ))
        }
        CacheType::Redis => {
            let (url, query_timeout) = match option_str(options, "url") {
                Some(url) => redis_url(url, None, None),
                None => {
                    let address = option_str(options, "address")
                        .context("cache.options.url (or address) is required for redis")?;
                    let db = options.get("db").and_then(Value::as_i64);
                    redis_url(address, db, option_str(options, "password"))
                }
            };
            let timeout = query_timeout.map_or(timeout, Duration::from_secs_f64);
            Arc::new(TieredCache::new(
                RedisCache::connect(&url, timeout)?,
                grace,
                tier_size,
            ))
        }
        CacheType::RedisSentinel => {
            let sentinels: Vec<String> = match options.get("sentinels") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|item| match item {
                        Value::String(s) if s.contains("://") => Some(s.clone()),
                        Value::String(s) => Some(format!("redis://{s}")),
                        Value::Array(pair) => Some(format!(
                            "redis://{}:{}",
                            pair.first()?.as_str()?,
                            pair.get(1)?
                        )),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            anyhow::ensure!(
                !sentinels.is_empty(),
                "cache.options.sentinels: a list of host:port is required"
            );
            let master = option_str(options, "sentinel_master_name")
                .context("cache.options.sentinel_master_name is required")?;
            let db = options.get("db").and_then(Value::as_i64).unwrap_or(0);
            let cache = RedisCache::sentinel(
                &sentinels,
                master,
                db,
                option_str(options, "password"),
                timeout,
            )?;
            Arc::new(TieredCache::new(cache, grace, tier_size))
        }
        CacheType::Postgres => {
            let dsn =
                option_str(options, "dsn").context("cache.options.dsn is required for postgres")?;
            let pool = option_u64(options, "max_connections").unwrap_or(16) as usize;
            Arc::new(TieredCache::new(
                PostgresCache::new(dsn, pool, timeout)?,
                grace,
                tier_size,
            ))
        }
    })
}

impl Daemon {
    /// A daemon for `config`, fetching with `fetch` (see [`fetch_config`]).
    pub fn new(config: Config, fetch: &FetchConfig) -> anyhow::Result<Self> {
        let (dns, https) = clients(fetch)?;
        let cache = open_cache(&config)?;
        let resolver_config = ResolverConfig::default().with_grace(config.cache_grace as u64);
        let resolver = Resolver::new(dns, https, cache, SystemClock, resolver_config);
        Ok(Self {
            config: Arc::new(config),
            resolver,
            replies: Arc::new(ReplyMemo::new(REPLY_MEMO)),
        })
    }

    /// The answer to one request (PFX-1 keys, zones by map name, the zone's deadline).
    pub async fn lookup(&self, request: &Request) -> Reply {
        let zone = self.config.zone(request.name());
        let domain = match normalize_key(request.key()) {
            Key::Domain(domain) => domain,
            Key::Skip(reason) => {
                tracing::debug!(key = request.key(), ?reason, "NOTFOUND without lookup");
                return Reply::NotFound;
            }
        };
        let rules = zone.rules();
        let deadline = Duration::from_secs_f64(zone.timeout);
        // A warm lookup completes on its first poll; only one that has to wait gets a timer.
        let mut pending = pin!(self.resolver.lookup(&domain));
        let first = std::future::poll_fn(|cx| Poll::Ready(pending.as_mut().poll(cx))).await;
        let looked_up = match first {
            Poll::Ready(lookup) => Ok(lookup),
            Poll::Pending => tokio::time::timeout(deadline, pending).await,
        };
        let Ok(mut lookup) = looked_up else {
            tracing::warn!(%domain, "policy discovery exceeded the zone timeout of {:.1} s", zone.timeout);
            return match rules.on_failure {
                OnFailure::Temp => {
                    Reply::Temp(format!("MTA-STS policy discovery for {domain} timed out"))
                }
                OnFailure::NotFound => Reply::NotFound,
            };
        };
        if let Some(refresh) = lookup.take_refresh() {
            tokio::spawn(refresh.run());
        }
        let outcome = lookup.outcome();
        log_outcome(&domain, outcome);
        let reply = self.replies.answer(&domain, outcome, &rules);
        tracing::debug!(%domain, map = request.name(), reply = %reply, "lookup");
        reply
    }

    /// Proactive policy fetching (postfix-mta-sts-resolver's `proactive_policy_fetching`): every
    /// `interval`, re-fetch every cached policy older than `interval / grace_ratio`, at most
    /// `concurrency_limit` at a time, so busy and quiet domains alike never lapse (CACHE-4). The
    /// time of the last pass is kept in the cache, so daemons sharing a store take turns. Runs
    /// until the returned future is dropped.
    pub async fn proactive_fetching(&self) {
        let settings = &self.config.proactive_policy_fetching;
        let interval = settings.interval.max(1.0);
        let min_age = interval / settings.grace_ratio;
        let cache = self.resolver.cache();
        loop {
            let now = mta_sts_resolver::Clock::now(&SystemClock);
            let last = cache.last_refresh().await.ok().flatten().unwrap_or(0);
            let due = last as f64 + interval;
            if (now as f64) < due {
                // A little jitter, so daemons sharing a store do not all wake at once.
                let jitter =
                    f64::from(std::process::id() % 1000) / 1000.0 * (interval * 0.05).min(30.0);
                tokio::time::sleep(Duration::from_secs_f64(due - now as f64 + jitter)).await;
                continue;
            }
            // Claim this pass before running it.
            let _ = cache.set_last_refresh(now).await;
            let (refreshed, failed) = self.proactive_pass(now, min_age).await;
            tracing::info!(refreshed, failed, "proactive policy fetching pass done");
        }
    }

    async fn proactive_pass(&self, now: u64, min_age: f64) -> (usize, usize) {
        let limit = Arc::new(Semaphore::new(
            self.config.proactive_policy_fetching.concurrency_limit,
        ));
        let mut tasks = JoinSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match self.resolver.cache().scan(cursor.as_deref(), 256).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "proactive fetching: cannot scan the cache");
                    break;
                }
            };
            for (domain, entry) in page.entries {
                if (now.saturating_sub(entry.fetched_at()) as f64) < min_age {
                    continue;
                }
                let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
                    break;
                };
                let resolver = self.resolver.clone();
                tasks.spawn(async move {
                    let outcome = resolver.refresh(&domain).await;
                    drop(permit);
                    let ok = matches!(outcome, Outcome::Fetched(_));
                    let alert = outcome.failure().filter(|_| !ok && outcome.should_alert());
                    if let Some(f) = alert {
                        tracing::warn!(%domain, failure = %f, "proactive refresh failed; the cached policy still applies");
                    }
                    ok
                });
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let (mut refreshed, mut failed) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(true) => refreshed += 1,
                _ => failed += 1,
            }
        }
        (refreshed, failed)
    }

    /// Serves connections from `listener` until `shutdown` completes, then lets in-flight requests
    /// finish for up to `shutdown_timeout`.
    pub async fn serve(
        &self,
        listener: Listener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let proactive = self.config.proactive_policy_fetching.enabled.then(|| {
            let daemon = self.clone();
            tokio::spawn(async move { daemon.proactive_fetching().await })
        });
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = Arc::clone(&slots).acquire_owned() => permit?,
            };
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            let daemon = self.clone();
            let stop = stop_rx.clone();
            connections.spawn(async move {
                match stream {
                    Stream::Tcp(s) => daemon.connection(s, stop).await,
                    Stream::Unix(s) => daemon.connection(s, stop).await,
                }
                drop(permit);
            });
        }
        if let Some(task) = proactive {
            task.abort();
        }
        let _ = stop_tx.send(true);
        let grace = Duration::from_secs_f64(self.config.shutdown_timeout);
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = connections.len(),
                "shutdown timeout: closing the remaining connections"
            );
            connections.abort_all();
        }
        Ok(())
    }

    async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut framed = Framed::new(stream, ServerCodec::new());
        let mut stopping = pin!(stop.wait_for(|stopping| *stopping));
        // One timer for the connection's whole life, re-armed only when it fires: a timer per
        // request would cost more than the lookup itself.
        let mut idle = pin!(tokio::time::sleep(IDLE));
        let mut last_request = Instant::now();
        loop {
            let next = tokio::select! {
                _ = &mut stopping => return,
                () = &mut idle => {
                    if last_request.elapsed() >= IDLE {
                        return;
                    }
                    idle.as_mut().reset(last_request + IDLE);
                    continue;
                }
                next = framed.next() => next,
            };
            let reply = match next {
                None => return,
                Some(Err(e)) => {
                    // SOCK-9: the stream position is lost; close this connection only.
                    tracing::info!(error = %e, "closing a connection");
                    return;
                }
                Some(Ok(Err(e))) => Reply::Perm(e.to_string()),
                Some(Ok(Ok(request))) => self.lookup(&request).await,
            };
            if framed.send(reply).await.is_err() {
                return;
            }
            // Idle time counts from the last answer: a slow lookup is not idleness.
            last_request = Instant::now();
        }
    }
}

fn log_outcome(domain: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Fetched(p) => {
            tracing::info!(%domain, id = p.id().as_str(), mode = p.policy().mode().as_str(), "policy fetched")
        }
        Outcome::Failure(f) => tracing::info!(%domain, failure = %f, "policy discovery failed"),
        _ if outcome.should_alert() => {
            if let Some(f) = outcome.failure() {
                tracing::warn!(%domain, failure = %f, "cannot refresh a cached policy; still applying it");
            }
        }
        _ => {}
    }
}

/// Where the daemon listens.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A UNIX socket.
    Unix(UnixListener),
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Self::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Self::Unix(l) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }

    /// Binds what `config` asks for: the UNIX socket `path` (a stale socket file is replaced, a
    /// live one refused; `mode` applied), or TCP `host:port` (with `SO_REUSEPORT` when `reuse_port`).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        if let Some(path) = &config.path {
            return Self::bind_unix(path, config.mode.map(|m| m.0));
        }
        let addr: std::net::SocketAddr =
            tokio::net::lookup_host((config.host.as_str(), config.port))
                .await
                .with_context(|| format!("cannot resolve host {}", config.host))?
                .next()
                .with_context(|| format!("host {} has no address", config.host))?;
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        if config.reuse_port {
            socket.set_reuseport(true)?;
        }
        socket
            .bind(addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Self::Tcp(socket.listen(1024)?))
    }

    fn bind_unix(path: &Path, mode: Option<u32>) -> anyhow::Result<Self> {
        if path.exists() {
            anyhow::ensure!(
                std::os::unix::net::UnixStream::connect(path).is_err(),
                "{} is in use by a running daemon",
                path.display()
            );
            std::fs::remove_file(path)
                .with_context(|| format!("cannot replace stale socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(Self::Unix(listener))
    }

    /// The TCP address, when listening on TCP.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Self::Tcp(l) => l.local_addr().ok(),
            Self::Unix(_) => None,
        }
    }
}
