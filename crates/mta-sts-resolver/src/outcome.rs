use std::fmt;
use std::sync::Arc;

use mta_sts_cache::CachedPolicy;
use mta_sts_policy::{Mode, PolicyError};
use mta_sts_txt::SelectError;

/// The TLSRPT result types for policy discovery failures (RFC 8460 §4.3.2.2, RPT-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultType {
    /// `sts-policy-fetch-error`: the policy could not be retrieved (DNS, connection, HTTP status, ...).
    StsPolicyFetchError,
    /// `sts-policy-invalid`: the policy was retrieved but is not a valid policy.
    StsPolicyInvalid,
    /// `sts-webpki-invalid`: the policy host's certificate failed PKIX validation.
    StsWebpkiInvalid,
}

impl ResultType {
    /// The registered name, as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StsPolicyFetchError => "sts-policy-fetch-error",
            Self::StsPolicyInvalid => "sts-policy-invalid",
            Self::StsWebpkiInvalid => "sts-webpki-invalid",
        }
    }
}

impl fmt::Display for ResultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which step of discovery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The `_mta-sts` TXT lookup (SERVFAIL, timeout, ...).
    Dns,
    /// The HTTPS fetch of the policy file.
    Https,
    /// The fetched body is not a valid policy.
    Policy,
    /// The caller's deadline for the whole discovery passed first.
    Deadline,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "dns",
            Self::Https => "https",
            Self::Policy => "policy",
            Self::Deadline => "deadline",
        })
    }
}

/// A failed discovery step: where, its TLSRPT result type, and the underlying error.
#[derive(Debug, Clone)]
pub struct Failure {
    stage: Stage,
    result_type: ResultType,
    error: Arc<dyn std::error::Error + Send + Sync>,
}

impl Failure {
    /// A failure of `stage`, reported as `result_type`, caused by `error`.
    pub fn new(
        stage: Stage,
        result_type: ResultType,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            stage,
            result_type,
            error: Arc::new(error),
        }
    }

    pub(crate) fn invalid_policy(error: PolicyError) -> Self {
        Self::new(Stage::Policy, ResultType::StsPolicyInvalid, error)
    }

    /// The step that failed.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The TLSRPT result type to report.
    pub fn result_type(&self) -> ResultType {
        self.result_type
    }

    /// The underlying error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

/// `https: tls: certificate expired (sts-webpki-invalid)`; the stage is left out when the error
/// already begins with it (`dns: _mta-sts.example.com: no answer within 4.0 s`).
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.error.to_string();
        let stage = self.stage.to_string();
        let repeated = error
            .strip_prefix(stage.as_str())
            .is_some_and(|rest| rest.starts_with(": "));
        if repeated {
            write!(f, "{error} ({})", self.result_type)
        } else {
            write!(f, "{stage}: {error} ({})", self.result_type)
        }
    }
}

/// Why a domain has no MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoPolicy {
    /// No usable `_mta-sts` TXT record: NXDOMAIN, NODATA, no `v=STSv1` record, several, or a
    /// syntactically invalid one (RFC 8461 §3.1, TXT-9).
    NoRecord(NoRecord),
    /// A recent lookup found no record; the answer is remembered briefly.
    Remembered,
    /// The cached policy expired while it was being checked, and nothing newer was found.
    Expired,
}

/// Details of a missing or unusable TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoRecord {
    /// `_mta-sts.<domain>` does not exist (NXDOMAIN).
    NoSuchName,
    /// `_mta-sts.<domain>` exists but has no TXT records (NODATA).
    NoTxtRecords,
    /// TXT records exist but none, several, or an invalid one begin with `v=STSv1`.
    Unusable(SelectError),
}

impl fmt::Display for NoPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRecord(NoRecord::NoSuchName) => {
                f.write_str("no _mta-sts TXT record (the name does not exist)")
            }
            Self::NoRecord(NoRecord::NoTxtRecords) => {
                f.write_str("no _mta-sts TXT record (the name has no TXT records)")
            }
            Self::NoRecord(NoRecord::Unusable(e)) => write!(f, "unusable _mta-sts TXT record: {e}"),
            Self::Remembered => f.write_str("no _mta-sts TXT record (remembered)"),
            Self::Expired => f.write_str("the cached policy expired"),
        }
    }
}

/// Why a cached policy was used without fetching.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheReason {
    /// The domain was checked less than the grace period ago; no DNS query was made.
    Grace,
    /// The TXT id matches the cached policy's: nothing changed, no HTTPS request (FETCH-11).
    IdUnchanged,
    /// The TXT record is missing or unusable, which alone does not remove a cached policy (TXT-12).
    RecordUnavailable(NoPolicy),
    /// Live discovery failed; the unexpired cached policy applies (CACHE-3).
    DiscoveryFailed(Failure),
}

/// The result of looking up a domain's policy.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use = "an outcome says which policy applies"]
pub enum Outcome {
    /// A policy was fetched over HTTPS just now and cached.
    Fetched(Arc<CachedPolicy>),
    /// A cached, unexpired policy applies.
    Cached {
        /// The policy.
        policy: Arc<CachedPolicy>,
        /// Why no fetch was made, or why the cache was used despite one.
        reason: CacheReason,
    },
    /// The domain has no policy: deliver as without MTA-STS.
    NoPolicy(NoPolicy),
    /// Discovery failed and no valid policy is cached: RFC 8461 §3.3 says to deliver as if the
    /// domain had no policy (FETCH-10); the daemon decides what to answer.
    Failure(Failure),
}

impl Outcome {
    /// The policy to apply, if any (its mode may be `none`).
    pub fn policy(&self) -> Option<&Arc<CachedPolicy>> {
        match self {
            Self::Fetched(policy) | Self::Cached { policy, .. } => Some(policy),
            Self::NoPolicy(_) | Self::Failure(_) => None,
        }
    }

    /// The failure behind this outcome, if discovery failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failure(f)
            | Self::Cached {
                reason: CacheReason::DiscoveryFailed(f),
                ..
            } => Some(f),
            _ => None,
        }
    }

    /// Whether administrators should be alerted: a check of a cached policy failed and the policy
    /// is not `mode: none` (RFC 8461 §3.3, CACHE-5).
    pub fn should_alert(&self) -> bool {
        matches!(
            self,
            Self::Cached { policy, reason: CacheReason::DiscoveryFailed(_) }
                if policy.policy().mode() != Mode::None
        )
    }
}

/// Why a cached policy was used, in words.
impl fmt::Display for CacheReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Grace => f.write_str("checked recently"),
            Self::IdUnchanged => f.write_str("TXT id unchanged"),
            Self::RecordUnavailable(no_policy) => write!(f, "kept although {no_policy}"),
            Self::DiscoveryFailed(failure) => {
                write!(f, "kept although discovery failed: {failure}")
            }
        }
    }
}

/// `policy fetched (id 20240101, mode enforce)`, `no policy: no _mta-sts TXT record (…)`, …
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fetched(p) => write!(
                f,
                "policy fetched (id {}, mode {})",
                p.id(),
                p.policy().mode()
            ),
            Self::Cached { policy, reason } => write!(
                f,
                "cached policy (id {}, mode {}; {reason})",
                policy.id(),
                policy.policy().mode()
            ),
            Self::NoPolicy(no_policy) => write!(f, "no policy: {no_policy}"),
            Self::Failure(failure) => write!(f, "discovery failed: {failure}"),
        }
    }
}
