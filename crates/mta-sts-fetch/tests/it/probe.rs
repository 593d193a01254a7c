use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mta_sts_fetch::{CertificateProblem, FetchError, HttpVersion, MxRecord, TlsProbe, TlsVersion};
use mta_sts_testkit::{CertKind, Response};
use tokio::net::TcpStream;

use crate::kit::{ENFORCE, Kit, at, d};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[tokio::test(flavor = "multi_thread")]
async fn fetch_from_one_address_reports_tls_and_http_details() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let (_, https) = kit.clients(Duration::from_secs(5));
    let attempt = https.fetch_from(&d("example.com"), LOCAL).await;
    assert_eq!(attempt.address.ip(), LOCAL);
    assert_eq!(attempt.address.port(), kit.https.addr().port());
    assert_eq!(attempt.result.unwrap(), ENFORCE.as_bytes());
    let tls = attempt.tls.unwrap();
    assert_eq!(tls.version, TlsVersion::Tls13);
    // rcgen's default notAfter is 4096-01-01.
    assert_eq!(tls.not_after, Some(at(67_090_118_400)));
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.content_type.as_deref(), Some("text/plain"));
    assert_eq!(attempt.http_version, Some(HttpVersion::Http2));

    // FETCH-3: a 404 still shows the TLS details and the status.
    kit.host("gone.example", CertKind::Valid, Response::status(404));
    let attempt = https.fetch_from(&d("gone.example"), LOCAL).await;
    assert!(matches!(attempt.result, Err(FetchError::Status(404))));
    assert!(attempt.tls.is_some());
    assert_eq!(attempt.status, Some(404));

    // FETCH-1: a failed handshake has no TLS details.
    kit.host(
        "expired.example",
        CertKind::Expired,
        Response::policy(ENFORCE),
    );
    let attempt = https.fetch_from(&d("expired.example"), LOCAL).await;
    assert!(attempt.tls.is_none());
    assert!(matches!(
        attempt.result,
        Err(FetchError::Certificate {
            problem: CertificateProblem::Expired { .. },
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_probe_checks_the_name_over_any_stream() {
    let kit = Kit::start().await;
    let config = kit.config(Duration::from_secs(5));
    let probe = TlsProbe::new(&config).unwrap();
    kit.host("example.com", CertKind::Valid, Response::policy(ENFORCE));
    kit.host(
        "wrong.example",
        CertKind::WrongName,
        Response::policy(ENFORCE),
    );

    let tcp = TcpStream::connect(kit.https.addr()).await.unwrap();
    let details = probe.handshake("mta-sts.example.com", tcp).await.unwrap();
    assert_eq!(details.version, TlsVersion::Tls13);

    // MATCH-7: the presented names are shown plainly.
    let tcp = TcpStream::connect(kit.https.addr()).await.unwrap();
    let error = probe
        .handshake("mta-sts.wrong.example", tcp)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "tls: certificate for mta-sts.wrong.example is for other.invalid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mx_records_and_cname_chains() {
    let kit = Kit::start().await;
    let (dns, _) = kit.clients(Duration::from_secs(5));
    kit.dns.add_mx("example.com", 20, "MX2.example.net.");
    kit.dns.add_mx("example.com", 10, "mx1.example.com");
    let mx = dns.mx("example.com").await.unwrap();
    let names: Vec<(u16, &str)> = mx
        .iter()
        .map(|r: &MxRecord| (r.preference, r.exchange.as_str()))
        .collect();
    assert_eq!(names, [(10, "mx1.example.com"), (20, "mx2.example.net")]);
    assert!(dns.mx("nothing.example").await.unwrap().is_empty());

    // TXT-11: the chain is followed link by link, and loops stop.
    kit.dns
        .add_cname("_mta-sts.user.example", "_mta-sts.middle.example");
    kit.dns
        .add_cname("_mta-sts.middle.example", "_mta-sts.provider.example");
    kit.dns
        .add_txt("_mta-sts.provider.example", &[b"v=STSv1; id=p1"]);
    assert_eq!(
        dns.cname_chain("_mta-sts.user.example").await.unwrap(),
        ["_mta-sts.middle.example", "_mta-sts.provider.example"]
    );
    assert!(
        dns.cname_chain("_mta-sts.provider.example")
            .await
            .unwrap()
            .is_empty()
    );
    kit.dns.add_cname("loop1.example", "loop2.example");
    kit.dns.add_cname("loop2.example", "loop1.example");
    assert_eq!(
        dns.cname_chain("loop1.example").await.unwrap(),
        ["loop2.example"]
    );
}
