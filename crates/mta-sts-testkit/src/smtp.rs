use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::pki::{self, CertKind, TestCa};
use crate::{lock, name_key};

/// Longest command line read; RFC 5321 §4.5.3.1.4 allows 512 octets.
const MAX_LINE: u64 = 1000;
/// A client idle this long is disconnected.
const IDLE: Duration = Duration::from_secs(10);

/// How an [`SmtpServer`] behaves towards every client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SmtpBehavior {
    /// The certificate presented after `STARTTLS`, issued for the SNI name the client sends.
    pub cert: CertKind,
    /// Whether EHLO advertises `STARTTLS` and the command is accepted.
    pub starttls: bool,
}

impl Default for SmtpBehavior {
    /// A valid certificate, `STARTTLS` offered.
    fn default() -> Self {
        Self {
            cert: CertKind::Valid,
            starttls: true,
        }
    }
}

/// One SMTP session as the [`SmtpServer`] saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpSession {
    /// The EHLO or HELO argument, the last one given.
    pub ehlo: Option<String>,
    /// The SNI name of the TLS handshake after `STARTTLS`, in lowercase.
    pub sni: Option<String>,
    /// Whether the TLS handshake completed.
    pub tls: bool,
}

/// An SMTP server on loopback that speaks just enough ESMTP for TLS checks: the 220 greeting,
/// `EHLO`/`HELO`, `STARTTLS` (RFC 3207) with a certificate from a [`TestCa`], `NOOP`, `RSET` and
/// `QUIT`. Anything else gets `502`. No mail is accepted.
///
/// The certificate is issued for whatever SNI name the client sends, so one server can stand in
/// for several MX hosts; a handshake without SNI fails. Every session is recorded
/// ([`SmtpServer::sessions`]). Dropping the server closes the port and every connection.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SmtpServer {
    /// Binds a random port on `127.0.0.1` and starts serving, with certificates issued by `ca`.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start(ca: &TestCa, behavior: SmtpBehavior) -> io::Result<Self> {
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), ca, behavior).await
    }

    /// Like [`start`](Self::start), on `addr`. Any `127.0.0.0/8` address is loopback on Linux,
    /// so several servers with different behaviours can share one port (the port a client under
    /// test is told to use) on `127.0.0.2`, `127.0.0.3`, ...
    pub async fn start_at(
        addr: SocketAddr,
        ca: &TestCa,
        behavior: SmtpBehavior,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let shared = Arc::new(Shared {
            trusted: ca.clone(),
            foreign: TestCa::named("mta-sts-testkit untrusted CA"),
            provider: Arc::clone(&provider),
            behavior: Mutex::new(behavior),
            certs: Mutex::default(),
            sessions: Mutex::default(),
        });
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(&shared))));
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let accept = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the behaviour for new sessions.
    pub fn set_behavior(&self, behavior: SmtpBehavior) {
        *lock(&self.shared.behavior) = behavior;
    }

    /// Every session so far, oldest first (a session is recorded when it ends).
    pub fn sessions(&self) -> Vec<SmtpSession> {
        lock(&self.shared.sessions).clone()
    }
}

#[derive(Debug)]
struct Shared {
    trusted: TestCa,
    foreign: TestCa,
    provider: Arc<CryptoProvider>,
    behavior: Mutex<SmtpBehavior>,
    certs: Mutex<HashMap<(String, CertKind), Arc<CertifiedKey>>>,
    sessions: Mutex<Vec<SmtpSession>>,
}

/// Issues (once per name and kind) the behaviour's certificate for the SNI name.
#[derive(Debug)]
struct Resolver(Arc<Shared>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = name_key(client_hello.server_name()?);
        let kind = lock(&self.0.behavior).cert;
        let shared = &self.0;
        let mut certs = lock(&shared.certs);
        let cert = certs.entry((name.clone(), kind)).or_insert_with(|| {
            pki::issue(
                kind,
                &name,
                &shared.trusted,
                &shared.foreign,
                &shared.provider,
            )
        });
        Some(Arc::clone(cert))
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut sessions = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        while sessions.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        sessions.spawn(async move {
            let mut session = SmtpSession::default();
            let _ = serve(tcp, acceptor, &shared, &mut session).await;
            lock(&shared.sessions).push(session);
        });
    }
}

/// What ended a command loop.
enum End {
    Quit,
    StartTls,
}

async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: &Shared,
    session: &mut SmtpSession,
) -> io::Result<()> {
    let offer = lock(&shared.behavior).starttls;
    let mut plain = BufReader::new(tcp);
    plain
        .get_mut()
        .write_all(b"220 mx.testkit.invalid ESMTP mta-sts-testkit\r\n")
        .await?;
    if let End::Quit = commands(&mut plain, offer, session).await? {
        return Ok(());
    }
    // RFC 3207 §4.2: the client waits for our 220 before the handshake, so nothing is buffered.
    let tls = acceptor.accept(plain.into_inner()).await?;
    session.sni = tls.get_ref().1.server_name().map(name_key);
    session.tls = true;
    let mut secure = BufReader::new(tls);
    commands(&mut secure, false, session).await?;
    Ok(())
}

/// Answers commands until QUIT, an accepted STARTTLS, EOF or idleness.
async fn commands<S>(
    stream: &mut BufReader<S>,
    offer_starttls: bool,
    session: &mut SmtpSession,
) -> io::Result<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            IDLE,
            (&mut *stream).take(MAX_LINE).read_until(b'\n', &mut line),
        )
        .await;
        let Ok(Ok(n)) = read else {
            return Ok(End::Quit);
        };
        if n == 0 {
            return Ok(End::Quit);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                session.ehlo = Some(arg.to_owned());
                if verb.eq_ignore_ascii_case("HELO") {
                    b"250 mx.testkit.invalid\r\n"
                } else if offer_starttls {
                    b"250-mx.testkit.invalid\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                } else {
                    b"250-mx.testkit.invalid\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                }
            }
            "STARTTLS" if offer_starttls => {
                stream
                    .get_mut()
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await?;
                return Ok(End::StartTls);
            }
            "NOOP" | "RSET" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                stream.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(End::Quit);
            }
            _ => b"502 5.5.1 Command not implemented\r\n",
        };
        stream.get_mut().write_all(reply).await?;
    }
}
