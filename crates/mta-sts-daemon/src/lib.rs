//! The MTA-STS policy daemon for Postfix's `smtp_tls_policy_maps` (socketmap).
//!
//! The binary `mta-sts-daemon` is a drop-in replacement for postfix-mta-sts-resolver's daemon
//! (docs/migration.md); this library is what it is made of, public so tests and other front ends
//! can reuse it:
//!
//! - [`normalize_key`]: a Postfix lookup key to a policy domain, or the reason it gets `NOTFOUND`
//!   without any DNS query (PFX-1, APPLY-5..7);
//! - [`answer`]: a discovery outcome to the socketmap reply, in the form Postfix expects (APPLY-1..3,
//!   PFX-2..6, MAP-1..2, SOCK-3, SOCK-5);
//! - [`Config`]: `/etc/mta-sts-daemon.yml` with every key and default of postfix-mta-sts-resolver,
//!   errors that name the file, line and key, and warnings for unknown keys;
//! - [`Daemon`] and [`Listener`]: the socketmap server over TCP or a UNIX socket, with the cache the
//!   configuration names (persistent ones behind the in-process tier), per-zone deadlines,
//!   proactive policy fetching and a graceful shutdown.
#![forbid(unsafe_code)]

pub use answer::{OnFailure, ZoneRules, answer};
pub use config::{
    CacheSection, CacheType, Config, ConfigError, Dns, OnFailureSetting, Proactive, RootsSetting,
    SocketMode, Tls, Zone,
};
pub use key::{Key, Skip, normalize_key};
pub use server::{Daemon, Listener, fetch_config, open_cache};

mod answer;
mod config;
mod key;
mod server;
