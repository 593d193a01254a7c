//! DANE in `check` and `--dane`: DNSSEC-signed zones from `SignedDns`, TLSA records built from the
//! very chain the SMTP test server presents, and the policy over HTTPS, all on loopback.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output};

use mta_sts_testkit::{
    CertKind, HostConfig, PolicyServer, Response, SignedDns, SignedDnsBuilder, SmtpBehavior,
    SmtpServer, TestCa, ZoneKind,
};
use serde_json::Value;
use smtp_dane::Tlsa;

use crate::kit::{assert_finding, assert_outcome, findings, json, stdout};

const MX1: &str = "mx1.example.com";
const MX2: &str = "mx2.example.com";
const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmax_age: 1209600\r\n";
const ONE_MX_POLICY: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 1209600\r\n";

/// The servers every test needs: a CA, the policy host, one SMTP server standing in for every MX
/// host (it issues a certificate for whatever SNI name it is asked for).
struct Lab {
    ca: TestCa,
    https: PolicyServer,
    smtp: SmtpServer,
    ca_file: PathBuf,
}

impl Lab {
    async fn start(policy: &str) -> Self {
        let ca = TestCa::new();
        let https = PolicyServer::start(&ca).await.unwrap();
        https.set_host(
            "mta-sts.example.com",
            HostConfig {
                cert: CertKind::Valid,
                response: Response::policy(policy),
            },
        );
        let smtp = SmtpServer::start(&ca, SmtpBehavior::default())
            .await
            .unwrap();
        let ca_file = std::env::temp_dir().join(format!(
            "mta-sts-query-dane-ca-{}-{}.pem",
            std::process::id(),
            https.addr().port()
        ));
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        Self {
            ca,
            https,
            smtp,
            ca_file,
        }
    }

    /// The TLSA record for what `host`'s server presents: its own certificate for usage 3, the
    /// issuing CA's for usage 2.
    fn tlsa(&self, host: &str, usage: u8, selector: u8, matching: u8) -> Tlsa {
        let chain = self.smtp.certificate_chain(host);
        let cert = if usage == 2 {
            self.ca.cert_der()
        } else {
            chain[0].clone()
        };
        Tlsa::for_certificate(usage, selector, matching, &cert).unwrap()
    }

    /// example.com as `kind`, with both TXT records, the policy host, and MX records for
    /// `hosts` (each with an A record for loopback; their zones must be declared separately if
    /// not example.com).
    fn zone(kind: ZoneKind, hosts: &[&str]) -> SignedDnsBuilder {
        let mut zone = SignedDns::builder()
            .zone("example.com", kind)
            .txt("_mta-sts.example.com", &[b"v=STSv1; id=20240101"])
            .txt(
                "_smtp._tls.example.com",
                &[b"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"],
            )
            .a("mta-sts.example.com", Ipv4Addr::LOCALHOST);
        for (n, host) in hosts.iter().enumerate() {
            let preference = 10 * (u16::try_from(n).unwrap() + 1);
            zone = zone
                .mx("example.com", preference, host)
                .a(host, Ipv4Addr::LOCALHOST);
        }
        zone
    }

    /// Runs the binary against `dns` (trusting its root key), the policy server and the CA.
    async fn run(&self, dns: &SignedDns, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"));
        for var in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .arg("--nameserver")
            .arg(dns.addr().to_string())
            .arg("--trust-anchor")
            .arg(dns.trust_anchor_path())
            .arg("--ca-file")
            .arg(&self.ca_file)
            .arg("--https-port")
            .arg(self.https.addr().port().to_string())
            .arg("--timeout")
            .arg("3");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// `check example.com --json` against the SMTP server.
    async fn check(&self, dns: &SignedDns) -> (Output, Value) {
        let port = self.smtp.addr().port().to_string();
        let out = self
            .run(
                dns,
                &["check", "example.com", "--json", "--smtp-port", &port],
            )
            .await;
        let v = json(&out);
        (out, v)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// Adds `record` at `_25._tcp.<host>`.
fn with_tlsa(zone: SignedDnsBuilder, host: &str, record: &Tlsa) -> SignedDnsBuilder {
    zone.tlsa(
        &format!("_25._tcp.{host}"),
        record.usage(),
        record.selector(),
        record.matching(),
        record.data(),
    )
}

/// DANE-6: TLSA 3 1 1, 3 0 1, 3 1 2 (the server's own certificate) and 2 1 1 (the issuing CA)
/// all match what the SMTP server presents; the check is all ok and says how each matched.
#[tokio::test(flavor = "multi_thread")]
async fn dane_1_2_6_matching_tlsa_records() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    for (usage, selector, matching, how) in [
        (3, 1, 1, "DANE-EE, the server's own certificate"),
        (3, 0, 1, "DANE-EE, the server's own certificate"),
        (3, 1, 2, "DANE-EE, the server's own certificate"),
        (2, 1, 1, "DANE-TA, certificate 1 of the chain"),
    ] {
        let record = lab.tlsa(MX1, usage, selector, matching);
        let dns = with_tlsa(Lab::zone(ZoneKind::Signed, &[MX1]), MX1, &record)
            .start()
            .await
            .unwrap();
        let (out, v) = lab.check(&dns).await;
        let shown = format!("{usage} {selector} {matching}");
        assert_outcome(&out, &v, 0, &[]);
        assert_eq!(v["dane"], "dane-only", "{shown}");
        // DANE-2
        assert_finding(
            &v,
            "dane",
            "ok",
            "DANE-2",
            "MX records DNSSEC-signed (secure): mx1.example.com",
        );
        assert_finding(
            &v,
            "dane",
            "ok",
            "DANE-2",
            "dane-only: every MX host publishes usable TLSA",
        );
        // DANE-1
        assert_finding(&v, "dane", "ok", "DANE-1", &format!("{MX1}: TLSA {shown} "));
        // DANE-6
        assert_finding(&v, "smtp", "ok", "DANE-6", how);
        assert_finding(&v, "smtp", "ok", "MATCH-7", MX1);
    }
}

/// DANE-6: an MX host with a self-signed certificate, authenticated by its TLSA record alone. The
/// WebPKI failure stays an error (MTA-STS needs a public CA), and the chain it presented is still
/// matched: the TLSA record is right.
#[tokio::test(flavor = "multi_thread")]
async fn dane_6_self_signed_host_matched_by_its_tlsa() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    lab.smtp.set_behavior(SmtpBehavior {
        cert: CertKind::SelfSigned,
        ..SmtpBehavior::default()
    });
    let record = lab.tlsa(MX1, 3, 1, 1);
    let dns = with_tlsa(Lab::zone(ZoneKind::Signed, &[MX1]), MX1, &record)
        .start()
        .await
        .unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 2, &["smtp"]);
    assert_finding(&v, "smtp", "error", "MATCH-7", MX1);
    assert_finding(
        &v,
        "smtp",
        "ok",
        "DANE-6",
        "DANE-EE, the server's own certificate",
    );
}

/// DANE-6: a TLSA record for another certificate is an error in the SMTP step, with the record
/// that would match in the fix; the certificate still passes the MTA-STS check (DANE-10: the two
/// disagree).
#[tokio::test(flavor = "multi_thread")]
async fn dane_6_10_mismatching_tlsa_is_an_error() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    // The CA's key under usage 3: a record for a certificate the server does not present as leaf.
    let wrong = Tlsa::for_certificate(3, 1, 1, &lab.ca.cert_der()).unwrap();
    let dns = with_tlsa(Lab::zone(ZoneKind::Signed, &[MX1]), MX1, &wrong)
        .start()
        .await
        .unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 2, &["smtp"]);
    assert_finding(
        &v,
        "smtp",
        "error",
        "DANE-6",
        "matches none of the 1 usable TLSA record",
    );
    assert_finding(&v, "smtp", "ok", "MATCH-7", MX1);
    let right = lab.tlsa(MX1, 3, 1, 1);
    let smtp = &v["steps"].as_array().unwrap()[6];
    assert_eq!(smtp["name"], "smtp");
    let fix = smtp["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| (f["id"] == "DANE-6").then(|| f["fix"].as_str().unwrap().to_owned()))
        .unwrap();
    assert!(fix.contains(&right.to_string()), "{fix}");
}

/// DANE-1: unusable records (a PKIX usage, a digest of the wrong length) are warnings that say
/// why; with no usable record left the host is not checked against them (DANE-6) and the verdict
/// is `dane`, not `dane-only` (DANE-2).
#[tokio::test(flavor = "multi_thread")]
async fn dane_1_unusable_tlsa_records() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let pkix = lab.tlsa(MX1, 1, 1, 1);
    let short = Tlsa::new(3, 1, 1, vec![0xab; 20]);
    let zone = with_tlsa(Lab::zone(ZoneKind::Signed, &[MX1]), MX1, &pkix);
    let dns = with_tlsa(zone, MX1, &short).start().await.unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 1, &["dane"]);
    assert_eq!(v["dane"], "dane");
    assert_finding(
        &v,
        "dane",
        "warning",
        "DANE-1",
        "certificate usage 1 (PKIX) is not usable for SMTP",
    );
    assert_finding(
        &v,
        "dane",
        "warning",
        "DANE-1",
        "matching type 1 needs 32 bytes of digest, the record has 20",
    );
    assert_finding(&v, "dane", "warning", "DANE-1", "no usable TLSA record");
    assert!(
        !findings(&v, "smtp").iter().any(|(_, id, _)| id == "DANE-6"),
        "{v:#}"
    );
}

/// DANE-4: a zone whose signatures do not validate is an error (DANE senders defer), while the
/// MTA-STS steps, which never depend on DNSSEC (DANE-8), are all ok.
#[tokio::test(flavor = "multi_thread")]
async fn dane_4_8_bogus_zone_is_an_error_mta_sts_unaffected() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let record = lab.tlsa(MX1, 3, 1, 1);
    let dns = with_tlsa(Lab::zone(ZoneKind::BogusSignatures, &[MX1]), MX1, &record)
        .start()
        .await
        .unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 2, &["dane"]);
    assert_eq!(v["dane"], "unknown");
    assert_finding(
        &v,
        "dane",
        "error",
        "DANE-4",
        "DNSSEC validation failed (bogus)",
    );
    assert_finding(&v, "policy", "ok", "POL-2", "mode enforce");
    assert_finding(&v, "smtp", "ok", "MATCH-7", MX1);

    // --dane: the MTA-STS result stands (exit 0), the answer with DANE on is TEMP.
    let out = lab.run(&dns, &["--dane", "--json", "example.com"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["result"], "valid");
    assert_eq!(v["dane"]["verdict"], "unknown");
    assert_eq!(v["dane"]["error"]["kind"], "bogus");
    assert_eq!(v["dane"]["answer"]["decides"], "temp");
    assert!(
        v["dane"]["answer"]["reply"]
            .as_str()
            .unwrap()
            .starts_with("TEMP DANE state of example.com unknown"),
        "{v:#}"
    );
}

/// DANE-3: an unsigned zone has no DANE, which is no problem: informational findings only.
#[tokio::test(flavor = "multi_thread")]
async fn dane_3_unsigned_zone_is_no_dane() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let dns = Lab::zone(ZoneKind::Unsigned, &[MX1]).start().await.unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 0, &[]);
    assert_eq!(v["dane"], "none");
    assert_finding(&v, "dane", "ok", "DANE-3", "MX records not DNSSEC-signed");
    assert!(
        !findings(&v, "smtp").iter().any(|(_, id, _)| id == "DANE-6"),
        "{v:#}"
    );
}

/// DANE-10: an MX host with TLSA that the policy does not list (MATCH-1 in the mx step too), and
/// with mode enforce, an MX host without TLSA that DANE senders would not authenticate.
#[tokio::test(flavor = "multi_thread")]
async fn dane_10_dane_and_mta_sts_disagree() {
    let lab = Lab::start(POLICY).await;
    let mx9 = "mx9.example.org";
    let zone = Lab::zone(ZoneKind::Signed, &[MX1, MX2, mx9]).zone("example.org", ZoneKind::Signed);
    let zone = with_tlsa(zone, MX1, &lab.tlsa(MX1, 3, 1, 1));
    let dns = with_tlsa(zone, mx9, &lab.tlsa(mx9, 3, 1, 1))
        .start()
        .await
        .unwrap();
    let (out, v) = lab.check(&dns).await;
    assert_outcome(&out, &v, 2, &["mx", "dane"]);
    assert_eq!(v["dane"], "dane");
    assert_finding(&v, "mx", "error", "MATCH-1", mx9);
    assert_finding(
        &v,
        "dane",
        "warning",
        "DANE-10",
        "mx9.example.org publishes TLSA records but matches no mx pattern of the policy",
    );
    assert_finding(
        &v,
        "dane",
        "warning",
        "DANE-10",
        "mx2.example.com has no usable TLSA record",
    );
    assert_finding(&v, "smtp", "ok", "DANE-6", mx9);
}

/// DANE-2, DANE-7: `--dane` for a dane-only domain: the verdict, the MX set, the host and its
/// record, and `OK dane-only` with no TLSRPT attributes; `-v info` shows the whole record.
#[tokio::test(flavor = "multi_thread")]
async fn dane_2_7_lookup_dane_only() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let record = lab.tlsa(MX1, 3, 1, 1);
    let dns = with_tlsa(Lab::zone(ZoneKind::Signed, &[MX1]), MX1, &record)
        .start()
        .await
        .unwrap();
    let out = lab.run(&dns, &["--dane", "example.com"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("result       valid: mode enforce"), "{text}");
    assert!(
        text.contains("DANE         dane-only: every MX host publishes usable TLSA"),
        "{text}"
    );
    assert!(
        text.contains("  MX records DNSSEC-signed (secure)"),
        "{text}"
    );
    assert!(
        text.contains("  mx1.example.com: addresses secure, 1 TLSA record\n"),
        "{text}"
    );
    let short = format!("TLSA 3 1 1 {}…: usable", &record.to_string()[6..22]);
    assert!(text.contains(&short), "{text}");
    // DANE-7: the reply is the bare level.
    assert!(
        text.contains("with DANE    OK dane-only (DANE decides, MTA-STS is not consulted)"),
        "{text}"
    );
    let out = lab
        .run(&dns, &["--dane", "-v", "info", "example.com"])
        .await;
    let text = stdout(&out);
    assert!(text.contains(&format!("TLSA {record}: usable")), "{text}");
    assert!(text.contains("  TTL        60 seconds"), "{text}");

    let out = lab.run(&dns, &["--dane", "--json", "example.com"]).await;
    let v = json(&out);
    assert_eq!(v["dane"]["verdict"], "dane-only");
    assert_eq!(v["dane"]["mx"], "secure");
    // DANE-9: the state is cached for the smallest TTL of its answers (the zone's 60 s).
    assert_eq!(v["dane"]["ttl"], 60);
    assert_eq!(v["dane"]["hosts"][0]["host"], MX1);
    assert_eq!(v["dane"]["hosts"][0]["addresses"], "secure");
    assert_eq!(v["dane"]["hosts"][0]["tlsa"], "published");
    assert_eq!(
        v["dane"]["hosts"][0]["records"][0]["record"],
        record.to_string()
    );
    assert_eq!(v["dane"]["hosts"][0]["records"][0]["usable"], true);
    assert_eq!(v["dane"]["answer"]["decides"], "dane");
    // DANE-7
    assert_eq!(v["dane"]["answer"]["reply"], "OK dane-only");
}

/// DANE-2: `--dane` for a mixed MX set (one host with TLSA, one without): `OK dane`.
#[tokio::test(flavor = "multi_thread")]
async fn dane_2_lookup_mixed_mx_set_is_dane() {
    let lab = Lab::start(POLICY).await;
    let zone = with_tlsa(
        Lab::zone(ZoneKind::Signed, &[MX1, MX2]),
        MX1,
        &lab.tlsa(MX1, 3, 1, 1),
    );
    let dns = zone.start().await.unwrap();
    let out = lab.run(&dns, &["--dane", "example.com"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("DANE         dane: some MX hosts publish TLSA"),
        "{text}"
    );
    assert!(
        text.contains("  mx2.example.com: addresses secure, no TLSA records"),
        "{text}"
    );
    assert!(text.contains("with DANE    OK dane "), "{text}");
    let v = json(&lab.run(&dns, &["--dane", "--json", "example.com"]).await);
    assert_eq!(v["dane"]["verdict"], "dane");
    assert_eq!(v["dane"]["hosts"][1]["tlsa"], "none");
    assert_eq!(v["dane"]["answer"]["reply"], "OK dane");
}

/// DANE-3, DANE-8: `--dane` for an unsigned domain: no DANE, the MTA-STS answer stands; without
/// `--dane` the JSON has no `dane` member.
#[tokio::test(flavor = "multi_thread")]
async fn dane_3_8_lookup_unsigned_is_mta_sts() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let dns = Lab::zone(ZoneKind::Unsigned, &[MX1]).start().await.unwrap();
    let out = lab.run(&dns, &["--dane", "example.com"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("DANE         no DANE: the MX records are not DNSSEC-signed"),
        "{text}"
    );
    assert!(
        text.contains("with DANE    MTA-STS decides: the policy above"),
        "{text}"
    );
    let v = json(&lab.run(&dns, &["--dane", "--json", "example.com"]).await);
    assert_eq!(v["dane"]["verdict"], "none");
    assert_eq!(v["dane"]["no_dane"], "insecure-mx");
    assert_eq!(v["dane"]["mx"], "insecure");
    assert_eq!(v["dane"]["answer"]["decides"], "mta-sts");
    assert_eq!(v["dane"]["answer"]["reply"], Value::Null);
    let v = json(&lab.run(&dns, &["--json", "example.com"]).await);
    assert_eq!(v["result"], "valid");
    assert!(v.get("dane").is_none(), "{v:#}");
}

/// A trust anchor file that cannot be read is a configuration error (78).
#[tokio::test(flavor = "multi_thread")]
async fn unreadable_trust_anchor_is_a_configuration_error() {
    let lab = Lab::start(ONE_MX_POLICY).await;
    let dns = Lab::zone(ZoneKind::Signed, &[MX1]).start().await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"))
        .args(["--dane", "example.com", "--nameserver"])
        .arg(dns.addr().to_string())
        .args(["--trust-anchor", "/nonexistent/root.key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    drop(lab);
}
