//! Benchmarks only: see `benches/protocol.rs` and `docs/benchmarks.md`.
#![forbid(unsafe_code)]
