//! Lower-level views for diagnostics (`mta-sts-query check`): what one fetch from one address
//! looked like, and a TLS handshake over any stream (e.g. after SMTP STARTTLS).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::tls::{client_config, handshake_error, server_name};
use crate::{ConfigError, FetchConfig, FetchError, cert};

/// What a completed TLS handshake showed about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsDetails {
    /// The negotiated protocol: `TLS 1.2` or `TLS 1.3`.
    pub version: String,
    /// The server certificate's `notAfter`, in Unix seconds, when it could be read.
    pub not_after: Option<u64>,
}

impl TlsDetails {
    pub(crate) fn of<IO>(stream: &TlsStream<IO>) -> Self {
        let connection = stream.get_ref().1;
        let version = match connection.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
            Some(ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let not_after = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| cert::not_after(leaf));
        Self { version, not_after }
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
    /// `HTTP/1.1` or `HTTP/2`, once the request was sent.
    pub http_version: Option<String>,
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
    pub(crate) http_version: Option<String>,
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

impl std::fmt::Debug for TlsProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
