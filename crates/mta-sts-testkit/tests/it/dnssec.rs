use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use mta_sts_testkit::{DnsBehavior, SignedDns, Tlsa, ZoneKind, eventually};

const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
const SPKI_SHA256: [u8; 32] = [0xab; 32];

/// A validating stub resolver that asks only `dns` (UDP, then TCP if truncated), trusting its
/// root key, with hickory's cache on or off.
fn validating(dns: &SignedDns, cache: bool) -> TokioResolver {
    let connections = [ProtocolConfig::Udp, ProtocolConfig::Tcp].map(|protocol| {
        let mut connection = ConnectionConfig::new(protocol);
        connection.port = dns.addr().port();
        connection
    });
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        dns.addr().ip(),
        true,
        connections.to_vec(),
    )]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_trust_anchor(dns.trust_anchor());
    let options = builder.options_mut();
    options.validate = true;
    options.timeout = Duration::from_millis(300);
    options.attempts = 0;
    if !cache {
        options.cache_size = 0;
    }
    builder.build().expect("resolver")
}

/// The proofs of the answer records of type `rtype`, which must be there.
fn proofs(lookup: &Lookup, rtype: RecordType) -> Vec<Proof> {
    let proofs: Vec<Proof> = lookup
        .answers()
        .iter()
        .filter(|r| r.record_type() == rtype)
        .map(|r| r.proof)
        .collect();
    assert!(!proofs.is_empty(), "no {rtype} in {:?}", lookup.answers());
    proofs
}

fn no_records(error: &NetError) -> &NoRecords {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(none)) => none,
        other => panic!("expected NoRecordsFound, got {other:?}"),
    }
}

/// What the consumer checks: a denial is authenticated when its authority records are there
/// and all `Secure` (the SOA and the NSEC proof).
fn secure_denial(none: &NoRecords) -> bool {
    none.authorities
        .as_ref()
        .is_some_and(|a| !a.is_empty() && a.iter().all(|r| r.proof == Proof::Secure))
}

/// How hickory-resolver reports a validation failure (its text: "DNSSEC validation failed").
fn is_bogus(error: &NetError) -> bool {
    matches!(error, NetError::Dns(DnsError::DnssecBogus))
}

fn tlsa_data(lookup: &Lookup) -> Vec<Vec<u8>> {
    lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(tlsa) => Some(tlsa.cert_data.clone()),
            _ => None,
        })
        .collect()
}

async fn tlsa(resolver: &TokioResolver, name: &str) -> Result<Lookup, NetError> {
    resolver.lookup(name, RecordType::TLSA).await
}

#[tokio::test]
async fn signed_zone_answers_a_mx_and_tlsa_secure() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .mx("Example.COM.", 10, "mx.example.com")
        .a("mx.example.com", IP)
        .tlsa("_25._tcp.mx.example.com", 3, 1, 1, &SPKI_SHA256)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let mx = resolver.mx_lookup("example.com.").await.unwrap();
    assert_eq!(proofs(&mx, RecordType::MX), [Proof::Secure]);
    let a = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::A), [Proof::Secure]);
    let tlsa = tlsa(&resolver, "_25._tcp.mx.example.com.").await.unwrap();
    assert_eq!(proofs(&tlsa, RecordType::TLSA), [Proof::Secure]);
    assert_eq!(tlsa_data(&tlsa), [SPKI_SHA256.to_vec()]);
    // The validator walked the chain: DS and DNSKEY queries reached the server.
    assert!(dns.query_count("example.com") >= 2);
}

/// hickory-resolver 0.26.3 pitfall: `ResolverOpts::trust_anchor` (a path) only switches
/// validation on; the stub resolver's builder never reads the file and trusts IANA's root keys,
/// so everything under the kit's root is bogus. Read the file with `TrustAnchors::from_file` and
/// pass it to `with_trust_anchor` instead.
#[tokio::test]
async fn the_trust_anchor_file_must_be_loaded_by_the_caller() {
    let dns = SignedDns::builder()
        .a("host.example.org", IP)
        .start()
        .await
        .unwrap();
    let path = dns.trust_anchor_path().to_owned();
    assert!(dns.trust_anchor_text().starts_with(". "));
    assert_eq!(TrustAnchors::from_file(&path).unwrap().len(), 1);

    let mut connection = ConnectionConfig::new(ProtocolConfig::Udp);
    connection.port = dns.addr().port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        dns.addr().ip(),
        true,
        vec![connection],
    )]);
    let builder =
        || TokioResolver::builder_with_config(config.clone(), TokioRuntimeProvider::default());

    let mut by_path = builder();
    by_path.options_mut().trust_anchor = Some(path.clone());
    let error = by_path
        .build()
        .unwrap()
        .lookup("host.example.org.", RecordType::A)
        .await
        .unwrap_err();
    assert!(is_bogus(&error), "{error:?}");

    let anchor = TrustAnchors::from_file(&path).unwrap();
    let a = builder()
        .with_trust_anchor(Arc::new(anchor))
        .build()
        .unwrap()
        .lookup("host.example.org.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::A), [Proof::Secure]);

    drop(dns);
    assert!(!path.exists(), "the trust anchor file outlived the server");
}

#[tokio::test]
async fn tlsa_nxdomain_and_nodata_are_secure_denials() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .a("mx.example.com", IP)
        .txt("_25._tcp.nodata.example.com", &[b"not a TLSA record"])
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let nxdomain = tlsa(&resolver, "_25._tcp.mx.example.com.")
        .await
        .unwrap_err();
    let none = no_records(&nxdomain);
    assert_eq!(none.response_code, ResponseCode::NXDomain);
    assert!(secure_denial(none), "{none:?}");

    let nodata = tlsa(&resolver, "_25._tcp.nodata.example.com.")
        .await
        .unwrap_err();
    let none = no_records(&nodata);
    assert_eq!(none.response_code, ResponseCode::NoError);
    assert!(secure_denial(none), "{none:?}");
}

#[tokio::test]
async fn implicit_mx_is_a_secure_nodata() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .a("example.com", IP)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let error = resolver.mx_lookup("example.com.").await.unwrap_err();
    let none = no_records(&error);
    assert_eq!(none.response_code, ResponseCode::NoError);
    assert!(secure_denial(none), "{none:?}");
    let a = resolver
        .lookup("example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::A), [Proof::Secure]);
}

#[tokio::test]
async fn unsigned_zone_answers_insecure_and_its_denials_are_insecure() {
    let dns = SignedDns::builder()
        .zone("example.net", ZoneKind::Unsigned)
        .mx("example.net", 10, "mx.example.net")
        .a("mx.example.net", IP)
        .tlsa("_25._tcp.mx.example.net", 3, 1, 1, &SPKI_SHA256)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let mx = resolver.mx_lookup("example.net.").await.unwrap();
    assert_eq!(proofs(&mx, RecordType::MX), [Proof::Insecure]);
    let tlsa_lookup = tlsa(&resolver, "_25._tcp.mx.example.net.").await.unwrap();
    assert_eq!(proofs(&tlsa_lookup, RecordType::TLSA), [Proof::Insecure]);

    let error = tlsa(&resolver, "_25._tcp.other.example.net.")
        .await
        .unwrap_err();
    let none = no_records(&error);
    assert_eq!(none.response_code, ResponseCode::NXDomain);
    assert!(!secure_denial(none), "{none:?}");
}

#[tokio::test]
async fn bogus_and_expired_signatures_fail_validation() {
    let dns = SignedDns::builder()
        .zone("bogus.example", ZoneKind::BogusSignatures)
        .zone("expired.example", ZoneKind::ExpiredSignatures)
        .a("mx.bogus.example", IP)
        .a("mx.expired.example", IP)
        .tlsa("_25._tcp.mx.bogus.example", 3, 1, 1, &SPKI_SHA256)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    for name in ["mx.bogus.example.", "mx.expired.example."] {
        let error = resolver.lookup(name, RecordType::A).await.unwrap_err();
        assert!(is_bogus(&error), "{name}: {error:?}");
    }
    let error = tlsa(&resolver, "_25._tcp.mx.bogus.example.")
        .await
        .unwrap_err();
    assert!(is_bogus(&error), "{error:?}");
    // A denial in a bogus zone is not a usable "no records" either.
    let error = tlsa(&resolver, "_25._tcp.mx.expired.example.")
        .await
        .unwrap_err();
    assert!(is_bogus(&error), "{error:?}");
}

#[tokio::test]
async fn servfail_and_no_response_behaviours() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .a("mx.example.com", IP)
        .a("mx2.example.com", IP)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    dns.set_behavior("mx.example.com", DnsBehavior::ServFail);
    let error = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail))
        ),
        "{error:?}"
    );

    dns.set_behavior("mx2.example.com", DnsBehavior::NoResponse);
    let error = resolver
        .lookup("mx2.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::Timeout), "{error:?}");

    dns.set_behavior("mx.example.com", DnsBehavior::Answer);
    let a = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::A), [Proof::Secure]);
}

#[tokio::test]
async fn mx_exchange_cname_into_another_signed_zone_is_secure() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .zone("example.org", ZoneKind::Signed)
        .mx("example.com", 10, "mx.example.com")
        .cname("mx.example.com", "smtp.example.org")
        .a("smtp.example.org", IP)
        .tlsa("_25._tcp.smtp.example.org", 3, 1, 1, &SPKI_SHA256)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let mx = resolver.mx_lookup("example.com.").await.unwrap();
    assert_eq!(proofs(&mx, RecordType::MX), [Proof::Secure]);
    let a = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::CNAME), [Proof::Secure]);
    assert_eq!(proofs(&a, RecordType::A), [Proof::Secure]);
    let tlsa = tlsa(&resolver, "_25._tcp.smtp.example.org.").await.unwrap();
    assert_eq!(proofs(&tlsa, RecordType::TLSA), [Proof::Secure]);
}

#[tokio::test]
async fn replaced_tlsa_is_seen_once_the_ttl_has_run_out() {
    let dns = SignedDns::builder()
        .ttl(1)
        .zone("example.com", ZoneKind::Signed)
        .tlsa("_25._tcp.mx.example.com", 3, 1, 1, &SPKI_SHA256)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, true);
    let name = "_25._tcp.mx.example.com.";

    let first = tlsa(&resolver, name).await.unwrap();
    assert_eq!(tlsa_data(&first), [SPKI_SHA256.to_vec()]);
    assert!(first.answers().iter().all(|r| r.ttl <= 1));

    let new = [0xcd; 32];
    dns.replace_tlsa(name, &[Tlsa::new(3, 1, 1, &new)]);
    let changed = eventually(Duration::from_secs(5), || async {
        let lookup = tlsa(&resolver, name).await.ok()?;
        (tlsa_data(&lookup) == [new.to_vec()]).then_some(lookup)
    })
    .await
    .expect("the new TLSA record after the TTL");
    assert_eq!(proofs(&changed, RecordType::TLSA), [Proof::Secure]);

    dns.replace_tlsa(name, &[]);
    let removed = eventually(Duration::from_secs(5), || async {
        match tlsa(&resolver, name).await {
            Err(NetError::Dns(DnsError::NoRecordsFound(none))) => {
                secure_denial(&none).then_some(())
            }
            _ => None,
        }
    })
    .await;
    assert!(
        removed.is_some(),
        "no secure denial after removing the TLSA"
    );
}

/// A signed zone whose CNAMEs lead into an unsigned one: `mx.example.com` and its TLSA name alias
/// names in `example.net`, an insecure delegation.
fn cname_into_unsigned() -> mta_sts_testkit::SignedDnsBuilder {
    SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .zone("example.net", ZoneKind::Unsigned)
        .mx("example.com", 10, "mx.example.com")
        .cname("mx.example.com", "mx.example.net")
        .cname("_25._tcp.mx.example.com", "_25._tcp.mx.example.net")
        .a("mx.example.net", IP)
        .tlsa("_25._tcp.mx.example.net", 3, 1, 1, &SPKI_SHA256)
}

/// Follows CNAMEs one validated query at a time, then asks for `rtype` at the end of the chain:
/// the proofs of the CNAMEs in order, and the final lookup.
async fn resolve_per_step(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
) -> Result<(Vec<Proof>, Lookup), NetError> {
    let mut name: hickory_resolver::proto::rr::Name = name.parse().unwrap();
    let mut chain = Vec::new();
    for _ in 0..8 {
        let cname = match resolver.lookup(name.clone(), RecordType::CNAME).await {
            Ok(lookup) => lookup.answers().iter().find_map(|r| match &r.data {
                RData::CNAME(target) if r.name == name => Some((r.proof, target.0.clone())),
                _ => None,
            }),
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => None,
            Err(e) => return Err(e),
        };
        let Some((proof, target)) = cname else { break };
        chain.push(proof);
        name = target;
    }
    Ok((chain, resolver.lookup(name, rtype).await?))
}

#[tokio::test]
async fn cname_into_unsigned_zone_is_secure_then_insecure() {
    let dns = cname_into_unsigned().start().await.unwrap();
    let resolver = validating(&dns, false);

    let a = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(proofs(&a, RecordType::CNAME), [Proof::Secure]);
    assert_eq!(proofs(&a, RecordType::A), [Proof::Insecure]);
    let tlsa = tlsa(&resolver, "_25._tcp.mx.example.com.").await.unwrap();
    assert_eq!(proofs(&tlsa, RecordType::CNAME), [Proof::Secure]);
    assert_eq!(proofs(&tlsa, RecordType::TLSA), [Proof::Insecure]);
}

/// KNOWN PITFALL of hickory-resolver 0.26.3: when the answer to a query through a secure CNAME
/// into an unsigned zone also carries the parent's signed NSEC proving the unsigned zone has no
/// DS (some recursive resolvers add it), hickory checks that NSEC against the query name, finds
/// it proves nothing about that name, and fails the whole answer: `DnssecBogus`, although the
/// data is merely insecure. The workaround: after a bogus answer, resolve the chain one step at
/// a time (CNAME queries, then the type at the last name); no single answer then crosses the
/// cut, and the steps validate as Secure CNAMEs and Insecure data.
#[tokio::test]
async fn pitfall_cname_into_unsigned_zone_with_no_ds_proof_is_bogus_in_hickory() {
    let dns = cname_into_unsigned()
        .cname_no_ds_proofs(true)
        .start()
        .await
        .unwrap();
    let resolver = validating(&dns, false);

    let error = resolver
        .lookup("mx.example.com.", RecordType::A)
        .await
        .unwrap_err();
    assert!(is_bogus(&error), "{error:?}");
    let error = tlsa(&resolver, "_25._tcp.mx.example.com.")
        .await
        .unwrap_err();
    assert!(is_bogus(&error), "{error:?}");
    // The MX RRset itself is in the signed zone and unaffected.
    let mx = resolver.mx_lookup("example.com.").await.unwrap();
    assert_eq!(proofs(&mx, RecordType::MX), [Proof::Secure]);

    let (chain, a) = resolve_per_step(&resolver, "mx.example.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(chain, [Proof::Secure]);
    assert_eq!(proofs(&a, RecordType::A), [Proof::Insecure]);
    let (chain, tlsa) = resolve_per_step(&resolver, "_25._tcp.mx.example.com.", RecordType::TLSA)
        .await
        .unwrap();
    assert_eq!(chain, [Proof::Secure]);
    assert_eq!(proofs(&tlsa, RecordType::TLSA), [Proof::Insecure]);
}

/// One query to `dns` over UDP with RD and the bits named in `flags` ("ad", "do", "cd", space
/// separated); the raw response, header included.
async fn ask(
    dns: &SignedDns,
    name: &str,
    rtype: RecordType,
    flags: &str,
) -> hickory_resolver::proto::op::DnsResponse {
    use futures_util::StreamExt;
    use hickory_resolver::net::udp::UdpClientStream;
    use hickory_resolver::net::xfer::DnsHandle;
    use hickory_resolver::proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, Query};
    use hickory_resolver::proto::rr::Name;

    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    let flags: Vec<&str> = flags.split_whitespace().collect();
    message.metadata.authentic_data = flags.contains(&"ad");
    message.metadata.checking_disabled = flags.contains(&"cd");
    message
        .queries
        .push(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232)
        .set_dnssec_ok(flags.contains(&"do"));
    message.edns = Some(edns);
    let exchange = UdpClientStream::builder(dns.addr(), TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .exchange();
    let request = DnsRequest::new(message, DnsRequestOptions::default());
    exchange.send(request).next().await.unwrap().unwrap()
}

#[tokio::test]
async fn validating_resolver_sets_ad_on_secure_answers_and_servfails_bogus_ones() {
    let dns = SignedDns::builder()
        .validating_resolver(true)
        .zone("example.com", ZoneKind::Signed)
        .zone("unsigned.example", ZoneKind::Unsigned)
        .zone("bad.example", ZoneKind::BogusSignatures)
        .zone("old.example", ZoneKind::ExpiredSignatures)
        .mx("example.com", 10, "mx.example.com")
        .a("mx.example.com", IP)
        .a("mx.unsigned.example", IP)
        .a("mx.bad.example", IP)
        .a("mx.old.example", IP)
        .cname("alias.example.com", "mx.unsigned.example")
        .start()
        .await
        .unwrap();
    // Signed: AD when asked for with AD or DO, for data and denials alike.
    let r = ask(&dns, "example.com.", RecordType::MX, "ad").await;
    assert!(r.metadata.authentic_data);
    assert_eq!(r.response_code, ResponseCode::NoError);
    let r = ask(&dns, "mx.example.com.", RecordType::A, "do").await;
    assert!(r.metadata.authentic_data);
    let r = ask(&dns, "nowhere.example.com.", RecordType::A, "ad do").await;
    assert_eq!(r.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authentic_data, "a secure NXDOMAIN");
    let r = ask(&dns, "_25._tcp.mx.example.com.", RecordType::TLSA, "ad do").await;
    assert!(r.metadata.authentic_data, "a secure NODATA/NXDOMAIN");
    // Neither AD nor DO in the query: no AD (RFC 6840 §5.7).
    let r = ask(&dns, "mx.example.com.", RecordType::A, "").await;
    assert!(!r.metadata.authentic_data);
    assert_eq!(r.answers.len(), 1);
    // Unsigned, directly or at the end of a secure CNAME: no AD.
    let r = ask(&dns, "mx.unsigned.example.", RecordType::A, "ad do").await;
    assert_eq!(r.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data);
    let r = ask(&dns, "alias.example.com.", RecordType::A, "ad do").await;
    assert!(r.answers.iter().any(|r| r.record_type() == RecordType::A));
    assert!(!r.metadata.authentic_data);
    let r = ask(&dns, "nowhere.unsigned.example.", RecordType::A, "ad do").await;
    assert_eq!(r.response_code, ResponseCode::NXDomain);
    assert!(!r.metadata.authentic_data);
    // Bogus and expired: SERVFAIL, unless checking is disabled.
    for name in ["mx.bad.example.", "mx.old.example.", "nowhere.bad.example."] {
        let r = ask(&dns, name, RecordType::A, "ad do").await;
        assert_eq!(r.response_code, ResponseCode::ServFail, "{name}");
        assert!(r.answers.is_empty());
    }
    let r = ask(&dns, "mx.bad.example.", RecordType::A, "ad do cd").await;
    assert_eq!(r.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data);
}

#[tokio::test]
async fn without_validating_resolver_the_ad_bit_is_never_set() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .zone("bad.example", ZoneKind::BogusSignatures)
        .a("mx.example.com", IP)
        .a("mx.bad.example", IP)
        .start()
        .await
        .unwrap();
    let r = ask(&dns, "mx.example.com.", RecordType::A, "ad do").await;
    assert!(!r.metadata.authentic_data);
    let r = ask(&dns, "mx.bad.example.", RecordType::A, "ad do").await;
    assert_eq!(r.response_code, ResponseCode::NoError, "served as it is");
}
