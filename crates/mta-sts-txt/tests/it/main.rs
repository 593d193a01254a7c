//! Integration tests for mta-sts-txt, through the public API only.

// Checklist vectors (TXT-*, RPT-*), one table per rule.
mod vectors;
// Display → parse round trips, with generated records.
mod roundtrip;
