use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
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
/// Longest piece of a message line read at once; longer lines arrive in several pieces.
const MAX_DATA_CHUNK: u64 = 4096;
/// A client idle this long is disconnected.
const IDLE: Duration = Duration::from_secs(10);
/// Largest message kept (after dot-unstuffing); a longer one is read to its end and refused
/// with 552, so a runaway client cannot make the server buffer without limit.
const MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Recipients accepted per transaction; RFC 5321 §4.5.3.1.8 asks for at least 100.
const MAX_RECIPIENTS: usize = 100;
/// Messages kept per server; once full, `MAIL` is answered `452` (bounded memory).
const MAX_MESSAGES: usize = 1000;

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

/// One message an [`SmtpServer`] accepted, with how it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpMessage {
    /// The reverse-path of `MAIL FROM`, without angle brackets (empty for the null sender).
    pub mail_from: String,
    /// The forward-paths of the accepted `RCPT TO` commands, without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The message as received after `DATA`, dot-unstuffed (RFC 5321 §4.5.2), without the final
    /// `.` line; line endings as the client sent them.
    pub data: Vec<u8>,
    /// Whether the message came over TLS (after `STARTTLS`).
    pub tls: bool,
    /// The SNI name of the TLS handshake, in lowercase.
    pub sni: Option<String>,
    /// The EHLO or HELO argument of the session.
    pub ehlo: Option<String>,
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

/// An SMTP server on loopback that speaks just enough ESMTP for TLS checks and deliveries: the
/// 220 greeting, `EHLO`/`HELO`, `STARTTLS` (RFC 3207) with a certificate from a [`TestCa`], a
/// mail transaction (`MAIL FROM`, `RCPT TO`, `DATA`, also pipelined as RFC 2920 allows),
/// `NOOP`, `RSET` and `QUIT`. Anything else gets `502`.
///
/// The certificate is issued for whatever SNI name the client sends, so one server can stand in
/// for several MX hosts; a handshake without SNI fails. Every session is recorded
/// ([`SmtpServer::sessions`]), and so is every accepted message ([`SmtpServer::messages`]), at
/// most 1000 of them, each at most 1 MiB. Dropping the server closes the
/// port and every connection.
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
            messages: Mutex::default(),
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

    /// The certificate chain a TLS handshake with SNI `sni_name` presents under the current
    /// [`SmtpBehavior::cert`], issued now if it was not yet, so that tests can build TLSA records
    /// (RFC 7672) before any client connects. Later handshakes for that name and kind present
    /// exactly this chain.
    ///
    /// This is what goes on the wire: the leaf certificate, then the certificate of the CA that
    /// issued it (none for [`CertKind::SelfSigned`]), so a DANE-TA(2) record for the CA can match.
    ///
    /// # Panics
    ///
    /// If `sni_name` is not ASCII, or has a single label and the kind is
    /// [`CertKind::Wildcard`].
    pub fn certificate_chain(&self, sni_name: &str) -> Vec<CertificateDer<'static>> {
        self.shared.certified(sni_name).cert.clone()
    }

    /// Every session so far, oldest first (a session is recorded when it ends).
    pub fn sessions(&self) -> Vec<SmtpSession> {
        lock(&self.shared.sessions).clone()
    }

    /// Every message accepted so far, oldest first. A message is recorded before its `250`
    /// reply is sent, so once the client has seen the reply it is here.
    pub fn messages(&self) -> Vec<SmtpMessage> {
        lock(&self.shared.messages).clone()
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
    messages: Mutex<Vec<SmtpMessage>>,
}

/// Issues (once per name and kind) the behaviour's certificate for the SNI name.
#[derive(Debug)]
struct Resolver(Arc<Shared>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.certified(client_hello.server_name()?))
    }
}

impl Shared {
    /// The certificate for `sni_name` and the current [`CertKind`], issued on first use and
    /// kept, so every later handshake for that name and kind presents the same one.
    fn certified(&self, sni_name: &str) -> Arc<CertifiedKey> {
        let name = name_key(sni_name);
        let kind = lock(&self.behavior).cert;
        let mut certs = lock(&self.certs);
        let cert = certs.entry((name.clone(), kind)).or_insert_with(|| {
            pki::issue(kind, &name, &self.trusted, &self.foreign, &self.provider)
        });
        Arc::clone(cert)
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
    if let End::Quit = commands(&mut plain, offer, session, shared).await? {
        return Ok(());
    }
    // RFC 3207 §4.2: the client waits for our 220 before the handshake, so nothing is buffered.
    let tls = acceptor.accept(plain.into_inner()).await?;
    session.sni = tls.get_ref().1.server_name().map(name_key);
    session.tls = true;
    let mut secure = BufReader::new(tls);
    commands(&mut secure, false, session, shared).await?;
    Ok(())
}

/// The envelope of the mail transaction in progress.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// Answers commands until QUIT, an accepted STARTTLS, EOF or idleness.
async fn commands<S>(
    stream: &mut BufReader<S>,
    offer_starttls: bool,
    session: &mut SmtpSession,
    shared: &Shared,
) -> io::Result<End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut line = Vec::new();
    let mut envelope = Envelope::default();
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
                envelope = Envelope::default();
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
            "MAIL" => mail(arg, &mut envelope, shared),
            "RCPT" => rcpt(arg, &mut envelope),
            "DATA" => {
                if envelope.to.is_empty() {
                    b"503 5.5.1 Error: need RCPT command\r\n"
                } else {
                    stream
                        .get_mut()
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(stream).await?;
                    let envelope = std::mem::take(&mut envelope);
                    store(data, envelope, session, shared)
                }
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "RSET" => {
                envelope = Envelope::default();
                b"250 2.0.0 OK\r\n"
            }
            "QUIT" => {
                stream.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(End::Quit);
            }
            _ => b"502 5.5.1 Command not implemented\r\n",
        };
        stream.get_mut().write_all(reply).await?;
    }
}

/// `MAIL FROM:<path> [parameters]` (RFC 5321 §4.1.1.2); parameters such as `SIZE=` are ignored.
fn mail(arg: &str, envelope: &mut Envelope, shared: &Shared) -> &'static [u8] {
    if envelope.from.is_some() {
        return b"503 5.5.1 Error: nested MAIL command\r\n";
    }
    let Some(path) = path_argument(arg, "FROM:") else {
        return b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n";
    };
    if lock(&shared.messages).len() >= MAX_MESSAGES {
        return b"452 4.3.1 Insufficient system storage\r\n";
    }
    envelope.from = Some(path);
    b"250 2.1.0 Ok\r\n"
}

/// `RCPT TO:<path> [parameters]` (RFC 5321 §4.1.1.3).
fn rcpt(arg: &str, envelope: &mut Envelope) -> &'static [u8] {
    if envelope.from.is_none() {
        return b"503 5.5.1 Error: need MAIL command\r\n";
    }
    let Some(path) = path_argument(arg, "TO:") else {
        return b"501 5.5.4 Syntax: RCPT TO:<address>\r\n";
    };
    if envelope.to.len() >= MAX_RECIPIENTS {
        return b"452 4.5.3 Error: too many recipients\r\n";
    }
    envelope.to.push(path);
    b"250 2.1.5 Ok\r\n"
}

/// The path after `FROM:` or `TO:` (case-insensitive), without its angle brackets.
fn path_argument(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?.0,
        // Some clients omit the brackets; RFC 5321 requires them, but being lenient costs nothing.
        None => rest.split(' ').next().filter(|p| !p.is_empty())?,
    };
    Some(path.to_owned())
}

/// Reads the message after `354` up to the lone `.` line, undoing dot-stuffing (RFC 5321
/// §4.5.2). `None` if it was larger than [`MAX_MESSAGE_SIZE`]; it is still read to its end so
/// the session stays in step.
async fn read_data<S>(stream: &mut BufReader<S>) -> io::Result<Option<Vec<u8>>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut data = Vec::new();
    let mut too_large = false;
    let mut chunk = Vec::new();
    let mut at_line_start = true;
    loop {
        chunk.clear();
        let read = tokio::time::timeout(
            IDLE,
            (&mut *stream)
                .take(MAX_DATA_CHUNK)
                .read_until(b'\n', &mut chunk),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client idle during DATA"))??;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut piece = chunk.as_slice();
        if at_line_start {
            if piece == b".\r\n" || piece == b".\n" {
                return Ok((!too_large).then_some(data));
            }
            piece = piece.strip_prefix(b".").unwrap_or(piece);
        }
        at_line_start = chunk.ends_with(b"\n");
        if data.len() + piece.len() > MAX_MESSAGE_SIZE {
            too_large = true;
            data = Vec::new();
        } else if !too_large {
            data.extend_from_slice(piece);
        }
    }
}

/// Records a complete message and picks the reply to the end of its data.
fn store(
    data: Option<Vec<u8>>,
    envelope: Envelope,
    session: &SmtpSession,
    shared: &Shared,
) -> &'static [u8] {
    let Some(data) = data else {
        return b"552 5.3.4 Error: message too large\r\n";
    };
    let mut messages = lock(&shared.messages);
    if messages.len() >= MAX_MESSAGES {
        return b"452 4.3.1 Insufficient system storage\r\n";
    }
    messages.push(SmtpMessage {
        mail_from: envelope.from.unwrap_or_default(),
        rcpt_to: envelope.to,
        data,
        tls: session.tls,
        sni: session.sni.clone(),
        ehlo: session.ehlo.clone(),
    });
    b"250 2.0.0 Ok: queued\r\n"
}

#[cfg(test)]
mod tests {
    use super::path_argument;

    #[test]
    fn path_arguments() {
        for (arg, prefix, expected) in [
            ("FROM:<a@example.org>", "FROM:", Some("a@example.org")),
            (
                "from: <a@example.org> SIZE=10",
                "FROM:",
                Some("a@example.org"),
            ),
            ("FROM:<>", "FROM:", Some("")),
            (
                "TO:<b@example.net> NOTIFY=NEVER",
                "TO:",
                Some("b@example.net"),
            ),
            ("TO:b@example.net", "TO:", Some("b@example.net")),
            ("TO:<b@example.net", "TO:", None),
            ("TO:", "TO:", None),
            ("FROM:<a@example.org>", "TO:", None),
            ("", "TO:", None),
        ] {
            assert_eq!(
                path_argument(arg, prefix).as_deref(),
                expected,
                "{arg:?} {prefix:?}"
            );
        }
    }
}
