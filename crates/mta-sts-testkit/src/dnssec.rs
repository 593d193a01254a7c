use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::io;
use std::iter::successors;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_server::Server;
use hickory_server::dnssec::NxProofKind;
use hickory_server::net::runtime::Time;
use hickory_server::proto::dnssec::crypto::EcdsaSigningKey;
use hickory_server::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_server::proto::dnssec::{
    Algorithm, DigestType, DnssecSigner, PublicKeyBuf, SigningKey, TBS, TrustAnchors,
};
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TLSA, TXT};
use hickory_server::proto::rr::{
    DNSClass, LowerName, Name, RData, Record, RecordSet, RecordType, SerialNumber,
};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, LookupOptions, MessageResponseBuilder, ZoneHandler, ZoneType,
};
use rustls::pki_types::PrivatePkcs8KeyDer;

use crate::dns::{bind_udp_and_tcp, fqdn, header};
use crate::{DnsBehavior, lock, name_key};

/// TTL of every record unless [`SignedDnsBuilder::ttl`] says otherwise.
const DEFAULT_TTL: u32 = 60;
/// Zones visited while following one CNAME chain; more than any test needs, and it stops loops.
const MAX_CHAIN: usize = 8;
/// How long an idle TCP client may keep its connection.
const TCP_IDLE: Duration = Duration::from_secs(5);
/// Validity of fresh signatures: far longer than any test, short enough to look real.
const SIGNATURE_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// How far in the past [`ZoneKind::ExpiredSignatures`] signatures ended.
const EXPIRED_AGO: u32 = 86_400;
/// The name server every zone names at its apex and at its delegations. Resolvers that query
/// only [`SignedDns`] never look it up.
const NS_NAME: &str = "ns.testkit.invalid.";

/// How [`SignedDns`] publishes one zone, and so what a validating resolver concludes about its
/// data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// Signed, and the parent publishes its DS: answers validate as Secure.
    #[default]
    Signed,
    /// Not signed; the parent delegates with NS but no DS and signs an NSEC proving that
    /// (an insecure delegation): answers validate as Insecure.
    Unsigned,
    /// Signed and chained from the parent's DS, but every RRSIG except the DNSKEY set's has a
    /// corrupted signature: answers are Bogus.
    BogusSignatures,
    /// Signed and chained from the parent's DS, but every RRSIG (the DNSKEY set's too) expired a
    /// day ago: answers are Bogus.
    ExpiredSignatures,
}

impl ZoneKind {
    fn is_signed(self) -> bool {
        self != Self::Unsigned
    }
}

/// What a validating resolver concludes about an answer, from the least to the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Validation {
    Secure,
    Insecure,
    Bogus,
}

/// One TLSA record (RFC 6698 §2.1) for [`SignedDns::replace_tlsa`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage: 2 for DANE-TA, 3 for DANE-EE.
    pub usage: u8,
    /// Selector: 0 for the full certificate, 1 for the SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 for the selected data itself, 1 for SHA-256, 2 for SHA-512.
    pub matching: u8,
    /// The certificate association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// A TLSA record from its four fields.
    pub fn new(usage: u8, selector: u8, matching: u8, data: &[u8]) -> Self {
        Self {
            usage,
            selector,
            matching,
            data: data.to_vec(),
        }
    }

    fn rdata(&self) -> RData {
        RData::TLSA(TLSA::new(
            CertUsage::from(self.usage),
            Selector::from(self.selector),
            Matching::from(self.matching),
            self.data.clone(),
        ))
    }
}

/// Configures a [`SignedDns`]: its zones, their records and the TTL, before it starts.
///
/// Names are case-insensitive and may be given with or without the trailing dot. The setters
/// panic on an invalid name or value, which is what a test wants.
#[derive(Clone, Debug)]
pub struct SignedDnsBuilder {
    ttl: u32,
    cname_no_ds_proofs: bool,
    validating_resolver: bool,
    zones: BTreeMap<String, (Name, ZoneKind)>,
    records: Vec<(Name, RData)>,
}

impl Default for SignedDnsBuilder {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            cname_no_ds_proofs: false,
            validating_resolver: false,
            zones: BTreeMap::new(),
            records: Vec::new(),
        }
    }
}

impl SignedDnsBuilder {
    /// The TTL of every record, SOA minimum (negative caching) and signature included. The
    /// default is 60 seconds; 1 or 2 let a test watch answers expire.
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Whether an answer whose CNAME chain leads from a signed zone into a
    /// [`ZoneKind::Unsigned`] one also carries, in its authority section, the parent's signed NSEC
    /// proving that the unsigned zone has no DS, as some recursive resolvers send it. Off by
    /// default: the answer then holds only the chain.
    ///
    /// hickory-resolver 0.26 fails such an answer as bogus, so this option reproduces that
    /// failure for tests of a workaround (see [`SignedDns`]).
    pub fn cname_no_ds_proofs(mut self, on: bool) -> Self {
        self.cname_no_ds_proofs = on;
        self
    }

    /// Whether the server also reports what a validating recursive resolver (unbound, BIND)
    /// concludes, for clients that trust its AD bit instead of validating. Off by default: the
    /// AD bit is never set and bogus zones are served as they are, for clients that validate.
    ///
    /// When on, for a query without the CD bit:
    ///
    /// - an answer, positive or negative, that comes only from [`ZoneKind::Signed`] zones
    ///   (through every zone of a CNAME chain, each with only signed zones above it) has the AD
    ///   bit when the query had the AD or the DO bit (RFC 6840 §5.7);
    /// - an answer that touches a [`ZoneKind::Unsigned`] zone, or a zone below one, has AD clear;
    /// - a query answered from a [`ZoneKind::BogusSignatures`] or [`ZoneKind::ExpiredSignatures`]
    ///   zone, or a zone below one, is answered SERVFAIL, as validating resolvers report bogus
    ///   data (RFC 4035 §5.5).
    ///
    /// A query with CD (checking disabled) gets the data without AD, bogus or not.
    pub fn validating_resolver(mut self, on: bool) -> Self {
        self.validating_resolver = on;
        self
    }

    /// Declares the zone with apex `apex`, published as `kind`.
    ///
    /// Undeclared ancestors of declared zones are created as [`ZoneKind::Signed`] zones, and the
    /// root zone always exists, signed with the key of [`SignedDns::trust_anchor_path`].
    ///
    /// # Panics
    ///
    /// If `apex` is not a valid DNS name, or is the root and `kind` is [`ZoneKind::Unsigned`]
    /// (the root carries the trust anchor).
    pub fn zone(mut self, apex: &str, kind: ZoneKind) -> Self {
        let name = fqdn(apex);
        assert!(
            !(name.is_root() && kind == ZoneKind::Unsigned),
            "the root zone holds the trust anchor and must be signed"
        );
        self.zones.insert(key(&name), (name, kind));
        self
    }

    /// Adds an A record.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn a(self, name: &str, ip: Ipv4Addr) -> Self {
        self.record(name, RData::A(A(ip)))
    }

    /// Adds an AAAA record.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn aaaa(self, name: &str, ip: Ipv6Addr) -> Self {
        self.record(name, RData::AAAA(AAAA(ip)))
    }

    /// Adds one TXT record made of these character-strings (each at most 255 bytes).
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name or a string is longer than 255 bytes.
    pub fn txt(self, name: &str, strings: &[&[u8]]) -> Self {
        if let Some(long) = strings.iter().find(|s| s.len() > 255) {
            panic!("TXT character-string of {} bytes (255 at most)", long.len());
        }
        self.record(name, RData::TXT(TXT::from_bytes(strings.to_vec())))
    }

    /// Adds a CNAME record pointing at `target`, which may be in any zone.
    ///
    /// # Panics
    ///
    /// If `name` or `target` is not a valid DNS name.
    pub fn cname(self, name: &str, target: &str) -> Self {
        self.record(name, RData::CNAME(CNAME(fqdn(target))))
    }

    /// Adds an MX record.
    ///
    /// # Panics
    ///
    /// If `name` or `exchange` is not a valid DNS name.
    pub fn mx(self, name: &str, preference: u16, exchange: &str) -> Self {
        self.record(name, RData::MX(MX::new(preference, fqdn(exchange))))
    }

    /// Adds a TLSA record (RFC 6698), such as `3 1 1 <SHA-256 of the SPKI>` at
    /// `_25._tcp.mx.example.com`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn tlsa(self, name: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> Self {
        self.record(name, Tlsa::new(usage, selector, matching, data).rdata())
    }

    /// Generates the zone keys, signs every zone, binds UDP and TCP on `127.0.0.1` with one
    /// random port, writes the trust anchor file and starts serving.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start(self) -> io::Result<SignedDns> {
        let model = Model::new(self)?;
        let handlers = model.build_all()?;
        let anchor_text = model.trust_anchor_text()?;
        let anchor = TrustAnchors::from_str(&anchor_text).map_err(io::Error::other)?;
        let anchor_path = write_anchor(&anchor_text)?;
        let (udp, tcp) = bind_udp_and_tcp().await?;
        let addr = udp.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            model,
            handlers,
            behaviors: HashMap::new(),
            queries: HashMap::new(),
        }));
        let mut server = Server::new(Handler {
            state: Arc::clone(&state),
        });
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE, 64);
        Ok(SignedDns {
            addr,
            anchor_path,
            anchor_text,
            anchor: Arc::new(anchor),
            state,
            _server: server,
        })
    }

    fn record(mut self, name: &str, rdata: RData) -> Self {
        self.records.push((fqdn(name), rdata));
        self
    }
}

/// An in-process DNS server on `127.0.0.1` that serves DNSSEC-signed zones to a validating stub
/// resolver, chained from a trust anchor generated at start.
///
/// It answers every query, recursion desired or not, the way a validating recursive resolver that
/// knows every zone would: from the zone that owns the query name (the deepest zone apex at or
/// above it), except that a DS query for a zone apex is answered from the parent zone, where DS
/// records live. A CNAME whose target lies in another zone is followed there, and the answer
/// carries the whole chain. When the query has the DO bit, answers carry their RRSIGs and
/// negative answers carry the owning zone's SOA and NSEC records (with RRSIGs) in the authority
/// section. Keys are ECDSA P-256 (algorithm 13), one per zone, used as both KSK and ZSK; DS
/// records use SHA-256.
///
/// With [`SignedDnsBuilder::validating_resolver`] it also sets the AD bit on secure answers and
/// answers SERVFAIL for bogus ones, like a validating recursive resolver, for clients that trust
/// the AD bit instead of validating.
///
/// Point a resolver at [`addr`](Self::addr) and give it [`trust_anchor`](Self::trust_anchor) (or
/// the file [`trust_anchor_path`](Self::trust_anchor_path)). With hickory-resolver 0.26 and
/// validation on, what it sees depends on the owning zone's [`ZoneKind`]:
///
/// - [`ZoneKind::Signed`]: the records, each with `proof` `Secure`.
/// - [`ZoneKind::Unsigned`]: the records, each with `proof` `Insecure` (not an error).
/// - [`ZoneKind::BogusSignatures`] and [`ZoneKind::ExpiredSignatures`]: the error
///   `NetError::Dns(DnsError::DnssecBogus)` ("DNSSEC validation failed"), for data and denials
///   alike.
///
/// Give hickory the anchor with `ResolverBuilder::with_trust_anchor`: in 0.26 the stub resolver
/// does not read `ResolverOpts::trust_anchor` (that path only turns validation on, with IANA's
/// root keys), so with the path alone every answer here is bogus.
///
/// # Secure and insecure negative answers
///
/// NXDOMAIN and NODATA reach a hickory caller as `NetError::Dns(DnsError::NoRecordsFound(no))`
/// in both a signed and an unsigned zone. What tells them apart is `no.authorities`: in a
/// [`ZoneKind::Signed`] zone it holds the SOA and the NSEC records that prove the denial, each
/// with `proof` `Secure`; in a [`ZoneKind::Unsigned`] zone it holds only the SOA, with `proof`
/// `Insecure`. A caller that must act only on authenticated denials (DANE: "no TLSA records"
/// only counts when secure) should require at least one authority record and every one of them
/// `Secure`. A denial that fails validation is not `NoRecordsFound` but `DnssecBogus`.
///
/// # CNAMEs into unsigned zones
///
/// An answer through a secure CNAME into a [`ZoneKind::Unsigned`] zone validates as a `Secure`
/// CNAME followed by `Insecure` data. With [`SignedDnsBuilder::cname_no_ds_proofs`] the answer
/// also carries the parent's no-DS NSEC, and hickory 0.26 then fails it as `DnssecBogus`; asking
/// for the CNAME and then for the data at its target, one query each, avoids that.
///
/// Every method takes `&self`, so behaviours and records can change while clients are querying.
/// Dropping the server stops it and removes the trust anchor file.
pub struct SignedDns {
    addr: SocketAddr,
    anchor_path: PathBuf,
    anchor_text: String,
    anchor: Arc<TrustAnchors>,
    state: Arc<Mutex<State>>,
    _server: Server<Handler>,
}

impl fmt::Debug for SignedDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedDns")
            .field("addr", &self.addr)
            .field("anchor_path", &self.anchor_path)
            .field("zones", &lock(&self.state).model.zones.keys())
            .finish_non_exhaustive()
    }
}

impl Drop for SignedDns {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.anchor_path);
    }
}

impl SignedDns {
    /// A builder with no zones but the root, no records and a TTL of 60 seconds.
    pub fn builder() -> SignedDnsBuilder {
        SignedDnsBuilder::default()
    }

    /// The address to query, the same for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A file holding the root zone's DNSKEY record in zone-file syntax, like
    /// `/usr/share/dns/root.key`: what `TrustAnchors::from_file` and hickory-resolver's
    /// `ResolverOpts::trust_anchor` read.
    pub fn trust_anchor_path(&self) -> &Path {
        &self.anchor_path
    }

    /// The contents of [`trust_anchor_path`](Self::trust_anchor_path).
    pub fn trust_anchor_text(&self) -> &str {
        &self.anchor_text
    }

    /// The root key as hickory wants it, for `ResolverBuilder::with_trust_anchor`.
    pub fn trust_anchor(&self) -> Arc<TrustAnchors> {
        Arc::clone(&self.anchor)
    }

    /// Sets how queries for `name` (any type) are handled from now on.
    ///
    /// The behaviour applies when `name` is the query name, including the resolver's own DS,
    /// DNSKEY and NS queries while validating, but not when `name` is reached through a CNAME.
    /// [`DnsBehavior::Answer`] restores normal answers.
    pub fn set_behavior(&self, name: &str, behavior: DnsBehavior) {
        lock(&self.state).behaviors.insert(name_key(name), behavior);
    }

    /// How many queries have arrived for `name`, of any type and over either transport,
    /// validation queries included.
    pub fn query_count(&self, name: &str) -> usize {
        lock(&self.state)
            .queries
            .get(&name_key(name))
            .copied()
            .unwrap_or(0)
    }

    /// Replaces the TLSA records at `name` (none: remove them) and re-signs the owning zone.
    ///
    /// Resolvers that cached the old answer keep it until its TTL runs out.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn replace_tlsa(&self, name: &str, records: &[Tlsa]) {
        let rdatas = records.iter().map(Tlsa::rdata).collect();
        self.replace(name, RecordType::TLSA, rdatas);
    }

    /// Replaces the MX records at `name` with these `(preference, exchange)` pairs (none: remove
    /// them) and re-signs the owning zone.
    ///
    /// # Panics
    ///
    /// If `name` or an exchange is not a valid DNS name.
    pub fn replace_mx(&self, name: &str, records: &[(u16, &str)]) {
        let rdatas = records
            .iter()
            .map(|(preference, exchange)| RData::MX(MX::new(*preference, fqdn(exchange))))
            .collect();
        self.replace(name, RecordType::MX, rdatas);
    }

    /// Replaces the A records at `name` (none: remove them) and re-signs the owning zone.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid DNS name.
    pub fn replace_a(&self, name: &str, records: &[Ipv4Addr]) {
        let rdatas = records.iter().map(|ip| RData::A(A(*ip))).collect();
        self.replace(name, RecordType::A, rdatas);
    }

    fn replace(&self, name: &str, rtype: RecordType, rdatas: Vec<RData>) {
        let owner = fqdn(name);
        let mut state = lock(&self.state);
        let state = &mut *state;
        state
            .model
            .records
            .retain(|(n, r)| !(n == &owner && r.record_type() == rtype));
        state
            .model
            .records
            .extend(rdatas.into_iter().map(|r| (owner.clone(), r)));
        let Some(apex) = state.model.owner_zone(&owner).map(|z| z.apex.clone()) else {
            return;
        };
        // Only the owning zone changes: its key, and so the DS above it, stay the same.
        let zone = state
            .model
            .build_zone(&apex)
            .unwrap_or_else(|e| panic!("re-signing zone {apex}: {e}"));
        state.handlers.insert(key(&apex), Arc::new(zone));
    }
}

/// The map key of a zone or record owner.
fn key(name: &Name) -> String {
    name_key(&name.to_ascii())
}

/// `name`, its parent, and so on up to the root.
fn ancestors(name: &Name) -> impl Iterator<Item = Name> {
    successors(Some(name.clone()), |n| {
        (!n.is_root()).then(|| n.base_name())
    })
}

/// Seconds since the Unix epoch, as DNSSEC signature times count them (mod 2^32).
fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // RFC 4034 §3.1.5: serial number arithmetic, so the truncation is the format.
    secs as u32
}

fn write_anchor(text: &str) -> io::Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "mta-sts-testkit-root-{}-{n}.key",
        std::process::id()
    ));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// One zone: where it is, how it is published, and its key.
struct ZoneSpec {
    apex: Name,
    kind: ZoneKind,
    key: PrivatePkcs8KeyDer<'static>,
}

impl ZoneSpec {
    fn signing_key(&self) -> io::Result<EcdsaSigningKey> {
        EcdsaSigningKey::from_pkcs8(&self.key, Algorithm::ECDSAP256SHA256).map_err(io::Error::other)
    }

    fn public_key(&self) -> io::Result<PublicKeyBuf> {
        self.signing_key()?
            .to_public_key()
            .map_err(io::Error::other)
    }

    fn signer(&self) -> io::Result<DnssecSigner> {
        let dnskey = DNSKEY::from_key(&self.public_key()?);
        Ok(DnssecSigner::new(
            dnskey,
            Box::new(self.signing_key()?),
            self.apex.clone(),
            SIGNATURE_VALIDITY,
        ))
    }
}

/// Everything the zones are built from; kept so a zone can be rebuilt after a change.
struct Model {
    ttl: u32,
    cname_no_ds_proofs: bool,
    validating_resolver: bool,
    zones: BTreeMap<String, ZoneSpec>,
    records: Vec<(Name, RData)>,
}

impl Model {
    fn new(builder: SignedDnsBuilder) -> io::Result<Self> {
        let mut kinds = builder.zones;
        let declared: Vec<Name> = kinds.values().map(|(apex, _)| apex.clone()).collect();
        for apex in declared.iter().flat_map(ancestors) {
            kinds.entry(key(&apex)).or_insert((apex, ZoneKind::Signed));
        }
        kinds
            .entry(String::new())
            .or_insert((Name::root(), ZoneKind::Signed));
        let mut zones = BTreeMap::new();
        for (k, (apex, kind)) in kinds {
            let key = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256)
                .map_err(io::Error::other)?;
            zones.insert(k, ZoneSpec { apex, kind, key });
        }
        Ok(Self {
            ttl: builder.ttl,
            cname_no_ds_proofs: builder.cname_no_ds_proofs,
            validating_resolver: builder.validating_resolver,
            zones,
            records: builder.records,
        })
    }

    /// The zone holding `name`'s data: the deepest apex at or above it.
    fn owner_zone(&self, name: &Name) -> Option<&ZoneSpec> {
        ancestors(name).find_map(|n| self.zones.get(&key(&n)))
    }

    /// The zone above the cut at `apex`: the deepest apex strictly above it.
    fn parent_zone(&self, apex: &Name) -> Option<&ZoneSpec> {
        ancestors(apex)
            .skip(1)
            .find_map(|n| self.zones.get(&key(&n)))
    }

    /// The zone that answers `qtype` at `name`: DS at a zone apex lives in the parent.
    fn serving_zone(&self, name: &Name, qtype: RecordType) -> Option<&ZoneSpec> {
        let is_cut = !name.is_root() && self.zones.contains_key(&key(name));
        if qtype == RecordType::DS && is_cut {
            self.parent_zone(name)
        } else {
            self.owner_zone(name)
        }
    }

    /// What a validator concludes about `qtype` at `name`: from the root down, the first zone on
    /// the way that is not [`ZoneKind::Signed`] decides (below an insecure cut nothing is
    /// validated, below a bogus one nothing validates).
    fn validation(&self, name: &Name, qtype: RecordType) -> Validation {
        let Some(zone) = self.serving_zone(name, qtype) else {
            return Validation::Bogus;
        };
        let mut path: Vec<ZoneKind> = ancestors(&zone.apex)
            .filter_map(|n| self.zones.get(&key(&n)).map(|z| z.kind))
            .collect();
        path.reverse();
        match path.into_iter().find(|kind| *kind != ZoneKind::Signed) {
            None | Some(ZoneKind::Signed) => Validation::Secure,
            Some(ZoneKind::Unsigned) => Validation::Insecure,
            Some(ZoneKind::BogusSignatures | ZoneKind::ExpiredSignatures) => Validation::Bogus,
        }
    }

    fn trust_anchor_text(&self) -> io::Result<String> {
        let root = self
            .zones
            .get("")
            .ok_or_else(|| io::Error::other("no root zone"))?;
        let dnskey = DNSKEY::from_key(&root.public_key()?);
        Ok(format!(". {} IN DNSKEY {dnskey}\n", self.ttl))
    }

    fn build_all(&self) -> io::Result<HashMap<String, Arc<InMemoryZoneHandler>>> {
        self.zones
            .iter()
            .map(|(k, z)| Ok((k.clone(), Arc::new(self.build_zone(&z.apex)?))))
            .collect()
    }

    /// The zone at `apex` with its records and delegations, signed as its kind says.
    fn build_zone(&self, apex: &Name) -> io::Result<InMemoryZoneHandler> {
        let spec = self
            .zones
            .get(&key(apex))
            .ok_or_else(|| io::Error::other(format!("no zone {apex}")))?;
        let proofs = spec.kind.is_signed().then_some(NxProofKind::Nsec);
        let mut zone =
            InMemoryZoneHandler::empty(apex.clone(), ZoneType::Primary, AxfrPolicy::Deny, proofs);
        for record in self.zone_records(spec)? {
            if !zone.upsert_mut(record, 1) {
                return Err(io::Error::other(format!("record rejected in zone {apex}")));
            }
        }
        if spec.kind.is_signed() {
            zone.add_zone_signing_key_mut(spec.signer()?)
                .map_err(io::Error::other)?;
            zone.secure_zone_mut().map_err(io::Error::other)?;
            spoil_signatures(&mut zone, spec)?;
        }
        Ok(zone)
    }

    /// SOA and NS at the apex, the records the zone owns, and NS (plus DS for signed children)
    /// at each delegation.
    fn zone_records(&self, spec: &ZoneSpec) -> io::Result<Vec<Record>> {
        let apex = &spec.apex;
        let ns = fqdn(NS_NAME);
        let soa = SOA::new(
            ns.clone(),
            fqdn("hostmaster.testkit.invalid."),
            1,
            3600,
            600,
            86_400,
            self.ttl,
        );
        let mut rdatas = vec![
            (apex.clone(), RData::SOA(soa)),
            (apex.clone(), RData::NS(NS(ns.clone()))),
        ];
        rdatas.extend(
            self.records
                .iter()
                .filter(|(owner, _)| self.owner_zone(owner).is_some_and(|z| &z.apex == apex))
                .cloned(),
        );
        for child in self.children(apex) {
            rdatas.push((child.apex.clone(), RData::NS(NS(ns.clone()))));
            if child.kind.is_signed() {
                let ds = DS::from_key(&child.public_key()?, &child.apex, DigestType::SHA256)
                    .map_err(io::Error::other)?;
                rdatas.push((child.apex.clone(), RData::DNSSEC(DNSSECRData::DS(ds))));
            }
        }
        Ok(rdatas
            .into_iter()
            .map(|(owner, rdata)| Record::from_rdata(owner, self.ttl, rdata))
            .collect())
    }

    fn children<'a>(&'a self, apex: &'a Name) -> impl Iterator<Item = &'a ZoneSpec> {
        self.zones.values().filter(move |z| {
            !z.apex.is_root() && self.parent_zone(&z.apex).is_some_and(|p| &p.apex == apex)
        })
    }
}

/// Makes the signatures of a [`ZoneKind::BogusSignatures`] or [`ZoneKind::ExpiredSignatures`]
/// zone fail validation; leaves other zones alone.
fn spoil_signatures(zone: &mut InMemoryZoneHandler, spec: &ZoneSpec) -> io::Result<()> {
    let spoil: fn(&RecordSet, &RRSIG, &DnssecSigner) -> io::Result<RRSIG> = match spec.kind {
        ZoneKind::Signed | ZoneKind::Unsigned => return Ok(()),
        ZoneKind::BogusSignatures => corrupt,
        ZoneKind::ExpiredSignatures => expire,
    };
    let signer = spec.signer()?;
    for rrset in zone.records_get_mut().values_mut() {
        // The DNSKEY set stays valid for bogus zones, so the failure is in the data, not the keys.
        if spec.kind == ZoneKind::BogusSignatures && rrset.record_type() == RecordType::DNSKEY {
            continue;
        }
        let rrset = Arc::make_mut(rrset);
        let spoiled = rrset
            .rrsigs()
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some((r, sig)),
                _ => None,
            })
            .map(|(r, sig)| {
                let data = RData::DNSSEC(DNSSECRData::RRSIG(spoil(rrset, sig, &signer)?));
                Ok(Record::from_rdata(r.name.clone(), r.ttl, data))
            })
            .collect::<io::Result<Vec<_>>>()?;
        rrset.clear_rrsigs();
        for rrsig in spoiled {
            rrset.insert_rrsig(rrsig);
        }
    }
    Ok(())
}

/// The same RRSIG with one bit of its signature flipped.
fn corrupt(_: &RecordSet, sig: &RRSIG, _: &DnssecSigner) -> io::Result<RRSIG> {
    let mut bytes = sig.sig().to_vec();
    if let Some(first) = bytes.first_mut() {
        *first ^= 0x01;
    }
    Ok(RRSIG::from_sig(sig.input().clone(), bytes))
}

/// A correct signature over `rrset` whose validity ended [`EXPIRED_AGO`] seconds ago.
fn expire(rrset: &RecordSet, sig: &RRSIG, signer: &DnssecSigner) -> io::Result<RRSIG> {
    let now = unix_now();
    let mut input = sig.input().clone();
    input.sig_inception = SerialNumber::new(now.wrapping_sub(8 * EXPIRED_AGO));
    input.sig_expiration = SerialNumber::new(now.wrapping_sub(EXPIRED_AGO));
    let tbs = TBS::from_input(
        rrset.name(),
        DNSClass::IN,
        &input,
        rrset.records_without_rrsigs(),
    )
    .map_err(io::Error::other)?;
    let bytes = signer.sign(&tbs).map_err(io::Error::other)?;
    Ok(RRSIG::from_sig(input, bytes))
}

/// Everything the server task and the test share.
struct State {
    model: Model,
    handlers: HashMap<String, Arc<InMemoryZoneHandler>>,
    behaviors: HashMap<String, DnsBehavior>,
    queries: HashMap<String, usize>,
}

impl State {
    /// Counts the query and returns its behaviour.
    fn arrive(&mut self, qname: &Name) -> DnsBehavior {
        let k = key(qname);
        *self.queries.entry(k.clone()).or_default() += 1;
        self.behaviors.get(&k).copied().unwrap_or_default()
    }

    /// When no-DS proofs are on and `name` is served by an unsigned zone: the parent zone and
    /// the unsigned zone's apex.
    fn insecure_cut(
        &self,
        name: &Name,
        qtype: RecordType,
    ) -> Option<(Arc<InMemoryZoneHandler>, Name)> {
        let zone = self.model.serving_zone(name, qtype)?;
        if !self.model.cname_no_ds_proofs || zone.kind.is_signed() {
            return None;
        }
        let parent = self.model.parent_zone(&zone.apex)?;
        let handler = self.handlers.get(&key(&parent.apex))?;
        Some((Arc::clone(handler), zone.apex.clone()))
    }

    fn serving_handler(&self, name: &Name, qtype: RecordType) -> Option<Arc<InMemoryZoneHandler>> {
        let zone = self.model.serving_zone(name, qtype)?;
        self.handlers.get(&key(&zone.apex)).cloned()
    }
}

/// The sections of one answer.
struct Sections {
    code: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    /// The worst validation outcome of the zones the answer came from.
    validation: Validation,
}

/// hickory-server's view of the zones.
struct Handler {
    state: Arc<Mutex<State>>,
}

impl Handler {
    async fn respond<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let mut builder = MessageResponseBuilder::from_message_request(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        // A recursive resolver's answer, not an authoritative one.
        metadata.recursion_available = true;
        let options = LookupOptions::from_edns(request.edns.as_ref());

        let mut sections = match request.request_info() {
            Err(_) => Sections::with_code(ResponseCode::FormErr),
            Ok(_) if request.metadata.op_code != OpCode::Query => {
                Sections::with_code(ResponseCode::NotImp)
            }
            Ok(info) => {
                let query = info.query.original();
                let behavior = lock(&self.state).arrive(query.name());
                match behavior {
                    DnsBehavior::Answer => {
                        self.resolve(query.name(), query.query_type(), options)
                            .await
                    }
                    DnsBehavior::ServFail => Sections::with_code(ResponseCode::ServFail),
                    DnsBehavior::Refused => Sections::with_code(ResponseCode::Refused),
                    DnsBehavior::NoResponse => return ResponseInfo::from(header(metadata)),
                }
            }
        };
        if lock(&self.state).model.validating_resolver && !request.metadata.checking_disabled {
            if sections.validation == Validation::Bogus
                && matches!(
                    sections.code,
                    ResponseCode::NoError | ResponseCode::NXDomain
                )
            {
                sections = Sections::with_code(ResponseCode::ServFail);
            } else if sections.validation == Validation::Secure
                && matches!(
                    sections.code,
                    ResponseCode::NoError | ResponseCode::NXDomain
                )
            {
                metadata.authentic_data = request.metadata.authentic_data || options.dnssec_ok;
            }
        }
        metadata.response_code = sections.code;

        // RFC 6891 §7: answer EDNS with EDNS; RFC 3225 §3: echo the DO bit.
        let edns = request.edns.as_ref().map(|_| {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns.set_dnssec_ok(options.dnssec_ok);
            edns
        });
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let response = builder.build(
            metadata,
            sections.answers.iter(),
            sections.authorities.iter(),
            std::iter::empty(),
            sections.additionals.iter(),
        );
        match handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(header(metadata)),
        }
    }

    /// Answers from the serving zone, following a CNAME chain across zones.
    async fn resolve(&self, qname: &Name, qtype: RecordType, options: LookupOptions) -> Sections {
        let mut sections = Sections::with_code(ResponseCode::NoError);
        let mut name = qname.clone();
        for hop in 0..MAX_CHAIN {
            let (zone, validation) = {
                let state = lock(&self.state);
                let validation = state.model.validation(&name, qtype);
                match state.serving_handler(&name, qtype) {
                    Some(zone) => (zone, validation),
                    None => return Sections::with_code(ResponseCode::ServFail),
                }
            };
            sections.validation = sections.validation.max(validation);
            if hop > 0 && options.dnssec_ok {
                self.prove_insecure_cut(&name, qtype, options, &mut sections)
                    .await;
            }
            let lookup = zone
                .lookup(&LowerName::new(&name), qtype, None, options)
                .await;
            match lookup.map_result() {
                Some(Ok(found)) => {
                    sections.answers.extend(found.iter().cloned());
                    if let Some(adds) = found.additionals() {
                        sections.additionals.extend(adds.cloned());
                    }
                }
                Some(Err(e)) => {
                    sections.code = if e.is_nx_domain() {
                        ResponseCode::NXDomain
                    } else {
                        ResponseCode::NoError
                    };
                    sections.authorities = denial(&zone, &name, sections.code, options).await;
                    return sections;
                }
                None => return Sections::with_code(ResponseCode::ServFail),
            }
            match dangling_target(&sections.answers, qname, qtype) {
                Some(target) => name = target,
                None => return sections,
            }
        }
        sections
    }

    /// With [`SignedDnsBuilder::cname_no_ds_proofs`], adds to the authority section the parent's
    /// NSEC proving that the unsigned zone serving `name` has no DS.
    async fn prove_insecure_cut(
        &self,
        name: &Name,
        qtype: RecordType,
        options: LookupOptions,
        sections: &mut Sections,
    ) {
        let Some((parent, apex)) = lock(&self.state).insecure_cut(name, qtype) else {
            return;
        };
        let proof = nsec_proof(&parent, &[apex], options).await;
        add_unique(&mut sections.authorities, proof.iter());
    }
}

impl Sections {
    fn with_code(code: ResponseCode) -> Self {
        Self {
            code,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            validation: Validation::Secure,
        }
    }
}

/// The authority section of a negative answer: with DO the NSEC proof, and the SOA.
async fn denial(
    zone: &InMemoryZoneHandler,
    name: &Name,
    code: ResponseCode,
    options: LookupOptions,
) -> Vec<Record> {
    let mut records = Vec::new();
    if options.dnssec_ok && zone.nx_proof_kind().is_some() {
        records = nsec_proof(zone, &proven_names(zone, name, code), options).await;
    }
    let soa = zone
        .lookup(zone.origin(), RecordType::SOA, None, options)
        .await;
    if let Some(Ok(soa)) = soa.map_result() {
        add_unique(&mut records, soa.iter());
    }
    records
}

/// For each of `names`, the NSEC RRset of `zone` at or covering it, with its RRSIGs.
async fn nsec_proof(
    zone: &InMemoryZoneHandler,
    names: &[Name],
    options: LookupOptions,
) -> Vec<Record> {
    let zone_records = zone.records().await;
    let nsecs: Vec<&RecordSet> = zone_records
        .values()
        .filter(|set| set.record_type() == RecordType::NSEC)
        .map(|set| &**set)
        .collect();
    let mut records = Vec::new();
    for name in names {
        if let Some(nsec) = nsecs.iter().find(|set| matches_or_covers(set, name)) {
            add_unique(&mut records, options.rrset_with_rrigs(nsec));
        }
    }
    records
}

/// The names whose NSEC records (matching or covering) prove the denial: `name` itself, and for
/// NXDOMAIN the wildcard at every ancestor within the zone, so that whichever is the closest
/// encloser, the absence of its wildcard is proven (RFC 4035 §3.1.3.2). hickory-server's own
/// wildcard proof covers the parent name instead, which is not always the same NSEC.
fn proven_names(zone: &InMemoryZoneHandler, name: &Name, code: ResponseCode) -> Vec<Name> {
    let mut names = vec![name.clone()];
    if code == ResponseCode::NXDomain {
        let apex = Name::from(zone.origin());
        let ancestors = ancestors(name).skip(1).take_while(|n| apex.zone_of(n));
        names.extend(ancestors.filter_map(|n| n.prepend_label("*").ok()));
    }
    names
}

/// Whether the NSEC RRset `set` is at `name` or covers it, the last NSEC of the zone wrapping
/// around to the apex (RFC 4034 §4.1.1). hickory-server's own search misses the wrap when the
/// zone has a single NSEC, whose next name is its own owner.
fn matches_or_covers(set: &RecordSet, name: &Name) -> bool {
    let Some(next) = set.records_without_rrsigs().find_map(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some(nsec.next_domain_name()),
        _ => None,
    }) else {
        return false;
    };
    let owner = set.name();
    owner == name || (owner < name && (name < next || next <= owner))
}

fn add_unique<'a>(records: &mut Vec<Record>, more: impl Iterator<Item = &'a Record>) {
    for record in more {
        if !records.contains(record) {
            records.push(record.clone());
        }
    }
}

/// The target of the CNAME chain starting at `qname` in `answers`, if the chain ends in a CNAME
/// whose target has no `qtype` answer yet: the next name to look up, in another zone.
fn dangling_target(answers: &[Record], qname: &Name, qtype: RecordType) -> Option<Name> {
    if qtype == RecordType::CNAME {
        return None;
    }
    let mut name = qname.clone();
    for _ in 0..=MAX_CHAIN * MAX_CHAIN {
        let mut here = answers.iter().filter(|r| r.name == name).peekable();
        if here.peek().is_none() {
            // Nothing at the end of the chain yet (the query name itself always has records).
            return (&name != qname).then_some(name);
        }
        if here.clone().any(|r| r.record_type() == qtype) {
            return None;
        }
        name = here.find_map(|r| match &r.data {
            RData::CNAME(CNAME(target)) => Some(target.clone()),
            _ => None,
        })?;
    }
    None
}

// The trait is declared with `#[async_trait]`; this is the signature that macro expands to, written
// out so the crate does not need the macro.
impl RequestHandler for Handler {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: 'async_trait + ResponseHandler,
        T: 'async_trait + Time,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.respond(request, response_handle))
    }
}
