use std::fmt;

use crate::{Mode, MxError};

/// A policy file that cannot be applied: where (line, 1-based) and what.
///
/// `line` is `None` for problems with the file as a whole, such as a missing required field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    line: Option<usize>,
    kind: PolicyErrorKind,
}

impl PolicyError {
    pub(crate) fn new(line: Option<usize>, kind: PolicyErrorKind) -> Self {
        Self { line, kind }
    }

    /// The 1-based line the problem is on, if it is on one line.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &PolicyErrorKind {
        &self.kind
    }

    /// The rule this error enforces (e.g. `POL-4`; the IDs are listed in `docs/rules.md`).
    pub fn rule(&self) -> &'static str {
        self.kind.rule()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.kind),
            None => fmt::Display::fmt(&self.kind, f),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The reasons a policy file is refused (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The body is not UTF-8 (the only encoding the ABNF allows, US-ASCII being a subset).
    #[error("the policy is not valid UTF-8")]
    NotUtf8,
    /// The body starts with a UTF-8 byte order mark, which the ABNF has no room for.
    #[error("the policy starts with a byte order mark (U+FEFF); save the file without it")]
    ByteOrderMark,
    /// A line starts with a space or tab.
    #[error("a line may not start with whitespace")]
    LeadingWhitespace,
    /// A line starts with `:`.
    #[error("a line has no key before ':'")]
    EmptyKey,
    /// A key contains a character other than letters, digits, `_`, `-` and `.`.
    #[error("invalid character {0:?} in a key (keys are letters, digits, '_', '-' and '.')")]
    InvalidKey(char),
    /// A key starts with `_`, `-` or `.`, which may only follow its first character.
    #[error("a key must start with a letter or digit, found {0:?}")]
    InvalidKeyStart(char),
    /// A key longer than 32 characters.
    #[error("a key is longer than 32 characters")]
    KeyTooLong,
    /// Whitespace between a key and its `:`.
    #[error("no whitespace is allowed between a key and ':' (write \"key: value\")")]
    WhitespaceBeforeColon,
    /// A line with no `:` at all.
    #[error("expected \"key: value\", found no ':'")]
    MissingColon,
    /// A key with nothing after the `:`.
    #[error("key {0:?} has an empty value")]
    EmptyValue(String),
    /// A control character (tab inside a value, bare CR, NUL, ...).
    #[error(
        "control character 0x{0:02x} is not allowed (lines end in LF or CRLF; values contain no tabs or control characters)"
    )]
    ControlCharacter(u8),
    /// `version` is not `STSv1`.
    #[error("version must be \"STSv1\" (case-sensitive), found {0:?}")]
    InvalidVersion(String),
    /// `mode` is not one of the three case-sensitive values.
    #[error("mode must be \"enforce\", \"testing\" or \"none\" (lower case), found {0:?}")]
    InvalidMode(String),
    /// `max_age` is not 1 to 10 decimal digits.
    #[error("max_age must be 1 to 10 decimal digits (seconds), found {0:?}")]
    InvalidMaxAge(String),
    /// A `max_age` above 31557600 where it cannot be clamped (`MaxAge::from_str`).
    #[error("max_age must be at most 31557600 seconds, found {0}")]
    MaxAgeTooLarge(String),
    /// An `mx` value that is not `["*."] Domain` in A-labels.
    #[error("invalid mx pattern {value:?}: {reason}")]
    InvalidMx {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: MxError,
    },
    /// A required field is absent.
    #[error("the required field \"{0}\" is missing")]
    MissingField(&'static str),
    /// `enforce` or `testing` without any `mx` line.
    #[error("mode {0} requires at least one \"mx:\" line")]
    MissingMx(Mode),
    /// A known key (`version`, `mode`, `max_age`, `mx`) given where an extension was expected.
    #[error("{0:?} is a field defined by RFC 8461, not an extension")]
    ReservedKey(String),
    /// A value with leading or trailing whitespace where it would be lost.
    #[error("the value of {0:?} may not start or end with whitespace")]
    ValueWhitespace(String),
    /// More `mx` lines than the parser accepts.
    #[error("more than {max} mx lines")]
    TooManyMx {
        /// The limit, [`Policy::MAX_MX`](crate::Policy::MAX_MX).
        max: usize,
    },
    /// More distinct extension keys than the parser accepts.
    #[error("more than {max} distinct extension keys")]
    TooManyExtensions {
        /// The limit, [`Policy::MAX_EXTENSIONS`](crate::Policy::MAX_EXTENSIONS).
        max: usize,
    },
    /// An extension key added twice with [`Policy::with_extension`](crate::Policy::with_extension).
    #[error("extension key {0:?} is already present")]
    DuplicateKey(String),
}

impl PolicyErrorKind {
    /// The rule (`POL-*`, `FETCH-12`, `SEC-1`, listed in `docs/rules.md`) that this error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NotUtf8 | Self::ByteOrderMark => "FETCH-12",
            Self::InvalidKey(_) | Self::InvalidKeyStart(_) => "POL-10",
            Self::KeyTooLong | Self::EmptyKey => "POL-10",
            Self::MissingColon | Self::EmptyValue(_) => "POL-10",
            Self::ReservedKey(_) | Self::ValueWhitespace(_) => "POL-10",
            Self::LeadingWhitespace | Self::WhitespaceBeforeColon => "POL-7",
            Self::ControlCharacter(b'\r') => "POL-6",
            Self::ControlCharacter(_) => "POL-10",
            Self::InvalidVersion(_) => "POL-3",
            Self::InvalidMode(_) => "POL-4",
            Self::InvalidMaxAge(_) | Self::MaxAgeTooLarge(_) => "POL-5",
            Self::InvalidMx { .. } => "POL-9",
            Self::MissingField(_) | Self::MissingMx(_) => "POL-2",
            Self::TooManyMx { .. } | Self::TooManyExtensions { .. } => "SEC-1",
            Self::DuplicateKey(_) => "POL-8",
        }
    }
}
