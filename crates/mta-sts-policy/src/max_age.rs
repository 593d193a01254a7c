use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{PolicyError, PolicyErrorKind};

/// A policy lifetime in seconds, at most [`MaxAge::MAX`] (RFC 8461 §3.2: "maximum value of 31557600").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxAge(u32);

impl MaxAge {
    /// The largest lifetime RFC 8461 allows: 31557600 seconds, one Julian year.
    pub const MAX: Self = Self(31_557_600);

    /// A lifetime of `secs` seconds; `None` above [`MaxAge::MAX`].
    pub fn new(secs: u32) -> Option<Self> {
        (secs <= Self::MAX.0).then_some(Self(secs))
    }

    /// The lifetime in seconds.
    pub fn as_secs(self) -> u32 {
        self.0
    }

    /// The lifetime as a [`Duration`].
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }

    /// Reads `1*10(DIGIT)`, clamping values above the maximum (ambiguity A-3).
    ///
    /// Returns the value and whether it was clamped. Leading zeros are allowed by the ABNF.
    pub(crate) fn parse_value(value: &str) -> Result<(Self, bool), PolicyErrorKind> {
        let digits_only = value.bytes().all(|b| b.is_ascii_digit());
        if value.is_empty() || value.len() > 10 || !digits_only {
            return Err(PolicyErrorKind::InvalidMaxAge(value.to_owned()));
        }
        // Ten digits fit in a u64.
        let secs: u64 = value.parse().unwrap_or(u64::MAX);
        match u32::try_from(secs).ok().and_then(Self::new) {
            Some(age) => Ok((age, false)),
            None => Ok((Self::MAX, true)),
        }
    }
}

/// Strict: `1*10(DIGIT)` and not above the maximum (a policy file is clamped instead ).
impl FromStr for MaxAge {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Self::parse_value(s) {
            Ok((age, false)) => Ok(age),
            Ok((_, true)) => Err(PolicyError::new(
                None,
                PolicyErrorKind::MaxAgeTooLarge(s.to_owned()),
            )),
            Err(kind) => Err(PolicyError::new(None, kind)),
        }
    }
}

impl fmt::Display for MaxAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pol_5_max_age_values() {
        let table: &[(&str, Option<(u32, bool)>)] = &[
            ("0", Some((0, false))),
            ("31557600", Some((31_557_600, false))),
            ("0000604800", Some((604_800, false))),
            ("31557601", Some((31_557_600, true))),
            ("9999999999", Some((31_557_600, true))),
            ("12345678901", None),
            ("-1", None),
            ("1e6", None),
            ("+5", None),
            ("", None),
            (" 5", None),
        ];
        for (input, expected) in table {
            let got = MaxAge::parse_value(input)
                .ok()
                .map(|(a, c)| (a.as_secs(), c));
            assert_eq!(got, *expected, "{input:?}");
        }
        assert!("31557601".parse::<MaxAge>().is_err());
        assert_eq!(
            MaxAge::new(86_400).unwrap().as_duration(),
            Duration::from_secs(86_400)
        );
    }
}
