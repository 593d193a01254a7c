//! Runs the built `mta-sts-query` binary against DNS and HTTPS servers on loopback.

// Looking up domains: reports, JSON, exit codes.
mod lookup;
// The shared test kit wrapper that runs the binary.
mod kit;
// `check`: whole-deployment checks against DNS, HTTPS and SMTP servers on loopback.
mod check;
// DANE in `check` and `--dane`, against DNSSEC-signed zones on loopback.
mod dane;
// Offline linting of policy files and TXT records.
mod lint;
// docs/rules.md against the rule IDs in the code and the tests it lists.
mod rules_doc;
