//! The MTA-STS policy file ([RFC 8461 §3.2](https://www.rfc-editor.org/rfc/rfc8461#section-3.2)):
//! a strict parser, a linter that explains every problem, and the MX matching rules of
//! [§4.1](https://www.rfc-editor.org/rfc/rfc8461#section-4.1).
//!
//! - [`Policy::parse`] accepts exactly what RFC 8461 allows (LF or CRLF, trailing whitespace, unknown
//!   keys, UTF-8 in their values) and refuses the rest with a [`PolicyError`] that names the line.
//!   Where the RFC is ambiguous the choice is documented in `docs/parsing-choices.md`: duplicate keys,
//!   first wins (A-4); `max_age` above one year is clamped (A-3); blank lines are skipped (A-5).
//! - [`lint`] uses the same grammar and returns every error and warning with its line, severity and
//!   rule ID (listed in `docs/rules.md`), for people publishing a policy.
//! - [`MxPattern::matches`] and [`Policy::matches_mx`] decide whether an MX host is allowed.
//! - [`Policy`] implements `Display` (the canonical file, which parses back to an equal value) and
//!   [`Policy::policy_strings`] (the lines for TLSRPT reports).
//!
//! # Design
//!
//! Sans-io: this crate parses the bytes you hand it. Fetching the file (HTTPS, certificate checks,
//! size and time limits) is the caller's job; the parser itself is linear in the input and allocates
//! only for the values it returns.
//!
//! # Example
//!
//! ```
//! use mta_sts_policy::{Mode, Policy};
//!
//! let body = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";
//! let policy = Policy::parse(body)?;
//! assert_eq!(policy.mode(), Mode::Enforce);
//! assert_eq!(policy.max_age().as_secs(), 604_800);
//! assert!(policy.matches_mx("mx1.example.net"));
//! assert!(!policy.matches_mx("a.b.example.net"));
//! assert_eq!(
//!     policy.policy_strings().collect::<Vec<_>>(),
//!     ["version: STSv1", "mode: enforce", "mx: mail.example.com", "mx: *.example.net", "max_age: 604800"]
//! );
//!
//! let err = Policy::parse(b"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 86400").unwrap_err();
//! assert_eq!(err.line(), Some(2));
//! assert_eq!(err.rule(), "POL-4");
//! # Ok::<(), mta_sts_policy::PolicyError>(())
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `idna` | no | [`Domain::from_idna`]: internationalised names (U-labels) converted to A-labels |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use domain::{Domain, DomainError};
pub use error::{PolicyError, PolicyErrorKind};
pub use extension::Extension;
pub use lint::{Diagnostic, Severity, lint, lint_for_domain};
pub use max_age::MaxAge;
pub use mode::Mode;
pub use mx::{MxError, MxPattern};
pub use policy::{MxPatterns, Policy};
pub use version::Version;

// Layers, bottom first; a layer uses only itself and the layers before it. The value types and
// their error; the warnings; the grammar (line ABNF and the walk over a file); `Policy`; the linter.
mod domain;
mod error;
mod extension;
mod max_age;
mod mode;
mod mx;
mod version;

mod warning;

mod grammar;

mod policy;

mod lint;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
