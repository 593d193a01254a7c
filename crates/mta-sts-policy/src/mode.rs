use std::fmt;
use std::str::FromStr;

use crate::{PolicyError, PolicyErrorKind};

/// What a sending MTA does with a policy (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Deliver only to MX hosts that match the policy and present a valid certificate.
    Enforce,
    /// Report failures (TLSRPT) but deliver anyway.
    Testing,
    /// Treat the domain as having no active policy; used to retire a policy (RFC 8461 §8.3).
    None,
}

impl Mode {
    /// The value as written in a policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Testing => "testing",
            Self::None => "none",
        }
    }

    /// Whether the policy needs at least one `mx` line (every mode but `none`).
    pub fn requires_mx(self) -> bool {
        self != Self::None
    }

    /// Reads `sts-policy-mode-value = %s"testing" / %s"enforce" / %s"none"` (POL-4).
    pub(crate) fn from_value(value: &str) -> Result<Self, PolicyErrorKind> {
        match value {
            "enforce" => Ok(Self::Enforce),
            "testing" => Ok(Self::Testing),
            "none" => Ok(Self::None),
            _ => Err(PolicyErrorKind::InvalidMode(value.to_owned())),
        }
    }
}

/// Case-sensitive, as `%s"enforce"` in the ABNF requires (POL-4).
impl FromStr for Mode {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_value(s).map_err(|kind| PolicyError::new(None, kind))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pol_4_mode_values_case_sensitive() {
        for mode in [Mode::Enforce, Mode::Testing, Mode::None] {
            assert_eq!(mode.as_str().parse::<Mode>().unwrap(), mode);
        }
        for bad in ["Enforce", "report", "", "enforce "] {
            assert!(bad.parse::<Mode>().is_err(), "{bad:?}");
        }
    }
}
