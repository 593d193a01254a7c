//! The I/O half of MTA-STS policy discovery: the real [`TxtLookup`](mta_sts_resolver::TxtLookup)
//! and [`PolicyFetch`](mta_sts_resolver::PolicyFetch) for
//! [`mta_sts_resolver::Resolver`], built on hickory-resolver, hyper and rustls (ring).
//!
//! - [`DnsClient`]: TXT and address lookups, through the system configuration or explicit name
//!   servers; NXDOMAIN/NODATA ("no record") is told apart from SERVFAIL and timeouts (failures).
//! - [`PolicyClient`]: the HTTPS fetch of RFC 8461 §3.3: SNI and certificate checks against
//!   `mta-sts.<domain>`, TLS 1.2+, status 200 only, no redirects, `text/plain`, 64 KiB cap, one
//!   deadline for everything, optional CONNECT proxy from `HTTPS_PROXY`.
//! - For diagnostics: [`PolicyClient::fetch_from`] fetches from one address and reports the TLS
//!   version, certificate expiry, status and media type ([`PolicyAttempt`]); [`TlsProbe`] runs a
//!   checked TLS handshake over any stream (SMTP after `STARTTLS`); [`DnsClient::mx`] and
//!   [`DnsClient::cname_chain`] look up MX records and aliases.
//! - Every failure is a typed [`FetchError`] or [`DnsError`] whose message says what happened, e.g.
//!   `tls: certificate for mta-sts.example.com expired 2024-01-01`.
//!
//! # Design
//!
//! This is the only library crate of the workspace that does I/O. It needs a tokio runtime.
//!
//! # Example
//!
//! The common case, the system's DNS and the HTTPS fetcher over a cache of your choice:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let resolver = mta_sts_fetch::resolver(mta_sts_cache::MemoryCache::new(10_000))?;
//! let lookup = resolver.lookup(&"gmail.com".parse()?).await;
//! println!("{}", lookup.outcome());
//! # Ok(()) }
//! ```
//!
//! Other name servers, trust anchors or deadlines go through [`FetchConfig`] and
//! [`resolver_with`]; `docs/embedding.md` shows an MTA's own cache and DNS.
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | Both root stores (webpki-roots, system) are always available; choose with [`Roots`]. |
#![forbid(unsafe_code)]

pub use clock::SystemClock;
pub use config::{FetchConfig, Proxy, Roots};
pub use dane::{CachedState, DaneClient, DaneError, DnssecTrust};
pub use dns::{DnsClient, MxRecord};
pub use error::{CertificateProblem, ConfigError, DnsError, FetchError, utc_date};
pub use https::PolicyClient;
pub use probe::{HttpVersion, PolicyAttempt, TlsDetails, TlsProbe, TlsVersion};

mod cert;
mod clock;
mod config;
mod dane;
mod dns;
mod error;
mod https;
mod probe;
mod proxy;
mod tls;

use mta_sts_cache::PolicyCache;
use mta_sts_resolver::{Resolver, ResolverConfig};

/// The resolver of the common case: this crate's DNS and HTTPS clients and the system clock,
/// over a cache of your choice.
pub type SystemResolver<C> = Resolver<DnsClient, PolicyClient, C, SystemClock>;

/// A DNS client and a policy client sharing one configuration.
pub fn clients(config: &FetchConfig) -> Result<(DnsClient, PolicyClient), ConfigError> {
    let dns = DnsClient::new(config)?;
    let https = PolicyClient::new(config, dns.clone())?;
    Ok((dns, https))
}

/// A [`SystemResolver`] over `cache`, with the system's DNS configuration and every default
/// ([`FetchConfig::default`], [`ResolverConfig::default`]). Needs a tokio runtime to run lookups.
pub fn resolver<C: PolicyCache + 'static>(cache: C) -> Result<SystemResolver<C>, ConfigError> {
    resolver_with(cache, &FetchConfig::default(), ResolverConfig::default())
}

/// A [`SystemResolver`] over `cache` with these settings.
pub fn resolver_with<C: PolicyCache + 'static>(
    cache: C,
    fetch: &FetchConfig,
    config: ResolverConfig,
) -> Result<SystemResolver<C>, ConfigError> {
    let (dns, https) = clients(fetch)?;
    Ok(Resolver::new(dns, https, cache, SystemClock, config))
}
