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

/// TLSA records are built from `certificate_chain` before any client connects; the handshake
/// must then present exactly that chain.
#[tokio::test]
async fn certificate_chain_is_known_before_the_handshake() {
    let ca = TestCa::new();
    let server = SmtpServer::start(&ca, SmtpBehavior::default())
        .await
        .unwrap();
    let chain = server.certificate_chain("MX1.example.com.");
    assert_eq!(chain.len(), 2, "the leaf, then its issuer");
    assert_eq!(chain[1], ca.cert_der());
    assert_eq!(server.certificate_chain("mx1.example.com"), chain);

    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    reply(&mut reader).await;
    reader.get_mut().write_all(b"EHLO c\r\n").await.unwrap();
    reply(&mut reader).await;
    reader.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    reply(&mut reader).await;
    let name = ServerName::try_from("mx1.example.com").unwrap();
    let tls = connector(&ca)
        .connect(name, reader.into_inner())
        .await
        .unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap().to_vec();
    assert_eq!(presented, chain);
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

#[tokio::test]
async fn pipelined_transaction_in_plaintext_is_recorded_dot_unstuffed() {
    let ca = TestCa::new();
    let server = SmtpServer::start(&ca, SmtpBehavior::default())
        .await
        .unwrap();
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    reply(&mut reader).await;
    reader
        .get_mut()
        .write_all(b"RCPT TO:<early@example.net>\r\nDATA\r\nEHLO client.example\r\n")
        .await
        .unwrap();
    assert!(reply(&mut reader).await[0].starts_with("503 "));
    assert!(reply(&mut reader).await[0].starts_with("503 "));
    let ehlo = reply(&mut reader).await;
    assert!(ehlo.contains(&"250-PIPELINING".to_owned()), "{ehlo:?}");
    // RFC 2920: the envelope in one write, the answers in order.
    reader
        .get_mut()
        .write_all(b"MAIL FROM:<a@example.org> SIZE=42\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net> NOTIFY=NEVER\r\nDATA\r\n")
        .await
        .unwrap();
    for code in ["250 ", "250 ", "250 ", "354 "] {
        let got = reply(&mut reader).await;
        assert!(got[0].starts_with(code), "{got:?}");
    }
    reader
        .get_mut()
        .write_all(b"Subject: t\r\n\r\n..leading dot\r\n.\r\n")
        .await
        .unwrap();
    assert!(reply(&mut reader).await[0].starts_with("250 "));
    reader.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    assert!(reply(&mut reader).await[0].starts_with("221 "));

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.mail_from, "a@example.org");
    assert_eq!(message.rcpt_to, ["b@example.net", "c@example.net"]);
    assert_eq!(message.data, b"Subject: t\r\n\r\n.leading dot\r\n");
    assert!(!message.tls);
    assert_eq!(message.sni, None);
    assert_eq!(message.ehlo.as_deref(), Some("client.example"));
}

#[tokio::test]
async fn transaction_after_starttls_records_tls_and_sni() {
    let ca = TestCa::new();
    let server = SmtpServer::start(&ca, SmtpBehavior::default())
        .await
        .unwrap();
    let mut reader = BufReader::new(TcpStream::connect(server.addr()).await.unwrap());
    reply(&mut reader).await;
    reader
        .get_mut()
        .write_all(b"EHLO c\r\nSTARTTLS\r\n")
        .await
        .unwrap();
    reply(&mut reader).await;
    assert!(reply(&mut reader).await[0].starts_with("220 "));
    let name = ServerName::try_from("mx1.example.com").unwrap();
    let tls = connector(&ca)
        .connect(name, reader.into_inner())
        .await
        .unwrap();
    let mut tls = BufReader::new(tls);
    tls.get_mut()
        .write_all(b"EHLO c2\r\nMAIL FROM:<>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n")
        .await
        .unwrap();
    let mut lines = Vec::new();
    while lines.len() < 4 {
        let mut line = String::new();
        tls.read_line(&mut line).await.unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            lines.push(line);
        }
    }
    assert!(lines[3].starts_with("354 "), "{lines:?}");
    tls.get_mut().write_all(b"hello\r\n.\r\n").await.unwrap();
    let mut line = String::new();
    tls.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("250 "), "{line:?}");

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].mail_from, "");
    assert!(messages[0].tls);
    assert_eq!(messages[0].sni.as_deref(), Some("mx1.example.com"));
    assert_eq!(messages[0].ehlo.as_deref(), Some("c2"));
    assert_eq!(messages[0].data, b"hello\r\n");
}
