//! Netstrings: `<length>:<bytes>,` (D. J. Bernstein, 1997), the framing of the socketmap protocol.

/// Why bytes are not a netstring. After any of these the stream position is lost: close the connection
/// (SOCK-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetstringError {
    /// The stream starts with `:`: the length has no digits.
    #[error("netstring length is empty")]
    EmptyLength,
    /// The length starts with `0` but is not `0` itself ("Extra zeros at the front of \[len\] are prohibited").
    #[error("netstring length has a leading zero")]
    LeadingZero,
    /// A byte other than a digit or `:` in the length.
    #[error("invalid byte 0x{0:02x} in netstring length")]
    InvalidLength(u8),
    /// The announced length is above the decoder's limit. Detected before any payload is buffered.
    #[error("netstring longer than the limit of {max} bytes")]
    TooLong {
        /// The limit in force.
        max: usize,
    },
    /// The payload is not followed by `,`.
    #[error("netstring not terminated by ',' (found byte 0x{0:02x})")]
    MissingTerminator(u8),
}

/// Decodes one netstring from the front of `input`, accepting payloads up to `max_len` bytes.
///
/// - `Ok(None)`: the bytes so far are a valid beginning; read more and call again with all of them.
/// - `Ok(Some((payload, consumed)))`: a complete netstring; drop `consumed` bytes before the next call.
/// - `Err(_)`: not a netstring. The length is checked against `max_len` digit by digit, so a peer
///   announcing a huge frame is refused after at most a few bytes, before anything is buffered.
///
/// ```
/// use postfix_socketmap::{decode_netstring, NetstringError};
///
/// assert_eq!(decode_netstring(b"3:abc,3:def,", 100), Ok(Some((&b"abc"[..], 6))));
/// assert_eq!(decode_netstring(b"3:ab", 100), Ok(None));
/// assert_eq!(decode_netstring(b"012:hello world!,", 100), Err(NetstringError::LeadingZero));
/// assert_eq!(decode_netstring(b"99999999999:", 100), Err(NetstringError::TooLong { max: 100 }));
/// ```
pub fn decode_netstring(
    input: &[u8],
    max_len: usize,
) -> Result<Option<(&[u8], usize)>, NetstringError> {
    let mut len = 0usize;
    let mut colon = None;
    for (i, &b) in input.iter().enumerate() {
        match b {
            b':' if i == 0 => return Err(NetstringError::EmptyLength),
            b':' => {
                colon = Some(i);
                break;
            }
            b'0'..=b'9' if i == 1 && input[0] == b'0' => return Err(NetstringError::LeadingZero),
            b'0'..=b'9' => {
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(b - b'0')))
                    .filter(|&l| l <= max_len)
                    .ok_or(NetstringError::TooLong { max: max_len })?;
            }
            _ => return Err(NetstringError::InvalidLength(b)),
        }
    }
    let Some(colon) = colon else {
        return Ok(None);
    };
    let start = colon + 1;
    // With a limit near usize::MAX the sum could overflow; no buffer can be that long anyway.
    let end = start
        .checked_add(len)
        .ok_or(NetstringError::TooLong { max: max_len })?;
    match input.get(end) {
        None => Ok(None),
        Some(b',') => Ok(Some((&input[start..end], end + 1))),
        Some(&other) => Err(NetstringError::MissingTerminator(other)),
    }
}

/// Appends `payload` as a netstring (`12:hello world!,`; the empty string is `0:,`).
pub fn encode_netstring(payload: &[u8], dst: &mut Vec<u8>) {
    write_netstring(&[payload], dst);
}

/// Bytes written by [`encode_netstring`] for a payload of `len` bytes.
pub fn netstring_len(len: usize) -> usize {
    decimal_digits(len) + len + 2
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Something bytes can be appended to: `Vec<u8>` here, `BytesMut` in the codecs.
pub(crate) trait Out {
    fn put(&mut self, bytes: &[u8]);
    fn reserve_more(&mut self, additional: usize);
}

impl Out for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn reserve_more(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

/// Writes the concatenation of `parts` as one netstring, without building the payload first.
pub(crate) fn write_netstring(parts: &[&[u8]], dst: &mut impl Out) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    dst.reserve_more(netstring_len(len));
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put(&digits[i..]);
    dst.put(b":");
    for part in parts {
        dst.put(part);
    }
    dst.put(b",");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_netstring(payload, &mut out);
        out
    }

    #[test]
    fn sock_8_encode() {
        assert_eq!(encoded(b"hello world!"), b"12:hello world!,");
        assert_eq!(encoded(b""), b"0:,");
        assert_eq!(encoded(&[b'x'; 1000]).len(), netstring_len(1000));
        assert_eq!(netstring_len(0), 3);
        assert_eq!(netstring_len(9), 12);
        assert_eq!(netstring_len(10), 14);
    }

    #[test]
    fn sock_8_decode() {
        let max = 1000;
        assert_eq!(
            decode_netstring(b"12:hello world!,", max),
            Ok(Some((&b"hello world!"[..], 16)))
        );
        assert_eq!(decode_netstring(b"0:,", max), Ok(Some((&b""[..], 3))));
        assert_eq!(
            decode_netstring(b"012:hello world!,", max),
            Err(NetstringError::LeadingZero)
        );
        assert_eq!(
            decode_netstring(b"00:,", max),
            Err(NetstringError::LeadingZero)
        );
        assert_eq!(
            decode_netstring(b":abc,", max),
            Err(NetstringError::EmptyLength)
        );
        assert_eq!(
            decode_netstring(b"3:abc;", max),
            Err(NetstringError::MissingTerminator(b';'))
        );
        assert_eq!(decode_netstring(b"3:ab", max), Ok(None));
        assert_eq!(decode_netstring(b"", max), Ok(None));
        assert_eq!(decode_netstring(b"12", max), Ok(None));
        assert_eq!(
            decode_netstring(b"x:abc,", max),
            Err(NetstringError::InvalidLength(b'x'))
        );
        assert_eq!(
            decode_netstring(b"-1:", max),
            Err(NetstringError::InvalidLength(b'-'))
        );
        assert_eq!(
            decode_netstring(b" 3:abc,", max),
            Err(NetstringError::InvalidLength(b' '))
        );
        assert_eq!(
            decode_netstring(b"99999999999:", max),
            Err(NetstringError::TooLong { max })
        );
        // Refused on the fourth digit, without waiting for the colon.
        assert_eq!(
            decode_netstring(b"1001", max),
            Err(NetstringError::TooLong { max })
        );
        assert_eq!(decode_netstring(b"1000:", max), Ok(None));
        assert_eq!(
            decode_netstring(b"99999999999999999999999999:", usize::MAX),
            Err(NetstringError::TooLong { max: usize::MAX })
        );
        // Within the limit, but start + len would overflow.
        assert_eq!(
            decode_netstring(b"18446744073709551615:", usize::MAX),
            Err(NetstringError::TooLong { max: usize::MAX })
        );
    }

    #[test]
    fn sock_8_stream() {
        let input = b"3:abc,3:def,";
        let (first, used) = decode_netstring(input, 10).unwrap().unwrap();
        assert_eq!(first, b"abc");
        let (second, used2) = decode_netstring(&input[used..], 10).unwrap().unwrap();
        assert_eq!(second, b"def");
        assert_eq!(used + used2, input.len());
        // One netstring split across reads: incomplete until the terminator arrives.
        let whole = b"12:hello world!,";
        for cut in 0..whole.len() {
            assert_eq!(
                decode_netstring(&whole[..cut], 100),
                Ok(None),
                "cut at {cut}"
            );
        }
    }
}
