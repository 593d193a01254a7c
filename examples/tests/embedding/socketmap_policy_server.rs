//! `socketmap-policy-server`: Postfix's side of the conversation, over TCP and a UNIX socket.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use mta_sts_testkit::{CertKind, DnsBehavior, Response};
use postfix_socketmap::{ClientCodec, Reply, Request};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::Child;
use tokio_util::codec::Framed;

use crate::kit::{BOUND, Kit};

const BIN: &str = env!("CARGO_BIN_EXE_socketmap-policy-server");

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmx: *.EXAMPLE.net\r\nmax_age: 604800\r\n";
const TESTING: &str =
    "version: STSv1\r\nmode: testing\r\nmx: mx1.example.org\r\nmax_age: 86400\r\n";
const SECURE: &str = "secure match=mx1.example.com:.example.net servername=hostname";

/// The server process, killed when dropped.
struct Server {
    _child: Child,
    /// What follows "listening on " in its first line.
    address: String,
}

impl Server {
    async fn start(kit: &Kit, args: &[&str]) -> Self {
        let mut cmd = kit.command(BIN);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("the server started in time")
            .unwrap()
            .expect("a first line");
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            _child: child,
            address,
        }
    }

    async fn tcp(&self) -> Framed<TcpStream, ClientCodec> {
        Framed::new(
            TcpStream::connect(&self.address).await.unwrap(),
            ClientCodec::new(),
        )
    }
}

/// Sends one request as Postfix does and returns the reply.
async fn ask<S>(client: &mut Framed<S, ClientCodec>, key: &str) -> Reply
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    client
        .send(&Request::new("postfix", key).unwrap())
        .await
        .unwrap();
    tokio::time::timeout(BOUND, client.next())
        .await
        .expect("a reply in time")
        .expect("the connection stays open")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn enforce_is_secure_match_everything_else_notfound() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "example.org",
        "20240101",
        CertKind::Valid,
        Response::policy(TESTING),
    );
    kit.publish(
        "broken.example",
        "1",
        CertKind::Valid,
        Response::status(404),
    );
    let server = Server::start(&kit, &["--listen", "127.0.0.1:0"]).await;
    let mut client = server.tcp().await;

    assert_eq!(
        ask(&mut client, "example.com").await,
        Reply::Ok(SECURE.to_owned())
    );
    // The same connection, as Postfix keeps it: key case folded, answered from the cache.
    assert_eq!(
        ask(&mut client, "Example.COM").await,
        Reply::Ok(SECURE.to_owned())
    );
    assert_eq!(kit.requests("example.com"), 1);
    for key in [
        "example.org",     // testing
        "nothing.example", // no record
        "broken.example",  // the policy host answers 404
        "[192.0.2.1]:25",  // not a domain
    ] {
        assert_eq!(ask(&mut client, key).await, Reply::NotFound, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_answers_from_the_cache_or_notfound() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.dns
        .set_behavior("_mta-sts.silent.example", DnsBehavior::NoResponse);
    // DNS and HTTPS may take 60 s each, so only the one-second deadline can answer in time; a
    // grace period of 0 makes every lookup ask DNS again.
    let server = Server::start(
        &kit,
        &[
            "--listen",
            "127.0.0.1:0",
            "--deadline",
            "1",
            "--timeout",
            "60",
            "--grace",
            "0",
        ],
    )
    .await;
    let mut client = server.tcp().await;
    assert_eq!(
        ask(&mut client, "example.com").await,
        Reply::Ok(SECURE.to_owned())
    );

    let asked = Instant::now();
    assert_eq!(ask(&mut client, "silent.example").await, Reply::NotFound);
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );

    // Now the known domain's DNS goes silent too: the deadline passes, and the cached policy is
    // still answered rather than NOTFOUND.
    kit.dns
        .set_behavior("_mta-sts.example.com", DnsBehavior::NoResponse);
    let asked = Instant::now();
    assert_eq!(
        ask(&mut client, "example.com").await,
        Reply::Ok(SECURE.to_owned())
    );
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(kit.requests("example.com"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_a_unix_socket() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let path = kit.scratch.path().join("policy.sock");
    let server = Server::start(&kit, &["--socket", path.to_str().unwrap()]).await;
    assert_eq!(server.address, path.to_str().unwrap());
    let mut client = Framed::new(
        UnixStream::connect(&path).await.unwrap(),
        ClientCodec::new(),
    );
    assert_eq!(
        ask(&mut client, "example.com").await,
        Reply::Ok(SECURE.to_owned())
    );
    assert_eq!(ask(&mut client, "nothing.example").await, Reply::NotFound);
}
