//! A minimal Postfix TLS policy server: `postfix-socketmap`'s [`ServerCodec`] over tokio, with the
//! resolver of `mta-sts-fetch` behind it.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin socketmap-policy-server -- --listen 127.0.0.1:8461
//! postmap -q gmail.com socketmap:inet:127.0.0.1:8461:postfix
//! ```
//!
//! In Postfix's `main.cf`: `smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix` (or
//! `socketmap:unix:/path:postfix` with `--socket /path`). A domain with an `enforce` policy is
//! answered `OK secure match=mx1.example.com:.example.net servername=hostname`: Postfix then
//! delivers only to those MX hosts, over TLS, with a certificate valid for the MX host name.
//! `testing` and `none` policies, domains without a policy and failed discoveries are answered
//! `NOTFOUND`, which leaves Postfix to its other policies (RFC 8461 §3.3: deliver as without
//! MTA-STS).
//!
//! Each lookup has a deadline (`--deadline`); when it passes, an unexpired cached policy is still
//! answered, so a slow DNS or policy host never removes a policy that is already known.
//!
//! This is a sketch of how the crates fit together. `mta-sts-daemon` is the full-featured server:
//! persistent caches, per-map zones, `[host]:port` and parent-domain keys, TLSRPT attributes,
//! proactive refresh, chroot and privilege dropping, and a configuration file compatible with
//! postfix-mta-sts-resolver. `docs/embedding.md` explains the pieces.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use mta_sts_cache::{MemoryCache, PolicyCache};
use mta_sts_fetch::{FetchConfig, SystemResolver};
use mta_sts_policy::{Domain, Mode, Policy};
use mta_sts_resolver::ResolverConfig;
use postfix_socketmap::{Reply, ServerCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::codec::Framed;

/// Answers Postfix's smtp_tls_policy_maps socketmap queries with MTA-STS policies.
#[derive(Debug, Parser)]
struct Args {
    /// The TCP address to listen on (Postfix: socketmap:inet:HOST:PORT:NAME).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8461")]
    listen: SocketAddr,
    /// Listen on this UNIX socket instead of TCP (Postfix: socketmap:unix:PATH:NAME).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Seconds one lookup may take; then a cached policy or NOTFOUND is answered.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    deadline: u64,
    /// Seconds after a fetch or check during which a cached policy is answered without any DNS query.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    grace: u64,
    /// How many domains the in-memory cache keeps.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    cache_size: usize,
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
    /// Deadline in seconds of each DNS lookup and of each policy fetch. Keep it below --deadline,
    /// so that a slow policy host ends in the resolver's own fallback to the cached policy.
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

type PolicyResolver = SystemResolver<MemoryCache>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cache = MemoryCache::new(args.cache_size);
    let config = ResolverConfig::default().with_grace(Duration::from_secs(args.grace));
    let resolver = mta_sts_fetch::resolver_with(cache, &args.net.fetch_config(), config)?;
    let deadline = Duration::from_secs(args.deadline);
    match &args.socket {
        Some(path) => {
            let listener = UnixListener::bind(path)?;
            println!("listening on {}", path.display());
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(serve(stream, resolver.clone(), deadline));
            }
        }
        None => {
            let listener = TcpListener::bind(args.listen).await?;
            println!("listening on {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(serve(stream, resolver.clone(), deadline));
            }
        }
    }
}

/// Answers the requests of one connection in order; Postfix keeps a connection open and sends one
/// request at a time.
async fn serve<S>(stream: S, resolver: PolicyResolver, deadline: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut framed = Framed::new(stream, ServerCodec::new());
    while let Some(item) = framed.next().await {
        let reply = match item {
            // The map name (`postfix` in `socketmap:inet:…:postfix`) could select per-map rules;
            // this server has only one.
            Ok(Ok(request)) => answer(&resolver, request.key(), deadline).await,
            Ok(Err(e)) => Reply::Perm(e.to_string()),
            // A broken netstring cannot be resynchronised: close the connection.
            Err(e) => {
                eprintln!("closing a connection: {e}");
                return;
            }
        };
        if framed.send(reply).await.is_err() {
            return;
        }
    }
}

/// The reply for one lookup key.
async fn answer(resolver: &PolicyResolver, key: &str, deadline: Duration) -> Reply {
    // Postfix asks with the next-hop domain. Keys that are not plain domain names (`[host]:port`,
    // address literals, `.parent` searches) get NOTFOUND here; mta-sts-daemon maps the first kind
    // to its domain.
    let Ok(domain) = key.parse::<Domain>() else {
        return Reply::NotFound;
    };
    match tokio::time::timeout(deadline, resolver.lookup(&domain)).await {
        Ok(mut lookup) => {
            if let Some(refresh) = lookup.take_refresh() {
                // Refresh-ahead (RFC 8461 §10.2): Postfix gets its answer now, the policy's
                // lifetime is extended in the background.
                tokio::spawn(refresh.run());
            }
            let outcome = lookup.outcome();
            let reply = reply_for(outcome.policy().map(|cached| cached.policy()));
            eprintln!("{domain}: {outcome} -> {reply}");
            reply
        }
        Err(_) => {
            // Past the deadline, an unexpired cached policy still applies (RFC 8461 §3.3); only
            // without one is the domain answered as having no policy.
            let now = std::time::SystemTime::now();
            let cached = resolver.cache().get(&domain).await.ok().flatten();
            let cached = cached.filter(|c| c.is_valid_at(now));
            let reply = reply_for(cached.as_ref().map(|c| c.policy()));
            eprintln!("{domain}: no answer within {deadline:?} -> {reply}");
            reply
        }
    }
}

/// `OK secure match=…` for an enforce policy, NOTFOUND for everything else.
fn reply_for(policy: Option<&Policy>) -> Reply {
    let Some(policy) = policy.filter(|p| p.mode() == Mode::Enforce) else {
        return Reply::NotFound;
    };
    let mut patterns: Vec<String> = Vec::new();
    for mx in policy.mx() {
        // Postfix writes "any subdomain of example.net" as `.example.net`. Postfix matches it at
        // any depth, where RFC 8461 §4.1 allows exactly one label; mta-sts-daemon's TLSRPT
        // attributes give Postfix 3.10.5+ the exact rule.
        let pattern = if mx.is_wildcard() {
            format!(".{}", mx.domain())
        } else {
            mx.as_str().to_owned()
        };
        if !patterns.iter().any(|p| p.eq_ignore_ascii_case(&pattern)) {
            patterns.push(pattern);
        }
    }
    // `servername=hostname`: Postfix sends the MX host name as SNI, which many MX hosts need to
    // pick the certificate that `secure` then checks.
    Reply::Ok(format!(
        "secure match={} servername=hostname",
        patterns.join(":")
    ))
}
