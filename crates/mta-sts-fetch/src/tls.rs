use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::{CertificateProblem, ConfigError, FetchConfig, FetchError, Roots};

/// The client TLS configuration: ring provider, TLS 1.2 and 1.3 only (FETCH-7), chosen roots plus
/// extra CAs, ALPN h2 and http/1.1.
pub(crate) fn client_config(config: &FetchConfig) -> Result<Arc<ClientConfig>, ConfigError> {
    let roots = root_store(config)?;
    let mut tls = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::Tls(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = if config.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(tls))
}

/// The crypto provider of every TLS client here: ring.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots `config` asks for plus its extra CAs.
pub(crate) fn root_store(config: &FetchConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    match config.roots {
        Roots::Webpki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found.errors.first().map(ToString::to_string);
                return Err(ConfigError::SystemRoots(
                    why.unwrap_or_else(|| "no certificates found".into()),
                ));
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    for path in &config.ca_files {
        let display = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ConfigError::CaFile {
            path: display.clone(),
            reason: e.to_string(),
        })?;
        add_pem(&mut roots, &pem).map_err(|reason| ConfigError::CaFile {
            path: display,
            reason,
        })?;
    }
    for pem in &config.ca_pem {
        add_pem(&mut roots, pem.as_bytes()).map_err(|reason| ConfigError::CaFile {
            path: "(inline PEM)".into(),
            reason,
        })?;
    }
    Ok(roots)
}

fn add_pem(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), String> {
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate: {e}"))?;
        added += 1;
    }
    if added == 0 {
        return Err("no certificate found".into());
    }
    Ok(())
}

pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, FetchError> {
    ServerName::try_from(host.to_owned()).map_err(|e| FetchError::Tls {
        host: host.to_owned(),
        source: Box::new(e),
    })
}

/// Turns a handshake I/O error into a typed certificate or TLS error.
pub(crate) fn handshake_error(host: &str, error: std::io::Error) -> FetchError {
    let host = host.to_owned();
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert)) => FetchError::Certificate {
            host,
            problem: certificate_problem(cert),
        },
        Some(other) => FetchError::Tls {
            host,
            source: Box::new(other),
        },
        None => FetchError::Tls {
            host,
            source: Box::new(error),
        },
    }
}

/// rustls formats presented names as `DnsName("mx.example")`; people want `mx.example`.
fn presented_name(presented: &str) -> String {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .unwrap_or(presented)
        .to_owned()
}

fn certificate_problem(error: CertificateError) -> CertificateProblem {
    match error {
        CertificateError::Expired => CertificateProblem::Expired { not_after: None },
        CertificateError::ExpiredContext { not_after, .. } => CertificateProblem::Expired {
            not_after: Some(crate::cert::unix(not_after.as_secs())),
        },
        CertificateError::NotValidYet => CertificateProblem::NotYetValid { not_before: None },
        CertificateError::NotValidYetContext { not_before, .. } => {
            CertificateProblem::NotYetValid {
                not_before: Some(crate::cert::unix(not_before.as_secs())),
            }
        }
        CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer,
        CertificateError::NotValidForName => CertificateProblem::WrongName {
            presented: Vec::new(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => {
            CertificateProblem::WrongName {
                presented: presented.iter().map(|p| presented_name(p)).collect(),
            }
        }
        other => CertificateProblem::Invalid(format!("{other:?}")),
    }
}
