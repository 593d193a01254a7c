//! Reporting URIs in a TLSRPT `rua` field (RFC 8460 §3, RFC 3986, RFC 6068).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use nom::bytes::complete::take_while;

use crate::field::{Rule, fail, is_wsp, to_syntax_error};
use crate::host::{HostProblem, host_name};
use crate::{SyntaxError, SyntaxErrorKind, UriErrorKind};

/// A reporting destination with a scheme RFC 8460 §3 supports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportUri {
    /// `mailto:` — reports are sent by SMTP (RFC 8460 §5.3).
    Mailto(MailtoUri),
    /// `https:` — reports are POSTed (RFC 8460 §5.4).
    Https(HttpsUri),
}

impl ReportUri {
    /// The URI exactly as it appeared in the record (percent-encoding kept).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Mailto(m) => &m.uri,
            Self::Https(h) => &h.uri,
        }
    }
}

/// Parses one `mailto:` or `https:` URI as it may appear in a `rua` field.
impl FromStr for ReportUri {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        match tlsrpt_uri(bytes) {
            Ok(([], Ok(uri))) => Ok(uri),
            Ok(([], Err(_))) => Err(SyntaxError::new(
                0,
                SyntaxErrorKind::InvalidUri(UriErrorKind::Scheme),
            )),
            Ok((rest, _)) => Err(SyntaxError::new(
                bytes.len() - rest.len(),
                SyntaxErrorKind::InvalidUri(UriErrorKind::Character(char::from(rest[0]))),
            )),
            Err(e) => Err(to_syntax_error(bytes, e)),
        }
    }
}

impl fmt::Display for ReportUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `mailto:` reporting URI with one `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailtoUri {
    uri: String,
    address: Range<usize>,
}

impl MailtoUri {
    /// The address part (before any `?headers`), still percent-encoded.
    pub fn address(&self) -> &str {
        &self.uri[self.address.clone()]
    }
}

/// An `https:` reporting URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpsUri {
    uri: String,
    host: Range<usize>,
    port: Option<u16>,
}

impl HttpsUri {
    /// The host: a DNS name, or an IP literal with its brackets.
    pub fn host(&self) -> &str {
        &self.uri[self.host.clone()]
    }

    /// The port, when the URI names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// Characters RFC 3986 allows in a URI, less `!`, `,` and `;`, which RFC 8460 §3 requires encoded.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b'='
                | b':'
                | b'@'
                | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
        )
}

fn uri_error<T>(at: &[u8], kind: UriErrorKind) -> Rule<'_, T> {
    fail(at, SyntaxErrorKind::InvalidUri(kind))
}

/// `tlsrpt-uri = URI`: returns a supported [`ReportUri`], or the text of a valid URI of another scheme.
pub(crate) fn tlsrpt_uri(input: &[u8]) -> Rule<'_, Result<ReportUri, String>> {
    let (rest, raw) = take_while(is_uri_char)(input)?;
    match rest.first() {
        None | Some(b',' | b';') => {}
        Some(&b) if is_wsp(b) => {}
        Some(b'!') => return uri_error(rest, UriErrorKind::UnencodedReserved),
        Some(&b) if !b.is_ascii() => return fail(rest, SyntaxErrorKind::NonAscii(b)),
        Some(&b) => return uri_error(rest, UriErrorKind::Character(char::from(b))),
    }
    if raw.is_empty() {
        return uri_error(input, UriErrorKind::Empty);
    }
    if let Some(i) = bad_percent(raw) {
        return uri_error(&input[i..], UriErrorKind::PercentEncoding);
    }
    // Every byte passed is_uri_char, so the slice is ASCII.
    let text = std::str::from_utf8(raw).unwrap_or_default();
    let Some(colon) = scheme_end(text) else {
        return uri_error(input, UriErrorKind::Scheme);
    };
    let scheme = &text[..colon];
    let parsed = if scheme.eq_ignore_ascii_case("mailto") {
        mailto(text, colon + 1).map(ReportUri::Mailto)
    } else if scheme.eq_ignore_ascii_case("https") {
        https(text, colon + 1).map(ReportUri::Https)
    } else {
        return Ok((rest, Err(text.to_owned())));
    };
    match parsed {
        Ok(uri) => Ok((rest, Ok(uri))),
        Err(kind) => uri_error(input, kind),
    }
}

/// Index of the first `%` not followed by two hex digits.
fn bad_percent(raw: &[u8]) -> Option<usize> {
    raw.iter().enumerate().find_map(|(i, &b)| {
        let ok = b != b'%'
            || (raw.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && raw.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        (!ok).then_some(i)
    })
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` followed by `:`; returns the colon's index.
fn scheme_end(text: &str) -> Option<usize> {
    let colon = text.find(':')?;
    let scheme = &text.as_bytes()[..colon];
    let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    valid.then_some(colon)
}

/// `mailto:local@domain[?hfields]` with exactly one address (RFC 6068 §2; commas must be encoded).
fn mailto(text: &str, start: usize) -> Result<MailtoUri, UriErrorKind> {
    let end = text[start..].find('?').map_or(text.len(), |i| start + i);
    let address = &text[start..end];
    let (local, domain) = address.split_once('@').ok_or(UriErrorKind::MailtoAddress)?;
    let valid_domain = is_domain(domain) || is_ip_literal(domain);
    if local.is_empty() || domain.contains('@') || !valid_domain || text[end..].contains('#') {
        return Err(UriErrorKind::MailtoAddress);
    }
    Ok(MailtoUri {
        uri: text.to_owned(),
        address: start..end,
    })
}

/// `https://host[:port][/path][?query][#fragment]` (RFC 9110 §4.2.2; no userinfo).
fn https(text: &str, start: usize) -> Result<HttpsUri, UriErrorKind> {
    let rest = text[start..]
        .strip_prefix("//")
        .ok_or(UriErrorKind::HttpsAuthority)?;
    let authority_start = start + 2;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    // RFC 3986 hosts: a name, dotted IPv4, or a bracketed IPv6 address (not SMTP's "IPv6:" form).
    let uri_ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|inner| ipv6_tagged(inner).is_none() && is_ip_literal(host));
    if !(is_domain(host) || uri_ip || host.parse::<std::net::Ipv4Addr>().is_ok()) {
        return Err(UriErrorKind::HttpsAuthority);
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UriErrorKind::HttpsAuthority),
                Ok(port) => Some(port),
            }
        }
        Some(_) => return Err(UriErrorKind::HttpsAuthority),
    };
    Ok(HttpsUri {
        uri: text.to_owned(),
        host: authority_start..authority_start + host.len(),
        port,
    })
}

/// A DNS name of letter-digit-hyphen labels, 1 to 63 octets each, 253 in all; one trailing dot allowed.
///
/// An all-digit last label is let through here and reported by [`ReportUri::problems`]: the record
/// stays usable for its other URIs.
fn is_domain(name: &str) -> bool {
    matches!(host_name(name), Ok(()) | Err(HostProblem::NumericTld))
}

/// `[` IPv6address or IPv4 in brackets `]` (loosely: hex digits, colons and dots inside brackets), or dotted IPv4.
fn is_ip_literal(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::IpAddr>().is_ok()
            || ipv6_tagged(inner).is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok());
    }
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The address after SMTP's `IPv6:` tag (RFC 5321 §4.1.3), which like every quoted ABNF string is
/// case-insensitive (RFC 5234 §2.3): `[ipv6:2001:db8::1]` is as valid as `[IPv6:2001:db8::1]`.
fn ipv6_tagged(inner: &str) -> Option<&str> {
    let tag = inner.get(..5)?;
    tag.eq_ignore_ascii_case("IPv6:").then(|| &inner[5..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Result<ReportUri, String>, SyntaxErrorKind> {
        tlsrpt_uri(input.as_bytes())
            .map(|(_, u)| u)
            .map_err(|e| match e {
                nom::Err::Error(e) | nom::Err::Failure(e) => e.kind,
                nom::Err::Incomplete(_) => unreachable!(),
            })
    }

    #[test]
    fn mailto_forms() {
        let Ok(Ok(ReportUri::Mailto(m))) = parse("mailto:tls-reports@example.com?subject=x") else {
            panic!("mailto not parsed")
        };
        assert_eq!(m.address(), "tls-reports@example.com");
        assert!(matches!(
            parse("MAILTO:a@example.com"),
            Ok(Ok(ReportUri::Mailto(_)))
        ));
        // RPT-3: the address-literal tag is case-insensitive, as in the problems() check.
        for literal in [
            "[IPv6:2001:db8::1]",
            "[ipv6:2001:db8::1]",
            "[IPV6:2001:db8::1]",
        ] {
            let uri = format!("mailto:a@{literal}");
            let Ok(Ok(parsed)) = parse(&uri) else {
                panic!("{uri} not parsed")
            };
            assert!(matches!(parsed, ReportUri::Mailto(_)), "{uri}");
            assert_eq!(parsed.problems(), Vec::new(), "{uri}");
        }
        for bad in [
            "mailto:",
            "mailto:example.com",
            "mailto:@example.com",
            "mailto:a@",
            "mailto:a@b@c",
        ] {
            assert_eq!(
                parse(bad),
                Err(SyntaxErrorKind::InvalidUri(UriErrorKind::MailtoAddress)),
                "{bad}"
            );
        }
    }

    #[test]
    fn https_forms() {
        let Ok(Ok(ReportUri::Https(h))) = parse("https://reports.example.com:8443/v1?x=1") else {
            panic!("https not parsed")
        };
        assert_eq!(h.host(), "reports.example.com");
        assert_eq!(h.port(), Some(8443));
        let Ok(Ok(ReportUri::Https(h))) = parse("https://[2001:db8::1]/r") else {
            panic!("ipv6 literal not parsed")
        };
        assert_eq!(h.host(), "[2001:db8::1]");
        assert_eq!(h.port(), None);
        for bad in [
            "https:reports.example.com",
            "https://",
            "https://a:99999/",
            "https://u@h.example/",
            "https://h.example:/",
            "https://[IPv6:2001:db8::1]/",
            "https://[ipv6:2001:db8::1]/",
            "https://h.example:0/",
        ] {
            assert_eq!(
                parse(bad),
                Err(SyntaxErrorKind::InvalidUri(UriErrorKind::HttpsAuthority)),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_schemes_and_errors() {
        assert_eq!(
            parse("ftp://x.example/"),
            Ok(Err("ftp://x.example/".to_owned()))
        );
        assert_eq!(
            parse("no-scheme"),
            Err(SyntaxErrorKind::InvalidUri(UriErrorKind::Scheme))
        );
        assert_eq!(
            parse("1x:y"),
            Err(SyntaxErrorKind::InvalidUri(UriErrorKind::Scheme))
        );
        assert_eq!(
            parse("mailto:a%2@example.com"),
            Err(SyntaxErrorKind::InvalidUri(UriErrorKind::PercentEncoding))
        );
        assert_eq!(
            parse("mailto:a\"b@example.com"),
            Err(SyntaxErrorKind::InvalidUri(UriErrorKind::Character('"')))
        );
    }
}
