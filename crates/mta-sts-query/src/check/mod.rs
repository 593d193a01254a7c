//! `mta-sts-query check DOMAIN`: every step of a domain's MTA-STS and TLSRPT deployment, checked
//! without stopping at the first failure, as a typed report ([`CheckReport`]) that is shown as
//! text (its `Display`) or serialised as JSON (docs/check.md).
//!
//! Two halves: [`gather`] does all the I/O (DNS and the DNSSEC-validated DANE lookup at once under
//! one deadline, the policy host's addresses, SMTP on the MX hosts) and [`judge`] turns what was gathered into verdicts with no
//! I/O at all, so every rule is tested with tables of gathered values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_fetch::{DaneClient, DnsClient, DnsError, PolicyClient, TlsProbe};
use mta_sts_policy::Domain;
use serde::Serialize;

pub(crate) use gather::Gathered;
pub(crate) use previous::Previous;

mod dane;
mod gather;
mod host;
mod mx;
mod previous;
mod render;
mod smtp;
mod txt;

/// Bumped when a field changes meaning or is removed; new fields do not bump it.
const SCHEMA_VERSION: u32 = 1;
/// Certificates expiring sooner than this are warned about.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// How one finding, one step or the whole check came out. Ordered by gravity. The verdict of the
/// whole check is the worst of its findings, and decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Ok,
    Warning,
    Error,
}

impl Verdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One line of the report.
#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) verdict: Verdict,
    /// The rule ID (such as `TXT-4`, listed in `docs/rules.md`), when one applies.
    pub(crate) id: Option<&'static str>,
    pub(crate) message: String,
    /// What to change, for warnings and errors.
    pub(crate) fix: Option<String>,
}

impl Finding {
    pub(crate) fn ok(id: impl Into<Option<&'static str>>, message: impl Into<String>) -> Self {
        Self::new(Verdict::Ok, id.into(), message.into())
    }

    pub(crate) fn warning(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(Verdict::Warning, Some(id), message.into())
    }

    pub(crate) fn error(id: &'static str, message: impl Into<String>) -> Self {
        Self::new(Verdict::Error, Some(id), message.into())
    }

    fn new(verdict: Verdict, id: Option<&'static str>, message: String) -> Self {
        Self {
            verdict,
            id,
            message,
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// One numbered step of the check.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
    /// Stable machine name: `sts-txt`, `tlsrpt-txt`, `policy-host`, `policy`, `mx`, `dane`,
    /// `smtp`, `consistency`.
    pub(crate) name: &'static str,
    pub(crate) title: String,
    /// The worst verdict of the findings.
    pub(crate) verdict: Verdict,
    pub(crate) findings: Vec<Finding>,
}

impl Step {
    fn new(name: &'static str, title: String, findings: Vec<Finding>) -> Self {
        let verdict = findings
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Ok);
        Self {
            name,
            title,
            verdict,
            findings,
        }
    }
}

/// Counts of findings by verdict.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) ok: usize,
    pub(crate) warnings: usize,
    pub(crate) errors: usize,
}

/// The policy as parsed (the body itself is [`CheckReport::policy_body`]).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PolicySnapshot {
    pub(crate) mode: &'static str,
    pub(crate) max_age: u32,
    pub(crate) mx: Vec<String>,
}

/// The whole check: the `--json` document.
#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    pub(crate) schema_version: u32,
    pub(crate) domain: String,
    /// Seconds since the Unix epoch when the check ran.
    pub(crate) checked_at: u64,
    pub(crate) verdict: Verdict,
    pub(crate) summary: Summary,
    /// The `id` of the one valid `v=STSv1` record.
    pub(crate) sts_id: Option<String>,
    /// The policy body fetched, if any (even an invalid one), as lossy UTF-8: what a later
    /// `--previous` compares.
    pub(crate) policy_body: Option<String>,
    /// The parsed policy, when valid.
    pub(crate) policy: Option<PolicySnapshot>,
    /// The MX host names, by preference.
    pub(crate) mx_hosts: Vec<String>,
    /// The DANE verdict (`dane-only`, `dane`, `none`, `unknown` when the lookup failed); `None`
    /// when the DANE step was skipped.
    pub(crate) dane: Option<crate::dane::DaneVerdict>,
    pub(crate) steps: Vec<Step>,
}

impl CheckReport {
    /// 0 all ok, 1 warnings only, 2 errors.
    pub(crate) fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Ok => 0,
            Verdict::Warning => 1,
            Verdict::Error => 2,
        }
    }
}

impl Verdict {
    /// What the verdict of the whole check means, for the summary line.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Self::Ok => "all checks passed",
            Self::Warning => "warnings only",
            Self::Error => "errors: senders may ignore or fail the policy",
        }
    }
}

/// What to check, besides the domain.
#[derive(Debug)]
pub(crate) struct CheckOptions {
    /// SMTP port of the MX hosts (25; another one for tests).
    pub(crate) smtp_port: u16,
    /// Skip the SMTP step.
    pub(crate) smtp: bool,
    /// Per-host deadline of the SMTP step.
    pub(crate) timeout: Duration,
    /// An earlier `check --json` result.
    pub(crate) previous: Option<Previous>,
}

/// The clients the check does its I/O with.
#[derive(Clone, Copy)]
pub(crate) struct Clients<'a> {
    pub(crate) dns: &'a DnsClient,
    pub(crate) https: &'a PolicyClient,
    pub(crate) probe: &'a TlsProbe,
    /// The DNSSEC-validating client of the DANE step; `None` skips the step.
    pub(crate) dane: Option<&'a DaneClient>,
}

/// Runs every step for `domain`: gathers, then judges.
pub(crate) async fn run(
    clients: Clients<'_>,
    domain: &Domain,
    options: CheckOptions,
) -> CheckReport {
    let gathered = gather::gather(clients, domain, &options).await;
    judge(domain, &gathered, options.previous.as_ref())
}

/// Every step's verdicts from what was gathered: no I/O.
pub(crate) fn judge(domain: &Domain, g: &Gathered, previous: Option<&Previous>) -> CheckReport {
    let mut steps = Vec::with_capacity(8);
    let (step, sts_id) = txt::sts(&g.sts);
    steps.push(step);
    steps.push(txt::tlsrpt(&g.tlsrpt, domain.as_str()));
    let (step, body) = host::policy_host(&g.policy_host, g.now);
    steps.push(step);
    let (step, policy) = host::policy_file(body.as_deref(), domain);
    steps.push(step);
    let (step, mx_hosts) = mx::mx(domain.as_str(), &g.mx, policy.as_ref().map(|(_, p)| p));
    steps.push(step);
    let policy_ref = policy.as_ref().map(|(_, p)| p);
    steps.push(dane::dane(g.dane.as_ref(), policy_ref));
    let dane_state = g.dane.as_ref().and_then(|d| d.as_ref().ok());
    steps.push(smtp::smtp(
        g.smtp.as_deref(),
        dane_state,
        &mx_hosts,
        g.smtp_port,
        g.now,
    ));
    let body_text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
    steps.push(previous::consistency(
        previous,
        sts_id.as_deref(),
        body_text.as_deref(),
    ));

    let all = steps.iter().flat_map(|s| &s.findings);
    let count = |v: Verdict| all.clone().filter(|f| f.verdict == v).count();
    let summary = Summary {
        ok: count(Verdict::Ok),
        warnings: count(Verdict::Warning),
        errors: count(Verdict::Error),
    };
    let verdict = steps.iter().map(|s| s.verdict).max().unwrap_or(Verdict::Ok);
    CheckReport {
        schema_version: SCHEMA_VERSION,
        domain: domain.to_string(),
        checked_at: g.now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        verdict,
        summary,
        sts_id,
        policy: policy.map(|(snapshot, _)| snapshot),
        policy_body: body_text,
        mx_hosts,
        dane: g
            .dane
            .as_ref()
            .map(|d| crate::dane::DaneReport::verdict_of(d.as_ref())),
        steps,
    }
}

/// What to do about a failed DNS lookup: a name server that did not answer is told apart from one
/// that answered "no such record".
pub(crate) fn dns_fix(error: &DnsError) -> String {
    match error {
        DnsError::Timeout { timeout, .. } => format!(
            "no name server answered within {:.1} s: check that they are reachable from here \
             (or give --nameserver), and that the domain's servers respond",
            timeout.as_secs_f64()
        ),
        DnsError::Response { code, .. } => format!(
            "the name server answered {code}: fix the zone (or its DNSSEC signatures) so the name resolves"
        ),
        DnsError::NoAddress { name } => format!("publish A and/or AAAA records for {name}"),
        DnsError::InvalidName { .. } => "use a valid domain name".to_owned(),
        _ => "the lookup failed: check the name servers and the network".to_owned(),
    }
}

/// `not_after` as a date and the days left from `now`, with a verdict: error when expired,
/// warning under [`EXPIRY_WARNING_DAYS`].
pub(crate) fn expiry(not_after: SystemTime, now: SystemTime) -> (Verdict, String) {
    let seconds = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => -i128::from(e.duration().as_secs()),
    };
    let days = (seconds(not_after) - seconds(now)).div_euclid(86_400);
    let date = mta_sts_fetch::utc_date(not_after);
    if not_after <= now {
        (Verdict::Error, format!("expired {date}"))
    } else if days < i128::from(EXPIRY_WARNING_DAYS) {
        (
            Verdict::Warning,
            format!("expires {date}, in {days} day{}", plural(days)),
        )
    } else {
        (
            Verdict::Ok,
            format!("expires {date} ({days} day{} left)", plural(days)),
        )
    }
}

fn plural(n: i128) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Seconds as a rough human duration: "7 days", "12 hours", "300 seconds".
pub(crate) fn human_secs(secs: u32) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => {
            format!("{} day{}", s / 86_400, plural((s / 86_400).into()))
        }
        s if s >= 86_400 => format!("{:.1} days", f64::from(s) / 86_400.0),
        s if s >= 3600 && s % 3600 == 0 => {
            format!("{} hour{}", s / 3600, plural((s / 3600).into()))
        }
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_verdicts() {
        let now = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let days = |n: u64| Duration::from_secs(n * 86_400);
        assert_eq!(expiry(now - Duration::from_secs(1), now).0, Verdict::Error);
        assert_eq!(
            expiry(now + days(7), now),
            (Verdict::Warning, "expires 2024-01-08, in 7 days".to_owned())
        );
        assert_eq!(expiry(now + days(90), now).0, Verdict::Ok);
        assert_eq!(human_secs(604_800), "7 days");
        assert_eq!(human_secs(86_400), "1 day");
        assert_eq!(human_secs(7200), "2 hours");
        assert_eq!(human_secs(90), "90 seconds");
    }

    #[test]
    fn step_verdict_is_the_worst_finding() {
        let step = Step::new(
            "x",
            String::new(),
            vec![Finding::ok(None, "a"), Finding::warning("POL-5", "b")],
        );
        assert_eq!(step.verdict, Verdict::Warning);
        assert_eq!(
            Step::new("y", String::new(), Vec::new()).verdict,
            Verdict::Ok
        );
    }
}
