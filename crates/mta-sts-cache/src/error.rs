//! Why a cache operation failed.

use std::time::Duration;

use mta_sts_policy::{DomainError, PolicyError};
use mta_sts_txt::SyntaxError;

/// A cache backend failed. The resolver treats it as a miss and goes on with live discovery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The backend could not be reached or answered with an error.
    #[error("cache backend unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// A stored entry cannot be read back.
    #[error("corrupt cache entry: {0}")]
    Corrupt(#[from] Corruption),
    /// The backend did not answer within its deadline.
    #[error("cache backend did not answer within {0:?}")]
    Timeout(Duration),
    /// The store could not be opened (missing directory, permissions, read-only or corrupt file,
    /// wrong schema, bad address).
    #[error("cannot open cache {target}: {source}")]
    Open {
        /// The file or address (passwords removed).
        target: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What is wrong with a stored entry. Stores re-check what they read, so a tampered or foreign
/// store cannot inject an invalid policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// The stored body is not in the store's format (not JSON, wrong JSON type, a missing part).
    #[error("stored entry is not in the expected format: {0}")]
    Format(&'static str),
    /// A JSON field of an unexpected type.
    #[error("stored field {0:?} has an unexpected type")]
    Field(String),
    /// The stored policy does not parse.
    #[error("stored policy is invalid: {0}")]
    Policy(#[from] PolicyError),
    /// The stored TXT id is not a valid id.
    #[error("stored policy id is invalid: {0}")]
    Id(#[from] SyntaxError),
    /// The stored key is not a policy domain.
    #[error("stored domain is invalid: {0}")]
    Domain(#[from] DomainError),
    /// The stored fetch time is negative, not a number, or out of range.
    #[error("stored timestamp {0} is not a valid time")]
    Timestamp(String),
}
