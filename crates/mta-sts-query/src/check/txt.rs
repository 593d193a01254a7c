//! Steps 1 and 2: the `_mta-sts` and `_smtp._tls` TXT records.

use mta_sts_fetch::DnsClient;
use mta_sts_txt::{
    ReportUri, STS_VERSION, SelectError, TLSRPT_VERSION, UriProblem, concat_strings, select_sts,
    select_tlsrpt, sts_record_name, tlsrpt_record_name,
};

use super::{Finding, Step};

/// Step 1: `_mta-sts.DOMAIN` (TXT-*). Returns the step and the record's id when usable.
pub(super) async fn sts(dns: &DnsClient, domain: &str) -> (Step, Option<String>) {
    let name = sts_record_name(domain);
    let title = format!("_mta-sts TXT record ({name})");
    let mut findings = chain(dns, &name, "TXT-11").await;
    let records = match dns.txt(&name).await {
        Ok(answer) => answer.records().to_vec(),
        Err(e) => {
            findings.push(
                Finding::error("TXT-1", format!("lookup failed: {e}"))
                    .fix("make the name servers of the domain answer for this name"),
            );
            return (Step::new("sts-txt", title, findings), None);
        }
    };
    list_records(&records, STS_VERSION, &mut findings);
    let id = match select_sts(&records) {
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
                Finding::error("TXT-1", format!("no TXT record at {name}")).fix(format!(
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
pub(super) async fn tlsrpt(dns: &DnsClient, domain: &str) -> Step {
    let name = tlsrpt_record_name(domain);
    let title = format!("_smtp._tls TXT record ({name})");
    let mut findings = chain(dns, &name, "RPT-1").await;
    let records = match dns.txt(&name).await {
        Ok(answer) => answer.records().to_vec(),
        Err(e) => {
            findings.push(Finding::error("RPT-1", format!("lookup failed: {e}")));
            return Step::new("tlsrpt-txt", title, findings);
        }
    };
    list_records(&records, TLSRPT_VERSION, &mut findings);
    match select_tlsrpt(&records) {
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
            Finding::warning("RPT-1", format!("no TXT record at {name}: nobody reports TLS failures to you"))
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

/// The CNAME chain at `name`, as one ok finding when there is one.
async fn chain(dns: &DnsClient, name: &str, id: &'static str) -> Vec<Finding> {
    match dns.cname_chain(name).await {
        Ok(chain) if !chain.is_empty() => vec![Finding::ok(
            id,
            format!("{name} is an alias: {name} → {}", chain.join(" → ")),
        )],
        _ => Vec::new(),
    }
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
