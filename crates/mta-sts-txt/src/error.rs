use std::fmt;

/// A TXT record that does not follow the ABNF of RFC 8461 §3.1 or RFC 8460 §3.
///
/// Carries the byte offset in the (concatenated) record where parsing stopped, and what was wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    position: usize,
    kind: SyntaxErrorKind,
}

impl SyntaxError {
    pub(crate) fn new(position: usize, kind: SyntaxErrorKind) -> Self {
        Self { position, kind }
    }

    /// Byte offset into the record text where the problem was found.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong.
    pub fn kind(&self) -> &SyntaxErrorKind {
        &self.kind
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.position, self.kind)
    }
}

impl std::error::Error for SyntaxError {}

/// The reasons a TXT record can be syntactically invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxErrorKind {
    /// The record does not begin with the exact, case-sensitive version field.
    #[error("the record must begin with \"{expected}\", {}", found_phrase(.found))]
    #[non_exhaustive]
    Version {
        /// The version field that was expected (`v=STSv1` or `v=TLSRPTv1`).
        expected: &'static str,
        /// The record's first field, up to the first `;` (shortened when long; lossy UTF-8).
        found: String,
    },
    /// A byte outside US-ASCII (RFC 8461 §3.1: records "MUST be US-ASCII").
    #[error("byte 0x{0:02x} is not US-ASCII")]
    NonAscii(u8),
    /// Something other than `;` (with optional spaces or tabs around it) follows a field.
    #[error("expected \";\" between fields")]
    ExpectedDelimiter,
    /// Two delimiters in a row (`;;`). A single trailing `;` is allowed; after the version alone it
    /// gives [`MissingId`](Self::MissingId) or [`MissingRua`](Self::MissingRua).
    #[error("empty field between two \";\"")]
    EmptyField,
    /// A field name whose first character is not a letter or digit (`_x=1`, `-x=1`, `.x=1`).
    #[error("a field name must start with a letter or digit, not {0:?}")]
    FieldNameStart(char),
    /// A field name with a character other than `A-Z a-z 0-9 _ - .` after its first one.
    #[error(
        "invalid field name: after the first character, only letters, digits, '_', '-' or '.' may follow"
    )]
    InvalidFieldName,
    /// A field name longer than 32 characters.
    #[error("field name longer than 32 characters")]
    FieldNameTooLong,
    /// A field name not followed by `=`.
    #[error("expected \"=\" after the field name")]
    MissingEquals,
    /// A field with nothing after `=`.
    #[error("empty value after \"=\"")]
    EmptyValue,
    /// A value containing `=`, a space or a control character.
    #[error("invalid character {0:?} in a field value")]
    InvalidValue(char),
    /// A field name this type keeps separately (`id`, `rua`) given as an extension.
    #[error("this field name is reserved by the RFC and cannot be an extension")]
    ReservedName,
    /// The `id` value contains other than letters and digits.
    #[error("the id may contain only letters and digits")]
    InvalidId,
    /// The `id` value is longer than 32 characters.
    #[error("the id is longer than 32 characters")]
    IdTooLong,
    /// No `id=` field (RFC 8461 §3.1: "sts-id record is required").
    #[error("the required id field is missing")]
    MissingId,
    /// No `rua=` field (RFC 8460 §3: "tlsrpt-rua record is required").
    #[error("the required rua field is missing")]
    MissingRua,
    /// A reporting URI that is not a valid URI.
    #[error("invalid reporting URI: {0}")]
    InvalidUri(UriErrorKind),
}

impl SyntaxErrorKind {
    /// The rule (`TXT-*`, `RPT-*`, explained in `docs/rules.md`) this error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Version { expected, .. } if expected.starts_with("v=TLS") => "RPT-2",
            Self::Version { .. } => "TXT-3",
            Self::NonAscii(_) => "TXT-2",
            Self::ExpectedDelimiter | Self::EmptyField => "TXT-6",
            Self::FieldNameStart(_)
            | Self::InvalidFieldName
            | Self::FieldNameTooLong
            | Self::MissingEquals
            | Self::EmptyValue
            | Self::InvalidValue(_)
            | Self::ReservedName => "TXT-7",
            Self::InvalidId | Self::IdTooLong => "TXT-4",
            Self::MissingId => "TXT-5",
            Self::MissingRua => "RPT-3",
            Self::InvalidUri(UriErrorKind::UnencodedReserved) => "RPT-4",
            Self::InvalidUri(_) => "RPT-3",
        }
    }
}

/// How [`SyntaxErrorKind::Version`] quotes what the record began with; `{:?}` escapes control
/// characters, so a hostile record cannot drive the terminal it is shown on.
fn found_phrase(found: &str) -> String {
    if found.is_empty() {
        "but it is empty".to_owned()
    } else {
        format!("found {found:?}")
    }
}

/// Why a `rua` URI was refused (RFC 8460 §3, RFC 3986).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriErrorKind {
    /// Nothing where a URI was expected.
    #[error("empty URI")]
    Empty,
    /// No `scheme:` prefix.
    #[error("missing or invalid scheme")]
    Scheme,
    /// A `!` left unencoded (RFC 8460 §3: commas, `!` and `;` "MUST be encoded").
    #[error("'!' must be percent-encoded as %21")]
    UnencodedReserved,
    /// A `%` not followed by two hexadecimal digits.
    #[error("'%' must be followed by two hexadecimal digits")]
    PercentEncoding,
    /// A character that may not appear in a URI.
    #[error("character {0:?} is not allowed in a URI")]
    Character(char),
    /// A `mailto:` URI without a `local@domain` address.
    #[error("mailto: URI needs an address of the form local@domain")]
    MailtoAddress,
    /// An `https:` URI without `//host`, or with an invalid host or port.
    #[error("https: URI needs //host with an optional :port")]
    HttpsAuthority,
}

/// Why no single valid record could be selected from a TXT RRset (RFC 8461 §3.1, RFC 8460 §3).
///
/// Every variant means the same thing to a sending MTA: the domain has no usable record, so MTA-STS
/// (or TLSRPT) is not in effect. The variants say why, for logs and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// No record begins with the version field followed by `;`.
    #[error("no record begins with \"{version};\" ({discarded} other TXT records discarded)")]
    NotFound {
        /// The version tag looked for.
        version: &'static str,
        /// How many TXT records were discarded because they did not begin with it.
        discarded: usize,
    },
    /// More than one record begins with the version field; the RFCs say to treat this as no record.
    #[error("{count} records begin with \"{version};\"; exactly one is required")]
    Ambiguous {
        /// The version tag looked for.
        version: &'static str,
        /// How many candidate records there were.
        count: usize,
    },
    /// The one candidate record is syntactically invalid.
    #[error("invalid record: {0}")]
    Syntax(#[from] SyntaxError),
}
