//! `metrics.listen`: a small HTTP/1.1 server with `GET /metrics` (Prometheus text) and
//! `GET /healthz`. Bounded: a few connections at a time, each with a header deadline and a
//! lifetime, since the address may be reachable by more than the Prometheus server.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use postfix_socketmap::{ClientCodec, Reply};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

use crate::metrics::CONTENT_TYPE;
use crate::{Listener, Metrics};

/// The socketmap name `/healthz` asks the daemon's own listener under: not counted as a lookup.
pub(crate) const HEALTH_MAP: &str = "mta-sts-daemon-healthz";
/// The key it asks: an address literal, answered `NOTFOUND` without any DNS query (PFX-1).
const HEALTH_KEY: &str = "[127.0.0.1]";
/// Each health check's deadline: a stopped backend shows as 503 within this.
const CHECK_DEADLINE: Duration = Duration::from_millis(1500);
/// HTTP connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request head.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// How long one HTTP connection may stay open, requests included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The bound `metrics.listen` socket, bound before privileges are dropped.
#[derive(Debug)]
pub struct MetricsListener(TcpListener);

impl MetricsListener {
    /// Binds `addr`; the error names the key `metrics.listen`.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
        Ok(Self(listener))
    }

    /// The address bound (the port the system chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// Where the daemon's socketmap listener is, for the health check.
#[derive(Debug, Clone)]
enum Socketmap {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// The listener's address could not be read.
    Unknown,
}

/// What `metrics.listen` serves: the daemon's [`Metrics`] and its health.
#[derive(Debug, Clone)]
pub struct Endpoint {
    metrics: Arc<Metrics>,
    socketmap: Socketmap,
}

impl Endpoint {
    /// The endpoint of a daemon with `metrics` serving on `listener`.
    pub fn new(metrics: Arc<Metrics>, listener: &Listener) -> Self {
        let socketmap = match (listener.local_addr(), listener.path()) {
            (Some(addr), _) => {
                // A wildcard listener is reached on loopback of its family.
                let ip = match addr.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ip => ip,
                };
                Socketmap::Tcp(SocketAddr::new(ip, addr.port()))
            }
            (None, Some(path)) => Socketmap::Unix(path.to_path_buf()),
            (None, None) => Socketmap::Unknown,
        };
        Self { metrics, socketmap }
    }

    /// `Ok` when the socketmap listener answers a request and the cache backend a read (each
    /// within 1.5 s); otherwise every reason, one per line.
    pub async fn health(&self) -> Result<(), String> {
        let (listener, cache) = tokio::join!(
            self.check_socketmap(),
            self.metrics.probe_cache(CHECK_DEADLINE)
        );
        let reasons: Vec<String> = [listener, cache]
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("\n"))
        }
    }

    async fn check_socketmap(&self) -> Result<(), String> {
        let asked = async {
            match &self.socketmap {
                Socketmap::Tcp(addr) => match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => ask(stream).await,
                    Err(e) => Err(format!("cannot connect to {addr}: {e}")),
                },
                Socketmap::Unix(path) => match tokio::net::UnixStream::connect(path).await {
                    Ok(stream) => ask(stream).await,
                    Err(e) => Err(format!("cannot connect to {}: {e}", path.display())),
                },
                Socketmap::Unknown => Err("its address is unknown".to_owned()),
            }
        };
        match tokio::time::timeout(CHECK_DEADLINE, asked).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(format!("socketmap listener failing: {why}")),
            Err(_) => Err(format!(
                "socketmap listener did not answer within {:.1} s",
                CHECK_DEADLINE.as_secs_f64()
            )),
        }
    }

    /// Serves HTTP on `listener` until the future is dropped.
    pub async fn serve(self, listener: MetricsListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let stream = match listener.0.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like persist for a moment: do not spin.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let endpoint = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let endpoint = endpoint.clone();
                    async move { Ok::<_, Infallible>(endpoint.respond(&request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_DEADLINE)
                    .serve_connection(TokioIo::new(stream), service);
                // Past its lifetime a connection is dropped: a slow client holds no slot for long.
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
                drop(permit);
            });
        }
    }

    async fn respond(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD\n".to_owned(),
            );
        }
        match path {
            "/metrics" => {
                let mut response = text(StatusCode::OK, self.metrics.encode());
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(CONTENT_TYPE),
                );
                response
            }
            "/healthz" => match self.health().await {
                Ok(()) => text(StatusCode::OK, "ok\n".to_owned()),
                Err(reasons) => {
                    tracing::warn!(%reasons, "/healthz: unhealthy");
                    text(StatusCode::SERVICE_UNAVAILABLE, format!("{reasons}\n"))
                }
            },
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics or /healthz\n".to_owned(),
            ),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One socketmap request on `stream`: `NOTFOUND` is the only right answer to the health key.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<(), String> {
    let request = postfix_socketmap::Request::new(HEALTH_MAP, HEALTH_KEY)
        .map_err(|e| format!("health request: {e}"))?;
    let mut framed = Framed::new(stream, ClientCodec::new());
    framed
        .send(&request)
        .await
        .map_err(|e| format!("cannot send a request: {e}"))?;
    match framed.next().await {
        Some(Ok(Reply::NotFound)) => Ok(()),
        Some(Ok(other)) => Err(format!("unexpected answer {other}")),
        Some(Err(e)) => Err(format!("unreadable answer: {e}")),
        None => Err("closed the connection without an answer".to_owned()),
    }
}
