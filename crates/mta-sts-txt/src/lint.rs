//! Checks beyond the grammar: can a report sent to a `rua` URI arrive (RPT-3)?

use crate::address::{LocalPartProblem, local_part, percent_decode};
use crate::host::{HostProblem, mail_domain, uri_host};
use crate::uri::ReportUri;

/// A `rua` URI that the record grammar accepts but whose destination a reporter cannot use.
///
/// The record parser stays lenient on purpose: one odd URI must not stop reports from reaching the
/// others (RFC 8460 §3 lets a reporter try each). These findings are for the domain's owner, whose
/// reports sent to such a URI may never arrive. See [`ReportUri::problems`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum UriProblem {
    /// The local part of a `mailto:` address, percent-decoded (RFC 6068 §2), is neither a dot-atom
    /// nor a quoted-string (RFC 5322 §3.4.1).
    #[error(
        "the local part {local:?} is not valid in a mail address: {reason}; reports sent to it may never arrive"
    )]
    #[non_exhaustive]
    LocalPart {
        /// The local part, percent-decoded (lossily, if it is not UTF-8).
        local: String,
        /// What is wrong with it.
        reason: LocalPartProblem,
    },
    /// The domain of a `mailto:` address is neither a host name nor an address literal
    /// (RFC 5321 §4.1.2-4.1.3).
    #[error(
        "the domain {domain:?} is not valid in a mail address: {reason}; reports sent to it may never arrive"
    )]
    #[non_exhaustive]
    MailDomain {
        /// The domain, percent-decoded.
        domain: String,
        /// What is wrong with it.
        reason: HostProblem,
    },
    /// The host of an `https:` URI is neither a host name nor an IP address (RFC 3986 §3.2.2).
    #[error(
        "the host {host:?} is not a valid host name or IP address: {reason}; reports sent to it may never arrive"
    )]
    #[non_exhaustive]
    HttpsHost {
        /// The host, as written.
        host: String,
        /// What is wrong with it.
        reason: HostProblem,
    },
}

impl UriProblem {
    /// The rule these findings belong to: `RPT-3`, the `rua` destinations (see `docs/rules.md`).
    pub fn rule(&self) -> &'static str {
        "RPT-3"
    }
}

impl ReportUri {
    /// What would keep reports sent to this URI from arriving; empty when nothing does.
    ///
    /// A `mailto:` address must be an RFC 5322 addr-spec once percent-decoded (RFC 6068 §2): a
    /// dot-atom or quoted-string local part, and a host name or address literal as its domain.
    /// An `https:` host must be a host name (letter-digit-hyphen labels of 1 to 63 characters,
    /// 253 in all, the last not all digits) or an IP address.
    ///
    /// ```
    /// use mta_sts_txt::{TlsRptRecord, UriProblem};
    ///
    /// let record: TlsRptRecord =
    ///     "v=TLSRPTv1; rua=mailto:tls..rpt@example.com,https://reports.example.com/".parse()?;
    /// let problems = record.rua()[0].problems();
    /// assert!(matches!(&problems[..], [UriProblem::LocalPart { local, .. }] if local == "tls..rpt"));
    /// assert!(record.rua()[1].problems().is_empty());
    /// # Ok::<(), mta_sts_txt::SyntaxError>(())
    /// ```
    pub fn problems(&self) -> Vec<UriProblem> {
        let mut problems = Vec::new();
        match self {
            Self::Mailto(mailto) => {
                let address = mailto.address();
                let (local, domain) = address.rsplit_once('@').unwrap_or(("", address));
                let local = percent_decode(local);
                let checked = match std::str::from_utf8(&local) {
                    Ok(text) => local_part(text),
                    Err(_) => Err(LocalPartProblem::NotUtf8),
                };
                if let Err(reason) = checked {
                    problems.push(UriProblem::LocalPart {
                        local: String::from_utf8_lossy(&local).into_owned(),
                        reason,
                    });
                }
                let domain = String::from_utf8_lossy(&percent_decode(domain)).into_owned();
                if let Err(reason) = mail_domain(&domain) {
                    problems.push(UriProblem::MailDomain { domain, reason });
                }
            }
            Self::Https(https) => {
                if let Err(reason) = uri_host(https.host()) {
                    let host = https.host().to_owned();
                    problems.push(UriProblem::HttpsHost { host, reason });
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(uri: &str) -> Vec<UriProblem> {
        uri.parse::<ReportUri>()
            .unwrap_or_else(|e| panic!("{uri}: {e}"))
            .problems()
    }

    fn local(local: &str, reason: LocalPartProblem) -> UriProblem {
        let local = local.to_owned();
        UriProblem::LocalPart { local, reason }
    }

    fn domain(domain: &str, reason: HostProblem) -> UriProblem {
        let domain = domain.to_owned();
        UriProblem::MailDomain { domain, reason }
    }

    fn host(host: &str, reason: HostProblem) -> UriProblem {
        let host = host.to_owned();
        UriProblem::HttpsHost { host, reason }
    }

    #[test]
    fn rpt_3_mailto_addresses() {
        use LocalPartProblem as L;
        let table: &[(&str, &[UriProblem])] = &[
            ("mailto:tlsrpt@example.com", &[]),
            ("mailto:tls+rpt@example.com?subject=TLS%20report", &[]),
            ("mailto:%22tls%20rpt%22@example.com", &[]),
            ("mailto:%22a%40b%22@example.com", &[]),
            ("mailto:a@[192.0.2.1]", &[]),
            ("mailto:a@[IPv6:2001:db8::1]", &[]),
            ("mailto:tls..rpt@example.com", &[local("tls..rpt", L::Dots)]),
            ("mailto:.tlsrpt@example.com", &[local(".tlsrpt", L::Dots)]),
            (
                "mailto:tls%20rpt@example.com",
                &[local("tls rpt", L::Character(' '))],
            ),
            (
                "mailto:a(b)@example.com",
                &[local("a(b)", L::Character('('))],
            ),
            ("mailto:%22ab@example.com", &[local("\"ab", L::Quoting)]),
            (
                "mailto:a%0Ab@example.com",
                &[local("a\nb", L::Control('\n'))],
            ),
            (
                "mailto:jos%C3%A9@example.com",
                &[local("jos\u{e9}", L::NonAscii('\u{e9}'))],
            ),
            ("mailto:a%FF@example.com", &[local("a\u{fffd}", L::NotUtf8)]),
            (
                "mailto:a@192.0.2.1",
                &[domain("192.0.2.1", HostProblem::UnbracketedIpv4)],
            ),
            (
                "mailto:a@[2001:db8::1]",
                &[domain("[2001:db8::1]", HostProblem::UntaggedIpv6)],
            ),
            (
                "mailto:a@example.com.",
                &[domain("example.com.", HostProblem::TrailingDot)],
            ),
            (
                "mailto:a..b@mail.123",
                &[
                    local("a..b", L::Dots),
                    domain("mail.123", HostProblem::NumericTld),
                ],
            ),
        ];
        for (uri, expected) in table {
            assert_eq!(problems(uri), *expected, "{uri}");
        }
    }

    #[test]
    fn rpt_3_https_hosts() {
        let table: &[(&str, &[UriProblem])] = &[
            ("https://reports.example.com/v1", &[]),
            ("https://reports.example.com.:8443/", &[]),
            ("https://192.0.2.1/tlsrpt", &[]),
            ("https://[2001:db8::1]/tlsrpt", &[]),
            (
                "https://reports.123/",
                &[host("reports.123", HostProblem::NumericTld)],
            ),
            (
                "https://192.0.2.256/",
                &[host("192.0.2.256", HostProblem::NumericTld)],
            ),
            (
                "https://[192.0.2.1]/",
                &[host("[192.0.2.1]", HostProblem::BracketedIpv4)],
            ),
        ];
        for (uri, expected) in table {
            assert_eq!(problems(uri), *expected, "{uri}");
        }
    }

    #[test]
    fn rpt_3_messages_say_reports_may_not_arrive() {
        let message = problems("mailto:tls..rpt@example.com")[0].to_string();
        assert_eq!(
            message,
            "the local part \"tls..rpt\" is not valid in a mail address: a dot at its start or end, \
             or two dots in a row, is allowed only inside quotes; reports sent to it may never arrive"
        );
        let message = problems("https://reports.123/")[0].to_string();
        assert!(
            message.starts_with("the host \"reports.123\" is not a valid host name or IP address: its last label is all digits"),
            "{message}"
        );
        assert!(message.ends_with("reports sent to it may never arrive"));
        assert_eq!(problems("https://reports.123/")[0].rule(), "RPT-3");
    }
}
