//! Findings that do not make a policy invalid, and the sentence each one is told with.

use std::fmt;

use crate::PolicyErrorKind;

/// A finding that does not make a policy invalid: legal, but likely not what the publisher meant,
/// or fragile with some senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Warning {
    /// An empty or whitespace-only line.
    BlankLine,
    /// A later occurrence of a non-repeated key, ignored (POL-8); `invalid` says what would be
    /// wrong with its value if it counted.
    Duplicate {
        name: String,
        first: usize,
        invalid: Option<PolicyErrorKind>,
    },
    /// The same mx pattern twice.
    DuplicateMx(String),
    /// Every line ends in LF alone.
    LfLineEnds,
    /// Some lines end in LF, others in CRLF.
    MixedLineEnds { lf: usize, crlf: usize },
    /// max_age above 31557600, read as 31557600.
    MaxAgeClamped,
    /// max_age 0: nothing can be cached.
    MaxAgeZero,
    /// max_age under a day.
    MaxAgeShort(u32),
    /// An mx pattern written with a trailing dot.
    MxTrailingDot,
    /// mx lines in a policy whose mode is none.
    MxInModeNone,
    /// A key that is a known key in another case, so an extension.
    KeyCase { found: String, known: &'static str },
    /// `*.tld`: any host under a top-level domain.
    WildcardTld(String),
    /// `*.<policy domain>`: every host of the domain.
    WildcardDomain(String),
    /// A pattern shaped like an IP address, which no MX host name matches.
    MxAddress(String),
    /// A body longer than senders read (the size, in bytes).
    BodyTooLarge(usize),
}

impl Warning {
    /// The rule ID behind the warning.
    pub(crate) fn rule(&self) -> &'static str {
        match self {
            Self::BlankLine => "A-5",
            Self::Duplicate { .. } => "POL-8",
            Self::DuplicateMx(_) => "POL-9",
            Self::LfLineEnds | Self::MixedLineEnds { .. } => "POL-6",
            Self::MaxAgeClamped => "A-3",
            Self::MaxAgeZero => "A-15",
            Self::MaxAgeShort(_) => "POL-5",
            Self::MxTrailingDot => "A-9",
            Self::MxInModeNone => "POL-2",
            Self::KeyCase { .. } => "POL-2",
            Self::WildcardTld(_) | Self::WildcardDomain(_) => "SEC-5",
            Self::MxAddress(_) => "MATCH-1",
            Self::BodyTooLarge(_) => "FETCH-8",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BlankLine => f.write_str(
                "blank line: RFC 8461's grammar has no empty lines; most senders skip them but strict ones may refuse the policy",
            ),
            Self::Duplicate { name, first, invalid } => {
                write!(
                    f,
                    "duplicate \"{name}\": only the first (line {first}) counts, this one is ignored"
                )?;
                match invalid {
                    Some(why) => write!(f, "; its value would not be valid anyway: {why}"),
                    None => Ok(()),
                }
            }
            Self::DuplicateMx(p) => write!(f, "mx pattern {p:?} is listed more than once"),
            Self::LfLineEnds => f.write_str(
                "lines end in LF only: RFC 8461's grammar allows it, but its prose says CRLF-separated",
            ),
            Self::MixedLineEnds { lf, crlf } => write!(
                f,
                "mixed line ends ({lf} LF, {crlf} CRLF): pick one, preferably CRLF"
            ),
            Self::MaxAgeClamped => f.write_str(
                "max_age is above the maximum 31557600 (one year); senders use 31557600",
            ),
            Self::MaxAgeZero => f.write_str(
                "max_age is 0: senders cannot cache the policy, so it protects almost nothing",
            ),
            Self::MaxAgeShort(secs) => write!(
                f,
                "max_age {secs} is under one day; RFC 8461 §10.2 advises weeks or longer (e.g. 604800 or more)"
            ),
            Self::MxTrailingDot => f.write_str(
                "trailing dot in an mx pattern: not RFC 5321 syntax; accepted here and ignored, other senders may refuse it",
            ),
            Self::MxInModeNone => f.write_str("mode is none: the mx lines have no effect"),
            Self::KeyCase { found, known } => write!(
                f,
                "key {found:?} is not {known:?}: keys are case-sensitive, so this line is an unknown extension and ignored"
            ),
            Self::WildcardTld(p) => write!(
                f,
                "{p} matches any host directly under a top-level domain: list your own MX names"
            ),
            Self::WildcardDomain(p) => write!(
                f,
                "{p} matches every host in the domain, so anyone who controls one of them can receive its mail (RFC 8461 §10.4)"
            ),
            Self::BodyTooLarge(size) => write!(
                f,
                "the policy is {size} bytes: senders stop reading at 64 KiB (65536 bytes), so they may refuse it or see it truncated"
            ),
            Self::MxAddress(p) => write!(
                f,
                "mx pattern {p:?} is shaped like an IP address, so it never matches an MX host name: MX records name hosts, not addresses"
            ),
        }
    }
}
