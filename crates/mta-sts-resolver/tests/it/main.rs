//! The resolver's rules, driven through fake DNS, fake HTTPS and a manual clock.
// The bans of clippy.toml keep the library sans-io; its tests are the caller that drives it
// from a runtime, spawning tasks and advancing tokio's paused clock.
#![allow(clippy::disallowed_methods)]

// In-memory fakes for TxtLookup and PolicyFetch, with counters and gates.
mod fakes;
// CACHE-1..9: lifetimes, refresh, fallbacks, TOFU.
mod cache;
// FETCH-9..11 and TXT-9..12 as the resolver applies them.
mod discovery;
// Single-flight and independence of domains.
mod concurrency;
