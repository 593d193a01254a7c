//! `mta-sts-query DOMAIN --dane`: the domain's DANE state (RFC 7672) next to its MTA-STS policy,
//! and the answer the daemon would give with DANE on. Built from one
//! [`DaneClient::lookup`](mta_sts_fetch::DaneClient::lookup); no I/O here.

use mta_sts_fetch::{DaneError, DnsError};
use serde::Serialize;
use smtp_dane::{DaneState, HostAnswer, MxAnswer, NoDane, Tlsa, Verdict};

use crate::printable;
use crate::query::LookupResult;

/// Hex digits of TLSA data shown without `-v info`: enough to tell records apart, short enough
/// that a matching type 0 record (a whole certificate) does not flood the terminal.
const SHORT_DATA: usize = 16;

/// The DANE part of the `--json` document (`dane`).
#[derive(Debug, Serialize)]
pub(crate) struct DaneReport {
    /// The verdict, in Postfix's terms; `unknown` when the lookup failed.
    pub(crate) verdict: DaneVerdict,
    /// Why DANE does not apply, for verdict `none`.
    pub(crate) no_dane: Option<NoDaneReason>,
    /// One line: the verdict and why (or the lookup's error).
    pub(crate) reason: String,
    /// What went wrong, when the state could not be established.
    pub(crate) error: Option<DaneFailure>,
    /// The MX RRset's DNSSEC status; `None` when the lookup failed.
    pub(crate) mx: Option<MxStatus>,
    /// Each MX host, most preferred first.
    pub(crate) hosts: Vec<HostReport>,
    /// Seconds the state may be cached (the smallest TTL of the answers: DANE-9).
    pub(crate) ttl: Option<u64>,
    /// What the daemon answers Postfix with `dane.enabled`.
    pub(crate) answer: DaneAnswer,
}

/// `dane-only`, `dane`, `none` or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DaneVerdict {
    DaneOnly,
    Dane,
    None,
    Unknown,
}

/// Why DANE does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum NoDaneReason {
    InsecureMx,
    NoMailHost,
    NoTlsa,
}

/// A failed DANE lookup.
#[derive(Debug, Serialize)]
pub(crate) struct DaneFailure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
}

/// `bogus` (DNSSEC validation failed), `dns` (SERVFAIL, no server) or `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FailureKind {
    Bogus,
    Dns,
    Timeout,
}

/// The MX RRset as validated DNS showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum MxStatus {
    /// Signed MX records.
    Secure,
    /// Not signed (or an insecure delegation on the way).
    Insecure,
    /// A signed denial: the domain is its own MX host.
    Implicit,
    /// A signed null MX or NXDOMAIN.
    NoMailHost,
}

/// One MX host.
#[derive(Debug, Serialize)]
pub(crate) struct HostReport {
    pub(crate) host: String,
    /// Whether its A/AAAA records are DNSSEC-signed.
    pub(crate) addresses: AddressStatus,
    /// `published`, `none` (a signed denial), or `not-looked-up` (insecure addresses).
    pub(crate) tlsa: TlsaStatus,
    pub(crate) records: Vec<TlsaReport>,
}

/// `secure` or `insecure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AddressStatus {
    Secure,
    Insecure,
}

/// Whether a host publishes TLSA records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TlsaStatus {
    Published,
    None,
    NotLookedUp,
}

/// One TLSA record and whether a DANE client may use it (DANE-1).
#[derive(Debug, Serialize)]
pub(crate) struct TlsaReport {
    /// Zone-file form, `3 1 1 HEX`.
    pub(crate) record: String,
    pub(crate) usage: u8,
    pub(crate) selector: u8,
    pub(crate) matching: u8,
    pub(crate) usable: bool,
    /// Why the record is unusable.
    pub(crate) problem: Option<String>,
}

/// The daemon's reply with DANE on: DANE decides first, MTA-STS only without DANE (DANE-2,
/// DANE-4).
#[derive(Debug, Serialize)]
pub(crate) struct DaneAnswer {
    pub(crate) decides: Decides,
    /// The socketmap reply when DANE decides (`OK dane-only`, `OK dane`, `TEMP …`); `None` when
    /// the MTA-STS answer stands.
    pub(crate) reply: Option<String>,
}

/// Who decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Decides {
    Dane,
    MtaSts,
    /// The DANE state is unknown: mail is deferred rather than sent under a weaker policy.
    Temp,
}

impl DaneReport {
    /// The report of one DANE lookup of `domain`.
    pub(crate) fn new(domain: &str, looked_up: &Result<DaneState, DaneError>) -> Self {
        match looked_up {
            Ok(state) => Self::from_state(state),
            Err(error) => Self::from_error(domain, error),
        }
    }

    /// Just the verdict of a lookup, `unknown` when it failed.
    pub(crate) fn verdict_of(looked_up: Result<&DaneState, &DaneError>) -> DaneVerdict {
        looked_up.map_or(DaneVerdict::Unknown, |state| verdict(state.verdict()).0)
    }

    fn from_state(state: &DaneState) -> Self {
        let (verdict, no_dane) = verdict(state.verdict());
        let answer = match state.verdict().postfix_level() {
            Some(level) => DaneAnswer {
                decides: Decides::Dane,
                reply: Some(format!("OK {level}")),
            },
            None => DaneAnswer {
                decides: Decides::MtaSts,
                reply: None,
            },
        };
        Self {
            verdict,
            no_dane,
            reason: state.to_string(),
            error: None,
            mx: Some(mx_status(state.mx())),
            hosts: state.hosts().iter().map(host_report).collect(),
            ttl: Some(state.ttl().as_secs()),
            answer,
        }
    }

    fn from_error(domain: &str, error: &DaneError) -> Self {
        let kind = match error {
            DaneError::Bogus { .. } => FailureKind::Bogus,
            DaneError::Timeout { .. } | DaneError::Dns(DnsError::Timeout { .. }) => {
                FailureKind::Timeout
            }
            _ => FailureKind::Dns,
        };
        let message = error.to_string();
        Self {
            verdict: DaneVerdict::Unknown,
            no_dane: None,
            reason: format!("unknown: {message}"),
            error: Some(DaneFailure { kind, message }),
            mx: None,
            hosts: Vec::new(),
            ttl: None,
            answer: DaneAnswer {
                decides: Decides::Temp,
                reply: Some(format!("TEMP {}", error.temp_reason(domain))),
            },
        }
    }
}

fn verdict(verdict: Verdict) -> (DaneVerdict, Option<NoDaneReason>) {
    match verdict {
        Verdict::DaneOnly => (DaneVerdict::DaneOnly, None),
        Verdict::Dane => (DaneVerdict::Dane, None),
        Verdict::NoDane(NoDane::NoMailHost) => (DaneVerdict::None, Some(NoDaneReason::NoMailHost)),
        Verdict::NoDane(NoDane::NoTlsa) => (DaneVerdict::None, Some(NoDaneReason::NoTlsa)),
        // InsecureMx, and any reason a later smtp-dane adds: DANE is not claimed without knowing it.
        _ => (DaneVerdict::None, Some(NoDaneReason::InsecureMx)),
    }
}

pub(crate) fn mx_status(mx: &MxAnswer) -> MxStatus {
    match mx {
        MxAnswer::Secure(_) => MxStatus::Secure,
        MxAnswer::Implicit(_) => MxStatus::Implicit,
        MxAnswer::NoMailHost => MxStatus::NoMailHost,
        // Insecure, and any answer a later smtp-dane adds: not treated as secure unknowingly.
        _ => MxStatus::Insecure,
    }
}

fn host_report(host: &smtp_dane::HostDane) -> HostReport {
    let (addresses, tlsa, records) = match &host.answer {
        HostAnswer::NoTlsa => (AddressStatus::Secure, TlsaStatus::None, Vec::new()),
        HostAnswer::Tlsa(records) => (
            AddressStatus::Secure,
            TlsaStatus::Published,
            records.iter().map(tlsa_report).collect(),
        ),
        // InsecureAddress, and any answer a later smtp-dane adds.
        _ => (AddressStatus::Insecure, TlsaStatus::NotLookedUp, Vec::new()),
    };
    HostReport {
        host: host.host.clone(),
        addresses,
        tlsa,
        records,
    }
}

fn tlsa_report(record: &Tlsa) -> TlsaReport {
    let usability = record.usability();
    TlsaReport {
        record: record.to_string(),
        usage: record.usage(),
        selector: record.selector(),
        matching: record.matching(),
        usable: usability.is_usable(),
        problem: (!usability.is_usable()).then(|| usability.to_string()),
    }
}

/// A TLSA record's text with its data cut to [`SHORT_DATA`] hex digits unless `full`.
pub(crate) fn short_record(record: &str, full: bool) -> String {
    let mut fields = record.splitn(4, ' ');
    let head: Vec<&str> = fields.by_ref().take(3).collect();
    let data = fields.next().unwrap_or_default();
    if full || data.len() <= SHORT_DATA {
        return record.to_owned();
    }
    format!("{} {}…", head.join(" "), &data[..SHORT_DATA])
}

/// The `--dane` block of the text report. `full` shows whole TLSA data and the TTL (`-v info`
/// or `-v debug`); `mta_sts` is the lookup's result, for the answer line.
pub(crate) fn render(report: &DaneReport, mta_sts: LookupResult, full: bool) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("DANE         {}", printable(&report.reason)));
    if let Some(mx) = report.mx {
        line(format!("  MX records {}", mx_words(mx)));
    }
    for host in &report.hosts {
        line(format!("  {}", host_words(host)));
        for r in &host.records {
            let judged = r.problem.as_deref().unwrap_or("usable");
            line(format!(
                "             TLSA {}: {judged}",
                short_record(&r.record, full)
            ));
        }
    }
    if let (true, Some(ttl)) = (full, report.ttl) {
        line(format!("  TTL        {ttl} seconds"));
    }
    line(format!(
        "with DANE    {}",
        answer_words(&report.answer, mta_sts)
    ));
    out
}

fn mx_words(mx: MxStatus) -> &'static str {
    match mx {
        MxStatus::Secure => "DNSSEC-signed (secure)",
        MxStatus::Insecure => "not DNSSEC-signed (insecure): DANE does not apply",
        MxStatus::Implicit => "none, securely denied: the domain is its own MX host",
        MxStatus::NoMailHost => "null MX or no such domain (secure): no mail host",
    }
}

fn host_words(host: &HostReport) -> String {
    let name = printable(&host.host);
    match (host.addresses, host.tlsa) {
        (AddressStatus::Insecure, _) => {
            format!("{name}: addresses not DNSSEC-signed, no TLSA lookup")
        }
        (_, TlsaStatus::None) => format!("{name}: addresses secure, no TLSA records"),
        (_, _) => format!(
            "{name}: addresses secure, {} TLSA record{}",
            host.records.len(),
            if host.records.len() == 1 { "" } else { "s" }
        ),
    }
}

fn answer_words(answer: &DaneAnswer, mta_sts: LookupResult) -> String {
    match (answer.decides, &answer.reply) {
        (Decides::Dane, Some(reply)) => format!("{reply} (DANE decides, MTA-STS is not consulted)"),
        (Decides::Temp, Some(reply)) => {
            format!(
                "{} (mail is deferred, never sent under MTA-STS alone)",
                printable(reply)
            )
        }
        _ => format!(
            "MTA-STS decides: {}",
            match mta_sts {
                LookupResult::Valid | LookupResult::NotChanged => "the policy above",
                LookupResult::None => "no policy (NOTFOUND)",
                LookupResult::FetchError =>
                    "discovery failed (NOTFOUND, or TEMP with on_failure: temp)",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use smtp_dane::HostDane;

    use super::*;

    fn host(name: &str, answer: HostAnswer) -> HostDane {
        HostDane {
            host: name.to_owned(),
            answer,
        }
    }

    fn usable() -> Tlsa {
        Tlsa::new(3, 1, 1, vec![0xab; 32])
    }

    #[test]
    fn dane_2_verdicts_and_answers() {
        let mx = MxAnswer::Secure(vec!["a.example".into(), "b.example".into()]);
        let table = [
            (
                vec![
                    host("a.example", HostAnswer::Tlsa(vec![usable()])),
                    host("b.example", HostAnswer::Tlsa(vec![usable()])),
                ],
                DaneVerdict::DaneOnly,
                Decides::Dane,
                Some("OK dane-only"),
            ),
            (
                vec![
                    host("a.example", HostAnswer::Tlsa(vec![usable()])),
                    host("b.example", HostAnswer::NoTlsa),
                ],
                DaneVerdict::Dane,
                Decides::Dane,
                Some("OK dane"),
            ),
            (
                vec![
                    host("a.example", HostAnswer::NoTlsa),
                    host("b.example", HostAnswer::InsecureAddress),
                ],
                DaneVerdict::None,
                Decides::MtaSts,
                None,
            ),
        ];
        for (hosts, verdict, decides, reply) in table {
            let state = DaneState::new(mx.clone(), hosts, Duration::from_secs(60));
            let report = DaneReport::new("example.com", &Ok(state));
            assert_eq!(report.verdict, verdict);
            assert_eq!(report.answer.decides, decides);
            // DANE-7: the bare level, without the TLSRPT attributes of MTA-STS answers.
            assert_eq!(report.answer.reply.as_deref(), reply);
            assert_eq!(report.mx, Some(MxStatus::Secure));
        }
    }

    #[test]
    fn dane_3_insecure_mx_is_no_dane() {
        let state = DaneState::new(MxAnswer::Insecure, Vec::new(), Duration::from_secs(60));
        let report = DaneReport::new("example.com", &Ok(state));
        assert_eq!(report.verdict, DaneVerdict::None);
        assert_eq!(report.no_dane, Some(NoDaneReason::InsecureMx));
        let text = render(&report, LookupResult::Valid, false);
        assert!(text.contains("not DNSSEC-signed"), "{text}");
        assert!(text.contains("MTA-STS decides: the policy above"), "{text}");
    }

    #[test]
    fn dane_4_failure_is_temp() {
        let error = DaneError::Timeout {
            domain: "example.com".into(),
            timeout: Duration::from_secs(3),
        };
        let report = DaneReport::new("example.com", &Err(error));
        assert_eq!(report.verdict, DaneVerdict::Unknown);
        assert_eq!(report.answer.decides, Decides::Temp);
        assert_eq!(
            report.error.as_ref().map(|e| e.kind),
            Some(FailureKind::Timeout)
        );
        assert!(
            report
                .answer
                .reply
                .as_deref()
                .is_some_and(|r| r.starts_with("TEMP DANE state of example.com unknown")),
            "{report:?}"
        );
    }

    #[test]
    fn dane_1_unusable_records_say_why() {
        let records = vec![
            usable(),
            Tlsa::new(1, 1, 1, vec![0; 32]),
            Tlsa::new(3, 1, 1, vec![0; 5]),
        ];
        let state = DaneState::new(
            MxAnswer::Secure(vec!["a.example".into()]),
            vec![host("a.example", HostAnswer::Tlsa(records))],
            Duration::from_secs(60),
        );
        let report = DaneReport::new("example.com", &Ok(state));
        let usable: Vec<bool> = report.hosts[0].records.iter().map(|r| r.usable).collect();
        assert_eq!(usable, [true, false, false]);
        let text = render(&report, LookupResult::Valid, false);
        assert!(
            text.contains("TLSA 3 1 1 ABABABABABABABAB…: usable"),
            "{text}"
        );
        assert!(
            text.contains("TLSA 1 1 1 0000000000000000…: certificate usage 1 (PKIX)"),
            "{text}"
        );
        assert!(
            text.contains("TLSA 3 1 1 0000000000: matching type 1 needs 32 bytes"),
            "{text}"
        );
        let full = render(&report, LookupResult::Valid, true);
        assert!(
            full.contains(&format!("TLSA 3 1 1 {}: usable", "AB".repeat(32))),
            "{full}"
        );
        assert!(full.contains("TTL        60 seconds"), "{full}");
    }
}
