//! The load drivers of the measurement programs: Postfix-style socketmap connections
//! ([`socketmap`]), and policy discovery without a daemon ([`discoveries`], the cold ceiling).
//! Both report in one [`Report`] format, which `benches/*.sh` parse.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mta_sts_fetch::{DnsClient, PolicyClient};
use mta_sts_policy::{Domain, Policy};
use mta_sts_resolver::TxtAnswer;
use postfix_socketmap::{ClientCodec, Reply, Request};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Which keys each connection sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// Every key exactly once, the connections sharing one cursor (a warm-up pass, or cold
    /// discovery: each domain is new to the daemon).
    Once,
    /// Keys round-robin, each connection from its own offset, for this long.
    For(Duration),
}

/// What counts as a good answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `OK` or `NOTFOUND` (counted apart); anything else is an error.
    OkOrNotFound,
    /// `OK` whose data starts with this text (such as `secure`); anything else is an error.
    OkStartingWith(String),
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Concurrent connections (or concurrent discoveries).
    pub connections: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Latency of every answered request, sorted.
    pub latencies: Vec<Duration>,
    /// Good `OK` answers (or discoveries that ended with a valid policy).
    pub ok: u64,
    /// `NOTFOUND` answers, when [`Expect::OkOrNotFound`] allows them.
    pub notfound: u64,
    /// Everything else, including connections that broke or could not connect.
    pub errors: u64,
    /// The first error seen, for the operator.
    pub first_error: Option<String>,
}

impl Report {
    /// Answered requests per second of wall time.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0 to 1) of the latencies, in milliseconds; 0 without any.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get((last as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }

    fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.notfound += other.notfound;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn finish(mut self, connections: usize, started: Instant) -> Self {
        self.connections = connections;
        self.elapsed = started.elapsed();
        self.latencies.sort_unstable();
        self
    }
}

impl fmt::Display for Report {
    /// One line of `key=value` fields, the format the bench scripts parse.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections={} lookups={} lookups/s={:.0} p50={:.3}ms p99={:.3}ms p99.9={:.3}ms ok={} notfound={} errors={}",
            self.connections,
            self.latencies.len(),
            self.rate(),
            self.percentile_ms(0.5),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.ok,
            self.notfound,
            self.errors
        )
    }
}

/// Drives `connections` socketmap connections to `addr`, each sending requests for `map` back to
/// back as Postfix does (one outstanding request per connection).
pub async fn socketmap(
    addr: SocketAddr,
    keys: Arc<Vec<String>>,
    connections: usize,
    mode: Keys,
    map: &str,
    expect: &Expect,
) -> Report {
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = match mode {
        Keys::For(time) => Some(started + time),
        Keys::Once => None,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let keys = Arc::clone(&keys);
        let map = map.to_owned();
        let expect = expect.clone();
        let cursor = Arc::clone(&cursor);
        tasks.spawn(async move {
            let mut report = Report::default();
            let stream = match TcpStream::connect(addr).await {
                Ok(stream) => stream,
                Err(e) => {
                    report.error(|| format!("connect to {addr}: {e}"));
                    return report;
                }
            };
            let _ = stream.set_nodelay(true);
            let mut framed = Framed::new(stream, ClientCodec::new());
            let mut i = c * 7919;
            loop {
                let key = match deadline {
                    None => match keys.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                        Some(key) => key,
                        None => break,
                    },
                    Some(deadline) if Instant::now() < deadline && !keys.is_empty() => {
                        i += 1;
                        &keys[(i - 1) % keys.len()]
                    }
                    Some(_) => break,
                };
                let request = match Request::new(&map, key) {
                    Ok(request) => request,
                    Err(e) => {
                        report.error(|| format!("{key}: {e}"));
                        continue;
                    }
                };
                let sent = Instant::now();
                if let Err(e) = framed.send(&request).await {
                    report.error(|| format!("{key}: send: {e}"));
                    break;
                }
                match framed.next().await {
                    Some(Ok(reply)) => match (&reply, &expect) {
                        (Reply::Ok(_), Expect::OkOrNotFound) => report.ok += 1,
                        (Reply::NotFound, Expect::OkOrNotFound) => report.notfound += 1,
                        (Reply::Ok(data), Expect::OkStartingWith(prefix))
                            if data.starts_with(prefix.as_str()) =>
                        {
                            report.ok += 1
                        }
                        _ => report.error(|| format!("{key}: {reply:?}")),
                    },
                    Some(Err(e)) => {
                        report.error(|| format!("{key}: {e}"));
                        break;
                    }
                    None => {
                        report.error(|| format!("{key}: connection closed"));
                        break;
                    }
                }
                report.latencies.push(sent.elapsed());
            }
            report
        });
    }
    collect(tasks, connections, started).await
}

/// Discovers each domain's policy once, `connections` at a time, as a daemon does on a cache miss
/// but without one: the `_mta-sts` TXT lookup, then the policy fetch (the policy host's address,
/// TLS handshake, HTTP GET), then parsing the policy. This is the ceiling of cold lookups: no
/// daemon can discover faster with the same clients against the same servers.
pub async fn discoveries(
    dns: DnsClient,
    fetch: PolicyClient,
    domains: Arc<Vec<Domain>>,
    connections: usize,
) -> Report {
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (dns, fetch, domains, cursor) = (
            dns.clone(),
            fetch.clone(),
            Arc::clone(&domains),
            Arc::clone(&cursor),
        );
        tasks.spawn(async move {
            let mut report = Report::default();
            while let Some(domain) = domains.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                match discover(&dns, &fetch, domain).await {
                    Ok(()) => report.ok += 1,
                    Err(e) => report.error(|| format!("{domain}: {e}")),
                }
                report.latencies.push(sent.elapsed());
            }
            report
        });
    }
    collect(tasks, connections, started).await
}

async fn discover(dns: &DnsClient, fetch: &PolicyClient, domain: &Domain) -> Result<(), String> {
    match dns
        .txt(&format!("_mta-sts.{domain}"))
        .await
        .map_err(|e| e.to_string())?
    {
        TxtAnswer::Records(records)
            if records
                .iter()
                .any(|strings| strings.concat().starts_with(b"v=STSv1")) => {}
        other => return Err(format!("no STSv1 record: {other:?}")),
    }
    let body = fetch.fetch(domain).await.map_err(|e| e.to_string())?;
    Policy::parse(&body).map_err(|e| e.to_string())?;
    Ok(())
}

async fn collect(
    mut tasks: tokio::task::JoinSet<Report>,
    connections: usize,
    started: Instant,
) -> Report {
    let mut all = Report::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(report) => all.merge(report),
            Err(e) => all.error(|| format!("a load task failed: {e}")),
        }
    }
    all.finish(connections, started)
}
