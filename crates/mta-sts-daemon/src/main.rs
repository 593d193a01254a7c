//! `mta-sts-daemon`: see `mta-sts-daemon --help`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use mta_sts_daemon::{Config, Daemon, Listener, fetch_config};

/// MTA-STS policy server for Postfix's smtp_tls_policy_maps (socketmap), compatible with
/// postfix-mta-sts-resolver's configuration and cache.
#[derive(Debug, Parser)]
#[command(
    name = "mta-sts-daemon",
    version,
    after_help = "Postfix (main.cf):\n  smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix\n\nCheck it answers:\n  postmap -q example.com socketmap:inet:127.0.0.1:8461:postfix\n\nEXIT STATUS: 0 after a clean shutdown (SIGTERM, SIGINT); 78 for a configuration error; 1 otherwise."
)]
struct Args {
    /// How much to log.
    #[arg(short, long, value_enum, default_value = "info")]
    verbosity: Verbosity,
    /// The configuration file (YAML, postfix-mta-sts-resolver's format).
    #[arg(short, long, default_value = "/etc/mta-sts-daemon.yml")]
    config: PathBuf,
    /// Log to this file instead of standard error.
    #[arg(short, long)]
    logfile: Option<PathBuf>,
    /// Write the process id to this file.
    #[arg(short, long)]
    pidfile: Option<PathBuf>,
    /// Accepted for compatibility with postfix-mta-sts-resolver; has no effect.
    #[arg(long)]
    disable_uvloop: bool,
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
    let subscriber = tracing_subscriber::fmt().with_max_level(level);
    let logged = match &args.logfile {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => subscriber
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .try_init(),
            Err(e) => {
                eprintln!(
                    "mta-sts-daemon: cannot open log file {}: {e}",
                    path.display()
                );
                return ExitCode::from(78);
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
    let (config, warnings) = match Config::load(&args.config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("mta-sts-daemon: {e}");
            return ExitCode::from(78);
        }
    };
    for warning in warnings {
        tracing::warn!("{}: {warning}", args.config.display());
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mta-sts-daemon: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, args.pidfile)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mta-sts-daemon: {e:#}");
            ExitCode::from(78)
        }
    }
}

async fn run(config: Config, pidfile: Option<PathBuf>) -> anyhow::Result<()> {
    let daemon = Daemon::new(config.clone(), &fetch_config(&config))?;
    let listener = Listener::bind(&config).await?;
    if let Some(pidfile) = &pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))?;
    }
    match listener.local_addr() {
        Some(addr) => tracing::info!(%addr, cache = ?config.cache.kind, "listening"),
        None => tracing::info!(path = ?config.path, cache = ?config.cache.kind, "listening"),
    }
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
    };
    daemon.serve(listener, shutdown).await?;
    if let Some(pidfile) = pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    Ok(())
}
