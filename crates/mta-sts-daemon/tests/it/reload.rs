//! A new configuration put in force with `Daemon::reload` while Postfix-style connections stay
//! open (the binary's SIGHUP path is in binary.rs).

use std::time::Duration;

use mta_sts_daemon::{Daemon, Listener};
use mta_sts_testkit::{CertKind, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Kit, Running, serve};

const TESTING: &str =
    "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 604800\r\n";

/// One long-lived socketmap connection, as Postfix keeps them.
struct Connection(TcpStream);

impl Connection {
    async fn ask(&mut self, key: &str) -> String {
        let payload = format!("postfix {key}");
        let wire = format!("{}:{payload},", payload.len());
        self.0.write_all(wire.as_bytes()).await.unwrap();
        let read = async {
            let mut length = Vec::new();
            let mut byte = [0u8; 1];
            loop {
                self.0.read_exact(&mut byte).await.unwrap();
                if byte[0] == b':' {
                    break;
                }
                length.push(byte[0]);
            }
            let length: usize = String::from_utf8(length).unwrap().parse().unwrap();
            let mut body = vec![0u8; length + 1];
            self.0.read_exact(&mut body).await.unwrap();
            assert_eq!(body.pop(), Some(b','));
            String::from_utf8(body).unwrap()
        };
        tokio::time::timeout(Duration::from_secs(15), read)
            .await
            .expect("an answer within 15 s")
    }
}

/// The kit publishing a `testing` policy for example.com, a daemon configured with `yaml` serving
/// it on TCP, and one Postfix-style connection to that daemon.
async fn serving_a_testing_policy(yaml: &str) -> (Kit, Daemon, Running, Connection) {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "t1",
        CertKind::Valid,
        Response::policy(TESTING),
    );
    let daemon = kit.daemon(kit.config(yaml));
    let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let running = serve(daemon.clone(), listener);
    let postfix = Connection(TcpStream::connect(running.addr.unwrap()).await.unwrap());
    (kit, daemon, running, postfix)
}

/// A zone change applies at once to an open connection (same socket, new answer), the cached
/// policy is not fetched again when only answer rules change, and what needs a restart keeps its
/// running value.
#[tokio::test(flavor = "multi_thread")]
async fn a_zone_change_applies_to_open_connections_without_a_new_fetch() {
    let (kit, daemon, running, mut postfix) = serving_a_testing_policy("").await;
    // A testing policy is not enforced unless the zone says so.
    assert_eq!(postfix.ask("example.com").await, "NOTFOUND ");
    assert_eq!(kit.requests("example.com"), 1);

    let port = daemon.config().port;
    let changed = kit.config("port: 1\ndefault_zone:\n  strict_testing: true\n");
    let reload = daemon.reload(changed).unwrap();
    assert_eq!(reload.applied, ["default_zone"]);
    assert_eq!(reload.needs_restart.len(), 1, "{reload:?}");
    assert!(reload.needs_restart[0].starts_with("port: 1"), "{reload:?}");
    assert_eq!(daemon.config().port, port, "the running port stays");
    assert!(daemon.config().default_zone.strict_testing);

    assert_eq!(
        postfix.ask("example.com").await,
        "OK secure match=mail.example.com servername=hostname"
    );
    assert_eq!(
        kit.requests("example.com"),
        1,
        "only the answer rules changed: the cached policy still applies, no new fetch"
    );

    // Reading the same file again changes nothing.
    let same = daemon.reload((*daemon.config()).clone()).unwrap();
    assert!(same.applied.is_empty() && same.needs_restart.is_empty());
    // A new zone is used by new requests on the same connection.
    let zoned = kit.config("zones:\n  postfix:\n    strict_testing: false\n");
    let reload = daemon.reload(zoned).unwrap();
    assert_eq!(reload.applied, ["zones", "default_zone"]);
    assert_eq!(postfix.ask("example.com").await, "NOTFOUND ");
    running.shutdown().await;
}

/// A reload that cannot be put in force (a CA file that does not exist) changes nothing: the
/// running configuration keeps answering.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_fails_keeps_the_running_configuration() {
    let (kit, daemon, running, mut postfix) =
        serving_a_testing_policy("default_zone:\n  strict_testing: true\n").await;
    let secure = "OK secure match=mail.example.com servername=hostname";
    assert_eq!(postfix.ask("example.com").await, secure);

    let broken = kit.config("tls:\n  ca_file: /nonexistent/ca.pem\n");
    let error = daemon.reload(broken).unwrap_err();
    assert!(
        format!("{error:#}").contains("/nonexistent/ca.pem"),
        "the error names the file: {error:#}"
    );
    assert!(daemon.config().default_zone.strict_testing);
    assert_eq!(daemon.config().tls.ca_file, None);
    assert_eq!(postfix.ask("example.com").await, secure);
    running.shutdown().await;
}
