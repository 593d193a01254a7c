//! Picking the one record that counts out of a whole TXT RRset (RFC 8461 §3.1, RFC 8460 §3).

use crate::field::is_wsp;
use crate::sts::STS_VERSION;
use crate::tlsrpt::TLSRPT_VERSION;
use crate::{SelectError, StsRecord, TlsRptRecord};

/// Joins the character-strings of one TXT record "without adding spaces" (RFC 8461 §3.1, RFC 8460 §3).
pub fn concat_strings<S: AsRef<[u8]>>(strings: impl IntoIterator<Item = S>) -> Vec<u8> {
    let mut record = Vec::new();
    for s in strings {
        record.extend_from_slice(s.as_ref());
    }
    record
}

/// Whether a record "begins with" the version followed by `;`.
///
/// Spaces or tabs are allowed before the `;`, as the ABNF's `*WSP ";"` allows (ambiguity A-2), but
/// nothing else: `v=STSv10;` does not begin with `v=STSv1;`.
fn begins_with_version(record: &[u8], version: &str) -> bool {
    record
        .strip_prefix(version.as_bytes())
        .map(|rest| {
            let rest = &rest[rest.iter().take_while(|&&b| is_wsp(b)).count()..];
            rest.first() == Some(&b';')
        })
        .unwrap_or(false)
}

/// Finds the single candidate record for `version`; the count is taken before any syntax check.
fn select<I, R, S>(rrset: I, version: &'static str) -> Result<Vec<u8>, SelectError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut found = None;
    let mut count = 0usize;
    let mut discarded = 0usize;
    for strings in rrset {
        let record = concat_strings(strings);
        if begins_with_version(&record, version) {
            count += 1;
            found.get_or_insert(record);
        } else {
            discarded += 1;
        }
    }
    match (count, found) {
        (1, Some(record)) => Ok(record),
        (0, _) | (_, None) => Err(SelectError::NotFound { version, discarded }),
        (count, Some(_)) => Err(SelectError::Ambiguous { version, count }),
    }
}

/// Selects and parses the `_mta-sts` record from a TXT RRset: one item per TXT record, each a list of
/// character-strings.
///
/// ```
/// use mta_sts_txt::{select_sts, SelectError};
///
/// let rrset = [vec!["v=spf1 -all"], vec!["v=STSv1; id=", "abc123"]];
/// assert_eq!(select_sts(rrset)?.id().as_str(), "abc123");
///
/// let two = [["v=STSv1; id=a"], ["v=STSv1; id=b"]];
/// assert!(matches!(select_sts(two), Err(SelectError::Ambiguous { count: 2, .. })));
/// # Ok::<(), SelectError>(())
/// ```
pub fn select_sts<I, R, S>(rrset: I) -> Result<StsRecord, SelectError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let record = select(rrset, STS_VERSION)?;
    Ok(StsRecord::parse(&record)?)
}

/// Selects and parses the `_smtp._tls` record from a TXT RRset, like [`select_sts`].
pub fn select_tlsrpt<I, R, S>(rrset: I) -> Result<TlsRptRecord, SelectError>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let record = select(rrset, TLSRPT_VERSION)?;
    Ok(TlsRptRecord::parse(&record)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(rrset: &[&[&str]]) -> Result<String, SelectError> {
        select_sts(rrset.iter().map(|r| r.iter())).map(|r| r.id().as_str().to_owned())
    }

    #[test]
    fn txt_9_multiple_records() {
        assert_eq!(sts(&[&["v=spf1 -all"], &["v=STSv1; id=a"]]).unwrap(), "a");
        assert!(matches!(
            sts(&[&["v=STSv1; id=a"], &["v=STSv1; id=b"]]),
            Err(SelectError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            sts(&[&["v=STSv1; id=a"], &["v=STSv1; id=a"]]),
            Err(SelectError::Ambiguous { count: 2, .. })
        ));
        assert_eq!(
            sts(&[&["v=STSv10; id=x"], &["v=STSv1; id=a"]]).unwrap(),
            "a"
        );
        // The count is taken before the syntax check.
        assert!(matches!(
            sts(&[&["v=STSv1; id=a"], &["v=STSv1; bad"]]),
            Err(SelectError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            sts(&[]),
            Err(SelectError::NotFound { discarded: 0, .. })
        ));
        assert!(matches!(
            sts(&[&["v=spf1 -all"]]),
            Err(SelectError::NotFound { discarded: 1, .. })
        ));
        assert!(matches!(
            sts(&[&["v=STSv1; id=a-b"]]),
            Err(SelectError::Syntax(_))
        ));
    }

    #[test]
    fn a_2_whitespace_before_semicolon_counts() {
        assert_eq!(sts(&[&["v=STSv1 ; id=a"]]).unwrap(), "a");
        assert_eq!(sts(&[&["v=STSv1\t;id=a"]]).unwrap(), "a");
        // No delimiter at all: not a candidate.
        assert!(matches!(
            sts(&[&["v=STSv1"]]),
            Err(SelectError::NotFound { .. })
        ));
    }

    #[test]
    fn txt_10_multi_string() {
        assert_eq!(sts(&[&["v=STSv1; id=", "abc123"]]).unwrap(), "abc123");
        assert_eq!(sts(&[&["v=STS", "v1;", " id=x"]]).unwrap(), "x");
    }

    #[test]
    fn rpt_5_rpt_6_tlsrpt_selection() {
        let two = [
            ["v=TLSRPTv1; rua=mailto:a@example.com"],
            ["v=TLSRPTv1; rua=mailto:b@example.com"],
        ];
        assert!(matches!(
            select_tlsrpt(two),
            Err(SelectError::Ambiguous { count: 2, .. })
        ));
        let one = [["v=spf1 -all"], ["v=TLSRPTv1; rua=mailto:b@example.com"]];
        assert_eq!(
            select_tlsrpt(one).unwrap().rua()[0].as_str(),
            "mailto:b@example.com"
        );
        let split = [["v=TLSRPTv1;rua=mailto:a@exa", "mple.com"]];
        assert_eq!(
            select_tlsrpt(split).unwrap().rua()[0].as_str(),
            "mailto:a@example.com"
        );
    }
}
