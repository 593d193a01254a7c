//! `cache:`: the backend, its options in every spelling postfix-mta-sts-resolver accepts, and the
//! translation of those options into a store of `mta-sts-store`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_cache::{CacheAdmin, CacheError, MemoryCache};
use mta_sts_store::{PostgresCache, RedisCache, SqliteCache, TieredCache};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::config::{count, seconds};
use crate::metrics::{CacheView, observed};

/// The operation deadline of persistent backends when the options name none
/// (postfix-mta-sts-resolver's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Entries the in-process tier in front of a persistent backend keeps, unless `cache_size` says.
const DEFAULT_TIER_SIZE: usize = 100_000;

/// `cache:` — a `type` and its `options`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CacheConfig {
    /// `internal`: in memory, lost at exit.
    Internal(InternalOptions),
    /// `sqlite`: a file, kept across restarts.
    Sqlite(SqliteOptions),
    /// `redis`: shared by every daemon using the same Redis.
    Redis(RedisOptions),
    /// `redis_sentinel`: Redis found through Sentinel.
    RedisSentinel(SentinelOptions),
    /// `postgres`: shared by every daemon using the same database.
    Postgres(PostgresOptions),
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::Internal(InternalOptions::default())
    }
}

/// `options` of `type: internal`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct InternalOptions {
    /// Domains kept (default 10000).
    #[serde(deserialize_with = "count")]
    pub cache_size: usize,
}

impl Default for InternalOptions {
    fn default() -> Self {
        Self { cache_size: 10_000 }
    }
}

/// `options` of `type: sqlite`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The database file (required).
    pub filename: PathBuf,
    /// postfix-mta-sts-resolver's connection-pool size; accepted, with no effect (one connection
    /// on tokio's blocking pool serves every request).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Deadline of each operation (default 5 s).
    #[serde(default = "default_timeout", deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Entries of the in-process tier in front of the file (our addition, default 100000).
    #[serde(default)]
    pub cache_size: Option<usize>,
}

/// `options` of `type: redis`: the URL form (`url`, as postfix-mta-sts-resolver 1.x passes to
/// redis-py) or the older `address`/`db`/`password` form that deployment guides still show.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RedisOptions {
    /// `redis://[[user]:password@]host[:port][/db]`.
    pub url: Option<String>,
    /// The older form's address, `redis://host:port[/db][?timeout=SECONDS]`.
    pub address: Option<String>,
    /// The database number (older form; overrides the one in `address`).
    pub db: Option<i64>,
    /// The password (older form).
    pub password: Option<String>,
    /// Operation deadline (redis-py's `socket_timeout`; default 5 s).
    #[serde(deserialize_with = "optional_seconds")]
    pub socket_timeout: Option<Duration>,
    /// Connection deadline (redis-py's `socket_connect_timeout`; defaults to the operation one).
    #[serde(deserialize_with = "optional_seconds")]
    pub socket_connect_timeout: Option<Duration>,
    /// redis-py's pool size; accepted, with no effect (one multiplexed connection).
    pub max_connections: Option<usize>,
    /// The older form's pool sizes; accepted, with no effect.
    pub minsize: Option<usize>,
    /// See [`minsize`](Self::minsize).
    pub maxsize: Option<usize>,
    /// Entries of the in-process tier in front of Redis (our addition, default 100000).
    pub cache_size: Option<usize>,
}

/// `options` of `type: redis_sentinel`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct SentinelOptions {
    /// The sentinels: `host:port`, `redis://host:port` or `[host, port]` (required).
    pub sentinels: Vec<SentinelAddress>,
    /// The monitored master's name (required).
    pub sentinel_master_name: String,
    /// The database number (default 0).
    #[serde(default)]
    pub db: i64,
    /// The master's password.
    #[serde(default)]
    pub password: Option<String>,
    /// Operation deadline (default 5 s).
    #[serde(default, deserialize_with = "optional_seconds")]
    pub socket_timeout: Option<Duration>,
    /// Connection deadline; accepted, the operation deadline bounds connecting too.
    #[serde(default, deserialize_with = "optional_seconds")]
    pub socket_connect_timeout: Option<Duration>,
    /// redis-py's pool size; accepted, with no effect.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Entries of the in-process tier (our addition, default 100000).
    #[serde(default)]
    pub cache_size: Option<usize>,
}

/// `options` of `type: postgres`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/db` or `host=… user=… dbname=…` (required).
    pub dsn: String,
    /// Deadline of each operation (default 5 s).
    #[serde(default = "default_timeout", deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Connections in the pool (default 16; asyncpg's `max_size` is read the same way).
    #[serde(default, alias = "max_size")]
    pub max_connections: Option<usize>,
    /// asyncpg's `min_size`; accepted, with no effect (connections open on demand).
    #[serde(default)]
    pub min_size: Option<usize>,
    /// Entries of the in-process tier (our addition, default 100000).
    #[serde(default)]
    pub cache_size: Option<usize>,
}

/// One sentinel, however the file writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelAddress(String);

impl SentinelAddress {
    /// As a `redis://host:port` URL.
    pub fn url(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SentinelAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Pair(String, u16),
        }
        Ok(Self(match Form::deserialize(d)? {
            Form::Text(url) if url.contains("://") => url,
            Form::Text(host_port) => format!("redis://{host_port}"),
            Form::Pair(host, port) => format!("redis://{host}:{port}"),
        }))
    }
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn optional_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    seconds(d).map(Some)
}

impl RedisOptions {
    /// The URL to connect to and the operation deadline: `url` as it is, or the older form's
    /// `address` with `db` and `password` folded in (its `?timeout=` query becomes the deadline).
    pub fn target(&self) -> Result<(String, Duration), &'static str> {
        let default = self.socket_timeout.unwrap_or(DEFAULT_TIMEOUT);
        match (&self.url, &self.address) {
            (Some(url), _) => Ok((url.clone(), default)),
            (None, Some(address)) => {
                let (url, timeout) = older_form_url(address, self.db, self.password.as_deref());
                Ok((url, timeout.unwrap_or(default)))
            }
            (None, None) => Err("redis needs cache.options.url (or the older address)"),
        }
    }
}

/// The URL the older form describes: `address` plus separate `db` and `password`. Query
/// parameters such as `?timeout=5` are dropped; the timeout is returned.
fn older_form_url(
    address: &str,
    db: Option<i64>,
    password: Option<&str>,
) -> (String, Option<Duration>) {
    let (base, query) = address.split_once('?').unwrap_or((address, ""));
    let timeout = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|v| Duration::try_from_secs_f64(v).ok());
    let mut url = base.to_owned();
    if let Some(db) = db {
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        if let Some(slash) = url[scheme_end..].find('/') {
            url.truncate(scheme_end + slash);
        }
        url.push_str(&format!("/{db}"));
    }
    if let (Some(password), Some(i)) = (password.filter(|p| !p.is_empty()), url.find("://")) {
        let rest = &url[i + 3..];
        let host_part = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        url = format!(
            "{}://:{}@{}",
            &url[..i],
            percent_encode(password),
            host_part
        );
    }
    (url, timeout)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A cache the daemon reads and writes, with the administration operations.
pub type SharedCache = Arc<dyn CacheAdmin>;

impl CacheConfig {
    /// The backend's name as the file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Internal(_) => "internal",
            Self::Sqlite(_) => "sqlite",
            Self::Redis(_) => "redis",
            Self::RedisSentinel(_) => "redis_sentinel",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Opens the persistent store alone, without the in-process tier (whose queue would
    /// acknowledge writes a short-lived process never stores): for `export` and `import`.
    /// `None` for `internal`, which keeps nothing outside the daemon.
    pub fn open_store(&self) -> Result<Option<SharedCache>, CacheError> {
        Ok(Some(match self {
            Self::Internal(_) => return Ok(None),
            Self::Sqlite(o) => Arc::new(SqliteCache::open(&o.filename)?.with_timeout(o.timeout)),
            Self::Redis(o) => {
                let (url, timeout) = o.target().map_err(|why| CacheError::Open {
                    target: "redis".into(),
                    source: why.into(),
                })?;
                Arc::new(RedisCache::connect(&url, timeout)?)
            }
            Self::RedisSentinel(o) => {
                let sentinels: Vec<String> =
                    o.sentinels.iter().map(|s| s.url().to_owned()).collect();
                Arc::new(RedisCache::sentinel(
                    &sentinels,
                    &o.sentinel_master_name,
                    o.db,
                    o.password.as_deref(),
                    o.socket_timeout.unwrap_or(DEFAULT_TIMEOUT),
                )?)
            }
            Self::Postgres(o) => Arc::new(PostgresCache::new(
                &o.dsn,
                o.max_connections.unwrap_or(16),
                o.timeout,
            )?),
        }))
    }

    /// Opens the cache: persistent backends behind the in-process tier, trusted for `grace`.
    pub fn open(&self, grace: Duration) -> Result<SharedCache, CacheError> {
        self.open_observed(grace).map(|(cache, _)| cache)
    }

    /// [`open`](Self::open), plus the view of the same cache that the metrics and `/healthz` read.
    pub(crate) fn open_observed(
        &self,
        grace: Duration,
    ) -> Result<(SharedCache, Arc<dyn CacheView>), CacheError> {
        let tier = |size: Option<usize>| size.unwrap_or(DEFAULT_TIER_SIZE);
        Ok(match self {
            Self::Internal(o) => observed(MemoryCache::new(o.cache_size)),
            Self::Sqlite(o) => observed(TieredCache::new(
                SqliteCache::open(&o.filename)?.with_timeout(o.timeout),
                grace,
                tier(o.cache_size),
            )),
            Self::Redis(o) => {
                let (url, timeout) = o.target().map_err(|why| CacheError::Open {
                    target: "redis".into(),
                    source: why.into(),
                })?;
                observed(TieredCache::new(
                    RedisCache::connect(&url, timeout)?,
                    grace,
                    tier(o.cache_size),
                ))
            }
            Self::RedisSentinel(o) => {
                let sentinels: Vec<String> =
                    o.sentinels.iter().map(|s| s.url().to_owned()).collect();
                let cache = RedisCache::sentinel(
                    &sentinels,
                    &o.sentinel_master_name,
                    o.db,
                    o.password.as_deref(),
                    o.socket_timeout.unwrap_or(DEFAULT_TIMEOUT),
                )?;
                observed(TieredCache::new(cache, grace, tier(o.cache_size)))
            }
            Self::Postgres(o) => observed(TieredCache::new(
                PostgresCache::new(&o.dsn, o.max_connections.unwrap_or(16), o.timeout)?,
                grace,
                tier(o.cache_size),
            )),
        })
    }
}

/// The `type` names.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Internal,
    Sqlite,
    Redis,
    RedisSentinel,
    Postgres,
}

/// Reads `type` and `options` in either order, the options straight into the type's own struct
/// (so their errors keep their line and unknown options are reported with their path), and lets
/// `options` be absent where every option has a default.
impl<'de> Deserialize<'de> for CacheConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(CacheVisitor)
    }
}

struct CacheVisitor;

/// `options` seen before `type`: kept until the type is known. Rare; such options lose their
/// line numbers in error messages, and an unknown option among them is an error rather than a
/// warning (the warnings are collected outside this visitor).
type Buffered = serde_json::Value;

impl<'de> Visitor<'de> for CacheVisitor {
    type Value = CacheConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping with `type` and `options`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CacheConfig, A::Error> {
        let mut kind: Option<Kind> = None;
        let mut config: Option<CacheConfig> = None;
        let mut buffered: Option<Buffered> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = Some(map.next_value()?),
                "options" => match kind {
                    Some(kind) => config = Some(map.next_value_seed(OptionsSeed(kind))?),
                    None => buffered = Some(map.next_value()?),
                },
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let kind = kind.unwrap_or(Kind::Internal);
        if let Some(config) = config {
            return Ok(config);
        }
        let options = buffered.unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let mut unknown = Vec::new();
        let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let config = OptionsSeed(kind)
            .deserialize(serde_ignored::Deserializer::new(options, &mut note))
            .map_err(de::Error::custom)?;
        match unknown.is_empty() {
            true => Ok(config),
            false => Err(de::Error::custom(format!(
                "unknown option {} for this cache type (write `type` before `options` to have unknown options reported as warnings instead)",
                unknown.join(", ")
            ))),
        }
    }
}

struct OptionsSeed(Kind);

impl<'de> DeserializeSeed<'de> for OptionsSeed {
    type Value = CacheConfig;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CacheConfig, D::Error> {
        Ok(match self.0 {
            Kind::Internal => CacheConfig::Internal(Deserialize::deserialize(d)?),
            Kind::Sqlite => CacheConfig::Sqlite(Deserialize::deserialize(d)?),
            Kind::Redis => CacheConfig::Redis(Deserialize::deserialize(d)?),
            Kind::RedisSentinel => CacheConfig::RedisSentinel(Deserialize::deserialize(d)?),
            Kind::Postgres => CacheConfig::Postgres(Deserialize::deserialize(d)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_redis_form() {
        let (url, timeout) = older_form_url(
            "redis://127.0.0.1:6384/0?timeout=5",
            Some(0),
            Some("ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr"),
        );
        assert_eq!(
            url,
            "redis://:ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr@127.0.0.1:6384/0"
        );
        assert_eq!(timeout, Some(Duration::from_secs(5)));
        let (url, timeout) = older_form_url("redis://localhost", Some(3), None);
        assert_eq!((url.as_str(), timeout), ("redis://localhost/3", None));
        let (url, _) = older_form_url("redis://:old@h:1/2", None, Some("p@ss"));
        assert_eq!(url, "redis://:p%40ss@h:1/2");
    }
}
