//! The policy domain: the one validated name every crate of the workspace passes around.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// A policy domain (RFC 8461 §1.2): the recipient domain, or the smart host Postfix relays to.
///
/// Holds only names in the form DNS and the caches use, so that nothing downstream normalises
/// again: lower-case A-labels, no trailing dot, at least two labels, each 1 to 63 octets of
/// letters, digits, `-` and `_` not starting or ending with `-`, at most 253 octets in all, and a
/// last label that is not all digits (which would make it an IPv4 address).
///
/// [`Domain::new`] (and `str::parse`) take ASCII and fold its case; with the `idna` feature,
/// [`Domain::from_idna`] also converts U-labels (`bücher.example`) and checks `xn--` labels.
///
/// ```
/// use mta_sts_policy::Domain;
///
/// let domain: Domain = "Example.COM.".parse()?;
/// assert_eq!(domain.as_str(), "example.com");
/// assert_eq!(domain.policy_host(), "mta-sts.example.com");
/// assert_eq!(domain.policy_url(), "https://mta-sts.example.com/.well-known/mta-sts.txt");
/// assert!("192.0.2.1".parse::<Domain>().is_err());
/// assert!("localhost".parse::<Domain>().is_err());
/// # Ok::<(), mta_sts_policy::DomainError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain(Box<str>);

/// The longest name in octets (RFC 1035 §2.3.4: 255 on the wire, less the length octets).
const MAX_NAME: usize = 253;

/// Why a name is not a [`Domain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Nothing, or only a dot.
    #[error("empty domain name")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    /// A label longer than 63 octets.
    #[error("a label is longer than 63 characters")]
    LabelTooLong,
    /// More than 253 octets.
    #[error("the name is longer than 253 characters")]
    TooLong,
    /// A character other than letters, digits, `-`, `_` and `.`.
    #[error("invalid character {0:?} (domain names are letters, digits, '-' and '.')")]
    Character(char),
    /// A label that starts or ends with `-`.
    #[error("a label may not start or end with '-'")]
    Hyphen,
    /// One label only: a top-level domain or a local host name has no MTA-STS policy.
    #[error("a single label is not a mail domain")]
    SingleLabel,
    /// All-digit last label: an IPv4 address, which has no MTA-STS policy (RFC 8461 §4.1).
    #[error("an IP address is not a domain name")]
    Address,
    /// Non-ASCII text given to [`Domain::new`]: use [`Domain::from_idna`] (feature `idna`).
    #[error("internationalised names must be given as A-labels (\"xn--…\")")]
    NotAscii,
    /// The IDNA conversion refused the name (an invalid U-label or `xn--` label).
    #[error("not a valid internationalised domain name")]
    Idna,
}

impl Domain {
    /// Checks an ASCII name, folding its case and dropping one trailing dot.
    pub fn new(name: &str) -> Result<Self, DomainError> {
        let name = name.strip_suffix('.').unwrap_or(name);
        check(name)?;
        Ok(Self(name.to_ascii_lowercase().into_boxed_str()))
    }

    /// Like [`new`](Self::new), and also converts U-labels to A-labels and checks `xn--` labels
    /// (UTS #46 as the `idna` crate applies it). Plain ASCII names without `xn--` labels take no
    /// IDNA work at all, which is most names.
    #[cfg(feature = "idna")]
    #[cfg_attr(docsrs, doc(cfg(feature = "idna")))]
    pub fn from_idna(name: &str) -> Result<Self, DomainError> {
        if name.is_ascii() && !has_a_label(name) {
            return Self::new(name);
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
            return Err(DomainError::Character(
                name.chars()
                    .find(|c| c.is_ascii_whitespace() || *c == '/')
                    .unwrap_or(' '),
            ));
        }
        // Every code point that reaches the A-label form costs at least one of its 253 octets
        // and at most 4 bytes of UTF-8, so a longer input cannot fit: refuse it before the
        // conversion, whose cost grows with the input (only code points UTS #46 drops, like soft
        // hyphens, could make such a name shorter, and no real name is built of them).
        if name.len() > 4 * MAX_NAME {
            return Err(DomainError::TooLong);
        }
        let ascii = idna::domain_to_ascii(name).map_err(|_| DomainError::Idna)?;
        check(&ascii)?;
        Ok(Self(ascii.into_boxed_str()))
    }

    /// The name: lower-case A-labels, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host that serves the domain's policy: `mta-sts.<domain>` (RFC 8461 §3.2, POL-1).
    pub fn policy_host(&self) -> String {
        format!("mta-sts.{}", self.0)
    }

    /// The URL of the domain's policy: `https://mta-sts.<domain>/.well-known/mta-sts.txt` (POL-1).
    pub fn policy_url(&self) -> String {
        format!("https://mta-sts.{}/.well-known/mta-sts.txt", self.0)
    }
}

#[cfg(feature = "idna")]
fn has_a_label(name: &str) -> bool {
    name.split('.')
        .any(|l| l.len() >= 4 && l.as_bytes()[..4].eq_ignore_ascii_case(b"xn--"))
}

/// The syntax rules of [`Domain`], on a name without its trailing dot.
fn check(name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if !name.is_ascii() {
        return Err(DomainError::NotAscii);
    }
    if name.len() > MAX_NAME {
        return Err(DomainError::TooLong);
    }
    let mut labels = 0usize;
    let mut last_all_digits = false;
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
            return Err(DomainError::EmptyLabel);
        };
        if bytes.len() > 63 {
            return Err(DomainError::LabelTooLong);
        }
        if let Some(&bad) = bytes
            .iter()
            .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(DomainError::Character(char::from(bad)));
        }
        if first == b'-' || last == b'-' {
            return Err(DomainError::Hyphen);
        }
        labels += 1;
        last_all_digits = bytes.iter().all(u8::is_ascii_digit);
    }
    if last_all_digits {
        return Err(DomainError::Address);
    }
    if labels < 2 {
        return Err(DomainError::SingleLabel);
    }
    Ok(())
}

impl FromStr for Domain {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Domain {
    type Error = DomainError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `Domain` be searched with a `&str` that is already normal.
impl Borrow<str> for Domain {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Domain {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Domain {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form() {
        let table: &[(&str, Result<&str, DomainError>)] = &[
            ("example.com", Ok("example.com")),
            ("EXAMPLE.com.", Ok("example.com")),
            ("a.b", Ok("a.b")),
            ("1.2.3.com", Ok("1.2.3.com")),
            ("x.y1", Ok("x.y1")),
            ("_dmarc.example", Ok("_dmarc.example")),
            ("a--b.example", Ok("a--b.example")),
            ("XN--bcher-kva.example", Ok("xn--bcher-kva.example")),
            ("", Err(DomainError::Empty)),
            (".", Err(DomainError::Empty)),
            ("a..b", Err(DomainError::EmptyLabel)),
            ("example.com..", Err(DomainError::EmptyLabel)),
            (".example.com", Err(DomainError::EmptyLabel)),
            ("a-.example", Err(DomainError::Hyphen)),
            ("-a.example", Err(DomainError::Hyphen)),
            ("exa mple.com", Err(DomainError::Character(' '))),
            ("example.com:25", Err(DomainError::Character(':'))),
            ("[mx.example]", Err(DomainError::Character('['))),
            ("localhost", Err(DomainError::SingleLabel)),
            ("a.", Err(DomainError::SingleLabel)),
            ("1.2.3.4", Err(DomainError::Address)),
            ("x.1", Err(DomainError::Address)),
            ("bücher.example", Err(DomainError::NotAscii)),
        ];
        for (input, expected) in table {
            let got = Domain::new(input);
            assert_eq!(
                got.as_ref().map(Domain::as_str).map_err(|e| *e),
                *expected,
                "{input:?}"
            );
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(Domain::new(&long_label), Err(DomainError::LabelTooLong));
        let long_name = format!("{}.example", vec!["a".repeat(62); 4].join("."));
        assert_eq!(Domain::new(&long_name), Err(DomainError::TooLong));
    }

    #[test]
    fn pol_1_location() {
        let d = Domain::new("example.com.").unwrap();
        assert_eq!(d.policy_host(), "mta-sts.example.com");
        assert_eq!(
            d.policy_url(),
            "https://mta-sts.example.com/.well-known/mta-sts.txt"
        );
    }

    #[cfg(feature = "idna")]
    #[test]
    fn idna_conversion() {
        let d = Domain::from_idna("Bücher.Example").unwrap();
        assert_eq!(d.as_str(), "xn--bcher-kva.example");
        assert_eq!(Domain::from_idna("xn--zz.example"), Err(DomainError::Idna));
        assert_eq!(
            Domain::from_idna("bücher .example"),
            Err(DomainError::Character(' '))
        );
    }

    /// The longest names in U-label form still convert; an input that could not fit in 253
    /// octets is refused before the conversion.
    #[cfg(feature = "idna")]
    #[test]
    fn idna_input_bound() {
        // Four labels of 14 four-byte code points: 227 bytes of UTF-8, each label an A-label of
        // fewer than 63 octets.
        let label = "😀".repeat(14);
        let long = format!("{label}.{label}.{label}.{label}.example");
        let converted = Domain::from_idna(&long).unwrap();
        assert!(converted.as_str().len() <= MAX_NAME, "{converted}");
        // Full-width letters: 3 bytes each in UTF-8, one octet each once mapped.
        let wide = format!("{}.example", "ａ".repeat(60));
        assert_eq!(
            Domain::from_idna(&wide).unwrap().as_str(),
            format!("{}.example", "a".repeat(60))
        );
        let huge = format!("{}.example", "ü.".repeat(600));
        assert!(huge.len() > 4 * MAX_NAME);
        assert_eq!(Domain::from_idna(&huge), Err(DomainError::TooLong));
    }

    /// The ASCII shortcut of `from_idna` must give exactly what the full IDNA path gives.
    #[cfg(feature = "idna")]
    #[test]
    fn idna_shortcut_agrees_with_the_full_path() {
        fn full(name: &str) -> Option<String> {
            let name = name.strip_suffix('.').unwrap_or(name);
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
                return None;
            }
            let ascii = idna::domain_to_ascii(name).ok()?;
            check(&ascii).ok().map(|()| ascii)
        }
        let fixed = [
            "example.com",
            "EXAMPLE.com.",
            "a.b",
            "1.2.3.4",
            "a-.example",
            "a--b.example",
            "xn--bcher-kva.example",
            "XN--bcher-kva.example",
            "xn--zz.example",
            "a..b",
            "a",
            "x.1",
            "_dmarc.example",
        ];
        let check_one = |key: &str| {
            let shortcut = Domain::from_idna(key).ok().map(|d| d.as_str().to_owned());
            assert_eq!(shortcut, full(key), "{key:?}");
        };
        fixed.iter().for_each(|k| check_one(k));
        // Random names over an alphabet that reaches every branch of the shortcut.
        let alphabet = b"aZ09-.x_n";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..100_000 {
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
            check_one(&key);
        }
    }
}
