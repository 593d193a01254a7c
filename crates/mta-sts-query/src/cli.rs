use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Looks up a domain's MTA-STS policy (RFC 8461) as a sending MTA would, and explains the result.
///
/// With a domain, discovers its policy: the `_mta-sts` TXT record over DNS, then the policy file over
/// HTTPS from `mta-sts.<domain>`, with every check a strict sender applies. With a KNOWN_ID, the
/// policy is fetched only if the TXT record's id differs from it (as postfix-mta-sts-resolver's
/// tool does).
#[derive(Debug, Parser)]
#[command(
    name = "mta-sts-query",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "EXIT STATUS:\n  0  a policy was found (or KNOWN_ID is current); lint: no problems\n  1  the domain has no MTA-STS policy; lint: warnings only\n  2  discovery failed (DNS, HTTPS, invalid policy); lint: errors\n  64 usage error; 78 configuration error (unreadable CA file, bad resolver config)\n\nEXAMPLES:\n  mta-sts-query gmail.com\n  mta-sts-query --json example.com 20240101T000000\n  mta-sts-query lint-policy mta-sts.txt --domain example.com\n  mta-sts-query lint-txt 'v=STSv1; id=20240101'"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// The policy domain (the part after @ in recipient addresses), e.g. example.com.
    pub(crate) domain: Option<String>,
    /// A policy id you already have: if the TXT record still carries it, nothing is fetched.
    pub(crate) known_id: Option<String>,
    /// How much to log on standard error.
    #[arg(short, long, value_enum, default_value = "warn", global = true)]
    pub(crate) verbosity: Verbosity,
    /// Print one JSON document instead of the report (schema: docs/mta-sts-query.md).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Ask this name server (IP:PORT, repeatable) instead of the system's (/etc/resolv.conf).
    #[arg(long = "nameserver", value_name = "IP:PORT")]
    pub(crate) nameservers: Vec<SocketAddr>,
    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long = "ca-file", value_name = "FILE")]
    pub(crate) ca_files: Vec<PathBuf>,
    /// Root certificates: the compiled-in Mozilla set, or the system store.
    #[arg(long, value_enum, default_value = "webpki")]
    pub(crate) roots: RootsArg,
    /// Seconds allowed for the TXT lookup and, separately, for the whole HTTPS fetch.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) timeout: f64,
    /// Port of the policy host (testing only: RFC 8461 requires 443).
    #[arg(long, default_value = "443", hide = true)]
    pub(crate) https_port: u16,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check a policy file offline (FILE, or - for standard input) and print every diagnostic.
    LintPolicy {
        /// The policy file.
        file: String,
        /// The policy domain, to also flag wildcards that cover the whole domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Check the text of an `_mta-sts` or `_smtp._tls` TXT record offline.
    LintTxt {
        /// The record, e.g. 'v=STSv1; id=20240101'.
        record: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Verbosity {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RootsArg {
    Webpki,
    System,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 3600"
        )),
    }
}
