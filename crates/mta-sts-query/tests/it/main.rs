//! Runs the built `mta-sts-query` binary against DNS and HTTPS servers on loopback.

// Looking up domains: reports, JSON, exit codes.
mod lookup;
// Offline linting of policy files and TXT records.
mod lint;
