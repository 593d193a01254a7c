//! Real servers on loopback for integration tests of an MTA-STS
//! ([RFC 8461](https://www.rfc-editor.org/rfc/rfc8461)) policy fetcher.
//!
//! - [`TestDns`]: an in-process DNS server on `127.0.0.1` (UDP and TCP, same port) that is
//!   authoritative for every name. Add TXT, A, AAAA, CNAME and MX records, clear them, make a name
//!   answer SERVFAIL or REFUSED or not at all, and count the queries, all while it runs. TXT and A
//!   records can also be given for a name pattern (`_mta-sts.*.cold.example`), for any number of
//!   generated names.
//! - [`SignedDns`]: a DNS server on `127.0.0.1` serving DNSSEC-signed zones ([`ZoneKind`]:
//!   signed, insecure delegation, bogus or expired signatures) to a validating stub resolver,
//!   chained from a root trust anchor generated at start; records replaceable at run time.
//! - [`TestCa`]: a throwaway root CA generated at runtime; hand [`TestCa::cert_pem`] to the client
//!   under test as an extra trust anchor.
//! - [`PolicyServer`]: an HTTPS server on `127.0.0.1` (HTTP/1.1 and HTTP/2, chosen by ALPN) that picks
//!   a certificate ([`CertKind`]) and a canned [`Response`] by SNI host name, and records every request.
//!   Responses can be delayed, trickled, chunked, announce a wrong `Content-Length`, or hang.
//!   Hosts can be given by pattern (`mta-sts.*.cold.example`): each gets its certificate at its
//!   first handshake.
//! - [`PolicyDomains`]: the three above together, with one call to publish a domain (or every
//!   domain matching a pattern).
//! - [`SmtpServer`]: an SMTP server on loopback that answers EHLO, offers (or refuses) STARTTLS
//!   with a certificate of a chosen [`CertKind`] for whatever MX name the client asks for, and
//!   accepts mail, recording each [`SmtpMessage`] with whether it came over TLS.
//! - [`SilentServer`]: a TCP port that accepts connections and then says nothing.
//! - [`ConnectProxy`]: an HTTP CONNECT proxy that tunnels to the policy server and counts tunnels.
//! - [`TestRedis`], [`TestSentinel`], [`TestPostgres`]: private Redis, Sentinel and PostgreSQL server
//!   processes on their own ports and scratch directories (binaries from Debian's packages).
//! - [`eventually`] and [`eventually_blocking`]: bounded waits for state that offers no
//!   notification, so tests never sleep for a guessed time.
//! - [`PostfixInstance`]: a private Postfix (Debian's package, run as root) in a scratch
//!   directory, whose chrooted `smtp` client delivers to [`SmtpServer`]s on loopback without DNS
//!   and asks a socketmap TLS policy table, such as the policy daemon's socket inside its chroot.
//!   Tests submit mail and wait, with a bound, for what the log says about each delivery.
//!
//! # Design
//!
//! This crate does I/O: every server binds a random port on `127.0.0.1` and runs as tasks on the
//! current tokio runtime, so create it from inside one (`#[tokio::test]`). Dropping a server aborts
//! its tasks and closes its sockets. Configuration is shared state behind a mutex, so tests change
//! records and behaviours through `&self` while clients are connected. The setters panic on invalid
//! input (a bad DNS name, an invalid header), which is what a test wants.
//!
//! [`PostfixInstance`] is a tree of processes instead. Its waiting methods are `async` and poll
//! with a bounded deadline, so an [`SmtpServer`] on the same (single-threaded) test runtime keeps
//! serving the deliveries being waited for.
//!
//! # Example
//!
//! ```no_run
//! use mta_sts_testkit::{CertKind, HostConfig, PolicyServer, Response, TestCa, TestDns};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let dns = TestDns::start().await?;
//! dns.add_txt("_mta-sts.example.com", &[b"v=STSv1; id=20240101"]);
//! dns.add_a("mta-sts.example.com", std::net::Ipv4Addr::LOCALHOST);
//!
//! let ca = TestCa::new();
//! let https = PolicyServer::start(&ca).await?;
//! https.set_host(
//!     "mta-sts.example.com",
//!     HostConfig {
//!         cert: CertKind::Valid,
//!         response: Response::policy("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n"),
//!     },
//! );
//!
//! // Point the fetcher under test at `dns.addr()` for DNS, at `https.addr()` for every HTTPS
//! // connection, and give it `ca.cert_pem()` as a trust anchor. Afterwards:
//! assert_eq!(dns.query_count("_mta-sts.example.com"), 1);
//! assert_eq!(https.requests("mta-sts.example.com")[0].path, "/.well-known/mta-sts.txt");
//! # Ok(())
//! # }
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | No optional features. TLS uses rustls with the ring provider only. |
#![forbid(unsafe_code)]

pub use dns::{DnsBehavior, TestDns};
pub use dnssec::{SignedDns, SignedDnsBuilder, Tlsa, ZoneKind};
pub use domains::PolicyDomains;
pub use https::{HostConfig, PolicyServer, RecordedRequest, Response};
pub use pki::{CertKind, TestCa};
pub use postfix::{
    Delivery, DeliveryStatus, PostfixBuilder, PostfixInstance, QueueId, QueueName, QueuedMessage,
    QueuedRecipient,
};
pub use proxy::ConnectProxy;
pub use services::{TestPostgres, TestRedis, TestSentinel};
pub use silent::SilentServer;
pub use smtp::{SmtpBehavior, SmtpMessage, SmtpServer, SmtpSession};
pub use wait::{eventually, eventually_blocking};

mod body;
mod dns;
mod dnssec;
mod domains;
mod https;
mod pattern;
mod pki;
mod postfix;
mod proxy;
mod services;
mod silent;
mod smtp;
mod wait;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning: a panicking test must not cascade into the servers.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The map key for a host or DNS name: ASCII lowercase, without a trailing dot.
fn name_key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}
