use std::net::Ipv4Addr;
use std::time::Duration;

use mta_sts_fetch::{FetchError, clients};
use mta_sts_resolver::{FetchFailure, ResultType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::kit::{Kit, d};

/// The protocol versions offered in a ClientHello's supported_versions extension (RFC 8446 §4.2.1).
fn offered_versions(hello: &[u8]) -> Vec<u16> {
    // record header (5), handshake header (4), legacy_version (2), random (32)
    let mut i = 5 + 4 + 2 + 32;
    let session_id = usize::from(hello[i]);
    i += 1 + session_id;
    let suites = usize::from(u16::from_be_bytes([hello[i], hello[i + 1]]));
    i += 2 + suites;
    let compression = usize::from(hello[i]);
    i += 1 + compression;
    let end = i + 2 + usize::from(u16::from_be_bytes([hello[i], hello[i + 1]]));
    i += 2;
    while i + 4 <= end {
        let kind = u16::from_be_bytes([hello[i], hello[i + 1]]);
        let len = usize::from(u16::from_be_bytes([hello[i + 2], hello[i + 3]]));
        let data = &hello[i + 4..i + 4 + len];
        if kind == 0x002b {
            return data[1..]
                .chunks(2)
                .map(|v| u16::from_be_bytes([v[0], v[1]]))
                .collect();
        }
        i += 4 + len;
    }
    Vec::new()
}

/// FETCH-7: TLS 1.2 or later only. A server that speaks only TLS 1.0 answers our ClientHello with a
/// protocol_version alert, as OpenSSL does; the fetch fails, and our hello never offered 1.0 or 1.1.
#[tokio::test]
async fn fetch_7_tls_1_0_only_server_is_refused() {
    let kit = Kit::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut hello = vec![0u8; 5];
        stream.read_exact(&mut hello).await.unwrap();
        let len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        hello.resize(5 + len, 0);
        stream.read_exact(&mut hello[5..]).await.unwrap();
        // Alert record, TLS 1.0, fatal (2), protocol_version (70).
        stream
            .write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46])
            .await
            .unwrap();
        hello
    });
    kit.dns.add_a("mta-sts.old.example", Ipv4Addr::LOCALHOST);
    let (_, https) = clients(&kit.config(Duration::from_secs(3)).with_https_port(port)).unwrap();
    let err = https.fetch(&d("old.example")).await.unwrap_err();
    assert!(matches!(err, FetchError::Tls { .. }), "{err}");
    assert_eq!(err.result_type(), ResultType::StsPolicyFetchError);
    let hello = server.await.unwrap();
    let mut versions = offered_versions(&hello);
    versions.sort_unstable();
    assert_eq!(
        versions,
        [0x0303, 0x0304],
        "only TLS 1.2 and 1.3 are offered"
    );
}
