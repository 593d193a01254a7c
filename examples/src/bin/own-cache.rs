//! An MTA resolving MTA-STS policies over a cache of its own: a [`PolicyCache`] kept in memory and
//! in a file of JSON lines, under the resolver of `mta-sts-fetch`.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin own-cache -- gmail.com
//! cargo run -p mta-sts-examples --bin own-cache -- gmail.com   # again: answered from the file
//! cargo run -p mta-sts-examples --bin own-cache -- --grace 0 gmail.com --mx alt1.gmail-smtp-in.l.google.com
//! ```
//!
//! It prints the lookup's [`Outcome`] and what an MTA does with it: which MX hosts it may deliver
//! to, and whether the policy is enforced. The MX hosts come from `--mx`, or else from the
//! domain's MX records. A second run within `--grace` seconds (60 by default) answers from the
//! file without any DNS query; after that, the `_mta-sts` TXT record is read again and the policy
//! is fetched only if its id changed.
//!
//! By default everything goes to the real Internet (the system's name servers, port 443, the
//! webpki roots). The tests point it at loopback servers instead with `--nameserver IP:PORT`,
//! `--ca-file PEM` and `--https-port N`. `docs/embedding.md` explains the pieces.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use mta_sts_cache::{BoxFuture, CacheError, CachedPolicy, PolicyCache};
use mta_sts_fetch::{DnsClient, FetchConfig};
use mta_sts_policy::{Domain, Mode, Policy};
use mta_sts_resolver::{Outcome, ResolverConfig};
use serde::{Deserialize, Serialize};

/// Looks up a domain's MTA-STS policy through a cache kept in a file, and says how to deliver.
#[derive(Debug, Parser)]
struct Args {
    /// The recipient domain.
    domain: Domain,
    /// An MX host to check against the policy; repeatable (default: the domain's MX records).
    #[arg(long = "mx", value_name = "HOST")]
    mx: Vec<String>,
    /// The cache file: one JSON object per line, the last fetch of a domain wins.
    #[arg(long, value_name = "PATH", default_value = "mta-sts-cache.jsonl")]
    cache_file: PathBuf,
    /// Seconds after a fetch or check during which the cached policy is used without any DNS query.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    grace: u64,
    #[command(flatten)]
    net: NetArgs,
}

/// Where DNS and HTTPS go: the real Internet by default, a test kit when told.
#[derive(Debug, clap::Args)]
struct NetArgs {
    /// A name server (IP:PORT) to use instead of the system's; repeatable.
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    nameservers: Vec<SocketAddr>,
    /// A PEM file of extra trust anchors for policy hosts (a test CA); repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// The policy hosts' HTTPS port. RFC 8461 says 443; other ports are for tests.
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    https_port: u16,
    /// Deadline in seconds of each DNS lookup and of each policy fetch.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
}

impl NetArgs {
    fn fetch_config(&self) -> FetchConfig {
        let mut config = FetchConfig::default()
            .with_nameservers(self.nameservers.clone())
            .with_https_port(self.https_port)
            .with_timeout(Duration::from_secs(self.timeout));
        for file in &self.ca_files {
            config = config.with_ca_file(file);
        }
        config
    }
}

/// The embedder's cache: every entry in a map, and every store appended to a file that the next
/// run reads back. A real MTA would put the entries in its own database; the two rules that
/// matter are the same: an older fetch never replaces a newer one, and what is read back is
/// checked again with the strict parsers.
#[derive(Debug)]
struct FileCache {
    path: PathBuf,
    entries: Mutex<HashMap<Domain, Arc<CachedPolicy>>>,
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    domain: String,
    /// The `id` of the TXT record the policy was fetched under.
    id: String,
    /// When the policy was fetched over HTTPS, in Unix seconds (as mta-sts-store's backends keep it).
    fetched_at: u64,
    /// The policy in its canonical form.
    policy: String,
}

impl FileCache {
    /// Reads `path` if it exists; lines that do not read back are skipped.
    fn open(path: PathBuf) -> anyhow::Result<Self> {
        let mut entries = HashMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                for (number, line) in text.lines().enumerate() {
                    match decode(line) {
                        Ok((domain, entry)) => {
                            keep_newer(&mut entries, domain, Arc::new(entry));
                        }
                        // A cache is only a cache: a bad line costs one fetch, not the whole file.
                        Err(e) => eprintln!("{}:{}: skipped: {e:#}", path.display(), number + 1),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        Ok(Self {
            path,
            entries: Mutex::new(entries),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Domain, Arc<CachedPolicy>>> {
        // Each update is one map operation: a panic elsewhere cannot leave the map half-changed.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, domain: &Domain, entry: Arc<CachedPolicy>) -> Result<(), CacheError> {
        let mut entries = self.lock();
        if !keep_newer(&mut entries, domain.clone(), Arc::clone(&entry)) {
            return Ok(());
        }
        // Appending while holding the lock keeps the file in the order of the map's updates, so
        // reading it back line by line ends with the same entries. One small write per HTTPS fetch
        // is cheap enough to do in place here; a busy MTA would hand it to a writer thread.
        append(&self.path, &encode(domain, &entry)).map_err(|e| {
            // The resolver ignores a failed store (the policy still applies to this lookup), so
            // this is the only place that can say the file is not being kept.
            eprintln!("cache: cannot write {}: {e}", self.path.display());
            CacheError::Unavailable(Box::new(e))
        })
    }
}

impl PolicyCache for FileCache {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        let found = self.lock().get(domain).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        let stored = self.store(domain, entry);
        Box::pin(std::future::ready(stored))
    }
}

/// Puts `entry` in `entries` unless the entry there was fetched later; says whether it did.
fn keep_newer(
    entries: &mut HashMap<Domain, Arc<CachedPolicy>>,
    domain: Domain,
    entry: Arc<CachedPolicy>,
) -> bool {
    if entries
        .get(&domain)
        .is_some_and(|old| old.fetched_at() > entry.fetched_at())
    {
        return false;
    }
    entries.insert(domain, entry);
    true
}

fn encode(domain: &Domain, entry: &CachedPolicy) -> String {
    let line = Line {
        domain: domain.to_string(),
        id: entry.id().to_string(),
        fetched_at: entry
            .fetched_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        policy: entry.policy().to_string(),
    };
    serde_json::to_string(&line).expect("a struct of strings and a number serialises")
}

fn decode(text: &str) -> anyhow::Result<(Domain, CachedPolicy)> {
    let line: Line = serde_json::from_str(text)?;
    // The same parsers as for DNS and HTTPS: an edited file cannot slip in an invalid policy.
    let domain = line.domain.parse().context("domain")?;
    let policy = Policy::parse(line.policy.as_bytes()).context("policy")?;
    let id = line.id.parse().context("id")?;
    let fetched_at = UNIX_EPOCH + Duration::from_secs(line.fetched_at);
    Ok((domain, CachedPolicy::new(policy, id, fetched_at)))
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write call per line, so two processes appending at once do not interleave within a line.
    file.write_all(format!("{line}\n").as_bytes())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fetch = args.net.fetch_config();
    let cache = FileCache::open(args.cache_file.clone())?;
    let config = ResolverConfig::default().with_grace(Duration::from_secs(args.grace));
    let resolver = mta_sts_fetch::resolver_with(cache, &fetch, config)?;

    let mut lookup = resolver.lookup(&args.domain).await;
    // A policy past half its lifetime comes with a refresh. An MTA spawns it and goes on
    // delivering; this program spawns it too, and waits for it before exiting so it is not lost.
    let refresh = lookup.take_refresh().map(|r| tokio::spawn(r.run()));
    let outcome = lookup.outcome();
    println!("{}: {outcome}", args.domain);

    let mx = if args.mx.is_empty() {
        mx_hosts(&fetch, &args.domain).await
    } else {
        args.mx.clone()
    };
    deliver(outcome, &mx);

    if let Some(refresh) = refresh {
        println!("background refresh: {}", refresh.await?);
    }
    Ok(())
}

/// The domain's MX hosts, from DNS: what an MTA delivers to.
async fn mx_hosts(fetch: &FetchConfig, domain: &Domain) -> Vec<String> {
    let records = match DnsClient::new(fetch) {
        Ok(dns) => dns.mx(domain.as_str()).await,
        Err(e) => {
            eprintln!("mx lookup: {e}");
            return Vec::new();
        }
    };
    match records {
        // No MX records: mail goes to the domain itself (the implicit MX, RFC 5321 §5.1).
        Ok(records) if records.is_empty() => vec![domain.to_string()],
        Ok(records) => records.into_iter().map(|r| r.exchange).collect(),
        Err(e) => {
            eprintln!("mx lookup: {e}");
            Vec::new()
        }
    }
}

/// Prints what an MTA does with `outcome` when delivering to the MX hosts `mx`.
fn deliver(outcome: &Outcome, mx: &[String]) {
    if outcome.should_alert() {
        // RFC 8461 §3.3: the cached policy still applies, but an administrator should know that
        // it could not be checked.
        let failure = outcome.failure().map(ToString::to_string);
        println!(
            "alert: the cached policy could not be checked ({}); tell the postmaster",
            failure.unwrap_or_default()
        );
    }
    let Some(cached) = outcome.policy() else {
        if let Some(failure) = outcome.failure() {
            println!("report: {} (TLSRPT)", failure.result_type());
        }
        println!("decision: no policy: deliver as without MTA-STS");
        return;
    };
    let policy = cached.policy();
    match policy.mode() {
        Mode::Enforce => println!(
            "decision: enforce: deliver only to an allowed MX host, over TLS with a certificate valid for its name; otherwise keep the mail queued"
        ),
        Mode::Testing => println!(
            "decision: testing: deliver as without MTA-STS; report (TLSRPT) what enforce would refuse"
        ),
        Mode::None => println!("decision: none: deliver as without MTA-STS"),
    }
    if policy.mode() != Mode::None {
        for host in mx {
            let verdict = if policy.matches_mx(host) {
                "allowed"
            } else {
                "not allowed"
            };
            println!("mx {host}: {verdict}");
        }
    }
    let expires = cached
        .expires_at()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    println!("cached until {expires} (Unix time)");
}
