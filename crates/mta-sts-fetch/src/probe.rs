//! Lower-level views for diagnostics (`mta-sts-query check`): what one fetch from one address
//! looked like, and a TLS handshake over any stream (e.g. after SMTP STARTTLS).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::sync::Mutex;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::tls::{handshake_error, provider, root_store, server_name};
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
    verifier: Arc<WebPkiServerVerifier>,
}

impl fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsProbe").finish_non_exhaustive()
    }
}

impl TlsProbe {
    /// A probe trusting `config`'s roots and CA files.
    pub fn new(config: &FetchConfig) -> Result<Self, ConfigError> {
        let roots = Arc::new(root_store(config)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| ConfigError::Tls(Box::new(e)))?;
        let tls = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ConfigError::Tls(Box::new(e)))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        Ok(Self {
            tls: Arc::new(tls),
            verifier,
        })
    }

    /// Runs a handshake with SNI `host` and validates the certificate for `host`. No deadline:
    /// wrap the call in one.
    pub async fn handshake<IO>(&self, host: &str, io: IO) -> Result<TlsDetails, FetchError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.handshake_recording(host, io).await.0
    }

    /// [`handshake`](Self::handshake), also returning the certificates the server presented
    /// (leaf first, DER) whether or not they validated: a host authenticated by DANE alone
    /// (RFC 7672) has a chain no public CA vouches for, and its TLSA records are matched against
    /// it all the same. Empty when the handshake failed before the server's certificates.
    pub async fn handshake_recording<IO>(
        &self,
        host: &str,
        io: IO,
    ) -> (Result<TlsDetails, FetchError>, Vec<Vec<u8>>)
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = match server_name(host) {
            Ok(name) => name,
            Err(e) => return (Err(e), Vec::new()),
        };
        let recorder = Arc::new(Recorder {
            inner: Arc::clone(&self.verifier),
            seen: Mutex::default(),
        });
        let mut tls = (*self.tls).clone();
        tls.dangerous()
            .set_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>);
        let result = TlsConnector::from(Arc::new(tls))
            .connect(name, io)
            .await
            .map(|stream| TlsDetails::of(&stream))
            .map_err(|e| handshake_error(host, e));
        let seen = std::mem::take(&mut *recorder.seen.lock().unwrap_or_else(|p| p.into_inner()));
        (result, seen)
    }
}

/// The WebPKI verifier, noting the chain it was shown before judging it.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = chain;
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
