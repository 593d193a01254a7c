use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mta_sts_fetch::{FetchError, Proxy, clients};
use mta_sts_testkit::{CertKind, Response};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::kit::{ENFORCE, Kit};

/// A minimal CONNECT proxy on loopback that tunnels every request to `target` and counts tunnels.
async fn connect_proxy(
    target: std::net::SocketAddr,
    answer: &'static str,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut line = String::new();
                client.read_line(&mut line).await.unwrap();
                assert!(line.starts_with("CONNECT mta-sts."), "{line}");
                loop {
                    let mut header = String::new();
                    client.read_line(&mut header).await.unwrap();
                    if header == "\r\n" {
                        break;
                    }
                }
                let mut client = client.into_inner();
                client.write_all(answer.as_bytes()).await.unwrap();
                if answer.contains(" 200 ") {
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut upstream = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn https_through_a_connect_proxy_with_certificate_checks_unchanged() {
    let kit = Kit::start().await;
    let (proxy, tunnels) = connect_proxy(
        kit.https.addr(),
        "HTTP/1.1 200 Connection established\r\n\r\n",
    )
    .await;
    let config = kit.config(Duration::from_secs(5)).with_proxy(Proxy::Url {
        url: format!("http://{proxy}"),
        no_proxy: "direct.example".into(),
    });
    let (_, https) = clients(&config).unwrap();
    // The policy host need not resolve locally: the proxy connects.
    kit.https.set_host(
        "mta-sts.proxied.example",
        mta_sts_testkit::HostConfig::valid(Response::policy(ENFORCE)),
    );
    assert_eq!(
        https.fetch("proxied.example").await.unwrap(),
        ENFORCE.as_bytes()
    );
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    kit.https.set_host(
        "mta-sts.badcert.example",
        mta_sts_testkit::HostConfig {
            cert: CertKind::Expired,
            response: Response::policy(ENFORCE),
        },
    );
    assert!(
        https
            .fetch("badcert.example")
            .await
            .unwrap_err()
            .is_certificate()
    );
    // NO_PROXY hosts are reached directly.
    kit.host("direct.example", CertKind::Valid, Response::policy(ENFORCE));
    https.fetch("direct.example").await.unwrap();
    assert_eq!(tunnels.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn proxy_refusal_is_reported() {
    let kit = Kit::start().await;
    let (proxy, _) = connect_proxy(kit.https.addr(), "HTTP/1.1 403 Forbidden\r\n\r\n").await;
    let config = kit.config(Duration::from_secs(5)).with_proxy(Proxy::Url {
        url: format!("http://{proxy}"),
        no_proxy: String::new(),
    });
    let (_, https) = clients(&config).unwrap();
    let err = https.fetch("example.com").await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Proxy(m) if m.contains("403 Forbidden")),
        "{err}"
    );
}
