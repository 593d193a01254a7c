//! Integration tests for mta-sts-txt, through the public API only.

// Test vectors of the TXT-* and RPT-* rules (docs/rules.md), one table per rule.
mod vectors;
// Display → parse round trips, with generated records.
mod roundtrip;
