//! What the daemon counts, in Prometheus terms (`metrics.listen`; served by [`crate::Endpoint`]).
//!
//! The warm lookup path is tens of thousands of lookups a second, so it takes no lock, hashes no
//! label and allocates nothing: every label set is resolved once, when a [`Metrics`] or a
//! [`ZoneMetrics`] table is built, and the path holds the counters themselves (relaxed atomics).
//! prometheus-client's own histogram takes a lock per observation, so the latency histogram here
//! is a fixed array of atomic buckets encoded through the same client. What the cache counts
//! (tier hits and misses, backend errors, queued writes) is read from the cache at scrape time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mta_sts_cache::{BoxFuture, CacheAdmin, CacheError, MemoryCache};
use mta_sts_policy::{Domain, Policy};
use mta_sts_resolver::{FetchFailure, Outcome, PolicyFetch, Refresh, ResultType};
use mta_sts_store::TieredCache;
use postfix_socketmap::Reply;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use smtp_dane::Verdict;

use crate::Config;

/// The `Content-Type` of what [`Metrics::encode`] writes (Prometheus text format 0.0.4).
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `zone` label of lookups answered under `default_zone` (socketmap names not in `zones`).
pub(crate) const DEFAULT_ZONE_LABEL: &str = "default_zone";

/// The `answer` label values of `mta_sts_lookups_total`, in [`ZoneMetrics`] array order.
const ANSWERS: [&str; 6] = ["secure", "dane", "dane-only", "notfound", "temp", "perm"];
const SECURE: usize = 0;
const DANE: usize = 1;
const DANE_ONLY: usize = 2;
const NOTFOUND: usize = 3;
const TEMP: usize = 4;
const PERM: usize = 5;
/// The `outcome` label values of `mta_sts_policy_fetches_total`, indexed as below.
const FETCH_OUTCOMES: [&str; 4] = [
    "ok",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];
const FETCH_OK: usize = 0;
const FETCH_ERROR: usize = 1;
const POLICY_INVALID: usize = 2;
const WEBPKI_INVALID: usize = 3;
/// The `verdict` label values of `mta_sts_dane_decisions_total`.
const DANE_VERDICTS: [&str; 4] = ["dane-only", "dane", "no-dane", "temp"];
/// The `kind` label values of `mta_sts_refreshes_total`.
const REFRESH_KINDS: [&str; 2] = ["proactive", "refresh-ahead"];
/// Upper bounds of the latency buckets, in seconds: 100 µs (a warm lookup is a few µs; the
/// bucket catches scheduling delays) to the 90 s longest zone timeout.
const LATENCY_BOUNDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric the daemon exposes, registered once. Shared (`Arc`) by the daemon, its
/// connections and the endpoint.
pub struct Metrics {
    registry: Registry,
    lookups: Family<[(&'static str, String); 2], Counter>,
    latency: Latency,
    fetches: [Counter; 4],
    dane: [Counter; 4],
    /// `[kind][ok]`: `[proactive, refresh-ahead][failed, ok]`.
    refreshes: [[Counter; 2]; 2],
    connections_open: Gauge,
    connections_accepted: Counter,
    reloads: [Counter; 2],
    cache: Arc<dyn CacheView>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The lookup counters of one configuration's zones, by socketmap name: built by
/// [`Metrics::zones`] and swapped together with the configuration (a zone added on reload gets
/// its counters then; a zone kept keeps counting where it was).
#[derive(Debug)]
pub struct ZoneMetrics {
    default: Answers,
    zones: BTreeMap<String, Answers>,
}

/// One zone's lookup counters, indexed like [`ANSWERS`].
#[derive(Debug)]
pub(crate) struct Answers([Counter; 6]);

impl ZoneMetrics {
    /// The counters of the zone that socketmap name `name` is answered under (SOCK-10).
    pub(crate) fn get(&self, name: &str) -> &Answers {
        self.zones.get(name).unwrap_or(&self.default)
    }
}

impl Answers {
    fn note(&self, reply: &Reply) {
        let index = match reply {
            // An empty OK goes on the wire as NOTFOUND (SOCK-3).
            Reply::Ok(data) if data.is_empty() => NOTFOUND,
            Reply::Ok(data) if data.starts_with("dane-only") => DANE_ONLY,
            Reply::Ok(data) if data.starts_with("dane") => DANE,
            Reply::Ok(_) => SECURE,
            Reply::NotFound => NOTFOUND,
            Reply::Temp(_) | Reply::Timeout(_) => TEMP,
            Reply::Perm(_) => PERM,
        };
        self.0[index].inc();
    }
}

/// How a DANE-enabled zone's lookup was decided (`mta_sts_dane_decisions_total{verdict}`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum DaneDecision {
    /// `dane-only`.
    DaneOnly,
    /// `dane`.
    Dane,
    /// DANE does not apply; MTA-STS answered.
    NoDane,
    /// The DANE state could not be established: `TEMP`.
    Temp,
}

impl From<Verdict> for DaneDecision {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::DaneOnly => Self::DaneOnly,
            Verdict::Dane => Self::Dane,
            _ => Self::NoDane,
        }
    }
}

/// Which background refresh ran (`mta_sts_refreshes_total{kind}`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RefreshKind {
    /// A pass of `proactive_policy_fetching`.
    Proactive = 0,
    /// A policy past half its lifetime, re-fetched after a lookup (CACHE-4).
    Ahead = 1,
}

impl Metrics {
    /// The metrics of a daemon whose cache is `cache`.
    pub(crate) fn new(cache: Arc<dyn CacheView>) -> Self {
        let mut registry = Registry::default();
        let lookups = Family::default();
        registry.register(
            "mta_sts_lookups",
            "Socketmap lookups answered, by zone and answer (secure, dane, dane-only, notfound, temp, perm)",
            lookups.clone(),
        );
        let latency = Latency::default();
        registry.register(
            "mta_sts_lookup_duration_seconds",
            "Time from a socketmap request to its answer",
            latency.clone(),
        );
        let fetches = labelled(
            &mut registry,
            "mta_sts_policy_fetches",
            "HTTPS policy fetches, by outcome: ok, or the TLSRPT result type of the failure",
            "outcome",
            FETCH_OUTCOMES,
        );
        let dane = labelled(
            &mut registry,
            "mta_sts_dane_decisions",
            "Lookups in zones with DANE, by what DANE decided (dane-only, dane, no-dane: MTA-STS answered, temp: DANE state unknown)",
            "verdict",
            DANE_VERDICTS,
        );
        let refreshes_family = Family::<[(&'static str, &'static str); 2], Counter>::default();
        registry.register(
            "mta_sts_refreshes",
            "Background policy refreshes, by kind (proactive, refresh-ahead) and outcome (ok, failed)",
            refreshes_family.clone(),
        );
        let refreshes = REFRESH_KINDS.map(|kind| {
            ["failed", "ok"].map(|outcome| {
                refreshes_family
                    .get_or_create(&[("kind", kind), ("outcome", outcome)])
                    .clone()
            })
        });
        let connections_open = Gauge::default();
        registry.register(
            "mta_sts_connections_open",
            "Socketmap connections open now",
            connections_open.clone(),
        );
        let connections_accepted = Counter::default();
        registry.register(
            "mta_sts_connections_accepted",
            "Socketmap connections accepted",
            connections_accepted.clone(),
        );
        let reloads = labelled(
            &mut registry,
            "mta_sts_config_reloads",
            "Configuration reloads, by result (ok, failed: the running configuration was kept)",
            "result",
            ["failed", "ok"],
        );
        registry.register(
            "mta_sts_build",
            "The running daemon's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register_collector(Box::new(CacheCollector(Arc::clone(&cache))));
        Self {
            registry,
            lookups,
            latency,
            fetches,
            dane,
            refreshes,
            connections_open,
            connections_accepted,
            reloads,
            cache,
        }
    }

    /// The lookup counters for `config`'s zones. Counters of zones seen before are the same ones,
    /// so a table built for a reloaded configuration continues every count.
    pub fn zones(&self, config: &Config) -> Arc<ZoneMetrics> {
        let answers = |zone: &str| {
            Answers(ANSWERS.map(|answer| {
                self.lookups
                    .get_or_create(&[("zone", zone.to_owned()), ("answer", answer.to_owned())])
                    .clone()
            }))
        };
        Arc::new(ZoneMetrics {
            default: answers(DEFAULT_ZONE_LABEL),
            zones: config
                .zones
                .keys()
                .map(|name| (name.clone(), answers(name)))
                .collect(),
        })
    }

    /// Well-formed lookups answered since the start (the latency histogram's count).
    pub fn lookups(&self) -> u64 {
        self.latency
            .0
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts a configuration reload: `ok` when the new configuration applies, `false` when it
    /// was refused and the running one kept (`mta_sts_config_reloads_total{result}`).
    pub fn note_reload(&self, ok: bool) {
        self.reloads[usize::from(ok)].inc();
    }

    /// Counts one answered lookup of zone `answers`, which took `took`.
    pub(crate) fn note_lookup(&self, answers: &Answers, reply: &Reply, took: Duration) {
        answers.note(reply);
        self.latency.observe(took);
    }

    /// Counts a request refused as malformed (`PERM`): under `default_zone`, since it names no
    /// usable map, and outside the latency histogram, since no lookup ran.
    pub(crate) fn note_refused(&self, zones: &ZoneMetrics, reply: &Reply) {
        zones.default.note(reply);
    }

    pub(crate) fn note_dane(&self, decision: DaneDecision) {
        self.dane[decision as usize].inc();
    }

    pub(crate) fn note_refresh(&self, kind: RefreshKind, ok: bool) {
        self.refreshes[kind as usize][usize::from(ok)].inc();
    }

    /// A refresh-ahead that counts its outcome when it has run.
    pub(crate) fn counted_refresh(
        self: &Arc<Self>,
        refresh: Refresh,
    ) -> impl Future<Output = ()> + Send + 'static {
        let metrics = Arc::clone(self);
        async move {
            let outcome = refresh.run().await;
            metrics.note_refresh(RefreshKind::Ahead, matches!(outcome, Outcome::Fetched(_)));
        }
    }

    /// Counts an accepted connection as open until the guard is dropped.
    pub(crate) fn connection(self: &Arc<Self>) -> OpenConnection {
        self.connections_accepted.inc();
        self.connections_open.inc();
        OpenConnection(Arc::clone(self))
    }

    /// Every metric, in the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8192);
        // Writing to a String cannot fail; an encoder error would only cut the text short.
        if let Err(e) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics: encoding failed");
        }
        text
    }

    /// Whether the cache backend answers a read within `deadline`, bypassing the in-process
    /// tier: `Err` with the reason when it does not.
    pub(crate) async fn probe_cache(&self, deadline: Duration) -> Result<(), String> {
        match tokio::time::timeout(deadline, self.cache.probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cache backend failing: {e}")),
            Err(_) => Err(format!(
                "cache backend did not answer within {:.1} s",
                deadline.as_secs_f64()
            )),
        }
    }

    /// A policy fetcher that counts each fetch's outcome.
    pub(crate) fn counted_fetch<F>(&self, inner: F) -> CountedFetch<F> {
        CountedFetch {
            inner,
            outcomes: self.fetches.clone(),
        }
    }
}

/// A counter family with one label, registered as `name`, and its counters for `values`, in order.
fn labelled<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
    registry.register(name, help, family.clone());
    values.map(|value| family.get_or_create(&[(label, value)]).clone())
}

/// An open connection, counted in `mta_sts_connections_open` until dropped.
pub(crate) struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}

/// A [`PolicyFetch`] that counts every fetch by outcome: `ok` when the body is a valid policy,
/// else the TLSRPT result type the resolver will report. Only real fetches pass here, so the
/// extra parse of a fetched body costs nothing on the warm path.
pub(crate) struct CountedFetch<F> {
    inner: F,
    outcomes: [Counter; 4],
}

impl<F: PolicyFetch> PolicyFetch for CountedFetch<F> {
    type Error = F::Error;

    fn fetch_policy(
        &self,
        domain: &Domain,
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        let fetched = self.inner.fetch_policy(domain);
        async move {
            let result = fetched.await;
            let index = match &result {
                Ok(body) if Policy::parse(body).is_ok() => FETCH_OK,
                Ok(_) => POLICY_INVALID,
                Err(e) => match e.result_type() {
                    ResultType::StsWebpkiInvalid => WEBPKI_INVALID,
                    ResultType::StsPolicyInvalid => POLICY_INVALID,
                    _ => FETCH_ERROR,
                },
            };
            self.outcomes[index].inc();
            result
        }
    }
}

/// The latency histogram: one relaxed atomic per bucket plus the sum, observed without a lock.
#[derive(Debug, Clone, Default)]
struct Latency(Arc<LatencyCounts>);

#[derive(Debug, Default)]
struct LatencyCounts {
    /// Per bucket (not cumulative), the last one for everything above the largest bound.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BOUNDS.partition_point(|bound| *bound < seconds);
        self.0.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl prometheus_client::metrics::TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets = [(f64::INFINITY, 0u64); LATENCY_BOUNDS.len() + 1];
        for (i, slot) in buckets.iter_mut().enumerate() {
            *slot = (
                LATENCY_BOUNDS.get(i).copied().unwrap_or(f64::INFINITY),
                self.0.buckets[i].load(Ordering::Relaxed),
            );
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = Duration::from_nanos(self.0.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// What the metrics read from the cache at scrape time, and the backend health check.
pub(crate) trait CacheView: Send + Sync + 'static {
    /// The counts so far.
    fn stats(&self) -> CacheStats;
    /// One read from the backend itself, past the in-process tier (nothing to do for `internal`).
    fn probe(&self) -> BoxFuture<'_, Result<(), CacheError>>;
}

/// A snapshot of a cache's counts.
#[derive(Debug, Default)]
pub(crate) struct CacheStats {
    memory_hits: u64,
    memory_misses: u64,
    /// `(hits, misses)` of a persistent backend.
    backend: Option<(u64, u64)>,
    backend_errors: u64,
    queued_writes: usize,
    entries: usize,
}

impl CacheView for MemoryCache {
    fn stats(&self) -> CacheStats {
        CacheStats {
            memory_hits: self.hits(),
            memory_misses: self.misses(),
            entries: self.len(),
            ..CacheStats::default()
        }
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

impl<B: CacheAdmin + 'static> CacheView for TieredCache<B> {
    fn stats(&self) -> CacheStats {
        let s = self.stats();
        CacheStats {
            memory_hits: s.tier_hits,
            memory_misses: s.tier_misses,
            backend: Some((s.backend_hits, s.backend_misses)),
            backend_errors: s.backend_errors,
            queued_writes: self.pending_writes(),
            entries: self.tier_len(),
        }
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(async move {
            // A name no policy can be cached under (RFC 2606 `.invalid`): a plain read.
            let probe = Domain::new("healthz.mta-sts-daemon.invalid").map_err(|e| {
                CacheError::Unavailable(Box::new(std::io::Error::other(e.to_string())))
            })?;
            self.backend().get(&probe).await.map(|_| ())
        })
    }
}

/// Reads the cache's counts on each scrape.
struct CacheCollector(Arc<dyn CacheView>);

impl std::fmt::Debug for CacheCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheCollector")
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let mut tiers = vec![("memory", stats.memory_hits, stats.memory_misses)];
        if let Some((hits, misses)) = stats.backend {
            tiers.push(("backend", hits, misses));
        }
        for (name, help, pick) in [
            (
                "mta_sts_cache_hits",
                "Cache reads that found an entry, by tier (memory: the in-process tier or the internal cache; backend: the persistent store)",
                (|h: u64, _m: u64| h) as fn(u64, u64) -> u64,
            ),
            (
                "mta_sts_cache_misses",
                "Cache reads that found nothing usable, by tier (a memory miss goes on to the backend)",
                |_h: u64, m: u64| m,
            ),
        ] {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            for (tier, hits, misses) in &tiers {
                let labels = [("tier", *tier)];
                ConstCounter::new(pick(*hits, *misses)).encode(family.encode_family(&labels)?)?;
            }
        }
        let errors = ConstCounter::new(stats.backend_errors);
        errors.encode(encoder.encode_descriptor(
            "mta_sts_cache_backend_errors",
            "Failed operations of the persistent cache backend (reads, writes, replays)",
            None,
            errors.metric_type(),
        )?)?;
        for (name, help, value) in [
            (
                "mta_sts_cache_queued_writes",
                "Writes acknowledged while the cache backend was failing, not yet stored in it",
                stats.queued_writes,
            ),
            (
                "mta_sts_cached_policies",
                "Policies held in process (the internal cache, or the tier in front of a persistent backend)",
                stats.entries,
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The cache the configuration names, and the view of it the metrics read.
pub(crate) fn observed<C: CacheAdmin + CacheView>(
    cache: C,
) -> (crate::SharedCache, Arc<dyn CacheView>) {
    let cache = Arc::new(cache);
    (Arc::clone(&cache) as crate::SharedCache, cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets are `le` (inclusive), cumulative in the text, with everything above 10 s in `+Inf`.
    #[test]
    fn latency_buckets_are_inclusive_and_cumulative() {
        let metrics = Metrics::new(Arc::new(MemoryCache::new(10)));
        for took in [
            Duration::from_micros(50),
            Duration::from_millis(1),
            Duration::from_micros(1001),
            Duration::from_secs(20),
        ] {
            metrics.latency.observe(took);
        }
        let text = metrics.encode();
        for line in [
            "mta_sts_lookup_duration_seconds_bucket{le=\"0.0001\"} 1\n",
            "mta_sts_lookup_duration_seconds_bucket{le=\"0.0005\"} 1\n",
            "mta_sts_lookup_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "mta_sts_lookup_duration_seconds_bucket{le=\"0.0025\"} 3\n",
            "mta_sts_lookup_duration_seconds_bucket{le=\"10\"} 3\n",
            "mta_sts_lookup_duration_seconds_bucket{le=\"+Inf\"} 4\n",
            "mta_sts_lookup_duration_seconds_count 4\n",
            "mta_sts_lookup_duration_seconds_sum 20.002051\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn every_reply_has_its_answer_label() {
        let metrics = Metrics::new(Arc::new(MemoryCache::new(10)));
        let zones = metrics.zones(&Config::default());
        let answers = zones.get("any-map-name");
        for reply in [
            Reply::Ok("secure match=mx.example".into()),
            Reply::Ok("dane".into()),
            Reply::Ok("dane-only".into()),
            Reply::Ok(String::new()),
            Reply::NotFound,
            Reply::Temp("t".into()),
            Reply::Timeout("t".into()),
            Reply::Perm("p".into()),
        ] {
            answers.note(&reply);
        }
        let counts: Vec<u64> = answers.0.iter().map(Counter::get).collect();
        // secure, dane, dane-only, notfound (NOTFOUND and the empty OK), temp (TEMP, TIMEOUT), perm
        assert_eq!(counts, [1, 1, 1, 2, 2, 1]);
    }
}
