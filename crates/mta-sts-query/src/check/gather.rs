//! Everything `check` looks at, gathered before anything is judged: the I/O half of the check.
//!
//! The DNS lookups of every step, the DANE lookup through its own validating resolver among them,
//! run at once under one deadline, so unreachable name servers cost one timeout, not one per
//! lookup. Then the policy host is fetched on each of its addresses
//! and the MX hosts are probed over SMTP, a few at a time, each within the deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mta_sts_fetch::{
    DaneError, DnsClient, DnsError, FetchError, HttpVersion, MxRecord, PolicyAttempt, TlsProbe,
    TlsVersion,
};
use mta_sts_policy::Domain;
use mta_sts_resolver::TxtAnswer;
use mta_sts_txt::{sts_record_name, tlsrpt_record_name};
use smtp_dane::DaneState;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::smtp::{SmtpFailure, session};
use super::{CheckOptions, Clients};

/// Addresses of the policy host fetched from, at most.
pub(crate) const MAX_ADDRESSES: usize = 8;
/// MX hosts probed over SMTP, at most.
pub(crate) const MAX_HOSTS: usize = 20;
/// MX hosts probed at the same time.
const CONCURRENCY: usize = 4;

/// A DNS name, the aliases it leads through, and what its TXT lookup found.
#[derive(Debug)]
pub(crate) struct TxtLookup {
    pub(crate) name: String,
    /// The CNAME targets from `name`, in order; empty when it is not an alias (or that lookup
    /// failed, which the TXT lookup then reports).
    pub(crate) chain: Vec<String>,
    pub(crate) answer: Result<TxtAnswer, DnsError>,
}

/// The policy host: its aliases, its addresses, and one fetch from each address.
#[derive(Debug)]
pub(crate) struct HostLookup {
    pub(crate) host: String,
    pub(crate) chain: Vec<String>,
    pub(crate) addresses: Result<Vec<IpAddr>, DnsError>,
    pub(crate) attempts: Vec<Attempt>,
}

/// One fetch of the policy from one address: what was seen on the way, and the outcome.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) address: SocketAddr,
    /// The TLS version and the certificate's `notAfter`, once the handshake succeeded.
    pub(crate) tls: Option<(TlsVersion, Option<SystemTime>)>,
    pub(crate) http_version: Option<HttpVersion>,
    pub(crate) content_type: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) result: Result<Vec<u8>, FetchError>,
}

impl From<PolicyAttempt> for Attempt {
    fn from(a: PolicyAttempt) -> Self {
        Self {
            address: a.address,
            tls: a.tls.map(|t| (t.version, t.not_after)),
            http_version: a.http_version,
            content_type: a.content_type,
            elapsed: a.elapsed,
            result: a.result,
        }
    }
}

/// One MX host over SMTP.
#[derive(Debug)]
pub(crate) struct SmtpProbe {
    pub(crate) host: String,
    pub(crate) result: Result<SmtpSeen, SmtpProblem>,
}

/// A completed STARTTLS handshake with an MX host.
#[derive(Debug)]
pub(crate) struct SmtpSeen {
    pub(crate) address: SocketAddr,
    pub(crate) version: TlsVersion,
    pub(crate) not_after: Option<SystemTime>,
    /// The certificates presented, leaf first (DER), for the TLSA records.
    pub(crate) chain: Vec<Vec<u8>>,
}

/// Why an MX host could not be checked to the end.
#[derive(Debug)]
pub(crate) enum SmtpProblem {
    /// Its addresses could not be looked up.
    Dns(DnsError),
    /// No address accepted a connection: the last error.
    Connect(String),
    /// No complete exchange within the deadline.
    Timeout(Duration),
    /// The session went wrong at `address`.
    Session {
        address: SocketAddr,
        failure: SmtpFailure,
    },
}

/// What was gathered, for [`judge`](super::judge).
#[derive(Debug)]
pub(crate) struct Gathered {
    pub(crate) now: SystemTime,
    pub(crate) sts: TxtLookup,
    pub(crate) tlsrpt: TxtLookup,
    pub(crate) policy_host: HostLookup,
    pub(crate) mx: Result<Vec<MxRecord>, DnsError>,
    /// The DNSSEC-validated DANE state; `None` when the DANE step was skipped (`--no-dane`).
    pub(crate) dane: Option<Result<DaneState, DaneError>>,
    /// `None` when the SMTP step was skipped (`--no-smtp`).
    pub(crate) smtp: Option<Vec<SmtpProbe>>,
    /// The SMTP port probed.
    pub(crate) smtp_port: u16,
}

/// The MX host names to probe: every exchange but the null MX (RFC 7505), by preference.
pub(crate) fn mx_hosts(records: &[MxRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| !r.exchange.is_empty())
        .map(|r| r.exchange.clone())
        .collect()
}

/// Gathers everything the steps judge.
pub(crate) async fn gather(
    clients: Clients<'_>,
    domain: &Domain,
    options: &CheckOptions,
) -> Gathered {
    let Clients {
        dns,
        https,
        probe,
        dane,
    } = clients;
    let now = SystemTime::now();
    let host = domain.policy_host();
    let sts_name = sts_record_name(domain.as_str());
    let tlsrpt_name = tlsrpt_record_name(domain.as_str());
    // Every lookup at once, under one deadline: the client's own timeout bounds each of them.
    // The DANE lookup bounds itself by the same timeout (DANE-8: through its own resolver).
    let (sts, tlsrpt, (host_chain, addresses), mx, dane) = tokio::join!(
        txt_lookup(dns, &sts_name),
        txt_lookup(dns, &tlsrpt_name),
        async { tokio::join!(chain(dns, &host), dns.addresses(&host)) },
        dns.mx(domain.as_str()),
        async {
            match dane {
                Some(client) => Some(client.lookup(domain.as_str()).await),
                None => None,
            }
        },
    );
    let fetches = async {
        let Ok(addresses) = &addresses else {
            return Vec::new();
        };
        let attempts = addresses
            .iter()
            .take(MAX_ADDRESSES)
            .map(|ip| https.fetch_from(domain, *ip));
        futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(Attempt::from)
            .collect()
    };
    let probes = async {
        match (&mx, options.smtp) {
            (Ok(records), true) => Some(
                smtp_probes(
                    dns,
                    probe,
                    &mx_hosts(records),
                    options.smtp_port,
                    options.timeout,
                )
                .await,
            ),
            (Err(_), true) => Some(Vec::new()),
            (_, false) => None,
        }
    };
    let (attempts, smtp) = tokio::join!(fetches, probes);
    Gathered {
        now,
        sts,
        tlsrpt,
        policy_host: HostLookup {
            host,
            chain: host_chain,
            addresses,
            attempts,
        },
        mx,
        dane,
        smtp,
        smtp_port: options.smtp_port,
    }
}

async fn txt_lookup(dns: &DnsClient, name: &str) -> TxtLookup {
    let (chain, answer) = tokio::join!(chain(dns, name), dns.txt(name));
    TxtLookup {
        name: name.to_owned(),
        chain,
        answer,
    }
}

/// The CNAME chain at `name`; a failure is left to the lookup of the name itself to report.
async fn chain(dns: &DnsClient, name: &str) -> Vec<String> {
    dns.cname_chain(name).await.unwrap_or_default()
}

/// Every MX host over SMTP, [`CONCURRENCY`] at a time, each within `timeout`.
async fn smtp_probes(
    dns: &DnsClient,
    probe: &TlsProbe,
    hosts: &[String],
    port: u16,
    timeout: Duration,
) -> Vec<SmtpProbe> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, host) in hosts.iter().take(MAX_HOSTS).enumerate() {
        let (dns, probe, host) = (dns.clone(), probe.clone(), host.clone());
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = tokio::time::timeout(timeout, smtp_probe(&dns, &probe, &host, port))
                .await
                .unwrap_or(Err(SmtpProblem::Timeout(timeout)));
            (index, SmtpProbe { host, result })
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, probe)| probe).collect()
}

async fn smtp_probe(
    dns: &DnsClient,
    probe: &TlsProbe,
    host: &str,
    port: u16,
) -> Result<SmtpSeen, SmtpProblem> {
    let addresses = dns.addresses(host).await.map_err(SmtpProblem::Dns)?;
    let mut last = None;
    for ip in &addresses {
        let address = SocketAddr::new(*ip, port);
        match TcpStream::connect(address).await {
            Ok(tcp) => {
                let tls = session(probe, host, tcp)
                    .await
                    .map_err(|failure| SmtpProblem::Session { address, failure })?;
                return Ok(SmtpSeen {
                    address,
                    version: tls.version,
                    not_after: tls.not_after,
                    chain: tls.chain,
                });
            }
            Err(e) => last = Some(format!("{address}: {e}")),
        }
    }
    Err(SmtpProblem::Connect(
        last.unwrap_or_else(|| "no address".to_owned()),
    ))
}
