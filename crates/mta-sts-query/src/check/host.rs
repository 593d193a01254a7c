//! Steps 3 and 4: the policy host `mta-sts.DOMAIN` on each of its addresses, and the policy file.

use mta_sts_fetch::{DnsClient, FetchError, PolicyAttempt, PolicyClient};
use std::time::SystemTime;

use mta_sts_policy::{Domain, Mode, Policy, Severity, lint_for_domain};

use super::{Finding, PolicySnapshot, Step, Verdict, expiry, human_secs};

/// Addresses of the policy host tried, at most.
const MAX_ADDRESSES: usize = 8;
/// RFC 8461 §10.2 advises max_age values "as long as is practical"; under a week is short.
const MAX_AGE_ADVISED: u32 = 604_800;

/// Step 3: DNS of the policy host, then one fetch per address. Returns the first body served
/// successfully.
pub(super) async fn policy_host(
    dns: &DnsClient,
    https: &PolicyClient,
    domain: &Domain,
    now: SystemTime,
) -> (Step, Option<Vec<u8>>) {
    let host = domain.policy_host();
    let title = format!("policy host ({host})");
    let mut findings = Vec::new();
    if let Ok(chain) = dns.cname_chain(&host).await
        && !chain.is_empty()
    {
        findings.push(Finding::ok(
            "POL-1",
            format!("{host} is an alias: {host} → {}", chain.join(" → ")),
        ));
    }
    let addresses = match dns.addresses(&host).await {
        Ok(addresses) => addresses,
        Err(e) => {
            findings.push(
                Finding::error("POL-1", format!("{e}"))
                    .fix(format!("publish A and/or AAAA records for {host}")),
            );
            return (Step::new("policy-host", title, findings), None);
        }
    };
    let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    findings.push(Finding::ok(
        "POL-1",
        format!("addresses: {}", list.join(", ")),
    ));

    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for ip in addresses.into_iter().take(MAX_ADDRESSES) {
        let attempt = https.fetch_from(domain, ip).await;
        if let Some(body) = attempt_findings(&attempt, &host, now, &mut findings) {
            bodies.push(body);
        }
    }
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
    attempt: &PolicyAttempt,
    host: &str,
    now: SystemTime,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u8>> {
    let ip = attempt.address.ip();
    if let Some(tls) = &attempt.tls {
        findings.push(Finding::ok(
            "FETCH-7",
            format!("{ip}: HTTPS reachable, {}", tls.version),
        ));
        let certificate = format!("{ip}: certificate valid for {host}, chains to a trusted root");
        match tls.not_after.map(|t| expiry(t, now)) {
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
    let diagnostics = lint_for_domain(body, domain.as_str());
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
        mx: policy.mx().iter().map(ToString::to_string).collect(),
    };
    (
        Step::new("policy", title, findings),
        Some((snapshot, policy)),
    )
}
