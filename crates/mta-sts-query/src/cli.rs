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
    after_help = "EXIT STATUS:\n  0  a policy was found (or KNOWN_ID is current; --dane does not change the status); lint, check: no problems\n  1  the domain has no MTA-STS policy; lint, check: warnings only\n  2  discovery failed (DNS, HTTPS, invalid policy); lint, check: errors\n  64 usage error; 78 configuration error (unreadable CA file or trust anchor, bad resolver config)\n\nEXAMPLES:\n  mta-sts-query gmail.com\n  mta-sts-query --json example.com 20240101T000000\n  mta-sts-query lint-policy mta-sts.txt --domain example.com\n  mta-sts-query lint-txt 'v=STSv1; id=20240101'\n  mta-sts-query lint-txt --tlsrpt 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com'\n  mta-sts-query --dane example.com\n  mta-sts-query check example.com"
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
    /// Print one JSON document instead of the report (schemas: docs/mta-sts-query.md, docs/check.md).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Ask this name server (IP:PORT, repeatable) instead of the system's (/etc/resolv.conf).
    #[arg(long = "nameserver", value_name = "IP:PORT", global = true)]
    pub(crate) nameservers: Vec<SocketAddr>,
    /// Also trust the CA certificates in this PEM file (repeatable).
    #[arg(long = "ca-file", value_name = "FILE", global = true)]
    pub(crate) ca_files: Vec<PathBuf>,
    /// Root certificates: the compiled-in Mozilla set, or the system store.
    #[arg(long, value_enum, default_value = "webpki", global = true)]
    pub(crate) roots: RootsArg,
    /// Seconds allowed for each DNS lookup, for each whole HTTPS fetch and (check) for each MX host's SMTP session.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds, global = true)]
    pub(crate) timeout: f64,
    /// Also look up the domain's DANE state (RFC 7672, DNSSEC-validated) and show the answer the
    /// daemon gives with DANE on; `-v info` shows whole TLSA records. The exit status is still
    /// the MTA-STS lookup's.
    #[arg(long)]
    pub(crate) dane: bool,
    /// DNSSEC trust anchor for DANE lookups: DNSKEY records in zone-file syntax (like
    /// /usr/share/dns/root.key), as the daemon's dns.trust_anchor; default: the built-in root keys.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) trust_anchor: Option<PathBuf>,
    /// Port of the policy host (testing only: RFC 8461 requires 443).
    #[arg(long, default_value = "443", hide = true, global = true)]
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
    ///
    /// The record's kind is guessed from its text: one beginning with v=TLS… or, without a version,
    /// with a rua= field is read as TLSRPT (v=TLSRPTv1; rua=…, at _smtp._tls.DOMAIN); one beginning
    /// with v=STS… or with an id= field as MTA-STS (v=STSv1; id=…, at _mta-sts.DOMAIN); anything
    /// else as MTA-STS. --sts or --tlsrpt chooses instead. TLSRPT rua addresses and hosts that
    /// reports may never reach are warnings.
    ///
    /// Exit status: 0 no problems, 1 warnings only, 2 errors.
    LintTxt {
        /// The record, e.g. 'v=STSv1; id=20240101'.
        record: String,
        /// Read the record as an _mta-sts record (v=STSv1; id=…), whatever it looks like.
        #[arg(long, conflicts_with = "tlsrpt")]
        sts: bool,
        /// Read the record as an _smtp._tls record (v=TLSRPTv1; rua=…), whatever it looks like.
        #[arg(long)]
        tlsrpt: bool,
    },
    /// Check a domain's whole MTA-STS and TLSRPT deployment: TXT records, policy host, policy
    /// file, MX records, DANE (DNSSEC and TLSA), SMTP STARTTLS and certificates (against the
    /// policy and the TLSA records) on every MX host (docs/check.md).
    ///
    /// Exit status: 0 all ok, 1 warnings only, 2 errors.
    Check {
        /// The policy domain, e.g. example.com.
        domain: String,
        /// An earlier `check --json` output: warn when the policy changed under the same id.
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// The MX hosts' SMTP port (testing only: MTAs use 25).
        #[arg(long, default_value = "25", value_name = "PORT")]
        smtp_port: u16,
        /// Skip the SMTP step (e.g. where outbound port 25 is blocked).
        #[arg(long)]
        no_smtp: bool,
        /// Skip the DANE step (e.g. where the name servers strip DNSSEC records).
        #[arg(long)]
        no_dane: bool,
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
