//! The control socket: cache administration for `mta-sts-daemon ctl` (show, list, purge, refresh,
//! stats) over a UNIX socket, and the operations themselves as methods of [`Daemon`].
//!
//! The protocol (version 1, docs/operations.md): the client sends one JSON object on one line,
//! `{"v":1,"op":"show","domain":"example.com"}`; the daemon answers with zero or more item lines
//! `{"v":1,"item":…}` (the entries of `list`, one per refreshed domain) and one last line,
//! `{"v":1,"ok":true,"result":…}` or `{"v":1,"ok":false,"error":"…"}`, then closes.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use mta_sts_cache::{CacheAdmin, CachedPolicy, ScanCursor};
use mta_sts_policy::Domain;
use mta_sts_resolver::{CacheReason, Outcome};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Daemon;
use crate::listener::UnixSocket;

/// The protocol version this daemon speaks; a request naming another is refused.
pub const PROTOCOL_VERSION: u32 = 1;
/// The longest request line accepted (a `purge` of many domains fits easily).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Domains one `purge` or `refresh` request may name.
pub const MAX_DOMAINS: usize = 1000;
/// Control connections served at once; more are told the daemon is busy.
const CONCURRENT: usize = 4;
/// How long a client may take to send its request.
const REQUEST_WAIT: Duration = Duration::from_secs(10);
/// The most one control connection may take, whatever it asked (`list` of a large store).
const CONNECTION_LIMIT: Duration = Duration::from_secs(300);
/// Entries read per page when walking the store.
const PAGE: usize = 500;

/// One request, as the client sends it (with `"v": 1` beside the fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ControlRequest {
    /// Everything the daemon knows about one domain.
    Show {
        /// The policy domain.
        domain: String,
    },
    /// Every cached entry, one item line each.
    List,
    /// Forget domains everywhere the daemon remembers them (store, resolver, replies, DANE).
    Purge {
        /// The domains (empty with `all`).
        #[serde(default)]
        domains: Vec<String>,
        /// Every cached domain instead.
        #[serde(default)]
        all: bool,
    },
    /// A forced TXT check and policy fetch now, one item line per domain.
    Refresh {
        /// The domains.
        domains: Vec<String>,
    },
    /// Counters and settings.
    Stats,
}

/// A request line: the version and the request.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    request: ControlRequest,
}

/// A cached policy, as `show` and `list` report it. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EntryReport {
    /// The policy domain.
    pub domain: String,
    /// The TXT record id the policy was fetched under.
    pub id: String,
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// The `mx` patterns, in policy order.
    pub mx: Vec<String>,
    /// `max_age`, in seconds.
    pub max_age: u64,
    /// When the policy was fetched over HTTPS.
    pub fetched_at: u64,
    /// When it expires (`fetched_at + max_age`) unless fetched again.
    pub expires_at: u64,
    /// Whether it may still be applied now.
    pub valid: bool,
}

impl EntryReport {
    fn new(domain: &Domain, entry: &CachedPolicy, now: SystemTime) -> Self {
        let policy = entry.policy();
        Self {
            domain: domain.to_string(),
            id: entry.id().to_string(),
            mode: policy.mode().as_str().to_owned(),
            mx: policy.mx().map(|m| m.as_str().to_owned()).collect(),
            max_age: policy.max_age().as_secs().into(),
            fetched_at: unix(entry.fetched_at()),
            expires_at: unix(entry.expires_at()),
            valid: entry.is_valid_at(now),
        }
    }
}

/// A failure as reported: what failed, and when it was seen or until when it is remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FailureReport {
    /// `https: …` with the TLSRPT result type.
    pub failure: String,
    /// When the domain started failing with it (wall clock), if known.
    pub since: Option<u64>,
    /// Until when the resolver answers with it without a new DNS query, if it still does.
    pub until: Option<u64>,
}

/// The DANE state of a domain as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DaneReport {
    /// The state (`dane-only (…)`, `no DANE: …`) or the lookup's error.
    pub state: String,
    /// Seconds the cached state is still kept.
    pub expires_in: u64,
}

/// Everything the daemon knows about one domain (`show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainReport {
    /// The policy domain.
    pub domain: String,
    /// The cached policy, if any.
    pub cached: Option<EntryReport>,
    /// When a check last confirmed the cached policy, if within `cache_grace`.
    pub last_checked: Option<u64>,
    /// Until when "no `_mta-sts` record" is answered without a DNS query.
    pub no_policy_until: Option<u64>,
    /// The last discovery failure.
    pub last_failure: Option<FailureReport>,
    /// Policy fetches in their five-minute backoff (FETCH-9): `id: failure`.
    pub fetch_backoff: Vec<String>,
    /// Whether a background refresh is running.
    pub refreshing: bool,
    /// Whether any zone looks up DANE.
    pub dane_enabled: bool,
    /// The cached DANE state, if any (and DANE is on).
    pub dane: Option<DaneReport>,
}

/// What `refresh` did for one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshReport {
    /// The policy domain.
    pub domain: String,
    /// Whether the policy (or its absence) was established: false when discovery failed.
    pub ok: bool,
    /// The outcome in words (`policy fetched (id …, mode …)`, `no policy: …`, …).
    pub outcome: String,
    /// The policy that applies now, if any.
    pub policy: Option<EntryReport>,
    /// The DANE state looked up afresh, when DANE is on.
    pub dane: Option<String>,
}

/// What `purge` did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Domains whose entry was removed from the store (or had none).
    pub purged: Vec<String>,
    /// Domains the store failed to remove, with the error.
    pub failed: Vec<(String, String)>,
}

/// The daemon's counters (`stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatsReport {
    /// The cache backend (`internal`, `sqlite`, `redis`, …).
    pub backend: String,
    /// Cached entries (counted by walking the store), if the walk succeeded.
    pub entries: Option<u64>,
    /// Writes acknowledged but not yet stored in the backend (a backend outage).
    pub queued_writes: Option<u64>,
    /// Seconds since the daemon started.
    pub uptime: u64,
    /// Socketmap connections open now.
    pub connections_open: u64,
    /// Socketmap connections accepted since the start.
    pub connections_total: u64,
    /// Socketmap lookups answered since the start, when counted (the metrics module).
    pub lookups: Option<u64>,
    /// `cache_grace`, in seconds.
    pub cache_grace: u64,
    /// Whether proactive policy fetching is on.
    pub proactive: bool,
}

/// What the daemon counts for `stats`, shared by its clones.
#[derive(Debug)]
pub(crate) struct Activity {
    started: tokio::time::Instant,
    open: AtomicU64,
    total: AtomicU64,
}

/// Counts a socketmap connection as open until dropped.
pub(crate) struct OpenConnection(Arc<Activity>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            started: tokio::time::Instant::now(),
            open: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Notes a connection accepted; it counts as open until the guard is dropped.
    pub(crate) fn connection(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The bound control socket (`control.socket`), removed when dropped.
#[derive(Debug)]
pub struct ControlSocket(UnixSocket);

impl ControlSocket {
    /// Binds `path` with `mode`, as the socketmap socket is bound: a missing directory is
    /// created (mode 0750), a stale socket replaced, a live one refused. Both belong to
    /// `runs_as` (the user the daemon will run as, `-u`), so that user and root can connect.
    pub fn bind(path: &Path, mode: u32, runs_as: Option<nix::unistd::Uid>) -> anyhow::Result<Self> {
        UnixSocket::bind_owned(path, mode, runs_as).map(Self)
    }

    /// The socket file.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The request line a client sends for `request` (newline included).
pub fn request_line(request: &ControlRequest) -> String {
    let envelope = Envelope {
        v: PROTOCOL_VERSION,
        request: request.clone(),
    };
    let mut line = serde_json::to_string(&envelope).unwrap_or_default();
    line.push('\n');
    line
}

fn parse_domain(name: &str) -> Result<Domain, String> {
    let name = name.trim();
    Domain::from_idna(name).map_err(|e| format!("{name:?} is not a policy domain: {e}"))
}

/// One line of the answer.
fn line(value: &serde_json::Value) -> Vec<u8> {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    out
}

fn error_line(message: &str) -> Vec<u8> {
    line(&serde_json::json!({"v": PROTOCOL_VERSION, "ok": false, "error": message}))
}

fn result_line(result: impl Serialize) -> Vec<u8> {
    line(&serde_json::json!({"v": PROTOCOL_VERSION, "ok": true, "result": result}))
}

fn item_line(item: impl Serialize) -> Vec<u8> {
    line(&serde_json::json!({"v": PROTOCOL_VERSION, "item": item}))
}

impl Daemon {
    /// Serves the control socket until `shutdown` completes: a few connections at once, each
    /// with a bounded request line and a time limit.
    pub async fn serve_control(&self, socket: ControlSocket, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = socket.0.accept() => accepted,
            };
            let mut stream = match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                connections.spawn(async move {
                    let busy = error_line("busy: too many control connections, try again");
                    let _ = tokio::time::timeout(REQUEST_WAIT, stream.write_all(&busy)).await;
                });
                continue;
            };
            let daemon = self.clone();
            connections.spawn(async move {
                let served =
                    tokio::time::timeout(CONNECTION_LIMIT, daemon.control_connection(&mut stream));
                if served.await.is_err() {
                    tracing::warn!(
                        "control connection exceeded {} s: closed",
                        CONNECTION_LIMIT.as_secs()
                    );
                }
                drop(permit);
            });
        }
        connections.abort_all();
    }

    async fn control_connection(&self, stream: &mut tokio::net::UnixStream) {
        let (read, mut write) = stream.split();
        let mut reader = BufReader::new(read).take(MAX_REQUEST as u64 + 1);
        let mut request = Vec::new();
        let got = tokio::time::timeout(REQUEST_WAIT, reader.read_until(b'\n', &mut request)).await;
        let answer = match got {
            Err(_) => error_line("no request within 10 s"),
            Ok(Err(e)) => error_line(&format!("cannot read the request: {e}")),
            Ok(Ok(_)) if request.len() > MAX_REQUEST => {
                error_line(&format!("request longer than {MAX_REQUEST} bytes"))
            }
            Ok(Ok(_)) => match serde_json::from_slice::<Envelope>(&request) {
                Err(e) => error_line(&format!("invalid request: {e}")),
                Ok(envelope) if envelope.v != PROTOCOL_VERSION => error_line(&format!(
                    "protocol version {} not supported (this daemon speaks {PROTOCOL_VERSION})",
                    envelope.v
                )),
                Ok(envelope) => {
                    tracing::info!(request = ?envelope.request, "control request");
                    return self.answer_control(envelope.request, &mut write).await;
                }
            },
        };
        let _ = write.write_all(&answer).await;
    }

    /// Runs one control request, writing its item lines and its result line to `out`.
    pub async fn answer_control<W: AsyncWrite + Unpin>(
        &self,
        request: ControlRequest,
        out: &mut W,
    ) {
        let last = match request {
            ControlRequest::Show { domain } => match parse_domain(&domain) {
                Ok(domain) => result_line(self.admin_show(&domain).await),
                Err(e) => error_line(&e),
            },
            ControlRequest::List => self.list_to(out).await,
            ControlRequest::Purge { all: true, domains } if domains.is_empty() => {
                match self.admin_purge_all().await {
                    Ok(report) => result_line(report),
                    Err(e) => error_line(&e),
                }
            }
            ControlRequest::Purge { all: true, .. } => {
                error_line("purge: name domains or --all, not both")
            }
            ControlRequest::Purge { domains, .. } => match checked_domains(&domains) {
                Ok(domains) => result_line(self.admin_purge(&domains).await),
                Err(e) => error_line(&e),
            },
            ControlRequest::Refresh { domains } => match checked_domains(&domains) {
                Ok(domains) => {
                    let mut failed = 0;
                    for domain in &domains {
                        let report = self.admin_refresh(domain).await;
                        failed += usize::from(!report.ok);
                        if out.write_all(&item_line(&report)).await.is_err() {
                            return;
                        }
                    }
                    result_line(
                        serde_json::json!({"refreshed": domains.len() - failed, "failed": failed}),
                    )
                }
                Err(e) => error_line(&e),
            },
            ControlRequest::Stats => result_line(self.admin_stats().await),
        };
        let _ = out.write_all(&last).await;
        let _ = out.flush().await;
    }

    async fn list_to<W: AsyncWrite + Unpin>(&self, out: &mut W) -> Vec<u8> {
        let now = self.daemon_clock().now();
        let cache = self.cache();
        let (mut entries, mut skipped) = (0u64, 0u64);
        let mut cursor: Option<ScanCursor> = None;
        loop {
            let page = match cache.scan(cursor.as_ref(), PAGE).await {
                Ok(page) => page,
                Err(e) => return error_line(&format!("cannot read the cache: {e}")),
            };
            skipped += page.skipped as u64;
            for (domain, entry) in &page.entries {
                entries += 1;
                if out
                    .write_all(&item_line(EntryReport::new(domain, entry, now)))
                    .await
                    .is_err()
                {
                    return Vec::new();
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        result_line(serde_json::json!({"entries": entries, "skipped": skipped}))
    }

    /// Everything the daemon knows about `domain`: its cache entry, the resolver's bookkeeping,
    /// the last failure and the DANE state.
    pub async fn admin_show(&self, domain: &Domain) -> DomainReport {
        let now = self.daemon_clock().now();
        let cached = self.cache().get(domain).await.ok().flatten();
        let remembered = self.resolver().remembered(domain);
        let logged = self.answer_log().last_failure(domain);
        let last_failure = match (&remembered.failed, logged) {
            (Some((failure, until)), logged) => Some(FailureReport {
                failure: failure.to_string(),
                since: logged.map(|(_, at)| unix(at)),
                until: Some(unix(*until)),
            }),
            (None, Some((failure, at))) => Some(FailureReport {
                failure: failure.to_string(),
                since: Some(unix(at)),
                until: None,
            }),
            (None, None) => None,
        };
        let dane = self.dane_client().and_then(|dane| {
            dane.cached_until(domain.as_str())
                .map(|(state, until)| DaneReport {
                    state: match state {
                        Ok(state) => state.to_string(),
                        Err(error) => error.to_string(),
                    },
                    expires_in: until
                        .saturating_duration_since(tokio::time::Instant::now())
                        .as_secs(),
                })
        });
        DomainReport {
            domain: domain.to_string(),
            cached: cached.map(|entry| EntryReport::new(domain, &entry, now)),
            last_checked: remembered.last_checked.map(unix),
            no_policy_until: remembered.no_policy_until.map(unix),
            last_failure,
            fetch_backoff: remembered
                .fetch_backoff
                .iter()
                .map(|(id, failure, _)| format!("{id}: {failure}"))
                .collect(),
            refreshing: remembered.refreshing,
            dane_enabled: self.dane_client().is_some(),
            dane,
        }
    }

    /// Forgets `domains` everywhere this daemon remembers them: the store (for a shared store,
    /// every daemon; see docs/operations.md for when the others notice), the resolver's
    /// bookkeeping, the prepared replies, the answer log and the DANE states.
    pub async fn admin_purge(&self, domains: &[Domain]) -> PurgeReport {
        let mut report = PurgeReport::default();
        for domain in domains {
            self.forget_locally(domain);
            match self.cache().remove(domain).await {
                Ok(()) => report.purged.push(domain.to_string()),
                Err(e) => report.failed.push((domain.to_string(), e.to_string())),
            }
            // Again: a lookup that ran meanwhile may have remembered the entry just removed.
            self.forget_locally(domain);
        }
        if !report.failed.is_empty() {
            tracing::warn!(failed = ?report.failed, "purge: the store did not remove every domain");
        }
        tracing::info!(purged = ?report.purged, "purged");
        report
    }

    /// [`admin_purge`](Self::admin_purge) of every domain in the store, and everything the
    /// daemon remembers about any domain (also those not cached: "no record", failures).
    pub async fn admin_purge_all(&self) -> Result<PurgeReport, String> {
        let mut domains = Vec::new();
        let mut cursor: Option<ScanCursor> = None;
        loop {
            let page = self
                .cache()
                .scan(cursor.as_ref(), PAGE)
                .await
                .map_err(|e| format!("cannot read the cache: {e}"))?;
            domains.extend(page.entries.into_iter().map(|(domain, _)| domain));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        self.forget_all_locally();
        let mut report = PurgeReport::default();
        for domain in &domains {
            match self.cache().remove(domain).await {
                Ok(()) => report.purged.push(domain.to_string()),
                Err(e) => report.failed.push((domain.to_string(), e.to_string())),
            }
        }
        // Again: lookups that ran meanwhile may have remembered entries just removed.
        self.forget_all_locally();
        tracing::info!(
            purged = report.purged.len(),
            failed = report.failed.len(),
            "purged every cached domain"
        );
        Ok(report)
    }

    fn forget_all_locally(&self) {
        self.resolver().forget_all();
        self.reply_memo().forget_all();
        self.answer_log().forget_all();
        if let Some(dane) = self.dane_client() {
            dane.forget_all();
        }
    }

    fn forget_locally(&self, domain: &Domain) {
        self.resolver().forget(domain);
        self.reply_memo().forget(domain);
        self.answer_log().forget(domain);
        if let Some(dane) = self.dane_client() {
            dane.forget(domain.as_str());
        }
    }

    /// A forced TXT check and policy fetch of `domain` now (ignoring the failure backoff), within
    /// the longest zone timeout; with DANE on, a fresh DANE lookup too.
    pub async fn admin_refresh(&self, domain: &Domain) -> RefreshReport {
        self.resolver().forget(domain);
        self.reply_memo().forget(domain);
        let deadline = self.config().longest_timeout();
        let refreshed = tokio::time::timeout(deadline, self.resolver().refresh(domain)).await;
        let dane = match self.dane_client() {
            Some(dane) => {
                dane.forget(domain.as_str());
                Some(match dane.state(domain.as_str()).await {
                    Ok(state) => state.to_string(),
                    Err(error) => error.to_string(),
                })
            }
            None => None,
        };
        let now = self.daemon_clock().now();
        let Ok(outcome) = refreshed else {
            return RefreshReport {
                domain: domain.to_string(),
                ok: false,
                outcome: format!("no answer within {:.1} s", deadline.as_secs_f64()),
                policy: None,
                dane,
            };
        };
        tracing::info!(%domain, %outcome, "refreshed by request");
        let ok = !matches!(
            outcome,
            Outcome::Failure(_)
                | Outcome::Cached {
                    reason: CacheReason::DiscoveryFailed(_),
                    ..
                }
        );
        RefreshReport {
            domain: domain.to_string(),
            ok,
            outcome: outcome.to_string(),
            policy: outcome
                .policy()
                .map(|entry| EntryReport::new(domain, entry, now)),
            dane,
        }
    }

    /// The counters and settings `stats` reports.
    pub async fn admin_stats(&self) -> StatsReport {
        let cache = self.cache();
        let mut entries = Some(0u64);
        let mut cursor: Option<ScanCursor> = None;
        while let Some(count) = entries {
            match cache.scan(cursor.as_ref(), PAGE).await {
                Ok(page) => {
                    entries = Some(count + page.entries.len() as u64);
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                Err(_) => entries = None,
            }
        }
        let activity = self.activity();
        let config = self.config();
        StatsReport {
            backend: config.cache.kind().to_owned(),
            entries,
            queued_writes: cache.queued_writes().map(|n| n as u64),
            uptime: activity.started.elapsed().as_secs(),
            connections_open: activity.open.load(Ordering::Relaxed),
            connections_total: activity.total.load(Ordering::Relaxed),
            lookups: Some(self.metrics().lookups()),
            cache_grace: config.cache_grace.as_secs(),
            proactive: config.proactive_policy_fetching.enabled,
        }
    }
}

fn checked_domains(names: &[String]) -> Result<Vec<Domain>, String> {
    if names.is_empty() {
        return Err("name at least one domain".into());
    }
    if names.len() > MAX_DOMAINS {
        return Err(format!("at most {MAX_DOMAINS} domains per request"));
    }
    names.iter().map(|name| parse_domain(name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_the_protocol_says() {
        let read = |text: &str| serde_json::from_str::<Envelope>(text).map(|e| (e.v, e.request));
        assert_eq!(
            read(r#"{"v":1,"op":"show","domain":"example.com"}"#).unwrap(),
            (
                1,
                ControlRequest::Show {
                    domain: "example.com".into()
                }
            )
        );
        assert_eq!(
            read(r#"{"v":1,"op":"purge","all":true}"#).unwrap(),
            (
                1,
                ControlRequest::Purge {
                    domains: vec![],
                    all: true
                }
            )
        );
        assert_eq!(
            read(r#"{"v":1,"op":"stats"}"#).unwrap(),
            (1, ControlRequest::Stats)
        );
        assert!(read(r#"{"v":1,"op":"reboot"}"#).is_err());
        assert!(read(r#"{"op":"stats"}"#).is_err());
        let line = serde_json::to_string(&Envelope {
            v: 1,
            request: ControlRequest::Refresh {
                domains: vec!["a.example".into()],
            },
        })
        .unwrap();
        assert_eq!(line, r#"{"v":1,"op":"refresh","domains":["a.example"]}"#);
    }

    #[test]
    fn domains_are_checked_and_bounded() {
        assert_eq!(
            checked_domains(&["Example.COM.".into()]).unwrap(),
            vec!["example.com".parse::<Domain>().unwrap()]
        );
        assert!(checked_domains(&[]).is_err());
        assert!(checked_domains(&["not a domain".into()]).is_err());
        let many: Vec<String> = (0..=MAX_DOMAINS).map(|i| format!("d{i}.example")).collect();
        assert!(checked_domains(&many).is_err());
    }
}
