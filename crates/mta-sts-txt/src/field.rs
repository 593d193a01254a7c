//! The ABNF rules that RFC 8461 §3.1 and RFC 8460 §3 share: field delimiters, extension names and values.
//!
//! Each function is named after the rule it implements. They work on bytes and report failures as
//! `nom::Err::Failure` carrying a [`SyntaxErrorKind`], so the record parsers can turn them into a
//! [`SyntaxError`] with a position.

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

use crate::{SyntaxError, SyntaxErrorKind};

/// nom's error type for the record grammar; kept crate-private and mapped to [`SyntaxError`].
#[derive(Debug)]
pub(crate) struct RuleError<'a> {
    pub(crate) at: &'a [u8],
    pub(crate) kind: SyntaxErrorKind,
}

impl<'a> ParseError<&'a [u8]> for RuleError<'a> {
    fn from_error_kind(input: &'a [u8], _kind: ErrorKind) -> Self {
        let kind = match input.first() {
            Some(&b) if !b.is_ascii() => SyntaxErrorKind::NonAscii(b),
            _ => SyntaxErrorKind::ExpectedDelimiter,
        };
        Self { at: input, kind }
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type Rule<'a, T> = IResult<&'a [u8], T, RuleError<'a>>;

/// Fails the parse at `at` with `kind`; `Failure` stops alternatives from hiding the precise reason.
pub(crate) fn fail<T>(at: &[u8], kind: SyntaxErrorKind) -> Rule<'_, T> {
    Err(nom::Err::Failure(RuleError { at, kind }))
}

/// Converts a rule failure into a positioned [`SyntaxError`], relative to the whole `record`.
pub(crate) fn to_syntax_error(record: &[u8], err: nom::Err<RuleError<'_>>) -> SyntaxError {
    match err {
        nom::Err::Error(e) | nom::Err::Failure(e) => {
            SyntaxError::new(record.len() - e.at.len(), e.kind)
        }
        // Only streaming parsers return Incomplete; every rule here is `complete`.
        nom::Err::Incomplete(_) => {
            SyntaxError::new(record.len(), SyntaxErrorKind::ExpectedDelimiter)
        }
    }
}

/// `WSP = SP / HTAB` (RFC 5234).
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `field-delim = *WSP ";" *WSP` (RFC 8460) = `sts-field-delim` (RFC 8461).
pub(crate) fn field_delim(input: &[u8]) -> Rule<'_, ()> {
    let (rest, _) = take_while(is_wsp)(input)?;
    if !rest.starts_with(b";") {
        let kind = match rest.first() {
            Some(&b) if !b.is_ascii() => SyntaxErrorKind::NonAscii(b),
            _ => SyntaxErrorKind::ExpectedDelimiter,
        };
        return fail(rest, kind);
    }
    let (rest, _) = (tag(&b";"[..]), take_while(is_wsp)).parse(rest)?;
    Ok((rest, ()))
}

/// `sts-version = %s"v=STSv1"` and `tlsrpt-version = %s"v=TLSRPTv1"`: the exact, case-sensitive tag
/// `expected` that begins a record.
///
/// The tag must be the whole first field: `v=STSv10` is another version, not `v=STSv1` followed by
/// a missing delimiter. A failure quotes the field found instead.
pub(crate) fn version<'a>(input: &'a [u8], expected: &'static str) -> Rule<'a, ()> {
    let continues_field = |b: &u8| *b == b'=' || is_ext_value_char(*b);
    if let Some(rest) = input.strip_prefix(expected.as_bytes())
        && !rest.first().is_some_and(continues_field)
    {
        return Ok((rest, ()));
    }
    let found = first_field(input);
    fail(input, SyntaxErrorKind::Version { expected, found })
}

/// The record's first field for an error message: up to the first `;`, without trailing
/// whitespace, and cut after [`FOUND_MAX`] characters (a `rua` list can be long).
fn first_field(input: &[u8]) -> String {
    let end = input.iter().position(|&b| b == b';').unwrap_or(input.len());
    let field = String::from_utf8_lossy(&input[..end]);
    let field = field.trim_end_matches([' ', '\t']);
    match field.char_indices().nth(FOUND_MAX) {
        Some((cut, _)) => format!("{}…", &field[..cut]),
        None => field.to_owned(),
    }
}

/// How many characters of the first field a version error quotes.
const FOUND_MAX: usize = 40;

/// `ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, then the `"="` that follows it.
///
/// Returns the name. Shared by `sts-ext-name` and `tlsrpt-ext-name`, and used for `id`, `rua` and `v`
/// too, so that a known name with a bad value is reported as such rather than as an unknown extension.
pub(crate) fn ext_name(input: &[u8]) -> Rule<'_, &str> {
    match input.first() {
        None => return fail(input, SyntaxErrorKind::EmptyField),
        Some(b';') => return fail(input, SyntaxErrorKind::EmptyField),
        Some(&b) if !b.is_ascii() => return fail(input, SyntaxErrorKind::NonAscii(b)),
        Some(&b) if !b.is_ascii_alphanumeric() => {
            return fail(input, SyntaxErrorKind::FieldNameStart(char::from(b)));
        }
        Some(_) => {}
    }
    let (rest, name) = take_while1(is_ext_name_char)(input)?;
    if name.len() > 32 {
        return fail(input, SyntaxErrorKind::FieldNameTooLong);
    }
    match rest.first() {
        Some(b'=') => {}
        Some(&b) if !b.is_ascii() => return fail(rest, SyntaxErrorKind::NonAscii(b)),
        Some(b) if !is_wsp(*b) && *b != b';' => {
            return fail(rest, SyntaxErrorKind::InvalidFieldName);
        }
        _ => return fail(rest, SyntaxErrorKind::MissingEquals),
    }
    // The name is ASCII by construction.
    let name = std::str::from_utf8(name).unwrap_or_default();
    Ok((&rest[1..], name))
}

fn is_ext_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// `ext-value = 1*(%x21-3A / %x3C / %x3E-7E)`: visible ASCII except `=` and `;`.
pub(crate) fn ext_value(input: &[u8]) -> Rule<'_, &str> {
    let (rest, value) = take_while(is_ext_value_char)(input)?;
    if value.is_empty() {
        return match input.first() {
            Some(&b) if !b.is_ascii() => fail(input, SyntaxErrorKind::NonAscii(b)),
            Some(&b) if b == b'=' || b.is_ascii_control() => {
                fail(input, SyntaxErrorKind::InvalidValue(char::from(b)))
            }
            _ => fail(input, SyntaxErrorKind::EmptyValue),
        };
    }
    end_of_value(rest)?;
    Ok((rest, std::str::from_utf8(value).unwrap_or_default()))
}

pub(crate) fn is_ext_value_char(b: u8) -> bool {
    matches!(b, 0x21..=0x3A | 0x3C | 0x3E..=0x7E)
}

/// Checks that a value ends where a delimiter or the end of the record may begin.
pub(crate) fn end_of_value(rest: &[u8]) -> Rule<'_, ()> {
    match rest.first() {
        None | Some(b';') => Ok((rest, ())),
        Some(&b) if is_wsp(b) => Ok((rest, ())),
        Some(&b) if !b.is_ascii() => fail(rest, SyntaxErrorKind::NonAscii(b)),
        Some(&b) => fail(rest, SyntaxErrorKind::InvalidValue(char::from(b))),
    }
}

/// A validated extension field: a name and a value as RFC 8461 §3.1 / RFC 8460 §3 allow them.
///
/// Receivers must ignore unknown fields (RFC 8461 §3.2, RFC 8460 §3); this type keeps them so that a
/// record can be shown and re-serialised unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: String,
    value: String,
}

impl Extension {
    /// Builds an extension field, checking both parts against the ABNF.
    pub fn new(name: &str, value: &str) -> Result<Self, SyntaxError> {
        let text = format!("{name}={value}");
        let bytes = text.as_bytes();
        let check = |input| -> Rule<'_, ()> {
            let (rest, _) = ext_name(input)?;
            let (rest, _) = ext_value(rest)?;
            if !rest.is_empty() {
                return fail(rest, SyntaxErrorKind::InvalidValue(char::from(rest[0])));
            }
            Ok((rest, ()))
        };
        check(bytes).map_err(|e| to_syntax_error(bytes, e))?;
        Ok(Self::new_unchecked(name, value))
    }

    pub(crate) fn new_unchecked(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    /// The field name, as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field value, as written.
    pub fn value(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_delim_allows_surrounding_wsp() {
        for input in [&b";x"[..], b" ;x", b"\t; \tx", b";   x"] {
            let (rest, ()) = field_delim(input).unwrap();
            assert_eq!(rest, b"x", "{input:?}");
        }
        assert!(field_delim(b" x").is_err());
        assert!(field_delim(b"").is_err());
    }

    #[test]
    fn ext_name_lengths() {
        let ok = format!("a{}=v", "b".repeat(31));
        assert!(ext_name(ok.as_bytes()).is_ok());
        let long = format!("a{}=v", "b".repeat(32));
        assert!(matches!(
            ext_name(long.as_bytes()),
            Err(nom::Err::Failure(RuleError {
                kind: SyntaxErrorKind::FieldNameTooLong,
                ..
            }))
        ));
    }

    #[test]
    fn txt_3_rpt_2_version_quotes_the_first_field() {
        // (record, what the error says was found); the expected tag is v=STSv1.
        let long = format!("v={}; id=a", "x".repeat(60));
        let long_found = format!("v={}…", "x".repeat(38));
        let table: &[(&[u8], &str)] = &[
            (b"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1"),
            (b"rua=mailto:a@example.com", "rua=mailto:a@example.com"),
            (b"v=STSv10; id=a", "v=STSv10"),
            (b"v=STSv1=x; id=a", "v=STSv1=x"),
            (b"v=stsv1 ; id=a", "v=stsv1"),
            (b" v=STSv1", " v=STSv1"),
            (b"v=STS\xff1", "v=STS\u{fffd}1"),
            (b"", ""),
            (long.as_bytes(), &long_found),
        ];
        for (input, found) in table {
            match version(input, "v=STSv1") {
                Err(nom::Err::Failure(RuleError {
                    kind: SyntaxErrorKind::Version { expected, found: f },
                    at,
                })) => {
                    assert_eq!((expected, f.as_str()), ("v=STSv1", *found), "{input:?}");
                    assert_eq!(at.len(), input.len(), "{input:?}");
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        // The tag may be followed by the end, a delimiter or whitespace (then the delimiter).
        for ok in [&b"v=STSv1"[..], b"v=STSv1;", b"v=STSv1 ;", b"v=STSv1\xff"] {
            assert!(version(ok, "v=STSv1").is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn txt_7_ext_name_errors() {
        // (field, error kind, byte offset of the error)
        let table: &[(&[u8], SyntaxErrorKind, usize)] = &[
            (b"_x=1", SyntaxErrorKind::FieldNameStart('_'), 0),
            (b"-x=1", SyntaxErrorKind::FieldNameStart('-'), 0),
            (b".x=1", SyntaxErrorKind::FieldNameStart('.'), 0),
            (b"=1", SyntaxErrorKind::FieldNameStart('='), 0),
            (b"x@y=1", SyntaxErrorKind::InvalidFieldName, 1),
            (b"x_-.9@=1", SyntaxErrorKind::InvalidFieldName, 5),
            (b"x 1", SyntaxErrorKind::MissingEquals, 1),
            (b"\xc3x=1", SyntaxErrorKind::NonAscii(0xc3), 0),
            (b"", SyntaxErrorKind::EmptyField, 0),
        ];
        for (input, kind, at) in table {
            match ext_name(input) {
                Err(nom::Err::Failure(e)) => {
                    assert_eq!(&e.kind, kind, "{input:?}");
                    assert_eq!(input.len() - e.at.len(), *at, "{input:?}");
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn extension_new_validates() {
        assert!(Extension::new("foo", "bar").is_ok());
        assert!(Extension::new("_x", "1").is_err());
        assert!(Extension::new("x", "a=b").is_err());
        assert!(Extension::new("x", "").is_err());
        assert!(Extension::new("x", "a b").is_err());
    }
}
