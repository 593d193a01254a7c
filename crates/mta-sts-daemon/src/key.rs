//! Postfix lookup keys (TLS_README "TLS policy table", PFX-1).

use std::net::{IpAddr, Ipv6Addr};

/// What to do with a lookup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Look up this policy domain: lower-case A-labels, no trailing dot.
    Domain(String),
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
/// assert_eq!(normalize_key("[Relay.Example.NET]:587"), Key::Domain("relay.example.net".into()));
/// assert_eq!(normalize_key(".example.com"), Key::Skip(Skip::ParentDomain));
/// assert_eq!(normalize_key("[192.0.2.1]:25"), Key::Skip(Skip::AddressLiteral));
/// ```
pub fn normalize_key(raw: &str) -> Key {
    match plain_domain(raw) {
        Some(domain) => Key::Domain(domain),
        None => normalize_any(raw),
    }
}

/// Every key form, through IDNA.
fn normalize_any(raw: &str) -> Key {
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
            Some((host, port)) if is_port_suffix(&format!(":{port}")) => host,
            Some(_) => return Key::Skip(Skip::NotADomain),
            None => raw,
        }
    };
    if is_address_literal(host) {
        return Key::Skip(Skip::AddressLiteral);
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    match to_policy_domain(host) {
        Some(domain) => Key::Domain(domain),
        None => Key::Skip(Skip::NotADomain),
    }
}

/// The common case without IDNA: a name of ASCII letters, digits and inner hyphens, two or more
/// labels of at most 63 bytes, at most 253 bytes, optionally one trailing dot, no `xn--` label (those
/// need IDNA's validation) and a last label that is not all digits (`192.0.2.1`). Anything else
/// takes the full path, which gives the same answer for every key this accepts.
fn plain_domain(raw: &str) -> Option<String> {
    let name = raw.strip_suffix('.').unwrap_or(raw);
    if name.len() > 253 {
        return None;
    }
    let mut labels = 0;
    let mut last_all_digits = false;
    for label in name.split('.') {
        let b = label.as_bytes();
        if b.is_empty()
            || b.len() > 63
            || b[0] == b'-'
            || b[b.len() - 1] == b'-'
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            || (b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"xn--"))
        {
            return None;
        }
        labels += 1;
        last_all_digits = b.iter().all(u8::is_ascii_digit);
    }
    (labels >= 2 && !last_all_digits).then(|| name.to_ascii_lowercase())
}

/// `:25`, `:587`, `:smtp`: a port number or a service name.
fn is_port_suffix(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(|p| {
        !p.is_empty() && p.len() <= 32 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_address_literal(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    let v6 = lower.strip_prefix("ipv6:").unwrap_or(&lower);
    host.parse::<IpAddr>().is_ok() || v6.parse::<Ipv6Addr>().is_ok()
}

/// Lower-case A-labels of a multi-label host name, or `None`.
fn to_policy_domain(host: &str) -> Option<String> {
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
        return None;
    }
    let ascii = idna::domain_to_ascii(host).ok()?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let valid = labels.len() >= 2
        && ascii.len() <= 253
        && labels.iter().all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        });
    valid.then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(s: &str) -> Key {
        Key::Domain(s.to_owned())
    }

    #[test]
    fn pfx_1_fast_path_agrees_with_the_full_path() {
        let fixed = [
            "example.com",
            "EXAMPLE.com.",
            "a.b",
            "1.2.3.4",
            "1.2.3.com",
            "a-.example",
            "-a.example",
            "a--b.example",
            "xn--bcher-kva.example",
            "XN--bcher-kva.example",
            "xn--zz.example",
            "a..b",
            "a.b..",
            "a",
            "a.",
            "x.1",
            "x.y1",
            "_dmarc.example",
            "ab.c-d.example",
        ];
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}.example", vec!["a".repeat(62); 4].join("."));
        for key in fixed
            .iter()
            .copied()
            .chain([long_label.as_str(), long_name.as_str()])
        {
            assert_eq!(normalize_key(key), normalize_any(key), "{key:?}");
        }
        // Random keys over an alphabet that reaches every branch of the fast path.
        let alphabet = b"aZ09-.x_n:[]";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            let mut key = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for i in 0..(state % 14) {
                key.push(alphabet[((state >> (4 * i)) % alphabet.len() as u64) as usize] as char);
            }
            if state.is_multiple_of(5) {
                key.insert_str(0, "xn--");
            }
            assert_eq!(normalize_key(&key), normalize_any(&key), "{key:?}");
        }
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
