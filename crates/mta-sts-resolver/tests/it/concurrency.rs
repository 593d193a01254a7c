//! Concurrency, on tokio's paused clock: a `sleep` there completes only once every other task is
//! blocked, so "let the spawned lookups reach the gate" is exact, not a guess at wall-clock time.

use std::time::Duration;

use mta_sts_resolver::Outcome;

use crate::fakes::{ENFORCE, World, at, d};

/// Returns once every other task is blocked: on the paused clock, a sleep completes only when the
/// runtime has nothing else to do.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_lookups_share_one_discovery() {
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let gate = w.https.close_gate("example.com");
    let lookups: Vec<_> = (0..10)
        .map(|_| {
            let r = w.resolver.clone();
            tokio::spawn(async move { r.lookup(&d("example.com")).await.into_parts().0 })
        })
        .collect();
    settle().await;
    gate.add_permits(100);
    for l in lookups {
        let out = tokio::time::timeout(Duration::from_secs(5), l)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(out, Outcome::Fetched(_)));
    }
    assert_eq!(w.https.fetches("example.com"), 1);
    assert_eq!(w.dns.queries(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_domain_does_not_delay_others() {
    let w = World::new();
    w.publish("slow.example", "a1", ENFORCE);
    w.publish("fast.example", "b1", ENFORCE);
    let gate = w.https.close_gate("slow.example");
    let slow = {
        let r = w.resolver.clone();
        tokio::spawn(async move { r.lookup(&d("slow.example")).await.into_parts().0 })
    };
    settle().await;
    let fast_domain = d("fast.example");
    let fast = w.resolver.lookup(&fast_domain);
    let fast = tokio::time::timeout(Duration::from_secs(5), fast)
        .await
        .expect("fast.example waited for slow.example");
    assert!(matches!(fast.outcome(), Outcome::Fetched(_)));
    assert!(!slow.is_finished());
    gate.add_permits(1);
    let slow = tokio::time::timeout(Duration::from_secs(5), slow)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(slow, Outcome::Fetched(_)));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_lookup_is_not_resumed_with_stale_state() {
    use crate::fakes::{Body, T0};
    let w = World::new();
    w.publish("example.com", "a1", ENFORCE);
    let _ = w.resolver.lookup(&d("example.com")).await;
    // Near expiry a new id appears; its fetch hangs and the caller gives up.
    w.clock.set(at(T0 + 86_000));
    w.dns.set_id("example.com", "b2");
    let gate = w.https.close_gate("example.com");
    let r = w.resolver.clone();
    let abandoned = tokio::spawn(async move { r.lookup(&d("example.com")).await.into_parts().0 });
    settle().await;
    abandoned.abort();
    let _ = abandoned.await;
    // Long after expiry, with HTTPS now failing, the expired policy must not come back.
    w.clock.set(at(T0 + 90_000));
    w.https.serve("example.com", Body::Status(500));
    gate.add_permits(10);
    let queries = w.dns.queries();
    let out = w.resolver.lookup(&d("example.com")).await.into_parts().0;
    assert!(matches!(out, Outcome::Failure(_)), "{out:?}");
    assert!(w.dns.queries() > queries, "a fresh discovery ran");
}
