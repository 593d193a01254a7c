//! One discovery, recorded step by step for the report.

use mta_sts_fetch::{DnsClient, FetchError, PolicyClient};
use mta_sts_policy::{Domain, Policy, Severity, lint_for_domain};
use mta_sts_resolver::{FetchFailure, ResultType, Stage, TxtAnswer};
use mta_sts_txt::{concat_strings, select_sts, sts_record_name};
use serde::Serialize;

/// What `mta-sts-query DOMAIN` found. Serialised as the `--json` document.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) domain: String,
    /// What discovery found, under postfix-mta-sts-resolver's result names.
    pub(crate) result: LookupResult,
    pub(crate) txt: TxtReport,
    pub(crate) policy_url: String,
    pub(crate) policy: Option<PolicyReport>,
    pub(crate) failure: Option<FailureReport>,
    pub(crate) diagnostics: Vec<DiagnosticReport>,
    /// The DANE state and the answer with DANE on (`--dane` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dane: Option<crate::dane::DaneReport>,
}

#[derive(Debug, Serialize)]
pub(crate) struct TxtReport {
    pub(crate) name: String,
    /// Every TXT record at the name, character-strings joined, lossily decoded.
    pub(crate) records: Vec<String>,
    /// The id of the one valid `v=STSv1` record, if there is one.
    pub(crate) id: Option<String>,
    /// Why no record could be used, if none could.
    pub(crate) problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PolicyReport {
    pub(crate) version: &'static str,
    pub(crate) mode: &'static str,
    pub(crate) max_age: u32,
    pub(crate) mx: Vec<String>,
    /// The policy's lines in file order, as TLSRPT reports them.
    pub(crate) lines: Vec<String>,
    pub(crate) bytes: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct FailureReport {
    /// `dns`, `https` or `policy`.
    pub(crate) stage: String,
    /// The TLSRPT result type: `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid`.
    pub(crate) result_type: &'static str,
    pub(crate) message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct DiagnosticReport {
    pub(crate) line: Option<usize>,
    pub(crate) severity: String,
    pub(crate) rule: &'static str,
    pub(crate) message: String,
}

/// What discovery found (the `result` of the report, and its exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LookupResult {
    /// A valid policy was fetched.
    Valid,
    /// The TXT id equals the known id given: nothing was fetched.
    NotChanged,
    /// The domain has no MTA-STS policy.
    None,
    /// Discovery failed.
    FetchError,
}

impl LookupResult {
    /// 0 policy, 1 no policy, 2 failure.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Self::Valid | Self::NotChanged => 0,
            Self::None => 1,
            Self::FetchError => 2,
        }
    }
}

impl DiagnosticReport {
    pub(crate) fn from_lint(d: &mta_sts_policy::Diagnostic) -> Self {
        Self {
            line: d.line(),
            severity: d.severity().to_string(),
            rule: d.rule(),
            message: d.message().to_owned(),
        }
    }
}

impl Report {
    fn new(domain: &Domain) -> Self {
        Self {
            domain: domain.to_string(),
            result: LookupResult::None,
            txt: TxtReport {
                name: sts_record_name(domain.as_str()),
                records: Vec::new(),
                id: None,
                problem: None,
            },
            policy_url: domain.policy_url(),
            policy: None,
            failure: None,
            diagnostics: Vec::new(),
            dane: None,
        }
    }

    fn fail(mut self, stage: Stage, result_type: ResultType, message: String) -> Self {
        self.result = LookupResult::FetchError;
        self.failure = Some(FailureReport {
            stage: stage.to_string(),
            result_type: result_type.as_str(),
            message,
        });
        self
    }
}

/// Discovers `domain`'s policy (RFC 8461 §3): TXT, then HTTPS unless `known_id` is current.
pub(crate) async fn discover(
    dns: &DnsClient,
    https: &PolicyClient,
    domain: &Domain,
    known_id: Option<&str>,
) -> Report {
    let mut report = Report::new(domain);
    tracing::debug!(name = %report.txt.name, "looking up TXT");
    let answer = match dns.txt(&report.txt.name).await {
        Ok(answer) => answer,
        Err(e) => {
            let message = e.to_string();
            return report.fail(Stage::Dns, ResultType::StsPolicyFetchError, message);
        }
    };
    report.txt.records = answer
        .records()
        .iter()
        .map(|r| String::from_utf8_lossy(&concat_strings(r)).into_owned())
        .collect();
    let record = match (&answer, select_sts(answer.records())) {
        (_, Ok(record)) => record,
        (TxtAnswer::NoSuchName, _) => {
            report.txt.problem = Some("no TXT record (the name does not exist)".to_owned());
            return report;
        }
        (TxtAnswer::NoRecords, _) => {
            report.txt.problem = Some("no TXT record (the name has no TXT records)".to_owned());
            return report;
        }
        (TxtAnswer::Records(_), Err(e)) => {
            report.txt.problem = Some(e.to_string());
            return report;
        }
    };
    let id = record.id().as_str().to_owned();
    report.txt.id = Some(id.clone());
    if known_id == Some(id.as_str()) {
        report.result = LookupResult::NotChanged;
        return report;
    }
    tracing::debug!(url = %report.policy_url, "fetching policy");
    let body = match https.fetch(domain).await {
        Ok(body) => body,
        Err(e) => {
            let result_type = FetchError::result_type(&e);
            return report.fail(Stage::Https, result_type, e.to_string());
        }
    };
    report.diagnostics = lint_for_domain(&body, domain)
        .iter()
        .map(DiagnosticReport::from_lint)
        .collect();
    match Policy::parse(&body) {
        Ok(policy) => {
            report.result = LookupResult::Valid;
            report.policy = Some(PolicyReport {
                version: policy.version().as_str(),
                mode: policy.mode().as_str(),
                max_age: policy.max_age().as_secs(),
                mx: policy.mx().map(|p| p.as_str().to_owned()).collect(),
                lines: policy.policy_strings().collect(),
                bytes: body.len(),
            });
            report
        }
        Err(e) => report.fail(Stage::Policy, ResultType::StsPolicyInvalid, e.to_string()),
    }
}

/// The process exit status for a report: 0 policy, 1 no policy, 2 failure.
pub(crate) fn exit_code(report: &Report) -> u8 {
    report.result.exit_code()
}

/// The human-readable report.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("domain       {}", report.domain));
    line(format!("TXT          {}", report.txt.name));
    if report.txt.records.is_empty() && report.failure.as_ref().is_none_or(|f| f.stage != "dns") {
        line("             (no TXT records)".to_owned());
    }
    for r in &report.txt.records {
        line(format!("             {r:?}"));
    }
    if let Some(id) = &report.txt.id {
        line(format!("policy id    {id}"));
    }
    if let Some(problem) = &report.txt.problem {
        line(format!(
            "             no usable record: {}",
            crate::printable(problem)
        ));
    }
    if report.txt.id.is_some() {
        line(format!("policy URL   {}", report.policy_url));
    }
    if let Some(p) = &report.policy {
        line(format!("policy       fetched, {} bytes", p.bytes));
        for l in &p.lines {
            line(format!("             {}", crate::printable(l)));
        }
    }
    let findings: Vec<&DiagnosticReport> = report.diagnostics.iter().collect();
    if !findings.is_empty() {
        line("diagnostics".to_owned());
        for d in findings {
            let at = d.line.map(|l| format!("line {l}: ")).unwrap_or_default();
            line(format!(
                "             {at}{} [{}]: {}",
                d.severity,
                d.rule,
                crate::printable(&d.message)
            ));
        }
    }
    let summary = match (report.result, &report.policy, &report.failure) {
        (LookupResult::Valid, Some(p), _) => format!(
            "valid: mode {}, {} mx pattern{}, cacheable for {}",
            p.mode,
            p.mx.len(),
            if p.mx.len() == 1 { "" } else { "s" },
            human_duration(p.max_age)
        ),
        (LookupResult::NotChanged, ..) => {
            "not changed: the TXT id equals the known id, nothing fetched".to_owned()
        }
        (_, _, Some(f)) => format!("fetch error ({}): {}", f.result_type, f.message),
        _ => "none: the domain has no MTA-STS policy".to_owned(),
    };
    line(format!("result       {summary}"));
    out
}

fn human_duration(secs: u32) -> String {
    match secs {
        0 => "0 seconds (not cacheable)".to_owned(),
        s if s % 86_400 == 0 => format!("{} day{}", s / 86_400, if s == 86_400 { "" } else { "s" }),
        s if s >= 86_400 => format!("{:.1} days", f64::from(s) / 86_400.0),
        s => format!("{s} seconds"),
    }
}

/// The lint exit status: 0 clean, 1 warnings only, 2 errors.
pub(crate) fn lint_exit(severities: impl Iterator<Item = Severity>) -> u8 {
    match severities.max() {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Error) => 2,
    }
}
