//! `mta-sts-query check`: one correct deployment, then one test per failure class, each asserting
//! the verdict, the rule ID and the exit status.

use std::process::Output;

use mta_sts_testkit::{CertKind, Response, SmtpBehavior, SmtpServer};
use serde_json::Value;

use crate::kit::{Kit, assert_finding, assert_outcome, findings, json, stdout};

const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 1209600\r\n";

/// A complete, correct deployment of `domain`: both TXT records, the policy host, and two MX
/// hosts covered by the policy (`mx1.<domain>` literally and `mx2.example.net` by wildcard).
fn deploy(kit: &Kit, domain: &str, policy: &str) {
    kit.publish(
        domain,
        "20240101",
        CertKind::Valid,
        Response::policy(policy),
    );
    let rpt = format!("_smtp._tls.{domain}");
    kit.dns.clear(&rpt);
    kit.dns.add_txt(
        &rpt,
        &[format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}").as_bytes()],
    );
    kit.dns.clear(domain);
    kit.mx(domain, 10, &format!("mx1.{domain}"));
    kit.mx(domain, 20, "mx2.example.net");
}

fn policy_for(domain: &str) -> String {
    POLICY.replace("mx1.example.com", &format!("mx1.{domain}"))
}

/// Runs `check --json` for `domain`, against `smtp` or with `--no-smtp`, without the DANE step
/// (the unsigned test DNS cannot answer DNSSEC queries; tests/it/dane.rs covers that step).
async fn check(
    kit: &Kit,
    domain: &str,
    smtp: Option<&SmtpServer>,
    extra: &[&str],
) -> (Output, Value) {
    let port = smtp.map(|s| s.addr().port().to_string());
    let mut args = vec!["check", domain, "--json", "--no-dane"];
    match &port {
        Some(port) => args.extend(["--smtp-port", port.as_str()]),
        None => args.push("--no-smtp"),
    }
    args.extend_from_slice(extra);
    let out = kit.run_subcommand(&args).await;
    let v = json(&out);
    (out, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn correct_deployment_is_all_ok() {
    let kit = Kit::start().await;
    deploy(&kit, "example.com", POLICY);
    let smtp = SmtpServer::start(&kit.ca, SmtpBehavior::default())
        .await
        .unwrap();
    let (out, v) = check(&kit, "example.com", Some(&smtp), &[]).await;
    assert_outcome(&out, &v, 0, &[]);
    assert_eq!(v["summary"]["warnings"], 0);
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(v["sts_id"], "20240101");
    assert_finding(&v, "sts-txt", "ok", "TXT-4", "id 20240101");
    assert_finding(&v, "tlsrpt-txt", "ok", "RPT-3", "mailto:tlsrpt@example.com");
    assert_finding(
        &v,
        "policy-host",
        "ok",
        "FETCH-7",
        "127.0.0.1: HTTPS reachable, TLS 1.3",
    );
    assert_finding(&v, "policy-host", "ok", "FETCH-1", "days left");
    assert_finding(&v, "policy-host", "ok", "FETCH-5", "text/plain");
    assert_finding(&v, "policy", "ok", "POL-2", "mode enforce, 2 mx patterns");
    assert_finding(
        &v,
        "mx",
        "ok",
        "MATCH-3",
        "mx1.example.com matches mx: mx1.example.com",
    );
    assert_finding(
        &v,
        "mx",
        "ok",
        "MATCH-2",
        "mx2.example.net matches mx: *.example.net",
    );
    assert_finding(&v, "smtp", "ok", "MATCH-7", "mx1.example.com");
    assert_finding(&v, "smtp", "ok", "MATCH-7", "mx2.example.net");
    // The SMTP server saw STARTTLS with the MX name as SNI (RFC 8461 §7.1).
    // A session is recorded when the server's side of it ends, which may be just after the
    // client has exited: wait for both, boundedly.
    let mut snis = mta_sts_testkit::eventually(std::time::Duration::from_secs(5), || {
        let snis: Vec<String> = smtp.sessions().into_iter().filter_map(|s| s.sni).collect();
        std::future::ready((snis.len() >= 2).then_some(snis))
    })
    .await
    .expect("both sessions were recorded");
    snis.sort();
    assert_eq!(snis, ["mx1.example.com", "mx2.example.net"]);

    let out = kit
        .run_subcommand(&[
            "check",
            "example.com",
            "--no-dane",
            "--smtp-port",
            &smtp.addr().port().to_string(),
        ])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("mta-sts-query check example.com\n"),
        "{text}"
    );
    assert!(
        text.contains("[1/8] _mta-sts TXT record (_mta-sts.example.com)"),
        "{text}"
    );
    assert!(
        text.contains("  ok       TXT-9     exactly one v=STSv1 record"),
        "{text}"
    );
    assert!(text.contains("summary  ok: "), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sts_txt_problems() {
    let kit = Kit::start().await;
    // TXT-1: no record at all.
    deploy(&kit, "missing.example", &policy_for("missing.example"));
    kit.dns.clear("_mta-sts.missing.example");
    let (out, v) = check(&kit, "missing.example", None, &[]).await;
    assert_outcome(&out, &v, 2, &["sts-txt"]);
    assert_finding(
        &v,
        "sts-txt",
        "error",
        "TXT-1",
        "no TXT record at _mta-sts.missing.example",
    );
    assert_eq!(v["sts_id"], Value::Null);

    // TXT-9: two STSv1 records.
    deploy(&kit, "two.example", &policy_for("two.example"));
    kit.dns
        .add_txt("_mta-sts.two.example", &[b"v=STSv1; id=second"]);
    let (out, v) = check(&kit, "two.example", None, &[]).await;
    assert_outcome(&out, &v, 2, &["sts-txt"]);
    assert_finding(&v, "sts-txt", "error", "TXT-9", "2 records begin with");

    // TXT-4: an id with a hyphen.
    deploy(&kit, "badid.example", &policy_for("badid.example"));
    kit.dns.clear("_mta-sts.badid.example");
    kit.dns
        .add_txt("_mta-sts.badid.example", &[b"v=STSv1; id=2016-08-31"]);
    let (out, v) = check(&kit, "badid.example", None, &[]).await;
    assert_outcome(&out, &v, 2, &["sts-txt"]);
    assert_finding(&v, "sts-txt", "error", "TXT-4", "invalid record");

    // TXT-11: a CNAME to a provider's record is fine, and shown.
    deploy(&kit, "alias.example", &policy_for("alias.example"));
    kit.dns.clear("_mta-sts.alias.example");
    kit.dns
        .add_cname("_mta-sts.alias.example", "_mta-sts.provider.example");
    kit.dns
        .add_txt("_mta-sts.provider.example", &[b"v=STSv1; id=p1"]);
    let (out, v) = check(&kit, "alias.example", None, &[]).await;
    assert_outcome(&out, &v, 0, &[]);
    assert_finding(&v, "sts-txt", "ok", "TXT-11", "→ _mta-sts.provider.example");
    assert_eq!(v["sts_id"], "p1");
}

#[tokio::test(flavor = "multi_thread")]
async fn tlsrpt_problems() {
    let kit = Kit::start().await;
    // RPT-1: no TLSRPT record is a warning only: exit 1.
    deploy(&kit, "example.com", POLICY);
    kit.dns.clear("_smtp._tls.example.com");
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["tlsrpt-txt"]);
    assert_finding(
        &v,
        "tlsrpt-txt",
        "warning",
        "RPT-1",
        "no TXT record at _smtp._tls.example.com",
    );

    // RPT-4: an unencoded "!" in a URI makes the record invalid.
    kit.dns.add_txt(
        "_smtp._tls.example.com",
        &[b"v=TLSRPTv1; rua=mailto:a@example.com!10m"],
    );
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 2, &["tlsrpt-txt"]);
    let rules: Vec<String> = findings(&v, "tlsrpt-txt")
        .into_iter()
        .map(|f| f.1)
        .collect();
    assert!(rules.contains(&"RPT-4".to_owned()), "{rules:?}");

    // RPT-3: an unsupported scheme next to a good URI: warning.
    kit.dns.clear("_smtp._tls.example.com");
    kit.dns.add_txt(
        "_smtp._tls.example.com",
        &[b"v=TLSRPTv1; rua=mailto:a@example.com,ftp://r.example/x"],
    );
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["tlsrpt-txt"]);
    assert_finding(&v, "tlsrpt-txt", "warning", "RPT-3", "ftp://r.example/x");

    // RPT-2: the version is case-sensitive.
    kit.dns.clear("_smtp._tls.example.com");
    kit.dns.add_txt(
        "_smtp._tls.example.com",
        &[b"v=tlsrptv1; rua=mailto:a@example.com"],
    );
    let (_, v) = check(&kit, "example.com", None, &[]).await;
    assert_finding(&v, "tlsrpt-txt", "warning", "RPT-2", "TLSRPTv1");

    // RPT-3: addresses and hosts the grammar lets through but reports may never reach are
    // warnings with a fix; the good URI next to them is still ok.
    kit.dns.clear("_smtp._tls.example.com");
    kit.dns.add_txt(
        "_smtp._tls.example.com",
        &[b"v=TLSRPTv1; rua=mailto:tls..rpt@example.com,https://reports.123/v1,mailto:ok@example.com"],
    );
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["tlsrpt-txt"]);
    assert_finding(
        &v,
        "tlsrpt-txt",
        "warning",
        "RPT-3",
        "rua mailto:tls..rpt@example.com: the local part \"tls..rpt\" is not valid",
    );
    assert_finding(
        &v,
        "tlsrpt-txt",
        "warning",
        "RPT-3",
        "rua https://reports.123/v1: the host \"reports.123\"",
    );
    assert_finding(&v, "tlsrpt-txt", "ok", "RPT-3", "rua mailto:ok@example.com");
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "tlsrpt-txt")
        .unwrap();
    let warnings: Vec<&Value> = step["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 2, "{step:#}");
    for w in warnings {
        let message = w["message"].as_str().unwrap();
        assert!(
            message.ends_with("reports sent to it may never arrive"),
            "{w:#}"
        );
        assert!(w["fix"].as_str().is_some_and(|f| !f.is_empty()), "{w:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_host_problems() {
    let kit = Kit::start().await;
    // POL-1: no address for the policy host.
    deploy(&kit, "nohost.example", &policy_for("nohost.example"));
    kit.dns.clear("mta-sts.nohost.example");
    let (out, v) = check(&kit, "nohost.example", None, &[]).await;
    assert_outcome(&out, &v, 2, &["policy-host", "policy", "mx"]);
    assert_finding(
        &v,
        "policy-host",
        "error",
        "POL-1",
        "mta-sts.nohost.example has no A or AAAA record",
    );
    assert_finding(
        &v,
        "policy",
        "error",
        "POL-1",
        "no policy file could be fetched",
    );

    for (domain, cert, response, id, text) in [
        (
            "expired.example",
            CertKind::Expired,
            None,
            "FETCH-1",
            "expired 2001-01-01",
        ),
        (
            "wrongname.example",
            CertKind::WrongName,
            None,
            "FETCH-1",
            "certificate for mta-sts.wrongname.example",
        ),
        (
            "untrusted.example",
            CertKind::UnknownCa,
            None,
            "FETCH-1",
            "not signed by a trusted",
        ),
        (
            "moved.example",
            CertKind::Valid,
            Some(Response::status(301)),
            "FETCH-3",
            "redirects are not followed",
        ),
        (
            "gone.example",
            CertKind::Valid,
            Some(Response::status(404)),
            "FETCH-3",
            "status 404",
        ),
        (
            "html.example",
            CertKind::Valid,
            Some(Response {
                headers: vec![("Content-Type".into(), "text/html".into())],
                ..Response::policy(&policy_for("html.example"))
            }),
            "FETCH-5",
            "expected text/plain",
        ),
    ] {
        deploy(&kit, domain, &policy_for(domain));
        let response = response.unwrap_or_else(|| Response::policy(&policy_for(domain)));
        kit.host(domain, cert, response);
        let (out, v) = check(&kit, domain, None, &[]).await;
        assert_outcome(&out, &v, 2, &["policy-host", "policy", "mx"]);
        assert_finding(&v, "policy-host", "error", id, text);
    }

    // FETCH-1: a certificate that expires within 14 days is a warning.
    deploy(&kit, "soon.example", &policy_for("soon.example"));
    kit.host(
        "soon.example",
        CertKind::ExpiresSoon,
        Response::policy(&policy_for("soon.example")),
    );
    let (out, v) = check(&kit, "soon.example", None, &[]).await;
    assert_outcome(&out, &v, 1, &["policy-host"]);
    assert_finding(&v, "policy-host", "warning", "FETCH-1", ", in ");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_file_problems() {
    let kit = Kit::start().await;
    // POL-4 with its line number: senders refuse the whole policy.
    let bad = POLICY.replace("mode: enforce", "mode: Enforce");
    deploy(&kit, "example.com", &bad);
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 2, &["policy", "mx"]);
    assert_finding(&v, "policy", "error", "POL-4", "line 2: ");
    assert_eq!(v["policy"], Value::Null);
    assert!(v["policy_body"].as_str().unwrap().contains("mode: Enforce"));

    // POL-5: max_age under a week is legal but short.
    deploy(&kit, "example.com", &POLICY.replace("1209600", "172800"));
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["policy"]);
    assert_finding(&v, "policy", "warning", "POL-5", "under a week");

    // APPLY-2: testing mode is reported as such.
    deploy(&kit, "example.com", &POLICY.replace("enforce", "testing"));
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["policy"]);
    assert_finding(&v, "policy", "warning", "APPLY-2", "mode testing");
    assert_eq!(v["policy"]["mode"], "testing");
}

#[tokio::test(flavor = "multi_thread")]
async fn mx_matching() {
    let kit = Kit::start().await;
    // MATCH-1: an MX outside the patterns is an error in enforce mode...
    deploy(&kit, "example.com", POLICY);
    kit.mx("example.com", 30, "backup.example.org");
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 2, &["mx"]);
    assert_finding(
        &v,
        "mx",
        "error",
        "MATCH-1",
        "backup.example.org matches no mx pattern",
    );
    assert_eq!(
        v["mx_hosts"],
        serde_json::json!(["mx1.example.com", "mx2.example.net", "backup.example.org"])
    );

    // ...and a warning in testing mode (plus the testing-mode warning itself).
    deploy(&kit, "example.com", &POLICY.replace("enforce", "testing"));
    kit.mx("example.com", 30, "backup.example.org");
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 1, &["mx", "policy"]);
    assert_finding(
        &v,
        "mx",
        "warning",
        "MATCH-1",
        "backup.example.org matches no mx pattern",
    );

    // MATCH-2: a wildcard covers one label only, and a pattern that matches no MX is flagged.
    deploy(&kit, "example.com", POLICY);
    kit.dns.clear("example.com");
    kit.mx("example.com", 10, "mx1.example.com");
    kit.mx("example.com", 20, "a.b.example.net");
    let (out, v) = check(&kit, "example.com", None, &[]).await;
    assert_outcome(&out, &v, 2, &["mx"]);
    assert_finding(
        &v,
        "mx",
        "error",
        "MATCH-1",
        "a.b.example.net matches no mx pattern",
    );
    assert_finding(
        &v,
        "mx",
        "warning",
        "MATCH-1",
        "mx: *.example.net matches none of the MX hosts",
    );

    // A null MX (RFC 7505) means no mail at all: nothing to protect.
    deploy(&kit, "nullmx.example", &policy_for("nullmx.example"));
    kit.dns.clear("nullmx.example");
    kit.dns.add_mx("nullmx.example", 0, ".");
    let (_, v) = check(&kit, "nullmx.example", None, &[]).await;
    assert_finding(&v, "mx", "warning", "MATCH-1", "null MX (RFC 7505)");
    assert_eq!(v["mx_hosts"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_problems() {
    let kit = Kit::start().await;
    deploy(&kit, "example.com", POLICY);
    kit.dns.clear("example.com");
    kit.mx("example.com", 10, "mx1.example.com");
    kit.mx("example.com", 20, "mx2.example.net");

    // APPLY-1: STARTTLS not offered.
    let smtp = SmtpServer::start(
        &kit.ca,
        SmtpBehavior {
            starttls: false,
            ..SmtpBehavior::default()
        },
    )
    .await
    .unwrap();
    let (out, v) = check(&kit, "example.com", Some(&smtp), &[]).await;
    assert_outcome(&out, &v, 2, &["smtp"]);
    assert_finding(
        &v,
        "smtp",
        "error",
        "APPLY-1",
        "mx1.example.com (127.0.0.1:",
    );
    assert_finding(&v, "smtp", "error", "APPLY-1", "STARTTLS is not offered");

    // MATCH-7: the certificate must be valid for the MX host name, and not expired.
    for (cert, text) in [
        (
            CertKind::WrongName,
            "certificate for mx1.example.com is for other.invalid",
        ),
        (
            CertKind::Expired,
            "certificate for mx2.example.net expired 2001-01-01",
        ),
        (CertKind::SelfSigned, "not signed by a trusted"),
    ] {
        smtp.set_behavior(SmtpBehavior {
            cert,
            starttls: true,
        });
        let (out, v) = check(&kit, "example.com", Some(&smtp), &[]).await;
        assert_outcome(&out, &v, 2, &["smtp"]);
        assert_finding(&v, "smtp", "error", "MATCH-7", text);
    }

    // MATCH-7: expiring within 14 days is a warning.
    smtp.set_behavior(SmtpBehavior {
        cert: CertKind::ExpiresSoon,
        starttls: true,
    });
    let (out, v) = check(&kit, "example.com", Some(&smtp), &[]).await;
    assert_outcome(&out, &v, 1, &["smtp"]);
    assert_finding(&v, "smtp", "warning", "MATCH-7", ", in ");

    // Nothing listening: the MX host cannot receive mail.
    let port = smtp.addr().port();
    drop(smtp);
    let (out, v) = kit
        .run(&[
            "--json",
            "check",
            "example.com",
            "--no-dane",
            "--smtp-port",
            &port.to_string(),
        ])
        .await
        .then_json();
    assert_outcome(&out, &v, 2, &["smtp"]);
    assert_finding(&v, "smtp", "error", "APPLY-1", "cannot connect");
}

trait ThenJson {
    fn then_json(self) -> (Output, Value);
}

impl ThenJson for Output {
    fn then_json(self) -> (Output, Value) {
        let v = json(&self);
        (self, v)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn previous_results() {
    let kit = Kit::start().await;
    deploy(&kit, "example.com", POLICY);
    let (_, first) = check(&kit, "example.com", None, &[]).await;
    let file = kit.ca_file.with_extension("previous.json");
    std::fs::write(&file, first.to_string()).unwrap();
    let previous = file.to_str().unwrap();

    // Same id, same body.
    let (out, v) = check(&kit, "example.com", None, &["--previous", previous]).await;
    assert_outcome(&out, &v, 0, &[]);
    assert_finding(&v, "consistency", "ok", "CACHE-2", "unchanged");

    // FETCH-11: the body changed under the same id: cached copies never update.
    kit.host(
        "example.com",
        CertKind::Valid,
        Response::policy(&POLICY.replace("1209600", "2419200")),
    );
    let (out, v) = check(&kit, "example.com", None, &["--previous", previous]).await;
    assert_outcome(&out, &v, 2, &["consistency"]);
    assert_finding(
        &v,
        "consistency",
        "error",
        "FETCH-11",
        "the id is still 20240101",
    );

    // CACHE-9: a new id, but the old body.
    kit.publish(
        "example.com",
        "20240202",
        CertKind::Valid,
        Response::policy(POLICY),
    );
    let (out, v) = check(&kit, "example.com", None, &["--previous", previous]).await;
    assert_outcome(&out, &v, 1, &["consistency"]);
    assert_finding(
        &v,
        "consistency",
        "warning",
        "CACHE-9",
        "20240101 → 20240202",
    );

    // Both changed: fine.
    kit.host(
        "example.com",
        CertKind::Valid,
        Response::policy(&POLICY.replace("1209600", "2419200")),
    );
    let (out, v) = check(&kit, "example.com", None, &["--previous", previous]).await;
    assert_outcome(&out, &v, 0, &[]);
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_schema_is_stable() {
    let kit = Kit::start().await;
    deploy(&kit, "example.com", POLICY);
    let (_, v) = check(&kit, "example.com", None, &[]).await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "checked_at",
            "dane",
            "domain",
            "mx_hosts",
            "policy",
            "policy_body",
            "schema_version",
            "steps",
            "sts_id",
            "summary",
            "verdict"
        ]
    );
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["domain"], "example.com");
    assert!(v["checked_at"].is_u64());
    assert_eq!(keys(&v["summary"]), ["errors", "ok", "warnings"]);
    assert!(v["summary"]["ok"].is_u64());
    assert_eq!(keys(&v["policy"]), ["max_age", "mode", "mx"]);
    assert_eq!(v["policy"]["max_age"], 1_209_600);
    assert_eq!(
        v["policy"]["mx"],
        serde_json::json!(["mx1.example.com", "*.example.net"])
    );
    assert_eq!(v["policy_body"], POLICY);
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sts-txt",
            "tlsrpt-txt",
            "policy-host",
            "policy",
            "mx",
            "dane",
            "smtp",
            "consistency"
        ]
    );
    for step in v["steps"].as_array().unwrap() {
        assert_eq!(keys(step), ["findings", "name", "title", "verdict"]);
        assert!(step["title"].is_string());
        for f in step["findings"].as_array().unwrap() {
            assert_eq!(keys(f), ["fix", "id", "message", "verdict"]);
            assert!(["ok", "warning", "error"].contains(&f["verdict"].as_str().unwrap()));
            assert!(f["id"].is_string() || f["id"].is_null());
            assert!(f["fix"].is_string() || f["fix"].is_null());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_configuration_errors() {
    let kit = Kit::start().await;
    let out = kit.run_subcommand(&["check", "not a domain"]).await;
    assert_eq!(out.status.code(), Some(64));
    let out = kit
        .run_subcommand(&[
            "check",
            "example.com",
            "--previous",
            "/nonexistent/previous.json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/previous.json")
    );
}

/// Issue 11: with name servers that never answer, every step's lookups run at once under one
/// deadline (seven lookups one after another took 70 s), and each DNS finding says that the name
/// server did not answer rather than asking for records to be published.
#[test]
fn silent_name_servers_cost_one_deadline_and_are_named() {
    // A UDP socket nobody reads: queries to it are never answered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let nameserver = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mta-sts-query"))
        .args([
            "check",
            "example.com",
            "--json",
            "--no-smtp",
            "--timeout",
            "2",
            "--nameserver",
            &nameserver,
        ])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(2));
    for (step, id) in [
        ("sts-txt", "TXT-1"),
        ("tlsrpt-txt", "RPT-1"),
        ("policy-host", "POL-1"),
        ("mx", "MATCH-1"),
    ] {
        let finding = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == step)
            .and_then(|s| {
                s["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["id"] == id)
            })
            .unwrap_or_else(|| panic!("no {id} in {step}: {v:#}"));
        let fix = finding["fix"].as_str().unwrap_or_default();
        assert!(fix.contains("no name server answered"), "{step}: {fix}");
        assert!(!fix.contains("publish"), "{step}: {fix}");
    }
    // One deadline (2 s, plus start-up), not one per lookup: sequential lookups would take 14 s.
    assert!(
        elapsed < std::time::Duration::from_secs(8),
        "took {elapsed:?}"
    );
}
