//! HTTPS through an HTTP proxy: `CONNECT host:443`, then TLS to the policy host end to end, so
//! certificate checks are exactly those of a direct connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{ConfigError, FetchError, Proxy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxySettings {
    host: String,
    port: u16,
    authorization: Option<String>,
    no_proxy: Vec<String>,
}

impl ProxySettings {
    /// The proxy to use under `proxy`, if any.
    pub(crate) fn from_config(proxy: &Proxy) -> Result<Option<Self>, ConfigError> {
        let env = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok())
                .filter(|v| !v.trim().is_empty())
        };
        match proxy {
            Proxy::None => Ok(None),
            Proxy::Url { url, no_proxy } => Self::parse(url, no_proxy).map(Some),
            Proxy::FromEnv => match env(["HTTPS_PROXY", "https_proxy"]) {
                None => Ok(None),
                Some(url) => {
                    let no_proxy = env(["NO_PROXY", "no_proxy"]).unwrap_or_default();
                    Self::parse(&url, &no_proxy).map(Some)
                }
            },
        }
    }

    /// `http://[user:password@]host:port` (the scheme may be omitted).
    pub(crate) fn parse(url: &str, no_proxy: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::ProxyUrl(url.to_owned());
        let rest = match url.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
            _ => url,
        };
        if rest.contains("://") {
            return Err(bad());
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        let no_proxy = no_proxy
            .split(',')
            .map(|s| {
                let s = s.trim();
                let s = s.strip_prefix("*.").unwrap_or(s);
                s.trim_start_matches('.').to_ascii_lowercase()
            })
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Self {
            host: host.to_owned(),
            port,
            authorization: userinfo.map(|u| format!("Basic {}", base64(u.as_bytes()))),
            no_proxy,
        })
    }

    /// Whether `host` is reached directly (`NO_PROXY`: `*`, or a suffix on a label boundary).
    pub(crate) fn bypasses(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == *entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }

    /// A TCP stream tunnelled to `host:port`.
    pub(crate) async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, FetchError> {
        let proxy = format!("{}:{}", self.host, self.port);
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| FetchError::Proxy(format!("connect to {proxy}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
        if let Some(auth) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| FetchError::Proxy(format!("{proxy}: {e}")))?;
        // Read the response head byte by byte so no byte of the TLS stream is consumed.
        let mut head = Vec::with_capacity(256);
        while !(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n")) {
            if head.len() >= 8192 {
                return Err(FetchError::Proxy(format!(
                    "{proxy}: response head over 8192 bytes"
                )));
            }
            let byte = stream
                .read_u8()
                .await
                .map_err(|e| FetchError::Proxy(format!("{proxy}: {e}")))?;
            head.push(byte);
        }
        let status_line =
            String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
                .into_owned();
        let status = status_line.split_whitespace().nth(1).unwrap_or_default();
        if !status_line.starts_with("HTTP/1.") || status != "200" {
            return Err(FetchError::Proxy(format!(
                "{proxy} refused CONNECT {host}:{port}: {status_line}"
            )));
        }
        Ok(stream)
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls() {
        let p = ProxySettings::parse("http://user:pass@proxy.example:3128/", "").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.authorization.as_deref(), Some("Basic dXNlcjpwYXNz"));
        assert!(ProxySettings::parse("proxy.example:3128", "").is_ok());
        assert!(ProxySettings::parse("HTTP://proxy.example:3128", "").is_ok());
        assert!(ProxySettings::parse("socks5://proxy.example:1080", "").is_err());
        assert!(ProxySettings::parse("http://proxy.example", "").is_err());
    }

    #[test]
    fn no_proxy_suffixes() {
        let p = ProxySettings::parse("http://p:1", "example.com, .internal").unwrap();
        assert!(p.bypasses("mta-sts.example.com"));
        assert!(p.bypasses("example.com"));
        assert!(p.bypasses("mta-sts.corp.internal"));
        assert!(!p.bypasses("mta-sts.badexample.com"));
        assert!(
            ProxySettings::parse("http://p:1", "*.corp.example")
                .unwrap()
                .bypasses("mta-sts.corp.example")
        );
        assert!(
            ProxySettings::parse("http://p:1", "*")
                .unwrap()
                .bypasses("anything")
        );
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
