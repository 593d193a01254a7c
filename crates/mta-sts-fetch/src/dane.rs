//! DANE lookups (RFC 7672 §2.2): the MX RRset, each MX host's addresses and TLSA records,
//! validated with DNSSEC in process (or vouched for by a validating resolver on this host with
//! the AD bit), judged by `smtp-dane`, cached for the answers' TTL.
//!
//! A separate resolver from [`DnsClient`](crate::DnsClient)'s: MTA-STS lookups must never depend on
//! DNSSEC (an unsigned or oddly signed policy host is normal), while here every answer must be
//! validated.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::ProtocolConfig;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::tcp::TcpClientStream;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::net::xfer::DnsHandle;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::{
    DnsRequest, DnsRequestOptions, DnsResponse, Edns, Message, Query, ResponseCode,
};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use smtp_dane::{DaneState, HostAnswer, HostDane, MxAnswer, Tlsa};
use tokio::time::Instant;

use crate::dns::{absolute, dns_error, relative, resolver_builder};
use crate::{ConfigError, DnsError, FetchConfig};

/// MX hosts examined at once for one domain.
const HOST_CONCURRENCY: usize = 4;
/// MX hosts examined per domain; Postfix itself tries at most 5 by default
/// (`smtp_mx_address_limit`), so more would only cost lookups.
const MAX_HOSTS: usize = 16;
/// How long a failed DANE lookup is remembered, so that a failing zone does not cost a full
/// lookup for every message queued to it.
const FAILURE_HOLD: Duration = Duration::from_secs(5);
/// The longest a DANE state is kept, whatever the TTLs say.
const MAX_TTL: Duration = Duration::from_secs(86_400);
/// CNAME links followed one by one (see `DaneClient::query`); more than any real chain.
const MAX_CHAIN: usize = 8;
/// Answers hickory keeps for the validating resolver (see `validating_resolver`).
const DNS_CACHE: u64 = 1024;
/// The TTL of a negative answer without an SOA to take it from.
const NEGATIVE_TTL: u32 = 60;
/// The EDNS payload size offered to a resolver whose AD bit is trusted: the DNS flag day 2020
/// value, which avoids IP fragmentation; larger answers come over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// A domain's DANE state as [`DaneClient`] keeps it: shared, and a failure too (for a few
/// seconds), so concurrent callers get the one outcome.
pub type CachedState = Result<Arc<DaneState>, Arc<DaneError>>;

/// Where DNSSEC validation of DANE lookups starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DnssecTrust {
    /// The root zone's key-signing keys built into hickory (KSK-2017 and KSK-2024).
    #[default]
    Root,
    /// The DNSKEY records in this file, in zone-file syntax (as `/usr/share/dns/root.key`):
    /// for a private root, or tests.
    AnchorFile(PathBuf),
    /// No validation in process: the configured name servers (or the system's) are validating
    /// resolvers on this host, and an answer is secure exactly when it carries their AD
    /// (Authenticated Data) bit. [`DaneClient::new`] refuses this unless every name server is
    /// a loopback address: the AD bit is not authenticated on the wire (RFC 6698 §4.1, RFC 7672
    /// §2.1).
    LocalResolver,
}

/// Why a domain's DANE state could not be established. A caller must not treat this as "no
/// DANE": deliver later (Postfix `TEMP`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaneError {
    /// An answer failed DNSSEC validation (a bad or expired signature, a broken chain of trust).
    #[error("dns: {name} {rtype}: DNSSEC validation failed (bogus)")]
    Bogus {
        /// The name queried.
        name: String,
        /// The type queried.
        rtype: RecordType,
    },
    /// The lookup failed: SERVFAIL, no answer, no reachable server.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The whole DANE lookup did not finish within the deadline.
    #[error("DANE lookup for {domain}: no answer within {:.1} s", .timeout.as_secs_f64())]
    Timeout {
        /// The domain.
        domain: String,
        /// The deadline.
        timeout: Duration,
    },
}

impl DaneError {
    /// Why mail to `domain` waits, as a socketmap `TEMP` reason: the daemon answers it and
    /// `mta-sts-query --dane` shows it, so both say the same.
    pub fn temp_reason(&self, domain: &str) -> String {
        format!("DANE state of {domain} unknown: {self}")
    }
}

/// A validated answer: records and whether all of them are secure, or a denial and whether it is.
/// Both ways of establishing DNSSEC end here, so everything above `query_once` is shared.
enum Answer {
    Records {
        records: Vec<Record>,
        secure: bool,
        ttl: u32,
    },
    Denied {
        nxdomain: bool,
        secure: bool,
        ttl: u32,
    },
}

impl Answer {
    fn ttl(&self) -> u32 {
        match self {
            Self::Records { ttl, .. } | Self::Denied { ttl, .. } => *ttl,
        }
    }
}

/// DANE lookups through a validating hickory resolver, or through a local validating resolver
/// whose AD bit is trusted: [`DaneClient::lookup`] gathers and judges one domain;
/// [`DaneClient::state`] does the same through a cache that keeps each state for its TTL and runs
/// one lookup per domain at a time.
#[derive(Clone)]
pub struct DaneClient {
    source: Source,
    timeout: Duration,
    cache: Arc<quick_cache::sync::Cache<String, Cached>>,
}

/// Where secure answers come from.
#[derive(Clone)]
enum Source {
    /// hickory validates every answer from the trust anchor.
    Validating(Arc<TokioResolver>),
    /// These loopback resolvers validate, and say so with the AD bit.
    LocalResolver(Arc<[SocketAddr]>),
}

#[derive(Clone)]
struct Cached {
    state: CachedState,
    expires: Instant,
}

impl std::fmt::Debug for DaneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaneClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DaneClient {
    /// A client for `config.nameservers` (or the system's) that validates from `trust`; the whole
    /// lookup of one domain is bounded by `config.timeout`. `capacity` bounds the cache (domains).
    ///
    /// With [`DnssecTrust::LocalResolver`], fails with [`ConfigError::AdNotLoopback`] unless every
    /// name server is on loopback.
    pub fn new(
        config: &FetchConfig,
        trust: &DnssecTrust,
        capacity: usize,
    ) -> Result<Self, ConfigError> {
        let source = match trust {
            DnssecTrust::LocalResolver => Source::LocalResolver(local_resolvers(config)?),
            _ => Source::Validating(Arc::new(validating_resolver(config, trust)?)),
        };
        Ok(Self {
            source,
            timeout: config.timeout,
            cache: Arc::new(quick_cache::sync::Cache::new(capacity.max(1))),
        })
    }
}

/// A hickory resolver that validates every answer from `trust`.
fn validating_resolver(
    config: &FetchConfig,
    trust: &DnssecTrust,
) -> Result<TokioResolver, ConfigError> {
    let mut builder = resolver_builder(config)?;
    if let DnssecTrust::AnchorFile(path) = trust {
        let anchors = TrustAnchors::from_file(path).map_err(|e| ConfigError::TrustAnchor {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if anchors.is_empty() {
            return Err(ConfigError::TrustAnchor {
                path: path.display().to_string(),
                reason: "no DNSKEY record for the root zone".into(),
            });
        }
        builder = builder.with_trust_anchor(Arc::new(anchors));
    }
    let opts = builder.options_mut();
    opts.validate = true;
    opts.timeout = config.timeout / 2;
    opts.attempts = 2;
    // The states are cached above, for their TTL; hickory's own cache only needs to keep the
    // DNSKEY and DS records of the zones on the way (and the shared MX hosts' answers) between
    // lookups. Its default of 8,192 answers, RRSIGs included, doubled the daemon's memory.
    opts.cache_size = DNS_CACHE;
    builder
        .build()
        .map_err(|e| ConfigError::SystemDns(Box::new(e)))
}

/// The name servers whose AD bit may be trusted: `config.nameservers`, or the system's, all of
/// them on loopback.
fn local_resolvers(config: &FetchConfig) -> Result<Arc<[SocketAddr]>, ConfigError> {
    let servers = if config.nameservers.is_empty() {
        let (system, _) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| ConfigError::SystemDns(Box::new(e)))?;
        let mut servers: Vec<SocketAddr> = Vec::new();
        for server in system.name_servers() {
            let port = server
                .connections
                .iter()
                .find(|c| matches!(c.protocol, ProtocolConfig::Udp))
                .map_or(53, |c| c.port);
            let addr = SocketAddr::new(server.ip, port);
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
        servers
    } else {
        config.nameservers.clone()
    };
    if servers.is_empty() {
        return Err(ConfigError::SystemDns(
            "no name server to trust the AD bit of".into(),
        ));
    }
    // Every one, not just the first: a lookup may be answered by any of them.
    if let Some(remote) = servers
        .iter()
        .find(|s| !s.ip().to_canonical().is_loopback())
    {
        return Err(ConfigError::AdNotLoopback {
            nameserver: *remote,
        });
    }
    Ok(servers.into())
}

impl DaneClient {
    /// The cached state of `domain` if it is still fresh, without waiting: the warm path.
    pub fn cached(&self, domain: &str) -> Option<CachedState> {
        self.cached_until(domain).map(|(state, _)| state)
    }

    /// [`cached`](Self::cached), with the instant the state expires.
    pub fn cached_until(&self, domain: &str) -> Option<(CachedState, Instant)> {
        self.cache
            .get(domain)
            .filter(|c| c.expires > Instant::now())
            .map(|c| (c.state, c.expires))
    }

    /// Drops the cached state of `domain`, so the next [`state`](Self::state) looks it up again
    /// (an operator purging the domain). A lookup already running still stores its result.
    pub fn forget(&self, domain: &str) {
        self.cache.remove(domain);
    }

    /// Drops every cached state.
    pub fn forget_all(&self) {
        self.cache.clear();
    }

    /// The DANE state of `domain`, from the cache while its TTL lasts; otherwise looked up, with
    /// concurrent callers for the same domain waiting for one lookup. A failure is remembered
    /// for a few seconds.
    pub async fn state(&self, domain: &str) -> CachedState {
        let now = Instant::now();
        self.cache.remove_if(domain, |c| c.expires <= now);
        let guard = match self.cache.get_value_or_guard_async(domain).await {
            Ok(cached) => return cached.state,
            Err(guard) => guard,
        };
        let state = self.lookup(domain).await.map(Arc::new).map_err(Arc::new);
        let hold = match &state {
            Ok(state) => state.ttl(),
            Err(_) => FAILURE_HOLD,
        };
        let _ = guard.insert(Cached {
            state: state.clone(),
            expires: Instant::now() + hold,
        });
        state
    }

    /// Looks up and judges the DANE state of `domain`, bypassing the cache.
    pub async fn lookup(&self, domain: &str) -> Result<DaneState, DaneError> {
        tokio::time::timeout(self.timeout, self.gather(domain))
            .await
            .map_err(|_| DaneError::Timeout {
                domain: domain.to_owned(),
                timeout: self.timeout,
            })?
    }

    async fn gather(&self, domain: &str) -> Result<DaneState, DaneError> {
        let (mx, mx_ttl) = self.mx(domain).await?;
        let names: Vec<String> = match &mx {
            MxAnswer::Secure(hosts) => hosts.clone(),
            MxAnswer::Implicit(host) => vec![host.clone()],
            _ => Vec::new(),
        };
        let results: Vec<Result<(HostDane, u32), DaneError>> = futures_util::stream::iter(names)
            .map(|host| self.host(host))
            .buffered(HOST_CONCURRENCY)
            .collect()
            .await;
        let mut ttl = mx_ttl;
        let mut hosts = Vec::with_capacity(results.len());
        for result in results {
            let (host, host_ttl) = result?;
            ttl = ttl.min(host_ttl);
            hosts.push(host);
        }
        let ttl = Duration::from_secs(u64::from(ttl.max(1))).min(MAX_TTL);
        Ok(DaneState::new(mx, hosts, ttl))
    }

    async fn mx(&self, domain: &str) -> Result<(MxAnswer, u32), DaneError> {
        let answer = self.query(domain, RecordType::MX).await?;
        let ttl = answer.ttl();
        let mx = match answer {
            Answer::Records { secure: false, .. } | Answer::Denied { secure: false, .. } => {
                MxAnswer::Insecure
            }
            Answer::Denied { nxdomain: true, .. } => MxAnswer::NoMailHost,
            Answer::Denied { .. } => MxAnswer::Implicit(normalise(domain)),
            Answer::Records { records, .. } => {
                let mut exchanges: Vec<(u16, String)> = records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, relative(&mx.exchange))),
                        _ => None,
                    })
                    .collect();
                exchanges.sort();
                // RFC 7505: a lone "." exchange says the domain accepts no mail.
                if exchanges.iter().all(|(_, host)| host.is_empty()) {
                    MxAnswer::NoMailHost
                } else {
                    let mut hosts: Vec<String> = Vec::new();
                    for (_, host) in exchanges {
                        if !host.is_empty() && !hosts.contains(&host) && hosts.len() < MAX_HOSTS {
                            hosts.push(host);
                        }
                    }
                    MxAnswer::Secure(hosts)
                }
            }
        };
        Ok((mx, ttl))
    }

    /// One MX host: secure addresses (RFC 7672 §2.2.2), then its TLSA records, at the name the
    /// address lookup ended at through a secure CNAME chain first, then at the host name itself.
    async fn host(&self, host: String) -> Result<(HostDane, u32), DaneError> {
        let (a, aaaa) = tokio::join!(
            self.query(&host, RecordType::A),
            self.query(&host, RecordType::AAAA)
        );
        let (a, aaaa) = (a?, aaaa?);
        let mut ttl = a.ttl().min(aaaa.ttl());
        let positive: Vec<&Answer> = [&a, &aaaa]
            .into_iter()
            .filter(|answer| matches!(answer, Answer::Records { .. }))
            .collect();
        let secure = !positive.is_empty()
            && positive
                .iter()
                .all(|answer| matches!(answer, Answer::Records { secure: true, .. }));
        if !secure {
            let answer = HostAnswer::InsecureAddress;
            return Ok((HostDane { host, answer }, ttl));
        }
        let mut bases = Vec::with_capacity(2);
        if let Some(target) = positive
            .iter()
            .find_map(|answer| cname_target(answer, &host))
        {
            bases.push(target);
        }
        bases.push(host.clone());
        for base in bases {
            let name = format!("_25._tcp.{base}");
            match self.query(&name, RecordType::TLSA).await? {
                Answer::Records {
                    records,
                    secure: true,
                    ttl: tlsa_ttl,
                } => {
                    ttl = ttl.min(tlsa_ttl);
                    let answer = HostAnswer::Tlsa(tlsa_records(&records));
                    return Ok((HostDane { host, answer }, ttl));
                }
                // Insecure TLSA records are ignored (RFC 7672 §2.2.2); a denial moves on.
                other => ttl = ttl.min(other.ttl()),
            }
        }
        let answer = HostAnswer::NoTlsa;
        Ok((HostDane { host, answer }, ttl))
    }

    /// One validated lookup. A bogus answer reached through CNAMEs is asked again one link at a
    /// time: hickory 0.26 judges a secure CNAME into an unsigned zone bogus when the answer also
    /// carries the parent's proof that the unsigned zone has no DS, although each step validates
    /// (secure CNAME, then insecure data). Only when the steps are bogus too is the answer.
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, DaneError> {
        match self.query_once(name, rtype).await {
            Err(bogus @ DaneError::Bogus { .. }) if rtype != RecordType::CNAME => {
                match self.query_per_step(name, rtype).await {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) | Err(_) => Err(bogus),
                }
            }
            other => other,
        }
    }

    /// `name`'s CNAME chain followed with one query per link, then `rtype` at its end; `None`
    /// when `name` is no alias, so the bogus answer stands.
    async fn query_per_step(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> Result<Option<Answer>, DaneError> {
        let mut current = name.to_owned();
        let mut chain: Vec<Record> = Vec::new();
        let mut chain_secure = true;
        for _ in 0..MAX_CHAIN {
            let Answer::Records {
                records, secure, ..
            } = self.query_once(&current, RecordType::CNAME).await?
            else {
                break;
            };
            let Some(target) = records.iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some(relative(&target.0)),
                _ => None,
            }) else {
                break;
            };
            chain_secure &= secure;
            chain.extend(records);
            current = target;
        }
        if chain.is_empty() {
            return Ok(None);
        }
        let chain_ttl = chain.iter().map(|r| r.ttl).min().unwrap_or(NEGATIVE_TTL);
        Ok(Some(match self.query_once(&current, rtype).await? {
            Answer::Records {
                records,
                secure,
                ttl,
            } => {
                chain.extend(records);
                Answer::Records {
                    records: chain,
                    secure: secure && chain_secure,
                    ttl: ttl.min(chain_ttl),
                }
            }
            Answer::Denied {
                nxdomain,
                secure,
                ttl,
            } => Answer::Denied {
                nxdomain,
                secure: secure && chain_secure,
                ttl: ttl.min(chain_ttl),
            },
        }))
    }

    /// One lookup, secure or not as the configured source of trust says.
    async fn query_once(&self, name: &str, rtype: RecordType) -> Result<Answer, DaneError> {
        match &self.source {
            Source::Validating(resolver) => self.validated(resolver, name, rtype).await,
            Source::LocalResolver(servers) => self.authenticated(servers, name, rtype).await,
        }
    }

    /// One lookup validated in process by hickory.
    async fn validated(
        &self,
        resolver: &TokioResolver,
        name: &str,
        rtype: RecordType,
    ) -> Result<Answer, DaneError> {
        let fqdn = absolute(name)?;
        match resolver.lookup(fqdn, rtype).await {
            Ok(lookup) => {
                let records = lookup.answers().to_vec();
                let secure =
                    !records.is_empty() && records.iter().all(|r| r.proof == Proof::Secure);
                let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(NEGATIVE_TTL);
                if records.iter().any(|r| r.record_type() == rtype) {
                    Ok(Answer::Records {
                        records,
                        secure,
                        ttl,
                    })
                } else {
                    // Only CNAMEs: a chain into nothing.
                    Ok(Answer::Denied {
                        nxdomain: false,
                        secure,
                        ttl,
                    })
                }
            }
            Err(NetError::Dns(HickoryDnsError::NoRecordsFound(none))) => {
                let authorities = none.authorities.as_deref().unwrap_or_default();
                // An authenticated denial carries its SOA and NSEC records, all secure; an
                // unsigned zone's carries only an insecure SOA.
                let secure =
                    !authorities.is_empty() && authorities.iter().all(|r| r.proof == Proof::Secure);
                let ttl = none
                    .soa
                    .as_ref()
                    .map(|soa| soa.ttl.min(soa.data.minimum))
                    .unwrap_or(NEGATIVE_TTL);
                Ok(Answer::Denied {
                    nxdomain: none.response_code == ResponseCode::NXDomain,
                    secure,
                    ttl,
                })
            }
            Err(NetError::Dns(HickoryDnsError::DnssecBogus)) => Err(DaneError::Bogus {
                name: name.to_owned(),
                rtype,
            }),
            Err(NetError::Dns(HickoryDnsError::Nsec {
                proof: Proof::Bogus,
                ..
            })) => Err(DaneError::Bogus {
                name: name.to_owned(),
                rtype,
            }),
            Err(e) => Err(dns_error(name, e, self.timeout).into()),
        }
    }

    /// One lookup through the local validating resolvers, tried in order: secure exactly when
    /// the answer has the AD bit. SERVFAIL (how a validating resolver reports bogus data),
    /// REFUSED and silence move on to the next resolver; the last failure is the error.
    async fn authenticated(
        &self,
        servers: &[SocketAddr],
        name: &str,
        rtype: RecordType,
    ) -> Result<Answer, DaneError> {
        let fqdn = absolute(name)?;
        // Two tries' worth of the deadline, as the validating resolver gets; `lookup` bounds the
        // whole domain anyway.
        let per_server = self.timeout / 2;
        let mut failure = None;
        for server in servers {
            match ad_exchange(*server, Query::query(fqdn.clone(), rtype), per_server).await {
                Ok(response) => match response.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => {
                        return Ok(ad_answer(&response, rtype));
                    }
                    code => {
                        failure = Some(DnsError::Response {
                            name: name.to_owned(),
                            code: code.to_string(),
                        });
                    }
                },
                Err(e) => failure = Some(dns_error(name, e, per_server)),
            }
        }
        Err(failure
            .unwrap_or_else(|| DnsError::Other {
                name: name.to_owned(),
                source: "no name server".into(),
            })
            .into())
    }
}

/// Sends `query` to `server` with RD (the resolver recurses), AD (RFC 6840 §5.7: report
/// authentication) and EDNS DO (RFC 3225: DNSSEC wanted), over UDP, and again over TCP when the
/// UDP answer is truncated. Each exchange is a fresh socket (a random source port for UDP),
/// so nothing outlives the lookup.
async fn ad_exchange(
    server: SocketAddr,
    query: Query,
    timeout: Duration,
) -> Result<DnsResponse, NetError> {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.metadata.authentic_data = true;
    message.queries.push(query);
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD).set_dnssec_ok(true);
    message.edns = Some(edns);
    let mut options = DnsRequestOptions::default();
    options.edns_payload_len = EDNS_PAYLOAD;
    options.edns_set_dnssec_ok = true;
    let request = DnsRequest::new(message, options);

    let provider = TokioRuntimeProvider::default();
    let udp = UdpClientStream::builder(server, provider.clone())
        .with_timeout(Some(timeout))
        .exchange();
    let response = first_response(udp.send(request.clone())).await?;
    if !response.metadata.truncation {
        return Ok(response);
    }
    let tcp = TcpClientStream::exchange(server, None, timeout, Some(1), provider).await?;
    first_response(tcp.send(request)).await
}

async fn first_response<S>(mut responses: S) -> Result<DnsResponse, NetError>
where
    S: futures_util::Stream<Item = Result<DnsResponse, NetError>> + Unpin,
{
    responses
        .next()
        .await
        .unwrap_or_else(|| Err(NetError::from("the name server closed without an answer")))
}

/// The answer in a NOERROR or NXDOMAIN response from a resolver whose AD bit is trusted. The
/// resolver has followed any CNAMEs, and its AD bit covers the whole chain, so the answer is
/// kept as it came: the `rtype` records and the CNAMEs, without signatures.
fn ad_answer(response: &DnsResponse, rtype: RecordType) -> Answer {
    let secure = response.metadata.authentic_data;
    let records: Vec<Record> = response
        .answers
        .iter()
        .filter(|r| r.record_type() == rtype || r.record_type() == RecordType::CNAME)
        .cloned()
        .collect();
    if response.response_code == ResponseCode::NoError
        && records.iter().any(|r| r.record_type() == rtype)
    {
        let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(NEGATIVE_TTL);
        return Answer::Records {
            records,
            secure,
            ttl,
        };
    }
    // NXDOMAIN, NODATA, or a CNAME chain into nothing.
    let chain_ttl = records.iter().map(|r| r.ttl).min();
    let ttl = response
        .negative_ttl()
        .into_iter()
        .chain(chain_ttl)
        .min()
        .unwrap_or(NEGATIVE_TTL);
    Answer::Denied {
        nxdomain: response.response_code == ResponseCode::NXDomain,
        secure,
        ttl,
    }
}

/// The name an address answer ended at, when it came through CNAMEs from `host`.
fn cname_target(answer: &Answer, host: &str) -> Option<String> {
    let Answer::Records { records, .. } = answer else {
        return None;
    };
    records
        .iter()
        .find(|r| matches!(r.data, RData::A(_) | RData::AAAA(_)))
        .map(|r| relative(&r.name))
        .filter(|target| target != host)
}

fn tlsa_records(records: &[Record]) -> Vec<Tlsa> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(tlsa) => Some(Tlsa::new(
                tlsa.cert_usage.into(),
                tlsa.selector.into(),
                tlsa.matching.into(),
                tlsa.cert_data.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn normalise(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}
