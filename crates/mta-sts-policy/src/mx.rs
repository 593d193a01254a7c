use std::fmt;
use std::str::FromStr;

/// An `mx` pattern of a policy: a host name, or `*.` and a domain (RFC 8461 §3.2, §4.1).
///
/// Holds only valid patterns: `["*."] Domain` in the RFC 5321 sense, ASCII letter-digit-hyphen
/// labels of 1 to 63 octets, at most 253 octets in all, internationalised names as A-labels. One
/// trailing dot is accepted and dropped (ambiguity A-9).
///
/// `S` is where the text lives: `MxPattern` (the default, `Box<str>`) owns it, as parsing one
/// gives; [`Policy::mx`](crate::Policy::mx) lends `MxPattern<&str>` views of the patterns a policy
/// keeps together in one buffer. Both have the same methods and compare equal across storage.
///
/// ```
/// use mta_sts_policy::MxPattern;
///
/// let pattern: MxPattern = "*.example.net".parse()?;
/// assert!(pattern.matches("mx1.example.net"));
/// assert!(pattern.matches("MX1.Example.NET."));
/// assert!(!pattern.matches("example.net"));
/// assert!(!pattern.matches("a.b.example.net"));
/// # Ok::<(), mta_sts_policy::MxError>(())
/// ```
#[derive(Clone, Copy)]
pub struct MxPattern<S = Box<str>> {
    /// The pattern as written, without a trailing dot.
    text: S,
}

impl<S: AsRef<str>> fmt::Debug for MxPattern<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MxPattern").field(&self.text()).finish()
    }
}

/// Equal when they match the same hosts: DNS names ignore ASCII case (MATCH-4).
impl<A: AsRef<str>, B: AsRef<str>> PartialEq<MxPattern<B>> for MxPattern<A> {
    fn eq(&self, other: &MxPattern<B>) -> bool {
        self.text().eq_ignore_ascii_case(other.text())
    }
}

impl<S: AsRef<str>> Eq for MxPattern<S> {}

impl<S: AsRef<str>> std::hash::Hash for MxPattern<S> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let text = self.text();
        state.write_usize(text.len());
        for b in text.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

/// Why an `mx` value is not a valid pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MxError {
    /// The value is empty.
    #[error("empty pattern")]
    Empty,
    /// Non-ASCII text: internationalised names must be written as A-labels (RFC 8461 §3.2).
    #[error(
        "internationalised names must be written as A-labels (Punycode, \"xn--…\"), not U-labels"
    )]
    ULabel,
    /// A `*` anywhere but as the whole left-most label followed by a domain.
    #[error("a wildcard is allowed only as the whole left-most label, as in \"*.example.com\"")]
    Wildcard,
    /// Two dots in a row, or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 octets.
    #[error("a label is longer than 63 characters")]
    LabelTooLong,
    /// More than 253 octets.
    #[error("the name is longer than 253 characters")]
    NameTooLong,
    /// A character other than letters, digits, `-` and `.`.
    #[error("invalid character {0:?} (host names are letters, digits, '-' and '.')")]
    Character(char),
    /// A label that starts or ends with `-`.
    #[error("a label may not start or end with '-'")]
    Hyphen,
}

impl<'a> MxPattern<&'a str> {
    /// A pattern [`Policy`](crate::Policy) validated when it was built.
    pub(crate) fn lent(text: &'a str) -> Self {
        Self { text }
    }

    /// The pattern as written (without a trailing dot), e.g. `*.example.net`, borrowed from the
    /// policy it was lent by.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
}

impl MxPattern {
    /// The pattern as written (without a trailing dot), e.g. `*.example.net`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<S: AsRef<str>> MxPattern<S> {
    fn text(&self) -> &str {
        self.text.as_ref()
    }

    /// The pattern owning its text (a copy of a lent one).
    pub fn into_owned(self) -> MxPattern {
        MxPattern {
            text: self.text().into(),
        }
    }

    /// Whether the pattern is a wildcard (`*.` followed by a domain).
    pub fn is_wildcard(&self) -> bool {
        self.text().starts_with("*.")
    }

    /// The part a wildcard must be followed by (`example.net` for `*.example.net`), or the whole name.
    pub fn domain(&self) -> &str {
        let text = self.text();
        text.strip_prefix("*.").unwrap_or(text)
    }

    /// Whether the domain part ends in an all-digit label, as an IPv4 address does (`127.0.0.1`,
    /// `*.1.2.3.4`). No top-level domain is all digits, so no MX host name (MX records name hosts,
    /// not addresses) can match such a pattern.
    pub(crate) fn is_address_shaped(&self) -> bool {
        let last = self.domain().rsplit('.').next().unwrap_or_default();
        last.bytes().all(|b| b.is_ascii_digit())
    }

    /// Whether an MX host name matches this pattern (RFC 8461 §4.1).
    ///
    /// - A literal pattern matches the same name (MATCH-3).
    /// - `*.d` matches exactly one non-empty label followed by `.d`: not `d` itself, not two labels (MATCH-2).
    /// - ASCII case is ignored (MATCH-4); one trailing dot on `host` is ignored (MATCH-5).
    /// - `host` must be in A-label form, as DNS returns it (MATCH-6).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        let text = self.text();
        match text.strip_prefix("*.") {
            None => host.eq_ignore_ascii_case(text),
            Some(suffix) => {
                // host = label "." suffix, with exactly one label in front.
                let Some(split) = host.len().checked_sub(suffix.len() + 1) else {
                    return false;
                };
                // Bytes, not str: the split may fall inside a multi-byte character of a bad host.
                let (label, rest) = host.as_bytes().split_at(split);
                rest[0] == b'.'
                    && rest[1..].eq_ignore_ascii_case(suffix.as_bytes())
                    && !label.is_empty()
                    && !label.contains(&b'.')
            }
        }
    }
}

impl FromStr for MxPattern {
    type Err = MxError;

    /// Validates `sts-policy-mx-value = ["*."] Domain` (POL-9).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(MxError::Empty);
        }
        if !s.is_ascii() {
            return Err(MxError::ULabel);
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let domain = name.strip_prefix("*.").unwrap_or(name);
        validate_domain(domain)?;
        Ok(Self { text: name.into() })
    }
}

/// RFC 5321 `Domain = sub-domain *("." sub-domain)`, `sub-domain = Let-dig [Ldh-str]`, with DNS lengths.
fn validate_domain(domain: &str) -> Result<(), MxError> {
    if domain.is_empty() {
        return Err(MxError::EmptyLabel);
    }
    if domain.len() > 253 {
        return Err(MxError::NameTooLong);
    }
    for label in domain.split('.') {
        let bytes = label.as_bytes();
        match bytes {
            [] => return Err(MxError::EmptyLabel),
            _ if bytes.len() > 63 => return Err(MxError::LabelTooLong),
            _ => {}
        }
        if let Some(&bad) = bytes
            .iter()
            .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(if bad == b'*' {
                MxError::Wildcard
            } else {
                MxError::Character(char::from(bad))
            });
        }
        if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
            return Err(MxError::Hyphen);
        }
    }
    Ok(())
}

impl<S: AsRef<str>> fmt::Display for MxPattern<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl From<MxPattern<&str>> for MxPattern {
    fn from(lent: MxPattern<&str>) -> Self {
        lent.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> MxPattern {
        s.parse().unwrap()
    }

    #[test]
    fn pol_9_pattern_syntax() {
        for ok in [
            "*.example.net",
            "mail.example.com",
            "xn--bcher-kva.example",
            "a",
            "1.example",
            "a-b.example",
        ] {
            assert!(ok.parse::<MxPattern>().is_ok(), "{ok}");
        }
        let table: &[(&str, MxError)] = &[
            ("mail.*.example.net", MxError::Wildcard),
            ("*example.net", MxError::Wildcard),
            ("*", MxError::Wildcard),
            ("*.", MxError::Wildcard),
            ("*..", MxError::EmptyLabel),
            ("*.*.example", MxError::Wildcard),
            ("a.example, b.example", MxError::Character(',')),
            ("bücher.example", MxError::ULabel),
            ("", MxError::Empty),
            (".example", MxError::EmptyLabel),
            ("a..example", MxError::EmptyLabel),
            ("-a.example", MxError::Hyphen),
            ("a-.example", MxError::Hyphen),
            ("a_b.example", MxError::Character('_')),
            ("mail.example.com..", MxError::EmptyLabel),
        ];
        for (input, err) in table {
            assert_eq!(input.parse::<MxPattern>(), Err(*err), "{input:?}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert_eq!(long_label.parse::<MxPattern>(), Err(MxError::LabelTooLong));
        let long_name = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long_name.parse::<MxPattern>(), Err(MxError::NameTooLong));
    }

    #[test]
    fn a_9_trailing_dot_accepted() {
        let pat = p("mail.example.com.");
        assert_eq!(pat, p("mail.example.com"));
    }

    #[test]
    fn equality_ignores_case() {
        use std::collections::HashSet;
        assert_eq!(p("MX.Example.com"), p("mx.example.COM"));
        assert_ne!(p("*.example.com"), p("example.com"));
        let set: HashSet<_> = [p("A.example"), p("a.EXAMPLE")].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    /// MATCH-1: MX records name hosts, so a pattern ending like an address matches none.
    #[test]
    fn match_1_address_shaped() {
        let table: &[(&str, bool)] = &[
            ("127.0.0.1", true),
            ("*.1.2.3.4", true),
            ("mx.example.123", true),
            ("1.example.com", false),
            ("x.y1", false),
            ("*.example.net", false),
            ("mail", false),
        ];
        for (pattern, expected) in table {
            assert_eq!(p(pattern).is_address_shaped(), *expected, "{pattern}");
        }
    }

    #[test]
    fn match_2_wildcard_one_label() {
        let pat = p("*.example.com");
        assert!(pat.matches("mail.example.com"));
        assert!(!pat.matches("example.com"));
        assert!(!pat.matches("foo.bar.example.com"));
        assert!(!pat.matches(".example.com"));
        assert!(!pat.matches("xexample.com"));
        assert!(!pat.matches("com"));
        assert!(!pat.matches(""));
    }

    #[test]
    fn match_3_literal() {
        let pat = p("mail.example.com");
        assert!(pat.matches("mail.example.com"));
        assert!(!pat.matches("mx.mail.example.com"));
        assert!(!pat.matches("example.com"));
    }

    #[test]
    fn match_4_case_insensitive() {
        assert!(p("*.Example.COM").matches("MAIL.example.com"));
        assert!(p("Mail.Example.com").matches("mail.EXAMPLE.com"));
    }

    #[test]
    fn match_5_one_trailing_dot() {
        assert!(p("mail.example.com").matches("mail.example.com."));
        assert!(!p("mail.example.com").matches("mail.example.com.."));
        assert!(p("*.example.com").matches("mail.example.com."));
        assert!(!p("*.example.com").matches("mail.example.com.."));
    }

    #[test]
    fn match_6_a_labels() {
        let pat = p("*.xn--bcher-kva.example");
        assert!(!pat.matches("xn--bcher-kva.example"));
        assert!(pat.matches("mx.xn--bcher-kva.example"));
        assert!(!pat.matches("mx.bücher.example"));
    }
}
