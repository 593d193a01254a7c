use std::fmt;

use crate::netstring::{Out, write_netstring};

/// The longest reply payload Postfix accepts by default (socketmap_table(5), `socketmap_max_reply_size`).
pub const MAX_REPLY_LEN: usize = 100_000;

/// The default limit on a request payload: Postfix's default query limit (10000 bytes,
/// `socketmap_max_query_size`) plus room for the map name.
pub const DEFAULT_MAX_REQUEST_LEN: usize = 10_240;

/// Why a reply cannot be sent, or a received payload is not a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The encoded payload would exceed the limit (Postfix refuses replies over [`MAX_REPLY_LEN`]).
    /// Send a `TEMP` reply instead, so that mail is deferred rather than the lookup failing.
    #[error("reply of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// A received payload does not start with one of the five status words.
    #[error("unknown reply status {0:?}")]
    UnknownStatus(String),
    /// A received `OK` with no data (Postfix treats it as a configuration error, SOCK-3).
    #[error("OK reply without data")]
    EmptyOk,
    /// A received payload is not UTF-8.
    #[error("reply is not valid UTF-8")]
    NotUtf8,
}

/// A socketmap reply (socketmap_table(5), SOCK-2).
///
/// | variant | wire | what Postfix does (SOCK-4) |
/// |---|---|---|
/// | `Ok(data)` | `OK <data>` | uses `data` |
/// | `NotFound` | `NOTFOUND ` | tries the next table, then its defaults |
/// | `Temp(reason)` | `TEMP <reason>` | lookup error: defers |
/// | `Timeout(reason)` | `TIMEOUT <reason>` | lookup error: defers |
/// | `Perm(reason)` | `PERM <reason>` | configuration error: defers |
///
/// `Ok` with empty data is sent as `NOTFOUND `: Postfix treats an empty OK as an error (SOCK-3).
///
/// ```
/// use postfix_socketmap::{Reply, MAX_REPLY_LEN};
///
/// let mut wire = Vec::new();
/// Reply::NotFound.encode(&mut wire, MAX_REPLY_LEN)?;
/// assert_eq!(wire, b"9:NOTFOUND ,");
/// # Ok::<(), postfix_socketmap::ReplyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    /// The key was found; the value.
    Ok(String),
    /// The key was not found.
    NotFound,
    /// A temporary failure, with a reason for the logs.
    Temp(String),
    /// A timeout, with a reason for the logs.
    Timeout(String),
    /// A permanent failure (for instance a malformed request), with a reason for the logs.
    Perm(String),
}

impl Reply {
    fn parts(&self) -> (&'static [u8], &[u8]) {
        match self {
            Self::Ok(data) if data.is_empty() => (b"NOTFOUND ", b""),
            Self::Ok(data) => (b"OK ", data.as_bytes()),
            Self::NotFound => (b"NOTFOUND ", b""),
            Self::Temp(reason) => (b"TEMP ", reason.as_bytes()),
            Self::Timeout(reason) => (b"TIMEOUT ", reason.as_bytes()),
            Self::Perm(reason) => (b"PERM ", reason.as_bytes()),
        }
    }

    /// The payload length, without the netstring framing.
    pub fn payload_len(&self) -> usize {
        let (status, text) = self.parts();
        status.len() + text.len()
    }

    /// Appends the reply as a netstring, refusing a payload over `max_len` bytes (use [`MAX_REPLY_LEN`]).
    pub fn encode(&self, dst: &mut Vec<u8>, max_len: usize) -> Result<(), ReplyError> {
        self.write(dst, max_len)
    }

    pub(crate) fn write(&self, dst: &mut impl Out, max_len: usize) -> Result<(), ReplyError> {
        let len = self.payload_len();
        if len > max_len {
            return Err(ReplyError::TooLong { len, max: max_len });
        }
        let (status, text) = self.parts();
        write_netstring(&[status, text], dst);
        Ok(())
    }

    /// Parses a reply payload, as a socketmap client does: the word before the first space, compared
    /// case-sensitively.
    pub fn parse(payload: &[u8]) -> Result<Self, ReplyError> {
        let text = std::str::from_utf8(payload).map_err(|_| ReplyError::NotUtf8)?;
        let (status, rest) = text.split_once(' ').unwrap_or((text, ""));
        match status {
            "OK" if rest.is_empty() => Err(ReplyError::EmptyOk),
            "OK" => Ok(Self::Ok(rest.to_owned())),
            "NOTFOUND" => Ok(Self::NotFound),
            "TEMP" => Ok(Self::Temp(rest.to_owned())),
            "TIMEOUT" => Ok(Self::Timeout(rest.to_owned())),
            "PERM" => Ok(Self::Perm(rest.to_owned())),
            other => Err(ReplyError::UnknownStatus(other.to_owned())),
        }
    }
}

/// The payload as sent, e.g. `NOTFOUND ` or `OK secure match=mx.example.com`.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (status, text) = self.parts();
        f.write_str(std::str::from_utf8(status).unwrap_or_default())?;
        f.write_str(std::str::from_utf8(text).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply) -> Vec<u8> {
        let mut out = Vec::new();
        reply.encode(&mut out, MAX_REPLY_LEN).unwrap();
        out
    }

    #[test]
    fn sock_2_reply_encoding() {
        assert_eq!(wire(&Reply::NotFound), b"9:NOTFOUND ,");
        assert_eq!(
            wire(&Reply::Ok(
                "secure match=mail.example.com servername=hostname".into()
            )),
            b"52:OK secure match=mail.example.com servername=hostname,"
        );
        assert_eq!(
            wire(&Reply::Temp("policy fetch timeout".into())),
            b"25:TEMP policy fetch timeout,"
        );
        assert_eq!(wire(&Reply::Timeout("x".into())), b"9:TIMEOUT x,");
        assert_eq!(
            wire(&Reply::Perm("bad request".into())),
            b"16:PERM bad request,"
        );
        assert_eq!(wire(&Reply::Temp(String::new())), b"5:TEMP ,");
    }

    #[test]
    fn sock_3_empty_ok_is_notfound() {
        assert_eq!(wire(&Reply::Ok(String::new())), b"9:NOTFOUND ,");
        assert_eq!(Reply::parse(b"OK "), Err(ReplyError::EmptyOk));
        assert_eq!(Reply::parse(b"OK"), Err(ReplyError::EmptyOk));
    }

    #[test]
    fn sock_5_reply_limit() {
        let data = "x".repeat(MAX_REPLY_LEN - 3);
        let ok = Reply::Ok(data.clone());
        assert_eq!(ok.payload_len(), MAX_REPLY_LEN);
        assert!(ok.encode(&mut Vec::new(), MAX_REPLY_LEN).is_ok());
        let over = Reply::Ok(format!("{data}x"));
        assert_eq!(
            over.encode(&mut Vec::new(), MAX_REPLY_LEN),
            Err(ReplyError::TooLong {
                len: MAX_REPLY_LEN + 1,
                max: MAX_REPLY_LEN
            })
        );
        let mut out = Vec::new();
        assert!(over.encode(&mut out, MAX_REPLY_LEN).is_err());
        assert!(
            out.is_empty(),
            "nothing is written when the reply is refused"
        );
    }

    #[test]
    fn parse_is_case_sensitive() {
        assert_eq!(Reply::parse(b"NOTFOUND "), Ok(Reply::NotFound));
        assert_eq!(
            Reply::parse(b"ok x"),
            Err(ReplyError::UnknownStatus("ok".into()))
        );
        assert_eq!(Reply::parse(b"OK a b"), Ok(Reply::Ok("a b".into())));
        assert_eq!(Reply::parse(b"TEMP"), Ok(Reply::Temp(String::new())));
    }
}
