//! mta-sts-fetch against real DNS and HTTPS servers on loopback (mta-sts-testkit).

// Shared setup: a DNS server, a policy server with a throwaway CA, a client configured for both.
mod kit;
// FETCH-1..8: what a single policy fetch accepts and refuses.
mod fetch;
// The resolver over the real stack: FETCH-9..11, CACHE-*, TXT-9..12.
mod discovery;
// Servers that misbehave in time: stalls, trickles, silence. Each fails at the deadline.
mod hostile;
// HTTPS through a CONNECT proxy.
mod proxy;
// FETCH-7: the TLS versions offered and refused.
mod tls_version;
// Diagnostics: one fetch from one address, TLS handshakes over any stream, MX and CNAME lookups.
mod probe;
// DANE-2..5, DANE-8, DANE-9: DANE lookups against DNSSEC-signed zones.
mod dane;
