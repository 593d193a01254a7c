//! Redis (and Redis Sentinel), in postfix-mta-sts-resolver's layout:
//!
//! - one sorted set per domain, key = the domain; its single member = 16 random bytes followed by
//!   the UTF-8 JSON array `[pol_id, pol_body]`, score = the fetch time;
//! - a write adds the new member and trims the set to the highest score in one MULTI/EXEC, so an
//!   older fetch never replaces a newer one;
//! - hash `_metadata`, field `proactive_fetch_ts` = the last full refresh time, as a decimal string.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mta_sts_cache::{
    BoxFuture, CacheAdmin, CacheError, CachedPolicy, Corruption, PolicyCache, ScanCursor, ScanPage,
};
use mta_sts_policy::Domain;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, FromRedisValue, Pipeline, RedisConnectionInfo, RedisResult};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::json::{from_json_value, to_json_value};
use crate::unix;

const METADATA: &str = "_metadata";

enum Link {
    Direct(ConnectionManager),
    Sentinel {
        client: Box<Mutex<SentinelClient>>,
        /// The connection to the current master; dropped on any error so the next operation asks
        /// the sentinels again and follows a failover.
        conn: Mutex<Option<MultiplexedConnection>>,
    },
}

/// A policy cache in Redis, shared by every daemon pointed at it.
///
/// Every operation has a deadline (`timeout`); a failure is an error for that operation only, and
/// the connection is re-established behind the scenes.
#[derive(Clone)]
pub struct RedisCache {
    link: Arc<Link>,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> CacheError {
    CacheError::Unavailable(Box::new(e))
}

fn open_error(target: &str, e: impl std::error::Error + Send + Sync + 'static) -> CacheError {
    CacheError::Open {
        target: redact(target),
        source: Box::new(e),
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

impl RedisCache {
    /// Connects to `url` (`redis://[:password@]host:port/db`). The connection is made lazily and
    /// re-made after failures, so this succeeds even while Redis is down.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|e| open_error(url, e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| open_error(url, e))?;
        Ok(Self {
            link: Arc::new(Link::Direct(manager)),
            timeout,
        })
    }

    /// Connects through Redis Sentinel: `sentinels` are `redis://host:port` URLs of sentinels,
    /// `master` the monitored master's name. Failovers are followed.
    pub fn sentinel(
        sentinels: &[String],
        master: &str,
        db: i64,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, CacheError> {
        let mut info = RedisConnectionInfo::default().set_db(db);
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            info = info.set_password(p);
        }
        let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
        let client = SentinelClient::build(
            sentinels.to_vec(),
            master.to_owned(),
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(|e| open_error(&sentinels.join(","), e))?;
        Ok(Self {
            link: Arc::new(Link::Sentinel {
                client: Box::new(Mutex::new(client)),
                conn: Mutex::new(None),
            }),
            timeout,
        })
    }

    /// The newest entry of a key, which [`scan`](CacheAdmin::scan) reads before knowing whether
    /// the key is a domain.
    async fn get_key(&self, key: &str) -> Result<Option<Arc<CachedPolicy>>, CacheError> {
        let mut cmd = redis::cmd("ZREVRANGE");
        cmd.arg(key).arg(0).arg(0).arg("WITHSCORES");
        let found: Vec<(Vec<u8>, f64)> = self.run(Op::Cmd(&cmd)).await?;
        Ok(found
            .first()
            .map(|(member, score)| parse_member(member, *score))
            .transpose()?)
    }

    async fn run<T: FromRedisValue>(&self, op: Op<'_>) -> Result<T, CacheError> {
        let deadline = self.timeout;
        match &*self.link {
            Link::Direct(manager) => {
                match tokio::time::timeout(deadline, op.send(&mut manager.clone())).await {
                    Ok(result) => result.map_err(unavailable),
                    Err(_) => Err(CacheError::Timeout(deadline)),
                }
            }
            Link::Sentinel { client, conn } => {
                let current = conn.lock().await.clone();
                let mut connection = match current {
                    Some(connection) => connection,
                    None => {
                        // Asking the sentinels has its own deadline, and holds no other lock.
                        let Ok(mut client) = tokio::time::timeout(deadline, client.lock()).await
                        else {
                            return Err(CacheError::Timeout(deadline));
                        };
                        let fresh = tokio::time::timeout(deadline, client.get_async_connection())
                            .await
                            .map_err(|_| CacheError::Timeout(deadline))?
                            .map_err(unavailable)?;
                        *conn.lock().await = Some(fresh.clone());
                        fresh
                    }
                };
                let result = tokio::time::timeout(deadline, op.send(&mut connection)).await;
                match result {
                    Ok(Ok(value)) => Ok(value),
                    failed => {
                        // Error or silence: forget this master so the next operation asks the
                        // sentinels again (it may have been failed over).
                        *conn.lock().await = None;
                        match failed {
                            Ok(Err(e)) => Err(unavailable(e)),
                            _ => Err(CacheError::Timeout(deadline)),
                        }
                    }
                }
            }
        }
    }
}

enum Op<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

impl Op<'_> {
    async fn send<T: FromRedisValue, C: redis::aio::ConnectionLike + Send>(
        &self,
        conn: &mut C,
    ) -> RedisResult<T> {
        match self {
            Op::Cmd(cmd) => cmd.query_async(conn).await,
            Op::Pipe(pipe) => pipe.query_async(conn).await,
        }
    }
}

/// The member: 16 random bytes (so equal entries stay distinct members) then `[id, body]`.
fn member(entry: &CachedPolicy) -> Result<Vec<u8>, CacheError> {
    let mut member = vec![0u8; 16];
    getrandom::fill(&mut member).map_err(|e| unavailable(std::io::Error::other(e.to_string())))?;
    let array = Value::Array(vec![
        Value::String(entry.id().as_str().to_owned()),
        to_json_value(entry.policy()),
    ]);
    member.extend_from_slice(array.to_string().as_bytes());
    Ok(member)
}

fn parse_member(member: &[u8], score: f64) -> Result<Arc<CachedPolicy>, Corruption> {
    let json = member.get(16..).ok_or(Corruption::Format(
        "redis member shorter than its 16-byte prefix",
    ))?;
    let value: Value =
        serde_json::from_slice(json).map_err(|_| Corruption::Format("redis member is not JSON"))?;
    let Value::Array(parts) = value else {
        return Err(Corruption::Format("redis member is not a JSON array"));
    };
    let [Value::String(id), body] = parts.as_slice() else {
        return Err(Corruption::Format("redis member is not [pol_id, pol_body]"));
    };
    let policy = from_json_value(body)?;
    let id = id.parse()?;
    // Whole seconds, as written: sub-second scores from other writers are not meaningful here.
    let fetched_at = unix::from_f64(score.trunc())?;
    Ok(Arc::new(CachedPolicy::new(policy, id, fetched_at)))
}

impl PolicyCache for RedisCache {
    fn get<'a>(
        &'a self,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<Option<Arc<CachedPolicy>>, CacheError>> {
        Box::pin(self.get_key(domain.as_str()))
    }

    fn put<'a>(
        &'a self,
        domain: &'a Domain,
        entry: Arc<CachedPolicy>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let member = member(&entry)?;
            let domain = domain.as_str();
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("ZADD")
                .arg(domain)
                .arg(unix::to_secs(entry.fetched_at()) as f64)
                .arg(member)
                .ignore()
                .cmd("ZREMRANGEBYRANK")
                .arg(domain)
                .arg(0)
                .arg(-2)
                .ignore();
            self.run::<()>(Op::Pipe(&pipe)).await
        })
    }
}

impl CacheAdmin for RedisCache {
    fn remove<'a>(&'a self, domain: &'a Domain) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(domain.as_str());
            self.run::<()>(Op::Cmd(&cmd)).await
        })
    }

    /// Pages in Redis `SCAN` order (a key may come twice); the cursor is `SCAN`'s.
    fn scan<'a>(
        &'a self,
        after: Option<&'a ScanCursor>,
        limit: usize,
    ) -> BoxFuture<'a, Result<ScanPage, CacheError>> {
        Box::pin(async move {
            let cursor: u64 = match after {
                None => 0,
                Some(c) => c
                    .as_str()
                    .parse()
                    .map_err(|_| Corruption::Format("not a redis scan cursor"))?,
            };
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("COUNT").arg(limit.max(1));
            let (next, keys): (u64, Vec<Vec<u8>>) = self.run(Op::Cmd(&cmd)).await?;
            let mut page = ScanPage::default();
            for key in keys {
                // Keys that are not domains (binary, or other data in a shared database) are skipped.
                let Ok(key) = String::from_utf8(key) else {
                    page.skipped += 1;
                    continue;
                };
                if key == METADATA {
                    continue;
                }
                let Ok(domain) = key.parse::<Domain>() else {
                    page.skipped += 1;
                    continue;
                };
                match self.get_key(&key).await {
                    Ok(Some(entry)) => page.entries.push((domain, entry)),
                    Ok(None) => {}
                    Err(CacheError::Corrupt(_) | CacheError::Unavailable(_)) => page.skipped += 1,
                    Err(e) => return Err(e),
                }
            }
            page.next = (next != 0).then(|| ScanCursor::new(next.to_string()));
            Ok(page)
        })
    }

    fn last_refresh(&self) -> BoxFuture<'_, Result<Option<SystemTime>, CacheError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("HGET");
            cmd.arg(METADATA).arg("proactive_fetch_ts");
            let value: Option<String> = self.run(Op::Cmd(&cmd)).await?;
            // A value other writers left unreadable counts as "never": the next pass runs.
            Ok(value
                .and_then(|v| v.parse::<f64>().ok())
                .and_then(|v| unix::from_f64(v.trunc()).ok()))
        })
    }

    fn set_last_refresh(&self, at: SystemTime) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(METADATA)
                .arg("proactive_fetch_ts")
                .arg(unix::to_secs(at).to_string());
            self.run::<()>(Op::Cmd(&cmd)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("redis://:secret@h:6379/0"), "redis://***@h:6379/0");
        assert_eq!(redact("redis://h:6379/0"), "redis://h:6379/0");
    }
}
