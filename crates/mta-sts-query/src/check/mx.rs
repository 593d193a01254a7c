//! Step 5: the domain's MX records against the policy's `mx` patterns (RFC 8461 §4.1), judged
//! from the records looked up.

use mta_sts_fetch::{DnsError, MxRecord};
use mta_sts_policy::{Mode, Policy};

use super::{Finding, Step, dns_fix};

/// Step 5. Returns the MX host names in preference order (for the SMTP step).
pub(super) fn mx(
    domain: &str,
    looked_up: &Result<Vec<MxRecord>, DnsError>,
    policy: Option<&Policy>,
) -> (Step, Vec<String>) {
    let title = format!("MX records ({domain})");
    let mut findings = Vec::new();
    let mut records = match looked_up {
        Ok(records) => records.clone(),
        Err(e) => {
            findings
                .push(Finding::error("MATCH-1", format!("MX lookup failed: {e}")).fix(dns_fix(e)));
            return (Step::new("mx", title, findings), Vec::new());
        }
    };
    // RFC 7505: "MX 0 ." says the domain accepts no mail at all.
    if records.iter().any(|r| r.exchange.is_empty()) {
        records.retain(|r| !r.exchange.is_empty());
        findings.push(
            Finding::warning(
                "MATCH-1",
                "null MX (RFC 7505): the domain accepts no mail, so the policy protects nothing",
            )
            .fix("remove the MTA-STS records, or publish real MX records"),
        );
        if records.is_empty() {
            return (Step::new("mx", title, findings), Vec::new());
        }
    }
    if records.is_empty() {
        findings.push(
            Finding::error(
                "MATCH-1",
                format!("{domain} has no MX records: there is nothing for the policy to protect"),
            )
            .fix("publish MX records naming hosts covered by the policy's mx patterns"),
        );
        return (Step::new("mx", title, findings), Vec::new());
    }
    let hosts: Vec<String> = records.iter().map(|r| r.exchange.clone()).collect();
    let Some(policy) = policy else {
        for r in &records {
            findings.push(Finding::ok(
                None,
                format!(
                    "MX {} {} (no valid policy to match against)",
                    r.preference, r.exchange
                ),
            ));
        }
        return (Step::new("mx", title, findings), hosts);
    };
    for r in &records {
        let host = &r.exchange;
        match policy.mx().find(|p| p.matches(host)) {
            Some(pattern) => findings.push(Finding::ok(
                if pattern.is_wildcard() {
                    "MATCH-2"
                } else {
                    "MATCH-3"
                },
                format!("MX {} {host} matches mx: {pattern}", r.preference),
            )),
            None => {
                let message = format!(
                    "MX {} {host} matches no mx pattern of the policy",
                    r.preference
                );
                let fix = format!(
                    "add \"mx: {host}\" to the policy (and publish a new id), or remove the MX record"
                );
                findings.push(match policy.mode() {
                    Mode::Enforce => Finding::error(
                        "MATCH-1",
                        format!("{message}: enforcing senders will not deliver to it"),
                    )
                    .fix(fix),
                    Mode::Testing => Finding::warning(
                        "MATCH-1",
                        format!("{message}: senders will report failures for it"),
                    )
                    .fix(fix),
                    _ => Finding::ok("MATCH-1", format!("{message} (mode none: no effect)")),
                });
            }
        }
    }
    for pattern in policy.mx() {
        if !hosts.iter().any(|h| pattern.matches(h)) {
            findings.push(
                Finding::warning("MATCH-1", format!("mx: {pattern} matches none of the MX hosts"))
                    .fix("remove the pattern if no MX host will use it: it lets those names receive your mail"),
            );
        }
    }
    (Step::new("mx", title, findings), hosts)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::Verdict;

    fn records(hosts: &[(u16, &str)]) -> Result<Vec<MxRecord>, DnsError> {
        Ok(hosts
            .iter()
            .map(|(preference, exchange)| MxRecord::new(*preference, exchange))
            .collect())
    }

    fn policy(text: &str) -> Policy {
        text.parse().unwrap()
    }

    /// MX lookup, policy, expected verdict and rule, expected hosts for the SMTP step.
    type Row<'a> = (
        Result<Vec<MxRecord>, DnsError>,
        Option<&'a Policy>,
        Verdict,
        &'static str,
        Vec<&'static str>,
    );

    const ENFORCE: &str =
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 604800\n";

    #[test]
    fn match_rules_from_records_and_policy() {
        let enforce = policy(ENFORCE);
        let testing = policy(&ENFORCE.replace("enforce", "testing"));
        let none = policy("version: STSv1\nmode: none\nmax_age: 604800\n");
        let table: Vec<Row<'_>> = vec![
            // MATCH-3 literal, MATCH-2 wildcard.
            (
                records(&[(10, "mx1.example.com"), (20, "b.example.net")]),
                Some(&enforce),
                Verdict::Ok,
                "MATCH-2",
                vec!["mx1.example.com", "b.example.net"],
            ),
            // An MX no pattern covers: enforcing senders will not deliver to it.
            (
                records(&[(10, "mx1.example.com"), (20, "other.example.org")]),
                Some(&enforce),
                Verdict::Error,
                "MATCH-1",
                vec!["mx1.example.com", "other.example.org"],
            ),
            (
                records(&[(10, "other.example.org")]),
                Some(&testing),
                Verdict::Warning,
                "MATCH-1",
                vec!["other.example.org"],
            ),
            (
                records(&[(10, "other.example.org")]),
                Some(&none),
                Verdict::Ok,
                "MATCH-1",
                vec!["other.example.org"],
            ),
            // A pattern no MX host uses is a warning (it lets that name receive mail).
            (
                records(&[(10, "mx1.example.com")]),
                Some(&enforce),
                Verdict::Warning,
                "MATCH-1",
                vec!["mx1.example.com"],
            ),
            // Null MX (RFC 7505): nothing to protect.
            (
                records(&[(0, "")]),
                Some(&enforce),
                Verdict::Warning,
                "MATCH-1",
                vec![],
            ),
            (
                records(&[]),
                Some(&enforce),
                Verdict::Error,
                "MATCH-1",
                vec![],
            ),
            (
                records(&[(10, "mx1.example.com")]),
                None,
                Verdict::Ok,
                "",
                vec!["mx1.example.com"],
            ),
            (
                Err(DnsError::Timeout {
                    name: "example.com".into(),
                    timeout: Duration::from_secs(1),
                }),
                Some(&enforce),
                Verdict::Error,
                "MATCH-1",
                vec![],
            ),
        ];
        for (looked_up, policy, verdict, id, hosts) in table {
            let shown = format!("{looked_up:?} {:?}", policy.map(|p| p.mode()));
            let (step, got_hosts) = mx("example.com", &looked_up, policy);
            assert_eq!(step.verdict, verdict, "{shown}: {:#?}", step.findings);
            if !id.is_empty() {
                assert!(
                    step.findings
                        .iter()
                        .any(|f| f.verdict == verdict && f.id == Some(id)),
                    "{shown}: {:#?}",
                    step.findings
                );
            }
            assert_eq!(got_hosts, hosts, "{shown}");
        }
    }
}
