use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use mta_sts_policy::Domain;
use mta_sts_resolver::PolicyFetch;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::probe::{HttpVersion, Observed, PolicyAttempt, TlsDetails};
use crate::proxy::ProxySettings;
use crate::tls::{client_config, handshake_error, server_name};
use crate::{ConfigError, DnsClient, FetchConfig, FetchError};

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` under the rules of RFC 8461 §3.3.
///
/// - The policy host is resolved with the same [`DnsClient`] as the TXT record, not the system
///   resolver; SNI and the certificate name are the policy host (FETCH-1, FETCH-6).
/// - TLS 1.2 or 1.3 (FETCH-7); HTTP/1.1 or HTTP/2 by ALPN.
/// - Only status 200 is accepted; redirects are never followed (FETCH-3); no HTTP caching (FETCH-4).
/// - The media type must be `text/plain`, parameters ignored (FETCH-5).
/// - A Content-Length over the limit is refused before reading; the body is read up to the limit
///   (FETCH-8); one deadline covers DNS, connect, TLS, request and body, so a server trickling one
///   byte a second fails at the deadline.
#[derive(Clone)]
pub struct PolicyClient {
    dns: DnsClient,
    tls: Arc<ClientConfig>,
    port: u16,
    timeout: Duration,
    max_body: usize,
    user_agent: String,
    proxy: Option<Arc<ProxySettings>>,
}

impl std::fmt::Debug for PolicyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyClient")
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

/// Aborts the spawned HTTP connection task when the fetch ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PolicyClient {
    /// A client using `dns` to resolve policy hosts.
    pub fn new(config: &FetchConfig, dns: DnsClient) -> Result<Self, ConfigError> {
        if http::HeaderValue::from_str(&config.user_agent).is_err() {
            return Err(ConfigError::UserAgent(config.user_agent.clone()));
        }
        Ok(Self {
            dns,
            tls: client_config(config)?,
            port: config.https_port,
            timeout: config.timeout,
            max_body: config.max_body,
            user_agent: config.user_agent.clone(),
            proxy: ProxySettings::from_config(&config.proxy)?.map(Arc::new),
        })
    }

    /// The policy body of `domain`.
    pub async fn fetch(&self, domain: &Domain) -> Result<Vec<u8>, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_within_deadline(domain))
            .await
            .unwrap_or(Err(FetchError::Timeout(self.timeout)))
    }

    /// Fetches `domain`'s policy from one address of its policy host, directly (no proxy), and
    /// reports what was seen on the way: TLS version, certificate expiry, status, media type,
    /// time taken. The same checks and deadline as [`fetch`](Self::fetch) apply.
    pub async fn fetch_from(&self, domain: &Domain, ip: IpAddr) -> PolicyAttempt {
        let host = domain.policy_host();
        let address = SocketAddr::new(ip, self.port);
        let start = Instant::now();
        let mut seen = Observed::default();
        let attempt = async {
            let tcp = TcpStream::connect(address)
                .await
                .map_err(|source| FetchError::Connect {
                    host: host.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            self.fetch_over(&host, tcp, &mut seen).await
        };
        let result = tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(Err(FetchError::Timeout(self.timeout)));
        PolicyAttempt {
            address,
            tls: seen.tls,
            http_version: seen.http_version,
            status: seen.status,
            content_type: seen.content_type,
            elapsed: start.elapsed(),
            result,
        }
    }

    async fn fetch_within_deadline(&self, domain: &Domain) -> Result<Vec<u8>, FetchError> {
        let host = domain.policy_host();
        let tcp = match self.proxy.as_deref().filter(|p| !p.bypasses(&host)) {
            Some(proxy) => proxy.connect(&host, self.port).await?,
            None => self.connect(&host).await?,
        };
        self.fetch_over(&host, tcp, &mut Observed::default()).await
    }

    /// TLS, request and body over `tcp`, noting what is seen in `seen`.
    async fn fetch_over(
        &self,
        host: &str,
        tcp: TcpStream,
        seen: &mut Observed,
    ) -> Result<Vec<u8>, FetchError> {
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(server_name(host)?, tcp)
            .await
            .map_err(|e| handshake_error(host, e))?;
        seen.tls = Some(TlsDetails::of(&tls));
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        seen.http_version = Some(if h2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Http11
        });
        let io = TokioIo::new(tls);
        let path = "/.well-known/mta-sts.txt";
        let (response, _conn) = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(http_error)?;
            let conn = AbortOnDrop(tokio::spawn(async move {
                let _ = conn.await;
            }));
            let uri = format!("https://{host}{path}");
            (
                sender
                    .send_request(self.request(&uri, None)?)
                    .await
                    .map_err(http_error)?,
                conn,
            )
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(http_error)?;
            let conn = AbortOnDrop(tokio::spawn(async move {
                let _ = conn.await;
            }));
            (
                sender
                    .send_request(self.request(path, Some(host))?)
                    .await
                    .map_err(http_error)?,
                conn,
            )
        };
        self.read_policy(response, seen).await
    }

    fn request(&self, uri: &str, host: Option<&str>) -> Result<Request<Empty<Bytes>>, FetchError> {
        let mut builder = Request::get(uri)
            .header(USER_AGENT, &self.user_agent)
            // FETCH-4: no conditional request, and no cached copy from a proxy either.
            .header(CACHE_CONTROL, "no-cache");
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder
            .body(Empty::new())
            .map_err(|e| FetchError::Http(Box::new(e)))
    }

    async fn connect(&self, host: &str) -> Result<TcpStream, FetchError> {
        let addresses = self.dns.addresses(host).await?;
        let mut last = None;
        for ip in addresses {
            let addr = SocketAddr::new(ip, self.port);
            // Half the deadline per address, so one silent address leaves time for the next.
            match tokio::time::timeout(self.timeout / 2, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    // The request is small and sent in pieces; Nagle would hold the last one back.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    last = Some(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("{addr}: connect timed out"),
                    ))
                }
            }
        }
        Err(FetchError::Connect {
            host: host.to_owned(),
            source: last.unwrap_or_else(|| std::io::Error::other("no address")),
        })
    }

    async fn read_policy(
        &self,
        response: http::Response<Incoming>,
        seen: &mut Observed,
    ) -> Result<Vec<u8>, FetchError> {
        let status = response.status();
        let headers = response.headers();
        seen.status = Some(status.as_u16());
        seen.content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        // 304 is "not modified", not a redirect: a plain refused status (FETCH-4).
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = headers
                .get(LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
            return Err(FetchError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        if status != StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !content_type.as_deref().is_some_and(is_text_plain) {
            return Err(FetchError::ContentType(content_type));
        }
        let announced = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|len| len > self.max_body as u64) {
            return Err(FetchError::TooLarge {
                limit: self.max_body,
            });
        }
        let mut body = response.into_body();
        let mut policy = Vec::with_capacity(announced.map_or(1024, |l| l as usize));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(http_error)?;
            if let Ok(data) = frame.into_data() {
                if policy.len() + data.len() > self.max_body {
                    return Err(FetchError::TooLarge {
                        limit: self.max_body,
                    });
                }
                policy.extend_from_slice(&data);
            }
        }
        Ok(policy)
    }
}

impl PolicyFetch for PolicyClient {
    type Error = FetchError;

    async fn fetch_policy(&self, domain: &Domain) -> Result<Vec<u8>, FetchError> {
        self.fetch(domain).await
    }
}

/// `text/plain`, with any parameters, case-insensitive (FETCH-5; RFC 7231 §3.1.1.1).
fn is_text_plain(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default();
    media_type.trim().eq_ignore_ascii_case("text/plain")
}

fn http_error(e: hyper::Error) -> FetchError {
    FetchError::Http(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_5_media_type() {
        for ok in [
            "text/plain",
            "text/plain; charset=utf-8",
            "text/plain;charset=US-ASCII; foo=bar",
            "Text/Plain",
            " text/plain ",
        ] {
            assert!(is_text_plain(ok), "{ok}");
        }
        for bad in [
            "text/html",
            "",
            "text/plain-ish",
            "application/octet-stream",
        ] {
            assert!(!is_text_plain(bad), "{bad}");
        }
    }
}
