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
//!   typed, with errors that name the file, line, column and key, and warnings for unknown keys;
//!   [`CacheConfig`] opens the cache it names;
//! - [`Daemon`] and [`Listener`]: the socketmap server over TCP or a UNIX socket, with the cache the
//!   configuration names (persistent ones behind the in-process tier), per-zone deadlines,
//!   proactive policy fetching and a graceful shutdown;
//! - the control socket (`control.socket`): [`Daemon::serve_control`] and the cache
//!   administration it offers ([`Daemon::admin_show`], …), the client in [`ctl`], and the offline
//!   [`export`] and [`import`] of persistent stores;
//! - [`Metrics`] and [`Endpoint`]: what the daemon counts, served as Prometheus text on
//!   `GET /metrics` with `GET /healthz` beside it (`metrics.listen`);
//! - [`exit_status`]: which failures are configuration errors (78) and which are not (1).
#![forbid(unsafe_code)]

pub use answer::{OnFailure, ZoneRules, answer, dane_answer};
pub use cache::{
    CacheConfig, InternalOptions, PostgresOptions, RedisOptions, SentinelAddress, SentinelOptions,
    SharedCache, SqliteOptions,
};
pub use config::{
    Config, ConfigError, Control, DaneZone, Dns, InvalidValue, LogLevel, MetricsConfig, Proactive,
    RootsSetting, SocketMode, Tls, Zone,
};
pub use control::{
    ControlRequest, ControlSocket, DaneReport, DomainReport, EntryReport, FailureReport,
    MAX_DOMAINS, MAX_REQUEST, PROTOCOL_VERSION, PurgeReport, RefreshReport, StatsReport,
    request_line,
};
pub use endpoint::{Endpoint, MetricsListener};
pub use key::{Key, Skip, normalize_key};
pub use listener::Listener;
pub use metrics::{Metrics, ZoneMetrics};
pub use migrate::{ImportReport, export, import};
pub use server::{Daemon, DaemonClock, Reload, fetch_config};

pub mod account;
mod answer;
mod answer_log;
mod cache;
mod config;
mod control;
pub mod ctl;
mod endpoint;
mod key;
mod listener;
mod metrics;
mod migrate;
mod server;

/// `sysexits.h`'s `EX_CONFIG`: the configuration cannot be used.
pub const EX_CONFIG: u8 = 78;

/// The exit status for a failure of the daemon: [`EX_CONFIG`] (78) when the configuration cannot
/// be used (the file is unreadable or invalid, or names a CA file, cache store, user or group that
/// cannot be used), 1 for anything else (the socket cannot be bound, the runtime fails).
pub fn exit_status(error: &anyhow::Error) -> u8 {
    let configuration = error.chain().any(|cause| {
        cause.is::<ConfigError>()
            || cause.is::<mta_sts_fetch::ConfigError>()
            || cause.is::<account::AccountError>()
            || matches!(
                cause.downcast_ref::<mta_sts_cache::CacheError>(),
                Some(mta_sts_cache::CacheError::Open { .. })
            )
    });
    if configuration { EX_CONFIG } else { 1 }
}
