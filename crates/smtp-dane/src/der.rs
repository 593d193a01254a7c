//! Just enough DER (X.690) to find a certificate's SubjectPublicKeyInfo and to tell whether
//! matching-type-0 TLSA data is a certificate or a public key. Every length is checked against the
//! bytes present; nothing is allocated.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
/// `[0] EXPLICIT Version` at the start of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// Longer lengths than four bytes (4 GiB) never occur in certificates.
const MAX_LENGTH_BYTES: usize = 4;

/// One element: its tag, the whole encoding, its contents, and what follows it.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
    rest: &'a [u8],
}

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    // Multi-byte tags (low five bits all set) do not occur in the structures read here.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, after_len) = after_tag.split_first()?;
    let (len, after_len) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        // 0x80 is BER's indefinite length, which DER forbids.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > MAX_LENGTH_BYTES || after_len.len() < count {
            return None;
        }
        let (digits, after) = after_len.split_at(count);
        let len = digits
            .iter()
            .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
        (len, after)
    };
    if after_len.len() < len {
        return None;
    }
    let (contents, rest) = after_len.split_at(len);
    let header = input.len() - after_len.len();
    Some(Tlv {
        tag,
        whole: &input[..header + len],
        contents,
        rest,
    })
}

/// The element at the start of `input` if it has tag `tag`.
fn expect(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
    tlv(input).filter(|t| t.tag == tag)
}

/// The DER SubjectPublicKeyInfo of a DER certificate (RFC 5280 §4.1), or `None` when `cert` is
/// not shaped like one.
pub(crate) fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    let certificate = expect(cert, SEQUENCE).filter(|c| c.rest.is_empty())?;
    let tbs = expect(certificate.contents, SEQUENCE)?;
    let algorithm = expect(tbs.rest, SEQUENCE)?;
    expect(algorithm.rest, BIT_STRING).filter(|s| s.rest.is_empty())?;

    let mut fields = tbs.contents;
    if let Some(version) = expect(fields, VERSION) {
        fields = version.rest;
    }
    let serial = expect(fields, INTEGER)?;
    // signature, issuer, validity, subject: four SEQUENCEs before the key.
    let mut next = serial.rest;
    for _ in 0..4 {
        next = expect(next, SEQUENCE)?.rest;
    }
    let spki = expect(next, SEQUENCE)?;
    is_spki(spki.whole).then_some(spki.whole)
}

/// Whether `data` is exactly one DER SubjectPublicKeyInfo: an AlgorithmIdentifier and a BIT STRING.
pub(crate) fn is_spki(data: &[u8]) -> bool {
    let Some(spki) = expect(data, SEQUENCE).filter(|s| s.rest.is_empty()) else {
        return false;
    };
    expect(spki.contents, SEQUENCE)
        .and_then(|algorithm| expect(algorithm.rest, BIT_STRING))
        .is_some_and(|key| key.rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-built certificate skeleton: version, serial, four sequences, a key, then the
    /// signature algorithm and value.
    fn skeleton(spki: &[u8]) -> Vec<u8> {
        let mut tbs = vec![0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x07];
        for _ in 0..4 {
            tbs.extend([0x30, 0x00]);
        }
        tbs.extend(spki);
        let mut body = vec![0x30, tbs.len() as u8];
        body.extend(tbs);
        body.extend([0x30, 0x00, 0x03, 0x01, 0x00]);
        let mut cert = vec![0x30, body.len() as u8];
        cert.extend(body);
        cert
    }

    const SPKI: [u8; 9] = [0x30, 0x07, 0x30, 0x02, 0x06, 0x00, 0x03, 0x01, 0x00];

    #[test]
    fn finds_the_key_in_a_skeleton() {
        assert_eq!(certificate_spki(&skeleton(&SPKI)), Some(&SPKI[..]));
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        let cert = skeleton(&SPKI);
        assert_eq!(certificate_spki(&cert[..cert.len() - 1]), None, "truncated");
        let mut trailing = cert;
        trailing.push(0);
        assert_eq!(certificate_spki(&trailing), None, "trailing byte");
        assert_eq!(certificate_spki(&[]), None);
        assert_eq!(
            certificate_spki(&[0x30, 0x80, 0x00, 0x00]),
            None,
            "indefinite length"
        );
        assert_eq!(
            certificate_spki(&[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
            None,
            "nine length bytes"
        );
    }

    #[test]
    fn spki_shape() {
        assert!(is_spki(&SPKI));
        assert!(!is_spki(&SPKI[..8]));
        assert!(!is_spki(&[0x30, 0x00]));
    }
}
