use mta_sts_cache::PolicyCache;
use mta_sts_policy::Mode;
use mta_sts_resolver::{CacheReason, NoPolicy, Outcome, ResolverConfig, ResultType, Stage};

use mta_sts_resolver::TxtAnswer;

use crate::fakes::{Body, ENFORCE, NONE, T0, Txt, World, at, d, secs};

fn id_of(outcome: &Outcome) -> Option<String> {
    outcome.policy().map(|p| p.id().as_str().to_owned())
}

#[tokio::test]
async fn cache_1_expired_policy_never_applied() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Fetched(_)
    ));
    // The domain breaks; the cached policy carries us until max_age, not a second longer.
    w.dns.set("example.com", Txt::ServFail);
    w.clock.set(at(T0 + 86_400));
    let at_expiry = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(
        at_expiry.outcome(),
        Outcome::Cached {
            reason: CacheReason::DiscoveryFailed(_),
            ..
        }
    ));
    w.clock.set(at(T0 + 86_401));
    let after = w.resolver.lookup(&d("example.com")).await;
    assert!(
        matches!(after.outcome(), Outcome::Failure(f) if f.stage() == Stage::Dns),
        "{:?}",
        after.outcome()
    );
}

#[tokio::test]
async fn cache_2_id_change_refetches_and_replaces() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.publish(
        "example.com",
        "b2",
        &ENFORCE.replace("mx.example.com", "mx2.example.com"),
    );
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(out.outcome(), Outcome::Fetched(_)));
    assert_eq!(id_of(out.outcome()).as_deref(), Some("b2"));
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(stored.id().as_str(), "b2");
    assert_eq!(stored.fetched_at(), at(T0 + 61));
    assert!(stored.policy().matches_mx("mx2.example.com"));
}

#[tokio::test]
async fn cache_3_cached_policy_applies_when_discovery_fails() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    // SERVFAIL
    w.dns.set("example.com", Txt::ServFail);
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    let Outcome::Cached {
        reason: CacheReason::DiscoveryFailed(f),
        ..
    } = out.outcome()
    else {
        panic!("{:?}", out.outcome())
    };
    assert_eq!(f.stage(), Stage::Dns);
    // New id but HTTPS 404: the id=a1 policy still applies.
    w.dns.set_id("example.com", "b2");
    w.https.serve("example.com", Body::Status(404));
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    let Outcome::Cached {
        policy,
        reason: CacheReason::DiscoveryFailed(f),
    } = out.outcome()
    else {
        panic!("{:?}", out.outcome())
    };
    assert_eq!(policy.id().as_str(), "a1");
    assert_eq!(f.result_type(), ResultType::StsPolicyFetchError);
    assert!(out.outcome().should_alert());
}

#[tokio::test]
async fn cache_4_refresh_ahead_extends_lifetime() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    // Half the lifetime passes; the id is unchanged.
    w.clock.set(at(T0 + 43_201));
    let mut out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(
        out.outcome(),
        Outcome::Cached {
            reason: CacheReason::IdUnchanged,
            ..
        }
    ));
    let refresh = out
        .take_refresh()
        .expect("a refresh is due past half the lifetime");
    assert_eq!(refresh.domain(), "example.com");
    // A second lookup meanwhile does not start a second refresh.
    w.clock.advance(secs(61));
    assert!(
        w.resolver
            .lookup(&d("example.com"))
            .await
            .into_parts()
            .1
            .is_none()
    );
    assert!(matches!(refresh.run().await, Outcome::Fetched(_)));
    assert_eq!(w.https.fetches("example.com"), 2);
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(stored.fetched_at(), at(T0 + 43_262));
    assert_eq!(stored.expires_at(), at(T0 + 43_262 + 86_400));
}

#[tokio::test]
async fn cache_5_alert_on_failure_unless_mode_none() {
    let w = World::new();
    w.publish("none.example", "n1", NONE);
    let _ = w.resolver.lookup(&d("none.example")).await;
    w.dns.set("none.example", Txt::ServFail);
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("none.example")).await;
    assert!(out.outcome().failure().is_some());
    assert!(!out.outcome().should_alert());
}

#[tokio::test]
async fn cache_6_mode_none_replaces_older_policy() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.publish("example.com", "b2", NONE);
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(out.outcome().policy().unwrap().policy().mode(), Mode::None);
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(stored.policy().mode(), Mode::None);
}

#[tokio::test]
async fn cache_7_first_contact_fetches_and_the_next_lookup_uses_it() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    assert!(w.cache.get(&d("example.com")).await.unwrap().is_none());
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Fetched(_)
    ));
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Cached {
            reason: CacheReason::Grace,
            ..
        }
    ));
    assert_eq!(w.https.fetches("example.com"), 1);
}

#[tokio::test]
async fn cache_8_new_policy_seen_after_grace() {
    let w = World::with_config(ResolverConfig::default().with_grace(secs(60)));
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.publish("example.com", "b2", NONE);
    // Within the grace period no DNS query is made.
    w.clock.advance(secs(59));
    let queries = w.dns.queries();
    assert_eq!(
        w.resolver
            .lookup(&d("example.com"))
            .await
            .outcome()
            .policy()
            .unwrap()
            .id()
            .as_str(),
        "a1"
    );
    assert_eq!(w.dns.queries(), queries);
    // After it, the TXT id is checked again and the new policy found.
    w.clock.advance(secs(2));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(out.outcome().policy().unwrap().policy().mode(), Mode::None);
}

#[tokio::test]
async fn a_policy_fetched_within_grace_by_an_earlier_run_needs_no_dns_query() {
    let w = World::with_config(ResolverConfig::default().with_grace(secs(60)));
    w.publish("example.com", "a1", ENFORCE);
    // As left in a shared or persistent store by another process 30 s ago.
    let policy = mta_sts_policy::Policy::parse(ENFORCE.as_bytes()).unwrap();
    let id: mta_sts_txt::PolicyId = "a1".parse().unwrap();
    let stored = mta_sts_cache::CachedPolicy::new(policy, id, at(T0 - 30));
    w.cache
        .put(&d("example.com"), std::sync::Arc::new(stored))
        .await
        .unwrap();
    let out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(
        out.outcome(),
        Outcome::Cached {
            reason: CacheReason::Grace,
            ..
        }
    ));
    assert_eq!(w.dns.queries(), 0);
    // Once the grace period since that fetch is over, the TXT id is checked again.
    w.clock.advance(secs(31));
    let _ = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(w.dns.queries(), 1);
    assert_eq!(w.https.fetches("example.com"), 0);
}

#[tokio::test]
async fn cache_9_body_under_new_id_is_cached_as_served() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    // The publisher changed the TXT id first; HTTPS still serves the old body.
    w.dns.set_id("example.com", "b2");
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(out.outcome(), Outcome::Fetched(_)));
    assert_eq!(id_of(out.outcome()).as_deref(), Some("b2"));
}

#[tokio::test]
async fn a_10_unchanged_id_does_not_extend_lifetime() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    for step in 1..=10 {
        w.clock.set(at(T0 + step * 3_600));
        let mut out = w.resolver.lookup(&d("example.com")).await;
        out.take_refresh(); // dropped: not run
    }
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(stored.fetched_at(), at(T0));
    // Expired with the same id: fetched again.
    w.clock.set(at(T0 + 86_401));
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Fetched(_)
    ));
    assert_eq!(w.https.fetches("example.com"), 2);
}

#[tokio::test]
async fn no_policy_is_remembered_briefly() {
    let w = World::with_config(ResolverConfig::default().with_negative_ttl(secs(300)));
    assert!(matches!(
        w.resolver.lookup(&d("plain.example")).await.outcome(),
        Outcome::NoPolicy(NoPolicy::NoRecord(_))
    ));
    w.clock.advance(secs(299));
    assert!(matches!(
        w.resolver.lookup(&d("plain.example")).await.outcome(),
        Outcome::NoPolicy(NoPolicy::Remembered)
    ));
    assert_eq!(w.dns.queries(), 1);
    w.clock.advance(secs(1));
    let _ = w.resolver.lookup(&d("plain.example")).await;
    assert_eq!(w.dns.queries(), 2);
}

#[tokio::test]
async fn a_failed_refresh_is_not_retried_on_every_lookup() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.https.serve("example.com", Body::Status(500));
    w.clock.set(at(T0 + 43_201));
    let refresh = w
        .resolver
        .lookup(&d("example.com"))
        .await
        .into_parts()
        .1
        .expect("refresh due");
    assert!(matches!(
        refresh.run().await,
        Outcome::Cached {
            reason: CacheReason::DiscoveryFailed(_),
            ..
        }
    ));
    let queries = w.dns.queries();
    for _ in 0..5 {
        w.clock.advance(secs(10));
        let (out, refresh) = w.resolver.lookup(&d("example.com")).await.into_parts();
        assert!(out.policy().is_some());
        assert!(refresh.is_none(), "no new refresh within the backoff");
    }
    assert!(
        w.dns.queries() - queries <= 1,
        "{} TXT queries",
        w.dns.queries() - queries
    );
}

#[tokio::test]
async fn cache_4_refresh_regardless_of_the_txt_record() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    // The TXT record is blocked; the refresh still fetches the policy under the cached id.
    w.dns.set("example.com", Txt::ServFail);
    w.clock.set(at(T0 + 50_000));
    let out = w.resolver.refresh(&d("example.com")).await;
    assert!(matches!(out, Outcome::Fetched(_)), "{out:?}");
    let stored = w.cache.get(&d("example.com")).await.unwrap().unwrap();
    assert_eq!(
        (stored.id().as_str(), stored.fetched_at()),
        ("a1", at(T0 + 50_000))
    );
    w.dns.set("example.com", Txt::Answer(TxtAnswer::NoSuchName));
    w.clock.set(at(T0 + 100_000));
    assert!(matches!(
        w.resolver.refresh(&d("example.com")).await,
        Outcome::Fetched(_)
    ));
}
