use std::future::{Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mta_sts_testkit::{CertKind, HostConfig, PolicyServer, Response, SilentServer, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n";

/// A rustls client that trusts only `ca`, read from its PEM as a fetcher would.
fn client_config(ca: &TestCa, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

async fn tls_connect(
    server: SocketAddr,
    ca: &TestCa,
    host: &str,
) -> io::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(Arc::new(client_config(ca, &[b"http/1.1"])));
    let tcp = TcpStream::connect(server).await?;
    let name = ServerName::try_from(host.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

/// One HTTP/1.1 GET over a fresh TLS connection.
async fn get_http1(
    server: SocketAddr,
    ca: &TestCa,
    host: &str,
) -> hyper::Result<hyper::Response<Incoming>> {
    let tls = tls_connect(server, ca, host).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("/.well-known/mta-sts.txt")
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await
}

/// hyper-util's DNS step, sending every name to the policy server.
#[derive(Clone)]
struct ToServer(SocketAddr);

impl tower_service::Service<Name> for ToServer {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Ready<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        ready(Ok(vec![self.0].into_iter()))
    }
}

#[tokio::test]
async fn policy_over_http2_with_the_legacy_client() {
    let ca = TestCa::new();
    let server = PolicyServer::start(&ca).await.unwrap();
    server.set_host(
        "MTA-STS.example.com.",
        HostConfig::valid(Response::policy(POLICY)),
    );

    let mut http = HttpConnector::new_with_resolver(ToServer(server.addr()));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config(&ca, &[]))
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let uri = format!(
        "https://mta-sts.example.com:{}/.well-known/mta-sts.txt",
        server.addr().port()
    );
    let response = client.get(uri.parse().unwrap()).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/plain");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, POLICY.as_bytes());

    let requests = server.requests("mta-sts.example.com");
    let [request] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/.well-known/mta-sts.txt");
    assert_eq!(request.sni.as_deref(), Some("mta-sts.example.com"));
    assert_eq!(request.http_version, "HTTP/2.0");
    let authority = format!("mta-sts.example.com:{}", server.addr().port());
    assert_eq!(request.header(":authority"), Some(authority.as_str()));
}

#[tokio::test]
async fn http1_chunked_trickle_redirect_and_short_body() {
    let ca = TestCa::new();
    let server = PolicyServer::start(&ca).await.unwrap();
    let host = "mta-sts.example.com";
    server.set_host(
        host,
        HostConfig::valid(Response {
            chunked: true,
            trickle: Some((7, Duration::from_millis(2))),
            ..Response::policy(POLICY)
        }),
    );
    let response = get_http1(server.addr(), &ca, host).await.unwrap();
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    assert!(!response.headers().contains_key("content-length"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, POLICY.as_bytes());

    let location = "https://elsewhere.example/.well-known/mta-sts.txt";
    server.set_host(
        host,
        HostConfig::valid(Response {
            headers: vec![("Location".into(), location.into())],
            ..Response::status(301)
        }),
    );
    let response = get_http1(server.addr(), &ca, host).await.unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(response.headers()["location"], location);
    assert_eq!(response.headers()["content-length"], "0");

    server.set_host(
        host,
        HostConfig::valid(Response {
            content_length: Some(10_000_000),
            ..Response::policy(POLICY)
        }),
    );
    let response = get_http1(server.addr(), &ca, host).await.unwrap();
    assert_eq!(response.headers()["content-length"], "10000000");
    assert!(response.into_body().collect().await.is_err());

    let requests = server.requests(host);
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.http_version == "HTTP/1.1"));
    assert_eq!(requests[0].header("Host"), Some(host));
    assert_eq!(requests[0].sni.as_deref(), Some(host));
}

#[tokio::test]
async fn certificate_kinds_and_unknown_sni() {
    let ca = TestCa::new();
    let server = PolicyServer::start(&ca).await.unwrap();
    let cases = [
        (CertKind::Valid, None),
        (CertKind::Wildcard, None),
        (CertKind::UnknownCa, Some("UnknownIssuer")),
        (CertKind::SelfSigned, Some("UnknownIssuer")),
        (CertKind::WrongName, Some("NotValidForName")),
        (CertKind::Expired, Some("Expired")),
        (CertKind::NotYetValid, Some("NotValidYet")),
    ];
    for (kind, expected) in cases {
        let host = format!("mta-sts.{kind:?}.example").to_ascii_lowercase();
        server.set_host(
            &host,
            HostConfig {
                cert: kind,
                response: Response::policy(POLICY),
            },
        );
        let result = tls_connect(server.addr(), &ca, &host).await;
        match (expected, result) {
            (None, Ok(_)) => {}
            (Some(expected), Err(error)) => {
                let rustls_error = error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
                    .unwrap_or_else(|| panic!("{kind:?}: not a rustls error: {error}"));
                let debug = format!("{rustls_error:?}");
                assert!(debug.contains(expected), "{kind:?}: {debug}");
            }
            (expected, result) => panic!("{kind:?}: expected {expected:?}, got {result:?}"),
        }
    }
    assert!(
        tls_connect(server.addr(), &ca, "unknown.example")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn delay_hang_and_silent_server() {
    let ca = TestCa::new();
    let server = PolicyServer::start(&ca).await.unwrap();

    server.set_host(
        "slow.example",
        HostConfig::valid(Response {
            delay: Duration::from_millis(150),
            ..Response::policy(POLICY)
        }),
    );
    let started = Instant::now();
    let response = get_http1(server.addr(), &ca, "slow.example").await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    server.set_host(
        "hang.example",
        HostConfig::valid(Response {
            hang: true,
            ..Response::policy(POLICY)
        }),
    );
    let hung = tokio::time::timeout(
        Duration::from_millis(200),
        get_http1(server.addr(), &ca, "hang.example"),
    )
    .await;
    assert!(hung.is_err(), "{hung:?}");
    assert_eq!(server.requests("hang.example").len(), 1);

    let silent = SilentServer::start().await.unwrap();
    let handshake = tokio::time::timeout(
        Duration::from_millis(200),
        tls_connect(silent.addr(), &ca, "mta-sts.example.com"),
    )
    .await;
    assert!(handshake.is_err(), "{handshake:?}");
}

#[tokio::test]
async fn pattern_hosts_get_a_certificate_at_first_handshake_and_keep_it() {
    let ca = TestCa::new();
    // Another loopback address than the default, as a server on port 443 would use.
    let server = PolicyServer::start_on(&ca, "127.0.0.3:0".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(server.addr().ip(), std::net::Ipv4Addr::new(127, 0, 0, 3));
    server.set_host_pattern(
        "MTA-STS.*.cold.example",
        HostConfig::valid(Response::policy(POLICY)),
    );
    server.set_host(
        "mta-sts.d7.cold.example",
        HostConfig::valid(Response::status(404)),
    );
    assert_eq!(server.host_count(), 1);

    let mut first_certs = Vec::new();
    for host in ["mta-sts.d1.cold.example", "mta-sts.d2.cold.example"] {
        let tls = tls_connect(server.addr(), &ca, host).await.unwrap();
        first_certs.push(tls.get_ref().1.peer_certificates().unwrap()[0].clone());
        let response = get_http1(server.addr(), &ca, host).await.unwrap();
        assert_eq!(response.status(), 200, "{host}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, POLICY.as_bytes());
    }
    assert_ne!(first_certs[0], first_certs[1]);
    assert_eq!(server.host_count(), 3);
    // The second handshake for a name gets the certificate issued at the first.
    let again = tls_connect(server.addr(), &ca, "mta-sts.d1.cold.example")
        .await
        .unwrap();
    assert_eq!(
        again.get_ref().1.peer_certificates().unwrap()[0],
        first_certs[0]
    );
    assert_eq!(server.host_count(), 3);

    let exact = get_http1(server.addr(), &ca, "mta-sts.d7.cold.example")
        .await
        .unwrap();
    assert_eq!(exact.status(), 404);
    for unmatched in ["mta-sts.a.b.cold.example", "mta-sts.d1.other.example"] {
        assert!(tls_connect(server.addr(), &ca, unmatched).await.is_err());
    }
    assert_eq!(server.requests("mta-sts.d1.cold.example").len(), 1);
}
