//! TLSA records (RFC 6698 §2) and which of them an SMTP client may use (RFC 7672 §3.1).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256, Sha512};

use crate::der;

/// Certificate usage 2, DANE-TA: the record matches a trust anchor in the server's chain.
pub const DANE_TA: u8 = 2;
/// Certificate usage 3, DANE-EE: the record matches the server's own certificate or key.
pub const DANE_EE: u8 = 3;

/// One TLSA record: certificate usage, selector, matching type and association data.
///
/// Any values are accepted, as they arrive from DNS; [`Tlsa::usability`] says whether an SMTP
/// client may use the record. The text form (`Display`, `FromStr`) is the zone-file one:
/// `3 1 1 9F86D0…`, the data in hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    usage: u8,
    selector: u8,
    matching: u8,
    data: Vec<u8>,
}

/// Whether an SMTP client may use a TLSA record, and if not, why (RFC 7672 §3.1, RFC 6698 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Usability {
    /// DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type 0, 1 or 2 with data of the right
    /// form.
    Usable,
    /// PKIX-TA(0) or PKIX-EE(1): RFC 7672 §3.1.3 makes these unusable for SMTP, since there is no
    /// agreed set of public CAs for MTAs.
    PkixUsage(u8),
    /// A certificate usage RFC 6698 does not define.
    UnknownUsage(u8),
    /// A selector other than 0 (whole certificate) or 1 (SubjectPublicKeyInfo).
    UnknownSelector(u8),
    /// A matching type other than 0 (exact), 1 (SHA-256) or 2 (SHA-512).
    UnknownMatching(u8),
    /// A digest whose length does not fit its matching type (32 bytes for SHA-256, 64 for SHA-512).
    DigestLength {
        /// The matching type.
        matching: u8,
        /// The digest's length.
        expected: usize,
        /// The data's length.
        found: usize,
    },
    /// Matching type 0 with data that is not a DER certificate (selector 0) or
    /// SubjectPublicKeyInfo (selector 1).
    MalformedData,
}

impl Usability {
    /// Whether the record is [`Usable`](Self::Usable).
    pub fn is_usable(self) -> bool {
        self == Self::Usable
    }
}

impl fmt::Display for Usability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usable => f.write_str("usable"),
            Self::PkixUsage(u) => write!(
                f,
                "certificate usage {u} (PKIX) is not usable for SMTP (RFC 7672 §3.1.3)"
            ),
            Self::UnknownUsage(u) => write!(f, "unknown certificate usage {u}"),
            Self::UnknownSelector(s) => write!(f, "unknown selector {s}"),
            Self::UnknownMatching(m) => write!(f, "unknown matching type {m}"),
            Self::DigestLength {
                matching,
                expected,
                found,
            } => write!(
                f,
                "matching type {matching} needs {expected} bytes of digest, the record has {found}"
            ),
            Self::MalformedData => f.write_str(
                "matching type 0 data is not a DER certificate (selector 0) or public key (selector 1)",
            ),
        }
    }
}

impl Tlsa {
    /// A record from its four fields, as DNS carries them.
    pub fn new(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Self {
        Self {
            usage,
            selector,
            matching,
            data,
        }
    }

    /// The record for a certificate: `usage` and `selector` as given, the data computed from
    /// `cert_der` for `matching` type 0, 1 or 2. `None` when `cert_der` is not a certificate (for
    /// selector 1) or a selector or matching type is unknown.
    pub fn for_certificate(usage: u8, selector: u8, matching: u8, cert_der: &[u8]) -> Option<Self> {
        let selected = select(selector, cert_der)?;
        let data = digest(matching, selected)?;
        Some(Self::new(usage, selector, matching, data))
    }

    /// The certificate usage.
    pub fn usage(&self) -> u8 {
        self.usage
    }

    /// The selector.
    pub fn selector(&self) -> u8 {
        self.selector
    }

    /// The matching type.
    pub fn matching(&self) -> u8 {
        self.matching
    }

    /// The certificate association data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether an SMTP client may use this record (RFC 7672 §3.1).
    pub fn usability(&self) -> Usability {
        match self.usage {
            DANE_TA | DANE_EE => {}
            0 | 1 => return Usability::PkixUsage(self.usage),
            other => return Usability::UnknownUsage(other),
        }
        if self.selector > 1 {
            return Usability::UnknownSelector(self.selector);
        }
        let expected = match self.matching {
            0 => {
                let well_formed = if self.selector == 0 {
                    der::certificate_spki(&self.data).is_some()
                } else {
                    der::is_spki(&self.data)
                };
                return if well_formed {
                    Usability::Usable
                } else {
                    Usability::MalformedData
                };
            }
            1 => 32,
            2 => 64,
            other => return Usability::UnknownMatching(other),
        };
        if self.data.len() == expected {
            Usability::Usable
        } else {
            Usability::DigestLength {
                matching: self.matching,
                expected,
                found: self.data.len(),
            }
        }
    }

    /// Whether this record's selector and matching type, applied to the DER certificate
    /// `cert_der`, give its data. The usage is not considered: see [`chain_match`].
    pub fn matches_certificate(&self, cert_der: &[u8]) -> bool {
        select(self.selector, cert_der)
            .and_then(|selected| digest(self.matching, selected))
            .is_some_and(|computed| computed == self.data)
    }
}

/// Where a certificate chain met a TLSA record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainMatch {
    /// The index of the record in the list given.
    pub record: usize,
    /// The certificate's position in the chain: 0 is the server's own (leaf) certificate.
    pub depth: usize,
}

/// The first usable record of `tlsa` that the server's `chain` (leaf first, DER) matches:
/// DANE-EE(3) against the leaf only, DANE-TA(2) against the certificates that follow it, as
/// RFC 7672 §3.1.1 and §3.1.2 apply them. Only the TLSA association is judged here; with DANE-TA
/// a client must still check that the leaf chains to that certificate and names the host.
pub fn chain_match(tlsa: &[Tlsa], chain: &[&[u8]]) -> Option<ChainMatch> {
    tlsa.iter()
        .enumerate()
        .filter(|(_, record)| record.usability().is_usable())
        .find_map(|(index, record)| {
            let candidates = match record.usage {
                DANE_EE => &chain[..chain.len().min(1)],
                _ => chain.get(1..).unwrap_or_default(),
            };
            let offset = usize::from(record.usage != DANE_EE);
            candidates
                .iter()
                .position(|cert| record.matches_certificate(cert))
                .map(|position| ChainMatch {
                    record: index,
                    depth: position + offset,
                })
        })
}

fn select(selector: u8, cert_der: &[u8]) -> Option<&[u8]> {
    match selector {
        0 => Some(cert_der),
        1 => der::certificate_spki(cert_der),
        _ => None,
    }
}

fn digest(matching: u8, data: &[u8]) -> Option<Vec<u8>> {
    match matching {
        0 => Some(data.to_vec()),
        1 => Some(Sha256::digest(data).to_vec()),
        2 => Some(Sha512::digest(data).to_vec()),
        _ => None,
    }
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        if self.data.is_empty() {
            // RFC 6698 §2.2 has no empty form; "-" keeps the text parseable by eye.
            return f.write_str("-");
        }
        self.data.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

/// Text that is not `USAGE SELECTOR MATCHING HEX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsaParseError {
    /// Fewer than four fields.
    #[error("a TLSA record needs four fields: usage, selector, matching type, data")]
    MissingField,
    /// A number field that is not 0..=255.
    #[error("{field} {value:?} is not a number from 0 to 255")]
    Number {
        /// Which field.
        field: &'static str,
        /// What was there.
        value: String,
    },
    /// Data that is not hexadecimal digits in pairs.
    #[error("the association data is not hexadecimal (an even number of 0-9, a-f)")]
    Hex,
}

impl FromStr for Tlsa {
    type Err = TlsaParseError;

    /// `3 1 1 9f86…`: the data may be split by white space, as zone files allow.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut fields = s.split_ascii_whitespace();
        let mut number = |field: &'static str| {
            let value = fields.next().ok_or(TlsaParseError::MissingField)?;
            value.parse::<u8>().map_err(|_| TlsaParseError::Number {
                field,
                value: value.to_owned(),
            })
        };
        let usage = number("certificate usage")?;
        let selector = number("selector")?;
        let matching = number("matching type")?;
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(TlsaParseError::MissingField);
        }
        Ok(Self::new(usage, selector, matching, decode_hex(&hex)?))
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, TlsaParseError> {
    if !hex.len().is_multiple_of(2) {
        return Err(TlsaParseError::Hex);
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or(TlsaParseError::Hex);
            Ok((digit(pair[0])? << 4 | digit(pair[1])?) as u8)
        })
        .collect()
}
