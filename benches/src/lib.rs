//! The measurement programs' shared parts (see `docs/benchmarks.md`): the load drivers in
//! [`load`]. The criterion benchmarks are in `benches/`.
#![forbid(unsafe_code)]

pub mod load;
