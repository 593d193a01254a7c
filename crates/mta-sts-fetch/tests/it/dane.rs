//! DANE lookups (DANE-2..5, DANE-8, DANE-9) against DNSSEC-signed zones served on loopback, validated
//! from the test kit's root key.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_fetch::{
    ConfigError, DaneClient, DaneError, DnsClient, DnsError, DnssecTrust, FetchConfig,
};
use mta_sts_resolver::TxtAnswer;
use mta_sts_testkit::{DnsBehavior, SignedDns, SignedDnsBuilder, ZoneKind, eventually};
use smtp_dane::{HostAnswer, MxAnswer, NoDane, Verdict};

const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
const DIGEST: [u8; 32] = [0x5a; 32];

fn client(dns: &SignedDns) -> DaneClient {
    let config = FetchConfig::default()
        .with_nameservers(vec![dns.addr()])
        .with_timeout(Duration::from_secs(2));
    let trust = DnssecTrust::AnchorFile(dns.trust_anchor_path().to_owned());
    DaneClient::new(&config, &trust, 100).unwrap()
}

/// `example.com` with two MX hosts in its own signed zone.
fn two_mx() -> SignedDnsBuilder {
    SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .mx("example.com", 10, "mx1.example.com")
        .mx("example.com", 20, "mx2.example.com")
        .a("mx1.example.com", IP)
        .a("mx2.example.com", IP)
        .tlsa("_25._tcp.mx1.example.com", 3, 1, 1, &DIGEST)
}

/// `example.com` in a zone of `kind`, one MX host with a usable TLSA record.
fn one_mx(kind: ZoneKind) -> SignedDnsBuilder {
    SignedDns::builder()
        .zone("example.com", kind)
        .mx("example.com", 10, "mx1.example.com")
        .a("mx1.example.com", IP)
        .tlsa("_25._tcp.mx1.example.com", 3, 1, 1, &DIGEST)
}

/// `example.com` with a second MX host in an unsigned zone (its TLSA record must be ignored).
fn one_mx_in_an_unsigned_zone() -> SignedDnsBuilder {
    one_mx(ZoneKind::Signed)
        .zone("unsigned.example", ZoneKind::Unsigned)
        .mx("example.com", 20, "mx.unsigned.example")
        .a("mx.unsigned.example", IP)
        .tlsa("_25._tcp.mx.unsigned.example", 3, 1, 1, &DIGEST)
}

/// `implicit.example.com` without MX (its own mail host), and `example.com` whose MX host is an
/// alias into `example.net` (TLSA at the alias's target first, RFC 7672 §2.2.2).
fn implicit_and_aliased_mx() -> SignedDnsBuilder {
    SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .zone("example.net", ZoneKind::Signed)
        .a("implicit.example.com", IP)
        .tlsa("_25._tcp.implicit.example.com", 3, 1, 1, &DIGEST)
        .mx("example.com", 10, "mx.example.com")
        .cname("mx.example.com", "host.example.net")
        .a("host.example.net", IP)
        .tlsa("_25._tcp.host.example.net", 3, 1, 1, &DIGEST)
}

fn hosts(state: &smtp_dane::DaneState) -> Vec<(&str, &HostAnswer)> {
    state
        .hosts()
        .iter()
        .map(|h| (h.host.as_str(), &h.answer))
        .collect()
}

#[tokio::test]
async fn dane_2_every_mx_with_usable_tlsa_is_dane_only() {
    let dns = two_mx()
        .tlsa("_25._tcp.mx2.example.com", 2, 0, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let state = client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    assert_eq!(
        state.mx(),
        &MxAnswer::Secure(vec!["mx1.example.com".into(), "mx2.example.com".into()])
    );
    assert_eq!(state.ttl(), Duration::from_secs(60));
}

#[tokio::test]
async fn dane_2_3_mixed_mx_set_is_dane() {
    // mx2: a validated NXDOMAIN for its TLSA name.
    let dns = two_mx().start().await.unwrap();
    let state = client(&dns).lookup("example.com.").await.unwrap();
    assert_eq!(state.verdict(), Verdict::Dane, "{state}");
    assert!(matches!(
        hosts(&state)[..],
        [
            ("mx1.example.com", HostAnswer::Tlsa(_)),
            ("mx2.example.com", HostAnswer::NoTlsa)
        ]
    ));
    // An MX host in an unsigned zone: no TLSA lookup for it, DANE for the other.
    let dns = one_mx_in_an_unsigned_zone().start().await.unwrap();
    let state = client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::Dane, "{state}");
    assert_eq!(
        hosts(&state)[1],
        ("mx.unsigned.example", &HostAnswer::InsecureAddress)
    );
    assert_eq!(dns.query_count("_25._tcp.mx.unsigned.example"), 0, "DANE-3");
}

#[tokio::test]
async fn dane_3_unsigned_domain_or_no_tlsa_is_no_dane() {
    let dns = SignedDns::builder()
        .zone("unsigned.example", ZoneKind::Unsigned)
        .zone("example.com", ZoneKind::Signed)
        .mx("unsigned.example", 10, "mx1.example.com")
        .a("mx1.example.com", IP)
        .tlsa("_25._tcp.mx1.example.com", 3, 1, 1, &DIGEST)
        .mx("example.com", 10, "mx1.example.com")
        .mx("plain.example.com", 10, "mx2.example.com")
        .a("mx2.example.com", IP)
        .start()
        .await
        .unwrap();
    let client = client(&dns);
    let state = client.lookup("unsigned.example").await.unwrap();
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::InsecureMx));
    assert!(state.hosts().is_empty());
    let state = client.lookup("plain.example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::NoTlsa), "{state}");
    // A signed NXDOMAIN for the domain, and a null MX: no mail host.
    let state = client.lookup("nowhere.example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::NoMailHost));
}

#[tokio::test]
async fn dane_3_null_mx_is_no_mail_host() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::Signed)
        .mx("example.com", 0, ".")
        .start()
        .await
        .unwrap();
    let state = client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::NoMailHost));
}

#[tokio::test]
async fn dane_4_bogus_and_expired_signatures_are_errors() {
    for kind in [ZoneKind::BogusSignatures, ZoneKind::ExpiredSignatures] {
        let dns = one_mx(kind).start().await.unwrap();
        let error = client(&dns).lookup("example.com").await.unwrap_err();
        assert!(
            matches!(error, DaneError::Bogus { .. }),
            "{kind:?}: {error}"
        );
        assert!(error.to_string().contains("DNSSEC validation failed"));
    }
    // Only the MX host's zone is bogus: the domain's DANE state is still unknown.
    let dns = two_mx()
        .zone("bad.example", ZoneKind::BogusSignatures)
        .mx("mixed.example.com", 10, "mx.bad.example")
        .a("mx.bad.example", IP)
        .start()
        .await
        .unwrap();
    let error = client(&dns).lookup("mixed.example.com").await.unwrap_err();
    assert!(matches!(error, DaneError::Bogus { .. }), "{error}");
}

#[tokio::test]
async fn dane_4_servfail_and_silence_are_errors() {
    let dns = two_mx().start().await.unwrap();
    let client = client(&dns);
    dns.set_behavior("_25._tcp.mx1.example.com", DnsBehavior::ServFail);
    let error = client.lookup("example.com").await.unwrap_err();
    assert!(
        matches!(
            error,
            DaneError::Dns(DnsError::Response { .. }) | DaneError::Dns(DnsError::Other { .. })
        ),
        "{error:?}"
    );
    dns.set_behavior("_25._tcp.mx1.example.com", DnsBehavior::NoResponse);
    let error = client.lookup("example.com").await.unwrap_err();
    assert!(
        matches!(error, DaneError::Timeout { .. } | DaneError::Dns(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn dane_5_implicit_mx_and_cnamed_mx_hosts() {
    let dns = implicit_and_aliased_mx().start().await.unwrap();
    let client = client(&dns);
    let state = client.lookup("implicit.example.com").await.unwrap();
    assert_eq!(
        state.mx(),
        &MxAnswer::Implicit("implicit.example.com".into())
    );
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    let state = client.lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    assert_eq!(
        hosts(&state),
        [(
            "mx.example.com",
            &HostAnswer::Tlsa(vec![smtp_dane::Tlsa::new(3, 1, 1, DIGEST.to_vec())])
        )]
    );
}

/// hickory 0.26 calls a secure CNAME into an unsigned zone bogus when the answer carries the
/// no-DS proof; the lookup asks again link by link and finds the host insecure, not an error.
#[tokio::test]
async fn dane_5_cname_into_an_unsigned_zone_with_the_no_ds_proof() {
    let dns = SignedDns::builder()
        .cname_no_ds_proofs(true)
        .zone("example.com", ZoneKind::Signed)
        .zone("unsigned.example", ZoneKind::Unsigned)
        .mx("example.com", 10, "mx1.example.com")
        .mx("example.com", 20, "mx2.example.com")
        .a("mx1.example.com", IP)
        .tlsa("_25._tcp.mx1.example.com", 3, 1, 1, &DIGEST)
        .cname("mx2.example.com", "host.unsigned.example")
        .a("host.unsigned.example", IP)
        .start()
        .await
        .unwrap();
    let state = client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::Dane, "{state}");
    assert_eq!(
        hosts(&state)[1],
        ("mx2.example.com", &HostAnswer::InsecureAddress)
    );
}

#[tokio::test]
async fn dane_9_cached_for_the_ttl_then_looked_up_again() {
    let dns = two_mx()
        .ttl(1)
        .tlsa("_25._tcp.mx2.example.com", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let client = client(&dns);
    let first = client.state("example.com").await.unwrap();
    assert_eq!(first.verdict(), Verdict::DaneOnly);
    assert_eq!(first.ttl(), Duration::from_secs(1));
    // Within the TTL: the same state, without a query.
    let queries = dns.query_count("example.com");
    let again = client.state("example.com").await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(dns.query_count("example.com"), queries);
    assert!(client.cached("example.com").is_some());

    dns.replace_tlsa("_25._tcp.mx2.example.com", &[]);
    let changed = eventually(Duration::from_secs(10), || async {
        let state = client.state("example.com").await.ok()?;
        (state.verdict() == Verdict::Dane).then_some(state)
    })
    .await;
    assert!(
        changed.is_some(),
        "the removed TLSA record is seen once the TTL has passed"
    );
    assert!(dns.query_count("example.com") > queries);
}

#[tokio::test]
async fn dane_9_one_lookup_for_concurrent_callers() {
    let dns = two_mx().start().await.unwrap();
    let client = client(&dns);
    let states = futures_util::future::join_all((0..20).map(|_| client.state("example.com"))).await;
    assert!(
        states
            .iter()
            .all(|s| s.as_ref().unwrap().verdict() == Verdict::Dane)
    );
    assert_eq!(dns.query_count("_25._tcp.mx1.example.com"), 1);
}

/// MTA-STS lookups use their own, non-validating resolver: a broken signature on the domain's
/// zone does not stop the `_mta-sts` TXT lookup (RFC 8461 never asks for DNSSEC).
#[tokio::test]
async fn dane_8_mta_sts_lookups_do_not_depend_on_dnssec() {
    let dns = SignedDns::builder()
        .zone("example.com", ZoneKind::BogusSignatures)
        .txt("_mta-sts.example.com", &[b"v=STSv1; id=1"])
        .start()
        .await
        .unwrap();
    let config = FetchConfig::default().with_nameservers(vec![dns.addr()]);
    let txt = DnsClient::new(&config).unwrap();
    assert_eq!(
        txt.txt("_mta-sts.example.com").await.unwrap(),
        TxtAnswer::Records(vec![vec![b"v=STSv1; id=1".to_vec()]])
    );
    assert!(client(&dns).lookup("example.com").await.is_err());
}

#[test]
fn a_missing_or_empty_trust_anchor_file_is_a_configuration_error() {
    let config = FetchConfig::default().with_nameservers(vec!["127.0.0.1:53".parse().unwrap()]);
    let missing = DnssecTrust::AnchorFile("/nonexistent/root.key".into());
    let error = DaneClient::new(&config, &missing, 10).unwrap_err();
    assert!(matches!(error, ConfigError::TrustAnchor { .. }), "{error}");
    assert!(error.to_string().contains("/nonexistent/root.key"));
    let dir = std::env::temp_dir().join(format!("dane-anchor-{}", std::process::id()));
    std::fs::write(&dir, "; nothing here\n").unwrap();
    let empty = DnssecTrust::AnchorFile(dir.clone());
    let error = DaneClient::new(&config, &empty, 10).unwrap_err();
    let _ = std::fs::remove_file(&dir);
    assert!(error.to_string().contains("no DNSKEY"), "{error}");
}

/// A client that trusts the AD bit of `dns`, started as a validating resolver.
fn ad_client(dns: &SignedDns) -> DaneClient {
    let config = FetchConfig::default()
        .with_nameservers(vec![dns.addr()])
        .with_timeout(Duration::from_secs(2));
    DaneClient::new(&config, &DnssecTrust::LocalResolver, 100).unwrap()
}

/// The state of `domain` through the AD bit, after checking that validating in process comes to
/// the same verdict.
async fn through_ad(dns: &SignedDns, domain: &str) -> smtp_dane::DaneState {
    let validated = client(dns).lookup(domain).await.unwrap();
    let state = ad_client(dns).lookup(domain).await.unwrap();
    assert_eq!(
        state.verdict(),
        validated.verdict(),
        "{state} / {validated}"
    );
    assert_eq!(state.mx(), validated.mx());
    assert_eq!(hosts(&state), hosts(&validated));
    state
}

#[tokio::test]
async fn dane_2_local_resolver_ad_bit_every_mx_with_tlsa_is_dane_only() {
    let dns = two_mx()
        .validating_resolver(true)
        .tlsa("_25._tcp.mx2.example.com", 2, 0, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let state = through_ad(&dns, "example.com").await;
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    assert_eq!(state.ttl(), Duration::from_secs(60));
}

#[tokio::test]
async fn dane_2_3_local_resolver_ad_bit_mixed_mx_set_is_dane() {
    // mx2: a secure NXDOMAIN for its TLSA name (AD on the denial).
    let dns = two_mx().validating_resolver(true).start().await.unwrap();
    let state = through_ad(&dns, "example.com").await;
    assert_eq!(state.verdict(), Verdict::Dane, "{state}");
    assert_eq!(hosts(&state)[1], ("mx2.example.com", &HostAnswer::NoTlsa));
    // An MX host in an unsigned zone: no AD on its address, so no TLSA lookup for it.
    let dns = one_mx_in_an_unsigned_zone()
        .validating_resolver(true)
        .start()
        .await
        .unwrap();
    let state = through_ad(&dns, "example.com").await;
    assert_eq!(state.verdict(), Verdict::Dane, "{state}");
    assert_eq!(
        hosts(&state)[1],
        ("mx.unsigned.example", &HostAnswer::InsecureAddress)
    );
    assert_eq!(dns.query_count("_25._tcp.mx.unsigned.example"), 0, "DANE-3");
}

#[tokio::test]
async fn dane_3_local_resolver_ad_bit_unsigned_domain_is_insecure_mx() {
    let dns = SignedDns::builder()
        .validating_resolver(true)
        .zone("unsigned.example", ZoneKind::Unsigned)
        .zone("example.com", ZoneKind::Signed)
        .mx("unsigned.example", 10, "mx1.example.com")
        .a("mx1.example.com", IP)
        .tlsa("_25._tcp.mx1.example.com", 3, 1, 1, &DIGEST)
        .start()
        .await
        .unwrap();
    let state = through_ad(&dns, "unsigned.example").await;
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::InsecureMx));
    assert!(state.hosts().is_empty());
    // A secure NXDOMAIN for the domain: no mail host.
    let state = through_ad(&dns, "nowhere.example.com").await;
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::NoMailHost));
}

/// A validating resolver answers SERVFAIL for bogus data: an error, never "no DANE", so the
/// daemon answers TEMP.
#[tokio::test]
async fn dane_4_local_resolver_servfail_for_bogus_or_expired_is_an_error() {
    for kind in [ZoneKind::BogusSignatures, ZoneKind::ExpiredSignatures] {
        let dns = one_mx(kind)
            .validating_resolver(true)
            .start()
            .await
            .unwrap();
        let error = ad_client(&dns).lookup("example.com").await.unwrap_err();
        assert!(
            matches!(&error, DaneError::Dns(DnsError::Response { code, .. }) if code.contains("Server Failure")),
            "{kind:?}: {error:?}"
        );
        assert!(client(&dns).lookup("example.com").await.is_err());
    }
    // Only the MX host's zone is bogus: the domain's DANE state is still unknown.
    let dns = two_mx()
        .validating_resolver(true)
        .zone("bad.example", ZoneKind::BogusSignatures)
        .mx("mixed.example.com", 10, "mx.bad.example")
        .a("mx.bad.example", IP)
        .start()
        .await
        .unwrap();
    let error = ad_client(&dns)
        .lookup("mixed.example.com")
        .await
        .unwrap_err();
    assert!(matches!(error, DaneError::Dns(_)), "{error}");
}

#[tokio::test]
async fn dane_5_local_resolver_ad_bit_implicit_mx_and_cnamed_mx_hosts() {
    let dns = implicit_and_aliased_mx()
        .validating_resolver(true)
        .start()
        .await
        .unwrap();
    let state = through_ad(&dns, "implicit.example.com").await;
    assert_eq!(
        state.mx(),
        &MxAnswer::Implicit("implicit.example.com".into())
    );
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    let state = through_ad(&dns, "example.com").await;
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    assert_eq!(
        dns.query_count("_25._tcp.mx.example.com"),
        0,
        "TLSA at the CNAME target first, and it was found"
    );
}

/// The AD bit is not authenticated on the wire: only a resolver on this host may be trusted.
#[test]
fn trusting_the_ad_bit_of_a_remote_resolver_is_refused() {
    for servers in [
        vec!["192.0.2.1:53"],
        vec!["127.0.0.1:53", "192.0.2.1:53"],
        vec!["[2001:db8::1]:53"],
    ] {
        let servers: Vec<_> = servers.iter().map(|s| s.parse().unwrap()).collect();
        let config = FetchConfig::default().with_nameservers(servers);
        let error = DaneClient::new(&config, &DnssecTrust::LocalResolver, 10).unwrap_err();
        assert!(
            matches!(error, ConfigError::AdNotLoopback { .. }),
            "{error}"
        );
        let message = error.to_string();
        for why in ["not a loopback address", "could set it", "RFC 7672"] {
            assert!(message.contains(why), "{message}");
        }
    }
    let error = DaneClient::new(
        &FetchConfig::default().with_nameservers(vec!["192.0.2.1:53".parse().unwrap()]),
        &DnssecTrust::LocalResolver,
        10,
    )
    .unwrap_err();
    assert!(error.to_string().contains("192.0.2.1:53"), "{error}");
    for local in ["127.0.0.1:53", "127.0.0.53:53", "[::1]:5353"] {
        let config = FetchConfig::default().with_nameservers(vec![local.parse().unwrap()]);
        assert!(DaneClient::new(&config, &DnssecTrust::LocalResolver, 10).is_ok());
    }
}

/// A TLSA RRset too large for a UDP answer is asked again over TCP.
#[tokio::test]
async fn dane_2_local_resolver_large_answers_come_over_tcp() {
    let mut builder = two_mx().validating_resolver(true);
    for n in 0..40u8 {
        builder = builder.tlsa("_25._tcp.mx2.example.com", 3, 1, 2, &[n; 64]);
    }
    let dns = builder.start().await.unwrap();
    let state = ad_client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::DaneOnly, "{state}");
    let HostAnswer::Tlsa(records) = hosts(&state)[1].1 else {
        panic!("{state}")
    };
    assert_eq!(records.len(), 40);
}

/// DANE-9: denials (no AAAA, no TLSA) count with the SOA's negative TTL (RFC 2308), not a
/// default: a state built from hour-long answers lasts an hour.
#[tokio::test]
async fn dane_9_denials_last_as_long_as_the_soa_says() {
    let dns = SignedDns::builder()
        .ttl(3600)
        .zone("example.com", ZoneKind::Signed)
        .mx("example.com", 10, "mx1.example.com")
        .a("mx1.example.com", IP)
        .start()
        .await
        .unwrap();
    let state = client(&dns).lookup("example.com").await.unwrap();
    assert_eq!(state.verdict(), Verdict::NoDane(NoDane::NoTlsa));
    assert_eq!(state.ttl(), Duration::from_secs(3600));
}
