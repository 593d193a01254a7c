//! The `version` field (RFC 8461 §3.2).

use std::fmt;

use crate::PolicyErrorKind;

/// The policy format version. RFC 8461 defines only `STSv1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Version {
    /// `STSv1`.
    #[default]
    StsV1,
}

impl Version {
    /// The value as written in a policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StsV1 => "STSv1",
        }
    }

    /// Reads `sts-policy-version-value = %s"STSv1"`: case-sensitive, nothing else (POL-3).
    pub(crate) fn from_value(value: &str) -> Result<Self, PolicyErrorKind> {
        if value == Self::StsV1.as_str() {
            Ok(Self::StsV1)
        } else {
            Err(PolicyErrorKind::InvalidVersion(value.into()))
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pol_3_only_stsv1() {
        let table: &[(&str, Option<Version>)] = &[
            ("STSv1", Some(Version::StsV1)),
            ("stsv1", None),
            ("STSv2", None),
            ("STSv1 ", None),
            ("", None),
        ];
        for (value, expected) in table {
            assert_eq!(Version::from_value(value).ok(), *expected, "{value:?}");
        }
    }
}
