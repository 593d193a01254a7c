use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_resolver::{FetchFailure, ResultType};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// A DNS lookup that failed. NXDOMAIN and NODATA are not errors: they are "no record".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The server answered SERVFAIL, REFUSED or another error code.
    #[error("dns: {name}: server answered {code}")]
    Response {
        /// The name queried.
        name: String,
        /// The response code, e.g. `Server Failure`.
        code: String,
    },
    /// No answer within the deadline.
    #[error("dns: {name}: no answer within {}", seconds(*.timeout))]
    Timeout {
        /// The name queried.
        name: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The name is not a valid DNS name.
    #[error("dns: {name:?} is not a valid domain name")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The name exists but has no address (policy host) records.
    #[error("dns: {name} has no A or AAAA record")]
    NoAddress {
        /// The name queried.
        name: String,
    },
    /// Anything else: no reachable name server, I/O errors, malformed answers.
    #[error("dns: {name}: {source}")]
    Other {
        /// The name queried.
        name: String,
        /// What went wrong.
        source: Source,
    },
}

/// A certificate problem found while validating the policy host (RFC 8461 §3.3, FETCH-1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// The certificate's `notAfter` has passed.
    Expired {
        /// `notAfter`, when known.
        not_after: Option<SystemTime>,
    },
    /// The certificate's `notBefore` is in the future.
    NotYetValid {
        /// `notBefore`, when known.
        not_before: Option<SystemTime>,
    },
    /// The chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate is not valid for the policy host name.
    WrongName {
        /// The DNS names the certificate presents, when known.
        presented: Vec<String>,
    },
    /// Any other validation failure (bad signature, revoked, unsupported algorithm, ...).
    Invalid(String),
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expired { not_after: Some(t) } => write!(f, "expired {}", utc_date(*t)),
            Self::Expired { not_after: None } => f.write_str("expired"),
            Self::NotYetValid {
                not_before: Some(t),
            } => write!(f, "not valid before {}", utc_date(*t)),
            Self::NotYetValid { not_before: None } => f.write_str("not yet valid"),
            Self::UnknownIssuer => f.write_str("is not signed by a trusted certificate authority"),
            Self::WrongName { presented } if presented.is_empty() => {
                f.write_str("is for another name")
            }
            Self::WrongName { presented } => write!(f, "is for {}", presented.join(", ")),
            Self::Invalid(what) => write!(f, "is invalid: {what}"),
        }
    }
}

/// Why a policy fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Resolving the policy host failed.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// No address of the policy host accepted a TCP connection.
    #[error("connect: {host}: {source}")]
    Connect {
        /// The policy host.
        host: String,
        /// The last connection error.
        source: std::io::Error,
    },
    /// The certificate of the policy host failed validation: `sts-webpki-invalid`.
    #[error("tls: certificate for {host} {problem}")]
    Certificate {
        /// The policy host.
        host: String,
        /// What is wrong with it.
        problem: CertificateProblem,
    },
    /// The TLS handshake failed for another reason (protocol version, alert, ...).
    #[error("tls: {host}: {source}")]
    Tls {
        /// The policy host.
        host: String,
        /// The TLS error.
        source: Source,
    },
    /// Connecting through the HTTPS proxy failed.
    #[error("proxy: {0}")]
    Proxy(String),
    /// A 3xx answer: RFC 8461 §3.3 forbids following redirects.
    #[error("http: status {status} (redirects are not followed){}", location.as_deref().map(|l| format!(", Location: {l}")).unwrap_or_default())]
    Redirect {
        /// The status code.
        status: u16,
        /// The Location header, if any.
        location: Option<String>,
    },
    /// Any status other than 200 (FETCH-3).
    #[error("http: status {0} (only 200 is accepted)")]
    Status(u16),
    /// The media type is not `text/plain` (FETCH-5).
    #[error("http: Content-Type {}, expected text/plain", .0.as_deref().map(|c| format!("{c:?}")).unwrap_or_else(|| "missing".into()))]
    ContentType(Option<String>),
    /// The body is larger than the limit (FETCH-8).
    #[error("body exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// HTTP protocol error.
    #[error("http: {0}")]
    Http(Source),
    /// The whole fetch (DNS, connect, TLS, request, body) took longer than the deadline.
    #[error("timeout: no complete policy within {}", seconds(*.0))]
    Timeout(Duration),
}

impl FetchError {
    /// Whether the failure is a certificate validation failure (`sts-webpki-invalid`).
    pub fn is_certificate(&self) -> bool {
        matches!(self, Self::Certificate { .. })
    }
}

impl FetchFailure for FetchError {
    fn result_type(&self) -> ResultType {
        if self.is_certificate() {
            ResultType::StsWebpkiInvalid
        } else {
            ResultType::StsPolicyFetchError
        }
    }
}

/// Errors building the fetcher from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A CA file could not be read or holds no certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The system resolver configuration (/etc/resolv.conf) could not be read.
    #[error("system DNS configuration: {0}")]
    SystemDns(Source),
    /// The system certificate store could not be loaded.
    #[error("system certificate store: {0}")]
    SystemRoots(String),
    /// TLS configuration failed.
    #[error("tls configuration: {0}")]
    Tls(Source),
    /// The proxy URL is not `http://[user:password@]host:port`.
    #[error(
        "proxy URL {0:?} is not of the form http://[user:password@]host:port (HTTPS and SOCKS proxies are not supported)"
    )]
    ProxyUrl(String),
    /// The DNSSEC trust anchor file for DANE lookups could not be read or used.
    #[error("DNSSEC trust anchor {path}: {reason}")]
    TrustAnchor {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Trusting the AD bit ([`DnssecTrust::LocalResolver`](crate::DnssecTrust::LocalResolver))
    /// was asked for with a name server that is not on this host.
    #[error(
        "will not trust the AD bit of name server {nameserver}: it is not a loopback address. The AD bit travels unauthenticated, so anyone between this host and a remote resolver could set it; only a validating resolver on this host (127.0.0.0/8 or ::1) may be trusted for DANE (RFC 6698 §4.1, RFC 7672 §2.1). Run a validating resolver such as unbound on 127.0.0.1 and name only it, or validate DNSSEC in process instead"
    )]
    AdNotLoopback {
        /// The first name server that is not on loopback.
        nameserver: std::net::SocketAddr,
    },
    /// The User-Agent contains characters a header cannot carry.
    #[error("User-Agent {0:?} is not a valid header value")]
    UserAgent(String),
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `2024-01-01` for a time (proleptic Gregorian, UTC): how certificate dates are shown in
/// errors, and by reports that show expiry dates the same way. Times before 1970 show as
/// 1970-01-01.
pub fn utc_date(at: SystemTime) -> String {
    let unix = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX / 2);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(at(0)), "1970-01-01");
        assert_eq!(utc_date(at(1_704_067_200)), "2024-01-01");
        assert_eq!(utc_date(at(951_782_400)), "2000-02-29");
        assert_eq!(utc_date(UNIX_EPOCH - Duration::from_secs(1)), "1970-01-01");
    }

    #[test]
    fn messages_say_what_happened() {
        let e = FetchError::Certificate {
            host: "mta-sts.x.example".into(),
            problem: CertificateProblem::Expired {
                not_after: Some(at(1_704_067_200)),
            },
        };
        assert_eq!(
            e.to_string(),
            "tls: certificate for mta-sts.x.example expired 2024-01-01"
        );
        assert_eq!(e.result_type(), ResultType::StsWebpkiInvalid);
        let e = FetchError::Redirect {
            status: 301,
            location: None,
        };
        assert_eq!(
            e.to_string(),
            "http: status 301 (redirects are not followed)"
        );
        assert_eq!(
            FetchError::TooLarge { limit: 65_536 }.to_string(),
            "body exceeds 65536 bytes"
        );
        assert_eq!(e.result_type(), ResultType::StsPolicyFetchError);
        assert_eq!(
            FetchError::ContentType(None).to_string(),
            "http: Content-Type missing, expected text/plain"
        );
    }
}
