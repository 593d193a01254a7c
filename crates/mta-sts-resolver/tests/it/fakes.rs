use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mta_sts_cache::MemoryCache;
use mta_sts_policy::Domain;
use mta_sts_resolver::{
    FetchFailure, ManualClock, PolicyFetch, Resolver, ResolverConfig, ResultType, TxtAnswer,
    TxtLookup,
};
use tokio::sync::Semaphore;

/// The tests' start time, in seconds since the epoch.
pub(crate) const T0: u64 = 1_700_000_000;

/// `secs` seconds after the epoch.
pub(crate) fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// A duration of `n` seconds.
pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A policy domain.
pub(crate) fn d(name: &str) -> Domain {
    name.parse().unwrap()
}

pub(crate) const ENFORCE: &str =
    "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";
pub(crate) const NONE: &str = "version: STSv1\nmode: none\nmax_age: 86400\n";

#[derive(Debug, thiserror::Error)]
#[error("SERVFAIL")]
pub(crate) struct ServFail;

#[derive(Clone)]
pub(crate) enum Txt {
    Answer(TxtAnswer),
    ServFail,
}

#[derive(Default)]
pub(crate) struct FakeDns {
    answers: Mutex<HashMap<String, Txt>>,
    queries: AtomicUsize,
}

impl FakeDns {
    pub(crate) fn set_id(&self, domain: &str, id: &str) {
        self.set(
            domain,
            Txt::Answer(TxtAnswer::Records(vec![vec![
                format!("v=STSv1; id={id}").into_bytes(),
            ]])),
        );
    }

    pub(crate) fn set(&self, domain: &str, answer: Txt) {
        self.answers
            .lock()
            .unwrap()
            .insert(format!("_mta-sts.{domain}"), answer);
    }

    pub(crate) fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl TxtLookup for FakeDns {
    type Error = ServFail;

    async fn lookup_txt(&self, name: &str) -> Result<TxtAnswer, ServFail> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        match self.answers.lock().unwrap().get(name).cloned() {
            None => Ok(TxtAnswer::NoSuchName),
            Some(Txt::Answer(answer)) => Ok(answer),
            Some(Txt::ServFail) => Err(ServFail),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpsError {
    #[error("status {0}")]
    Status(u16),
    #[error("certificate expired")]
    Certificate,
}

impl FetchFailure for HttpsError {
    fn result_type(&self) -> ResultType {
        match self {
            Self::Status(_) => ResultType::StsPolicyFetchError,
            Self::Certificate => ResultType::StsWebpkiInvalid,
        }
    }
}

#[derive(Clone)]
pub(crate) enum Body {
    Policy(String),
    Status(u16),
    BadCertificate,
}

#[derive(Default)]
pub(crate) struct FakeHttps {
    bodies: Mutex<HashMap<String, Body>>,
    fetches: Mutex<HashMap<String, usize>>,
    gates: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl FakeHttps {
    pub(crate) fn serve(&self, domain: &str, body: Body) {
        self.bodies.lock().unwrap().insert(domain.to_owned(), body);
    }

    /// Fetches for `domain` wait until the returned semaphore gets a permit.
    pub(crate) fn close_gate(&self, domain: &str) -> Arc<Semaphore> {
        let gate = Arc::new(Semaphore::new(0));
        self.gates
            .lock()
            .unwrap()
            .insert(domain.to_owned(), gate.clone());
        gate
    }

    pub(crate) fn fetches(&self, domain: &str) -> usize {
        self.fetches
            .lock()
            .unwrap()
            .get(domain)
            .copied()
            .unwrap_or(0)
    }
}

impl PolicyFetch for FakeHttps {
    type Error = HttpsError;

    async fn fetch_policy(&self, domain: &Domain) -> Result<Vec<u8>, HttpsError> {
        let domain = domain.as_str();
        *self
            .fetches
            .lock()
            .unwrap()
            .entry(domain.to_owned())
            .or_default() += 1;
        let gate = self.gates.lock().unwrap().get(domain).cloned();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.unwrap();
        }
        match self.bodies.lock().unwrap().get(domain).cloned() {
            Some(Body::Policy(text)) => Ok(text.into_bytes()),
            Some(Body::Status(code)) => Err(HttpsError::Status(code)),
            Some(Body::BadCertificate) => Err(HttpsError::Certificate),
            None => Err(HttpsError::Status(404)),
        }
    }
}

pub(crate) type TestResolver =
    Resolver<Arc<FakeDns>, Arc<FakeHttps>, Arc<MemoryCache>, Arc<ManualClock>>;

pub(crate) struct World {
    pub(crate) dns: Arc<FakeDns>,
    pub(crate) https: Arc<FakeHttps>,
    pub(crate) cache: Arc<MemoryCache>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) resolver: TestResolver,
}

impl World {
    pub(crate) fn new() -> Self {
        Self::with_config(ResolverConfig::default())
    }

    pub(crate) fn with_config(config: ResolverConfig) -> Self {
        let dns = Arc::new(FakeDns::default());
        let https = Arc::new(FakeHttps::default());
        let cache = Arc::new(MemoryCache::new(1000));
        let clock = Arc::new(ManualClock::new(at(T0)));
        let resolver = Resolver::new(
            dns.clone(),
            https.clone(),
            cache.clone(),
            clock.clone(),
            config,
        );
        Self {
            dns,
            https,
            cache,
            clock,
            resolver,
        }
    }

    /// A domain publishing `id` and `policy`.
    pub(crate) fn publish(&self, domain: &str, id: &str, policy: &str) {
        self.dns.set_id(domain, id);
        self.https.serve(domain, Body::Policy(policy.to_owned()));
    }
}
