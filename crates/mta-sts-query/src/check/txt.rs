//! Steps 1 and 2: the `_mta-sts` and `_smtp._tls` TXT records, judged from what was looked up.

use mta_sts_txt::{
    ReportUri, STS_VERSION, SelectError, TLSRPT_VERSION, UriProblem, concat_strings, select_sts,
    select_tlsrpt,
};

use mta_sts_resolver::TxtAnswer;

use super::gather::TxtLookup;
use super::{Finding, Step, dns_fix};

/// Step 1: `_mta-sts.DOMAIN` (TXT-*). Returns the step and the record's id when usable.
pub(super) fn sts(lookup: &TxtLookup) -> (Step, Option<String>) {
    let name = &lookup.name;
    let title = format!("_mta-sts TXT record ({name})");
    let mut findings = chain(lookup, "TXT-11");
    let records = match &lookup.answer {
        Ok(answer) => answer.records(),
        Err(e) => {
            findings.push(Finding::error("TXT-1", format!("lookup failed: {e}")).fix(dns_fix(e)));
            return (Step::new("sts-txt", title, findings), None);
        }
    };
    list_records(records, STS_VERSION, &mut findings);
    let id = match select_sts(records) {
        Ok(record) => {
            let id = record.id().as_str().to_owned();
            findings.push(Finding::ok("TXT-9", "exactly one v=STSv1 record"));
            findings.push(Finding::ok(
                "TXT-4",
                format!("valid syntax, id {id} ({} characters)", id.len()),
            ));
            Some(id)
        }
        Err(SelectError::NotFound { discarded: 0, .. }) => {
            findings.push(
                Finding::error(
                    "TXT-1",
                    format!("no TXT record at {name}{}", absence(lookup)),
                )
                .fix(format!(
                    "publish {name} TXT \"v=STSv1; id=<1-32 letters or digits, e.g. the date>\""
                )),
            );
            None
        }
        Err(e @ SelectError::NotFound { .. }) => {
            findings.push(
                Finding::error("TXT-3", e.to_string())
                    .fix("the record must begin with exactly \"v=STSv1;\" (case-sensitive)"),
            );
            None
        }
        Err(e @ SelectError::Ambiguous { .. }) => {
            findings.push(Finding::error("TXT-9", e.to_string()).fix(
                "senders ignore the domain's policy when there is more than one record: delete all but one",
            ));
            None
        }
        Err(SelectError::Syntax(e)) => {
            findings.push(
                Finding::error(e.kind().rule(), format!("invalid record: {e}"))
                    .fix("write it as \"v=STSv1; id=<1-32 letters or digits>\""),
            );
            None
        }
        Err(e) => {
            findings.push(Finding::error("TXT-9", e.to_string()));
            None
        }
    };
    (Step::new("sts-txt", title, findings), id)
}

/// Step 2: `_smtp._tls.DOMAIN` (RPT-1..7). A missing record is only a warning: TLSRPT is optional,
/// but without it nobody tells the domain about failures.
pub(super) fn tlsrpt(lookup: &TxtLookup, domain: &str) -> Step {
    let name = &lookup.name;
    let title = format!("_smtp._tls TXT record ({name})");
    let mut findings = chain(lookup, "RPT-1");
    let records = match &lookup.answer {
        Ok(answer) => answer.records(),
        Err(e) => {
            findings.push(Finding::error("RPT-1", format!("lookup failed: {e}")).fix(dns_fix(e)));
            return Step::new("tlsrpt-txt", title, findings);
        }
    };
    list_records(records, TLSRPT_VERSION, &mut findings);
    match select_tlsrpt(records) {
        Ok(record) => {
            findings.push(Finding::ok("RPT-5", "exactly one v=TLSRPTv1 record, valid syntax"));
            for uri in record.rua() {
                let problems = uri.problems();
                if problems.is_empty() {
                    let kind = match uri {
                        ReportUri::Mailto(_) => "mailto",
                        ReportUri::Https(_) => "https",
                        _ => "supported",
                    };
                    findings.push(Finding::ok(
                        "RPT-3",
                        format!("rua {}: {kind} URI", uri.as_str()),
                    ));
                }
                for problem in problems {
                    findings.push(
                        Finding::warning(problem.rule(), format!("rua {}: {problem}", uri.as_str()))
                            .fix(uri_fix(&problem, domain)),
                    );
                }
            }
            for uri in record.unsupported_rua() {
                findings.push(
                    Finding::warning("RPT-3", format!("rua {uri}: unsupported scheme, reporters skip it"))
                        .fix("use mailto: or https: URIs only"),
                );
            }
            if record.rua().is_empty() {
                findings.push(
                    Finding::error("RPT-3", "no mailto: or https: URI: no report can be delivered")
                        .fix("add rua=mailto:tlsrpt@<your domain>"),
                );
            }
        }
        Err(SelectError::NotFound { discarded: 0, .. }) => findings.push(
            Finding::warning("RPT-1", format!("no TXT record at {name}{}: nobody reports TLS failures to you", absence(lookup)))
                .fix(format!("publish {name} TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}\"")),
        ),
        Err(e @ SelectError::NotFound { .. }) => findings.push(
            Finding::warning("RPT-2", e.to_string())
                .fix("the record must begin with exactly \"v=TLSRPTv1;\" (case-sensitive)"),
        ),
        Err(e @ SelectError::Ambiguous { .. }) => findings.push(
            Finding::error("RPT-5", e.to_string())
                .fix("reporters ignore TLSRPT when there is more than one record: delete all but one"),
        ),
        Err(SelectError::Syntax(e)) => findings.push(
            Finding::error(e.kind().rule(), format!("invalid record: {e}")).fix(
                "write it as \"v=TLSRPTv1; rua=mailto:…\", with commas, ! and ; in URIs percent-encoded",
            ),
        ),
        Err(e) => findings.push(Finding::error("RPT-5", e.to_string())),
    }
    Step::new("tlsrpt-txt", title, findings)
}

/// What to change in a `rua` URI that reports may never reach.
fn uri_fix(problem: &UriProblem, domain: &str) -> String {
    match problem {
        UriProblem::LocalPart { .. } => "write the part before @ as letters, digits and \
             !#$%&'*+-/=?^_`{|}~ with single dots between them, or quote it as %22…%22"
            .to_owned(),
        UriProblem::MailDomain { .. } => format!(
            "after @, use a host name (e.g. mailto:tlsrpt@{domain}) or an address literal \
             such as [192.0.2.1] or [IPv6:2001:db8::1]"
        ),
        UriProblem::HttpsHost { .. } => "use a host name whose last label is not all digits, \
             a dotted IPv4 address, or an IPv6 address in brackets"
            .to_owned(),
        _ => format!("use an address reports can reach, e.g. rua=mailto:tlsrpt@{domain}"),
    }
}

/// Which kind of "no record" the name server gave.
fn absence(lookup: &TxtLookup) -> &'static str {
    match lookup.answer {
        Ok(TxtAnswer::NoSuchName) => " (the name does not exist)",
        Ok(TxtAnswer::NoRecords) => " (the name exists, with no TXT records)",
        _ => "",
    }
}

/// The CNAME chain at the name, as one ok finding when there is one.
fn chain(lookup: &TxtLookup, id: &'static str) -> Vec<Finding> {
    if lookup.chain.is_empty() {
        return Vec::new();
    }
    let name = &lookup.name;
    vec![Finding::ok(
        id,
        format!("{name} is an alias: {name} → {}", lookup.chain.join(" → ")),
    )]
}

/// Shows every record at the name; records of other kinds are listed as ignored.
fn list_records(records: &[Vec<Vec<u8>>], version: &str, findings: &mut Vec<Finding>) {
    for record in records {
        let text = String::from_utf8_lossy(&concat_strings(record)).into_owned();
        if text.starts_with(version) {
            findings.push(Finding::ok(None, format!("record {text:?}")));
        } else {
            findings.push(Finding::ok(
                None,
                format!("record {text:?} (not {version}, ignored)"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mta_sts_fetch::DnsError;

    use super::*;
    use crate::check::Verdict;

    /// DNS answer, expected verdict and rule, expected id.
    type Row = (
        Result<TxtAnswer, DnsError>,
        Verdict,
        &'static str,
        Option<&'static str>,
    );

    fn lookup(answer: Result<TxtAnswer, DnsError>) -> TxtLookup {
        TxtLookup {
            name: "_mta-sts.example.com".to_owned(),
            chain: Vec::new(),
            answer,
        }
    }

    fn records(texts: &[&str]) -> Result<TxtAnswer, DnsError> {
        Ok(TxtAnswer::Records(
            texts.iter().map(|t| vec![t.as_bytes().to_vec()]).collect(),
        ))
    }

    /// The worst verdict, its rule, and whether `text` is in one of the messages or fixes.
    fn judged(step: &Step) -> (Verdict, Vec<&str>) {
        let ids = step
            .findings
            .iter()
            .filter(|f| f.verdict == step.verdict)
            .filter_map(|f| f.id)
            .collect();
        (step.verdict, ids)
    }

    #[test]
    fn txt_rules_from_what_dns_answered() {
        let timeout = DnsError::Timeout {
            name: "_mta-sts.example.com".into(),
            timeout: Duration::from_secs(2),
        };
        let table: Vec<Row> = vec![
            (
                records(&["v=STSv1; id=20240101"]),
                Verdict::Ok,
                "TXT-4",
                Some("20240101"),
            ),
            (
                records(&["v=spf1 -all", "v=STSv1; id=a1"]),
                Verdict::Ok,
                "TXT-9",
                Some("a1"),
            ),
            // TXT-8: a later id is ignored, the first counts.
            (
                records(&["v=STSv1; id=abc; id=a-b"]),
                Verdict::Ok,
                "TXT-4",
                Some("abc"),
            ),
            (Ok(TxtAnswer::NoSuchName), Verdict::Error, "TXT-1", None),
            (Ok(TxtAnswer::NoRecords), Verdict::Error, "TXT-1", None),
            (records(&["v=spf1 -all"]), Verdict::Error, "TXT-3", None),
            (
                records(&["v=STSv1; id=a", "v=STSv1; id=b"]),
                Verdict::Error,
                "TXT-9",
                None,
            ),
            (records(&["v=STSv1; id=a_b"]), Verdict::Error, "TXT-4", None),
            (Err(timeout), Verdict::Error, "TXT-1", None),
        ];
        for (answer, verdict, id, expected_id) in table {
            let shown = format!("{answer:?}");
            let (step, found_id) = sts(&lookup(answer));
            let (got, ids) = judged(&step);
            assert_eq!(got, verdict, "{shown}: {:#?}", step.findings);
            assert!(ids.contains(&id), "{shown}: {ids:?}");
            assert_eq!(found_id.as_deref(), expected_id, "{shown}");
        }
    }

    #[test]
    fn absent_records_say_which_kind_of_absent() {
        let (step, _) = sts(&lookup(Ok(TxtAnswer::NoSuchName)));
        assert!(step.findings[0].message.contains("the name does not exist"));
        let (step, _) = sts(&lookup(Ok(TxtAnswer::NoRecords)));
        assert!(step.findings[0].message.contains("no TXT records"));
    }

    /// Issue 11: a name server that never answered is not told to publish records.
    #[test]
    fn a_silent_name_server_is_named_as_the_problem() {
        let (step, _) = sts(&lookup(Err(DnsError::Timeout {
            name: "_mta-sts.example.com".into(),
            timeout: Duration::from_secs(2),
        })));
        let fix = step.findings[0].fix.as_deref().unwrap_or_default();
        assert!(
            fix.contains("no name server answered within 2.0 s"),
            "{fix}"
        );
        assert!(!fix.contains("publish"), "{fix}");
    }

    #[test]
    fn rpt_rules_from_what_dns_answered() {
        let table: Vec<(Result<TxtAnswer, DnsError>, Verdict, &str)> = vec![
            (
                records(&["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"]),
                Verdict::Ok,
                "RPT-3",
            ),
            // RPT-1: TLSRPT is optional, its absence a warning.
            (Ok(TxtAnswer::NoSuchName), Verdict::Warning, "RPT-1"),
            (
                records(&["v=TLSRPTv2; rua=mailto:a@example.com"]),
                Verdict::Warning,
                "RPT-2",
            ),
            (
                records(&[
                    "v=TLSRPTv1; rua=mailto:a@example.com",
                    "v=TLSRPTv1; rua=mailto:b@example.com",
                ]),
                Verdict::Error,
                "RPT-5",
            ),
            (
                records(&["v=TLSRPTv1; rua=ftp://example.com/x"]),
                Verdict::Error,
                "RPT-3",
            ),
            (
                records(&["v=TLSRPTv1; rua=mailto:a..b@example.com"]),
                Verdict::Warning,
                "RPT-3",
            ),
        ];
        for (answer, verdict, id) in table {
            let shown = format!("{answer:?}");
            let mut l = lookup(answer);
            l.name = "_smtp._tls.example.com".into();
            let step = tlsrpt(&l, "example.com");
            let (got, ids) = judged(&step);
            assert_eq!(got, verdict, "{shown}: {:#?}", step.findings);
            assert!(ids.contains(&id), "{shown}: {ids:?}");
        }
    }

    #[test]
    fn txt_11_aliases_are_shown() {
        let mut l = lookup(records(&["v=STSv1; id=a1"]));
        l.chain = vec!["sts.provider.example".into()];
        let (step, _) = sts(&l);
        assert_eq!(step.findings[0].id, Some("TXT-11"));
        assert!(step.findings[0].message.contains("→ sts.provider.example"));
    }
}
