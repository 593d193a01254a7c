use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which root certificates validate policy hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Roots {
    /// Mozilla's root set, compiled in (webpki-roots): the same on every machine.
    #[default]
    Webpki,
    /// The operating system's store (`/etc/ssl/certs` and friends).
    System,
}

/// Whether policy fetches go through an HTTPS proxy (HTTP CONNECT).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Proxy {
    /// `HTTPS_PROXY` / `https_proxy`, honouring `NO_PROXY` / `no_proxy`, as postfix-mta-sts-resolver does.
    #[default]
    FromEnv,
    /// Direct connections only.
    None,
    /// This proxy (`http://[user:password@]host:port`), for every host not matched by `no_proxy`.
    Url {
        /// The proxy URL.
        url: String,
        /// Comma-separated host suffixes to reach directly (`*` for all).
        no_proxy: String,
    },
}

/// How the fetcher reaches DNS and HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchConfig {
    /// Name servers (`ip:port`); empty means the system configuration (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// One deadline for a whole policy fetch (DNS, connect, TLS, request and body) and for each TXT
    /// lookup. Default 10 s: well inside Postfix's 100 s socketmap limit.
    pub timeout: Duration,
    /// Root certificates.
    pub roots: Roots,
    /// PEM files whose certificates are trusted in addition to [`roots`](Self::roots).
    pub ca_files: Vec<PathBuf>,
    /// PEM text whose certificates are trusted in addition (for tests and embedders).
    pub ca_pem: Vec<String>,
    /// The policy host's HTTPS port: 443, as RFC 8461 requires; other values are for tests.
    pub https_port: u16,
    /// The largest policy body accepted (FETCH-8, default 65536, RFC 8461's suggestion).
    pub max_body: usize,
    /// Proxy use.
    pub proxy: Proxy,
    /// The User-Agent header.
    pub user_agent: String,
    /// Offer HTTP/2 by ALPN (default); when false, only HTTP/1.1 is offered.
    pub http2: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(10),
            roots: Roots::Webpki,
            ca_files: Vec::new(),
            ca_pem: Vec::new(),
            https_port: 443,
            max_body: 64 * 1024,
            proxy: Proxy::FromEnv,
            user_agent: concat!("mta-sts-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            http2: true,
        }
    }
}

impl FetchConfig {
    /// Uses these name servers instead of the system configuration.
    #[must_use]
    pub fn with_nameservers(mut self, nameservers: Vec<SocketAddr>) -> Self {
        self.nameservers = nameservers;
        self
    }

    /// Sets the deadline.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the root store.
    #[must_use]
    pub fn with_roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Trusts the certificates of a PEM file too.
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trusts the certificates in this PEM text too.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem.push(pem.into());
        self
    }

    /// Connects to this port instead of 443 (tests).
    #[must_use]
    pub fn with_https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// Sets the body size limit.
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Offers HTTP/2 or only HTTP/1.1.
    #[must_use]
    pub fn with_http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Sets proxy use.
    #[must_use]
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }
}
