use std::time::Duration;

use mta_sts_fetch::{CertificateProblem, FetchError};
use mta_sts_resolver::{FetchFailure, ResultType};
use mta_sts_testkit::{CertKind, Response};

use crate::kit::{ENFORCE, Kit, d};

const T: Duration = Duration::from_secs(5);

fn with_type(content_type: &str) -> Response {
    Response {
        headers: vec![("Content-Type".into(), content_type.into())],
        ..Response::policy(ENFORCE)
    }
}

#[tokio::test]
async fn fetch_1_certificate_checks() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    for (domain, cert) in [
        ("valid.example", CertKind::Valid),
        ("wild.example", CertKind::Wildcard),
    ] {
        kit.host(domain, cert, Response::policy(ENFORCE));
        assert_eq!(
            https.fetch(&d(domain)).await.unwrap(),
            ENFORCE.as_bytes(),
            "{cert:?}"
        );
    }
    let refused = [
        ("name.example", CertKind::WrongName),
        ("expired.example", CertKind::Expired),
        ("future.example", CertKind::NotYetValid),
        ("unknown.example", CertKind::UnknownCa),
        ("self.example", CertKind::SelfSigned),
    ];
    for (domain, cert) in refused {
        kit.host(domain, cert, Response::policy(ENFORCE));
        let err = https.fetch(&d(domain)).await.unwrap_err();
        assert!(err.is_certificate(), "{cert:?}: {err}");
        assert_eq!(err.result_type(), ResultType::StsWebpkiInvalid);
        assert_eq!(
            kit.requests(domain),
            0,
            "no request is sent over an unverified connection"
        );
    }
    let err = https.fetch(&d("expired.example")).await.unwrap_err();
    let FetchError::Certificate {
        problem: CertificateProblem::Expired { .. },
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(
        err.to_string()
            .starts_with("tls: certificate for mta-sts.expired.example expired 20"),
        "{err}"
    );
    let err = https.fetch(&d("name.example")).await.unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Certificate {
                problem: CertificateProblem::WrongName { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn fetch_3_status_200_only_and_no_redirects() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    kit.host("target.example", CertKind::Valid, Response::policy(ENFORCE));
    for code in [301u16, 302, 307, 308] {
        let redirect = Response {
            headers: vec![(
                "Location".into(),
                "https://mta-sts.target.example/.well-known/mta-sts.txt".into(),
            )],
            ..Response::status(code)
        };
        kit.host("moved.example", CertKind::Valid, redirect);
        let err = https.fetch(&d("moved.example")).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Redirect { status, .. } if status == code),
            "{err}"
        );
        assert!(err.to_string().contains("redirects are not followed"));
    }
    assert_eq!(
        kit.requests("target.example"),
        0,
        "Location is never requested"
    );
    for code in [203u16, 204, 304, 404, 500] {
        let body = Response {
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: ENFORCE.into(),
            ..Response::status(code)
        };
        let body = if code == 204 || code == 304 {
            Response::status(code)
        } else {
            body
        };
        kit.host("status.example", CertKind::Valid, body);
        let err = https.fetch(&d("status.example")).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Status(c) if c == code),
            "{code}: {err}"
        );
        assert_eq!(err.result_type(), ResultType::StsPolicyFetchError);
    }
}

#[tokio::test]
async fn fetch_4_no_http_caching() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    kit.host("example.com", CertKind::Valid, Response::policy(ENFORCE));
    https.fetch(&d("example.com")).await.unwrap();
    https.fetch(&d("example.com")).await.unwrap();
    let requests = kit.https.requests("mta-sts.example.com");
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/.well-known/mta-sts.txt");
        assert!(r.header("if-none-match").is_none() && r.header("if-modified-since").is_none());
        assert!(
            r.header("user-agent")
                .is_some_and(|ua| ua.starts_with("mta-sts-rs/"))
        );
    }
}

#[tokio::test]
async fn fetch_5_media_type() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    for ok in [
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain;charset=US-ASCII; foo=bar",
        "Text/Plain",
    ] {
        kit.host("example.com", CertKind::Valid, with_type(ok));
        assert!(https.fetch(&d("example.com")).await.is_ok(), "{ok}");
    }
    kit.host("example.com", CertKind::Valid, with_type("text/html"));
    let err = https.fetch(&d("example.com")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "http: Content-Type \"text/html\", expected text/plain"
    );
    kit.host(
        "example.com",
        CertKind::Valid,
        Response {
            headers: vec![],
            ..Response::policy(ENFORCE)
        },
    );
    assert!(matches!(
        https.fetch(&d("example.com")).await.unwrap_err(),
        FetchError::ContentType(None)
    ));
}

#[tokio::test]
async fn fetch_6_sni_is_the_policy_host_and_dns_is_ours() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    kit.host("example.com", CertKind::Valid, Response::policy(ENFORCE));
    https.fetch(&d("example.com")).await.unwrap();
    let r = &kit.https.requests("mta-sts.example.com")[0];
    assert_eq!(r.sni.as_deref(), Some("mta-sts.example.com"));
    assert!(
        kit.dns.query_count("mta-sts.example.com") > 0,
        "the policy host is resolved through our DNS client"
    );
    // HTTP/2 is negotiated by ALPN: the test server offers both.
    assert_eq!(r.http_version, "HTTP/2.0");
}

#[tokio::test]
async fn fetch_8_size_limits() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    let mut big = ENFORCE.to_owned();
    while big.len() < 65_537 {
        big.push_str("x: y\r\n");
    }
    big.truncate(65_537);
    kit.host("static.example", CertKind::Valid, Response::policy(&big));
    assert!(matches!(
        https.fetch(&d("static.example")).await.unwrap_err(),
        FetchError::TooLarge { limit: 65_536 }
    ));
    kit.host(
        "chunked.example",
        CertKind::Valid,
        Response {
            chunked: true,
            ..Response::policy(&big)
        },
    );
    assert!(matches!(
        https.fetch(&d("chunked.example")).await.unwrap_err(),
        FetchError::TooLarge { limit: 65_536 }
    ));
    kit.host(
        "huge.example",
        CertKind::Valid,
        Response {
            content_length: Some(10_000_000),
            ..Response::policy(ENFORCE)
        },
    );
    let started = std::time::Instant::now();
    let err = https.fetch(&d("huge.example")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    assert!(
        started.elapsed() < T,
        "refused from the header, without waiting for the body"
    );
    // Exactly at the limit is fine.
    let mut exact = big.clone();
    exact.truncate(65_536);
    kit.host("exact.example", CertKind::Valid, Response::policy(&exact));
    assert_eq!(
        https.fetch(&d("exact.example")).await.unwrap().len(),
        65_536
    );
}

#[tokio::test]
async fn policy_host_via_cname() {
    let kit = Kit::start().await;
    let (_, https) = kit.clients(T);
    kit.host(
        "provider.example",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    // mta-sts.user.example is a CNAME to the provider's host, which must still present a certificate
    // for mta-sts.user.example (RFC 8461 §8.2).
    kit.dns
        .add_cname("mta-sts.user.example", "mta-sts.provider.example");
    kit.https.set_host(
        "mta-sts.user.example",
        mta_sts_testkit::HostConfig::valid(Response::policy(ENFORCE)),
    );
    assert_eq!(
        https.fetch(&d("user.example")).await.unwrap(),
        ENFORCE.as_bytes()
    );
    assert_eq!(
        kit.https.requests("mta-sts.user.example")[0].sni.as_deref(),
        Some("mta-sts.user.example")
    );
}

/// The same checks over HTTP/1.1 (ALPN without h2): chunked bodies, Content-Length, redirects.
#[tokio::test]
async fn http1_path() {
    let kit = Kit::start().await;
    let (_, https) = mta_sts_fetch::clients(&kit.config(T).with_http2(false)).unwrap();
    kit.host("example.com", CertKind::Valid, Response::policy(ENFORCE));
    assert_eq!(
        https.fetch(&d("example.com")).await.unwrap(),
        ENFORCE.as_bytes()
    );
    let r = &kit.https.requests("mta-sts.example.com")[0];
    assert_eq!(r.http_version, "HTTP/1.1");
    assert_eq!(r.header("host"), Some("mta-sts.example.com"));
    kit.host(
        "chunked.example",
        CertKind::Valid,
        Response {
            chunked: true,
            ..Response::policy(ENFORCE)
        },
    );
    assert_eq!(
        https.fetch(&d("chunked.example")).await.unwrap(),
        ENFORCE.as_bytes()
    );
    let big = "x".repeat(65_537);
    kit.host(
        "big.example",
        CertKind::Valid,
        Response {
            chunked: true,
            ..Response::policy(&big)
        },
    );
    assert!(matches!(
        https.fetch(&d("big.example")).await.unwrap_err(),
        FetchError::TooLarge { .. }
    ));
    kit.host(
        "huge.example",
        CertKind::Valid,
        Response {
            content_length: Some(10_000_000),
            ..Response::policy(ENFORCE)
        },
    );
    assert!(matches!(
        https.fetch(&d("huge.example")).await.unwrap_err(),
        FetchError::TooLarge { .. }
    ));
    kit.host("moved.example", CertKind::Valid, Response::status(302));
    assert!(matches!(
        https.fetch(&d("moved.example")).await.unwrap_err(),
        FetchError::Redirect { status: 302, .. }
    ));
    let trickle = Response {
        trickle: Some((1, Duration::from_millis(100))),
        ..Response::policy(ENFORCE)
    };
    kit.host("slow.example", CertKind::Valid, trickle);
    let (_, short) =
        mta_sts_fetch::clients(&kit.config(Duration::from_secs(1)).with_http2(false)).unwrap();
    assert!(matches!(
        short.fetch(&d("slow.example")).await.unwrap_err(),
        FetchError::Timeout(_)
    ));
}
