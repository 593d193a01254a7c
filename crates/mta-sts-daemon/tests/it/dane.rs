//! DANE first (APPLY-4, DANE-2..4, DANE-7, DANE-9): the daemon over DNSSEC-signed zones served on
//! loopback, with the MTA-STS policy of the same domains on the test kit's HTTPS server.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use mta_sts_daemon::{Config, Listener};
use mta_sts_testkit::{
    CertKind, DnsBehavior, Response, SignedDns, SignedDnsBuilder, ZoneKind, eventually,
};

use crate::{Kit, Running, query, temp_path};

const POLICY: &str =
    "version: STSv1\nmode: enforce\nmx: mail.dane.example\nmx: mx2.dane.example\nmax_age: 86400\n";
const SECURE: &str = "OK secure match=mail.dane.example:mx2.dane.example servername=hostname";
const DIGEST: [u8; 32] = [0x3c; 32];
const DANE_ON: &str = "default_zone:\n  dane:\n    enabled: true\nzones:\n  report:\n    tlsrpt: true\n    dane:\n      enabled: true\n  plain:\n    tlsrpt: false\n";

/// `dane.example`: an MTA-STS policy (enforce) and a signed zone whose first MX host publishes
/// TLSA; what the second publishes is up to the test.
fn signed() -> SignedDnsBuilder {
    one_mx(ZoneKind::Signed)
        .mx("dane.example", 20, "mx2.dane.example")
        .a("mx2.dane.example", Ipv4Addr::LOCALHOST)
        .tlsa("_25._tcp.mail.dane.example", 3, 1, 1, &DIGEST)
}

/// `dane.example` in a zone of `kind`: its MTA-STS records and one MX host, no TLSA yet.
fn one_mx(kind: ZoneKind) -> SignedDnsBuilder {
    SignedDns::builder()
        .zone("dane.example", kind)
        .txt("_mta-sts.dane.example", &[b"v=STSv1; id=d1"])
        .a("mta-sts.dane.example", Ipv4Addr::LOCALHOST)
        .mx("dane.example", 10, "mail.dane.example")
        .a("mail.dane.example", Ipv4Addr::LOCALHOST)
}

async fn start(kit: &Kit, dns: &SignedDns, yaml: &str) -> Running {
    kit.host("dane.example", CertKind::Valid, Response::policy(POLICY));
    let yaml = format!(
        "{yaml}\ndns:\n  nameservers: ['{}']\n  trust_anchor: {}\n",
        dns.addr(),
        dns.trust_anchor_path().display()
    );
    let config = Config::parse(&yaml, "dane.yml").unwrap().0;
    let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    kit.run(config, listener)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_4_dane_2_dane_only_wins_over_mta_sts() {
    let kit = Kit::start().await;
    let dns = signed()
        .tlsa("_25._tcp.mx2.dane.example", 2, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    let addr = daemon.addr.unwrap();
    assert_eq!(query(addr, "postfix", "dane.example").await, "OK dane-only");
    // DANE-7: no TLSRPT attributes on a DANE answer, even in a zone that adds them.
    assert_eq!(query(addr, "report", "dane.example").await, "OK dane-only");
    // A zone without DANE keeps the MTA-STS answer.
    assert_eq!(query(addr, "plain", "dane.example").await, SECURE);
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_2_mixed_mx_set_is_dane() {
    let kit = Kit::start().await;
    let dns = signed().start().await.unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "dane.example").await,
        "OK dane"
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_3_without_tlsa_or_signatures_mta_sts_answers() {
    let kit = Kit::start().await;
    // No TLSA at all.
    let dns = one_mx(ZoneKind::Signed).start().await.unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "dane.example").await,
        SECURE
    );
    daemon.shutdown().await;
    // An unsigned zone whose MX host publishes TLSA: insecure, so MTA-STS.
    let dns = one_mx(ZoneKind::Unsigned)
        .tlsa("_25._tcp.mail.dane.example", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "dane.example").await,
        SECURE
    );
    // No MTA-STS and no DANE: NOTFOUND as before.
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "other.dane.example").await,
        "NOTFOUND "
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_4_bogus_servfail_and_silence_are_temp_never_mta_sts() {
    let kit = Kit::start().await;
    let dns = one_mx(ZoneKind::BogusSignatures)
        .tlsa("_25._tcp.mail.dane.example", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    let addr = daemon.addr.unwrap();
    let reply = query(addr, "postfix", "dane.example").await;
    assert!(
        reply.starts_with("TEMP DANE state of dane.example unknown:")
            && reply.contains("DNSSEC validation failed"),
        "{reply}"
    );
    // The MTA-STS policy itself is fine and still fetched (DANE-8): a zone without DANE gets it.
    assert_eq!(query(addr, "plain", "dane.example").await, SECURE);
    daemon.shutdown().await;

    let dns = signed().start().await.unwrap();
    dns.set_behavior("_25._tcp.mx2.dane.example", DnsBehavior::ServFail);
    let daemon = start(&kit, &dns, DANE_ON).await;
    let reply = query(daemon.addr.unwrap(), "postfix", "dane.example").await;
    assert!(
        reply.starts_with("TEMP DANE state of dane.example unknown:"),
        "{reply}"
    );
    daemon.shutdown().await;

    dns.set_behavior("_25._tcp.mx2.dane.example", DnsBehavior::NoResponse);
    let daemon = start(
        &kit,
        &dns,
        &format!("{DANE_ON}\n").replace("default_zone:\n", "default_zone:\n  timeout: 1\n"),
    )
    .await;
    let reply = query(daemon.addr.unwrap(), "postfix", "dane.example").await;
    assert!(
        reply.starts_with("TEMP DANE state of dane.example unknown:"),
        "{reply}"
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_off_by_default_leaves_the_answers_and_asks_no_tlsa() {
    let kit = Kit::start().await;
    let dns = signed()
        .tlsa("_25._tcp.mx2.dane.example", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, "").await;
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "dane.example").await,
        SECURE
    );
    assert_eq!(dns.query_count("_25._tcp.mail.dane.example"), 0);
    assert_eq!(dns.query_count("dane.example"), 0, "no MX lookup either");
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_9_state_follows_the_dns_ttl() {
    let kit = Kit::start().await;
    let dns = signed()
        .ttl(1)
        .tlsa("_25._tcp.mx2.dane.example", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    let addr = daemon.addr.unwrap();
    assert_eq!(query(addr, "postfix", "dane.example").await, "OK dane-only");
    let tlsa_queries = dns.query_count("_25._tcp.mail.dane.example");
    assert_eq!(query(addr, "postfix", "dane.example").await, "OK dane-only");
    assert_eq!(
        dns.query_count("_25._tcp.mail.dane.example"),
        tlsa_queries,
        "answered from the cached state within the TTL"
    );
    // The domain withdraws every TLSA record: once the TTL has passed, MTA-STS answers again.
    dns.replace_tlsa("_25._tcp.mail.dane.example", &[]);
    dns.replace_tlsa("_25._tcp.mx2.dane.example", &[]);
    let reply = eventually(Duration::from_secs(10), || async {
        let reply = query(addr, "postfix", "dane.example").await;
        (reply == SECURE).then_some(reply)
    })
    .await;
    assert!(reply.is_some(), "the DANE state expires with its TTL");
    daemon.shutdown().await;
}

/// `dns.trust_ad`: no validation in process, the local validating resolver's AD bit decides.
#[tokio::test(flavor = "multi_thread")]
async fn dane_2_trust_ad_of_a_local_validating_resolver_is_dane_only() {
    let kit = Kit::start().await;
    let dns = signed()
        .validating_resolver(true)
        .tlsa("_25._tcp.mx2.dane.example", 2, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    kit.host("dane.example", CertKind::Valid, Response::policy(POLICY));
    let yaml = format!(
        "{DANE_ON}\ndns:\n  nameservers: ['{}']\n  trust_ad: true\n",
        dns.addr()
    );
    let config = Config::parse(&yaml, "dane.yml").unwrap().0;
    let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let daemon = kit.run(config, listener);
    assert_eq!(
        query(daemon.addr.unwrap(), "postfix", "dane.example").await,
        "OK dane-only"
    );
    daemon.shutdown().await;
}

/// Postfix's own socketmap client reads the DANE answer. Needs Postfix (scripts/test.sh installs
/// it).
#[tokio::test(flavor = "multi_thread")]
async fn dane_2_postmap_reads_dane_only() {
    let postmap = crate::postmap();
    let kit = Kit::start().await;
    let dns = signed()
        .tlsa("_25._tcp.mx2.dane.example", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let daemon = start(&kit, &dns, DANE_ON).await;
    let conf = temp_path("postfix-conf-dane");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("main.cf"), "").unwrap();
    let map = format!("socketmap:inet:{}:postfix", daemon.addr.unwrap());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(postmap)
            .arg("-c")
            .arg(&conf)
            .args(["-q", "dane.example", &map])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "dane-only");
    daemon.shutdown().await;
}

/// The control socket with DANE on: `show` reports the cached DANE state, `purge` drops it and
/// `refresh` looks it up afresh.
#[tokio::test(flavor = "multi_thread")]
async fn ctl_shows_purges_and_refreshes_the_dane_state() {
    use crate::control::{ctl, fresh_socket, purge, refresh, show};
    let kit = Kit::start().await;
    let dns = signed().start().await.unwrap();
    let socket = fresh_socket("dane-control.sock");
    let yaml = format!("{DANE_ON}control:\n  socket: {}\n", socket.display());
    let daemon = start(&kit, &dns, &yaml).await;
    let addr = daemon.addr.unwrap();
    assert_eq!(query(addr, "postfix", "dane.example").await, "OK dane");
    let (_, text) = ctl(&socket, show("dane.example"), false).await;
    assert!(
        text.contains("DANE:          dane: some MX hosts publish TLSA (")
            && text.contains(" s more)"),
        "{text}"
    );
    let (status, _) = ctl(&socket, purge(&["dane.example"]), false).await;
    assert_eq!(status, 0);
    let (_, text) = ctl(&socket, show("dane.example"), false).await;
    assert!(text.contains("DANE:          not looked up"), "{text}");
    let (status, text) = ctl(&socket, refresh("dane.example"), false).await;
    assert_eq!(status, 0, "{text}");
    assert!(
        text.contains("DANE:          dane: some MX hosts publish TLSA"),
        "{text}"
    );
    let (_, text) = ctl(&socket, show("dane.example"), false).await;
    assert!(
        text.contains("DANE:          dane: some MX hosts"),
        "{text}"
    );
    daemon.shutdown().await;
}
