use std::sync::Arc;
use std::time::Duration;

use mta_sts_cache::{MemoryCache, PolicyCache};
use mta_sts_fetch::{DnsClient, PolicyClient};
use mta_sts_policy::Mode;
use mta_sts_resolver::{
    CacheReason, ManualClock, NoPolicy, NoRecord, Outcome, Resolver, ResolverConfig, ResultType,
    Stage,
};
use mta_sts_testkit::{CertKind, DnsBehavior, Response};

use crate::kit::{ENFORCE, Kit, at, d};

const T0: u64 = 1_700_000_000;
const NONE: &str = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n";

type Real = Resolver<DnsClient, PolicyClient, Arc<MemoryCache>, Arc<ManualClock>>;

struct World {
    kit: Kit,
    clock: Arc<ManualClock>,
    cache: Arc<MemoryCache>,
    resolver: Real,
}

async fn world() -> World {
    let kit = Kit::start().await;
    let (dns, https) = kit.clients(Duration::from_secs(5));
    let clock = Arc::new(ManualClock::new(at(T0)));
    let cache = Arc::new(MemoryCache::new(100));
    let resolver = Resolver::new(
        dns,
        https,
        cache.clone(),
        clock.clone(),
        ResolverConfig::default(),
    );
    World {
        kit,
        clock,
        cache,
        resolver,
    }
}

impl World {
    fn publish(&self, domain: &str, id: &str, policy: &str) {
        self.kit
            .publish(domain, id, CertKind::Valid, Response::policy(policy));
    }

    async fn lookup(&self, domain: &str) -> Outcome {
        self.resolver.lookup(&d(domain)).await.into_parts().0
    }
}

#[tokio::test]
async fn fetch_9_no_retry_within_five_minutes() {
    let w = world().await;
    w.kit
        .publish("example.com", "a1", CertKind::Valid, Response::status(500));
    assert!(matches!(w.lookup("example.com").await, Outcome::Failure(_)));
    w.clock.advance(Duration::from_secs(120));
    assert!(matches!(w.lookup("example.com").await, Outcome::Failure(_)));
    assert_eq!(w.kit.requests("example.com"), 1);
    w.clock.advance(Duration::from_secs(181));
    let _ = w.lookup("example.com").await;
    assert_eq!(w.kit.requests("example.com"), 2);
}

#[tokio::test]
async fn fetch_10_valid_txt_failed_fetch_no_cache() {
    let w = world().await;
    w.kit.publish(
        "example.com",
        "a1",
        CertKind::Expired,
        Response::policy(ENFORCE),
    );
    let Outcome::Failure(f) = w.lookup("example.com").await else {
        panic!()
    };
    assert_eq!(
        (f.stage(), f.result_type()),
        (Stage::Https, ResultType::StsWebpkiInvalid)
    );
    w.kit.publish(
        "bad.example",
        "a1",
        CertKind::Valid,
        Response::policy("version: STSv1\r\nmode: enforce\r\nmax_age: 1\r\n"),
    );
    let Outcome::Failure(f) = w.lookup("bad.example").await else {
        panic!()
    };
    assert_eq!(f.result_type(), ResultType::StsPolicyInvalid);
}

#[tokio::test]
async fn fetch_11_unchanged_id_no_https() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    assert!(matches!(w.lookup("example.com").await, Outcome::Fetched(_)));
    for _ in 0..3 {
        w.clock.advance(Duration::from_secs(61));
        assert!(matches!(
            w.lookup("example.com").await,
            Outcome::Cached {
                reason: CacheReason::IdUnchanged,
                ..
            }
        ));
    }
    assert_eq!(w.kit.requests("example.com"), 1);
    assert_eq!(w.kit.dns.query_count("_mta-sts.example.com"), 4);
}

#[tokio::test]
async fn cache_1_2_6_lifetime_id_change_and_mode_none() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.lookup("example.com").await;
    // CACHE-2: a new id is fetched and replaces the entry; CACHE-6: even with mode none.
    w.publish("example.com", "b2", NONE);
    w.clock.advance(Duration::from_secs(61));
    let out = w.lookup("example.com").await;
    assert_eq!(out.policy().unwrap().policy().mode(), Mode::None);
    assert_eq!(
        w.cache
            .get(&d("example.com"))
            .await
            .unwrap()
            .unwrap()
            .id()
            .as_str(),
        "b2"
    );
    // CACHE-1: once expired and undiscoverable, nothing applies.
    w.kit
        .dns
        .set_behavior("_mta-sts.example.com", DnsBehavior::ServFail);
    w.clock.set(at(T0 + 61 + 86_401));
    assert!(
        matches!(w.lookup("example.com").await, Outcome::Failure(f) if f.stage() == Stage::Dns)
    );
}

#[tokio::test]
async fn cache_3_txt_12_cached_policy_survives_dns_and_https_failures() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.lookup("example.com").await;
    w.kit
        .dns
        .set_behavior("_mta-sts.example.com", DnsBehavior::ServFail);
    w.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        w.lookup("example.com").await,
        Outcome::Cached {
            reason: CacheReason::DiscoveryFailed(_),
            ..
        }
    ));
    w.kit
        .dns
        .set_behavior("_mta-sts.example.com", DnsBehavior::Answer);
    w.kit.dns.clear("_mta-sts.example.com");
    w.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        w.lookup("example.com").await,
        Outcome::Cached {
            reason: CacheReason::RecordUnavailable(NoPolicy::NoRecord(NoRecord::NoSuchName)),
            ..
        }
    ));
    w.kit
        .publish("example.com", "b2", CertKind::Valid, Response::status(404));
    w.clock.advance(Duration::from_secs(61));
    let out = w.lookup("example.com").await;
    assert_eq!(out.policy().unwrap().id().as_str(), "a1");
    assert!(out.should_alert());
}

#[tokio::test]
async fn cache_4_refresh_ahead_fetches_again() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.lookup("example.com").await;
    w.clock.set(at(T0 + 50_000));
    let mut lookup = w.resolver.lookup(&d("example.com")).await;
    let refresh = lookup.take_refresh().expect("refresh due");
    assert!(matches!(
        tokio::spawn(refresh.run()).await.unwrap(),
        Outcome::Fetched(_)
    ));
    assert_eq!(w.kit.requests("example.com"), 2);
    assert_eq!(
        w.cache
            .get(&d("example.com"))
            .await
            .unwrap()
            .unwrap()
            .fetched_at(),
        at(T0 + 50_000)
    );
}

#[tokio::test]
async fn cache_7_8_first_contact_then_grace_then_recheck() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    assert!(matches!(w.lookup("example.com").await, Outcome::Fetched(_)));
    let queries = w.kit.dns.query_count("_mta-sts.example.com");
    w.clock.advance(Duration::from_secs(30));
    assert!(matches!(
        w.lookup("example.com").await,
        Outcome::Cached {
            reason: CacheReason::Grace,
            ..
        }
    ));
    assert_eq!(w.kit.dns.query_count("_mta-sts.example.com"), queries);
    w.publish("example.com", "b2", NONE);
    w.clock.advance(Duration::from_secs(31));
    assert_eq!(
        w.lookup("example.com")
            .await
            .policy()
            .unwrap()
            .policy()
            .mode(),
        Mode::None
    );
}

#[tokio::test]
async fn txt_9_10_record_selection_over_dns() {
    let w = world().await;
    w.kit
        .dns
        .add_txt("_mta-sts.two.example", &[b"v=STSv1; id=a"]);
    w.kit
        .dns
        .add_txt("_mta-sts.two.example", &[b"v=STSv1; id=b"]);
    assert!(matches!(
        w.lookup("two.example").await,
        Outcome::NoPolicy(NoPolicy::NoRecord(NoRecord::Unusable(_)))
    ));
    w.kit
        .dns
        .add_txt("_mta-sts.split.example", &[b"v=spf1 -all"]);
    w.kit
        .dns
        .add_txt("_mta-sts.split.example", &[b"v=STSv1; id=", b"abc123"]);
    w.kit
        .host("split.example", CertKind::Valid, Response::policy(ENFORCE));
    assert_eq!(
        w.lookup("split.example")
            .await
            .policy()
            .unwrap()
            .id()
            .as_str(),
        "abc123"
    );
}

#[tokio::test]
async fn txt_11_cname_followed_policy_from_the_original_domain() {
    let w = world().await;
    w.kit
        .dns
        .add_cname("_mta-sts.user.example", "_mta-sts.provider.example");
    w.kit
        .dns
        .add_txt("_mta-sts.provider.example", &[b"v=STSv1; id=p1"]);
    w.kit
        .host("user.example", CertKind::Valid, Response::policy(ENFORCE));
    let out = w.lookup("user.example").await;
    assert_eq!(out.policy().unwrap().id().as_str(), "p1");
    assert_eq!(w.kit.requests("user.example"), 1);
    assert_eq!(w.kit.https.requests("mta-sts.provider.example").len(), 0);
}

#[tokio::test]
async fn cache_5_no_alert_for_a_failing_mode_none_policy() {
    let w = world().await;
    w.publish("enforce.example", "a1", ENFORCE);
    w.publish("none.example", "n1", NONE);
    let _ = w.lookup("enforce.example").await;
    let _ = w.lookup("none.example").await;
    for domain in ["_mta-sts.enforce.example", "_mta-sts.none.example"] {
        w.kit.dns.set_behavior(domain, DnsBehavior::ServFail);
    }
    w.clock.advance(Duration::from_secs(61));
    assert!(w.lookup("enforce.example").await.should_alert());
    let none = w.lookup("none.example").await;
    assert!(none.failure().is_some() && !none.should_alert());
}

#[tokio::test]
async fn cache_9_new_id_old_body_is_cached_under_the_new_id() {
    let w = world().await;
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.lookup("example.com").await;
    w.kit.dns.clear("_mta-sts.example.com");
    w.kit
        .dns
        .add_txt("_mta-sts.example.com", &[b"v=STSv1; id=b2"]);
    w.clock.advance(Duration::from_secs(61));
    assert!(matches!(w.lookup("example.com").await, Outcome::Fetched(_)));
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(
        (stored.id().as_str(), stored.fetched_at()),
        ("b2", at(T0 + 61))
    );
}

#[tokio::test]
async fn fetch_12_body_must_be_utf8() {
    let w = world().await;
    let mut body = ENFORCE.as_bytes().to_vec();
    body.extend_from_slice(b"note: \xff\r\n");
    let response = Response {
        body,
        ..Response::policy("")
    };
    w.kit
        .publish("latin1.example", "a1", CertKind::Valid, response);
    let Outcome::Failure(f) = w.lookup("latin1.example").await else {
        panic!()
    };
    assert_eq!(
        (f.stage(), f.result_type()),
        (Stage::Policy, ResultType::StsPolicyInvalid)
    );
}
