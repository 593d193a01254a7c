//! The `_mta-sts` TXT record (RFC 8461 §3.1).

use std::fmt;
use std::str::FromStr;

use nom::bytes::complete::take_while;

use crate::field::{
    Extension, Rule, end_of_value, ext_name, ext_value, fail, field_delim, to_syntax_error, version,
};
use crate::{SyntaxError, SyntaxErrorKind};

/// The version tag an MTA-STS record begins with.
pub const STS_VERSION: &str = "v=STSv1";

/// A policy version id: 1 to 32 ASCII letters and digits (RFC 8461 §3.1 `sts-id`).
///
/// Ids have no order; two policies are the same version exactly when their ids are equal strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyId(Box<str>);

impl PolicyId {
    /// The id as written in the record.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PolicyId {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let (rest, id) = sts_id_value(bytes).map_err(|e| to_syntax_error(bytes, e))?;
        match rest.first() {
            None => Ok(id),
            Some(_) => Err(SyntaxError::new(
                bytes.len() - rest.len(),
                SyntaxErrorKind::InvalidId,
            )),
        }
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PolicyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A parsed `_mta-sts` TXT record: `v=STSv1; id=…` plus any extension fields.
///
/// ```
/// use mta_sts_txt::StsRecord;
///
/// let record: StsRecord = "v=STSv1; id=20160831085700Z;".parse()?;
/// assert_eq!(record.id().as_str(), "20160831085700Z");
/// assert_eq!(record.to_string(), "v=STSv1; id=20160831085700Z");
/// # Ok::<(), mta_sts_txt::SyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StsRecord {
    id: PolicyId,
    extensions: Vec<Extension>,
}

impl StsRecord {
    /// A record with the given id and no extensions.
    pub fn new(id: PolicyId) -> Self {
        Self {
            id,
            extensions: Vec::new(),
        }
    }

    /// Adds an extension field. Refuses the name `id`, which this type keeps separately.
    pub fn with_extension(mut self, extension: Extension) -> Result<Self, SyntaxError> {
        if extension.name() == "id" {
            return Err(SyntaxError::new(0, SyntaxErrorKind::ReservedName));
        }
        self.extensions.push(extension);
        Ok(self)
    }

    /// Parses one record (its character-strings already concatenated, see [`concat_strings`](crate::concat_strings)).
    pub fn parse(record: &[u8]) -> Result<Self, SyntaxError> {
        sts_text_record(record)
            .map(|(_, r)| r)
            .map_err(|e| to_syntax_error(record, e))
    }

    /// The policy version id.
    pub fn id(&self) -> &PolicyId {
        &self.id
    }

    /// Fields other than `v` and `id`, in record order. RFC 8461 says to ignore them; they are kept for display.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}

impl FromStr for StsRecord {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

/// The canonical form: `v=STSv1; id=ID` followed by `; name=value` per extension.
impl fmt::Display for StsRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STS_VERSION}; id={}", self.id)?;
        for ext in &self.extensions {
            write!(f, "; {}={}", ext.name(), ext.value())?;
        }
        Ok(())
    }
}

/// `sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]`
fn sts_text_record(input: &[u8]) -> Rule<'_, StsRecord> {
    let (mut rest, ()) = sts_version(input)?;
    let mut id = None;
    let mut extensions = Vec::new();
    while !rest.is_empty() {
        let (after_delim, ()) = field_delim(rest)?;
        if after_delim.is_empty() {
            // The optional trailing delimiter. After the version alone it leaves no field, which
            // the check for the required id below reports better than "empty field" would.
            rest = after_delim;
            break;
        }
        let (after_field, field) = sts_field(after_delim, id.is_some())?;
        match field {
            StsField::Id(value) => id = Some(value),
            StsField::Extension(name, value) => {
                extensions.push(Extension::new_unchecked(name, value));
            }
            StsField::IgnoredId => {}
        }
        rest = after_field;
    }
    match id {
        Some(id) => Ok((rest, StsRecord { id, extensions })),
        None => fail(rest, SyntaxErrorKind::MissingId),
    }
}

/// `sts-version = %s"v=STSv1"`
fn sts_version(input: &[u8]) -> Rule<'_, ()> {
    version(input, STS_VERSION)
}

enum StsField<'a> {
    Id(PolicyId),
    Extension(&'a str, &'a str),
    /// A second or later `id` field.
    IgnoredId,
}

/// `sts-field = sts-id / sts-extension`
///
/// The first field named `id` is read as `sts-id`: a malformed id is an error, not an extension.
/// Later ones are only held to `sts-extension`: RFC 8461 §3.2 says all entries of a duplicated field
/// "except for the first SHALL be ignored" (TXT-8), so their value is not judged as an id.
fn sts_field(input: &[u8], id_seen: bool) -> Rule<'_, StsField<'_>> {
    let (rest, name) = ext_name(input)?;
    match name {
        "id" if id_seen => {
            let (rest, _) = ext_value(rest)?;
            Ok((rest, StsField::IgnoredId))
        }
        "id" => {
            let (rest, id) = sts_id_value(rest)?;
            Ok((rest, StsField::Id(id)))
        }
        _ => {
            let (rest, value) = ext_value(rest)?;
            Ok((rest, StsField::Extension(name, value)))
        }
    }
}

/// The value part of `sts-id = %s"id=" 1*32(ALPHA / DIGIT)`.
fn sts_id_value(input: &[u8]) -> Rule<'_, PolicyId> {
    let (rest, id) = take_while(|b: u8| b.is_ascii_alphanumeric())(input)?;
    if id.is_empty() {
        return match input.first() {
            None | Some(b';' | b' ' | b'\t') => fail(input, SyntaxErrorKind::EmptyValue),
            Some(&b) if !b.is_ascii() => fail(input, SyntaxErrorKind::NonAscii(b)),
            Some(_) => fail(input, SyntaxErrorKind::InvalidId),
        };
    }
    if id.len() > 32 {
        return fail(input, SyntaxErrorKind::IdTooLong);
    }
    if let Err(nom::Err::Failure(mut e)) = end_of_value(rest) {
        if matches!(e.kind, SyntaxErrorKind::InvalidValue(_)) {
            e.kind = SyntaxErrorKind::InvalidId;
        }
        return Err(nom::Err::Failure(e));
    }
    let id = std::str::from_utf8(id).unwrap_or_default();
    Ok((rest, PolicyId(id.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> SyntaxErrorKind {
        StsRecord::parse(input.as_bytes())
            .unwrap_err()
            .kind()
            .clone()
    }

    #[test]
    fn txt_3_version_first_and_exact() {
        for (input, found) in [
            ("id=abc; v=STSv1", "id=abc"),
            ("V=STSv1; id=abc", "V=STSv1"),
            ("v=stsv1; id=abc", "v=stsv1"),
            ("", ""),
            (" v=STSv1; id=a", " v=STSv1"),
            ("v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1"),
        ] {
            let v = SyntaxErrorKind::Version {
                expected: STS_VERSION,
                found: found.to_owned(),
            };
            assert_eq!(kind(input), v, "{input:?}");
        }
        let err = StsRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com").unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 0: the record must begin with \"v=STSv1\", found \"v=TLSRPTv1\""
        );
        let err = StsRecord::parse(b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 0: the record must begin with \"v=STSv1\", but it is empty"
        );
    }

    #[test]
    fn txt_4_id_syntax() {
        let rec = StsRecord::parse(b"v=STSv1; id=20160831085700Z").unwrap();
        assert_eq!(rec.id().as_str(), "20160831085700Z");
        let max = format!("v=STSv1; id={}", "a".repeat(32));
        assert!(StsRecord::parse(max.as_bytes()).is_ok());
        let over = format!("v=STSv1; id={}", "a".repeat(33));
        assert_eq!(kind(&over), SyntaxErrorKind::IdTooLong);
        assert_eq!(kind("v=STSv1; id=2016-08-31"), SyntaxErrorKind::InvalidId);
        assert_eq!(kind("v=STSv1; id="), SyntaxErrorKind::EmptyValue);
        assert_eq!(kind("v=STSv1; id=a_b"), SyntaxErrorKind::InvalidId);
    }

    #[test]
    fn txt_5_id_required() {
        assert_eq!(kind("v=STSv1"), SyntaxErrorKind::MissingId);
        // The trailing delimiter is allowed: what is wrong is the missing id, not an empty field.
        assert_eq!(kind("v=STSv1;"), SyntaxErrorKind::MissingId);
        assert_eq!(kind("v=STSv1; "), SyntaxErrorKind::MissingId);
        assert_eq!(kind("v=STSv1;;id=abc"), SyntaxErrorKind::EmptyField);
        assert_eq!(kind("v=STSv1; foo=bar"), SyntaxErrorKind::MissingId);
    }

    #[test]
    fn txt_6_delimiters() {
        for ok in [
            "v=STSv1;id=abc",
            "v=STSv1; id=abc;",
            "v=STSv1;\tid=abc; ",
            "v=STSv1 ; id=abc", // ABNF-valid (A-2)
        ] {
            assert_eq!(
                StsRecord::parse(ok.as_bytes()).unwrap().id().as_str(),
                "abc"
            );
        }
        assert_eq!(kind("v=STSv1;;id=abc"), SyntaxErrorKind::EmptyField);
        assert_eq!(kind("v=STSv1; id=abc "), SyntaxErrorKind::ExpectedDelimiter);
        assert_eq!(kind("v=STSv1; id=abc;;"), SyntaxErrorKind::EmptyField);
        assert_eq!(kind("v=STSv1 id=abc"), SyntaxErrorKind::ExpectedDelimiter);
    }

    #[test]
    fn txt_7_extensions() {
        let rec = StsRecord::parse(b"v=STSv1; id=abc; foo=bar").unwrap();
        assert_eq!(rec.extensions(), &[Extension::new("foo", "bar").unwrap()]);
        assert_eq!(kind("v=STSv1; id=abc; foo="), SyntaxErrorKind::EmptyValue);
        assert_eq!(
            kind("v=STSv1; id=abc; foo=a=b"),
            SyntaxErrorKind::InvalidValue('=')
        );
        assert_eq!(
            kind("v=STSv1; id=abc; _x=1"),
            SyntaxErrorKind::FieldNameStart('_')
        );
        assert_eq!(
            kind("v=STSv1; id=abc; x/y=1"),
            SyntaxErrorKind::InvalidFieldName
        );
        let long = format!("v=STSv1; id=abc; a{}=1", "b".repeat(32));
        assert_eq!(kind(&long), SyntaxErrorKind::FieldNameTooLong);
    }

    #[test]
    fn txt_8_duplicate_id_first_wins() {
        // (record, id of the first field, or the error) — later ids are ignored, not judged as ids.
        let table: &[(&str, Result<&str, SyntaxErrorKind>)] = &[
            ("v=STSv1; id=aaa; id=bbb", Ok("aaa")),
            ("v=STSv1; id=abc; id=a-b", Ok("abc")),
            (
                "v=STSv1; id=abc; foo=1; id=x.y_z; id=",
                Err(SyntaxErrorKind::EmptyValue),
            ),
            (
                "v=STSv1; id=abc; id=a=b",
                Err(SyntaxErrorKind::InvalidValue('=')),
            ),
            ("v=STSv1; id=a-b; id=abc", Err(SyntaxErrorKind::InvalidId)),
        ];
        for (input, expected) in table {
            let got = StsRecord::parse(input.as_bytes());
            match expected {
                Ok(id) => {
                    let rec = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(rec.id().as_str(), *id, "{input:?}");
                    assert!(rec.extensions().iter().all(|e| e.name() != "id"));
                }
                Err(kind) => assert_eq!(got.unwrap_err().kind(), kind, "{input:?}"),
            }
        }
    }

    #[test]
    fn txt_2_non_ascii() {
        assert_eq!(
            kind("v=STSv1; id=abc; x=\u{e9}"),
            SyntaxErrorKind::NonAscii(0xc3)
        );
        assert_eq!(
            kind("v=STSv1; id=ab\u{e9}"),
            SyntaxErrorKind::NonAscii(0xc3)
        );
    }

    #[test]
    fn error_positions() {
        let err = StsRecord::parse(b"v=STSv1; id=abc; foo=").unwrap_err();
        assert_eq!(err.position(), 21);
        assert_eq!(err.to_string(), "at byte 21: empty value after \"=\"");
    }

    #[test]
    fn policy_id_from_str() {
        assert!("abc123".parse::<PolicyId>().is_ok());
        assert!("".parse::<PolicyId>().is_err());
        assert!("a b".parse::<PolicyId>().is_err());
        assert!("a".repeat(33).parse::<PolicyId>().is_err());
    }

    #[test]
    fn with_extension_refuses_id() {
        let rec = StsRecord::new("a".parse().unwrap());
        assert!(
            rec.with_extension(Extension::new("id", "b").unwrap())
                .is_err()
        );
    }
}
