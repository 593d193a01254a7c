//! mta-sts-cache backends: one conformance suite for every backend, and layout compatibility.

// The same behaviour from every backend.
mod conformance;
// SQLite files in postfix-mta-sts-resolver's exact layout, both ways; faults at open.
mod sqlite_compat;
// Redis and Sentinel: conformance, layout compatibility, a server that dies and comes back.
mod redis;
// PostgreSQL: conformance, layout compatibility, a server unreachable at start.
mod postgres;
