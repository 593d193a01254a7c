//! `tokio_util::codec` adapters over the sans-io core.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::netstring::{Out, decode_netstring};
use crate::{
    DEFAULT_MAX_REQUEST_LEN, MAX_REPLY_LEN, NetstringError, Reply, ReplyError, Request,
    RequestError,
};

impl Out for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn reserve_more(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

/// What ends a codec stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not a netstring; the stream cannot be resynchronised (SOCK-9).
    #[error("malformed netstring: {0}")]
    Netstring(#[from] NetstringError),
    /// A reply could not be encoded (too long), or a received reply is malformed.
    #[error("reply: {0}")]
    Reply(#[from] ReplyError),
    /// The peer closed the connection in the middle of a netstring.
    #[error("connection closed inside a netstring ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes received of the unfinished netstring.
        buffered: usize,
    },
}

fn decode_frame<T>(
    src: &mut BytesMut,
    max_len: usize,
    parse: impl FnOnce(&[u8]) -> T,
) -> Result<Option<T>, CodecError> {
    match decode_netstring(src, max_len)? {
        None => Ok(None),
        Some((payload, consumed)) => {
            let item = parse(payload);
            src.advance(consumed);
            Ok(Some(item))
        }
    }
}

fn at_eof<T>(
    src: &mut BytesMut,
    item: Result<Option<T>, CodecError>,
) -> Result<Option<T>, CodecError> {
    match item? {
        Some(item) => Ok(Some(item)),
        None if src.is_empty() => Ok(None),
        None => Err(CodecError::Truncated {
            buffered: src.len(),
        }),
    }
}

/// The server side: decodes [`Request`]s, encodes [`Reply`]s.
///
/// A well-framed payload that is not a request is yielded as `Err(RequestError)` so the server can
/// answer `PERM` and go on; a framing error ends the stream with [`CodecError::Netstring`].
/// Requests larger than the limit are refused as soon as their length is read.
///
/// ```
/// use bytes::BytesMut;
/// use postfix_socketmap::{Reply, ServerCodec};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ServerCodec::new();
/// let mut input = BytesMut::from(&b"19:postfix example.com,"[..]);
/// let request = codec.decode(&mut input)?.unwrap().unwrap();
/// assert_eq!(request.key(), "example.com");
///
/// let mut output = BytesMut::new();
/// codec.encode(Reply::NotFound, &mut output)?;
/// assert_eq!(&output[..], b"9:NOTFOUND ,");
/// # Ok::<(), postfix_socketmap::CodecError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerCodec {
    max_request_len: usize,
    max_reply_len: usize,
}

impl ServerCodec {
    /// Limits of [`DEFAULT_MAX_REQUEST_LEN`] and [`MAX_REPLY_LEN`].
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_REQUEST_LEN, MAX_REPLY_LEN)
    }

    /// Chosen limits. Keep the request limit small: each connection may buffer that much.
    pub fn with_limits(max_request_len: usize, max_reply_len: usize) -> Self {
        Self {
            max_request_len,
            max_reply_len,
        }
    }
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for ServerCodec {
    type Item = Result<Request, RequestError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        decode_frame(src, self.max_request_len, Request::parse)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        let item = self.decode(src);
        at_eof(src, item)
    }
}

impl Encoder<Reply> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Reply, dst: &mut BytesMut) -> Result<(), Self::Error> {
        Encoder::<&Reply>::encode(self, &item, dst)
    }
}

impl Encoder<&Reply> for ServerCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Reply, dst: &mut BytesMut) -> Result<(), Self::Error> {
        Ok(item.write(dst, self.max_reply_len)?)
    }
}

/// The client side: encodes [`Request`]s, decodes [`Reply`]s (for tests, load tools and clients).
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_reply_len: usize,
}

impl ClientCodec {
    /// Accepts replies up to [`MAX_REPLY_LEN`], as Postfix does by default.
    pub fn new() -> Self {
        Self::with_max_reply_len(MAX_REPLY_LEN)
    }

    /// Accepts replies up to `max_reply_len` bytes.
    pub fn with_max_reply_len(max_reply_len: usize) -> Self {
        Self { max_reply_len }
    }
}

impl Default for ClientCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for ClientCodec {
    type Item = Reply;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        decode_frame(src, self.max_reply_len, Reply::parse)?
            .transpose()
            .map_err(CodecError::from)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        let item = self.decode(src);
        at_eof(src, item)
    }
}

impl Encoder<&Request> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Request, dst: &mut BytesMut) -> Result<(), Self::Error> {
        item.write(dst);
        Ok(())
    }
}
