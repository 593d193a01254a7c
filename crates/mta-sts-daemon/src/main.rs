//! `mta-sts-daemon`: see `mta-sts-daemon --help`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use mta_sts_daemon::{Config, Daemon, EX_CONFIG, Listener, account, exit_status, fetch_config};

/// MTA-STS policy server for Postfix's smtp_tls_policy_maps (socketmap), compatible with
/// postfix-mta-sts-resolver's configuration and cache.
#[derive(Debug, Parser)]
#[command(
    name = "mta-sts-daemon",
    version,
    after_help = "Postfix (main.cf):\n  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n\nCheck it answers:\n  postmap -q example.com socketmap:inet:127.0.0.1:8461:postfix\n\nEXIT STATUS:\n  0   clean shutdown (SIGTERM, SIGINT)\n  2   invalid command line\n  78  the configuration cannot be used: the file is unreadable or invalid, or names a\n      CA file, cache store, user or group that cannot be used\n  1   any other failure (the socket cannot be bound, the runtime fails)"
)]
struct Args {
    /// How much to log.
    #[arg(short, long, value_enum, default_value = "info")]
    verbosity: Verbosity,
    /// The configuration file (YAML, postfix-mta-sts-resolver's format) [default:
    /// /etc/mta-sts-daemon.yml, or the built-in defaults (127.0.0.1:8461, in-memory cache) when
    /// that file does not exist]
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log to this file instead of standard error.
    #[arg(short, long)]
    logfile: Option<PathBuf>,
    /// Write the process id to this file.
    #[arg(short, long)]
    pidfile: Option<PathBuf>,
    /// Accepted for compatibility with postfix-mta-sts-resolver; has no effect.
    #[arg(long)]
    disable_uvloop: bool,
    /// Run as this user once the socket is bound (start as root to bind a socket in Postfix's chroot).
    #[arg(short, long)]
    user: Option<String>,
    /// Run as this group once the socket is bound (default: the user's primary group).
    #[arg(short, long)]
    group: Option<String>,
    /// Listen on this TCP port (on the configured host) instead of the configured port or UNIX
    /// socket, without SO_REUSEPORT: for a trial run beside a live daemon, e.g.
    /// `postmap -q example.com socketmap:inet:127.0.0.1:8462:postfix` (our addition).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
}

/// The configuration file postfix-mta-sts-resolver reads too.
const DEFAULT_CONFIG: &str = "/etc/mta-sts-daemon.yml";

/// Where the configuration comes from.
#[derive(Debug, PartialEq)]
enum ConfigSource {
    /// A file, which must exist and be valid.
    File(PathBuf),
    /// The built-in defaults: no `-c`, and no file at the default path.
    BuiltIn,
}

/// Only the default path may be missing: a file named with `-c` must exist, and a default file
/// that exists but cannot be read is an error, not a reason to run on other settings.
fn config_source(explicit: Option<PathBuf>, default: &Path) -> ConfigSource {
    match explicit {
        Some(path) => ConfigSource::File(path),
        None => match std::fs::symlink_metadata(default) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigSource::BuiltIn,
            _ => ConfigSource::File(default.to_path_buf()),
        },
    }
}

/// What `run` needs from the command line.
struct RunArgs {
    pidfile: Option<PathBuf>,
    user: Option<String>,
    group: Option<String>,
    port: Option<u16>,
}

/// The log file, reopened on SIGHUP so logrotate can move it away.
struct LogFile {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
}

impl LogFile {
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn reopen(&self) -> std::io::Result<()> {
        let fresh = Self::open(&self.path)?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

/// A handle tracing writes one event through.
struct LogWriter(Arc<LogFile>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush()
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Verbosity {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let level = match args.verbosity {
        Verbosity::Debug => tracing::Level::DEBUG,
        Verbosity::Info => tracing::Level::INFO,
        Verbosity::Warn => tracing::Level::WARN,
        Verbosity::Error | Verbosity::Fatal => tracing::Level::ERROR,
    };
    let subscriber = tracing_subscriber::fmt().with_env_filter(log_filter(level));
    let mut log_file = None;
    let logged = match &args.logfile {
        Some(path) => match LogFile::open(path) {
            Ok(file) => {
                let log = Arc::new(LogFile {
                    path: path.clone(),
                    file: std::sync::Mutex::new(file),
                });
                log_file = Some(Arc::clone(&log));
                subscriber
                    .with_writer(move || LogWriter(Arc::clone(&log)))
                    .with_ansi(false)
                    .try_init()
            }
            Err(e) => {
                eprintln!(
                    "mta-sts-daemon: cannot open log file {}: {e}",
                    path.display()
                );
                return ExitCode::from(1);
            }
        },
        None => {
            // Colours only for people; journald and log files get plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            subscriber
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .try_init()
        }
    };
    let _ = logged;
    // Fatal errors go to the log; when that is a file, also to standard error for whoever started
    // the daemon. Never twice to the same place.
    let to_file = log_file.is_some();
    let fatal = |message: &str| {
        tracing::error!("{message}");
        if to_file {
            eprintln!("mta-sts-daemon: {message}");
        }
    };
    let source = config_source(args.config.clone(), Path::new(DEFAULT_CONFIG));
    let config_path = match &source {
        ConfigSource::File(path) => path.clone(),
        ConfigSource::BuiltIn => PathBuf::from(DEFAULT_CONFIG),
    };
    let loaded = match &source {
        ConfigSource::File(path) => Config::load(path),
        ConfigSource::BuiltIn => {
            tracing::warn!(
                "{DEFAULT_CONFIG} does not exist: running on the built-in defaults \
                 (127.0.0.1:8461, in-memory cache, nothing kept across restarts); name a file with -c"
            );
            Ok((Config::default(), Vec::new()))
        }
    };
    let (config, warnings) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            fatal(&e.to_string());
            if !e.snippet().is_empty() {
                eprintln!("{}", e.snippet().trim_end());
            }
            return ExitCode::from(EX_CONFIG);
        }
    };
    for warning in warnings {
        tracing::warn!("{}: {warning}", config_path.display());
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            fatal(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let run_args = RunArgs {
        pidfile: args.pidfile,
        user: args.user,
        group: args.group,
        port: args.port,
    };
    match runtime.block_on(run(config, run_args, log_file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&format!("{e:#}"));
            ExitCode::from(exit_status(&e))
        }
    }
}

/// The runtime: a worker thread for every two cores (at least one), or `TOKIO_WORKER_THREADS`.
///
/// A warm lookup is a few microseconds of CPU, and the daemon shares the machine with the Postfix
/// processes asking it: with as many workers as cores, a worker holding ready connections is
/// preempted by the clients for a scheduler slice (milliseconds), which the slowest answers waited
/// for: on 2 cores, one worker took p99 at 100 connections from 4.5 ms to 2 ms (docs/benchmarks.md,
/// #13). Half the cores leave the clients room.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}

/// What is logged: our events at `level`, the libraries' own (DNS, TLS, HTTP, database clients)
/// only from warnings up, so `-v debug` shows the daemon's decisions rather than every DNS packet.
/// `RUST_LOG`, when set, replaces this (e.g. `RUST_LOG=debug,hickory_proto=debug`).
fn log_filter(level: tracing::Level) -> tracing_subscriber::EnvFilter {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        return filter;
    }
    let mut filter = tracing_subscriber::EnvFilter::new(level.as_str());
    for noisy in [
        "hickory_proto",
        "hickory_resolver",
        "hickory_net",
        "rustls",
        "hyper",
        "hyper_util",
        "h2",
        "tokio_postgres",
        "redis",
        "deadpool",
    ] {
        if let Ok(directive) = format!("{noisy}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Who to become after binding: looked up before anything is bound, so a typo stops the start.
struct Identity {
    user: Option<nix::unistd::User>,
    gid: Option<nix::unistd::Gid>,
}

impl Identity {
    fn resolve(user: Option<&str>, group: Option<&str>) -> anyhow::Result<Self> {
        let user = user.map(account::user).transpose()?;
        let gid = match (group, &user) {
            (Some(name), _) => Some(account::group(name)?.gid),
            (None, Some(user)) => Some(user.gid),
            (None, None) => None,
        };
        Ok(Self { user, gid })
    }

    /// Drops root privileges for good: supplementary groups, then group, then user.
    fn assume(&self) -> anyhow::Result<()> {
        use nix::unistd::{setgid, setgroups, setuid};
        if let Some(gid) = self.gid {
            setgroups(&[gid]).context("cannot drop supplementary groups (are we root?)")?;
            setgid(gid).context("cannot change group")?;
        }
        if let Some(user) = &self.user {
            setuid(user.uid).context("cannot change user")?;
            tracing::info!(user = %user.name, uid = user.uid.as_raw(), "running unprivileged");
        }
        Ok(())
    }

    /// "as user mta-sts (uid 999)", for messages about what that user may not do.
    fn describe(&self) -> String {
        match &self.user {
            Some(user) => format!("as user {} (uid {})", user.name, user.uid),
            None => {
                let uid = nix::unistd::geteuid();
                let name = nix::unistd::User::from_uid(uid)
                    .ok()
                    .flatten()
                    .map_or_else(|| uid.to_string(), |u| u.name);
                format!("as user {name} (uid {uid})")
            }
        }
    }
}

/// The pid file: written before privileges are dropped (it usually lives in a root-owned
/// directory), given to the user the daemon runs as, and removed at exit, which needs write access
/// to its directory: said at start when that will not work.
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: PathBuf, identity: &Identity) -> anyhow::Result<Self> {
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        if let Some(user) = &identity.user {
            let _ = std::os::unix::fs::chown(&path, Some(user.uid.as_raw()), None);
            let directory = path.parent().unwrap_or(Path::new("/"));
            if !writable_by(
                directory,
                user.uid.as_raw(),
                identity.gid.map(|g| g.as_raw()),
            ) {
                tracing::warn!(
                    pidfile = %path.display(),
                    "the pid file cannot be removed at exit: its directory {} is not writable by user {} (use a directory that user owns, e.g. /run/mta-sts)",
                    directory.display(),
                    user.name
                );
            }
        }
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            tracing::warn!(pidfile = %self.0.display(), error = %e, "cannot remove the pid file");
        }
    }
}

/// Whether `uid` (with primary group `gid`) may create and remove files in `directory`.
fn writable_by(directory: &Path, uid: u32, gid: Option<u32>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(directory) else {
        return false;
    };
    let mode = meta.mode();
    uid == 0
        || (meta.uid() == uid && mode & 0o300 == 0o300)
        || (gid == Some(meta.gid()) && mode & 0o030 == 0o030)
        || mode & 0o003 == 0o003
}

/// The signals the daemon handles.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn catch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot catch SIGHUP")?,
        })
    }
}

/// Reopens the log file on each SIGHUP (logrotate moves it away first).
async fn reopen_on_hangup(mut hup: tokio::signal::unix::Signal, log: Option<Arc<LogFile>>) {
    while hup.recv().await.is_some() {
        match &log {
            Some(log) => match log.reopen() {
                Ok(()) => tracing::info!("log file reopened"),
                Err(e) => eprintln!("mta-sts-daemon: cannot reopen {}: {e}", log.path.display()),
            },
            None => tracing::info!("SIGHUP: logging to standard error, nothing to reopen"),
        }
    }
}

async fn run(
    mut config: Config,
    args: RunArgs,
    log_file: Option<Arc<LogFile>>,
) -> anyhow::Result<()> {
    // Signals are caught from the start: their default actions end the process, and a SIGHUP
    // (logrotate, `systemctl reload`) or SIGTERM may come while the daemon is still starting.
    let signals = Signals::catch()?;
    let identity = Identity::resolve(args.user.as_deref(), args.group.as_deref())?;
    if let Some(port) = args.port {
        // A trial run beside the live daemon: TCP on another port, whatever the file says.
        config.path = None;
        config.port = port;
        config.reuse_port = false;
    }
    let runs_as = identity.user.as_ref().map(|u| u.uid);
    let listener = Listener::bind_for(&config, runs_as).await?;
    let pidfile = args
        .pidfile
        .map(|path| PidFile::write(path, &identity))
        .transpose()?;
    identity.assume()?;
    // The cache is opened as the final user, so the files it creates belong to it.
    let daemon = Daemon::new(config.clone(), &fetch_config(&config))
        .with_context(|| format!("running {}", identity.describe()))?;
    let status = match (listener.local_addr(), listener.path()) {
        (Some(addr), _) => {
            tracing::info!(%addr, cache = config.cache.kind(), "listening");
            format!("listening on {addr}")
        }
        (None, path) => {
            let path = path.unwrap_or(Path::new("?"));
            tracing::info!(path = %path.display(), cache = config.cache.kind(), "listening");
            format!("listening on {}", path.display())
        }
    };
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    tokio::spawn(reopen_on_hangup(signals.hup, log_file));
    let (mut term, mut int) = (signals.term, signals.int);
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    };
    daemon.serve(listener, shutdown).await?;
    drop(pidfile);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_default_configuration_means_the_built_in_defaults() {
        let dir = std::env::temp_dir().join(format!("mta-sts-daemon-main-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let present = dir.join("present.yml");
        std::fs::write(&present, "port: 8461\n").unwrap();
        let missing = dir.join("missing.yml");
        // A dangling symbolic link is a mistake to report, not an absent file.
        let dangling = dir.join("dangling.yml");
        let _ = std::fs::remove_file(&dangling);
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();

        assert_eq!(config_source(None, &missing), ConfigSource::BuiltIn);
        assert_eq!(
            config_source(None, &present),
            ConfigSource::File(present.clone())
        );
        assert_eq!(
            config_source(None, &dangling),
            ConfigSource::File(dangling.clone())
        );
        assert_eq!(
            config_source(Some(missing.clone()), &present),
            ConfigSource::File(missing)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
