//! Where the records live in the DNS (RFC 8461 §3.1, RFC 8460 §3).

/// The owner name of a domain's MTA-STS record: `_mta-sts.<domain>` (TXT-1).
///
/// Only the Policy Domain itself is asked; RFC 8461 §3.4 forbids falling back to a parent zone.
/// A trailing dot on `domain` is kept, so an absolute name stays absolute.
pub fn sts_record_name(domain: &str) -> String {
    format!("_mta-sts.{domain}")
}

/// The owner name of a domain's TLSRPT record: `_smtp._tls.<domain>` (RPT-1).
pub fn tlsrpt_record_name(domain: &str) -> String {
    format!("_smtp._tls.{domain}")
}
