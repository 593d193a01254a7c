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
//! ```no_run
//! use mta_sts_cache::MemoryCache;
//! use mta_sts_fetch::{clients, FetchConfig, SystemClock};
//! use mta_sts_resolver::{Resolver, ResolverConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (dns, https) = clients(&FetchConfig::default())?;
//! let resolver = Resolver::new(dns, https, MemoryCache::new(10_000), SystemClock, ResolverConfig::default());
//! let lookup = resolver.lookup("gmail.com").await;
//! println!("{:?}", lookup.outcome());
//! # Ok(()) }
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | Both root stores (webpki-roots, system) are always available; choose with [`Roots`]. |
#![forbid(unsafe_code)]

pub use clock::SystemClock;
pub use config::{FetchConfig, Proxy, Roots};
pub use dns::{DnsClient, MxRecord};
pub use error::{CertificateProblem, ConfigError, DnsError, FetchError, utc_date};
pub use https::PolicyClient;
pub use probe::{PolicyAttempt, TlsDetails, TlsProbe};

mod cert;
mod clock;
mod config;
mod dns;
mod error;
mod https;
mod probe;
mod proxy;
mod tls;

/// A DNS client and a policy client sharing one configuration.
pub fn clients(config: &FetchConfig) -> Result<(DnsClient, PolicyClient), ConfigError> {
    let dns = DnsClient::new(config)?;
    let https = PolicyClient::new(config, dns.clone())?;
    Ok((dns, https))
}
