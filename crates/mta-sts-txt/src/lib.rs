//! Strict parsers for the two DNS TXT records of SMTP transport security:
//!
//! - `_mta-sts.<domain>`: `v=STSv1; id=…`, which announces an MTA-STS policy and its version
//!   ([RFC 8461 §3.1](https://www.rfc-editor.org/rfc/rfc8461#section-3.1));
//! - `_smtp._tls.<domain>`: `v=TLSRPTv1; rua=…`, which says where to send TLS reports
//!   ([RFC 8460 §3](https://www.rfc-editor.org/rfc/rfc8460#section-3)).
//!
//! Each ABNF rule of the RFCs is one parser function; errors say where and what
//! ([`SyntaxError`]). A whole RRset goes through [`select_sts`] / [`select_tlsrpt`], which apply the
//! RFCs' rules for picking the one record that counts: character-strings joined without spaces, records
//! not beginning with the version discarded, and "not exactly one" meaning no record.
//!
//! The grammar lets through a `rua` URI whose address or host no report can reach, so that one odd
//! URI does not cost the others their reports; [`ReportUri::problems`] tells the domain's owner
//! about it ([`UriProblem`]).
//!
//! # Design
//!
//! Sans-io: this crate parses bytes you hand it and never touches the network or the clock. Feed it
//! the TXT data your resolver returned. Every type with a parser also implements `Display`, which
//! writes a canonical form that parses back to an equal value.
//!
//! # Example
//!
//! ```
//! use mta_sts_txt::{select_sts, select_tlsrpt, ReportUri};
//!
//! // One TXT RRset as a resolver returns it: records, each a list of character-strings.
//! let mta_sts = [vec!["v=spf1 -all"], vec!["v=STSv1; id=2024", "0101T000000"]];
//! let record = select_sts(mta_sts)?;
//! assert_eq!(record.id().as_str(), "20240101T000000");
//!
//! let tlsrpt = [["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"]];
//! let record = select_tlsrpt(tlsrpt)?;
//! let ReportUri::Mailto(mailto) = &record.rua()[0] else { unreachable!() };
//! assert_eq!(mailto.address(), "tlsrpt@example.com");
//! # Ok::<(), mta_sts_txt::SelectError>(())
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | | The crate has no optional features: nom and thiserror are its only dependencies. |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use address::LocalPartProblem;
pub use error::{SelectError, SyntaxError, SyntaxErrorKind, UriErrorKind};
pub use field::Extension;
pub use host::HostProblem;
pub use kind::RecordKind;
pub use lint::UriProblem;
pub use name::{sts_record_name, tlsrpt_record_name};
pub use select::{concat_strings, select_sts, select_tlsrpt};
pub use sts::{PolicyId, STS_VERSION, StsRecord};
pub use tlsrpt::{TLSRPT_VERSION, TlsRptRecord};
pub use uri::{HttpsUri, MailtoUri, ReportUri};

mod address;
mod error;
mod field;
mod host;
mod kind;
mod lint;
mod name;
mod select;
mod sts;
mod tlsrpt;
mod uri;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
