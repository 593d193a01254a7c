//! A domain's DANE state from its validated DNS answers (RFC 7672 §2.2), in the terms of Postfix's
//! TLS security levels.

use std::fmt;
use std::time::Duration;

use crate::{Tlsa, Usability};

/// What DNSSEC-validated DNS said about the domain's MX RRset (RFC 7672 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MxAnswer {
    /// The MX RRset, or its absence, is not DNSSEC-secure (an unsigned zone or an insecure
    /// delegation on the way): DANE does not apply to the domain.
    Insecure,
    /// A secure MX RRset: these exchange hosts, most preferred first.
    Secure(Vec<String>),
    /// A secure denial of MX records at an existing name: the domain itself is the implicit MX
    /// (RFC 5321 §5.1).
    Implicit(String),
    /// A secure null MX (RFC 7505) or a secure NXDOMAIN: no host to deliver to.
    NoMailHost,
}

/// What validated DNS said about one MX host (RFC 7672 §2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostAnswer {
    /// The host's address records are not secure (or there are none): no TLSA lookup is made and
    /// DANE does not apply to this host.
    InsecureAddress,
    /// Secure addresses and a secure denial (NXDOMAIN or NODATA) of `_25._tcp.<host>` TLSA.
    NoTlsa,
    /// Secure addresses and a secure TLSA RRset.
    Tlsa(Vec<Tlsa>),
}

impl HostAnswer {
    /// Whether the host publishes at least one usable TLSA record.
    pub fn has_usable_tlsa(&self) -> bool {
        matches!(self, Self::Tlsa(records) if records.iter().any(|r| r.usability().is_usable()))
    }
}

/// One MX host and what validated DNS said about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostDane {
    /// The host name, lower case, without the trailing dot.
    pub host: String,
    /// The answer.
    pub answer: HostAnswer,
}

/// The policy DANE gives a domain, in Postfix's terms (`smtp_tls_policy_maps` levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Every MX host is secure and publishes usable TLSA records: Postfix's `dane-only` (DANE
    /// authentication required, no fallback).
    DaneOnly,
    /// Some MX hosts publish TLSA records: Postfix's `dane` (DANE where published, mandatory TLS
    /// where TLSA records exist but none is usable, opportunistic TLS elsewhere).
    Dane,
    /// DANE does not apply to the domain; MTA-STS may.
    NoDane(NoDane),
}

/// Why DANE does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoDane {
    /// The MX RRset is not DNSSEC-secure.
    InsecureMx,
    /// Secure, but there is no host to deliver to (null MX or NXDOMAIN).
    NoMailHost,
    /// Secure MX RRset, but no MX host both has secure addresses and publishes TLSA records.
    NoTlsa,
}

impl Verdict {
    /// Whether DANE applies (the answer is `dane` or `dane-only`).
    pub fn is_dane(self) -> bool {
        !matches!(self, Self::NoDane(_))
    }

    /// The Postfix TLS security level for a DANE verdict.
    pub fn postfix_level(self) -> Option<&'static str> {
        match self {
            Self::DaneOnly => Some("dane-only"),
            Self::Dane => Some("dane"),
            Self::NoDane(_) => None,
        }
    }
}

/// A domain's DANE state: what validated DNS said, the verdict it gives, and how long the answers
/// may be used (the smallest TTL among them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DaneState {
    mx: MxAnswer,
    hosts: Vec<HostDane>,
    verdict: Verdict,
    ttl: Duration,
}

impl DaneState {
    /// Judges the answers: `hosts` are the MX hosts of `mx` (empty unless `mx` names hosts) with
    /// their answers; `ttl` is the smallest TTL among the answers used.
    ///
    /// As a DANE sender decides (RFC 7672 §2.2): with an insecure MX RRset or no mail host, no
    /// DANE; when every host has secure addresses and a usable TLSA record, `dane-only`; when any
    /// host publishes TLSA records (usable or not), `dane`; otherwise no DANE.
    pub fn new(mx: MxAnswer, hosts: Vec<HostDane>, ttl: Duration) -> Self {
        let verdict = match &mx {
            MxAnswer::Insecure => Verdict::NoDane(NoDane::InsecureMx),
            MxAnswer::NoMailHost => Verdict::NoDane(NoDane::NoMailHost),
            MxAnswer::Secure(_) | MxAnswer::Implicit(_) => {
                let with_tlsa = hosts
                    .iter()
                    .filter(|h| matches!(h.answer, HostAnswer::Tlsa(_)))
                    .count();
                if with_tlsa == 0 {
                    Verdict::NoDane(NoDane::NoTlsa)
                } else if hosts.iter().all(|h| h.answer.has_usable_tlsa()) {
                    Verdict::DaneOnly
                } else {
                    Verdict::Dane
                }
            }
        };
        Self {
            mx,
            hosts,
            verdict,
            ttl,
        }
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// What DNS said about the MX RRset.
    pub fn mx(&self) -> &MxAnswer {
        &self.mx
    }

    /// What DNS said about each MX host, most preferred first.
    pub fn hosts(&self) -> &[HostDane] {
        &self.hosts
    }

    /// How long the state may be used: the smallest TTL among the answers.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// One line for logs: the verdict and why.
impl fmt::Display for DaneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            Verdict::NoDane(NoDane::InsecureMx) => {
                return f.write_str("no DANE: the MX records are not DNSSEC-signed");
            }
            Verdict::NoDane(NoDane::NoMailHost) => {
                return f.write_str("no DANE: the domain has no mail host (null MX or NXDOMAIN)");
            }
            Verdict::NoDane(NoDane::NoTlsa) => f.write_str("no DANE: no MX host publishes TLSA")?,
            Verdict::DaneOnly => f.write_str("dane-only: every MX host publishes usable TLSA")?,
            Verdict::Dane => f.write_str("dane: some MX hosts publish TLSA")?,
        }
        f.write_str(" (")?;
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: ", host.host)?;
            match &host.answer {
                HostAnswer::InsecureAddress => f.write_str("addresses not signed")?,
                HostAnswer::NoTlsa => f.write_str("no TLSA")?,
                HostAnswer::Tlsa(records) => {
                    let usable = records
                        .iter()
                        .filter(|r| r.usability() == Usability::Usable)
                        .count();
                    write!(f, "{usable} of {} TLSA usable", records.len())?;
                }
            }
        }
        f.write_str(")")
    }
}
