//! Integration tests: real clients against the kit's loopback servers.

// TestDns queried by hickory-resolver over UDP and TCP.
mod dns;
// SignedDns queried by a validating hickory-resolver stub.
mod dnssec;
// PolicyServer and SilentServer reached by hyper and rustls clients.
mod https;
// A private Postfix delivering to SmtpServer through a socketmap TLS policy table (needs root).
mod postfix;
// SmtpServer reached by a raw SMTP client and a rustls handshake after STARTTLS.
mod smtp;
