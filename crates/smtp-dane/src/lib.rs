//! SMTP DANE (RFC 7672, with RFC 7671 and RFC 6698) without I/O.
//!
//! - [`Tlsa`]: a TLSA record, [`Tlsa::usability`] (which records an SMTP client may use), its
//!   zone-file text form, and [`chain_match`] (whether a server's certificate chain matches).
//! - [`DaneState`]: a domain's DANE verdict ([`Verdict`]: `dane-only`, `dane`, or why not) from
//!   what DNSSEC-validated DNS said about its MX RRset ([`MxAnswer`]) and each MX host
//!   ([`HostAnswer`]).
//!
//! The lookups, and the DNSSEC validation they need, are the caller's; a DNS failure while
//! gathering the answers is the caller's too, and must not be turned into an insecure answer
//! (that would let an attacker who can block DNS switch DANE off).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use smtp_dane::{DaneState, HostAnswer, HostDane, MxAnswer, Tlsa, Verdict};
//!
//! let mx = MxAnswer::Secure(vec!["mx1.example.net".into(), "mx2.example.net".into()]);
//! let hosts = vec![
//!     HostDane { host: "mx1.example.net".into(), answer: HostAnswer::Tlsa(vec![Tlsa::new(3, 1, 1, vec![7; 32])]) },
//!     HostDane { host: "mx2.example.net".into(), answer: HostAnswer::NoTlsa },
//! ];
//! let state = DaneState::new(mx, hosts, Duration::from_secs(300));
//! assert_eq!(state.verdict(), Verdict::Dane);
//! assert_eq!(state.verdict().postfix_level(), Some("dane"));
//! ```
#![forbid(unsafe_code)]

mod der;
mod tlsa;
mod verdict;

pub use tlsa::{ChainMatch, DANE_EE, DANE_TA, Tlsa, TlsaParseError, Usability, chain_match};
pub use verdict::{DaneState, HostAnswer, HostDane, MxAnswer, NoDane, Verdict};
