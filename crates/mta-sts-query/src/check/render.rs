//! The human-readable report: one block per step, one line per finding, a summary line.

use std::fmt;

use super::{CheckReport, Verdict};
use crate::printable;

/// The report as text, with verdict words coloured or not ([`CheckReport::text`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a> {
    report: &'a CheckReport,
    colour: bool,
}

impl CheckReport {
    /// The report as text; verdict words are coloured when `colour` is set (a terminal).
    pub(crate) fn text(&self, colour: bool) -> Text<'_> {
        Text {
            report: self,
            colour,
        }
    }
}

/// Plain text, as written to a file or a pipe.
impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.text(false).fmt(f)
    }
}

impl Text<'_> {
    fn paint(&self, verdict: Verdict, text: &str) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match verdict {
            Verdict::Ok => "32",
            Verdict::Warning => "33",
            Verdict::Error => "1;31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        writeln!(f, "mta-sts-query check {}", printable(&report.domain))?;
        let total = report.steps.len();
        for (n, step) in report.steps.iter().enumerate() {
            writeln!(f)?;
            writeln!(f, "[{}/{total}] {}", n + 1, printable(&step.title))?;
            for finding in &step.findings {
                let word = self.paint(finding.verdict, &format!("{:<8}", finding.verdict.as_str()));
                let id = finding.id.unwrap_or("");
                writeln!(f, "  {word} {id:<9} {}", printable(&finding.message))?;
                if let Some(fix) = &finding.fix {
                    writeln!(f, "  {:<8} {:<9} fix: {}", "", "", printable(fix))?;
                }
            }
        }
        let s = &report.summary;
        writeln!(f)?;
        writeln!(
            f,
            "summary  {}: {} ok, {} warning{}, {} error{}: {}",
            self.paint(report.verdict, report.verdict.as_str()),
            s.ok,
            s.warnings,
            if s.warnings == 1 { "" } else { "s" },
            s.errors,
            if s.errors == 1 { "" } else { "s" },
            report.verdict.meaning(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Finding, Step, Summary};
    use super::*;

    fn report() -> CheckReport {
        let findings = vec![
            Finding::ok("TXT-9", "exactly one v=STSv1 record"),
            Finding::warning("RPT-1", "no TXT record").fix("publish one"),
        ];
        CheckReport {
            schema_version: 1,
            domain: "example.com".to_owned(),
            checked_at: 0,
            verdict: Verdict::Warning,
            summary: Summary {
                ok: 1,
                warnings: 1,
                errors: 0,
            },
            sts_id: None,
            policy_body: None,
            policy: None,
            mx_hosts: Vec::new(),
            dane: None,
            steps: vec![Step::new("sts-txt", "TXT".to_owned(), findings)],
        }
    }

    #[test]
    fn control_characters_from_the_network_are_escaped() {
        let mut hostile = report();
        hostile.steps[0].findings[0].message = "id \x1b[2Jx\r\nforged".to_owned();
        let text = hostile.to_string();
        assert!(text.contains("id \\u{1b}[2Jx\\r\\nforged"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
    }

    #[test]
    fn plain_and_coloured() {
        let plain = report().to_string();
        assert_eq!(
            plain,
            "mta-sts-query check example.com\n\n[1/1] TXT\n  ok       TXT-9     exactly one v=STSv1 record\n  warning  RPT-1     no TXT record\n                     fix: publish one\n\nsummary  warning: 1 ok, 1 warning, 0 errors: warnings only\n"
        );
        let coloured = report().text(true).to_string();
        assert!(
            coloured.contains("\x1b[33mwarning \x1b[0m RPT-1"),
            "{coloured}"
        );
        assert!(
            coloured.contains("\x1b[32mok      \x1b[0m TXT-9"),
            "{coloured}"
        );
    }
}
