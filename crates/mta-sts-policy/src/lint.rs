//! Every problem in a policy file at once, for people publishing one.

use std::fmt;

use crate::parse::{Sink, analyze};
use crate::{PolicyError, PolicyErrorKind};

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

/// One finding of [`lint`]: where, how serious, which checklist rule, and what to do.
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

    /// The checklist rule (`POL-8`, `A-5`, ...) behind the finding.
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

/// Findings that do not make a policy invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Warning {
    BlankLine,
    Duplicate {
        name: String,
        first: usize,
        invalid: Option<PolicyErrorKind>,
    },
    DuplicateMx(String),
    LfLineEnds,
    MixedLineEnds {
        lf: usize,
        crlf: usize,
    },
    MaxAgeClamped,
    MaxAgeZero,
    MaxAgeShort(u32),
    MxTrailingDot,
    MxInModeNone,
    KeyCase {
        found: String,
        known: &'static str,
    },
    WildcardTld(String),
    WildcardDomain(String),
}

impl Warning {
    fn rule(&self) -> &'static str {
        match self {
            Self::BlankLine => "A-5",
            Self::Duplicate { .. } => "POL-8",
            Self::DuplicateMx(_) => "POL-9",
            Self::LfLineEnds | Self::MixedLineEnds { .. } => "POL-6",
            Self::MaxAgeClamped => "A-3",
            Self::MaxAgeZero => "A-15",
            Self::MaxAgeShort(_) => "POL-5",
            Self::MxTrailingDot => "A-9",
            Self::MxInModeNone => "POL-2",
            Self::KeyCase { .. } => "POL-2",
            Self::WildcardTld(_) | Self::WildcardDomain(_) => "SEC-5",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BlankLine => f.write_str(
                "blank line: RFC 8461's grammar has no empty lines; most senders skip them but strict ones may refuse the policy",
            ),
            Self::Duplicate { name, first, invalid } => {
                write!(
                    f,
                    "duplicate \"{name}\": only the first (line {first}) counts, this one is ignored"
                )?;
                match invalid {
                    Some(why) => write!(f, "; its value would not be valid anyway: {why}"),
                    None => Ok(()),
                }
            }
            Self::DuplicateMx(p) => write!(f, "mx pattern {p:?} is listed more than once"),
            Self::LfLineEnds => f.write_str(
                "lines end in LF only: RFC 8461's grammar allows it, but its prose says CRLF-separated",
            ),
            Self::MixedLineEnds { lf, crlf } => write!(
                f,
                "mixed line ends ({lf} LF, {crlf} CRLF): pick one, preferably CRLF"
            ),
            Self::MaxAgeClamped => f.write_str(
                "max_age is above the maximum 31557600 (one year); senders use 31557600",
            ),
            Self::MaxAgeZero => f.write_str(
                "max_age is 0: senders cannot cache the policy, so it protects almost nothing",
            ),
            Self::MaxAgeShort(secs) => write!(
                f,
                "max_age {secs} is under one day; RFC 8461 §10.2 advises weeks or longer (e.g. 604800 or more)"
            ),
            Self::MxTrailingDot => f.write_str(
                "trailing dot in an mx pattern: not RFC 5321 syntax; accepted here and ignored, other senders may refuse it",
            ),
            Self::MxInModeNone => f.write_str("mode is none: the mx lines have no effect"),
            Self::KeyCase { found, known } => write!(
                f,
                "key {found:?} is not {known:?}: keys are case-sensitive, so this line is an unknown extension and ignored"
            ),
            Self::WildcardTld(p) => write!(
                f,
                "{p} matches any host directly under a top-level domain: list your own MX names"
            ),
            Self::WildcardDomain(p) => write!(
                f,
                "{p} matches every host in the domain, so anyone who controls one of them can receive its mail (RFC 8461 §10.4)"
            ),
        }
    }
}

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
pub fn lint_for_domain(body: &[u8], policy_domain: &str) -> Vec<Diagnostic> {
    run(body, Some(policy_domain))
}

fn run(body: &[u8], policy_domain: Option<&str>) -> Vec<Diagnostic> {
    let mut sink = LintSink::default();
    // LintSink never stops the analysis, so this is always Ok.
    let _ = analyze(body, policy_domain, &mut sink);
    sink.diagnostics
}
