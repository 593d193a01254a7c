//! Which of the two records a text is meant as, for tools handed a record without its owner name.

use crate::field::is_wsp;
use crate::name::{sts_record_name, tlsrpt_record_name};
use crate::sts::STS_VERSION;
use crate::tlsrpt::TLSRPT_VERSION;

/// The two TXT records this crate parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// The MTA-STS record at `_mta-sts.<domain>`: `v=STSv1; id=…` (RFC 8461 §3.1).
    Sts,
    /// The TLS reporting record at `_smtp._tls.<domain>`: `v=TLSRPTv1; rua=…` (RFC 8460 §3).
    TlsRpt,
}

impl RecordKind {
    /// Guesses which record `record` was meant as, so that a mistyped record is judged by the right
    /// grammar; `None` when it looks like neither (an SPF record, say).
    ///
    /// A version field first decides, read loosely (any case and version, common typos):
    /// `v=TLS…` is TLSRPT, `v=STS…` is MTA-STS, and any other `v=` is another protocol's record
    /// (`v=spf1`, `v=DMARC1`, which has a `rua` too). Without one, a `rua` field means TLSRPT and
    /// an `id` field MTA-STS.
    ///
    /// ```
    /// use mta_sts_txt::RecordKind;
    ///
    /// assert_eq!(RecordKind::guess(b"v=TLSRPTv2; rua=mailto:a@example.com"), Some(RecordKind::TlsRpt));
    /// assert_eq!(RecordKind::guess(b"id=20240101; v=STSv1"), Some(RecordKind::Sts));
    /// assert_eq!(RecordKind::guess(b"v=spf1 -all"), None);
    /// ```
    pub fn guess(record: &[u8]) -> Option<Self> {
        let start = record.iter().take_while(|&&b| is_wsp(b)).count();
        let record = &record[start..];
        let begins = |prefix: &str| {
            record
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
        };
        if begins("v=TLS") {
            return Some(Self::TlsRpt);
        }
        if begins("v=STS") {
            return Some(Self::Sts);
        }
        if begins("v=") {
            return None;
        }
        let has_field = |name: &str| {
            record.split(|&b| b == b';').any(|field| {
                let field = &field[field.iter().take_while(|&&b| is_wsp(b)).count()..];
                let eq = field.iter().position(|&b| b == b'=');
                eq.is_some_and(|eq| field[..eq].eq_ignore_ascii_case(name.as_bytes()))
            })
        };
        if has_field("rua") {
            Some(Self::TlsRpt)
        } else if has_field("id") {
            Some(Self::Sts)
        } else {
            None
        }
    }

    /// The version field the record must begin with: [`STS_VERSION`] or [`TLSRPT_VERSION`].
    pub fn version(self) -> &'static str {
        match self {
            Self::Sts => STS_VERSION,
            Self::TlsRpt => TLSRPT_VERSION,
        }
    }

    /// The owner name of this record for `domain` (TXT-1, RPT-1).
    pub fn record_name(self, domain: &str) -> String {
        match self {
            Self::Sts => sts_record_name(domain),
            Self::TlsRpt => tlsrpt_record_name(domain),
        }
    }

    /// The protocol's name, for people: `MTA-STS` or `TLSRPT`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sts => "MTA-STS",
            Self::TlsRpt => "TLSRPT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_3_rpt_2_guess_the_intended_record() {
        use RecordKind::{Sts, TlsRpt};
        let table: &[(&str, Option<RecordKind>)] = &[
            ("v=STSv1; id=20240101", Some(Sts)),
            ("v=TLSRPTv1; rua=mailto:a@example.com", Some(TlsRpt)),
            // The first field decides, loosely read.
            ("v=TLSRPTv2; rua=mailto:a@example.com", Some(TlsRpt)),
            ("v=TLSRPTv;", Some(TlsRpt)),
            ("v=TLSPRTv1; rua=mailto:a@example.com", Some(TlsRpt)),
            ("v=tlsrptv1; rua=mailto:a@example.com", Some(TlsRpt)),
            ("V=STSv1; id=a", Some(Sts)),
            ("v=STSv2; id=a", Some(Sts)),
            (" v=STSv1; id=a", Some(Sts)),
            ("v=STSv1; rua=mailto:a@example.com", Some(Sts)),
            // Without a version, the fields: rua before id.
            ("rua=mailto:a@example.com", Some(TlsRpt)),
            ("x=1; RUA=mailto:a@example.com; id=a", Some(TlsRpt)),
            ("id=abc; v=STSv1", Some(Sts)),
            // Neither: another protocol's version, or nothing to go by.
            ("v=1; id=abc", None),
            ("v=DMARC1; p=none; rua=mailto:d@example.com", None),
            ("v=spf1 -all", None),
            ("", None),
            ("rua", None),
            ("ruaa=x; idx=1", None),
        ];
        for (record, expected) in table {
            assert_eq!(
                RecordKind::guess(record.as_bytes()),
                *expected,
                "{record:?}"
            );
        }
    }

    #[test]
    fn txt_1_rpt_1_names() {
        assert_eq!(RecordKind::Sts.version(), "v=STSv1");
        assert_eq!(RecordKind::TlsRpt.version(), "v=TLSRPTv1");
        assert_eq!(
            RecordKind::Sts.record_name("example.com"),
            "_mta-sts.example.com"
        );
        assert_eq!(
            RecordKind::TlsRpt.record_name("example.com"),
            "_smtp._tls.example.com"
        );
    }
}
