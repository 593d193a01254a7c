//! Every problem in a policy file at once, for people publishing one: the grammar's findings
//! turned into [`Diagnostic`]s.

use std::fmt;

use crate::grammar::{Sink, walk};
use crate::warning::Warning;
use crate::{Domain, PolicyError, PolicyErrorKind};

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Legal, but likely not what the publisher meant, or fragile with some senders.
    Warning,
    /// Senders must refuse the policy: the domain is unprotected until it is fixed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// One finding of [`lint`]: where, how serious, which rule, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    line: Option<usize>,
    severity: Severity,
    rule: &'static str,
    message: String,
    error: Option<PolicyErrorKind>,
}

impl Diagnostic {
    /// The 1-based line, or `None` for the file as a whole.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The rule (`POL-8`, `A-5`, ..., listed in `docs/rules.md`) behind the finding.
    pub fn rule(&self) -> &'static str {
        self.rule
    }

    /// A sentence for the person who publishes the policy.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For errors, the same kind [`Policy::parse`](crate::Policy::parse) would return.
    pub fn error_kind(&self) -> Option<&PolicyErrorKind> {
        self.error.as_ref()
    }
}

/// `line 3: error [POL-4]: mode must be ...`
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{} [{}]: {}", self.severity, self.rule, self.message)
    }
}

/// The linter's sink: every finding becomes a diagnostic, and the walk never stops.
#[derive(Debug, Default)]
struct LintSink {
    diagnostics: Vec<Diagnostic>,
}

impl Sink for LintSink {
    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError> {
        let error = PolicyError::new(None, kind);
        self.diagnostics.push(Diagnostic {
            line,
            severity: Severity::Error,
            rule: error.rule(),
            message: error.to_string(),
            error: Some(error.kind().clone()),
        });
        Ok(())
    }

    fn warning(&mut self, line: Option<usize>, warning: Warning) {
        self.diagnostics.push(Diagnostic {
            line,
            severity: Severity::Warning,
            rule: warning.rule(),
            message: warning.to_string(),
            error: None,
        });
    }

    fn wants_warnings(&self) -> bool {
        true
    }
}

/// Checks a policy body and returns every error and warning, in the order found.
///
/// Uses the same grammar as [`Policy::parse`](crate::Policy::parse): the policy parses exactly when
/// no diagnostic is an [`Severity::Error`].
///
/// ```
/// use mta_sts_policy::{lint, Severity};
///
/// let found = lint(b"version: STSv1\nmode: Enforce\nmx: mail.example.com\n\nmax_age: 3600\n");
/// let summary: Vec<_> = found.iter().map(|d| (d.line(), d.severity(), d.rule())).collect();
/// assert_eq!(summary, [
///     (Some(2), Severity::Error, "POL-4"),
///     (Some(4), Severity::Warning, "A-5"),
///     (Some(5), Severity::Warning, "POL-5"),
///     (None, Severity::Warning, "POL-6"),
/// ]);
/// ```
pub fn lint(body: &[u8]) -> Vec<Diagnostic> {
    run(body, None)
}

/// Like [`lint`], and also warns about patterns too wide for `policy_domain` (`*.<policy domain>`).
pub fn lint_for_domain(body: &[u8], policy_domain: &Domain) -> Vec<Diagnostic> {
    run(body, Some(policy_domain.as_str()))
}

fn run(body: &[u8], policy_domain: Option<&str>) -> Vec<Diagnostic> {
    let mut sink = LintSink::default();
    // LintSink never stops the walk, so this is always Ok.
    let _ = walk(body, policy_domain, &mut sink);
    sink.diagnostics
}
