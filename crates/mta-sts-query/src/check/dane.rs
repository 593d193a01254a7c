//! Step 6: the domain's DANE state (RFC 7672) as a DNSSEC-validating sender sees it: the MX
//! records' DNSSEC status, each MX host's TLSA records and their usability, the verdict, and where
//! DANE and the MTA-STS policy disagree (DANE-10). Judged from one DANE lookup; whether the TLSA
//! records match the certificates the hosts present is judged in the SMTP step (DANE-6).

use mta_sts_fetch::{DaneError, DnsError};
use mta_sts_policy::{Mode, Policy};
use smtp_dane::{DaneState, HostAnswer, HostDane, MxAnswer, Tlsa, Verdict};

use super::{Finding, Step, dns_fix};
use crate::dane::short_record;

/// Step 6, from the DANE lookup (`None` when the step was skipped) and the valid policy, if any.
pub(super) fn dane(
    looked_up: Option<&Result<DaneState, DaneError>>,
    policy: Option<&Policy>,
) -> Step {
    let title = "DANE: DNSSEC-signed MX records and TLSA records".to_owned();
    let findings = match looked_up {
        None => vec![Finding::ok(None, "skipped (--no-dane)")],
        Some(Err(error)) => vec![failure(error)],
        Some(Ok(state)) => state_findings(state, policy),
    };
    Step::new("dane", title, findings)
}

/// DANE-4: a sender that cannot establish the DANE state defers the mail rather than send it
/// under a weaker policy, so a failed lookup is an error whatever MTA-STS says.
fn failure(error: &DaneError) -> Finding {
    let fix = match error {
        DaneError::Bogus { .. } => "fix the zone's DNSSEC signatures and the DS records at the parent (re-sign the zone; check it with delv or dnsviz); if every domain fails like this, the name server asked does not pass DNSSEC records on: give --nameserver a validating-capable resolver, or --no-dane".to_owned(),
        DaneError::Dns(e) => dns_fix(e),
        DaneError::Timeout { .. } => "the name servers must answer DNSSEC queries (with the DO bit) promptly".to_owned(),
        _ => dns_fix(&DnsError::NoAddress { name: String::new() }),
    };
    Finding::error(
        "DANE-4",
        format!("DANE lookup failed: {error}: senders that validate DNSSEC defer mail to the domain (TEMP) until it succeeds"),
    )
    .fix(fix)
}

fn state_findings(state: &DaneState, policy: Option<&Policy>) -> Vec<Finding> {
    let mut findings = vec![mx_finding(state.mx())];
    for host in state.hosts() {
        findings.extend(host_findings(host));
    }
    findings.push(verdict_finding(state));
    if let (Some(policy), true) = (policy, state.verdict().is_dane()) {
        findings.extend(disagreements(state, policy));
    }
    findings
}

fn mx_finding(mx: &MxAnswer) -> Finding {
    match mx {
        MxAnswer::Secure(hosts) => Finding::ok(
            "DANE-2",
            format!("MX records DNSSEC-signed (secure): {}", hosts.join(", ")),
        ),
        MxAnswer::Implicit(host) => Finding::ok(
            "DANE-5",
            format!("no MX records (securely denied): {host} itself is the mail host"),
        ),
        MxAnswer::NoMailHost => Finding::ok(
            "DANE-2",
            "null MX or no such domain (secure): no mail host, so no DANE",
        ),
        // Insecure, and whatever a later smtp-dane adds: DANE is never claimed unknowingly.
        _ => Finding::ok(
            "DANE-3",
            "MX records not DNSSEC-signed: DANE does not apply, senders use MTA-STS alone",
        ),
    }
}

fn host_findings(host: &HostDane) -> Vec<Finding> {
    let name = &host.host;
    let records = match &host.answer {
        HostAnswer::Tlsa(records) => records,
        HostAnswer::NoTlsa => {
            return vec![Finding::ok(
                "DANE-2",
                format!("{name}: addresses signed, no TLSA records (securely denied)"),
            )];
        }
        // InsecureAddress, and whatever a later smtp-dane adds.
        _ => {
            return vec![Finding::ok(
                "DANE-3",
                format!(
                    "{name}: addresses not DNSSEC-signed: no TLSA lookup, no DANE for this host"
                ),
            )];
        }
    };
    let mut findings: Vec<Finding> = records.iter().map(|r| record_finding(name, r)).collect();
    if !records.iter().any(|r| r.usability().is_usable()) {
        findings.push(
            Finding::warning(
                "DANE-1",
                format!("{name}: no usable TLSA record: DANE senders insist on TLS but cannot authenticate the host"),
            )
            .fix(format!("publish a usable record at _25._tcp.{name}, e.g. 3 1 1 with the SHA-256 of the server's public key")),
        );
    }
    findings
}

/// DANE-1: one TLSA record's usability, and why not.
fn record_finding(host: &str, record: &Tlsa) -> Finding {
    let shown = short_record(&record.to_string(), false);
    let usability = record.usability();
    if usability.is_usable() {
        return Finding::ok("DANE-1", format!("{host}: TLSA {shown}: usable"));
    }
    Finding::warning(
        "DANE-1",
        format!("{host}: TLSA {shown}: unusable, ignored by senders: {usability}"),
    )
    .fix("remove it, or replace it with a DANE-EE (3) or DANE-TA (2) record with selector 0 or 1 and matching type 0, 1 or 2")
}

fn verdict_finding(state: &DaneState) -> Finding {
    let answer = match state.verdict().postfix_level() {
        Some(level) => format!("the daemon with DANE on answers OK {level}, before MTA-STS"),
        None => "MTA-STS decides".to_owned(),
    };
    Finding::ok("DANE-2", format!("{state}: {answer}"))
}

/// DANE-10: where a sender doing DANE and one doing MTA-STS would treat an MX host differently.
fn disagreements(state: &DaneState, policy: &Policy) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mode = policy.mode();
    for host in state.hosts() {
        let name = &host.host;
        let covered = policy.mx().any(|p| p.matches(name));
        let has_tlsa = matches!(host.answer, HostAnswer::Tlsa(_));
        if has_tlsa && !covered && mode != Mode::None {
            findings.push(
                Finding::warning(
                    "DANE-10",
                    format!("{name} publishes TLSA records but matches no mx pattern of the policy: DANE senders deliver to it, MTA-STS senders (mode {}) treat it as a policy failure", mode.as_str()),
                )
                .fix(format!("add \"mx: {name}\" to the policy (and publish a new id), or remove the MX record")),
            );
        }
        if mode == Mode::Enforce
            && state.verdict() == Verdict::Dane
            && !host.answer.has_usable_tlsa()
        {
            findings.push(
                Finding::warning(
                    "DANE-10",
                    format!("{name} has no usable TLSA record: senders that do DANE use it for the whole domain instead of MTA-STS (RFC 8461 §2), so mail to {name} gets TLS without a certificate check (opportunistic without TLSA records, mandatory with unusable ones), despite mode enforce"),
                )
                .fix(format!("publish DNSSEC-signed TLSA records for {name} (e.g. 3 1 1 with the SHA-256 of its public key), or drop it from the MX set")),
            );
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::Verdict as Judged;

    fn host(name: &str, answer: HostAnswer) -> HostDane {
        HostDane {
            host: name.to_owned(),
            answer,
        }
    }

    fn usable() -> Tlsa {
        Tlsa::new(3, 1, 1, vec![0xab; 32])
    }

    fn secure(hosts: Vec<HostDane>) -> Result<DaneState, DaneError> {
        let names = hosts.iter().map(|h| h.host.clone()).collect();
        Ok(DaneState::new(
            MxAnswer::Secure(names),
            hosts,
            Duration::from_secs(60),
        ))
    }

    const ENFORCE: &str = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 604800\n";

    /// The lookup, the policy, the step's verdict, and an (ID, message part) one finding has.
    type Row = (
        Result<DaneState, DaneError>,
        Option<String>,
        Judged,
        &'static str,
        &'static str,
    );

    #[test]
    fn dane_1_2_3_4_5_10_step_findings() {
        let table: Vec<Row> = vec![
            // DANE-2: every host with usable TLSA.
            (
                secure(vec![host(
                    "mx1.example.com",
                    HostAnswer::Tlsa(vec![usable()]),
                )]),
                Some(ENFORCE.to_owned()),
                Judged::Ok,
                "DANE-2",
                "dane-only",
            ),
            // DANE-1: an unusable record is a warning that says why.
            (
                secure(vec![host(
                    "mx1.example.com",
                    HostAnswer::Tlsa(vec![usable(), Tlsa::new(1, 1, 1, vec![0; 32])]),
                )]),
                None,
                Judged::Warning,
                "DANE-1",
                "certificate usage 1 (PKIX)",
            ),
            (
                secure(vec![host(
                    "mx1.example.com",
                    HostAnswer::Tlsa(vec![Tlsa::new(3, 1, 1, vec![0; 31])]),
                )]),
                None,
                Judged::Warning,
                "DANE-1",
                "no usable TLSA record",
            ),
            // DANE-3: unsigned MX records are no DANE, and no problem.
            (
                Ok(DaneState::new(
                    MxAnswer::Insecure,
                    Vec::new(),
                    Duration::from_secs(60),
                )),
                Some(ENFORCE.to_owned()),
                Judged::Ok,
                "DANE-3",
                "not DNSSEC-signed",
            ),
            (
                secure(vec![host("mx1.example.com", HostAnswer::InsecureAddress)]),
                Some(ENFORCE.to_owned()),
                Judged::Ok,
                "DANE-3",
                "addresses not DNSSEC-signed",
            ),
            // DANE-4: a failed lookup is an error.
            (
                Err(DaneError::Timeout {
                    domain: "example.com".into(),
                    timeout: Duration::from_secs(3),
                }),
                Some(ENFORCE.to_owned()),
                Judged::Error,
                "DANE-4",
                "defer mail",
            ),
            // DANE-5: the implicit MX.
            (
                Ok(DaneState::new(
                    MxAnswer::Implicit("example.com".into()),
                    vec![host("example.com", HostAnswer::NoTlsa)],
                    Duration::from_secs(60),
                )),
                None,
                Judged::Ok,
                "DANE-5",
                "example.com itself",
            ),
            // DANE-10: a host with TLSA that the policy does not cover.
            (
                secure(vec![
                    host("mx1.example.com", HostAnswer::Tlsa(vec![usable()])),
                    host("mx9.example.org", HostAnswer::Tlsa(vec![usable()])),
                ]),
                Some(ENFORCE.to_owned()),
                Judged::Warning,
                "DANE-10",
                "mx9.example.org publishes TLSA records but matches no mx pattern",
            ),
            // DANE-10: enforce, but DANE leaves a host without authentication.
            (
                secure(vec![
                    host("mx1.example.com", HostAnswer::Tlsa(vec![usable()])),
                    host("mx2.example.com", HostAnswer::NoTlsa),
                ]),
                Some(ENFORCE.replace("mx: mx1.example.com", "mx: *.example.com")),
                Judged::Warning,
                "DANE-10",
                "mx2.example.com has no usable TLSA record",
            ),
        ];
        for (looked_up, policy, verdict, id, text) in table {
            let policy: Option<Policy> = policy.map(|p| p.parse().unwrap());
            let step = dane(Some(&looked_up), policy.as_ref());
            assert_eq!(step.verdict, verdict, "{looked_up:?}: {:#?}", step.findings);
            assert!(
                step.findings
                    .iter()
                    .any(|f| f.id == Some(id) && f.message.contains(text)),
                "no {id} with {text:?}: {:#?}",
                step.findings
            );
        }
    }

    #[test]
    fn dane_10_testing_policy_with_all_hosts_covered_has_no_disagreement() {
        let testing = ENFORCE.replace("enforce", "testing");
        let policy: Policy = testing.parse().unwrap();
        let looked_up = secure(vec![
            host("mx1.example.com", HostAnswer::Tlsa(vec![usable()])),
            host("mx2.example.com", HostAnswer::NoTlsa),
        ]);
        let step = dane(Some(&looked_up), Some(&policy));
        assert!(
            !step.findings.iter().any(|f| f.id == Some("DANE-10")),
            "{:#?}",
            step.findings
        );
    }

    #[test]
    fn skipped() {
        let step = dane(None, None);
        assert_eq!(step.findings[0].message, "skipped (--no-dane)");
    }
}
