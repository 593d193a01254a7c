use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use mta_sts_resolver::{TxtAnswer, TxtLookup};

use crate::{ConfigError, DnsError, FetchConfig};

/// DNS lookups through hickory-resolver: the system configuration, or explicit name servers.
///
/// CNAMEs are followed (TXT-11). Names are queried as absolute names, so no search list applies.
/// hickory's own answer cache is turned off: the resolver above decides when to ask again.
#[derive(Clone)]
pub struct DnsClient {
    resolver: Arc<TokioResolver>,
    timeout: Duration,
}

impl std::fmt::Debug for DnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DnsClient {
    /// A client for `config.nameservers`, or the system configuration when there are none.
    pub fn new(config: &FetchConfig) -> Result<Self, ConfigError> {
        let mut builder = resolver_builder(config)?;
        let opts = builder.options_mut();
        // Each try gets part of the deadline; the whole lookup is also bounded by `timeout`.
        opts.timeout = config.timeout / 2;
        opts.attempts = 2;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        let resolver = builder
            .build()
            .map_err(|e| ConfigError::SystemDns(Box::new(e)))?;
        Ok(Self {
            resolver: Arc::new(resolver),
            timeout: config.timeout,
        })
    }

    /// The TXT records at `name`, each as its character-strings, or which kind of "none".
    pub async fn txt(&self, name: &str) -> Result<TxtAnswer, DnsError> {
        let fqdn = absolute(name)?;
        let lookup = tokio::time::timeout(self.timeout, self.resolver.txt_lookup(fqdn))
            .await
            .map_err(|_| DnsError::Timeout {
                name: name.to_owned(),
                timeout: self.timeout,
            })?;
        match lookup {
            Ok(lookup) => {
                let records: Vec<Vec<Vec<u8>>> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
                        _ => None,
                    })
                    .collect();
                // An answer of only CNAMEs (a chain into nothing) has no TXT records.
                Ok(if records.is_empty() {
                    TxtAnswer::NoRecords
                } else {
                    TxtAnswer::Records(records)
                })
            }
            Err(NetError::Dns(HickoryDnsError::NoRecordsFound(none))) => {
                Ok(if none.response_code == ResponseCode::NXDomain {
                    TxtAnswer::NoSuchName
                } else {
                    TxtAnswer::NoRecords
                })
            }
            Err(e) => Err(dns_error(name, e, self.timeout)),
        }
    }

    /// The addresses of `host` (A and AAAA, following CNAMEs).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let fqdn = absolute(host)?;
        let lookup = tokio::time::timeout(self.timeout, self.resolver.lookup_ip(fqdn))
            .await
            .map_err(|_| DnsError::Timeout {
                name: host.to_owned(),
                timeout: self.timeout,
            })?;
        match lookup {
            Ok(ips) => {
                let ips: Vec<IpAddr> = ips.iter().collect();
                if ips.is_empty() {
                    Err(DnsError::NoAddress {
                        name: host.to_owned(),
                    })
                } else {
                    Ok(ips)
                }
            }
            Err(e) if is_no_records(&e) => Err(DnsError::NoAddress {
                name: host.to_owned(),
            }),
            Err(e) => Err(dns_error(host, e, self.timeout)),
        }
    }
}

impl DnsClient {
    /// The MX records of `domain`, sorted by preference then name; empty for NXDOMAIN or NODATA.
    ///
    /// Exchange names are returned in lower case without the trailing dot.
    pub async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        let fqdn = absolute(domain)?;
        let lookup = tokio::time::timeout(self.timeout, self.resolver.mx_lookup(fqdn))
            .await
            .map_err(|_| DnsError::Timeout {
                name: domain.to_owned(),
                timeout: self.timeout,
            })?;
        let mut records: Vec<MxRecord> = match lookup {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::MX(mx) => Some(MxRecord {
                        preference: mx.preference,
                        exchange: relative(&mx.exchange),
                    }),
                    _ => None,
                })
                .collect(),
            Err(e) if is_no_records(&e) => Vec::new(),
            Err(e) => return Err(dns_error(domain, e, self.timeout)),
        };
        records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        records.dedup();
        Ok(records)
    }

    /// The CNAME chain that starts at `name`: each target in order, empty when `name` is not an
    /// alias. At most 8 links are followed, which also stops loops.
    pub async fn cname_chain(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let mut chain: Vec<String> = Vec::new();
        let mut current = name.to_owned();
        for _ in 0..8 {
            let fqdn = absolute(&current)?;
            let lookup =
                tokio::time::timeout(self.timeout, self.resolver.lookup(fqdn, RecordType::CNAME))
                    .await
                    .map_err(|_| DnsError::Timeout {
                        name: current.clone(),
                        timeout: self.timeout,
                    })?;
            let target = match lookup {
                Ok(lookup) => lookup
                    .answers()
                    .iter()
                    .find_map(|record| match &record.data {
                        RData::CNAME(target) => Some(relative(&target.0)),
                        _ => None,
                    }),
                Err(e) if is_no_records(&e) => None,
                Err(e) => return Err(dns_error(&current, e, self.timeout)),
            };
            match target {
                Some(target) if !chain.contains(&target) && target != name => {
                    chain.push(target.clone());
                    current = target;
                }
                _ => break,
            }
        }
        Ok(chain)
    }
}

/// One MX record: a mail exchanger and its preference (lower is tried first).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MxRecord {
    /// The preference.
    pub preference: u16,
    /// The exchange host name, lower case, without the trailing dot.
    pub exchange: String,
}

impl MxRecord {
    /// A record for `exchange` (normalised: lower case, no trailing dot; `.` is the null MX of
    /// RFC 7505, an empty name) at `preference`.
    pub fn new(preference: u16, exchange: &str) -> Self {
        Self {
            preference,
            exchange: exchange.trim_end_matches('.').to_ascii_lowercase(),
        }
    }
}

impl TxtLookup for DnsClient {
    type Error = DnsError;

    async fn lookup_txt(&self, name: &str) -> Result<TxtAnswer, DnsError> {
        self.txt(name).await
    }
}

/// A resolver builder for `config.nameservers` (UDP and TCP on each one's port), or for the
/// system configuration when there are none.
pub(crate) fn resolver_builder(
    config: &FetchConfig,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, ConfigError> {
    if config.nameservers.is_empty() {
        return TokioResolver::builder_tokio().map_err(|e| ConfigError::SystemDns(Box::new(e)));
    }
    let servers = config
        .nameservers
        .iter()
        .map(|addr| {
            let mut udp = ConnectionConfig::new(ProtocolConfig::Udp);
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::new(ProtocolConfig::Tcp);
            tcp.port = addr.port();
            NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
        })
        .collect();
    Ok(TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(servers),
        TokioRuntimeProvider::default(),
    ))
}

pub(crate) fn absolute(name: &str) -> Result<Name, DnsError> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).map_err(|_| {
        DnsError::InvalidName {
            name: name.to_owned(),
        }
    })
}

/// `name` in lower case without the trailing dot.
pub(crate) fn relative(name: &Name) -> String {
    let ascii = name.to_ascii();
    ascii
        .strip_suffix('.')
        .unwrap_or(&ascii)
        .to_ascii_lowercase()
}

fn is_no_records(e: &NetError) -> bool {
    matches!(e, NetError::Dns(HickoryDnsError::NoRecordsFound(_)))
}

pub(crate) fn dns_error(name: &str, e: NetError, timeout: Duration) -> DnsError {
    let name = name.to_owned();
    match e {
        NetError::Dns(HickoryDnsError::ResponseCode(code)) => DnsError::Response {
            name,
            code: code.to_string(),
        },
        NetError::Timeout => DnsError::Timeout { name, timeout },
        other => DnsError::Other {
            name,
            source: Box::new(other),
        },
    }
}
