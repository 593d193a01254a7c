//! The MTA-STS policy daemon for Postfix's `smtp_tls_policy_maps` (socketmap).
//!
//! Work in progress (issue #5): this crate so far holds the two pure pieces every answer goes
//! through, both fully tested:
//!
//! - [`normalize_key`]: a Postfix lookup key to a policy domain, or the reason it gets `NOTFOUND`
//!   without any DNS query (PFX-1, APPLY-5..7);
//! - [`answer`]: a discovery outcome to the socketmap reply, in the form Postfix expects (APPLY-1..3,
//!   PFX-2..6, MAP-1..2, SOCK-3, SOCK-5).
//!
//! - [`Config`]: `/etc/mta-sts-daemon.yml` with every key and default of postfix-mta-sts-resolver,
//!   errors that name the file, line and key, and warnings for unknown keys.
//!
//! The socket server and the `mta-sts-daemon` binary come next.
#![forbid(unsafe_code)]

pub use answer::{OnFailure, ZoneRules, answer};
pub use config::{
    CacheSection, CacheType, Config, ConfigError, Dns, OnFailureSetting, Proactive, RootsSetting,
    SocketMode, Tls, Zone,
};
pub use key::{Key, Skip, normalize_key};

mod answer;
mod config;
mod key;
