use std::sync::Arc;

use mta_sts_testkit::{CertKind, SmtpBehavior, SmtpServer, TestCa};
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn reply(reader: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_owned());
        if last {
            return lines;
        }
    }
}

fn connector(ca: &TestCa) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn starttls_with_a_certificate_for_the_sni_name() {
    let ca = TestCa::new();
    let server = SmtpServer::start(&ca, SmtpBehavior::default())
        .await
        .unwrap();
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    assert!(reply(&mut reader).await[0].starts_with("220 "));
    reader
        .get_mut()
        .write_all(b"EHLO client.example\r\n")
        .await
        .unwrap();
    let ehlo = reply(&mut reader).await;
    assert!(ehlo.contains(&"250-STARTTLS".to_owned()), "{ehlo:?}");
    reader.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    assert!(reply(&mut reader).await[0].starts_with("220 "));
    let name = ServerName::try_from("mx1.example.com").unwrap();
    let mut tls = connector(&ca)
        .connect(name, reader.into_inner())
        .await
        .unwrap();
    tls.write_all(b"QUIT\r\n").await.unwrap();
    tls.flush().await.unwrap();
    let mut rest = String::new();
    let _ = BufReader::new(tls).read_line(&mut rest).await;
    assert!(rest.starts_with("221 "), "{rest:?}");
    // The session is recorded as the server's side ends, just after it sent 221.
    let sessions = mta_sts_testkit::eventually(std::time::Duration::from_secs(5), || {
        let sessions = server.sessions();
        std::future::ready((!sessions.is_empty()).then_some(sessions))
    })
    .await
    .expect("the session was recorded");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ehlo.as_deref(), Some("client.example"));
    assert_eq!(sessions[0].sni.as_deref(), Some("mx1.example.com"));
    assert!(sessions[0].tls);
}

#[tokio::test]
async fn starttls_refused_and_wrong_certificates() {
    let ca = TestCa::new();
    let server = SmtpServer::start(
        &ca,
        SmtpBehavior {
            starttls: false,
            ..SmtpBehavior::default()
        },
    )
    .await
    .unwrap();
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    reply(&mut reader).await;
    reader
        .get_mut()
        .write_all(b"EHLO client.example\r\n")
        .await
        .unwrap();
    let ehlo = reply(&mut reader).await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    reader.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    assert!(reply(&mut reader).await[0].starts_with("502 "));

    server.set_behavior(SmtpBehavior {
        cert: CertKind::WrongName,
        starttls: true,
    });
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    reply(&mut reader).await;
    reader
        .get_mut()
        .write_all(b"EHLO c\r\nSTARTTLS\r\n")
        .await
        .unwrap();
    reply(&mut reader).await;
    reply(&mut reader).await;
    let name = ServerName::try_from("mx1.example.com").unwrap();
    let error = connector(&ca)
        .connect(name, reader.into_inner())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
}
