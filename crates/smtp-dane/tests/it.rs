//! The DANE rules against vectors computed outside this crate (with `openssl`: the DER files in
//! `data/` and their digests below).

use std::time::Duration;

use smtp_dane::{
    ChainMatch, DaneState, HostAnswer, HostDane, MxAnswer, NoDane, Tlsa, TlsaParseError, Usability,
    Verdict, chain_match,
};

const LEAF: &[u8] = include_bytes!("data/leaf.der");
const LEAF_SPKI: &[u8] = include_bytes!("data/spki.der");
const RSA_CA: &[u8] = include_bytes!("data/rsa-ca.der");

// `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum` and friends.
const LEAF_SPKI_SHA256: &str = "0a29707abd76ebbf342d424fbde245de61323d1a8ad2e68efb4dcb21420a7170";
const LEAF_SPKI_SHA512: &str = "00468c0d40c61e2a1edd5b6fa43c88fd12db3d1997e5cbeeec4257b17971b48a3594710024334258e00240809d35bb5dfde8c311f562e4db13580526494b165e";
const LEAF_CERT_SHA256: &str = "1260941defcde932f1e4fe5047fa9e96f78ed5e4a5de903e79b8b3d5e7e14ddd";
const LEAF_CERT_SHA512: &str = "ec2603daaab030fb58eaa7fe11182fe4fa96dc7788b3392b106fa6b40523d61e2945e56c64217bf3294ce4cb6ac7d903bda1de09e942fdd19146da3c1b6a1b3a";
const RSA_CA_SPKI_SHA256: &str = "9e07609d84b3a7f0d75d663ad0329b422dffe3b9b575d1d77684b660f2fe6cf3";

fn tlsa(text: &str) -> Tlsa {
    text.parse().unwrap()
}

#[test]
fn dane_1_usable_records() {
    let usable = [
        format!("3 1 1 {LEAF_SPKI_SHA256}"),
        format!("3 0 1 {LEAF_CERT_SHA256}"),
        format!("3 1 2 {LEAF_SPKI_SHA512}"),
        format!("2 0 2 {LEAF_CERT_SHA512}"),
    ];
    for text in &usable {
        assert_eq!(tlsa(text).usability(), Usability::Usable, "{text}");
    }
    let full_cert = Tlsa::new(3, 0, 0, LEAF.to_vec());
    assert_eq!(full_cert.usability(), Usability::Usable);
    let full_key = Tlsa::new(2, 1, 0, LEAF_SPKI.to_vec());
    assert_eq!(full_key.usability(), Usability::Usable);
}

#[test]
fn dane_1_unusable_records_say_why() {
    let cases = [
        (format!("0 1 1 {LEAF_SPKI_SHA256}"), Usability::PkixUsage(0)),
        (format!("1 1 1 {LEAF_SPKI_SHA256}"), Usability::PkixUsage(1)),
        (
            format!("4 1 1 {LEAF_SPKI_SHA256}"),
            Usability::UnknownUsage(4),
        ),
        (
            format!("3 2 1 {LEAF_SPKI_SHA256}"),
            Usability::UnknownSelector(2),
        ),
        (
            format!("3 1 3 {LEAF_SPKI_SHA256}"),
            Usability::UnknownMatching(3),
        ),
        (
            format!("3 1 2 {LEAF_SPKI_SHA256}"),
            Usability::DigestLength {
                matching: 2,
                expected: 64,
                found: 32,
            },
        ),
        (
            "3 1 1 abcd".to_owned(),
            Usability::DigestLength {
                matching: 1,
                expected: 32,
                found: 2,
            },
        ),
        ("3 0 0 3000".to_owned(), Usability::MalformedData),
    ];
    for (text, expected) in cases {
        assert_eq!(tlsa(&text).usability(), expected, "{text}");
        assert!(!expected.to_string().is_empty());
    }
    // A key where a certificate belongs, and the other way round.
    assert_eq!(
        Tlsa::new(3, 0, 0, LEAF_SPKI.to_vec()).usability(),
        Usability::MalformedData
    );
    assert_eq!(
        Tlsa::new(3, 1, 0, LEAF.to_vec()).usability(),
        Usability::MalformedData
    );
}

#[test]
fn dane_6_leaf_records_match_the_leaf_only() {
    for text in [
        format!("3 1 1 {LEAF_SPKI_SHA256}"),
        format!("3 0 1 {LEAF_CERT_SHA256}"),
        format!("3 1 2 {LEAF_SPKI_SHA512}"),
        format!("3 0 2 {LEAF_CERT_SHA512}"),
    ] {
        let record = tlsa(&text);
        assert!(record.matches_certificate(LEAF), "{text}");
        assert_eq!(
            chain_match(std::slice::from_ref(&record), &[LEAF, RSA_CA]),
            Some(ChainMatch {
                record: 0,
                depth: 0
            }),
            "{text}"
        );
        // DANE-EE never matches a certificate further up the chain.
        assert_eq!(
            chain_match(std::slice::from_ref(&record), &[RSA_CA, LEAF]),
            None,
            "{text}"
        );
    }
    assert!(Tlsa::new(3, 0, 0, LEAF.to_vec()).matches_certificate(LEAF));
    assert!(Tlsa::new(3, 1, 0, LEAF_SPKI.to_vec()).matches_certificate(LEAF));
}

#[test]
fn dane_6_trust_anchor_records_match_above_the_leaf() {
    let ta = tlsa(&format!("2 1 1 {RSA_CA_SPKI_SHA256}"));
    assert_eq!(
        chain_match(std::slice::from_ref(&ta), &[LEAF, RSA_CA]),
        Some(ChainMatch {
            record: 0,
            depth: 1
        })
    );
    assert_eq!(chain_match(std::slice::from_ref(&ta), &[RSA_CA]), None);
    assert_eq!(chain_match(std::slice::from_ref(&ta), &[LEAF]), None);
}

#[test]
fn dane_6_mismatches_and_unusable_records_never_match() {
    let mut wrong = LEAF_SPKI_SHA256.to_owned();
    wrong.replace_range(0..2, "ff");
    let records = [
        tlsa(&format!("3 1 1 {wrong}")),
        // Matches the data, but PKIX-EE is unusable for SMTP.
        tlsa(&format!("1 1 1 {LEAF_SPKI_SHA256}")),
    ];
    assert_eq!(chain_match(&records, &[LEAF, RSA_CA]), None);
    assert_eq!(chain_match(&records, &[]), None);
    assert!(!records[0].matches_certificate(b"not a certificate"));
    // The second of several records matches.
    let more = [
        records[0].clone(),
        tlsa(&format!("3 1 1 {LEAF_SPKI_SHA256}")),
    ];
    assert_eq!(
        chain_match(&more, &[LEAF]),
        Some(ChainMatch {
            record: 1,
            depth: 0
        })
    );
}

#[test]
fn records_computed_for_a_certificate_are_the_openssl_digests() {
    let computed = Tlsa::for_certificate(3, 1, 1, LEAF).unwrap();
    assert_eq!(computed, tlsa(&format!("3 1 1 {LEAF_SPKI_SHA256}")));
    let computed = Tlsa::for_certificate(2, 1, 1, RSA_CA).unwrap();
    assert_eq!(computed, tlsa(&format!("2 1 1 {RSA_CA_SPKI_SHA256}")));
    assert_eq!(Tlsa::for_certificate(3, 1, 1, b"junk"), None);
    assert_eq!(Tlsa::for_certificate(3, 2, 1, LEAF), None);
}

#[test]
fn text_form_round_trips() {
    let record = tlsa(&format!("3 1 1 {LEAF_SPKI_SHA256}"));
    assert_eq!(
        record.to_string(),
        format!("3 1 1 {}", LEAF_SPKI_SHA256.to_uppercase())
    );
    assert_eq!(tlsa(&record.to_string()), record);
    // Zone files may split the data.
    let (a, b) = LEAF_SPKI_SHA256.split_at(20);
    assert_eq!(tlsa(&format!("3 1 1 {a} {b}")), record);
    assert_eq!("3 1".parse::<Tlsa>(), Err(TlsaParseError::MissingField));
    assert_eq!("3 1 1".parse::<Tlsa>(), Err(TlsaParseError::MissingField));
    assert_eq!("3 1 1 abc".parse::<Tlsa>(), Err(TlsaParseError::Hex));
    assert_eq!("3 1 1 zz".parse::<Tlsa>(), Err(TlsaParseError::Hex));
    assert!(matches!(
        "256 1 1 ab".parse::<Tlsa>(),
        Err(TlsaParseError::Number { .. })
    ));
}

fn host(name: &str, answer: HostAnswer) -> HostDane {
    HostDane {
        host: name.into(),
        answer,
    }
}

fn usable() -> HostAnswer {
    HostAnswer::Tlsa(vec![tlsa(&format!("3 1 1 {LEAF_SPKI_SHA256}"))])
}

fn unusable() -> HostAnswer {
    HostAnswer::Tlsa(vec![tlsa(&format!("1 1 1 {LEAF_SPKI_SHA256}"))])
}

fn verdict(mx: MxAnswer, hosts: Vec<HostDane>) -> Verdict {
    DaneState::new(mx, hosts, Duration::from_secs(60)).verdict()
}

fn secure(names: &[&str]) -> MxAnswer {
    MxAnswer::Secure(names.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn dane_2_every_host_usable_is_dane_only() {
    let hosts = vec![host("mx1", usable()), host("mx2", usable())];
    assert_eq!(verdict(secure(&["mx1", "mx2"]), hosts), Verdict::DaneOnly);
    // DANE-5: the implicit MX counts like any other.
    let implicit = vec![host("example.org", usable())];
    assert_eq!(
        verdict(MxAnswer::Implicit("example.org".into()), implicit),
        Verdict::DaneOnly
    );
}

#[test]
fn dane_2_3_some_hosts_with_tlsa_is_dane() {
    let mixed = [
        vec![host("mx1", usable()), host("mx2", HostAnswer::NoTlsa)],
        vec![
            host("mx1", usable()),
            host("mx2", HostAnswer::InsecureAddress),
        ],
        // Records that exist but none usable still mean mandatory TLS (RFC 7672 §2.2).
        vec![host("mx1", unusable())],
        vec![host("mx1", unusable()), host("mx2", usable())],
    ];
    for hosts in mixed {
        let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(
            verdict(secure(&names), hosts.clone()),
            Verdict::Dane,
            "{hosts:?}"
        );
    }
}

#[test]
fn dane_2_3_no_dane() {
    assert_eq!(
        verdict(MxAnswer::Insecure, vec![]),
        Verdict::NoDane(NoDane::InsecureMx)
    );
    assert_eq!(
        verdict(MxAnswer::NoMailHost, vec![]),
        Verdict::NoDane(NoDane::NoMailHost)
    );
    let hosts = vec![
        host("mx1", HostAnswer::NoTlsa),
        host("mx2", HostAnswer::InsecureAddress),
    ];
    assert_eq!(
        verdict(secure(&["mx1", "mx2"]), hosts),
        Verdict::NoDane(NoDane::NoTlsa)
    );
}

#[test]
fn the_log_line_gives_the_verdict_and_each_host() {
    let state = DaneState::new(
        secure(&["mx1.example", "mx2.example"]),
        vec![
            host("mx1.example", usable()),
            host("mx2.example", HostAnswer::InsecureAddress),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        state.to_string(),
        "dane: some MX hosts publish TLSA (mx1.example: 1 of 1 TLSA usable, mx2.example: addresses not signed)"
    );
    assert_eq!(state.ttl(), Duration::from_secs(30));
    assert_eq!(state.verdict().postfix_level(), Some("dane"));
    assert_eq!(Verdict::NoDane(NoDane::NoTlsa).postfix_level(), None);
}
