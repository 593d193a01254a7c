//! Picks and parses the MTA-STS or TLSRPT record out of TXT records given on the command line.
//!
//! ```text
//! cargo run -p mta-sts-examples --bin parse-txt -- 'v=spf1 -all' 'v=STSv1; id=20240101'
//! ```
//! Each argument is one TXT record; `|` inside an argument separates its character-strings.

use std::process::ExitCode;

use mta_sts_txt::{select_sts, select_tlsrpt};

fn main() -> ExitCode {
    let records: Vec<Vec<String>> = std::env::args()
        .skip(1)
        .map(|r| r.split('|').map(str::to_owned).collect())
        .collect();
    if records.is_empty() {
        eprintln!("usage: parse-txt 'TXT record' ['TXT record' ...]");
        return ExitCode::from(64);
    }
    let sts = select_sts(&records);
    let tlsrpt = select_tlsrpt(&records);
    match &sts {
        Ok(record) => println!("MTA-STS: id {} (canonical: {record})", record.id()),
        Err(e) => println!("MTA-STS: no policy: {e}"),
    }
    match &tlsrpt {
        Ok(record) => {
            for uri in record.rua() {
                println!("TLSRPT: report to {uri}");
            }
            for uri in record.unsupported_rua() {
                println!("TLSRPT: skipping unsupported URI {uri}");
            }
        }
        Err(e) => println!("TLSRPT: no reporting: {e}"),
    }
    if sts.is_ok() || tlsrpt.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
