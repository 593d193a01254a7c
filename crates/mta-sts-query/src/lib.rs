//! The `mta-sts-query` command: look up a domain's MTA-STS policy, check a domain's whole
//! MTA-STS and TLSRPT deployment (`check`), or lint a policy file or TXT record offline. The binary's `main` only calls [`main`]; everything else is here so tests can
//! reach it.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mta_sts_fetch::{DaneClient, DnssecTrust, FetchConfig, Roots, clients};
use mta_sts_policy::{Domain, Severity, lint, lint_for_domain};
use mta_sts_txt::{RecordKind, StsRecord, SyntaxErrorKind, TlsRptRecord};
use serde::Serialize;

use check::{CheckOptions, Previous};
use cli::{Cli, Command, RootsArg, Verbosity};
use mta_sts_fetch::TlsProbe;
use query::{DiagnosticReport, discover, exit_code, lint_exit, render};

mod check;
mod cli;
mod dane;
mod query;

const EX_USAGE: u8 = 64;
const EX_CONFIG: u8 = 78;

/// Parses the command line, runs the command, and returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { EX_USAGE } else { 0 });
        }
    };
    init_logging(cli.verbosity);
    let code = match &cli.command {
        Some(Command::LintPolicy { file, domain }) => {
            lint_policy(file, domain.as_deref(), cli.json)
        }
        Some(Command::LintTxt {
            record,
            sts,
            tlsrpt,
        }) => Ok(lint_txt(record, forced_kind(*sts, *tlsrpt), cli.json)),
        Some(Command::Check {
            domain,
            previous,
            smtp_port,
            no_smtp,
            no_dane,
        }) => check(
            &cli,
            domain,
            previous.as_deref(),
            *smtp_port,
            Steps {
                smtp: !*no_smtp,
                dane: !*no_dane,
            },
        ),
        None => lookup(&cli),
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mta-sts-query: {e:#}");
            ExitCode::from(EX_CONFIG)
        }
    }
}

fn init_logging(verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Debug => tracing::Level::DEBUG,
        Verbosity::Info => tracing::Level::INFO,
        Verbosity::Warn => tracing::Level::WARN,
        Verbosity::Error | Verbosity::Fatal => tracing::Level::ERROR,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

fn lookup(cli: &Cli) -> anyhow::Result<u8> {
    let Some(domain) = cli.domain.as_deref() else {
        eprintln!("mta-sts-query: a DOMAIN is required (see --help)");
        return Ok(EX_USAGE);
    };
    let Some(domain) = normalize_domain(domain) else {
        eprintln!("mta-sts-query: {domain:?} is not a domain name");
        return Ok(EX_USAGE);
    };
    let config = fetch_config(cli);
    let (dns, https) = clients(&config).context("cannot set up DNS and HTTPS")?;
    let dane = cli.dane.then(|| dane_client(cli, &config)).transpose()?;
    let report = runtime()?.block_on(async {
        // DANE-8: the DANE lookup has its own validating resolver; the MTA-STS one never
        // depends on DNSSEC.
        let dane_lookup = async {
            match &dane {
                Some(client) => Some(client.lookup(domain.as_str()).await),
                None => None,
            }
        };
        let (mut report, dane) = tokio::join!(
            discover(&dns, &https, &domain, cli.known_id.as_deref()),
            dane_lookup
        );
        report.dane = dane.map(|d| dane::DaneReport::new(domain.as_str(), &d));
        report
    });
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
        if let Some(d) = &report.dane {
            let full = matches!(cli.verbosity, Verbosity::Info | Verbosity::Debug);
            print!("{}", dane::render(d, report.result, full));
        }
    }
    Ok(exit_code(&report))
}

/// The DANE client: the same name servers and deadline as the rest, validating from
/// `--trust-anchor` (the daemon's `dns.trust_anchor`) or the built-in root keys.
fn dane_client(cli: &Cli, config: &FetchConfig) -> anyhow::Result<DaneClient> {
    let trust = cli
        .trust_anchor
        .clone()
        .map_or(DnssecTrust::Root, DnssecTrust::AnchorFile);
    // Lookups bypass the cache (`lookup`), so it only needs to exist.
    DaneClient::new(config, &trust, 1).context("cannot set up DNSSEC-validating DNS")
}

/// Which optional steps of `check` run.
#[derive(Debug, Clone, Copy)]
struct Steps {
    smtp: bool,
    dane: bool,
}

fn fetch_config(cli: &Cli) -> FetchConfig {
    let mut config = FetchConfig::default()
        .with_nameservers(cli.nameservers.clone())
        .with_timeout(Duration::from_secs_f64(cli.timeout))
        .with_https_port(cli.https_port)
        .with_roots(match cli.roots {
            RootsArg::Webpki => Roots::Webpki,
            RootsArg::System => Roots::System,
        });
    for file in &cli.ca_files {
        config = config.with_ca_file(file);
    }
    config
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn check(
    cli: &Cli,
    domain: &str,
    previous: Option<&std::path::Path>,
    smtp_port: u16,
    steps: Steps,
) -> anyhow::Result<u8> {
    let Some(domain) = normalize_domain(domain) else {
        eprintln!("mta-sts-query: {domain:?} is not a domain name");
        return Ok(EX_USAGE);
    };
    let previous = previous.map(Previous::read).transpose()?;
    let config = fetch_config(cli);
    let (dns, https) = clients(&config).context("cannot set up DNS and HTTPS")?;
    let probe = TlsProbe::new(&config).context("cannot set up TLS")?;
    let dane = steps.dane.then(|| dane_client(cli, &config)).transpose()?;
    let options = CheckOptions {
        smtp_port,
        smtp: steps.smtp,
        timeout: Duration::from_secs_f64(cli.timeout),
        previous,
    };
    let clients = check::Clients {
        dns: &dns,
        https: &https,
        probe: &probe,
        dane: dane.as_ref(),
    };
    let report = runtime()?.block_on(check::run(clients, &domain, options));
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        print!("{}", report.text(colour));
    }
    Ok(report.exit_code())
}

/// The domain a user typed: surrounding spaces and one trailing dot dropped, case folded, U-labels
/// converted (IDNA); `None` for anything that is not a mail domain (an address, one label, bad
/// characters).
fn normalize_domain(domain: &str) -> Option<Domain> {
    Domain::from_idna(domain.trim()).ok()
}

#[derive(Serialize)]
struct LintOutput<'a> {
    source: &'a str,
    valid: bool,
    diagnostics: Vec<DiagnosticReport>,
}

fn lint_policy(file: &str, domain: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let body = if file == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read standard input")?;
        body
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {file}"))?
    };
    let diagnostics = match domain {
        Some(domain) => {
            let Some(domain) = normalize_domain(domain) else {
                eprintln!("mta-sts-query: {domain:?} is not a domain name");
                return Ok(EX_USAGE);
            };
            lint_for_domain(&body, &domain)
        }
        None => lint(&body),
    };
    let output = LintOutput {
        source: file,
        valid: !diagnostics.iter().any(|d| d.severity() == Severity::Error),
        diagnostics: diagnostics
            .iter()
            .map(DiagnosticReport::from_lint)
            .collect(),
    };
    print_lint(&output, json);
    Ok(lint_exit(diagnostics.iter().map(|d| d.severity())))
}

/// `lint-txt --sts` / `--tlsrpt` (clap refuses both at once).
fn forced_kind(sts: bool, tlsrpt: bool) -> Option<RecordKind> {
    match (sts, tlsrpt) {
        (true, _) => Some(RecordKind::Sts),
        (_, true) => Some(RecordKind::TlsRpt),
        _ => None,
    }
}

/// `lint-txt --json`: the lint document plus the grammar the record was judged by.
#[derive(Serialize)]
struct TxtLintOutput<'a> {
    #[serde(flatten)]
    lint: LintOutput<'a>,
    /// `sts` or `tlsrpt`.
    kind: &'static str,
}

fn lint_txt(record: &str, forced: Option<RecordKind>, json: bool) -> u8 {
    let bytes = record.as_bytes();
    let guessed = RecordKind::guess(bytes);
    // Without a guess the record was most likely meant for _mta-sts, which this tool is about.
    let kind = forced.or(guessed).unwrap_or(RecordKind::Sts);
    let mut diagnostics = Vec::new();
    let result = match kind {
        RecordKind::Sts => StsRecord::parse(bytes).map(|r| r.to_string()),
        RecordKind::TlsRpt => TlsRptRecord::parse(bytes).map(|r| {
            for uri in r.rua() {
                diagnostics.extend(uri.problems().iter().map(|p| DiagnosticReport {
                    line: None,
                    severity: "warning".to_owned(),
                    rule: p.rule(),
                    message: format!("rua {uri}: {p}"),
                }));
            }
            r.to_string()
        }),
    };
    if let Err(e) = &result {
        let mut message = e.to_string();
        if matches!(e.kind(), SyntaxErrorKind::Version { .. }) {
            message.push_str("; ");
            message.push_str(&kind_note(kind, forced.is_some(), guessed.is_some()));
        }
        diagnostics.push(DiagnosticReport {
            line: None,
            severity: "error".to_owned(),
            rule: e.kind().rule(),
            message,
        });
    }
    let output = TxtLintOutput {
        lint: LintOutput {
            source: record,
            valid: result.is_ok(),
            diagnostics,
        },
        kind: match kind {
            RecordKind::Sts => "sts",
            RecordKind::TlsRpt => "tlsrpt",
        },
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
        );
    } else {
        print_lint(&output.lint, false);
        if let Ok(canonical) = &result {
            println!("valid: {canonical}");
        }
    }
    match (&result, output.lint.diagnostics.is_empty()) {
        (Err(_), _) => 2,
        (Ok(_), false) => 1,
        (Ok(_), true) => 0,
    }
}

/// Added to a version error: which grammar judged the record, and what the two kinds of record
/// look like, since a record pasted without its owner name may be meant as the other kind.
fn kind_note(kind: RecordKind, forced: bool, guessed: bool) -> String {
    let a = |kind| match kind {
        RecordKind::Sts => "an MTA-STS record",
        RecordKind::TlsRpt => "a TLSRPT record",
    };
    let judged = match (forced, guessed) {
        (true, _) => format!("read as {}, as asked", a(kind)),
        (false, true) => format!("read as {} (--sts or --tlsrpt to choose)", a(kind)),
        (false, false) => format!(
            "neither kind of record, so read as {} (--sts or --tlsrpt to choose)",
            a(kind)
        ),
    };
    let [sts, rpt] = [RecordKind::Sts, RecordKind::TlsRpt];
    format!(
        "{judged}: {}, at {}, begins with \"{}\"; {}, at {}, with \"{}\"",
        a(sts),
        sts.record_name("DOMAIN"),
        sts.version(),
        a(rpt),
        rpt.record_name("DOMAIN"),
        rpt.version(),
    )
}

fn print_lint(output: &LintOutput<'_>, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(output).unwrap_or_default()
        );
        return;
    }
    for d in &output.diagnostics {
        let at = d.line.map(|l| format!(":{l}")).unwrap_or_default();
        println!(
            "{}{at}: {} [{}]: {}",
            output.source, d.severity, d.rule, d.message
        );
    }
    if output.diagnostics.is_empty() {
        println!("{}: no problems found", output.source);
    }
}

/// Messages quote what servers sent (TXT records, SMTP replies, policy lines): control characters
/// are shown escaped, so a hostile record cannot move the cursor or recolour the terminal.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            normalize_domain("Example.COM.")
                .as_ref()
                .map(Domain::as_str),
            Some("example.com")
        );
        assert_eq!(
            normalize_domain("bücher.example")
                .as_ref()
                .map(Domain::as_str),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(normalize_domain(""), None);
        assert_eq!(normalize_domain("a..b"), None);
        assert_eq!(normalize_domain("[192.0.2.1]"), None);
        assert_eq!(normalize_domain("192.0.2.1"), None);
        assert_eq!(normalize_domain("example.com.."), None);
        assert_eq!(
            normalize_domain(&format!("{}.example", "a.".repeat(130))),
            None
        );
    }
}
