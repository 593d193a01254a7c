//! Host names and IP addresses, as an `https:` URI writes them (RFC 3986 §3.2.2) and as the domain
//! of a mail address does (RFC 5321 §4.1.2-4.1.3).

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why the host of an `https:` reporting URI, or the domain of a `mailto:` one, names nothing a
/// reporter can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HostProblem {
    /// Nothing where a host was expected.
    #[error("it is empty")]
    Empty,
    /// More than 253 characters (RFC 1035 §2.3.4, less the root label).
    #[error("it is longer than 253 characters")]
    TooLong,
    /// A leading dot, or two dots in a row.
    #[error("it has an empty label (a leading dot, or two dots in a row)")]
    EmptyLabel,
    /// A label of more than 63 characters (RFC 1035 §2.3.4).
    #[error("a label is longer than 63 characters")]
    LabelTooLong,
    /// A character other than a letter, digit or hyphen in a label (RFC 1123 §2.1).
    #[error("{0:?} is not a letter, digit or hyphen")]
    LabelCharacter(char),
    /// A label that begins or ends with a hyphen (RFC 1123 §2.1).
    #[error("a label begins or ends with a hyphen")]
    LabelHyphen,
    /// The last label is all digits: no top-level domain is, and it is not an IPv4 address either
    /// (RFC 3696 §2).
    #[error("its last label is all digits, so it is neither a host name nor an IPv4 address")]
    NumericTld,
    /// A mail domain ending with a dot: RFC 5322's dot-atom does not allow it.
    #[error("a mail domain may not end with a dot")]
    TrailingDot,
    /// A bare IPv4 address as a mail domain: RFC 5321 §4.1.3 writes it in brackets.
    #[error("an IPv4 address in a mail address is written in brackets, e.g. [192.0.2.1]")]
    UnbracketedIpv4,
    /// An IPv4 address in brackets in a URI: RFC 3986 §3.2.2 brackets only IPv6 (and IPvFuture).
    #[error("an IPv4 address is written without brackets in a URI")]
    BracketedIpv4,
    /// A mail address literal holding an IPv6 address without the `IPv6:` tag (RFC 5321 §4.1.3).
    #[error("an IPv6 address in a mail address needs the \"IPv6:\" tag, e.g. [IPv6:2001:db8::1]")]
    UntaggedIpv6,
    /// Brackets around something that is not an IPv4 or IPv6 address.
    #[error("the brackets do not hold an IPv4 or IPv6 address")]
    AddressLiteral,
}

/// A DNS host name: letter-digit-hyphen labels of 1 to 63 characters, not beginning or ending with
/// a hyphen, 253 characters in all, one trailing dot allowed; the last label not all digits.
///
/// [`HostProblem::NumericTld`] is checked last, so a name failing only that is otherwise well formed.
pub(crate) fn host_name(name: &str) -> Result<(), HostProblem> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(HostProblem::Empty);
    }
    if name.len() > 253 {
        return Err(HostProblem::TooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostProblem::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(HostProblem::LabelTooLong);
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !c.is_ascii_alphanumeric() && c != '-')
        {
            return Err(HostProblem::LabelCharacter(c));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostProblem::LabelHyphen);
        }
    }
    let tld = name.rsplit('.').next().unwrap_or(name);
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostProblem::NumericTld);
    }
    Ok(())
}

/// The host of an `https:` URI: a host name, a dotted IPv4 address, or an IPv6 address in brackets.
pub(crate) fn uri_host(host: &str) -> Result<(), HostProblem> {
    if let Some(inner) = bracketed(host)? {
        return match inner {
            _ if inner.parse::<Ipv6Addr>().is_ok() => Ok(()),
            _ if inner.parse::<Ipv4Addr>().is_ok() => Err(HostProblem::BracketedIpv4),
            _ => Err(HostProblem::AddressLiteral),
        };
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    host_name(host)
}

/// The domain of a mail address: a host name without a trailing dot, or an address literal,
/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub(crate) fn mail_domain(domain: &str) -> Result<(), HostProblem> {
    if let Some(inner) = bracketed(domain)? {
        let tagged_v6 = inner
            .get(..5)
            .filter(|tag| tag.eq_ignore_ascii_case("IPv6:"))
            .map(|_| &inner[5..]);
        return match tagged_v6 {
            Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => Ok(()),
            None if inner.parse::<Ipv4Addr>().is_ok() => Ok(()),
            None if inner.parse::<Ipv6Addr>().is_ok() => Err(HostProblem::UntaggedIpv6),
            _ => Err(HostProblem::AddressLiteral),
        };
    }
    if domain.ends_with('.') {
        return Err(HostProblem::TrailingDot);
    }
    if domain.parse::<Ipv4Addr>().is_ok() {
        return Err(HostProblem::UnbracketedIpv4);
    }
    host_name(domain)
}

/// The inside of `[…]`; `None` when `host` does not begin with `[`.
fn bracketed(host: &str) -> Result<Option<&str>, HostProblem> {
    match host.strip_prefix('[') {
        None => Ok(None),
        Some(rest) => rest
            .strip_suffix(']')
            .map(Some)
            .ok_or(HostProblem::AddressLiteral),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpt_3_host_names() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}example", "a.".repeat(124)); // 255 characters
        let longest = format!("{}example.", "a.".repeat(123)); // 253 and the root dot
        let table: &[(&str, Result<(), HostProblem>)] = &[
            ("reports.example.com", Ok(())),
            ("reports.example.com.", Ok(())),
            ("xn--bcher-kva.example", Ok(())),
            ("localhost", Ok(())),
            ("a-1.b2", Ok(())),
            (&longest, Ok(())),
            ("", Err(HostProblem::Empty)),
            (".", Err(HostProblem::Empty)),
            (&long_name, Err(HostProblem::TooLong)),
            ("a..example", Err(HostProblem::EmptyLabel)),
            (".example", Err(HostProblem::EmptyLabel)),
            (&long_label, Err(HostProblem::LabelTooLong)),
            ("a_b.example", Err(HostProblem::LabelCharacter('_'))),
            ("bücher.example", Err(HostProblem::LabelCharacter('ü'))),
            ("-a.example", Err(HostProblem::LabelHyphen)),
            ("a-.example", Err(HostProblem::LabelHyphen)),
            ("reports.123", Err(HostProblem::NumericTld)),
            ("1.2.3", Err(HostProblem::NumericTld)),
            ("256.1.1.1", Err(HostProblem::NumericTld)),
        ];
        for (name, expected) in table {
            assert_eq!(host_name(name), *expected, "{name:?}");
        }
    }

    #[test]
    fn rpt_3_uri_hosts() {
        let table: &[(&str, Result<(), HostProblem>)] = &[
            ("reports.example.com", Ok(())),
            ("reports.example.com.", Ok(())),
            ("192.0.2.1", Ok(())),
            ("[2001:db8::1]", Ok(())),
            ("[192.0.2.1]", Err(HostProblem::BracketedIpv4)),
            ("[IPv6:2001:db8::1]", Err(HostProblem::AddressLiteral)),
            ("[2001:db8::1", Err(HostProblem::AddressLiteral)),
            ("1.2.3", Err(HostProblem::NumericTld)),
            ("192.0.2.256", Err(HostProblem::NumericTld)),
        ];
        for (host, expected) in table {
            assert_eq!(uri_host(host), *expected, "{host:?}");
        }
    }

    #[test]
    fn rpt_3_mail_domains() {
        let table: &[(&str, Result<(), HostProblem>)] = &[
            ("example.com", Ok(())),
            ("[192.0.2.1]", Ok(())),
            ("[IPv6:2001:db8::1]", Ok(())),
            ("[ipv6:2001:db8::1]", Ok(())),
            ("example.com.", Err(HostProblem::TrailingDot)),
            ("192.0.2.1", Err(HostProblem::UnbracketedIpv4)),
            ("[2001:db8::1]", Err(HostProblem::UntaggedIpv6)),
            ("[IPv6:192.0.2.1]", Err(HostProblem::AddressLiteral)),
            ("[example.com]", Err(HostProblem::AddressLiteral)),
            ("[]", Err(HostProblem::AddressLiteral)),
            ("mail.123", Err(HostProblem::NumericTld)),
            ("a..example", Err(HostProblem::EmptyLabel)),
        ];
        for (domain, expected) in table {
            assert_eq!(mail_domain(domain), *expected, "{domain:?}");
        }
    }
}
