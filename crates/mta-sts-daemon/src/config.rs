//! `/etc/mta-sts-daemon.yml`: every key and default of postfix-mta-sts-resolver's
//! `mta-sts-daemon.yml(5)`, plus our optional additions.
//!
//! The YAML deserializes straight into these types: values are checked as they are read, so an
//! error carries the file, line, column and key; keys the types do not have are reported by the
//! deserializer itself (`serde_ignored`), so the list of known keys cannot drift from the structs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cache::CacheConfig;
use crate::{OnFailure, ZoneRules};

mod scalar;

pub(crate) use scalar::{count, seconds};

/// A configuration file that cannot be used. The daemon prints it and exits with status 78.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// YAML syntax, a value of the wrong type, or a value out of range.
    #[error(transparent)]
    Invalid(Box<InvalidValue>),
}

/// Where a configuration file is wrong and how.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: {key}{message}{hint}")]
#[non_exhaustive]
pub struct InvalidValue {
    /// The file.
    pub path: String,
    /// The 1-based line (0 when unknown).
    pub line: u64,
    /// The 1-based column (0 when unknown).
    pub column: u64,
    /// The key, as a dotted path (`zones.myzone.timeout`), followed by ": ", or empty.
    pub key: String,
    /// What is wrong and what would be valid.
    pub message: String,
    /// A hint for YAML structure errors (indentation), or empty.
    pub hint: &'static str,
    /// The lines around the error with a marker under the column, for people.
    pub snippet: String,
}

impl ConfigError {
    /// The lines around the error with a marker under the column, for people; empty when the
    /// error has no location.
    pub fn snippet(&self) -> &str {
        match self {
            Self::Invalid(invalid) => &invalid.snippet,
            Self::Read { .. } => "",
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on (default `127.0.0.1`).
    pub host: String,
    /// TCP port (default 8461).
    #[serde(deserialize_with = "scalar::port")]
    pub port: u16,
    /// A UNIX socket path instead of TCP.
    pub path: Option<PathBuf>,
    /// The UNIX socket's permissions, octal (`0666`).
    pub mode: Option<SocketMode>,
    /// The UNIX socket's owner, a user name or number (our addition).
    pub owner: Option<String>,
    /// The UNIX socket's group, a group name or number (our addition).
    pub group: Option<String>,
    /// `SO_REUSEPORT` on the TCP socket (default true).
    #[serde(deserialize_with = "scalar::boolean")]
    pub reuse_port: bool,
    /// How long a cached policy is used without DNS (default 60 s).
    #[serde(deserialize_with = "scalar::seconds")]
    pub cache_grace: Duration,
    /// How long in-flight requests get at shutdown (default 20 s).
    #[serde(deserialize_with = "scalar::seconds")]
    pub shutdown_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog (our addition, default 4096).
    #[serde(deserialize_with = "scalar::count")]
    pub max_connections: usize,
    /// The policy cache.
    pub cache: CacheConfig,
    /// Background refresh of every cached policy.
    pub proactive_policy_fetching: Proactive,
    /// Rules for socketmap names not listed in `zones`.
    pub default_zone: Zone,
    /// Rules per socketmap name (the last field of `socketmap:inet:host:port:NAME`).
    pub zones: BTreeMap<String, Zone>,
    /// DNS (our addition).
    pub dns: Dns,
    /// TLS trust for policy hosts (our addition).
    pub tls: Tls,
    /// How much to log when the command line has no `-v` (our addition; default `info`). Applied
    /// again on each reload.
    pub log_level: Option<LogLevel>,
    /// The control socket for `mta-sts-daemon ctl` (our addition; off unless `control.socket`).
    pub control: Control,
    /// The Prometheus metrics and health endpoint (our addition, off by default).
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8461,
            path: None,
            mode: None,
            owner: None,
            group: None,
            reuse_port: true,
            cache_grace: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(20),
            max_connections: 4096,
            cache: CacheConfig::default(),
            proactive_policy_fetching: Proactive::default(),
            default_zone: Zone::default(),
            zones: BTreeMap::new(),
            dns: Dns::default(),
            tls: Tls::default(),
            log_level: None,
            control: Control::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

/// `control:` (our addition): the UNIX socket `mta-sts-daemon ctl` talks to (show, list, purge,
/// refresh, stats). Off unless `socket` is set. Whoever can connect can purge and refresh
/// domains: keep it to the daemon's user (mode 0600, the default) or root.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Control {
    /// The socket path, e.g. `/run/mta-sts/control.sock`; its directory is created if missing.
    pub socket: Option<PathBuf>,
    /// The socket's permissions (default `0600`).
    pub mode: SocketMode,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            socket: None,
            mode: SocketMode(0o600),
        }
    }
}

/// UNIX socket permissions. `mode: 0666` (YAML 1.1 octal, as PyYAML reads it) and `mode: '0666'`
/// both mean `0o666`; an integer whose digits are not all octal is taken as decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(pub u32);

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar::socket_mode(d).map(Self)
    }
}

/// `proactive_policy_fetching:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Proactive {
    /// Refresh every cached policy in the background (default false).
    #[serde(deserialize_with = "scalar::boolean")]
    pub enabled: bool,
    /// Time between full refreshes (default 86400 s).
    #[serde(deserialize_with = "scalar::positive_seconds")]
    pub interval: Duration,
    /// Refreshes running at once (default 100).
    #[serde(deserialize_with = "scalar::count")]
    pub concurrency_limit: usize,
    /// A domain is skipped by a refresh pass while its cached policy is younger than
    /// `interval / grace_ratio` (default 2.0).
    #[serde(deserialize_with = "scalar::positive_number")]
    pub grace_ratio: f64,
}

impl Default for Proactive {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(86_400),
            concurrency_limit: 100,
            grace_ratio: 2.0,
        }
    }
}

/// A zone: `default_zone:` or `zones.NAME:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Zone {
    /// Enforce `testing` policies too (default false).
    #[serde(deserialize_with = "scalar::boolean")]
    pub strict_testing: bool,
    /// Time allowed for one discovery (default 4 s, at most 90 s).
    #[serde(deserialize_with = "scalar::zone_timeout")]
    pub timeout: Duration,
    /// Answer `servername=hostname` (default true).
    #[serde(deserialize_with = "scalar::boolean")]
    pub require_sni: bool,
    /// Add Postfix 3.10's TLSRPT attributes (default false).
    #[serde(deserialize_with = "scalar::boolean")]
    pub tlsrpt: bool,
    /// `notfound` (default) or `temp` when discovery fails with nothing cached (our addition).
    pub on_failure: OnFailure,
    /// DANE before MTA-STS (our addition, off by default).
    pub dane: DaneZone,
}

/// `dane:` in a zone (our addition): look up the domain's DANE state (DNSSEC-validated MX,
/// addresses and TLSA records) and answer `dane-only` or `dane` when it has DANE, so that MTA-STS
/// never overrides DANE (RFC 8461 §2). Useful only when Postfix validates DNSSEC itself
/// (`smtp_dns_support_level = dnssec`); without that, Postfix downgrades those answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DaneZone {
    /// Default false: answers stay exactly postfix-mta-sts-resolver's.
    #[serde(deserialize_with = "scalar::boolean")]
    pub enabled: bool,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            strict_testing: false,
            timeout: Duration::from_secs(4),
            require_sni: true,
            tlsrpt: false,
            on_failure: OnFailure::NotFound,
            dane: DaneZone::default(),
        }
    }
}

impl Zone {
    /// The answer rules of this zone.
    pub fn rules(&self) -> ZoneRules {
        ZoneRules {
            strict_testing: self.strict_testing,
            require_sni: self.require_sni,
            tlsrpt: self.tlsrpt,
            on_failure: self.on_failure,
            dane: self.dane.enabled,
        }
    }
}

/// `dns:` (our addition).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "DnsKeys")]
#[non_exhaustive]
pub struct Dns {
    /// `IP:PORT` name servers; empty means `/etc/resolv.conf`.
    pub nameservers: Vec<SocketAddr>,
    /// DNSKEY records (zone-file syntax, as `/usr/share/dns/root.key`) that DNSSEC validation of
    /// DANE lookups starts from; default: the root zone's keys built into the daemon.
    pub trust_anchor: Option<PathBuf>,
    /// DANE lookups trust the AD bit of the name servers instead of validating DNSSEC in
    /// process (default false). They must all be on loopback, or the daemon does not start: the
    /// AD bit is not authenticated on the wire. Excludes `trust_anchor`.
    pub trust_ad: bool,
}

/// The keys of `dns:` as written, before the check that they fit together.
#[derive(Default, Deserialize)]
#[serde(default)]
struct DnsKeys {
    nameservers: Vec<SocketAddr>,
    trust_anchor: Option<PathBuf>,
    #[serde(deserialize_with = "scalar::boolean")]
    trust_ad: bool,
}

impl TryFrom<DnsKeys> for Dns {
    type Error = String;

    fn try_from(keys: DnsKeys) -> Result<Self, String> {
        // Both would mean two sources of DNSSEC truth; refuse rather than pick one silently.
        if keys.trust_ad && keys.trust_anchor.is_some() {
            return Err(
                "dns.trust_anchor and dns.trust_ad cannot be used together: with \
                        trust_ad the resolver in dns.nameservers validates and no trust anchor \
                        is read; remove one of them"
                    .into(),
            );
        }
        Ok(Self {
            nameservers: keys.nameservers,
            trust_anchor: keys.trust_anchor,
            trust_ad: keys.trust_ad,
        })
    }
}

/// `metrics:` (our addition): where `GET /metrics` (Prometheus text) and `GET /healthz` are
/// served over HTTP/1.1. Off unless `listen` is given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// `IP:PORT`, e.g. `127.0.0.1:9461`; none (the default) serves nothing.
    pub listen: Option<SocketAddr>,
}

/// `tls:` (our addition).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Tls {
    /// `webpki` (default) or `system`.
    pub roots: RootsSetting,
    /// Extra trust anchors (PEM).
    pub ca_file: Option<PathBuf>,
}

/// `log_level` values: the names `-v` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Every decision, including each lookup's answer.
    Debug,
    /// Changes of state: policies fetched, answers that changed, reloads.
    Info,
    /// Failures that leave answers intact (a cache backend failing, a refresh failing).
    #[serde(alias = "warning")]
    Warn,
    /// Only what stops the daemon or a lookup.
    #[serde(alias = "fatal")]
    Error,
}

impl LogLevel {
    /// The `tracing` level it means.
    pub fn level(self) -> tracing::Level {
        match self {
            Self::Debug => tracing::Level::DEBUG,
            Self::Info => tracing::Level::INFO,
            Self::Warn => tracing::Level::WARN,
            Self::Error => tracing::Level::ERROR,
        }
    }
}

/// `tls.roots` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootsSetting {
    /// The compiled-in Mozilla set.
    #[default]
    Webpki,
    /// The system store.
    System,
}

impl Config {
    /// Reads and checks `path`. Returns the configuration and warnings (unknown keys).
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses configuration text; `name` is used in messages. Returns the configuration and a
    /// warning per key the configuration has no use for.
    pub fn parse(text: &str, name: &str) -> Result<(Self, Vec<String>), ConfigError> {
        // PyYAML reads an empty file as "no settings".
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok((Self::default(), Vec::new()));
        }
        let mut unknown = Vec::new();
        let mut key = String::new();
        let parsed: Result<Self, _> = serde_saphyr::with_deserializer_from_str(text, |de| {
            let mut ignored = |path: serde_ignored::Path<'_>| {
                unknown.push(format!("unknown key {path} ignored"));
            };
            let de = serde_ignored::Deserializer::new(de, &mut ignored);
            serde_path_to_error::deserialize(de).map_err(|e| {
                key = e.path().to_string();
                e.into_inner()
            })
        });
        match parsed {
            Ok(config) => {
                unknown.extend(config.unused_keys());
                Ok((config, unknown))
            }
            Err(e) => Err(scalar::located(name, &key, &e)),
        }
    }

    /// Keys that are valid but have no effect with the rest of the file, as warnings.
    fn unused_keys(&self) -> Vec<String> {
        let socket_only = [
            ("mode", self.mode.is_some()),
            ("owner", self.owner.is_some()),
            ("group", self.group.is_some()),
        ];
        let dane_only = [
            ("dns.trust_anchor", self.dns.trust_anchor.is_some()),
            ("dns.trust_ad", self.dns.trust_ad),
        ];
        let socket = socket_only
            .iter()
            .filter(|(_, set)| *set && self.path.is_none())
            .map(|(key, _)| format!("{key} applies only to a UNIX socket (path), ignored"));
        let dane = dane_only
            .iter()
            .filter(|(_, set)| *set && !self.dane_enabled())
            .map(|(key, _)| {
                format!("{key} applies only to DANE lookups, and no zone has dane.enabled: ignored")
            });
        let control = (self.control.socket.is_none()
            && self.control.mode != Control::default().mode)
            .then(|| "control.mode applies only with control.socket, ignored".to_owned());
        socket.chain(dane).chain(control).collect()
    }

    /// The zone for a socketmap name: `zones.NAME`, else `default_zone` (SOCK-10).
    pub fn zone(&self, name: &str) -> &Zone {
        self.zones.get(name).unwrap_or(&self.default_zone)
    }

    /// Whether any zone (or the default zone) looks up DANE.
    pub fn dane_enabled(&self) -> bool {
        self.default_zone.dane.enabled || self.zones.values().any(|z| z.dane.enabled)
    }

    /// The longest discovery deadline of any zone: what one shared policy fetch may take.
    pub fn longest_timeout(&self) -> Duration {
        self.zones
            .values()
            .map(|z| z.timeout)
            .fold(self.default_zone.timeout, Duration::max)
    }
}

#[cfg(test)]
mod tests;
