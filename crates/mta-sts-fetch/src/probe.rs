//! Lower-level views for diagnostics (`mta-sts-query check`): what one fetch from one address
//! looked like, and a TLS handshake over any stream (e.g. after SMTP STARTTLS).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::{ClientConfig, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::tls::{client_config, handshake_error, server_name};
use crate::{ConfigError, FetchConfig, FetchError, cert};

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246), the oldest version RFC 8461 §3.3 and this crate accept.
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
    /// Another version, by its wire code (never negotiated with this crate's configuration).
    Other(u16),
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tls12 => f.write_str("TLS 1.2"),
            Self::Tls13 => f.write_str("TLS 1.3"),
            Self::Other(code) => write!(f, "TLS version 0x{code:04x}"),
        }
    }
}

/// An HTTP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.1.
    Http11,
    /// HTTP/2, chosen by ALPN.
    Http2,
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http11 => "HTTP/1.1",
            Self::Http2 => "HTTP/2",
        })
    }
}

/// What a completed TLS handshake showed about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsDetails {
    /// The negotiated protocol.
    pub version: TlsVersion,
    /// The server certificate's `notAfter`, when it could be read.
    pub not_after: Option<SystemTime>,
    /// The certificates the server presented, leaf first, DER, in the order sent: what TLSA
    /// records (RFC 7672) are matched against.
    pub chain: Vec<Vec<u8>>,
}

impl TlsDetails {
    pub(crate) fn of<IO>(stream: &TlsStream<IO>) -> Self {
        let connection = stream.get_ref().1;
        let version = match connection.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => TlsVersion::Tls13,
            Some(ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
            Some(other) => TlsVersion::Other(u16::from(other)),
            // A completed handshake always has a version; 0 marks the impossible.
            None => TlsVersion::Other(0),
        };
        let chain: Vec<Vec<u8>> = connection
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect();
        let not_after = chain
            .first()
            .and_then(|leaf| cert::not_after(leaf))
            .map(cert::unix);
        Self {
            version,
            not_after,
            chain,
        }
    }
}

/// One policy fetch from one address of the policy host, with everything seen on the way
/// ([`PolicyClient::fetch_from`](crate::PolicyClient::fetch_from)).
///
/// The fields before `result` are filled as far as the fetch got: a 404 still has `tls` and
/// `status`; a refused connection has neither.
#[derive(Debug)]
#[non_exhaustive]
pub struct PolicyAttempt {
    /// The address connected to.
    pub address: SocketAddr,
    /// The TLS handshake's outcome, once it succeeded.
    pub tls: Option<TlsDetails>,
    /// The HTTP version, once the request was sent.
    pub http_version: Option<HttpVersion>,
    /// The response status.
    pub status: Option<u16>,
    /// The `Content-Type` header, if the response had one.
    pub content_type: Option<String>,
    /// Connect to end of body (or to the failure).
    pub elapsed: Duration,
    /// The body, or why there is none, exactly as [`PolicyClient::fetch`](crate::PolicyClient::fetch)
    /// would have reported it.
    pub result: Result<Vec<u8>, FetchError>,
}

/// What [`PolicyClient`](crate::PolicyClient) notes while fetching, for [`PolicyAttempt`].
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) tls: Option<TlsDetails>,
    pub(crate) http_version: Option<HttpVersion>,
    pub(crate) status: Option<u16>,
    pub(crate) content_type: Option<String>,
}

/// TLS client handshakes over an already connected stream, with the same roots and checks as
/// policy fetches (certificate chain, name, validity; TLS 1.2 or 1.3), but no ALPN.
///
/// For example after an SMTP `STARTTLS`, to check an MX host's certificate against its name
/// (RFC 8461 §4.2).
#[derive(Clone)]
pub struct TlsProbe {
    tls: Arc<ClientConfig>,
}

impl fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsProbe").finish_non_exhaustive()
    }
}

impl TlsProbe {
    /// A probe trusting `config`'s roots and CA files.
    pub fn new(config: &FetchConfig) -> Result<Self, ConfigError> {
        let mut tls = Arc::unwrap_or_clone(client_config(config)?);
        tls.alpn_protocols.clear();
        Ok(Self { tls: Arc::new(tls) })
    }

    /// Runs a handshake with SNI `host` and validates the certificate for `host`. No deadline:
    /// wrap the call in one.
    pub async fn handshake<IO>(&self, host: &str, io: IO) -> Result<TlsDetails, FetchError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = TlsConnector::from(Arc::clone(&self.tls))
            .connect(server_name(host)?, io)
            .await
            .map_err(|e| handshake_error(host, e))?;
        Ok(TlsDetails::of(&stream))
    }
}
