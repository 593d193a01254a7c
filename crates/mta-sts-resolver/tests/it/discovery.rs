use mta_sts_resolver::{CacheReason, NoPolicy, NoRecord, Outcome, ResultType, Stage};
use mta_sts_txt::SelectError;

use mta_sts_resolver::TxtAnswer;

use crate::fakes::{Body, ENFORCE, Txt, World, d, secs};

#[tokio::test]
async fn fetch_9_failed_fetch_not_retried_for_five_minutes_per_id() {
    let w = World::new();
    w.dns.set_id("example.com", "a1");
    w.https.serve("example.com", Body::Status(500));
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Failure(_)
    ));
    w.clock.advance(secs(60));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(out.outcome(), Outcome::Failure(_)));
    assert_eq!(
        w.https.fetches("example.com"),
        1,
        "no new HTTPS request within five minutes"
    );
    // A new id is fetched as soon as it is seen (after the short failure recheck interval).
    w.dns.set_id("example.com", "b2");
    w.clock.advance(secs(31));
    let _ = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(w.https.fetches("example.com"), 2);
    // The old id again after the backoff: retried.
    w.dns.set_id("example.com", "a1");
    w.clock.advance(secs(210));
    let _ = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(w.https.fetches("example.com"), 3);
}

#[tokio::test]
async fn a_failing_domain_costs_one_dns_query_per_recheck_interval() {
    let w = World::new();
    w.dns.set_id("example.com", "a1");
    w.https.serve("example.com", Body::Status(500));
    for _ in 0..5 {
        let out = w.resolver.lookup(&d("example.com")).await;
        assert!(matches!(out.outcome(), Outcome::Failure(_)));
    }
    assert_eq!(w.dns.queries(), 1, "failures are remembered for a while");
    assert_eq!(w.https.fetches("example.com"), 1);
    // After the recheck interval the TXT record is read again; the fetch is still in its
    // FETCH-9 backoff, so no HTTPS request.
    w.clock.advance(secs(31));
    assert!(matches!(
        w.resolver.lookup(&d("example.com")).await.outcome(),
        Outcome::Failure(_)
    ));
    assert_eq!(w.dns.queries(), 2);
    assert_eq!(w.https.fetches("example.com"), 1);
    // Steady traffic does not keep the memory alive: a lookup every 10 s still reads the TXT
    // record again once 30 s have passed since the last real check.
    for _ in 0..3 {
        w.clock.advance(secs(10));
        let _ = w.resolver.lookup(&d("example.com")).await;
    }
    assert_eq!(w.dns.queries(), 3);
    // The same with a cached policy: it keeps applying, with the failure as the reason.
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.dns.set_id("example.com", "b2");
    w.https.serve("example.com", Body::Status(500));
    w.clock.advance(secs(61));
    for _ in 0..3 {
        let out = w.resolver.lookup(&d("example.com")).await;
        assert!(matches!(
            out.outcome(),
            Outcome::Cached {
                reason: CacheReason::DiscoveryFailed(_),
                ..
            }
        ));
    }
    assert_eq!(w.dns.queries(), 2);
}

#[tokio::test]
async fn fetch_10_fetch_failure_without_cache_is_typed() {
    let w = World::new();
    w.dns.set_id("example.com", "a1");
    w.https.serve("example.com", Body::Status(500));
    let out = w.resolver.lookup(&d("example.com")).await;
    let Outcome::Failure(f) = out.outcome() else {
        panic!("{:?}", out.outcome())
    };
    assert_eq!(
        (f.stage(), f.result_type()),
        (Stage::Https, ResultType::StsPolicyFetchError)
    );
    assert_eq!(f.to_string(), "https: status 500 (sts-policy-fetch-error)");
}

#[tokio::test]
async fn rpt_12_result_types() {
    let w = World::new();
    w.dns.set_id("cert.example", "a1");
    w.https.serve("cert.example", Body::BadCertificate);
    let out = w.resolver.lookup(&d("cert.example")).await;
    assert_eq!(
        out.outcome().failure().unwrap().result_type(),
        ResultType::StsWebpkiInvalid
    );
    w.dns.set_id("bad.example", "a1");
    w.https.serve(
        "bad.example",
        Body::Policy("version: STSv1\nmode: enforce\nmax_age: 1\n".into()),
    );
    let out = w.resolver.lookup(&d("bad.example")).await;
    let f = out.outcome().failure().unwrap();
    assert_eq!(
        (f.stage(), f.result_type()),
        (Stage::Policy, ResultType::StsPolicyInvalid)
    );
}

#[tokio::test]
async fn fetch_11_unchanged_id_makes_no_https_request() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    for _ in 0..5 {
        w.clock.advance(secs(61));
        let out = w.resolver.lookup(&d("example.com")).await;
        assert!(matches!(
            out.outcome(),
            Outcome::Cached {
                reason: CacheReason::IdUnchanged,
                ..
            }
        ));
    }
    assert_eq!(w.https.fetches("example.com"), 1);
}

#[tokio::test]
async fn txt_9_not_exactly_one_record_is_no_policy() {
    let w = World::new();
    let rec = |s: &str| vec![s.as_bytes().to_vec()];
    w.dns.set(
        "two.example",
        Txt::Answer(TxtAnswer::Records(vec![
            rec("v=STSv1; id=a"),
            rec("v=STSv1; id=b"),
        ])),
    );
    let out = w.resolver.lookup(&d("two.example")).await;
    assert!(matches!(
        out.outcome(),
        Outcome::NoPolicy(NoPolicy::NoRecord(NoRecord::Unusable(
            SelectError::Ambiguous { count: 2, .. }
        )))
    ));
    w.dns.set(
        "spf.example",
        Txt::Answer(TxtAnswer::Records(vec![rec("v=spf1 -all")])),
    );
    let out = w.resolver.lookup(&d("spf.example")).await;
    assert!(matches!(
        out.outcome(),
        Outcome::NoPolicy(NoPolicy::NoRecord(NoRecord::Unusable(
            SelectError::NotFound { discarded: 1, .. }
        )))
    ));
    assert_eq!(
        w.https.fetches("two.example") + w.https.fetches("spf.example"),
        0
    );
}

#[tokio::test]
async fn txt_10_multi_string_record() {
    let w = World::new();
    w.dns.set(
        "example.com",
        Txt::Answer(TxtAnswer::Records(vec![vec![
            b"v=STSv1; id=".to_vec(),
            b"abc123".to_vec(),
        ]])),
    );
    w.https.serve("example.com", Body::Policy(ENFORCE.into()));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert_eq!(out.outcome().policy().unwrap().id().as_str(), "abc123");
}

#[tokio::test]
async fn txt_12_missing_record_keeps_cached_policy() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    w.dns.set("example.com", Txt::Answer(TxtAnswer::NoSuchName));
    w.clock.advance(secs(61));
    let out = w.resolver.lookup(&d("example.com")).await;
    assert!(matches!(
        out.outcome(),
        Outcome::Cached {
            reason: CacheReason::RecordUnavailable(NoPolicy::NoRecord(NoRecord::NoSuchName)),
            ..
        }
    ));
}

#[tokio::test]
async fn txt_1_queries_the_policy_domain_itself() {
    let w = World::new();
    w.publish("mail.example.com", "a1", ENFORCE);
    w.dns.set_id("example.com", "parent");
    let out = w.resolver.lookup(&d("Mail.Example.COM.")).await;
    assert_eq!(out.outcome().policy().unwrap().id().as_str(), "a1");
    assert_eq!(w.https.fetches("mail.example.com"), 1);
    assert_eq!(w.https.fetches("example.com"), 0);
}

/// `forget` (and `forget_all`) drops the bookkeeping outside the cache: a remembered failure, its FETCH-9 backoff,
/// "no record" and the grace check, so the next lookup reads DNS (and fetches) at once.
#[tokio::test]
async fn forget_clears_failures_backoff_negative_and_grace() {
    use mta_sts_cache::CacheAdmin;
    let w = World::new();
    let domain = d("example.com");
    // A failing fetch: remembered as a failure and in FETCH-9 backoff.
    w.dns.set_id("example.com", "a1");
    w.https.serve("example.com", Body::Status(500));
    assert!(matches!(
        w.resolver.lookup(&domain).await.outcome(),
        Outcome::Failure(_)
    ));
    let remembered = w.resolver.remembered(&domain);
    let (failure, _) = remembered.failed.expect("the failure is remembered");
    assert_eq!(failure.stage(), Stage::Https);
    assert_eq!(remembered.fetch_backoff.len(), 1);
    assert_eq!(remembered.fetch_backoff[0].0.as_str(), "a1");
    // The policy host is fixed; without forget, the failure would be answered for 30 s more.
    w.https
        .serve("example.com", Body::Policy(ENFORCE.to_owned()));
    assert!(matches!(
        w.resolver.lookup(&domain).await.outcome(),
        Outcome::Failure(_)
    ));
    assert_eq!(w.https.fetches("example.com"), 1);
    w.resolver.forget(&domain);
    let forgotten = w.resolver.remembered(&domain);
    assert!(forgotten.failed.is_none() && forgotten.fetch_backoff.is_empty());
    assert!(matches!(
        w.resolver.lookup(&domain).await.outcome(),
        Outcome::Fetched(_)
    ));
    assert_eq!(w.https.fetches("example.com"), 2);
    // The fetch marked the domain checked: within grace, no DNS query...
    assert_eq!(
        w.resolver.remembered(&domain).last_checked,
        Some(mta_sts_resolver::Clock::now(&*w.clock))
    );
    let queries = w.dns.queries();
    let _ = w.resolver.lookup(&domain).await;
    assert_eq!(w.dns.queries(), queries);
    // ...until forgotten (with the cache entry, as a purge does): then DNS is read and the policy
    // fetched again.
    w.cache.remove(&domain).await.unwrap();
    w.resolver.forget(&domain);
    assert!(w.resolver.remembered(&domain).last_checked.is_none());
    assert!(matches!(
        w.resolver.lookup(&domain).await.outcome(),
        Outcome::Fetched(_)
    ));
    assert_eq!(w.dns.queries(), queries + 1);
    // "No record" is remembered for negative_ttl, and forgotten on demand.
    w.dns
        .set("gone.example", Txt::Answer(TxtAnswer::NoSuchName));
    let gone = d("gone.example");
    let _ = w.resolver.lookup(&gone).await;
    assert!(w.resolver.remembered(&gone).no_policy_until.is_some());
    w.publish("gone.example", "g1", ENFORCE);
    assert!(matches!(
        w.resolver.lookup(&gone).await.outcome(),
        Outcome::NoPolicy(NoPolicy::Remembered)
    ));
    w.resolver.forget(&gone);
    assert!(matches!(
        w.resolver.lookup(&gone).await.outcome(),
        Outcome::Fetched(_)
    ));
    // forget_all: every domain at once.
    w.dns
        .set("none1.example", Txt::Answer(TxtAnswer::NoSuchName));
    w.dns
        .set("none2.example", Txt::Answer(TxtAnswer::NoSuchName));
    for name in ["none1.example", "none2.example"] {
        let _ = w.resolver.lookup(&d(name)).await;
        assert!(w.resolver.remembered(&d(name)).no_policy_until.is_some());
    }
    w.resolver.forget_all();
    for name in ["none1.example", "none2.example", "gone.example"] {
        let remembered = w.resolver.remembered(&d(name));
        assert!(remembered.no_policy_until.is_none() && remembered.last_checked.is_none());
    }
}
