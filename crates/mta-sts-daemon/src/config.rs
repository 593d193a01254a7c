//! `/etc/mta-sts-daemon.yml`: every key and default of postfix-mta-sts-resolver's
//! `mta-sts-daemon.yml(5)`, plus our optional additions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{OnFailure, ZoneRules};

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
    /// YAML syntax or a value of the wrong type; the message has the line and column.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line, column and the expected values.
        message: String,
    },
    /// A value of the right type that is not valid here.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The line the key is on (0 when unknown).
        line: usize,
        /// The key, as a dotted path (`zones.myzone.timeout`).
        key: String,
        /// What would be valid.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on (default `127.0.0.1`).
    pub host: String,
    /// TCP port (default 8461).
    pub port: u16,
    /// A UNIX socket path instead of TCP.
    pub path: Option<PathBuf>,
    /// The UNIX socket's permissions, octal (`0666`).
    pub mode: Option<SocketMode>,
    /// The UNIX socket's owner (our addition).
    pub owner: Option<String>,
    /// The UNIX socket's group (our addition).
    pub group: Option<String>,
    /// `SO_REUSEPORT` on the TCP socket (default true).
    pub reuse_port: bool,
    /// Seconds during which a cached policy is used without DNS (default 60).
    pub cache_grace: f64,
    /// Seconds in-flight requests get at shutdown (default 20).
    pub shutdown_timeout: f64,
    /// Connections served at once; more wait in the listen backlog (our addition, default 4096).
    pub max_connections: usize,
    /// The policy cache.
    pub cache: CacheSection,
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
            cache_grace: 60.0,
            shutdown_timeout: 20.0,
            max_connections: 4096,
            cache: CacheSection::default(),
            proactive_policy_fetching: Proactive::default(),
            default_zone: Zone::default(),
            zones: BTreeMap::new(),
            dns: Dns::default(),
            tls: Tls::default(),
        }
    }
}

/// UNIX socket permissions. `mode: 0666` (YAML 1.1 octal, as PyYAML reads it) and `mode: '0666'`
/// both mean `0o666`; an integer whose digits are not all octal is taken as decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(pub u32);

impl<'de> Deserialize<'de> for SocketMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let digits = match &value {
            Value::String(s) => s.trim().trim_start_matches("0o").to_owned(),
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0) => {
                format!("{}", n.as_f64().unwrap_or_default() as u64)
            }
            _ => {
                return Err(serde::de::Error::custom(
                    "mode must be octal permissions such as 0666",
                ));
            }
        };
        let mode = if digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            u32::from_str_radix(&digits, 8).ok()
        } else {
            digits.parse().ok()
        };
        match mode {
            Some(mode) if mode <= 0o7777 => Ok(Self(mode)),
            _ => Err(serde::de::Error::custom(
                "mode must be octal permissions such as 0666",
            )),
        }
    }
}

/// `cache:` — `type` and backend `options`, as postfix-mta-sts-resolver writes them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CacheSection {
    /// `internal`, `sqlite`, `redis`, `redis_sentinel` or `postgres`.
    #[serde(rename = "type")]
    pub kind: CacheType,
    /// Backend options, as postfix-mta-sts-resolver names them (`filename`, `url`, `address`, `dsn`, ...).
    pub options: Map<String, Value>,
}

impl Default for CacheSection {
    fn default() -> Self {
        Self {
            kind: CacheType::Internal,
            options: Map::new(),
        }
    }
}

/// The cache backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CacheType {
    /// In memory.
    Internal,
    /// A SQLite file.
    Sqlite,
    /// Redis.
    Redis,
    /// Redis through Sentinel.
    RedisSentinel,
    /// PostgreSQL.
    Postgres,
}

/// `proactive_policy_fetching:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Proactive {
    /// Refresh every cached policy in the background (default false).
    pub enabled: bool,
    /// Seconds between full refreshes (default 86400).
    pub interval: f64,
    /// Refreshes running at once (default 100).
    pub concurrency_limit: usize,
    /// A domain is skipped by a refresh pass while its cached policy is younger than
    /// `interval / grace_ratio` (default 2.0).
    pub grace_ratio: f64,
}

impl Default for Proactive {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: 86_400.0,
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
    pub strict_testing: bool,
    /// Seconds allowed for one discovery (default 4).
    pub timeout: f64,
    /// Answer `servername=hostname` (default true).
    pub require_sni: bool,
    /// Add Postfix 3.10's TLSRPT attributes (default false).
    pub tlsrpt: bool,
    /// `notfound` (default) or `temp` when discovery fails with nothing cached (our addition).
    pub on_failure: OnFailureSetting,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            strict_testing: false,
            timeout: 4.0,
            require_sni: true,
            tlsrpt: false,
            on_failure: OnFailureSetting::Notfound,
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
            on_failure: match self.on_failure {
                OnFailureSetting::Notfound => OnFailure::NotFound,
                OnFailureSetting::Temp => OnFailure::Temp,
            },
        }
    }
}

/// `on_failure:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailureSetting {
    /// Deliver as without a policy.
    Notfound,
    /// Defer.
    Temp,
}

/// `dns:` (our addition).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Dns {
    /// `IP:PORT` name servers; empty means `/etc/resolv.conf`.
    pub nameservers: Vec<SocketAddr>,
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

/// Every key the file may have, by section, for "unknown key" warnings.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "host",
            "port",
            "path",
            "mode",
            "owner",
            "group",
            "reuse_port",
            "cache_grace",
            "shutdown_timeout",
            "cache",
            "proactive_policy_fetching",
            "default_zone",
            "zones",
            "dns",
            "tls",
        ],
    ),
    ("cache", &["type", "options"]),
    (
        "proactive_policy_fetching",
        &["enabled", "interval", "concurrency_limit", "grace_ratio"],
    ),
    (
        "zone",
        &[
            "strict_testing",
            "timeout",
            "require_sni",
            "tlsrpt",
            "on_failure",
        ],
    ),
    ("dns", &["nameservers"]),
    ("tls", &["roots", "ca_file"]),
];

fn known(section: &str) -> &'static [&'static str] {
    KNOWN
        .iter()
        .find(|(s, _)| *s == section)
        .map_or(&[], |(_, keys)| keys)
}

/// The line of the first `key:` in `text`, for messages about values that parsed but are invalid.
fn line_of(text: &str, key: &str) -> usize {
    let last = key.rsplit('.').next().unwrap_or(key);
    text.lines()
        .position(|l| l.trim_start().starts_with(&format!("{last}:")))
        .map_or(0, |i| i + 1)
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

    /// Parses configuration text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<(Self, Vec<String>), ConfigError> {
        // PyYAML reads an empty file as "no settings".
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok((Self::default(), Vec::new()));
        }
        let syntax = |e: serde_saphyr::Error| ConfigError::Syntax {
            path: name.to_owned(),
            message: e.to_string(),
        };
        let config: Self = serde_saphyr::from_str(text).map_err(syntax)?;
        let raw: Value = serde_saphyr::from_str(text).map_err(syntax)?;
        let warnings = unknown_keys(&raw);
        config.validate(text, name)?;
        Ok((config, warnings))
    }

    fn validate(&self, text: &str, name: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            path: name.to_owned(),
            line: line_of(text, key),
            key: key.to_owned(),
            message: message.to_owned(),
        };
        if self.path.is_none() && self.port == 0 {
            return Err(invalid("port", "must be a TCP port from 1 to 65535"));
        }
        if !(self.cache_grace.is_finite() && self.cache_grace >= 0.0) {
            return Err(invalid(
                "cache_grace",
                "must be a number of seconds, 0 or more",
            ));
        }
        if !(self.shutdown_timeout.is_finite() && self.shutdown_timeout >= 0.0) {
            return Err(invalid(
                "shutdown_timeout",
                "must be a number of seconds, 0 or more",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be 1 or more"));
        }
        let p = &self.proactive_policy_fetching;
        if !(p.interval.is_finite() && p.interval > 0.0) {
            return Err(invalid(
                "proactive_policy_fetching.interval",
                "must be a positive number of seconds",
            ));
        }
        if p.concurrency_limit == 0 {
            return Err(invalid(
                "proactive_policy_fetching.concurrency_limit",
                "must be 1 or more",
            ));
        }
        if !(p.grace_ratio.is_finite() && p.grace_ratio > 0.0) {
            return Err(invalid(
                "proactive_policy_fetching.grace_ratio",
                "must be a positive number",
            ));
        }
        let zones = std::iter::once(("default_zone".to_owned(), &self.default_zone))
            .chain(self.zones.iter().map(|(n, z)| (format!("zones.{n}"), z)));
        for (key, zone) in zones {
            // Postfix gives up on a socketmap after 100 s (SOCK-6); leave room for the answer.
            if !(zone.timeout.is_finite() && zone.timeout > 0.0 && zone.timeout <= 90.0) {
                return Err(invalid(
                    &format!("{key}.timeout"),
                    "must be a number of seconds above 0 and at most 90 (Postfix waits 100 s)",
                ));
            }
        }
        Ok(())
    }

    /// The zone for a socketmap name: `zones.NAME`, else `default_zone` (SOCK-10).
    pub fn zone(&self, name: &str) -> &Zone {
        self.zones.get(name).unwrap_or(&self.default_zone)
    }
}

fn unknown_keys(raw: &Value) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut check = |value: &Value, section: &str, prefix: &str| {
        if let Value::Object(map) = value {
            for key in map.keys() {
                if !known(section).contains(&key.as_str()) {
                    warnings.push(format!("unknown key {prefix}{key} ignored"));
                }
            }
        }
    };
    check(raw, "", "");
    for section in ["cache", "proactive_policy_fetching", "dns", "tls"] {
        if let Some(v) = raw.get(section) {
            check(v, section, &format!("{section}."));
        }
    }
    if let Some(v) = raw.get("default_zone") {
        check(v, "zone", "default_zone.");
    }
    if let Some(Value::Object(zones)) = raw.get("zones") {
        for (name, zone) in zones {
            check(zone, "zone", &format!("zones.{name}."));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = r#"host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
    type: redis
    options:
        address: "redis://127.0.0.1:6384/0?timeout=5"
        db: 0
        password: "ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr"
        minsize: 5
        maxsize: 25
default_zone:
    strict_testing: false
    timeout: 4
zones:
    myzone:
        strict_testing: false
        timeout: 4
"#;

    fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse(text, "test.yml")
    }

    #[test]
    fn the_deployment_guide_file_loads_verbatim() {
        let (config, warnings) = parse(GUIDE).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.cache.kind, CacheType::Redis);
        assert_eq!(
            config.cache.options["password"],
            "ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr"
        );
        assert_eq!(config.zone("myzone").timeout, 4.0);
        assert_eq!(config.zone("other"), &config.default_zone);
    }

    #[test]
    fn empty_file_means_all_defaults() {
        let (config, _) = parse("").unwrap();
        assert_eq!(config, Config::default());
        let (config, _) = parse("# nothing here\n\n").unwrap();
        assert_eq!(
            (config.host.as_str(), config.port, config.reuse_port),
            ("127.0.0.1", 8461, true)
        );
        assert_eq!((config.cache_grace, config.shutdown_timeout), (60.0, 20.0));
        assert_eq!(config.cache.kind, CacheType::Internal);
        let p = &config.proactive_policy_fetching;
        assert_eq!(
            (p.enabled, p.interval, p.concurrency_limit, p.grace_ratio),
            (false, 86_400.0, 100, 2.0)
        );
        let z = &config.default_zone;
        assert_eq!(
            (z.strict_testing, z.timeout, z.require_sni, z.tlsrpt),
            (false, 4.0, true, false)
        );
    }

    #[test]
    fn pyyaml_booleans_and_octal_modes() {
        let (config, _) = parse("reuse_port: no\ndefault_zone:\n  strict_testing: yes\n  tlsrpt: True\npath: /var/spool/postfix/mta-sts.sock\nmode: 0666\n").unwrap();
        assert!(!config.reuse_port);
        assert!(config.default_zone.strict_testing && config.default_zone.tlsrpt);
        assert_eq!(config.mode, Some(SocketMode(0o666)));
        for (text, mode) in [
            ("mode: '0660'\n", 0o660),
            ("mode: 0o600\n", 0o600),
            ("mode: 438\n", 438),
        ] {
            assert_eq!(
                parse(text).unwrap().0.mode,
                Some(SocketMode(mode)),
                "{text}"
            );
        }
        assert!(parse("mode: 99999\n").is_err());
    }

    #[test]
    fn our_additions() {
        let text = "dns:\n  nameservers: ['127.0.0.1:5353', '[::1]:53']\ntls:\n  roots: system\n  ca_file: /etc/ssl/extra.pem\ndefault_zone:\n  on_failure: temp\n";
        let (config, warnings) = parse(text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.dns.nameservers.len(), 2);
        assert_eq!(config.tls.roots, RootsSetting::System);
        assert_eq!(config.default_zone.rules().on_failure, OnFailure::Temp);
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let err = parse("host: 127.0.0.1\nport: 70000\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.yml: ") && err.contains("line 2"),
            "{err}"
        );
        let err = parse("cache:\n  type: memcached\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("internal"), "{err}");
        let err = parse("zones:\n  slow:\n    timeout: 120\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "test.yml:3: zones.slow.timeout: must be a number of seconds above 0 and at most 90 (Postfix waits 100 s)"
        );
        let err = parse("default_zone:\n  strict_testing: maybe\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let (_, warnings) =
            parse("host: 127.0.0.1\nlisten: 1\nzones:\n  z:\n    timout: 4\n").unwrap();
        assert_eq!(
            warnings,
            [
                "unknown key listen ignored",
                "unknown key zones.z.timout ignored"
            ]
        );
    }
}
