use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mta_sts_fetch::{DnsError, FetchConfig, FetchError, Proxy, clients};
use mta_sts_testkit::{CertKind, DnsBehavior, Response, SilentServer, TestDns};

use mta_sts_resolver::TxtAnswer;

use crate::kit::{ENFORCE, Kit, d};

const DEADLINE: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_millis(1500);

/// Runs `f`, asserting it ends within the deadline plus a margin.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = f.await;
    assert!(
        started.elapsed() < DEADLINE + MARGIN,
        "took {:?}",
        started.elapsed()
    );
    out
}

#[tokio::test]
async fn fetch_8_trickling_body_fails_at_the_deadline() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(DEADLINE);
    let trickle = Response {
        trickle: Some((1, Duration::from_millis(200))),
        ..Response::policy(ENFORCE)
    };
    kit.host("slow.example", CertKind::Valid, trickle);
    let err = bounded(https.fetch(&d("slow.example"))).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Timeout(d) if d == DEADLINE),
        "{err}"
    );
    assert_eq!(err.to_string(), "timeout: no complete policy within 2.0 s");
}

#[tokio::test]
async fn server_that_never_answers() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(DEADLINE);
    kit.host(
        "hang.example",
        CertKind::Valid,
        Response {
            hang: true,
            ..Response::policy(ENFORCE)
        },
    );
    assert!(matches!(
        bounded(https.fetch(&d("hang.example"))).await,
        Err(FetchError::Timeout(_))
    ));
    kit.host(
        "late.example",
        CertKind::Valid,
        Response {
            delay: Duration::from_secs(30),
            ..Response::policy(ENFORCE)
        },
    );
    assert!(matches!(
        bounded(https.fetch(&d("late.example"))).await,
        Err(FetchError::Timeout(_))
    ));
}

#[tokio::test]
async fn port_that_accepts_and_never_speaks() {
    let kit = Kit::start().await;
    let silent = SilentServer::start().await.unwrap();
    let config = kit.config(DEADLINE).with_https_port(silent.addr().port());
    let (_, https) = clients(&config).unwrap();
    kit.dns.add_a("mta-sts.silent.example", Ipv4Addr::LOCALHOST);
    assert!(matches!(
        bounded(https.fetch(&d("silent.example"))).await,
        Err(FetchError::Timeout(_))
    ));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let kit = Kit::start().await;
    // Bind and drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, https) = clients(&kit.config(DEADLINE).with_https_port(port)).unwrap();
    kit.dns.add_a("mta-sts.closed.example", Ipv4Addr::LOCALHOST);
    let err = bounded(https.fetch(&d("closed.example")))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn dns_servfail_refused_and_silence() {
    let kit = Kit::start().await;
    let (dns, https) = kit.clients(DEADLINE);
    kit.dns
        .add_txt("_mta-sts.fail.example", &[b"v=STSv1; id=a"]);
    kit.dns
        .set_behavior("_mta-sts.fail.example", DnsBehavior::ServFail);
    let err = bounded(dns.txt("_mta-sts.fail.example")).await.unwrap_err();
    assert!(matches!(err, DnsError::Response { .. }), "{err}");
    kit.dns
        .set_behavior("_mta-sts.fail.example", DnsBehavior::Refused);
    assert!(bounded(dns.txt("_mta-sts.fail.example")).await.is_err());
    kit.dns
        .set_behavior("_mta-sts.fail.example", DnsBehavior::NoResponse);
    let err = bounded(dns.txt("_mta-sts.fail.example")).await.unwrap_err();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err}");
    // NXDOMAIN and NODATA are answers, not errors, and told apart.
    assert_eq!(
        dns.txt("_mta-sts.nothing.example").await.unwrap(),
        TxtAnswer::NoSuchName
    );
    kit.dns.add_a("nodata.example", Ipv4Addr::LOCALHOST);
    assert_eq!(
        dns.txt("nodata.example").await.unwrap(),
        TxtAnswer::NoRecords
    );
    // The policy host does not resolve.
    let err = bounded(https.fetch(&d("nohost.example")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Dns(DnsError::NoAddress { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn dns_server_that_never_answers_anything() {
    let dns_server = TestDns::start().await.unwrap();
    dns_server.set_behavior("_mta-sts.example.com", DnsBehavior::NoResponse);
    dns_server.set_behavior("mta-sts.example.com", DnsBehavior::NoResponse);
    let config = FetchConfig::default()
        .with_nameservers(vec![dns_server.addr()])
        .with_timeout(DEADLINE)
        .with_proxy(Proxy::None);
    let (dns, https) = clients(&config).unwrap();
    let err = bounded(dns.txt("_mta-sts.example.com")).await.unwrap_err();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err}");
    let err = bounded(https.fetch(&d("example.com"))).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Timeout(_) | FetchError::Dns(DnsError::Timeout { .. })
        ),
        "{err}"
    );
}
