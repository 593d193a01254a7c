//! The socketmap protocol of Postfix and Sendmail
//! ([socketmap_table(5)](https://www.postfix.org/socketmap_table.5.html)): a client sends
//! `<name> <key>` as a netstring, the server answers `OK <data>`, `NOTFOUND `, `TEMP <reason>`,
//! `TIMEOUT <reason>` or `PERM <reason>`, also as a netstring.
//!
//! - [`decode_netstring`] / [`encode_netstring`]: strict, bounded netstring framing on byte slices
//!   (no leading zeros, the length limit checked digit by digit before anything is buffered).
//! - [`Request`] and [`Reply`]: the messages, encoded exactly as Postfix expects, with Postfix's
//!   100000-byte reply limit ([`MAX_REPLY_LEN`]) enforced.
//! - With the `tokio` feature, [`ServerCodec`] and [`ClientCodec`] plug the same code into
//!   `tokio_util::codec::Framed`.
//!
//! Nothing here is specific to MTA-STS: any socketmap server or client can use it.
//!
//! # Design
//!
//! The core is sans-io: functions over byte slices that return "need more", a frame, or an error.
//! The codecs are thin adapters. Every decoder takes a maximum length, because a netstring announces
//! its size up front and an unbounded decoder would let a peer make it reserve gigabytes.
//!
//! # Example
//!
//! ```
//! use postfix_socketmap::{decode_netstring, Reply, Request, DEFAULT_MAX_REQUEST_LEN, MAX_REPLY_LEN};
//!
//! // What Postfix sends for `postmap -q example.com socketmap:inet:127.0.0.1:8461:postfix`.
//! let input = b"19:postfix example.com,";
//! let (payload, consumed) = decode_netstring(input, DEFAULT_MAX_REQUEST_LEN)?.expect("complete");
//! assert_eq!(consumed, input.len());
//! let request = Request::parse(payload)?;
//! assert_eq!(request.name(), "postfix");
//!
//! let mut output = Vec::new();
//! Reply::Ok("secure match=mx.example.com".into()).encode(&mut output, MAX_REPLY_LEN)?;
//! assert_eq!(output, b"30:OK secure match=mx.example.com,");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | no | [`ServerCodec`], [`ClientCodec`] and [`CodecError`]: `tokio_util::codec::{Decoder, Encoder}` adapters |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use codec::{ClientCodec, CodecError, ServerCodec};
pub use netstring::{NetstringError, decode_netstring, encode_netstring, netstring_len};
pub use reply::{DEFAULT_MAX_REQUEST_LEN, MAX_REPLY_LEN, Reply, ReplyError};
pub use request::{Request, RequestError};

#[cfg(feature = "tokio")]
mod codec;
mod netstring;
mod reply;
mod request;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
