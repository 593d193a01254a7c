//! `mta-sts-query`: see `mta-sts-query --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    mta_sts_query::main()
}
