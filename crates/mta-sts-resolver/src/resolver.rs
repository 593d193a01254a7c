use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use mta_sts_cache::{CachedPolicy, PolicyCache};
use mta_sts_policy::{Domain, Policy};
use mta_sts_txt::{PolicyId, select_sts, sts_record_name};

use crate::memo::Memo;
use crate::{
    CacheReason, Clock, Failure, FetchFailure, NoPolicy, NoRecord, Outcome, PolicyFetch,
    ResultType, Stage, TxtAnswer, TxtLookup, later,
};

/// Tunables of discovery, with the defaults of postfix-mta-sts-resolver where it has one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolverConfig {
    /// How long after a successful check a cached policy is used without any DNS query
    /// (`cache_grace`, default 60 s).
    pub grace: Duration,
    /// How long a failed fetch for the same (domain, id) is not retried (FETCH-9, default 300 s).
    pub failure_backoff: Duration,
    /// How long "no `_mta-sts` record" is remembered (default 300 s), so a domain without MTA-STS
    /// costs one TXT query per interval rather than one per message.
    pub negative_ttl: Duration,
    /// How long a domain whose discovery just failed is answered with that failure (or its
    /// cached policy) without any new DNS query (default 30 s): a domain with a broken policy
    /// host, or a DNS server that answers with an error, then costs one query per interval instead
    /// of one per message. (A discovery abandoned at the caller's deadline records nothing.)
    pub failure_recheck: Duration,
    /// The most domains each kind of bookkeeping remembers (default 100000); bounds memory under a
    /// flood of distinct domains.
    pub memory_limit: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(60),
            failure_backoff: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(300),
            failure_recheck: Duration::from_secs(30),
            memory_limit: 100_000,
        }
    }
}

impl ResolverConfig {
    /// Sets [`grace`](Self::grace).
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`failure_backoff`](Self::failure_backoff).
    #[must_use]
    pub fn with_failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// Sets [`negative_ttl`](Self::negative_ttl).
    #[must_use]
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// Sets [`failure_recheck`](Self::failure_recheck).
    #[must_use]
    pub fn with_failure_recheck(mut self, recheck: Duration) -> Self {
        self.failure_recheck = recheck;
        self
    }

    /// Sets [`memory_limit`](Self::memory_limit).
    #[must_use]
    pub fn with_memory_limit(mut self, entries: usize) -> Self {
        self.memory_limit = entries;
        self
    }
}

type InFlight = Shared<BoxFuture<'static, Outcome>>;

/// A shared discovery and how many lookups are waiting on it.
struct Flight {
    generation: u64,
    shared: InFlight,
    waiters: usize,
}

struct Inner<T, F, C, K> {
    txt: T,
    fetch: F,
    cache: C,
    clock: K,
    config: ResolverConfig,
    memo: Mutex<Memo>,
    in_flight: Mutex<HashMap<Domain, Flight>>,
    generation: AtomicU64,
}

/// The RFC 8461 discovery and cache rules (§3, §5.1, §10.2) over a DNS lookup, an HTTPS fetch, a
/// cache and a clock that the caller provides.
///
/// Cheap to clone: clones share state. Concurrent lookups of one domain share one discovery
/// (single-flight); lookups of different domains never wait for each other. The resolver imposes
/// no deadline of its own: give the [`TxtLookup`] and [`PolicyFetch`] implementations theirs, or
/// wrap [`lookup`](Self::lookup) in a timeout.
pub struct Resolver<T, F, C, K> {
    inner: Arc<Inner<T, F, C, K>>,
}

impl<T, F, C, K> Clone for Resolver<T, F, C, K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, F, C, K> std::fmt::Debug for Resolver<T, F, C, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The answer to [`Resolver::lookup`], and possibly a background refresh to run.
#[derive(Debug)]
#[must_use = "a lookup's outcome says which policy applies"]
pub struct Lookup {
    outcome: Outcome,
    refresh: Option<Refresh>,
}

impl Lookup {
    /// What to apply.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Takes the background refresh, if the policy passed half its lifetime (CACHE-4). Spawn it on
    /// your runtime; dropping it skips the refresh.
    pub fn take_refresh(&mut self) -> Option<Refresh> {
        self.refresh.take()
    }

    /// The outcome and the refresh.
    pub fn into_parts(self) -> (Outcome, Option<Refresh>) {
        (self.outcome, self.refresh)
    }
}

/// What a resolver remembers about a domain besides its cache entry: its short-lived bookkeeping,
/// for an operator's view of one domain ([`Resolver::remembered`]). Every time is a deadline on
/// the resolver's clock; lapsed entries are left out.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Remembered {
    /// When a check (TXT id unchanged, or a fetch) last confirmed the cached policy, if that was
    /// less than `grace` ago: until `last_checked + grace` no DNS query is made.
    pub last_checked: Option<SystemTime>,
    /// Until when "no `_mta-sts` record" is answered without a DNS query (`negative_ttl`).
    pub no_policy_until: Option<SystemTime>,
    /// The last discovery failure, answered without a DNS query until the time given
    /// (`failure_recheck`).
    pub failed: Option<(Failure, SystemTime)>,
    /// Policy fetches in their FETCH-9 backoff: the TXT id, why the fetch failed, and until when
    /// no fetch is made for that id.
    pub fetch_backoff: Vec<(PolicyId, Failure, SystemTime)>,
    /// Whether a background refresh of the policy is running.
    pub refreshing: bool,
}

/// A pending HTTPS re-fetch of a cached policy that has lived more than half its `max_age`, so that
/// busy domains never lapse (refresh-ahead, RFC 8461 §10.2, CACHE-4).
#[must_use = "dropping a refresh skips it: spawn `run()` on your runtime"]
pub struct Refresh {
    domain: Domain,
    future: BoxFuture<'static, Outcome>,
}

impl Refresh {
    /// The domain being refreshed.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Runs the refresh; its outcome says whether the policy's lifetime was extended.
    pub fn run(self) -> impl Future<Output = Outcome> + Send + 'static {
        self.future
    }
}

impl std::fmt::Debug for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresh")
            .field("domain", &self.domain)
            .finish()
    }
}

/// One lookup waiting on a shared discovery; the last one to leave removes an unfinished flight.
struct Waiting<'a, T, F, C, K> {
    inner: &'a Inner<T, F, C, K>,
    domain: &'a Domain,
    generation: u64,
}

impl<T, F, C, K> Drop for Waiting<'_, T, F, C, K> {
    fn drop(&mut self) {
        let mut in_flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ours = in_flight
            .get_mut(self.domain)
            .filter(|f| f.generation == self.generation);
        if let Some(flight) = ours {
            flight.waiters -= 1;
            if flight.waiters == 0 {
                in_flight.remove(self.domain);
            }
        }
    }
}

/// Clears the "refreshing" mark even if the refresh future is dropped half-way.
struct RefreshGuard<T: TxtLookup, F: PolicyFetch, C: PolicyCache + 'static, K: Clock> {
    inner: Arc<Inner<T, F, C, K>>,
    domain: Domain,
}

impl<T: TxtLookup, F: PolicyFetch, C: PolicyCache + 'static, K: Clock> Drop
    for RefreshGuard<T, F, C, K>
{
    fn drop(&mut self) {
        self.inner.memo().refreshing.remove(&self.domain);
    }
}

impl<T, F, C, K> Resolver<T, F, C, K>
where
    T: TxtLookup,
    F: PolicyFetch,
    C: PolicyCache + 'static,
    K: Clock,
{
    /// A resolver over these parts.
    #[must_use]
    pub fn new(txt: T, fetch: F, cache: C, clock: K, config: ResolverConfig) -> Self {
        let memo = Memo::new(config.memory_limit);
        Self {
            inner: Arc::new(Inner {
                txt,
                fetch,
                cache,
                clock,
                config,
                memo: Mutex::new(memo),
                in_flight: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The cache this resolver reads and writes.
    pub fn cache(&self) -> &C {
        &self.inner.cache
    }

    /// Discovers the policy of `domain`.
    pub async fn lookup(&self, domain: &Domain) -> Lookup {
        let inner = &self.inner;
        let now = inner.clock.now();
        let cached = inner.valid_cached(domain, now).await;
        let outcome = match cached {
            // A policy fetched less than `grace` ago needs no check either: this covers entries
            // written by an earlier run, or by another daemon sharing the store, as
            // postfix-mta-sts-resolver does with its stored timestamp.
            Some(policy)
                if policy.fetched_at() <= now
                    && now < later(policy.fetched_at(), inner.config.grace)
                    || inner.memo().checked.get(domain, now).is_some() =>
            {
                Outcome::Cached {
                    policy,
                    reason: CacheReason::Grace,
                }
            }
            _ => self.discover_shared(domain).await,
        };
        let refresh = self.refresh_for(domain, &outcome);
        Lookup { outcome, refresh }
    }

    /// The cached policy of `domain` if it may still be applied now, without any DNS or HTTPS: what
    /// a caller whose deadline cut a [`lookup`](Self::lookup) short applies (CACHE-3), rather than
    /// nothing. A failing cache counts as no policy.
    pub async fn cached_policy(&self, domain: &Domain) -> Option<Arc<CachedPolicy>> {
        let now = self.inner.clock.now();
        self.inner.valid_cached(domain, now).await
    }

    /// Fetches the policy of `domain` over HTTPS now, even if its TXT id is unchanged, and caches it:
    /// the lifetime of a policy extends only on a successful fetch. For proactive refresh.
    pub async fn refresh(&self, domain: &Domain) -> Outcome {
        self.inner.discover(domain, true).await
    }

    /// Forgets what this resolver remembers about `domain` outside the cache: its last check, "no
    /// record", a remembered failure, FETCH-9 backoffs of its fetches and the refresh-ahead pause,
    /// so that its next [`lookup`](Self::lookup) reads DNS again (after an operator removed its
    /// cache entry, say). A discovery or refresh already running is not stopped and may still
    /// store what it finds.
    pub fn forget(&self, domain: &Domain) {
        self.inner.memo().forget(domain);
    }

    /// [`forget`](Self::forget) for every domain at once.
    pub fn forget_all(&self) {
        self.inner.memo().forget_all();
    }

    /// What this resolver remembers about `domain` outside the cache, at the clock's `now`.
    pub fn remembered(&self, domain: &Domain) -> Remembered {
        let inner = &self.inner;
        let now = inner.clock.now();
        let grace = inner.config.grace;
        let memo = inner.memo();
        let mut fetch_backoff = Vec::new();
        memo.failures.for_each_live(now, |(d, id), until, failure| {
            if d == domain {
                fetch_backoff.push((id.clone(), failure.clone(), until));
            }
        });
        Remembered {
            last_checked: memo
                .checked
                .get_with_deadline(domain, now)
                .map(|(until, ())| until.checked_sub(grace).unwrap_or(until)),
            no_policy_until: memo
                .no_policy
                .get_with_deadline(domain, now)
                .map(|(until, ())| until),
            failed: memo
                .failed
                .get_with_deadline(domain, now)
                .map(|(until, failure)| (failure.clone(), until)),
            fetch_backoff,
            refreshing: memo.refreshing.contains(domain),
        }
    }

    async fn discover_shared(&self, domain: &Domain) -> Outcome {
        let (generation, shared) = {
            let mut in_flight = self.inner.flights();
            let flight = in_flight.entry(domain.clone()).or_insert_with(|| {
                let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
                let inner = Arc::clone(&self.inner);
                let key = domain.clone();
                let shared = async move {
                    let outcome = inner.discover(&key, false).await;
                    let mut in_flight = inner.flights();
                    if in_flight
                        .get(&key)
                        .is_some_and(|f| f.generation == generation)
                    {
                        in_flight.remove(&key);
                    }
                    outcome
                }
                .boxed()
                .shared();
                Flight {
                    generation,
                    shared,
                    waiters: 0,
                }
            });
            flight.waiters += 1;
            (flight.generation, flight.shared.clone())
        };
        // If every waiter goes away (a caller's timeout), the discovery is abandoned with them:
        // a later lookup starts afresh instead of resuming one that captured an old `now`.
        let _waiting = Waiting {
            inner: &*self.inner,
            domain,
            generation,
        };
        shared.await
    }

    fn refresh_for(&self, domain: &Domain, outcome: &Outcome) -> Option<Refresh> {
        let Outcome::Cached { policy, .. } = outcome else {
            return None;
        };
        let now = self.inner.clock.now();
        let until = later(now, self.inner.config.failure_backoff);
        if !policy.wants_refresh_at(now) || !self.inner.memo().start_refresh(domain, now, until) {
            return None;
        }
        let guard = RefreshGuard {
            inner: Arc::clone(&self.inner),
            domain: domain.clone(),
        };
        let future = async move {
            let outcome = guard.inner.discover(&guard.domain, true).await;
            drop(guard);
            outcome
        }
        .boxed();
        Some(Refresh {
            domain: domain.clone(),
            future,
        })
    }
}

impl<T, F, C, K> Inner<T, F, C, K>
where
    T: TxtLookup,
    F: PolicyFetch,
    C: PolicyCache + 'static,
    K: Clock,
{
    fn flights(&self) -> MutexGuard<'_, HashMap<Domain, Flight>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn memo(&self) -> MutexGuard<'_, Memo> {
        // Every update is a single call on plain maps; a panic elsewhere cannot leave them torn.
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached policy for `domain` if it is still valid. A failing cache counts as a miss.
    async fn valid_cached(&self, domain: &Domain, now: SystemTime) -> Option<Arc<CachedPolicy>> {
        match self.cache.get(domain).await {
            Ok(entry) => entry.filter(|e| e.is_valid_at(now)),
            Err(_) => None,
        }
    }

    fn mark_checked(&self, domain: &Domain, now: SystemTime) {
        let deadline = later(now, self.config.grace);
        self.memo()
            .checked
            .insert(domain.clone(), deadline, (), now);
    }

    /// One discovery, never returning a cached policy that expired while it ran (CACHE-1).
    async fn discover(&self, domain: &Domain, force: bool) -> Outcome {
        let outcome = self.discover_unchecked(domain, force).await;
        match outcome {
            Outcome::Cached { policy, reason } if !policy.is_valid_at(self.clock.now()) => {
                match reason {
                    CacheReason::DiscoveryFailed(failure) => Outcome::Failure(failure),
                    CacheReason::RecordUnavailable(no_policy) => Outcome::NoPolicy(no_policy),
                    // Grace and IdUnchanged: the policy lapsed just now; nothing else was learned.
                    _ => Outcome::NoPolicy(NoPolicy::Expired),
                }
            }
            outcome => outcome,
        }
    }

    /// One discovery (RFC 8461 §3, §5.1). `force` fetches even when the TXT id is unchanged, and
    /// even when the TXT record is missing or failing, under the cached id (§10.2: "regardless of
    /// the state of the TXT record").
    async fn discover_unchecked(&self, domain: &Domain, force: bool) -> Outcome {
        let now = self.clock.now();
        let cached = self.valid_cached(domain, now).await;
        if cached.is_none() && !force && self.memo().no_policy.get(domain, now).is_some() {
            return Outcome::NoPolicy(NoPolicy::Remembered);
        }
        if !force {
            let failed = self.memo().failed.get(domain, now).cloned();
            if let Some(failure) = failed {
                return fall_back(cached, failure);
            }
        }
        let answer = match self.txt.lookup_txt(&sts_record_name(domain.as_str())).await {
            Ok(answer) => answer,
            Err(e) => {
                if let Some(policy) = cached.as_ref().filter(|_| force) {
                    let id = policy.id().clone();
                    return self.fetch_and_store(domain, id, cached, true).await;
                }
                let failure = Failure::new(Stage::Dns, ResultType::StsPolicyFetchError, e);
                self.remember_failure(domain, &failure, force);
                return fall_back(cached, failure);
            }
        };
        let selected = match &answer {
            TxtAnswer::NoSuchName => Err(NoRecord::NoSuchName),
            TxtAnswer::NoRecords => Err(NoRecord::NoTxtRecords),
            TxtAnswer::Records(records) if records.is_empty() => Err(NoRecord::NoTxtRecords),
            TxtAnswer::Records(records) => select_sts(records).map_err(NoRecord::Unusable),
        };
        let record = match selected {
            Ok(record) => record,
            Err(reason) => {
                if let Some(policy) = cached.as_ref().filter(|_| force) {
                    let id = policy.id().clone();
                    return self.fetch_and_store(domain, id, cached, true).await;
                }
                let no_policy = NoPolicy::NoRecord(reason);
                // TXT-12: a missing record alone does not remove a cached policy.
                if let Some(policy) = cached {
                    self.mark_checked(domain, now);
                    let reason = CacheReason::RecordUnavailable(no_policy);
                    return Outcome::Cached { policy, reason };
                }
                let deadline = later(now, self.config.negative_ttl);
                self.memo()
                    .no_policy
                    .insert(domain.clone(), deadline, (), now);
                return Outcome::NoPolicy(no_policy);
            }
        };
        let id = record.id().clone();
        if let Some(policy) = cached.as_ref().filter(|c| !force && *c.id() == id) {
            self.mark_checked(domain, now);
            return Outcome::Cached {
                policy: Arc::clone(policy),
                reason: CacheReason::IdUnchanged,
            };
        }
        self.fetch_and_store(domain, id, cached, force).await
    }

    /// Fetches the policy over HTTPS under `id`, unless a fetch for (domain, id) failed recently
    /// (FETCH-9), and caches it.
    async fn fetch_and_store(
        &self,
        domain: &Domain,
        id: PolicyId,
        cached: Option<Arc<CachedPolicy>>,
        force: bool,
    ) -> Outcome {
        let key = (domain.clone(), id.clone());
        let backoff = self.memo().failures.get(&key, self.clock.now()).cloned();
        if let Some(failure) = backoff {
            // The TXT record was just read again and still names the failing id.
            self.remember_failure(domain, &failure, force);
            return fall_back(cached, failure);
        }
        let failure = match self.fetch.fetch_policy(domain).await {
            Err(e) => Failure::new(Stage::Https, e.result_type(), e),
            Ok(body) => match Policy::parse(&body) {
                Err(e) => Failure::invalid_policy(e),
                Ok(policy) => {
                    let fetched_at = self.clock.now();
                    let entry = Arc::new(CachedPolicy::new(policy, id, fetched_at));
                    // A failing cache must not hide a good policy from this lookup.
                    let _ = self.cache.put(domain, Arc::clone(&entry)).await;
                    {
                        let mut memo = self.memo();
                        memo.no_policy.remove(domain);
                        memo.failed.remove(domain);
                    }
                    self.mark_checked(domain, fetched_at);
                    return Outcome::Fetched(entry);
                }
            },
        };
        // FETCH-9: five minutes from the failure, not from the start of the attempt.
        let now = self.clock.now();
        let deadline = later(now, self.config.failure_backoff);
        self.memo()
            .failures
            .insert(key, deadline, failure.clone(), now);
        self.remember_failure(domain, &failure, force);
        fall_back(cached, failure)
    }

    /// Answers `domain` with `failure` for `failure_recheck` seconds without DNS. Called only where a
    /// failure was just observed (a DNS error, a fetch, or a TXT answer naming an id in FETCH-9
    /// backoff), never for one served from this memory, which would renew itself forever.
    fn remember_failure(&self, domain: &Domain, failure: &Failure, force: bool) {
        if force {
            return;
        }
        let now = self.clock.now();
        let deadline = later(now, self.config.failure_recheck);
        self.memo()
            .failed
            .insert(domain.clone(), deadline, failure.clone(), now);
    }
}

/// CACHE-3: an unexpired cached policy applies when live discovery fails.
fn fall_back(cached: Option<Arc<CachedPolicy>>, failure: Failure) -> Outcome {
    match cached {
        Some(policy) => Outcome::Cached {
            policy,
            reason: CacheReason::DiscoveryFailed(failure),
        },
        None => Outcome::Failure(failure),
    }
}
