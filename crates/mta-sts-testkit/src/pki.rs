use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, date_time_ymd,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// A throwaway root CA, generated at runtime (ECDSA P-256), that signs [`PolicyServer`]
/// certificates.
///
/// Give [`TestCa::cert_pem`] or [`TestCa::cert_der`] to the client under test as an extra trust
/// anchor. Cloning is cheap and yields the same CA.
///
/// [`PolicyServer`]: crate::PolicyServer
#[derive(Clone)]
pub struct TestCa {
    issuer: Arc<CertifiedIssuer<'static, KeyPair>>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// Generates a new root CA with a fresh key.
    pub fn new() -> Self {
        Self::named("mta-sts-testkit root CA")
    }

    /// The root certificate in PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The root certificate in DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    pub(crate) fn named(common_name: &str) -> Self {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, new_key())
            .expect("rcgen signs a fixed CA template");
        Self {
            issuer: Arc::new(issuer),
        }
    }
}

/// Which certificate a [`PolicyServer`] host presents, relative to the [`TestCa`] the client trusts.
///
/// [`PolicyServer`]: crate::PolicyServer
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Signed by the trusted CA, for the host name, currently valid.
    #[default]
    Valid,
    /// Valid and for the host name, but signed by another CA that the client does not trust.
    UnknownCa,
    /// Signed by the trusted CA and currently valid, but for `other.invalid`.
    WrongName,
    /// Signed by the trusted CA for the host name, but valid only during the year 2000.
    Expired,
    /// Signed by the trusted CA for the host name, but valid only from 2100.
    NotYetValid,
    /// Signed by the trusted CA for `*.<parent>`, where `<parent>` is the host name without its
    /// first label (`*.example.com` for `mta-sts.example.com`).
    Wildcard,
    /// A self-signed certificate for the host name.
    SelfSigned,
    /// Signed by the trusted CA for the host name and valid now, but only for 7 more days
    /// (for expiry warnings).
    ExpiresSoon,
}

/// Issues the certificate `kind` for `host`, returned with its key as rustls wants it.
///
/// `foreign` is the untrusted CA that signs [`CertKind::UnknownCa`].
///
/// # Panics
///
/// If `host` is not ASCII, or has a single label and `kind` is [`CertKind::Wildcard`].
pub(crate) fn issue(
    kind: CertKind,
    host: &str,
    trusted: &TestCa,
    foreign: &TestCa,
    provider: &CryptoProvider,
) -> Arc<CertifiedKey> {
    let wildcard;
    let years = |from, to| Some((date_time_ymd(from, 1, 1), date_time_ymd(to, 1, 1)));
    let (name, ca, validity) = match kind {
        CertKind::Valid => (host, Some(trusted), None),
        CertKind::UnknownCa => (host, Some(foreign), None),
        CertKind::WrongName => ("other.invalid", Some(trusted), None),
        CertKind::Expired => (host, Some(trusted), years(2000, 2001)),
        CertKind::NotYetValid => (host, Some(trusted), years(2100, 2101)),
        CertKind::ExpiresSoon => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let not_after = date_time_ymd(1970, 1, 1) + now + Duration::from_secs(7 * 86_400);
            (
                host,
                Some(trusted),
                Some((date_time_ymd(2000, 1, 1), not_after)),
            )
        }
        CertKind::Wildcard => {
            let (_, parent) = host.split_once('.').unwrap_or_else(|| {
                panic!("CertKind::Wildcard needs a host with a parent: {host:?}")
            });
            wildcard = format!("*.{parent}");
            (wildcard.as_str(), Some(trusted), None)
        }
        CertKind::SelfSigned => (host, None, None),
    };

    let mut params = CertificateParams::new(vec![name.to_owned()])
        .unwrap_or_else(|e| panic!("invalid certificate name {name:?}: {e}"));
    params.distinguished_name = common_name_dn(name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if let Some((from, to)) = validity {
        params.not_before = from;
        params.not_after = to;
    }
    let key = new_key();
    let cert = match ca {
        Some(ca) => {
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, &ca.issuer)
        }
        None => params.self_signed(&key),
    }
    .expect("rcgen signs a leaf template");
    // The issuer goes on the wire too, as a server with a DANE-TA(2) record must send it
    // (RFC 7671 §5.2.2); clients that trust the CA are not affected.
    let mut chain = vec![cert.der().clone()];
    chain.extend(ca.map(TestCa::cert_der));

    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .expect("ring loads the P-256 key rcgen made");
    Arc::new(CertifiedKey::new(chain, signing_key))
}

fn new_key() -> KeyPair {
    KeyPair::generate().expect("ring generates a P-256 key")
}

fn common_name_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
