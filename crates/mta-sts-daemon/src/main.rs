//! `mta-sts-daemon`: see `mta-sts-daemon --help`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mta_sts_daemon::ctl::CtlCommand;
use mta_sts_daemon::{
    Config, ControlSocket, Daemon, EX_CONFIG, Endpoint, Listener, MetricsListener, account,
    exit_status, fetch_config,
};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// MTA-STS policy server for Postfix's smtp_tls_policy_maps (socketmap), compatible with
/// postfix-mta-sts-resolver's configuration and cache.
#[derive(Debug, Parser)]
#[command(
    name = "mta-sts-daemon",
    version,
    after_help = "Postfix (main.cf):\n  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n\nCheck it answers:\n  postmap -q example.com socketmap:inet:127.0.0.1:8461:postfix\n\nEXIT STATUS:\n  0   clean shutdown (SIGTERM, SIGINT)\n  2   invalid command line\n  78  the configuration cannot be used: the file is unreadable or invalid, or names a\n      CA file, cache store, user or group that cannot be used\n  1   any other failure (the socket cannot be bound, the runtime fails)\n\nCache administration (docs/operations.md):\n  mta-sts-daemon ctl show example.com      (needs control.socket in the configuration)\n  mta-sts-daemon export -c FILE cache.jsonl; mta-sts-daemon import -c OTHER cache.jsonl"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// How much to log [default: the configuration's log_level, or info]. Overrides log_level,
    /// also on reload.
    #[arg(short, long, value_enum)]
    verbosity: Option<Verbosity>,
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

/// Our additions; without one, the daemon runs.
#[derive(Debug, Subcommand)]
enum Sub {
    /// Administer a running daemon's cache through its control socket (control.socket).
    #[command(after_help = CTL_HELP)]
    Ctl(CtlArgs),
    /// Write every entry of the configured persistent cache as JSON lines (the daemon may run).
    #[command(after_help = MIGRATE_HELP)]
    Export(MigrateArgs),
    /// Store JSON lines written by export in the configured cache; an entry never replaces a
    /// newer one.
    #[command(after_help = MIGRATE_HELP)]
    Import(MigrateArgs),
}

const CTL_HELP: &str = "EXIT STATUS:\n  0   done\n  1   the daemon refused the request, or a domain could not be refreshed or purged\n  2   invalid command line\n  69  no daemon at the socket (missing, or nothing listening)\n  76  the answer does not follow the protocol\n  77  permission denied (run as the daemon's user or root)\n  78  the configuration cannot be read, or sets no control.socket";
const MIGRATE_HELP: &str = "FILE is - (the default) for standard output or input. Move a cache between backends:\n  mta-sts-daemon export -c old.yml cache.jsonl && mta-sts-daemon import -c new.yml cache.jsonl\n\nEXIT STATUS:\n  0   done\n  1   a line could not be imported (each is reported with its number; the others are\n      imported), or the store failed\n  78  the configuration cannot be used, or names the internal cache (nothing to export)";

#[derive(Debug, clap::Args)]
struct CtlArgs {
    /// The daemon's configuration file, for its control.socket [default: /etc/mta-sts-daemon.yml]
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The control socket, instead of the configuration's control.socket.
    #[arg(long, value_name = "PATH", conflicts_with = "config")]
    socket: Option<PathBuf>,
    /// JSON lines instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The configuration file naming the cache [default: /etc/mta-sts-daemon.yml]
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The JSON lines file; - is standard output (export) or input (import).
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// The configuration a subcommand reads: `-c`, else the default file, which must exist.
fn subcommand_config(explicit: Option<PathBuf>) -> Result<(Config, PathBuf), ExitCode> {
    let path = explicit.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match Config::load(&path) {
        Ok((config, warnings)) => {
            for warning in warnings {
                eprintln!("mta-sts-daemon: {}: {warning}", path.display());
            }
            Ok((config, path))
        }
        Err(e) => {
            eprintln!("mta-sts-daemon: {e}");
            if !e.snippet().is_empty() {
                eprintln!("{}", e.snippet().trim_end());
            }
            Err(ExitCode::from(EX_CONFIG))
        }
    }
}

fn ctl(args: CtlArgs, fallback_config: Option<PathBuf>) -> ExitCode {
    let socket = match args.socket {
        Some(socket) => socket,
        None => {
            let (config, path) = match subcommand_config(args.config.or(fallback_config)) {
                Ok(found) => found,
                Err(status) => return status,
            };
            match config.control.socket {
                Some(socket) => socket,
                None => {
                    eprintln!(
                        "mta-sts-daemon: {} sets no control.socket: the daemon must have control.socket set (mta-sts-daemon.yml(5)) for ctl to reach it; or name the socket with --socket",
                        path.display()
                    );
                    return ExitCode::from(EX_CONFIG);
                }
            }
        }
    };
    let mut out = std::io::stdout().lock();
    match mta_sts_daemon::ctl::run(&socket, &args.command, args.json, &mut out) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("mta-sts-daemon ctl: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

fn migrate(import: bool, args: MigrateArgs, fallback_config: Option<PathBuf>) -> ExitCode {
    let (config, path) = match subcommand_config(args.config.or(fallback_config)) {
        Ok(found) => found,
        Err(status) => return status,
    };
    let fail = |message: String, status: u8| {
        eprintln!("mta-sts-daemon: {message}");
        ExitCode::from(status)
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the runtime: {e}"), 1),
    };
    let _entered = runtime.enter();
    let store = match config.cache.open_store() {
        Ok(Some(store)) => store,
        Ok(None) => {
            return fail(
                format!(
                    "{}: cache type internal keeps policies only in the daemon's memory: nothing to export or import offline (ctl list --json shows a running daemon's)",
                    path.display()
                ),
                EX_CONFIG,
            );
        }
        Err(e) => return fail(format!("{}: {e}", path.display()), EX_CONFIG),
    };
    let stdio = args.file.as_os_str() == "-";
    if import {
        let mut input: Box<dyn std::io::BufRead> = if stdio {
            Box::new(std::io::stdin().lock())
        } else {
            match std::fs::File::open(&args.file) {
                Ok(file) => Box::new(std::io::BufReader::new(file)),
                Err(e) => return fail(format!("{}: {e}", args.file.display()), 1),
            }
        };
        match runtime.block_on(mta_sts_daemon::import(&*store, &mut *input)) {
            Ok(report) => {
                for (line, why) in &report.bad {
                    eprintln!("mta-sts-daemon: line {line}: {why}");
                }
                eprintln!(
                    "mta-sts-daemon: imported {} entries into the {} cache; {} bad lines",
                    report.imported,
                    config.cache.kind(),
                    report.bad.len()
                );
                ExitCode::from(u8::from(!report.bad.is_empty()))
            }
            Err(e) => fail(format!("{e:#}"), 1),
        }
    } else {
        let mut output: Box<dyn std::io::Write> = if stdio {
            Box::new(std::io::stdout().lock())
        } else {
            match std::fs::File::create(&args.file) {
                Ok(file) => Box::new(std::io::BufWriter::new(file)),
                Err(e) => return fail(format!("{}: {e}", args.file.display()), 1),
            }
        };
        match runtime.block_on(mta_sts_daemon::export(&*store, &mut *output)) {
            Ok((written, skipped)) => {
                eprintln!(
                    "mta-sts-daemon: exported {written} entries from the {} cache{}",
                    config.cache.kind(),
                    if skipped > 0 {
                        format!("; {skipped} unreadable entries skipped")
                    } else {
                        String::new()
                    }
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("{e:#}"), 1),
        }
    }
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

impl Verbosity {
    fn level(self) -> tracing::Level {
        match self {
            Self::Debug => tracing::Level::DEBUG,
            Self::Info => tracing::Level::INFO,
            Self::Warn => tracing::Level::WARN,
            Self::Error | Self::Fatal => tracing::Level::ERROR,
        }
    }
}

/// Sets how much is logged: `-v` when given, else the configuration's `log_level`, else info.
/// `RUST_LOG`, when set, decides alone.
#[derive(Clone)]
struct LogLevels {
    command_line: Option<tracing::Level>,
    filter: tracing_subscriber::reload::Handle<
        tracing_subscriber::EnvFilter,
        tracing_subscriber::Registry,
    >,
}

impl LogLevels {
    fn apply(&self, config: &Config) {
        if std::env::var_os("RUST_LOG").is_some() {
            return;
        }
        let level = self
            .command_line
            .or(config.log_level.map(|l| l.level()))
            .unwrap_or(tracing::Level::INFO);
        if let Err(e) = self.filter.reload(log_filter(level)) {
            tracing::warn!(error = %e, "cannot change the log level");
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    match args.command.take() {
        Some(Sub::Ctl(ctl_args)) => return ctl(ctl_args, args.config),
        Some(Sub::Export(migrate_args)) => return migrate(false, migrate_args, args.config),
        Some(Sub::Import(migrate_args)) => return migrate(true, migrate_args, args.config),
        None => {}
    }
    let command_line = args.verbosity.map(Verbosity::level);
    let level = command_line.unwrap_or(tracing::Level::INFO);
    let (filter, filter_handle) = tracing_subscriber::reload::Layer::new(log_filter(level));
    let levels = LogLevels {
        command_line,
        filter: filter_handle,
    };
    let mut log_file = None;
    let logged = match &args.logfile {
        Some(path) => match LogFile::open(path) {
            Ok(file) => {
                let log = Arc::new(LogFile {
                    path: path.clone(),
                    file: std::sync::Mutex::new(file),
                });
                log_file = Some(Arc::clone(&log));
                let layer = tracing_subscriber::fmt::layer()
                    .with_writer(move || LogWriter(Arc::clone(&log)))
                    .with_ansi(false);
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
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
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi);
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
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
    levels.apply(&config);
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
    let reloader = Reloader {
        source,
        port: run_args.port,
        levels,
        log_file,
    };
    match runtime.block_on(run(config, run_args, reloader)) {
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

/// What a SIGHUP does: reopen the log file (logrotate moves it away first) and re-read the
/// configuration.
struct Reloader {
    source: ConfigSource,
    /// `--port`, which replaces the file's listening settings on every read.
    port: Option<u16>,
    levels: LogLevels,
    log_file: Option<Arc<LogFile>>,
}

impl Reloader {
    /// Handles each SIGHUP, telling systemd (`RELOADING=1` … `READY=1`) so `systemctl reload`
    /// waits for it. Never ends the daemon.
    async fn on_hangup(
        self,
        mut hup: tokio::signal::unix::Signal,
        daemon: Daemon,
        status: String,
        mut metrics: MetricsServing,
    ) {
        while hup.recv().await.is_some() {
            let mut reloading = vec![sd_notify::NotifyState::Reloading];
            reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
            let _ = sd_notify::notify(&reloading);
            if let Some(log) = &self.log_file {
                match log.reopen() {
                    Ok(()) => tracing::info!("SIGHUP: log file reopened"),
                    Err(e) => {
                        eprintln!("mta-sts-daemon: cannot reopen {}: {e}", log.path.display());
                    }
                }
            }
            if let Some(config) = self.reload(&daemon) {
                metrics.follow(config.metrics.listen).await;
            }
            let _ = sd_notify::notify(&[
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status(&status),
            ]);
        }
    }

    /// Re-reads the configuration and puts it in force; an unusable file changes nothing.
    /// Returns the configuration now in force, or `None` when nothing was (re)read.
    fn reload(&self, daemon: &Daemon) -> Option<Arc<Config>> {
        let path = match &self.source {
            ConfigSource::File(path) => path.as_path(),
            // Started on the built-in defaults: the file may have been written since.
            ConfigSource::BuiltIn => match config_source(None, Path::new(DEFAULT_CONFIG)) {
                ConfigSource::File(_) => Path::new(DEFAULT_CONFIG),
                ConfigSource::BuiltIn => {
                    tracing::info!(
                        "SIGHUP: {DEFAULT_CONFIG} still does not exist; the built-in defaults stay in force"
                    );
                    return None;
                }
            },
        };
        let (mut config, warnings) = match Config::load(path) {
            Ok(loaded) => loaded,
            Err(e) => {
                let snippet = e.snippet().trim_end();
                let snippet = if snippet.is_empty() {
                    String::new()
                } else {
                    format!("\n{snippet}")
                };
                tracing::error!(
                    "SIGHUP: configuration not reloaded, the running one stays in force: {e}{snippet}"
                );
                daemon.metrics().note_reload(false);
                return None;
            }
        };
        for warning in warnings {
            tracing::warn!("{}: {warning}", path.display());
        }
        if let Some(port) = self.port {
            trial_port(&mut config, port);
        }
        match daemon.reload(config) {
            Ok(reload) => {
                daemon.metrics().note_reload(true);
                for kept in &reload.needs_restart {
                    tracing::warn!(
                        "SIGHUP: {kept}: this change needs a restart; the running value stays in force"
                    );
                }
                let config = daemon.config();
                self.levels.apply(&config);
                if reload.applied.is_empty() {
                    tracing::info!(file = %path.display(), "SIGHUP: configuration re-read, nothing that applies changed");
                } else {
                    tracing::info!(file = %path.display(), changed = %reload.applied.join(", "), "SIGHUP: configuration reloaded");
                }
                Some(config)
            }
            Err(e) => {
                daemon.metrics().note_reload(false);
                tracing::error!(
                    "SIGHUP: configuration not reloaded, the running one stays in force: {e:#}"
                );
                None
            }
        }
    }
}

/// The `metrics.listen` endpoint, started, moved or stopped as reloads say.
struct MetricsServing {
    endpoint: Endpoint,
    /// The configured address served, and the task serving it.
    serving: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl MetricsServing {
    fn start(&mut self, configured: SocketAddr, listener: MetricsListener) {
        let addr = listener.local_addr().unwrap_or(configured);
        tracing::info!(%addr, "serving GET /metrics and GET /healthz (metrics.listen)");
        let task = tokio::spawn(self.endpoint.clone().serve(listener));
        if let Some((_, old)) = self.serving.replace((configured, task)) {
            old.abort();
        }
    }

    /// Serves on `wanted` from now on: binds the new address before leaving the old one, so a
    /// port that cannot be bound leaves the endpoint where it was.
    async fn follow(&mut self, wanted: Option<SocketAddr>) {
        if wanted == self.serving.as_ref().map(|(addr, _)| *addr) {
            return;
        }
        match wanted {
            None => {
                if let Some((addr, task)) = self.serving.take() {
                    task.abort();
                    tracing::info!(%addr, "SIGHUP: metrics.listen removed: /metrics and /healthz no longer served");
                }
            }
            Some(addr) => match MetricsListener::bind(addr).await {
                Ok(listener) => self.start(addr, listener),
                Err(e) => match &self.serving {
                    Some((old, _)) => {
                        tracing::error!("SIGHUP: {e:#}; still serving on {old}");
                    }
                    None => tracing::error!("SIGHUP: {e:#}; /metrics and /healthz not served"),
                },
            },
        }
    }
}

/// `--port`: a trial run beside the live daemon, on TCP at another port whatever the file says.
fn trial_port(config: &mut Config, port: u16) {
    config.path = None;
    config.port = port;
    config.reuse_port = false;
}

async fn run(mut config: Config, args: RunArgs, reloader: Reloader) -> anyhow::Result<()> {
    // Signals are caught from the start: their default actions end the process, and a SIGHUP
    // (logrotate, `systemctl reload`) or SIGTERM may come while the daemon is still starting.
    let signals = Signals::catch()?;
    let identity = Identity::resolve(args.user.as_deref(), args.group.as_deref())?;
    if let Some(port) = args.port {
        trial_port(&mut config, port);
    }
    let runs_as = identity.user.as_ref().map(|u| u.uid);
    let listener = Listener::bind_for(&config, runs_as).await?;
    // Bound before privileges are dropped (its directory may be root's), given to the final user.
    let control = config
        .control
        .socket
        .as_deref()
        .map(|path| ControlSocket::bind(path, config.control.mode.0, runs_as))
        .transpose()?;
    // Bound before privileges are dropped, like the socketmap listener.
    let metrics_listener = match config.metrics.listen {
        Some(addr) => Some(MetricsListener::bind(addr).await?),
        None => None,
    };
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
    // Built even when metrics.listen is off, so a reload can turn it on.
    let mut metrics = MetricsServing {
        endpoint: Endpoint::new(Arc::clone(daemon.metrics()), &listener),
        serving: None,
    };
    if let (Some(configured), Some(bound)) = (config.metrics.listen, metrics_listener) {
        metrics.start(configured, bound);
    }
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]);
    tokio::spawn(reloader.on_hangup(signals.hup, daemon.clone(), status, metrics));
    let (mut term, mut int) = (signals.term, signals.int);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = stopping.send(true);
    };
    let control = control.map(|socket| {
        tracing::info!(path = %socket.path().display(), "control socket listening");
        let daemon = daemon.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            // Returns at shutdown and drops the socket, which removes its file.
            daemon.serve_control(socket, stop).await;
        })
    });
    daemon.serve(listener, shutdown).await?;
    if let Some(task) = control {
        let _ = task.await;
    }
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
