//! Integration tests for postfix-socketmap.
// The bans of clippy.toml keep the library sans-io; its tests are the caller that runs the
// codecs over real sockets from a runtime.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

// The test vectors of SOCK-1, 2, 3, 5 and 8 (docs/rules.md) through the public API.
mod vectors;
// The tokio codecs over a real loopback TCP connection.
mod codec;
// Property tests: arbitrary splits of a stream, encode/decode round trips.
mod properties;
