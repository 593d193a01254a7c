use mta_sts_testkit::{CertKind, Response};

use crate::{ENFORCE, Kit, query};

const SECURE: &str = "OK secure match=mail.example.com:.example.net servername=hostname";

#[tokio::test(flavor = "multi_thread")]
async fn apply_1_enforce_answer_for_every_key_form() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let daemon = kit.start_tcp("").await;
    let addr = daemon.addr.unwrap();
    for key in [
        "example.com",
        "EXAMPLE.com.",
        "[example.com]:587",
        "example.com:smtp",
        "[example.com]",
    ] {
        assert_eq!(query(addr, "postfix", key).await, SECURE, "{key}");
    }
    // PFX-1 / APPLY-6 / APPLY-7: no lookup at all for these.
    for key in [
        ".example.com",
        "[192.0.2.1]:25",
        "[ipv6:2001:db8::1]",
        "/var/run/lmtp",
        "localhost",
    ] {
        assert_eq!(query(addr, "postfix", key).await, "NOTFOUND ", "{key}");
    }
    assert_eq!(kit.dns.query_count("_mta-sts.localhost"), 0);
    // No policy at all.
    assert_eq!(query(addr, "postfix", "plain.example").await, "NOTFOUND ");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn zones_strict_testing_require_sni_tlsrpt_on_failure() {
    let kit = Kit::start().await;
    kit.publish(
        "testing.example",
        "t1",
        CertKind::Valid,
        Response::policy(&ENFORCE.replace("enforce", "testing")),
    );
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "broken.example",
        "b1",
        CertKind::Valid,
        Response::status(500),
    );
    let yaml = "zones:\n  strict:\n    strict_testing: yes\n  nosni:\n    require_sni: false\n  report:\n    tlsrpt: true\n  defer:\n    on_failure: temp\n";
    let daemon = kit.start_tcp(yaml).await;
    let addr = daemon.addr.unwrap();
    // APPLY-2: testing is NOTFOUND unless strict_testing.
    assert_eq!(query(addr, "postfix", "testing.example").await, "NOTFOUND ");
    assert!(
        query(addr, "strict", "testing.example")
            .await
            .starts_with("OK secure match=")
    );
    assert_eq!(
        query(addr, "nosni", "example.com").await,
        "OK secure match=mail.example.com:.example.net"
    );
    let report = query(addr, "report", "example.com").await;
    assert!(report.contains(" policy_type=sts policy_domain=example.com mx_host_pattern=mail.example.com mx_host_pattern=*.example.net "), "{report}");
    assert!(
        report.ends_with("{ policy_string = max_age: 604800 }"),
        "{report}"
    );
    // FETCH-10: a failed discovery with nothing cached.
    assert_eq!(query(addr, "postfix", "broken.example").await, "NOTFOUND ");
    let deferred = query(addr, "defer", "broken.example").await;
    assert!(
        deferred.starts_with("TEMP ") && deferred.contains("status 500"),
        "{deferred}"
    );
    daemon.shutdown().await;
}
