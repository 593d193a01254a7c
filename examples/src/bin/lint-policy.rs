//! Checks an MTA-STS policy file the way a strict sender reads it.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin lint-policy -- mta-sts.txt [example.com]
//! ```
//! Prints every diagnostic; exits 0 when clean, 1 with warnings only, 2 with errors.

use std::process::ExitCode;

use mta_sts_policy::{Policy, Severity, lint, lint_for_domain};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: lint-policy FILE [POLICY-DOMAIN]");
        return ExitCode::from(64);
    };
    let body = match std::fs::read(&path) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("lint-policy: cannot read {path}: {e}");
            return ExitCode::from(66);
        }
    };
    let diagnostics = match args.next() {
        Some(domain) => match domain.parse() {
            Ok(domain) => lint_for_domain(&body, &domain),
            Err(e) => {
                eprintln!("lint-policy: {domain:?} is not a policy domain: {e}");
                return ExitCode::from(64);
            }
        },
        None => lint(&body),
    };
    for d in &diagnostics {
        println!("{path}:{d}");
    }
    match Policy::parse(&body) {
        Ok(policy) => {
            let patterns: Vec<&str> = policy.mx().map(|p| p.as_str()).collect();
            println!(
                "{path}: valid, mode {}, max_age {} s, mx [{}]",
                policy.mode(),
                policy.max_age(),
                patterns.join(", ")
            );
        }
        Err(e) => println!("{path}: INVALID: {e}"),
    }
    let worst = diagnostics.iter().map(|d| d.severity()).max();
    ExitCode::from(match worst {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Error) => 2,
    })
}
