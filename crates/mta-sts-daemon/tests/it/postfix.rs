//! The documented deployment end to end: a real Postfix (Debian's package, a private instance
//! whose `smtp` client runs chrooted as in the stock master.cf) asks the daemon for each
//! recipient domain's TLS policy, over the daemon's UNIX socket inside that chroot (or over TCP),
//! and delivers to the test kit's SMTP servers, which present certificates from the test CA that
//! Postfix trusts. The daemon finds `_mta-sts` records and policy hosts in the test kit, as in the
//! other tests. Postfix reaches each domain without DNS (the harness routes it), so the MX host of
//! a domain is the domain itself, and policies list it as `mx:`.
//!
//! Each case asserts what Postfix did, from its log and queue, and what the SMTP server saw.
//! Needs root, as Postfix's master does.

use mta_sts_daemon::Listener;
use mta_sts_testkit::{
    CertKind, DeliveryStatus, PostfixInstance, Response, SmtpBehavior, SmtpServer, TestRedis,
};

use crate::{Kit, Running};

const SENDER: &str = "sender@sender.test";

/// The socket as `docs/postfix.md` deploys it, relative to the chroot.
const IN_CHROOT: &str = "/mta-sts/mta-sts.sock";

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

async fn smtp(kit: &Kit, cert: CertKind, starttls: bool) -> SmtpServer {
    SmtpServer::start(&kit.ca, SmtpBehavior { cert, starttls })
        .await
        .unwrap()
}

/// The daemon on its UNIX socket inside the instance's chroot, with the documented settings:
/// group postfix, mode 0660, a socket directory the daemon creates itself.
async fn daemon_in_chroot(kit: &Kit, postfix: &PostfixInstance, extra: &str) -> Running {
    let directory = postfix.queue_dir().join("mta-sts");
    // The harness prepares this directory for hand-made sockets; the daemon must manage alone.
    let _ = std::fs::remove_dir_all(&directory);
    let path = directory.join("mta-sts.sock");
    let config = kit.config(&format!(
        "path: {}\ngroup: postfix\nmode: 0660\n{extra}",
        path.display()
    ));
    let listener = Listener::bind(&config).await.unwrap();
    kit.run(config, listener)
}

/// Sends one message to `rcpt` and waits for Postfix to deliver or defer it.
async fn send(postfix: &PostfixInstance, rcpt: &str, status: DeliveryStatus) -> String {
    let id = postfix.submit(SENDER, rcpt, "hello\n").await.unwrap();
    let delivery = postfix
        .wait_for_status(&id, rcpt, status)
        .await
        .unwrap_or_else(|e| panic!("{rcpt}: {e}\n{}", postfix.log()));
    delivery.detail
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_applies_the_daemons_answers_through_the_chrooted_unix_socket() {
    let kit = Kit::start().await;
    let valid = smtp(&kit, CertKind::Valid, true).await;
    let wrong_name = smtp(&kit, CertKind::WrongName, true).await;
    let no_starttls = smtp(&kit, CertKind::Valid, false).await;
    let testing = smtp(&kit, CertKind::WrongName, true).await;
    let plain = smtp(&kit, CertKind::Valid, true).await;
    let broken = smtp(&kit, CertKind::Valid, true).await;
    for (domain, mode) in [
        ("enforce.test", "enforce"),
        ("wrongname.test", "enforce"),
        ("nostarttls.test", "enforce"),
        ("testing.test", "testing"),
    ] {
        kit.publish(
            domain,
            "a1",
            CertKind::Valid,
            Response::policy(&policy(mode, domain)),
        );
    }
    // A record, but the policy host fails: discovery fails with nothing cached.
    kit.publish("broken.test", "a1", CertKind::Valid, Response::status(500));
    let postfix = PostfixInstance::builder(&kit.ca)
        .tls_policy_maps(&format!("socketmap:unix:{IN_CHROOT}:postfix"))
        .route("enforce.test", valid.addr())
        .route("wrongname.test", wrong_name.addr())
        .route("nostarttls.test", no_starttls.addr())
        .route("testing.test", testing.addr())
        .route("plain.test", plain.addr())
        .route("broken.test", broken.addr())
        .start()
        .await
        .unwrap();
    let daemon = daemon_in_chroot(&kit, &postfix, "").await;

    // APPLY-1, MATCH-7: enforce, and the MX presents a valid certificate for its name: delivered
    // over TLS, the name verified, the name sent as SNI (servername=hostname, APPLY-8).
    send(&postfix, "rcpt@enforce.test", DeliveryStatus::Sent).await;
    postfix
        .wait_for_log("Verified TLS connection established to enforce.test[127.0.0.1]")
        .await
        .unwrap();
    let message = &valid.messages()[0];
    assert!(message.tls);
    assert_eq!(message.sni.as_deref(), Some("enforce.test"));

    // A certificate for another name: deferred, not delivered.
    let detail = send(&postfix, "rcpt@wrongname.test", DeliveryStatus::Deferred).await;
    assert_eq!(detail, "Server certificate not verified");
    assert!(wrong_name.messages().is_empty());

    // No STARTTLS offered: deferred, never sent in the clear.
    let detail = send(&postfix, "rcpt@nostarttls.test", DeliveryStatus::Deferred).await;
    assert!(
        detail.contains("TLS is required, but was not offered"),
        "{detail}"
    );
    assert!(no_starttls.messages().is_empty());

    // APPLY-2: mode testing is not enforced: delivered although the certificate is for another
    // name (opportunistic TLS does not check names).
    send(&postfix, "rcpt@testing.test", DeliveryStatus::Sent).await;
    assert!(testing.messages()[0].tls);

    // No policy: opportunistic TLS.
    send(&postfix, "rcpt@plain.test", DeliveryStatus::Sent).await;
    postfix
        .wait_for_log("Trusted TLS connection established to plain.test[127.0.0.1]")
        .await
        .unwrap();

    // FETCH-10: discovery fails and nothing is cached: delivered as without a policy
    // (on_failure: notfound, the default).
    send(&postfix, "rcpt@broken.test", DeliveryStatus::Sent).await;

    // The daemon stops: its socket goes away and Postfix defers all mail until it is back.
    daemon.shutdown().await;
    assert!(!postfix.policy_socket().exists(), "the socket is removed");
    let detail = send(&postfix, "rcpt@enforce.test", DeliveryStatus::Deferred).await;
    assert_eq!(detail, "client TLS configuration problem");
    postfix
        .wait_for_log(&format!(
            "connect to {IN_CHROOT}: No such file or directory"
        ))
        .await
        .unwrap();
}

/// The same through the TCP socket, with the Redis cache as in the documented deployment, and
/// `on_failure: temp`: a domain whose discovery fails with nothing cached is deferred.
#[tokio::test(flavor = "multi_thread")]
async fn postfix_through_tcp_with_the_redis_cache() {
    let kit = Kit::start().await;
    let redis = TestRedis::start().unwrap();
    let valid = smtp(&kit, CertKind::Valid, true).await;
    let wrong_name = smtp(&kit, CertKind::WrongName, true).await;
    let broken = smtp(&kit, CertKind::Valid, true).await;
    for domain in ["enforce.test", "wrongname.test"] {
        kit.publish(
            domain,
            "a1",
            CertKind::Valid,
            Response::policy(&policy("enforce", domain)),
        );
    }
    kit.publish("broken.test", "a1", CertKind::Valid, Response::status(500));
    let yaml = format!(
        "cache:\n  type: redis\n  options:\n    url: \"{}/0\"\ndefault_zone:\n  on_failure: temp\n",
        redis.url()
    );
    let daemon = kit.start_tcp(&yaml).await;
    let addr = daemon.addr.unwrap();
    let postfix = PostfixInstance::builder(&kit.ca)
        .tls_policy_maps(&format!("socketmap:inet:{addr}:postfix"))
        .route("enforce.test", valid.addr())
        .route("wrongname.test", wrong_name.addr())
        .route("broken.test", broken.addr())
        .start()
        .await
        .unwrap();

    send(&postfix, "rcpt@enforce.test", DeliveryStatus::Sent).await;
    postfix
        .wait_for_log("Verified TLS connection established to enforce.test[127.0.0.1]")
        .await
        .unwrap();
    let detail = send(&postfix, "rcpt@wrongname.test", DeliveryStatus::Deferred).await;
    assert_eq!(detail, "Server certificate not verified");
    // on_failure: temp defers instead of downgrading.
    send(&postfix, "rcpt@broken.test", DeliveryStatus::Deferred).await;
    assert!(broken.messages().is_empty());
    // What the daemon learned is in Redis, where other daemons sharing it find it.
    let store = mta_sts_store::RedisCache::connect(&redis.url(), std::time::Duration::from_secs(5))
        .unwrap();
    let stored = mta_sts_cache::PolicyCache::get(&store, &"enforce.test".parse().unwrap())
        .await
        .unwrap();
    assert!(stored.is_some_and(|e| e.policy().matches_mx("enforce.test")));
    daemon.shutdown().await;
}
