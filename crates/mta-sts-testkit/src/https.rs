use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{StatusCode, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::body::TrickleBody;
use crate::pattern::NamePattern;
use crate::pki::{self, CertKind, TestCa};
use crate::{lock, name_key};

/// What one host of a [`PolicyServer`] presents: its certificate and its answer to every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// The certificate presented for this SNI name.
    pub cert: CertKind,
    /// The response to every request on this host, whatever the method and path.
    pub response: Response,
}

impl HostConfig {
    /// A host with a [`CertKind::Valid`] certificate answering `response`.
    pub fn valid(response: Response) -> Self {
        Self {
            cert: CertKind::Valid,
            response,
        }
    }
}

/// A canned HTTP response, with knobs for misbehaving.
///
/// Build one with [`Response::policy`] or [`Response::status`] and adjust fields with struct update
/// syntax: `Response { hang: true, ..Response::status(200) }`. The default is a 200 with no headers
/// and an empty body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (100 to 999).
    pub status: u16,
    /// Headers sent as given, in order (HTTP/1.1 names are written in title case). Connection-level
    /// headers such as `Transfer-Encoding` are dropped on HTTP/2.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send the body without `Content-Length`: chunked on HTTP/1.1, close-delimited to an HTTP/1.0
    /// client, plain DATA frames on HTTP/2. Overrides `content_length`.
    pub chunked: bool,
    /// The `Content-Length` to announce instead of the body's length (unless a `Content-Length` is in
    /// `headers`). On HTTP/1.1 a longer body is cut to this length, and a shorter one is followed by
    /// the server closing the connection. On HTTP/2 the body is sent whole and the client's HTTP/2
    /// layer sees the mismatch (hyper's client fails the body with a stream reset).
    pub content_length: Option<u64>,
    /// Wait this long before sending the status line and headers.
    pub delay: Duration,
    /// Send the body this many bytes at a time (at least 1), pausing this long between pieces.
    pub trickle: Option<(usize, Duration)>,
    /// Complete the TLS handshake and read the request, then never answer (until the server is
    /// dropped).
    pub hang: bool,
}

impl Default for Response {
    fn default() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
            content_length: None,
            delay: Duration::ZERO,
            trickle: None,
            hang: false,
        }
    }
}

impl Response {
    /// A 200 with `Content-Type: text/plain` and `body`, as a policy host should answer.
    pub fn policy(body: &str) -> Self {
        Self {
            headers: vec![(CONTENT_TYPE.to_string(), "text/plain".to_owned())],
            body: body.as_bytes().to_vec(),
            ..Self::status(200)
        }
    }

    /// An empty response with this status code and no headers.
    pub fn status(code: u16) -> Self {
        Self {
            status: code,
            ..Self::default()
        }
    }
}

/// One request as the [`PolicyServer`] received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The path and query, e.g. `/.well-known/mta-sts.txt`.
    pub path: String,
    /// The headers in order, names in lowercase, values decoded lossily as UTF-8. On HTTP/2 the
    /// `:authority` pseudo-header comes first, as (`":authority"`, value).
    pub headers: Vec<(String, String)>,
    /// The SNI host name from the TLS handshake, in lowercase.
    pub sni: Option<String>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: String,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn new<B>(request: &http::Request<B>, sni: Option<String>) -> Self {
        let authority = request
            .uri()
            .authority()
            .filter(|_| request.version() == Version::HTTP_2)
            .map(|a| (":authority".to_owned(), a.to_string()));
        let headers = authority
            .into_iter()
            .chain(request.headers().iter().map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            }))
            .collect();
        Self {
            method: request.method().as_str().to_owned(),
            path: request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            headers,
            sni,
            http_version: format!("{:?}", request.version()),
        }
    }
}

/// An HTTPS server on `127.0.0.1` that serves policy hosts chosen by SNI.
///
/// Each host added with [`PolicyServer::set_host`] gets its own certificate and canned response,
/// as does each host matching a pattern added with [`PolicyServer::set_host_pattern`] (its
/// certificate issued at its first handshake); a handshake for any other name, or without SNI,
/// fails. ALPN offers `h2` and `http/1.1`; a
/// client that offers no ALPN may speak either. Every request is recorded under its SNI name
/// ([`PolicyServer::requests`]). Dropping the server closes the port and every connection.
#[derive(Debug)]
pub struct PolicyServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
    /// Dropped with the server, which wakes requests that hang or wait.
    _stop: watch::Sender<()>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl PolicyServer {
    /// Binds a random port on `127.0.0.1` and starts serving, with certificates issued by `ca`.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start(ca: &TestCa) -> io::Result<Self> {
        Self::start_on(ca, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// As [`PolicyServer::start`], on `addr`: port 443 of a loopback address, for a client that
    /// cannot be told another port (such as another implementation's daemon).
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start_on(ca: &TestCa, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let shared = Arc::new(Shared {
            trusted: ca.clone(),
            foreign: TestCa::named("mta-sts-testkit untrusted CA"),
            provider: Arc::clone(&provider),
            hosts: Mutex::default(),
            patterns: Mutex::default(),
            requests: Mutex::default(),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver(Arc::clone(&shared))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let (stop, stopped) = watch::channel(());
        let accept = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            Arc::clone(&shared),
            stopped,
        ));
        Ok(Self {
            addr,
            shared,
            accept,
            _stop: stop,
        })
    }

    /// The address to connect to, whatever host name the client thinks it is reaching.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `host` (the SNI name, case-insensitive) with `config`, replacing any previous one.
    ///
    /// The certificate is issued now. New connections get the new certificate; requests get the
    /// response configured when they arrive.
    ///
    /// # Panics
    ///
    /// If `host` is not ASCII (or, for [`CertKind::Wildcard`], has a single label), the status is
    /// outside 100..=999, or a header name or value is invalid.
    pub fn set_host(&self, host: &str, config: HostConfig) {
        let key = name_key(host);
        let cert = pki::issue(
            config.cert,
            &key,
            &self.shared.trusted,
            &self.shared.foreign,
            &self.shared.provider,
        );
        let reply = Arc::new(Reply::new(config.response));
        lock(&self.shared.hosts).insert(key, Host { cert, reply });
    }

    /// Serves every host matching `pattern` with `config`, where a `*` label stands for any one
    /// label (`mta-sts.*.cold.example`), for generated names in any number.
    ///
    /// A host's certificate is issued at its first handshake and kept, so later connections reuse
    /// it. Hosts set with [`PolicyServer::set_host`] take precedence; the first pattern added that
    /// matches wins.
    ///
    /// # Panics
    ///
    /// If a label of `pattern` is empty or longer than 63 bytes, or as
    /// [`PolicyServer::set_host`] for the response; a host a [`CertKind::Wildcard`] pattern
    /// matches must have a parent.
    pub fn set_host_pattern(&self, pattern: &str, config: HostConfig) {
        let pattern = NamePattern::new(pattern);
        let reply = Arc::new(Reply::new(config.response));
        lock(&self.shared.patterns).push((pattern, config.cert, reply));
    }

    /// How many hosts have a certificate: those set with [`PolicyServer::set_host`] and those a
    /// pattern served so far.
    pub fn host_count(&self) -> usize {
        lock(&self.shared.hosts).len()
    }

    /// Every request received so far on connections whose SNI was `host`, oldest first.
    pub fn requests(&self, host: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .get(&name_key(host))
            .cloned()
            .unwrap_or_default()
    }
}

/// State shared by the server handle, the certificate resolver and the connections.
#[derive(Debug)]
struct Shared {
    trusted: TestCa,
    foreign: TestCa,
    provider: Arc<CryptoProvider>,
    hosts: Mutex<HashMap<String, Host>>,
    patterns: Mutex<Vec<(NamePattern, CertKind, Arc<Reply>)>>,
    requests: Mutex<HashMap<String, Vec<RecordedRequest>>>,
}

#[derive(Debug)]
struct Host {
    cert: Arc<CertifiedKey>,
    reply: Arc<Reply>,
}

/// A [`Response`] checked and converted once, in [`PolicyServer::set_host`].
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    content_length: Option<u64>,
    delay: Duration,
    trickle: Option<(usize, Duration)>,
    hang: bool,
}

impl Reply {
    fn new(response: Response) -> Self {
        let status = StatusCode::from_u16(response.status)
            .unwrap_or_else(|e| panic!("invalid status {}: {e}", response.status));
        let headers = response
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|e| panic!("invalid header name {name:?}: {e}"));
                let value = HeaderValue::from_str(value)
                    .unwrap_or_else(|e| panic!("invalid header value {value:?}: {e}"));
                (name, value)
            })
            .collect::<Vec<_>>();
        let announced = headers.iter().any(|(name, _)| name == CONTENT_LENGTH);
        let content_length = match (response.chunked, response.content_length) {
            (true, _) => None,
            (false, _) if announced => None,
            (false, len) => Some(len.unwrap_or(response.body.len() as u64)),
        };
        Self {
            status,
            headers,
            body: Bytes::from(response.body),
            content_length,
            delay: response.delay,
            trickle: response.trickle,
            hang: response.hang,
        }
    }

    fn to_http(&self) -> http::Response<TrickleBody> {
        let mut body = match self.trickle {
            Some((step, pause)) => TrickleBody::new(self.body.clone(), step, pause),
            None => TrickleBody::whole(self.body.clone()),
        };
        if self
            .content_length
            .is_some_and(|len| len > self.body.len() as u64)
        {
            body = body.flush_before_end();
        }
        let mut response = http::Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if let Some(len) = self.content_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        response
    }
}

/// Picks the certificate by SNI; `None` fails the handshake.
#[derive(Debug)]
struct SniResolver(Arc<Shared>);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = name_key(client_hello.server_name()?);
        if let Some(host) = lock(&self.0.hosts).get(&name) {
            return Some(Arc::clone(&host.cert));
        }
        let (kind, reply) = lock(&self.0.patterns)
            .iter()
            .find(|(pattern, _, _)| pattern.matches(&name))
            .map(|(_, kind, reply)| (*kind, Arc::clone(reply)))?;
        // Issued outside the lock, so handshakes for other names go on meanwhile; two handshakes
        // racing for one new name each issue one, and the first stored is kept.
        let cert = pki::issue(
            kind,
            &name,
            &self.0.trusted,
            &self.0.foreign,
            &self.0.provider,
        );
        let mut hosts = lock(&self.0.hosts);
        let host = hosts.entry(name).or_insert(Host { cert, reply });
        Some(Arc::clone(&host.cert))
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stopped: watch::Receiver<()>,
) {
    // Owning the connection tasks means aborting this task aborts them too.
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Small responses go out in several writes; without this, delayed ACKs add ~40 ms each.
        let _ = tcp.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_connection(
            tcp,
            acceptor.clone(),
            Arc::clone(&shared),
            stopped.clone(),
        ));
    }
}

async fn serve_connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    stopped: watch::Receiver<()>,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let sni = tls.get_ref().1.server_name().map(name_key);
    let service = service_fn(move |request| {
        respond(Arc::clone(&shared), sni.clone(), request, stopped.clone())
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .title_case_headers(true)
        .auto_date_header(false);
    builder.http2().auto_date_header(false);
    // An error is the client going away or a deliberately broken response; the client sees either.
    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
}

async fn respond(
    shared: Arc<Shared>,
    sni: Option<String>,
    request: http::Request<Incoming>,
    mut stopped: watch::Receiver<()>,
) -> io::Result<http::Response<TrickleBody>> {
    let key = sni.clone().unwrap_or_default();
    let recorded = RecordedRequest::new(&request, sni);
    lock(&shared.requests)
        .entry(key.clone())
        .or_default()
        .push(recorded);
    let reply = lock(&shared.hosts)
        .get(&key)
        .map(|host| Arc::clone(&host.reply));
    let Some(reply) = reply else {
        let mut response = http::Response::new(TrickleBody::whole(Bytes::new()));
        *response.status_mut() = StatusCode::MISDIRECTED_REQUEST;
        return Ok(response);
    };

    let wait = async {
        if reply.hang {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(reply.delay).await;
    };
    tokio::select! {
        () = wait => Ok(reply.to_http()),
        _ = stopped.changed() => Err(io::Error::other("policy server dropped")),
    }
}
