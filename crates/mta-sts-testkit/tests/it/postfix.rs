//! A real Postfix delivering through a socketmap TLS policy table on a UNIX socket inside the
//! chroot of its `smtp` client, as deployed. Needs root and Debian's postfix package.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use mta_sts_testkit::{
    CertKind, DeliveryStatus, PostfixInstance, QueueName, SmtpBehavior, SmtpServer, TestCa,
};
use postfix_socketmap::{Reply, ServerCodec};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

const SENDER: &str = "sender@sender.test";

/// A socketmap server on a UNIX socket that records every key and answers `OK <policy>` for the
/// keys it knows, `NOTFOUND` for the others.
struct PolicyTable {
    keys: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for PolicyTable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyTable {
    /// Binds at the instance's policy socket, which the mail owner may use.
    fn bind(postfix: &PostfixInstance, policies: &[(&str, &str)]) -> Self {
        Self::bind_at(&postfix.policy_socket(), policies, true, postfix)
    }

    /// Binds at `path`, opened to the mail owner if `share`.
    fn bind_at(
        path: &Path,
        policies: &[(&str, &str)],
        share: bool,
        postfix: &PostfixInstance,
    ) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        if share {
            postfix.share_with_postfix(path).unwrap();
        }
        let policies: Arc<Vec<(String, String)>> = Arc::new(
            policies
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let keys = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&keys);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let policies = Arc::clone(&policies);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let mut framed = Framed::new(stream, ServerCodec::new());
                    while let Some(Ok(request)) = framed.next().await {
                        let reply = match request {
                            Ok(request) => {
                                recorded.lock().unwrap().push(request.key().to_owned());
                                policies
                                    .iter()
                                    .find(|(key, _)| key == request.key())
                                    .map_or(Reply::NotFound, |(_, policy)| {
                                        Reply::Ok(policy.clone())
                                    })
                            }
                            Err(e) => Reply::Perm(e.to_string()),
                        };
                        if framed.send(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { keys, task }
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().unwrap().clone()
    }
}

async fn smtp(ca: &TestCa, cert: CertKind, starttls: bool) -> SmtpServer {
    SmtpServer::start(ca, SmtpBehavior { cert, starttls })
        .await
        .unwrap()
}

#[tokio::test]
async fn enforce_with_a_valid_certificate_is_delivered_over_verified_tls() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = smtp(&ca, CertKind::Valid, true).await;
    let postfix = PostfixInstance::builder(&ca)
        .route("enforce.test", server.addr())
        .start()
        .await
        .unwrap();
    let up = started.elapsed();
    let table = PolicyTable::bind(
        &postfix,
        &[(
            "enforce.test",
            "secure match=enforce.test servername=hostname",
        )],
    );

    let id = postfix
        .submit(SENDER, "rcpt@enforce.test", "hello\n.\n..two dots\n")
        .await
        .unwrap();
    let delivery = postfix
        .wait_for_status(&id, "rcpt@enforce.test", DeliveryStatus::Sent)
        .await
        .unwrap();
    eprintln!(
        "delivered over TLS: up in {up:?}, all in {:?}",
        started.elapsed()
    );

    assert_eq!(delivery.dsn, "2.0.0");
    assert_eq!(
        delivery.relay,
        format!("enforce.test[127.0.0.1]:{}", server.addr().port())
    );
    // The production key: the bare recipient domain, not [host]:port.
    assert_eq!(table.keys(), ["enforce.test"]);
    postfix
        .wait_for_log("Verified TLS connection established to enforce.test[127.0.0.1]")
        .await
        .unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert!(message.tls);
    assert_eq!(message.sni.as_deref(), Some("enforce.test"));
    assert_eq!(message.mail_from, SENDER);
    assert_eq!(message.rcpt_to, ["rcpt@enforce.test"]);
    let data = String::from_utf8_lossy(&message.data);
    assert!(
        data.contains("\r\n\r\nhello\r\n.\r\n..two dots\r\n"),
        "{data}"
    );
    assert!(postfix.queue().await.unwrap().is_empty());
}

#[tokio::test]
async fn enforce_with_a_certificate_for_another_name_is_deferred() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = smtp(&ca, CertKind::WrongName, true).await;
    let postfix = PostfixInstance::builder(&ca)
        .route("enforce.test", server.addr())
        .start()
        .await
        .unwrap();
    let table = PolicyTable::bind(
        &postfix,
        &[(
            "enforce.test",
            "secure match=enforce.test servername=hostname",
        )],
    );

    let id = postfix
        .submit(SENDER, "rcpt@enforce.test", "hello\n")
        .await
        .unwrap();
    let delivery = postfix
        .wait_for_status(&id, "rcpt@enforce.test", DeliveryStatus::Deferred)
        .await
        .unwrap();
    eprintln!(
        "deferred for the certificate in {:?}: {}",
        started.elapsed(),
        delivery.line
    );

    assert_eq!(delivery.detail, "Server certificate not verified");
    assert_eq!(delivery.dsn, "4.7.5");
    assert_eq!(table.keys()[0], "enforce.test");
    assert!(server.messages().is_empty());
    let queue = postfix.queue().await.unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].queue_id, id);
    // Which queue it is in depends on the moment (deferred, then incoming and active for each
    // retry); the reason of the last failure stays with it.
    assert_ne!(queue[0].queue_name, QueueName::Hold);
    assert_eq!(
        queue[0].recipients[0].delay_reason.as_deref(),
        Some("Server certificate not verified"),
        "{queue:?}"
    );
}

#[tokio::test]
async fn without_a_policy_mail_is_delivered_opportunistically() {
    let started = Instant::now();
    let ca = TestCa::new();
    let plain = smtp(&ca, CertKind::Valid, false).await;
    let tls = smtp(&ca, CertKind::Valid, true).await;
    // Two routes on two ports: two transport services in one instance.
    let postfix = PostfixInstance::builder(&ca)
        .route("plain.test", plain.addr())
        .route("may.test", tls.addr())
        .start()
        .await
        .unwrap();
    let table = PolicyTable::bind(&postfix, &[]);

    let id = postfix
        .submit(SENDER, "rcpt@plain.test", "hello\n")
        .await
        .unwrap();
    let delivery = postfix
        .wait_for_status(&id, "rcpt@plain.test", DeliveryStatus::Sent)
        .await
        .unwrap();
    eprintln!("delivered in plaintext in {:?}", started.elapsed());
    assert_eq!(delivery.dsn, "2.0.0");
    // After NOTFOUND for the domain, Postfix asks for the parent domain too.
    assert_eq!(table.keys(), ["plain.test", ".test"]);
    let messages = plain.messages();
    assert_eq!(messages.len(), 1);
    assert!(!messages[0].tls);
    assert_eq!(messages[0].sni, None);

    // STARTTLS offered: level "may" uses it, with SNI, but verifies no name.
    let id = postfix
        .submit(SENDER, "rcpt@may.test", "hello\n")
        .await
        .unwrap();
    postfix
        .wait_for_status(&id, "rcpt@may.test", DeliveryStatus::Sent)
        .await
        .unwrap();
    eprintln!(
        "delivered with opportunistic TLS in {:?}",
        started.elapsed()
    );
    assert_eq!(table.keys()[2..], ["may.test", ".test"]);
    postfix
        .wait_for_log("Trusted TLS connection established to may.test[127.0.0.1]")
        .await
        .unwrap();
    let messages = tls.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tls);
    assert_eq!(messages[0].sni.as_deref(), Some("may.test"));
}

#[tokio::test]
async fn without_the_policy_socket_mail_is_deferred_until_it_is_back() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = smtp(&ca, CertKind::Valid, true).await;
    let postfix = PostfixInstance::builder(&ca)
        .route("enforce.test", server.addr())
        .start()
        .await
        .unwrap();

    let id = postfix
        .submit(SENDER, "rcpt@enforce.test", "hello\n")
        .await
        .unwrap();
    let delivery = postfix
        .wait_for_status(&id, "rcpt@enforce.test", DeliveryStatus::Deferred)
        .await
        .unwrap();
    eprintln!(
        "deferred without the socket in {:?}: {}",
        started.elapsed(),
        delivery.line
    );
    postfix
        .wait_for_log("warning: connect to /mta-sts/mta-sts.sock: No such file or directory")
        .await
        .unwrap();
    assert_eq!(delivery.dsn, "4.7.5");
    assert_eq!(delivery.detail, "client TLS configuration problem");
    assert!(server.messages().is_empty());

    // The daemon comes back: the next retry (within seconds) is delivered.
    let table = PolicyTable::bind(
        &postfix,
        &[(
            "enforce.test",
            "secure match=enforce.test servername=hostname",
        )],
    );
    let delivery = postfix
        .wait_for_status(&id, "rcpt@enforce.test", DeliveryStatus::Sent)
        .await
        .unwrap();
    eprintln!(
        "delivered after the socket came back, in {:?}",
        started.elapsed()
    );
    assert_eq!(delivery.dsn, "2.0.0");
    assert_eq!(table.keys()[0], "enforce.test");
    assert!(server.messages()[0].tls);
}

#[tokio::test]
async fn a_socket_the_mail_owner_cannot_write_defers_mail() {
    let started = Instant::now();
    let ca = TestCa::new();
    let server = smtp(&ca, CertKind::Valid, true).await;
    let postfix = PostfixInstance::builder(&ca)
        .route("enforce.test", server.addr())
        .start()
        .await
        .unwrap();
    // Bound by root with the default umask: mode 0755, so user postfix may not connect.
    let table = PolicyTable::bind_at(
        &postfix.policy_socket(),
        &[(
            "enforce.test",
            "secure match=enforce.test servername=hostname",
        )],
        false,
        &postfix,
    );

    let id = postfix
        .submit(SENDER, "rcpt@enforce.test", "hello\n")
        .await
        .unwrap();
    let delivery = postfix
        .wait_for_status(&id, "rcpt@enforce.test", DeliveryStatus::Deferred)
        .await
        .unwrap();
    eprintln!("deferred for the socket's mode in {:?}", started.elapsed());
    assert_eq!(delivery.detail, "client TLS configuration problem");
    postfix
        .wait_for_log("warning: connect to /mta-sts/mta-sts.sock: Permission denied")
        .await
        .unwrap();
    assert!(table.keys().is_empty());
}
