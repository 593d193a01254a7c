//! Steps 3 and 4: the policy host `mta-sts.DOMAIN` on each of its addresses, and the policy file,
//! judged from what was fetched.

use std::time::SystemTime;

use mta_sts_fetch::FetchError;
use mta_sts_policy::{Domain, Mode, Policy, Severity, lint_for_domain};

use super::gather::{Attempt, HostLookup, MAX_ADDRESSES};
use super::{Finding, PolicySnapshot, Step, Verdict, dns_fix, expiry, human_secs};
/// RFC 8461 §10.2 advises max_age values "as long as is practical"; under a week is short.
const MAX_AGE_ADVISED: u32 = 604_800;

/// Step 3: the policy host's DNS, then one fetch per address. Returns the first body served
/// successfully.
pub(super) fn policy_host(lookup: &HostLookup, now: SystemTime) -> (Step, Option<Vec<u8>>) {
    let host = &lookup.host;
    let title = format!("policy host ({host})");
    let mut findings = Vec::new();
    if !lookup.chain.is_empty() {
        findings.push(Finding::ok(
            "POL-1",
            format!("{host} is an alias: {host} → {}", lookup.chain.join(" → ")),
        ));
    }
    let addresses = match &lookup.addresses {
        Ok(addresses) => addresses,
        Err(e) => {
            findings.push(Finding::error("POL-1", format!("{e}")).fix(dns_fix(e)));
            return (Step::new("policy-host", title, findings), None);
        }
    };
    let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    findings.push(Finding::ok(
        "POL-1",
        format!("addresses: {}", list.join(", ")),
    ));
    if addresses.len() > MAX_ADDRESSES {
        findings.push(Finding::ok(
            None,
            format!("only the first {MAX_ADDRESSES} addresses were fetched from"),
        ));
    }
    let bodies: Vec<Vec<u8>> = lookup
        .attempts
        .iter()
        .filter_map(|attempt| attempt_findings(attempt, host, now, &mut findings))
        .collect();
    if bodies.windows(2).any(|w| w[0] != w[1]) {
        findings.push(
            Finding::warning("POL-1", "the addresses serve different policy files")
                .fix("deploy the same file on every server behind the policy host"),
        );
    }
    let body = bodies.into_iter().next();
    (Step::new("policy-host", title, findings), body)
}

/// The findings of one fetch, in the order things happen; the body when the fetch succeeded.
fn attempt_findings(
    attempt: &Attempt,
    host: &str,
    now: SystemTime,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u8>> {
    let ip = attempt.address.ip();
    if let Some((version, not_after)) = &attempt.tls {
        findings.push(Finding::ok(
            "FETCH-7",
            format!("{ip}: HTTPS reachable, {version}"),
        ));
        let certificate = format!("{ip}: certificate valid for {host}, chains to a trusted root");
        match not_after.map(|t| expiry(t, now)) {
            Some((Verdict::Ok, when)) | Some((Verdict::Error, when)) => {
                findings.push(Finding::ok("FETCH-1", format!("{certificate}, {when}")));
            }
            Some((_, when)) => findings.push(
                Finding::warning("FETCH-1", format!("{certificate}, but it {when}"))
                    .fix("renew the certificate now (and automate renewal)"),
            ),
            None => findings.push(Finding::ok("FETCH-1", certificate)),
        }
    }
    match &attempt.result {
        Ok(body) => {
            findings.push(Finding::ok(
                "FETCH-3",
                format!("{ip}: status 200, no redirect"),
            ));
            let media = attempt.content_type.as_deref().unwrap_or("text/plain");
            findings.push(Finding::ok(
                "FETCH-5",
                format!("{ip}: Content-Type {media}"),
            ));
            findings.push(Finding::ok(
                "FETCH-8",
                format!(
                    "{ip}: {} bytes in {} ms over {}",
                    body.len(),
                    attempt.elapsed.as_millis(),
                    attempt
                        .http_version
                        .map_or_else(|| "HTTP".to_owned(), |v| v.to_string())
                ),
            ));
            Some(body.clone())
        }
        Err(e) => {
            let (id, fix) = classify(e, host);
            findings.push(Finding::error(id, format!("{ip}: {e}")).fix(fix));
            None
        }
    }
}

/// The rule a fetch failure breaks, and what to do about it.
fn classify(error: &FetchError, host: &str) -> (&'static str, String) {
    match error {
        FetchError::Certificate { .. } => (
            "FETCH-1",
            format!(
                "install a certificate for {host} (or *.{}) from a public CA, not expired",
                host.trim_start_matches("mta-sts.")
            ),
        ),
        FetchError::Tls { .. } => (
            "FETCH-7",
            "enable TLS 1.2 and 1.3 on the policy host".to_owned(),
        ),
        FetchError::Redirect { .. } => (
            "FETCH-3",
            "serve the file itself at /.well-known/mta-sts.txt: senders do not follow redirects"
                .to_owned(),
        ),
        FetchError::Status(_) => (
            "FETCH-3",
            "serve the policy at https://".to_owned()
                + host
                + "/.well-known/mta-sts.txt with status 200",
        ),
        FetchError::ContentType(_) => (
            "FETCH-5",
            "serve the file as text/plain (nginx: default_type text/plain; in its location block)"
                .to_owned(),
        ),
        FetchError::TooLarge { .. } => ("FETCH-8", "keep the policy file under 64 KiB".to_owned()),
        FetchError::Timeout(_) => (
            "FETCH-8",
            "the policy host must answer within the timeout (senders give up too)".to_owned(),
        ),
        _ => (
            "POL-1",
            format!("make https://{host}/ reachable on port 443 from the Internet"),
        ),
    }
}

/// Step 4: lint the body and describe the policy. Returns the snapshot and policy when valid.
pub(super) fn policy_file(
    body: Option<&[u8]>,
    domain: &Domain,
) -> (Step, Option<(PolicySnapshot, Policy)>) {
    let title = format!("policy file ({})", domain.policy_url());
    let Some(body) = body else {
        let finding = Finding::error(
            "POL-1",
            "no policy file could be fetched (see the policy host step)",
        )
        .fix("fix the policy host first");
        return (Step::new("policy", title, vec![finding]), None);
    };
    let diagnostics = lint_for_domain(body, domain);
    let mut findings: Vec<Finding> = diagnostics
        .iter()
        .map(|d| {
            let at = d.line().map(|l| format!("line {l}: ")).unwrap_or_default();
            let message = format!("{at}{}", d.message());
            match d.severity() {
                Severity::Error => Finding::error(d.rule(), message)
                    .fix("senders refuse the whole policy: correct this line"),
                Severity::Warning => Finding::warning(d.rule(), message),
            }
        })
        .collect();
    let Ok(policy) = Policy::parse(body) else {
        return (Step::new("policy", title, findings), None);
    };
    let max_age = policy.max_age().as_secs();
    findings.push(Finding::ok(
        "POL-2",
        format!(
            "valid: mode {}, {} mx pattern{}, max_age {max_age} ({})",
            policy.mode().as_str(),
            policy.mx().len(),
            if policy.mx().len() == 1 { "" } else { "s" },
            human_secs(max_age)
        ),
    ));
    let linted_max_age = diagnostics
        .iter()
        .any(|d| d.rule() == "POL-5" || d.rule() == "A-15");
    if max_age < MAX_AGE_ADVISED && !linted_max_age {
        findings.push(
            Finding::warning("POL-5", format!("max_age {max_age} is under a week; RFC 8461 §10.2 advises weeks or longer"))
                .fix("use max_age: 604800 (a week) or more, e.g. 2592000 (30 days), once the policy is stable"),
        );
    }
    match policy.mode() {
        Mode::Testing => findings.push(
            Finding::warning("APPLY-2", "mode testing: senders report failures but still deliver without TLS")
                .fix("switch to mode: enforce (and publish a new id) once TLSRPT reports show no failures"),
        ),
        Mode::None => findings.push(
            Finding::warning("APPLY-3", "mode none: senders treat the domain as having no policy")
                .fix("use mode: testing or enforce, unless you are withdrawing MTA-STS"),
        ),
        _ => findings.push(Finding::ok("APPLY-1", "mode enforce")),
    }
    let snapshot = PolicySnapshot {
        mode: policy.mode().as_str(),
        max_age,
        mx: policy.mx().map(|p| p.as_str().to_owned()).collect(),
    };
    (
        Step::new("policy", title, findings),
        Some((snapshot, policy)),
    )
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::{Duration, UNIX_EPOCH};

    use mta_sts_fetch::{CertificateProblem, DnsError, HttpVersion, TlsVersion};

    use super::*;

    const BODY: &[u8] =
        b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 1209600\r\n";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_704_067_200)
    }

    fn attempt(last: u8, result: Result<Vec<u8>, FetchError>, cert_days: Option<u64>) -> Attempt {
        let tls = cert_days.map(|d| {
            (
                TlsVersion::Tls13,
                Some(now() + Duration::from_secs(d * 86_400)),
            )
        });
        Attempt {
            address: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 443),
            tls,
            http_version: Some(HttpVersion::Http2),
            content_type: Some("text/plain".into()),
            elapsed: Duration::from_millis(12),
            result,
        }
    }

    fn lookup(addresses: Result<Vec<IpAddr>, DnsError>, attempts: Vec<Attempt>) -> HostLookup {
        HostLookup {
            host: "mta-sts.example.com".into(),
            chain: Vec::new(),
            addresses,
            attempts,
        }
    }

    fn ips(n: u8) -> Result<Vec<IpAddr>, DnsError> {
        Ok((1..=n)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
            .collect())
    }

    #[test]
    fn fetch_rules_from_what_each_address_served() {
        let expired = FetchError::Certificate {
            host: "mta-sts.example.com".into(),
            problem: CertificateProblem::Expired { not_after: None },
        };
        let table: Vec<(HostLookup, Verdict, &str, bool)> = vec![
            (
                lookup(ips(1), vec![attempt(1, Ok(BODY.to_vec()), Some(90))]),
                Verdict::Ok,
                "FETCH-8",
                true,
            ),
            // FETCH-1: a certificate close to expiry is a warning.
            (
                lookup(ips(1), vec![attempt(1, Ok(BODY.to_vec()), Some(3))]),
                Verdict::Warning,
                "FETCH-1",
                true,
            ),
            (
                lookup(ips(1), vec![attempt(1, Err(expired), None)]),
                Verdict::Error,
                "FETCH-1",
                false,
            ),
            (
                lookup(
                    ips(1),
                    vec![attempt(1, Err(FetchError::Status(404)), Some(90))],
                ),
                Verdict::Error,
                "FETCH-3",
                false,
            ),
            (
                lookup(
                    ips(1),
                    vec![attempt(
                        1,
                        Err(FetchError::Redirect {
                            status: 301,
                            location: None,
                        }),
                        Some(90),
                    )],
                ),
                Verdict::Error,
                "FETCH-3",
                false,
            ),
            (
                lookup(
                    ips(1),
                    vec![attempt(
                        1,
                        Err(FetchError::ContentType(Some("text/html".into()))),
                        Some(90),
                    )],
                ),
                Verdict::Error,
                "FETCH-5",
                false,
            ),
            (
                lookup(
                    ips(1),
                    vec![attempt(
                        1,
                        Err(FetchError::TooLarge { limit: 65_536 }),
                        Some(90),
                    )],
                ),
                Verdict::Error,
                "FETCH-8",
                false,
            ),
            // POL-1: two servers behind the host disagree.
            (
                lookup(
                    ips(2),
                    vec![
                        attempt(1, Ok(BODY.to_vec()), Some(90)),
                        attempt(2, Ok(b"other".to_vec()), Some(90)),
                    ],
                ),
                Verdict::Warning,
                "POL-1",
                true,
            ),
            // One address failing is an error even when another serves the file.
            (
                lookup(
                    ips(2),
                    vec![
                        attempt(1, Ok(BODY.to_vec()), Some(90)),
                        attempt(2, Err(FetchError::Status(500)), Some(90)),
                    ],
                ),
                Verdict::Error,
                "FETCH-3",
                true,
            ),
            (
                lookup(
                    Err(DnsError::NoAddress {
                        name: "mta-sts.example.com".into(),
                    }),
                    vec![],
                ),
                Verdict::Error,
                "POL-1",
                false,
            ),
        ];
        for (l, verdict, id, body) in table {
            let shown = format!(
                "{:?}",
                l.attempts
                    .iter()
                    .map(|a| a.result.as_ref().map(Vec::len).map_err(ToString::to_string))
                    .collect::<Vec<_>>()
            );
            let (step, got_body) = policy_host(&l, now());
            assert_eq!(step.verdict, verdict, "{shown}: {:#?}", step.findings);
            assert!(
                step.findings
                    .iter()
                    .any(|f| f.verdict == verdict && f.id == Some(id)),
                "{shown}: {:#?}",
                step.findings
            );
            assert_eq!(got_body.is_some(), body, "{shown}");
        }
    }

    /// Issue 11: no address because no name server answered is not "publish A records".
    #[test]
    fn dns_hints_follow_the_failure() {
        let silent = lookup(
            Err(DnsError::Timeout {
                name: "mta-sts.example.com".into(),
                timeout: Duration::from_secs(3),
            }),
            vec![],
        );
        let (step, _) = policy_host(&silent, now());
        let fix = step.findings[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("no name server answered") && !fix.contains("publish"),
            "{fix}"
        );
        let missing = lookup(
            Err(DnsError::NoAddress {
                name: "mta-sts.example.com".into(),
            }),
            vec![],
        );
        let (step, _) = policy_host(&missing, now());
        let fix = step.findings[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("publish A and/or AAAA records for mta-sts.example.com"),
            "{fix}"
        );
    }

    #[test]
    fn policy_file_rules() {
        let domain: Domain = "example.com".parse().unwrap();
        let (step, policy) = policy_file(Some(BODY), &domain);
        assert_eq!(step.verdict, Verdict::Ok, "{:#?}", step.findings);
        assert!(policy.is_some());
        // POL-5: a short max_age is advice, not an error.
        let short = String::from_utf8_lossy(BODY).replace("1209600", "86400");
        let (step, _) = policy_file(Some(short.as_bytes()), &domain);
        assert_eq!(step.verdict, Verdict::Warning);
        assert!(step.findings.iter().any(|f| f.id == Some("POL-5")));
        // APPLY-2: testing delivers anyway.
        let testing = String::from_utf8_lossy(BODY).replace("enforce", "testing");
        let (step, _) = policy_file(Some(testing.as_bytes()), &domain);
        assert!(
            step.findings
                .iter()
                .any(|f| f.id == Some("APPLY-2") && f.verdict == Verdict::Warning)
        );
        let (step, policy) = policy_file(Some(b"version: STSv1\nmode: Enforce\n"), &domain);
        assert_eq!(step.verdict, Verdict::Error);
        assert!(policy.is_none());
        let (step, _) = policy_file(None, &domain);
        assert_eq!(step.verdict, Verdict::Error);
    }
}
