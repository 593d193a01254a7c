//! Integration tests for mta-sts-policy, through the public API only.

// Test vectors of the POL-* and A-* rules (docs/rules.md), one test per rule.
mod rules;
// MX matching (MATCH-*), with property tests.
mod matching;
// The linter's diagnostics.
mod lint;
// Golden files in tests/vectors: NNN.txt is a body, NNN.expect the canonical form or the error.
mod vectors;
// Display → parse round trips with generated policies.
mod roundtrip;
