//! The socketmap server: lookups, connections, proactive fetching, shutdown.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use futures_util::{SinkExt, StreamExt};
use mta_sts_fetch::{
    DaneClient, DnsClient, DnssecTrust, FetchConfig, PolicyClient, Proxy, Roots, SystemClock,
    clients,
};
use mta_sts_policy::Domain;
use mta_sts_resolver::{
    CacheReason, Clock, Failure, Outcome, Resolver, ResolverConfig, ResultType, Stage,
};
use postfix_socketmap::{Reply, Request, ServerCodec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use crate::answer::{Memoized, ReplyMemo, dane_answer};
use crate::answer_log::AnswerLog;
use crate::cache::SharedCache;
use crate::control::Activity;
use crate::listener::Stream;
use crate::metrics::{CountedFetch, DaneDecision, Metrics, RefreshKind, ZoneMetrics};
use crate::{Config, Key, Listener, RootsSetting, Zone, ZoneRules, normalize_key};

/// How long the cache may take to answer once a lookup's deadline has passed.
const CACHE_WAIT: Duration = Duration::from_secs(1);
/// An idle connection is closed after this long (Postfix closes its own after 10 s).
const IDLE: Duration = Duration::from_secs(60);
/// How many domains' last replies are kept ready (the hot set; a miss only costs formatting).
const REPLY_MEMO: usize = 16_384;
/// How many domains' DANE states are kept (each for its DNS TTL).
const DANE_CACHE: usize = 65_536;

/// The clock the daemon judges policy lifetimes by: the system's, or one a test drives.
pub type DaemonClock = Arc<dyn Clock>;
pub(crate) type DaemonResolver =
    Resolver<DnsClient, CountedFetch<PolicyClient>, SharedCache, DaemonClock>;

/// A configured daemon: the resolver with its cache, and the answer rules.
///
/// The configuration and what is built from it (the DNS and HTTPS clients, the DANE client) can
/// be replaced while the daemon serves, with [`reload`](Self::reload): lookups that started keep
/// the configuration they started with, later ones use the new one, and connections stay open.
#[derive(Clone)]
pub struct Daemon {
    live: Arc<ArcSwap<Live>>,
    cache: SharedCache,
    replies: Arc<ReplyMemo>,
    answers: Arc<AnswerLog>,
    clock: DaemonClock,
    /// Bumped by each reload, so background work (proactive fetching) re-reads its settings.
    reloads: Arc<watch::Sender<u64>>,
    activity: Arc<Activity>,
    /// Kept across reloads: the registry, and the view of a cache only a restart changes.
    metrics: Arc<Metrics>,
}

/// The configuration in force and what is built from it.
struct Live {
    config: Arc<Config>,
    fetch: FetchConfig,
    resolver: DaemonResolver,
    dane: Option<DaneClient>,
    /// The lookup counters of `config`'s zones: swapped with it.
    zone_metrics: Arc<ZoneMetrics>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("resolver", &self.live.load().resolver)
            .finish_non_exhaustive()
    }
}

/// What [`Daemon::reload`] did with a new configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reload {
    /// The top-level keys whose new values apply from now on.
    pub applied: Vec<&'static str>,
    /// The keys whose new values need a restart, each with the value kept until then.
    pub needs_restart: Vec<String>,
}

/// The DNS and HTTPS settings a configuration asks for.
pub fn fetch_config(config: &Config) -> FetchConfig {
    let mut fetch = FetchConfig::default()
        .with_nameservers(config.dns.nameservers.clone())
        .with_roots(match config.tls.roots {
            RootsSetting::Webpki => Roots::Webpki,
            RootsSetting::System => Roots::System,
        })
        .with_proxy(Proxy::FromEnv);
    if let Some(ca) = &config.tls.ca_file {
        fetch = fetch.with_ca_file(ca);
    }
    // One fetch may use the longest zone timeout; each lookup is also cut at its own zone's.
    fetch.with_timeout(config.longest_timeout())
}

impl Live {
    /// What `config` needs, reusing from `old` the clients whose settings did not change (they
    /// hold the resolver's memo, in-flight discoveries and the DANE cache).
    fn build(
        config: Config,
        fetch: &FetchConfig,
        cache: &SharedCache,
        clock: &DaemonClock,
        metrics: &Metrics,
        old: Option<&Self>,
    ) -> anyhow::Result<Self> {
        let same_fetch = old.filter(|old| old.fetch == *fetch);
        let resolver = match same_fetch {
            Some(old) => old.resolver.clone(),
            None => {
                let (dns, https) = clients(fetch)?;
                let https = metrics.counted_fetch(https);
                let resolver_config = ResolverConfig::default().with_grace(config.cache_grace);
                Resolver::new(
                    dns,
                    https,
                    Arc::clone(cache),
                    Arc::clone(clock),
                    resolver_config,
                )
            }
        };
        let same_trust = same_fetch.filter(|old| {
            old.config.dns.trust_anchor == config.dns.trust_anchor
                && old.config.dns.trust_ad == config.dns.trust_ad
        });
        let dane = match same_trust.and_then(|old| old.dane.as_ref()) {
            _ if !config.dane_enabled() => None,
            Some(dane) => Some(dane.clone()),
            None => Some(dane_client(&config, fetch)?),
        };
        Ok(Self {
            zone_metrics: metrics.zones(&config),
            config: Arc::new(config),
            fetch: fetch.clone(),
            resolver,
            dane,
        })
    }
}

/// The DANE client the configuration's trust settings ask for.
fn dane_client(config: &Config, fetch: &FetchConfig) -> anyhow::Result<DaneClient> {
    let trust = match &config.dns.trust_anchor {
        _ if config.dns.trust_ad => DnssecTrust::LocalResolver,
        Some(path) => DnssecTrust::AnchorFile(path.clone()),
        None => DnssecTrust::Root,
    };
    tracing::warn!(
        "DANE is on: answers may be \"dane\" or \"dane-only\", which Postfix applies only with \
         smtp_dns_support_level = dnssec and a DNSSEC-validating resolver in its resolv.conf; \
         without them Postfix downgrades those answers (see mta-sts-daemon.yml(5), dane)"
    );
    let dane = DaneClient::new(fetch, &trust, DANE_CACHE);
    // Name the key that asked for it: the refusal of a remote resolver says why.
    Ok(if config.dns.trust_ad {
        dane.context("dns.trust_ad")?
    } else {
        dane?
    })
}

/// Keeps in `new` the values of `old` that only a restart can change (the sockets, the cache
/// store), saying which differed and what stays in force.
fn keep_restart_only(new: &mut Config, old: &Config) -> Vec<String> {
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if new.$field != old.$field {
                kept.push(format!("{}: {:?} (running: {:?})", stringify!($field), new.$field, old.$field));
                new.$field = old.$field.clone();
            }
        )*};
    }
    keep!(
        host,
        port,
        path,
        mode,
        owner,
        group,
        reuse_port,
        max_connections,
        cache_grace,
        control
    );
    if new.cache != old.cache {
        kept.push(format!(
            "cache: type {} (running: type {}, and its options)",
            new.cache.kind(),
            old.cache.kind()
        ));
        new.cache = old.cache.clone();
    }
    kept
}

/// The fetch settings for `config`, from those in force: only what the configuration sets is
/// replaced, so settings an embedder gave [`Daemon::new`] beyond it (extra CA text, a test port)
/// stay.
fn refetch(old: &Live, config: &Config) -> FetchConfig {
    let mut fetch = old.fetch.clone();
    let wanted = fetch_config(config);
    fetch.timeout = wanted.timeout;
    if config.dns != old.config.dns {
        fetch.nameservers = wanted.nameservers;
    }
    if config.tls != old.config.tls {
        fetch.roots = wanted.roots;
        fetch.ca_files = wanted.ca_files;
    }
    fetch
}

/// The top-level keys whose values differ.
fn changed_keys(new: &Config, old: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! compare {
        ($($field:ident),*) => {$(
            if new.$field != old.$field {
                changed.push(stringify!($field));
            }
        )*};
    }
    compare!(
        zones,
        default_zone,
        dns,
        tls,
        proactive_policy_fetching,
        shutdown_timeout,
        log_level,
        metrics
    );
    changed
}

impl Daemon {
    /// A daemon for `config` on the system clock, fetching with `fetch` (see [`fetch_config`]).
    /// Opens the cache the configuration names.
    pub fn new(config: Config, fetch: &FetchConfig) -> anyhow::Result<Self> {
        Self::with_clock(config, fetch, Arc::new(SystemClock))
    }

    /// [`new`](Self::new) on another clock, for tests and simulations: policy lifetimes, grace
    /// periods and proactive fetching all follow it.
    pub fn with_clock(
        config: Config,
        fetch: &FetchConfig,
        clock: DaemonClock,
    ) -> anyhow::Result<Self> {
        let (cache, cache_view) = config.cache.open_observed(config.cache_grace)?;
        let metrics = Arc::new(Metrics::new(cache_view));
        let live = Live::build(config, fetch, &cache, &clock, &metrics, None)?;
        Ok(Self {
            live: Arc::new(ArcSwap::from_pointee(live)),
            cache,
            metrics,
            replies: Arc::new(ReplyMemo::new(REPLY_MEMO)),
            answers: Arc::new(AnswerLog::new()),
            clock,
            reloads: Arc::new(watch::channel(0).0),
            activity: Arc::new(Activity::new()),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live.load().config)
    }

    /// The cache the daemon reads and writes (the store the configuration names, behind the
    /// in-process tier when it is persistent).
    pub fn cache(&self) -> &SharedCache {
        &self.cache
    }

    /// Puts `config` in force for the lookups that start from now on, without closing any
    /// connection: zones, timeouts, DNS and TLS settings, DANE and proactive fetching. What only a
    /// restart can change (the listening socket, `max_connections`, the cache store,
    /// `cache_grace` and the control socket) keeps its running value and is listed in [`Reload::needs_restart`]. The DNS,
    /// HTTPS and DANE clients are rebuilt only when their settings changed, so the resolver's
    /// state survives a reload that does not touch them. On error (a CA file or trust anchor that
    /// cannot be read), the running configuration stays in force.
    pub fn reload(&self, mut config: Config) -> anyhow::Result<Reload> {
        let old = self.live.load_full();
        let needs_restart = keep_restart_only(&mut config, &old.config);
        let applied = changed_keys(&config, &old.config);
        if applied.is_empty() {
            return Ok(Reload {
                applied,
                needs_restart,
            });
        }
        let fetch = refetch(&old, &config);
        let live = Live::build(
            config,
            &fetch,
            &self.cache,
            &self.clock,
            &self.metrics,
            Some(&old),
        )?;
        self.live.store(Arc::new(live));
        self.reloads.send_modify(|n| *n += 1);
        Ok(Reload {
            applied,
            needs_restart,
        })
    }

    // Accessors for the control socket's operations (control.rs).
    pub(crate) fn resolver(&self) -> DaemonResolver {
        self.live.load().resolver.clone()
    }

    pub(crate) fn reply_memo(&self) -> &ReplyMemo {
        &self.replies
    }

    pub(crate) fn answer_log(&self) -> &AnswerLog {
        &self.answers
    }

    pub(crate) fn dane_client(&self) -> Option<DaneClient> {
        self.live.load().dane.clone()
    }

    pub(crate) fn daemon_clock(&self) -> &DaemonClock {
        &self.clock
    }

    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// What this daemon counts (served on `metrics.listen`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The answer to one request (PFX-1 keys, zones by map name, the zone's deadline), counted.
    pub async fn lookup(&self, request: &Request) -> Reply {
        // The configuration this lookup started with, even if a reload replaces it meanwhile.
        let live = self.live.load_full();
        // `/healthz` asks the listener under its own map name: not a lookup to count.
        if request.name() == crate::endpoint::HEALTH_MAP {
            return self.answer(&live, request).await;
        }
        let started = std::time::Instant::now();
        let reply = self.answer(&live, request).await;
        let zone = live.zone_metrics.get(request.name());
        self.metrics.note_lookup(zone, &reply, started.elapsed());
        reply
    }

    async fn answer(&self, live: &Live, request: &Request) -> Reply {
        let zone = live.config.zone(request.name());
        let domain = match normalize_key(request.key()) {
            Key::Domain(domain) => domain,
            Key::Skip(reason) => {
                tracing::debug!(key = request.key(), ?reason, "NOTFOUND without lookup");
                return Reply::NotFound;
            }
        };
        let rules = zone.rules();
        let resolver = &live.resolver;
        match &live.dane {
            Some(dane) if rules.dane => {
                self.dane_first(resolver, dane, &domain, zone, &rules).await
            }
            _ => self.mta_sts(resolver, &domain, zone, &rules, None).await,
        }
    }

    /// APPLY-4: the DANE state decides first; MTA-STS answers only when DANE does not apply. A
    /// cold DANE lookup runs while MTA-STS discovery starts, so neither waits for the other.
    async fn dane_first(
        &self,
        resolver: &DaemonResolver,
        dane: &DaneClient,
        domain: &Domain,
        zone: &Zone,
        rules: &ZoneRules,
    ) -> Reply {
        // The common warm case, a domain without DANE: one memo read answers for DANE and policy.
        if let Some(hit) = self.replies.without_dane(domain, Instant::now()) {
            self.metrics.note_dane(DaneDecision::NoDane);
            return self
                .mta_sts(resolver, domain, zone, rules, Some(&hit))
                .await;
        }
        if let Some((state, until)) = dane.cached_until(domain.as_str()) {
            self.metrics.note_dane(match &state {
                Ok(state) => state.verdict().into(),
                Err(_) => DaneDecision::Temp,
            });
            return match dane_answer(domain, state.as_deref().map_err(|e| &**e)) {
                Some(reply) => reply,
                None => {
                    let reply = self.mta_sts(resolver, domain, zone, rules, None).await;
                    self.replies.note_no_dane(domain, until);
                    reply
                }
            };
        }
        let mut policy = pin!(self.mta_sts(resolver, domain, zone, rules, None));
        let mut looked_up = pin!(tokio::time::timeout(
            zone.timeout,
            dane.state(domain.as_str())
        ));
        let mut early = None;
        let state = loop {
            tokio::select! {
                state = &mut looked_up => break state,
                reply = &mut policy, if early.is_none() => early = Some(reply),
            }
        };
        let reply = match state {
            Ok(Ok(state)) => {
                self.metrics.note_dane(state.verdict().into());
                tracing::info!(%domain, dane = %state, "DANE state");
                dane_answer(domain, Ok(&state))
            }
            Ok(Err(error)) => {
                self.metrics.note_dane(DaneDecision::Temp);
                tracing::warn!(%domain, %error, "DANE lookup failed: TEMP, never a fall back to MTA-STS");
                dane_answer(domain, Err(&error))
            }
            Err(_) => {
                self.metrics.note_dane(DaneDecision::Temp);
                tracing::warn!(%domain, "DANE lookup exceeded the zone timeout of {:.1} s: TEMP", zone.timeout.as_secs_f64());
                Some(Reply::Temp(format!(
                    "DANE state of {domain} unknown: no answer within the zone timeout of {:.1} s",
                    zone.timeout.as_secs_f64()
                )))
            }
        };
        match (reply, early) {
            (Some(reply), _) | (None, Some(reply)) => reply,
            (None, None) => policy.await,
        }
    }

    /// The MTA-STS answer; `memo` is the domain's reply memo entry when the caller has read it.
    async fn mta_sts(
        &self,
        resolver: &DaemonResolver,
        domain: &Domain,
        zone: &Zone,
        rules: &ZoneRules,
        memo: Option<&Memoized>,
    ) -> Reply {
        // A warm lookup completes on its first poll; only one that has to wait gets a timer.
        let mut pending = pin!(resolver.lookup(domain));
        let first = std::future::poll_fn(|cx| Poll::Ready(pending.as_mut().poll(cx))).await;
        let looked_up = match first {
            Poll::Ready(lookup) => Ok(lookup),
            Poll::Pending => tokio::time::timeout(zone.timeout, pending).await,
        };
        let Ok(mut lookup) = looked_up else {
            return self
                .past_deadline(resolver, domain, zone.timeout, rules)
                .await;
        };
        if let Some(refresh) = lookup.take_refresh() {
            tokio::spawn(self.metrics.counted_refresh(refresh));
        }
        let outcome = lookup.outcome();
        let reply = self.replies.answer_from(memo, domain, outcome, rules);
        self.answers.note(domain, outcome, &reply);
        tracing::debug!(%domain, reply = %reply, "lookup");
        reply
    }

    /// The answer when discovery did not finish within the zone's deadline (DNS or the policy host
    /// hanging): a valid cached policy still applies (CACHE-3); only without one does `on_failure`
    /// decide. A hanging check must never downgrade a domain that has a policy.
    async fn past_deadline(
        &self,
        resolver: &DaemonResolver,
        domain: &Domain,
        deadline: Duration,
        rules: &ZoneRules,
    ) -> Reply {
        let cached = tokio::time::timeout(CACHE_WAIT, resolver.cached_policy(domain))
            .await
            .ok()
            .flatten();
        let failure = Failure::new(
            Stage::Deadline,
            ResultType::StsPolicyFetchError,
            DeadlineExceeded(deadline),
        );
        let outcome = match cached {
            Some(policy) => {
                tracing::warn!(%domain, "policy discovery exceeded the zone timeout of {:.1} s; the cached policy still applies", deadline.as_secs_f64());
                Outcome::Cached {
                    policy,
                    reason: CacheReason::DiscoveryFailed(failure),
                }
            }
            None => {
                tracing::warn!(%domain, "policy discovery exceeded the zone timeout of {:.1} s, with no policy cached", deadline.as_secs_f64());
                Outcome::Failure(failure)
            }
        };
        let reply = self.replies.answer(domain, &outcome, rules);
        self.answers.note(domain, &outcome, &reply);
        reply
    }

    /// Proactive policy fetching (postfix-mta-sts-resolver's `proactive_policy_fetching`): every
    /// `interval`, re-fetch every cached policy older than `interval / grace_ratio`, at most
    /// `concurrency_limit` at a time, so busy and quiet domains alike never lapse (CACHE-4). The
    /// time of the last pass is kept in the cache, so daemons sharing a store take turns. Follows
    /// reloads: waits while the configuration has it off, and picks up new settings for the next
    /// pass. Runs until the returned future is dropped.
    pub async fn proactive_fetching(&self) {
        let mut reloads = self.reloads.subscribe();
        loop {
            let live = self.live.load_full();
            let settings = &live.config.proactive_policy_fetching;
            if !settings.enabled {
                // The sender lives as long as `self`: `changed` fails only if it is gone.
                if reloads.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let interval = settings.interval;
            let min_age = interval.div_f64(settings.grace_ratio);
            let now = self.clock.now();
            let last = self
                .cache
                .last_refresh()
                .await
                .ok()
                .flatten()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let due = last.checked_add(interval).unwrap_or(now);
            if let Ok(wait) = due
                .duration_since(now)
                .map(|w| w.max(Duration::from_millis(1)))
            {
                // A little jitter, so daemons sharing a store do not all wake at once.
                let spread = (interval / 20).min(Duration::from_secs(30));
                let jitter = spread.mul_f64(f64::from(std::process::id() % 1000) / 1000.0);
                tokio::select! {
                    () = tokio::time::sleep(wait + jitter) => {}
                    changed = reloads.changed() => if changed.is_err() { return },
                }
                continue;
            }
            // Claim this pass before running it.
            let _ = self.cache.set_last_refresh(now).await;
            let (refreshed, failed) = self.proactive_pass(&live, now, min_age).await;
            tracing::info!(refreshed, failed, "proactive policy fetching pass done");
        }
    }

    async fn proactive_pass(
        &self,
        live: &Live,
        now: SystemTime,
        min_age: Duration,
    ) -> (usize, usize) {
        let limit = Arc::new(Semaphore::new(
            live.config.proactive_policy_fetching.concurrency_limit,
        ));
        let mut tasks = JoinSet::new();
        let mut cursor = None;
        loop {
            let page = match self.cache.scan(cursor.as_ref(), 256).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "proactive fetching: cannot scan the cache");
                    break;
                }
            };
            for (domain, entry) in page.entries {
                let age = now.duration_since(entry.fetched_at()).unwrap_or_default();
                if age < min_age {
                    continue;
                }
                let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
                    break;
                };
                let resolver = live.resolver.clone();
                let metrics = Arc::clone(&self.metrics);
                tasks.spawn(async move {
                    let outcome = resolver.refresh(&domain).await;
                    drop(permit);
                    let ok = matches!(outcome, Outcome::Fetched(_));
                    metrics.note_refresh(RefreshKind::Proactive, ok);
                    let alert = outcome.failure().filter(|_| !ok && outcome.should_alert());
                    if let Some(f) = alert {
                        tracing::warn!(%domain, failure = %f, "proactive refresh failed; the cached policy still applies");
                    }
                    ok
                });
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let (mut refreshed, mut failed) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(true) => refreshed += 1,
                _ => failed += 1,
            }
        }
        (refreshed, failed)
    }

    /// Serves connections from `listener` until `shutdown` completes, then lets in-flight requests
    /// finish for up to `shutdown_timeout`.
    pub async fn serve(
        &self,
        listener: Listener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let proactive = {
            let daemon = self.clone();
            tokio::spawn(async move { daemon.proactive_fetching().await })
        };
        let slots = Arc::new(Semaphore::new(self.config().max_connections));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                permit = Arc::clone(&slots).acquire_owned() => permit?,
            };
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok(stream) => stream,
                Err(e) => {
                    // EMFILE and the like: the condition persists for a moment, so do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            let daemon = self.clone();
            let stop = stop_rx.clone();
            let open = (self.activity.connection(), self.metrics.connection());
            connections.spawn(async move {
                match stream {
                    Stream::Tcp(s) => daemon.connection(s, stop).await,
                    Stream::Unix(s) => daemon.connection(s, stop).await,
                }
                drop((permit, open));
            });
        }
        proactive.abort();
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(self.config().shutdown_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = connections.len(),
                "shutdown timeout: closing the remaining connections"
            );
            connections.abort_all();
        }
        Ok(())
    }

    async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut framed = Framed::new(stream, ServerCodec::new());
        let mut stopping = pin!(stop.wait_for(|stopping| *stopping));
        // One timer for the connection's whole life, re-armed only when it fires: a timer per
        // request would cost more than the lookup itself.
        let mut idle = pin!(tokio::time::sleep(IDLE));
        let mut last_request = Instant::now();
        loop {
            let next = tokio::select! {
                _ = &mut stopping => return,
                () = &mut idle => {
                    if last_request.elapsed() >= IDLE {
                        return;
                    }
                    idle.as_mut().reset(last_request + IDLE);
                    continue;
                }
                next = framed.next() => next,
            };
            let reply = match next {
                None => return,
                Some(Err(e)) => {
                    // SOCK-9: the stream position is lost; close this connection only.
                    tracing::info!(error = %e, "closing a connection");
                    return;
                }
                Some(Ok(Err(e))) => {
                    let reply = Reply::Perm(e.to_string());
                    self.metrics
                        .note_refused(&self.live.load().zone_metrics, &reply);
                    reply
                }
                Some(Ok(Ok(request))) => self.lookup(&request).await,
            };
            if framed.send(reply).await.is_err() {
                return;
            }
            // Idle time counts from the last answer: a slow lookup is not idleness.
            last_request = Instant::now();
        }
    }
}

/// A discovery cut short at the zone's deadline.
#[derive(Debug, thiserror::Error)]
#[error("no answer within the zone timeout of {:.1} s", .0.as_secs_f64())]
struct DeadlineExceeded(Duration);
