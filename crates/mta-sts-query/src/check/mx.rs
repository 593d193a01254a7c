//! Step 5: the domain's MX records against the policy's `mx` patterns (RFC 8461 §4.1).

use mta_sts_fetch::DnsClient;
use mta_sts_policy::{Mode, Policy};

use super::{Finding, Step};

/// Step 5. Returns the MX host names in preference order (for the SMTP step).
pub(super) async fn mx(
    dns: &DnsClient,
    domain: &str,
    policy: Option<&Policy>,
) -> (Step, Vec<String>) {
    let title = format!("MX records ({domain})");
    let mut findings = Vec::new();
    let mut records = match dns.mx(domain).await {
        Ok(records) => records,
        Err(e) => {
            findings.push(Finding::error("MATCH-1", format!("MX lookup failed: {e}")));
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
        match policy.mx().iter().find(|p| p.matches(host)) {
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
