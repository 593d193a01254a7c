//! The MTA-STS decision of RFC 8461 with only the parsers: the MTA does its own DNS, HTTPS and
//! caching, and hands this program what they returned. Nothing here touches the network.
//!
//! ```text
//! # A new record, and the policy the MTA fetched for it:
//! cargo run -p mta-sts-examples --bin parsers-only -- example.com \
//!     --txt 'v=spf1 -all' --txt 'v=STSv1; id=20240101' \
//!     --policy-file mta-sts.txt --mx mx1.example.com --mx mx.elsewhere.example
//! # The record's id is the one the MTA has cached: no fetch, the cached policy applies.
//! cargo run -p mta-sts-examples --bin parsers-only -- example.com \
//!     --txt 'v=STSv1; id=20240101' --cached-id 20240101 --cached-policy cached.txt --mx mx1.example.com
//! ```
//!
//! The steps, each printed:
//!
//! 1. the `_mta-sts.<domain>` TXT records (`--txt`, one per record, `|` between the
//!    character-strings of one record; none at all for NXDOMAIN or NODATA; `--dns-failed` for a
//!    lookup that failed) go through [`select_sts`], which applies RFC 8461 §3.1's "exactly one
//!    record beginning with `v=STSv1`";
//! 2. the record's id is compared with the id of the MTA's cached policy (`--cached-id`,
//!    `--cached-policy`): the same id means nothing changed and nothing is fetched;
//! 3. otherwise the policy body the MTA fetched from `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//!    (`--policy-file`) goes through [`Policy::parse`]; without one, the program says what to fetch
//!    and exits with status 3;
//! 4. the policy that applies, if any, decides: the MX hosts (`--mx`) it allows, and whether it
//!    is enforced.
//!
//! When discovery fails, a cached policy still applies (RFC 8461 §3.3); without one, the MTA
//! delivers as if the domain had no policy. `docs/embedding.md` explains the pieces.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use mta_sts_policy::{Domain, Mode, Policy, Severity, lint_for_domain};
use mta_sts_txt::{PolicyId, select_sts};

/// Decides how to deliver to a domain from the TXT records and policy body the MTA looked up.
#[derive(Debug, Parser)]
struct Args {
    /// The recipient domain.
    domain: Domain,
    /// One TXT record of `_mta-sts.DOMAIN`, with `|` between its character-strings; repeatable.
    /// None at all means the lookup found nothing (NXDOMAIN or NODATA).
    #[arg(long = "txt", value_name = "RECORD")]
    txt: Vec<String>,
    /// The TXT lookup failed (SERVFAIL, timeout): no answer at all.
    #[arg(long, conflicts_with = "txt")]
    dns_failed: bool,
    /// The body the MTA fetched from `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`.
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,
    /// The id under which the MTA's cache holds an unexpired policy of the domain.
    #[arg(long, value_name = "ID", requires = "cached_policy")]
    cached_id: Option<PolicyId>,
    /// The body of that cached policy.
    #[arg(long, value_name = "FILE", requires = "cached_id")]
    cached_policy: Option<PathBuf>,
    /// An MX host of the domain, from the MTA's MX lookup; repeatable.
    #[arg(long = "mx", value_name = "HOST")]
    mx: Vec<String>,
}

/// What the TXT lookup gave.
enum Txt {
    /// No answer (SERVFAIL, timeout).
    Failed,
    /// No usable record: NXDOMAIN, NODATA, no `v=STSv1` record, several, or an invalid one.
    Missing(String),
    /// The record's id.
    Id(PolicyId),
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("parsers-only: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cached = match (&args.cached_id, &args.cached_policy) {
        (Some(id), Some(path)) => {
            // The MTA's cache holds what it fetched earlier; it is parsed again like any input.
            let policy = Policy::parse(&read(path)?)
                .with_context(|| format!("cached policy {}", path.display()))?;
            Some((id.clone(), policy))
        }
        _ => None,
    };

    let txt = if args.dns_failed {
        Txt::Failed
    } else if args.txt.is_empty() {
        Txt::Missing("no TXT records (NXDOMAIN or NODATA)".to_owned())
    } else {
        // One item per TXT record, each the list of its character-strings: select_sts joins
        // them without spaces, as RFC 8461 §3.1 says.
        let rrset = args.txt.iter().map(|record| record.split('|'));
        match select_sts(rrset) {
            Ok(record) => Txt::Id(record.id().clone()),
            Err(e) => Txt::Missing(e.to_string()),
        }
    };

    let applies = match txt {
        Txt::Failed => {
            println!("txt: the lookup failed");
            fall_back(cached, "discovery failed")
        }
        Txt::Missing(reason) => {
            println!("txt: no usable record: {reason}");
            // A missing record alone does not remove a cached policy (RFC 8461 §3.3): a domain
            // withdraws its policy by publishing `mode: none` (§8.3), or lets it expire.
            fall_back(cached, "the record is missing")
        }
        Txt::Id(id) => {
            println!("txt: id {id}");
            match cached {
                Some((cached_id, policy)) if cached_id == id => {
                    println!("cache: id unchanged: the cached policy applies, nothing to fetch");
                    Some(policy)
                }
                cached => match &args.policy_file {
                    None => {
                        println!(
                            "fetch: needed: {} (then run again with --policy-file)",
                            args.domain.policy_url()
                        );
                        return Ok(ExitCode::from(3));
                    }
                    Some(path) => fetched(&args.domain, &id, &read(path)?, cached),
                },
            }
        }
    };
    decide(applies.as_ref(), &args.mx);
    Ok(ExitCode::SUCCESS)
}

/// The policy to apply after a fetch that returned `body` for record id `id`.
fn fetched(
    domain: &Domain,
    id: &PolicyId,
    body: &[u8],
    cached: Option<(PolicyId, Policy)>,
) -> Option<Policy> {
    match Policy::parse(body) {
        Ok(policy) => {
            println!(
                "policy: valid: mode {}, max_age {} s",
                policy.mode(),
                policy.max_age()
            );
            // The policy applies; the linter's warnings are for its publisher.
            for warning in lint_for_domain(body, domain)
                .iter()
                .filter(|d| d.severity() == Severity::Warning)
            {
                println!("policy: warning: {warning}");
            }
            println!("cache: store it under id {id}; its max_age counts from now");
            Some(policy)
        }
        Err(e) => {
            // TLSRPT's result type for a policy that was fetched but does not parse.
            println!("policy: invalid: {e} (report sts-policy-invalid)");
            fall_back(cached, "the new policy is invalid")
        }
    }
}

/// An unexpired cached policy, if the MTA has one, when discovery gave nothing better.
fn fall_back(cached: Option<(PolicyId, Policy)>, why: &str) -> Option<Policy> {
    match cached {
        Some((id, policy)) => {
            println!("cache: {why}: the cached policy (id {id}) still applies");
            Some(policy)
        }
        None => None,
    }
}

/// Prints the delivery decision for `policy` and the MX hosts `mx`.
fn decide(policy: Option<&Policy>, mx: &[String]) {
    let Some(policy) = policy else {
        println!("decision: no policy: deliver as without MTA-STS");
        return;
    };
    match policy.mode() {
        Mode::Enforce => println!(
            "decision: enforce: deliver only to an allowed MX host, over TLS with a certificate valid for its name; otherwise keep the mail queued"
        ),
        Mode::Testing => println!(
            "decision: testing: deliver as without MTA-STS; report (TLSRPT) what enforce would refuse"
        ),
        Mode::None => {
            println!("decision: none: deliver as without MTA-STS");
            return;
        }
    }
    for host in mx {
        let verdict = if policy.matches_mx(host) {
            "allowed"
        } else {
            "not allowed"
        };
        println!("mx {host}: {verdict}");
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
