//! The `_smtp._tls` TXT record (RFC 8460 §3).

use std::fmt;
use std::str::FromStr;

use nom::bytes::complete::take_while;

use crate::field::{
    Extension, Rule, ext_name, ext_value, fail, field_delim, is_wsp, to_syntax_error, version,
};
use crate::uri::{ReportUri, tlsrpt_uri};
use crate::{SyntaxError, SyntaxErrorKind};

/// The version tag a TLSRPT record begins with.
pub const TLSRPT_VERSION: &str = "v=TLSRPTv1";

/// A parsed `_smtp._tls` TXT record: `v=TLSRPTv1; rua=…` plus any extension fields.
///
/// `rua` URIs are split into the two schemes RFC 8460 §3 supports ([`rua`](Self::rua)) and the
/// syntactically valid URIs of other schemes, which a reporter skips ([`unsupported_rua`](Self::unsupported_rua)).
/// Several `rua=` fields are merged in order (ambiguity A-14).
///
/// ```
/// use mta_sts_txt::{ReportUri, TlsRptRecord};
///
/// let record: TlsRptRecord =
///     "v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/v1".parse()?;
/// assert_eq!(record.rua().len(), 2);
/// assert!(matches!(&record.rua()[0], ReportUri::Mailto(m) if m.address() == "tls@example.com"));
/// # Ok::<(), mta_sts_txt::SyntaxError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsRptRecord {
    rua: Vec<ReportUri>,
    unsupported_rua: Vec<String>,
    extensions: Vec<Extension>,
}

impl TlsRptRecord {
    /// A record sending reports to `rua`, which must not be empty.
    pub fn new(rua: Vec<ReportUri>) -> Result<Self, SyntaxError> {
        if rua.is_empty() {
            return Err(SyntaxError::new(0, SyntaxErrorKind::MissingRua));
        }
        Ok(Self {
            rua,
            unsupported_rua: Vec::new(),
            extensions: Vec::new(),
        })
    }

    /// Adds an extension field. Refuses the name `rua`, which this type keeps separately.
    pub fn with_extension(mut self, extension: Extension) -> Result<Self, SyntaxError> {
        if extension.name() == "rua" {
            return Err(SyntaxError::new(0, SyntaxErrorKind::ReservedName));
        }
        self.extensions.push(extension);
        Ok(self)
    }

    /// Parses one record (its character-strings already concatenated, see [`concat_strings`](crate::concat_strings)).
    pub fn parse(record: &[u8]) -> Result<Self, SyntaxError> {
        tlsrpt_record(record)
            .map(|(_, r)| r)
            .map_err(|e| to_syntax_error(record, e))
    }

    /// The `mailto:` and `https:` reporting URIs, in record order.
    pub fn rua(&self) -> &[ReportUri] {
        &self.rua
    }

    /// Syntactically valid URIs with a scheme RFC 8460 does not support (skipped by reporters).
    pub fn unsupported_rua(&self) -> &[String] {
        &self.unsupported_rua
    }

    /// Fields other than `v` and `rua`, in record order; RFC 8460 §3 says to ignore them.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
}

impl FromStr for TlsRptRecord {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

/// The canonical form: `v=TLSRPTv1; rua=URI,URI` (supported schemes first) then `; name=value` per extension.
impl fmt::Display for TlsRptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TLSRPT_VERSION}; rua=")?;
        let uris = self
            .rua
            .iter()
            .map(ReportUri::as_str)
            .chain(self.unsupported_rua.iter().map(String::as_str));
        for (i, uri) in uris.enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(uri)?;
        }
        for ext in &self.extensions {
            write!(f, "; {}={}", ext.name(), ext.value())?;
        }
        Ok(())
    }
}

/// `tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]`
fn tlsrpt_record(input: &[u8]) -> Rule<'_, TlsRptRecord> {
    let (mut rest, ()) = tlsrpt_version(input)?;
    let mut record = TlsRptRecord {
        rua: Vec::new(),
        unsupported_rua: Vec::new(),
        extensions: Vec::new(),
    };
    let mut seen_rua = false;
    while !rest.is_empty() {
        let (after_delim, ()) = field_delim(rest)?;
        if after_delim.is_empty() {
            rest = after_delim; // the trailing delimiter; a missing rua is reported below
            break;
        }
        let (after_name, name) = ext_name(after_delim)?;
        rest = if name == "rua" {
            seen_rua = true;
            tlsrpt_rua_value(after_name, &mut record)?.0
        } else {
            let (after_value, value) = ext_value(after_name)?;
            record
                .extensions
                .push(Extension::new_unchecked(name, value));
            after_value
        };
    }
    if !seen_rua {
        return fail(rest, SyntaxErrorKind::MissingRua);
    }
    Ok((rest, record))
}

/// `tlsrpt-version = %s"v=TLSRPTv1"`
fn tlsrpt_version(input: &[u8]) -> Rule<'_, ()> {
    version(input, TLSRPT_VERSION)
}

/// The value part of `tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)`.
fn tlsrpt_rua_value<'a>(input: &'a [u8], record: &mut TlsRptRecord) -> Rule<'a, ()> {
    let mut rest = input;
    loop {
        let (after, uri) = tlsrpt_uri(rest)?;
        match uri {
            Ok(uri) => record.rua.push(uri),
            Err(other) => record.unsupported_rua.push(other),
        }
        let (after_wsp, _) = take_while(is_wsp)(after)?;
        if after_wsp.first() == Some(&b',') {
            let (next, _) = take_while(is_wsp)(&after_wsp[1..])?;
            rest = next;
        } else {
            return Ok((after, ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UriErrorKind;

    fn kind(input: &str) -> SyntaxErrorKind {
        TlsRptRecord::parse(input.as_bytes())
            .unwrap_err()
            .kind()
            .clone()
    }

    #[test]
    fn rpt_2_version_exact() {
        let rec = TlsRptRecord::parse(b"v=TLSRPTv1;rua=mailto:reports@example.com").unwrap();
        assert_eq!(rec.rua().len(), 1);
        let v = |found: &str| SyntaxErrorKind::Version {
            expected: TLSRPT_VERSION,
            found: found.to_owned(),
        };
        assert_eq!(kind("v=tlsrptv1;rua=mailto:a@example.com"), v("v=tlsrptv1"));
        assert_eq!(
            kind("rua=mailto:a@example.com;v=TLSRPTv1"),
            v("rua=mailto:a@example.com")
        );
        assert_eq!(kind("v=TLSRPTv;"), v("v=TLSRPTv"));
        assert_eq!(
            kind("v=TLSRPTv2; rua=mailto:a@example.com"),
            v("v=TLSRPTv2")
        );
        assert_eq!(kind("v=STSv1; id=a").rule(), "RPT-2");
    }

    #[test]
    fn rpt_3_rua_list_and_schemes() {
        let rec = TlsRptRecord::parse(
            b"v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/v1/tlsrpt",
        )
        .unwrap();
        assert!(matches!(rec.rua()[0], ReportUri::Mailto(_)));
        assert!(matches!(rec.rua()[1], ReportUri::Https(_)));
        assert_eq!(
            kind("v=TLSRPTv1; rua="),
            SyntaxErrorKind::InvalidUri(UriErrorKind::Empty)
        );
        assert_eq!(kind("v=TLSRPTv1; foo=bar"), SyntaxErrorKind::MissingRua);
        assert_eq!(kind("v=TLSRPTv1;"), SyntaxErrorKind::MissingRua);
        assert_eq!(kind("v=TLSRPTv1; "), SyntaxErrorKind::MissingRua);
        assert_eq!(
            kind("v=TLSRPTv1;;rua=mailto:a@example.com"),
            SyntaxErrorKind::EmptyField
        );
        let rec =
            TlsRptRecord::parse(b"v=TLSRPTv1; rua=ftp://x.example/,mailto:a@b.example").unwrap();
        assert_eq!(rec.unsupported_rua(), ["ftp://x.example/"]);
        assert_eq!(rec.rua().len(), 1);
    }

    #[test]
    fn rpt_4_reserved_characters_encoded() {
        assert_eq!(
            kind("v=TLSRPTv1; rua=mailto:a@example.com!10m"),
            SyntaxErrorKind::InvalidUri(UriErrorKind::UnencodedReserved)
        );
        let rec = TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a%21b@example.com").unwrap();
        assert_eq!(rec.rua()[0].as_str(), "mailto:a%21b@example.com");
    }

    #[test]
    fn rpt_7_extensions_ignored() {
        let rec = TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com; x-foo=1").unwrap();
        assert_eq!(rec.extensions()[0].name(), "x-foo");
    }

    #[test]
    fn a_14_several_rua_fields_are_merged() {
        let rec = TlsRptRecord::parse(
            b"v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/",
        )
        .unwrap();
        assert_eq!(rec.rua().len(), 2);
        assert_eq!(
            rec.to_string(),
            "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/"
        );
    }

    #[test]
    fn built_records_round_trip() {
        let uri: ReportUri = "https://r.example.com/v1".parse().unwrap();
        let rec = TlsRptRecord::new(vec![uri])
            .unwrap()
            .with_extension(Extension::new("x", "1").unwrap())
            .unwrap();
        assert_eq!(
            rec.to_string(),
            "v=TLSRPTv1; rua=https://r.example.com/v1; x=1"
        );
        assert_eq!(rec.to_string().parse::<TlsRptRecord>().unwrap(), rec);
        assert!(TlsRptRecord::new(vec![]).is_err());
        let rua = Extension::new("rua", "mailto:a@b.example").unwrap();
        assert!(rec.with_extension(rua).is_err());
        assert!("ftp://x.example/".parse::<ReportUri>().is_err());
        assert!(
            "mailto:a@b.example,mailto:c@d.example"
                .parse::<ReportUri>()
                .is_err()
        );
    }

    #[test]
    fn trailing_and_spacing() {
        assert!(TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com;").is_ok());
        assert!(
            TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com ,mailto:b@example.com")
                .is_ok()
        );
        assert_eq!(
            kind("v=TLSRPTv1; rua=mailto:a@example.com,"),
            SyntaxErrorKind::InvalidUri(UriErrorKind::Empty)
        );
        assert_eq!(
            kind("v=TLSRPTv1; rua=mailto:a@example.com x"),
            SyntaxErrorKind::ExpectedDelimiter
        );
    }
}
