//! Postfix lookup keys (TLS_README "TLS policy table", PFX-1).

use std::net::{IpAddr, Ipv6Addr};

use mta_sts_policy::Domain;

/// What to do with a lookup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Look up this policy domain.
    Domain(Domain),
    /// Answer `NOTFOUND ` without any lookup.
    Skip(Skip),
}

/// Why a key gets no lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// A `.parent` key: Postfix's parent-domain search; RFC 8461 §3.4 forbids parent policies (APPLY-6).
    ParentDomain,
    /// An IP address, bracketed or not: MTA-STS has no policies for address literals (APPLY-7).
    AddressLiteral,
    /// Not a domain name (a UNIX-socket path, a single label, bad characters, too long).
    NotADomain,
}

/// Normalises a key as Postfix sends it: `[host]:port` and `host:port` become `host` (a smart host
/// is the policy domain, APPLY-5), one trailing dot goes, case is folded (SOCK-7), U-labels become
/// A-labels.
///
/// ```
/// use mta_sts_daemon::{normalize_key, Key, Skip};
///
/// assert_eq!(normalize_key("[Relay.Example.NET]:587"), Key::Domain("relay.example.net".parse().unwrap()));
/// assert_eq!(normalize_key(".example.com"), Key::Skip(Skip::ParentDomain));
/// assert_eq!(normalize_key("[192.0.2.1]:25"), Key::Skip(Skip::AddressLiteral));
/// ```
pub fn normalize_key(raw: &str) -> Key {
    if raw.starts_with('.') {
        return Key::Skip(Skip::ParentDomain);
    }
    let host = if let Some(rest) = raw.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Key::Skip(Skip::NotADomain);
        };
        if !(after.is_empty() || is_port_suffix(after)) {
            return Key::Skip(Skip::NotADomain);
        }
        inside
    } else {
        match raw.rsplit_once(':') {
            // Two or more colons: an unbracketed IPv6 address, not host:port.
            Some((host, _)) if host.contains(':') => raw,
            Some((host, _)) if is_port_suffix(&raw[host.len()..]) => host,
            Some(_) => return Key::Skip(Skip::NotADomain),
            None => raw,
        }
    };
    if is_address_literal(host) {
        return Key::Skip(Skip::AddressLiteral);
    }
    match Domain::from_idna(host) {
        Ok(domain) => Key::Domain(domain),
        Err(_) => Key::Skip(Skip::NotADomain),
    }
}

/// `:25`, `:587`, `:smtp`: a port number or a service name.
fn is_port_suffix(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(|p| {
        !p.is_empty() && p.len() <= 32 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_address_literal(host: &str) -> bool {
    let v6 = host
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("ipv6:"))
        .map_or(host, |_| &host[5..]);
    host.parse::<IpAddr>().is_ok() || v6.parse::<Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(s: &str) -> Key {
        Key::Domain(s.parse().unwrap())
    }

    #[test]
    fn pfx_1_key_forms() {
        let table: &[(&str, Key)] = &[
            ("example.com", domain("example.com")),
            ("Example.COM", domain("example.com")),
            ("example.com.", domain("example.com")),
            (".example.com", Key::Skip(Skip::ParentDomain)),
            ("[mx.example.com]", domain("mx.example.com")),
            ("[mx.example.com]:587", domain("mx.example.com")),
            ("example.com:2525", domain("example.com")),
            ("example.com:smtp", domain("example.com")),
            ("[192.0.2.1]:25", Key::Skip(Skip::AddressLiteral)),
            ("[192.0.2.1]", Key::Skip(Skip::AddressLiteral)),
            ("[ipv6:2001:db8::1]", Key::Skip(Skip::AddressLiteral)),
            ("[IPv6:2001:db8::1]:25", Key::Skip(Skip::AddressLiteral)),
            ("[2001:db8::1]:123", Key::Skip(Skip::AddressLiteral)),
            ("2001:db8::1", Key::Skip(Skip::AddressLiteral)),
            ("192.0.2.1", Key::Skip(Skip::AddressLiteral)),
            ("/var/run/lmtp.sock", Key::Skip(Skip::NotADomain)),
            ("localhost", Key::Skip(Skip::NotADomain)),
            ("bücher.example", domain("xn--bcher-kva.example")),
            ("", Key::Skip(Skip::NotADomain)),
            ("a..b", Key::Skip(Skip::NotADomain)),
            ("example.com..", Key::Skip(Skip::NotADomain)),
            ("[mx.example.com", Key::Skip(Skip::NotADomain)),
            ("[mx.example.com]x", Key::Skip(Skip::NotADomain)),
            ("exa mple.com", Key::Skip(Skip::NotADomain)),
            ("example.com:25:25", Key::Skip(Skip::NotADomain)),
        ];
        for (key, expected) in table {
            assert_eq!(&normalize_key(key), expected, "{key:?}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert_eq!(normalize_key(&long), Key::Skip(Skip::NotADomain));
    }

    #[test]
    fn apply_5_smart_host_is_the_policy_domain() {
        assert_eq!(
            normalize_key("[relay.example.net]:587"),
            domain("relay.example.net")
        );
    }

    #[test]
    fn apply_6_parent_keys_never_looked_up() {
        assert_eq!(normalize_key(".com"), Key::Skip(Skip::ParentDomain));
    }

    #[test]
    fn apply_7_address_literals() {
        for key in ["[192.0.2.1]", "[192.0.2.1]:25", "[2001:db8::1]:123"] {
            assert_eq!(normalize_key(key), Key::Skip(Skip::AddressLiteral), "{key}");
        }
    }

    #[test]
    fn sock_7_mixed_case_same_answer() {
        assert_eq!(normalize_key("Example.COM"), normalize_key("example.com"));
    }
}
