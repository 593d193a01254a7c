use std::fmt;

use crate::netstring::{Out, write_netstring};

/// Why a netstring payload is not a socketmap request.
///
/// The framing is intact, so the connection can go on: answer `PERM` (see [`Reply::Perm`](crate::Reply::Perm)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The payload has no space between the map name and the key.
    #[error("request has no space between map name and key")]
    MissingSpace,
    /// The payload starts with a space.
    #[error("request has an empty map name")]
    EmptyName,
    /// A map name given to [`Request::new`] contains a space.
    #[error("map name contains a space")]
    SpaceInName,
    /// Nothing after the space.
    #[error("request has an empty key")]
    EmptyKey,
    /// The payload is not UTF-8.
    #[error("request is not valid UTF-8")]
    NotUtf8,
}

/// A socketmap request: `<name> <key>` (socketmap_table(5)).
///
/// `name` is the last field of `socketmap:inet:host:port:name`; `key` is what Postfix looks up. The
/// payload is split at the first space, as Postfix builds it with `"%s %s"` (SOCK-1), so the key may
/// itself contain spaces.
///
/// ```
/// use postfix_socketmap::Request;
///
/// let request = Request::parse(b"postfix example.com")?;
/// assert_eq!((request.name(), request.key()), ("postfix", "example.com"));
///
/// let mut wire = Vec::new();
/// request.encode(&mut wire);
/// assert_eq!(wire, b"19:postfix example.com,");
/// # Ok::<(), postfix_socketmap::RequestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    name: String,
    key: String,
}

impl Request {
    /// A request for `key` in the map `name`. `name` must be non-empty without spaces; `key` non-empty.
    pub fn new(name: &str, key: &str) -> Result<Self, RequestError> {
        if name.is_empty() {
            return Err(RequestError::EmptyName);
        }
        if name.contains(' ') {
            return Err(RequestError::SpaceInName);
        }
        if key.is_empty() {
            return Err(RequestError::EmptyKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Parses a netstring payload.
    pub fn parse(payload: &[u8]) -> Result<Self, RequestError> {
        let text = std::str::from_utf8(payload).map_err(|_| RequestError::NotUtf8)?;
        let (name, key) = text.split_once(' ').ok_or(RequestError::MissingSpace)?;
        Self::new(name, key)
    }

    /// The map name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lookup key, as sent (Postfix may send mixed case, SOCK-7).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends the request as a netstring.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        self.write(dst);
    }

    pub(crate) fn write(&self, dst: &mut impl Out) {
        write_netstring(&[self.name.as_bytes(), b" ", self.key.as_bytes()], dst);
    }
}

/// The payload, `<name> <key>`.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sock_1_split_at_first_space() {
        let r = Request::parse(b"postfix example.com").unwrap();
        assert_eq!((r.name(), r.key()), ("postfix", "example.com"));
        let r = Request::parse(b"map key with spaces").unwrap();
        assert_eq!((r.name(), r.key()), ("map", "key with spaces"));
        assert_eq!(Request::parse(b"postfix"), Err(RequestError::MissingSpace));
        assert_eq!(
            Request::parse(b" example.com"),
            Err(RequestError::EmptyName)
        );
        assert_eq!(Request::parse(b"postfix "), Err(RequestError::EmptyKey));
        assert_eq!(Request::parse(b"postfix \xff"), Err(RequestError::NotUtf8));
        assert_eq!(Request::parse(b""), Err(RequestError::MissingSpace));
    }

    #[test]
    fn new_validates() {
        assert_eq!(Request::new("a b", "k"), Err(RequestError::SpaceInName));
        assert!(Request::new("", "k").is_err());
        assert!(Request::new("m", "").is_err());
        assert_eq!(Request::new("m", "k").unwrap().to_string(), "m k");
    }
}
