use std::process::Command;

use mta_sts_testkit::{CertKind, ConnectProxy, Response};
use serde_json::Value;

use crate::kit::{Kit, json, stdout};

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn valid_policy_report_and_json() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let out = kit.run(&["example.com"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("policy id    20240101"), "{text}");
    assert!(text.contains("             mx: *.example.net"), "{text}");
    assert!(
        text.contains("result       valid: mode enforce, 2 mx patterns, cacheable for 7 days"),
        "{text}"
    );

    let out = kit.run(&["--json", "Example.COM."]).await;
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["domain"], "example.com");
    assert_eq!(v["result"], "valid");
    assert_eq!(v["txt"]["id"], "20240101");
    assert_eq!(v["txt"]["name"], "_mta-sts.example.com");
    assert_eq!(
        v["policy_url"],
        "https://mta-sts.example.com/.well-known/mta-sts.txt"
    );
    assert_eq!(v["policy"]["mode"], "enforce");
    assert_eq!(v["policy"]["max_age"], 604_800);
    assert_eq!(
        v["policy"]["mx"],
        serde_json::json!(["mx1.example.com", "*.example.net"])
    );
    assert_eq!(v["failure"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn known_id_means_no_fetch() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let out = kit.run(&["--json", "example.com", "20240101"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["result"], "not_changed");
    assert!(kit.https.requests("mta-sts.example.com").is_empty());
    let out = kit.run(&["--json", "example.com", "19990101"]).await;
    assert_eq!(json(&out)["result"], "valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_policy_exits_1() {
    let kit = Kit::start().await;
    kit.dns.add_txt("_mta-sts.spf.example", &[b"v=spf1 -all"]);
    let out = kit.run(&["nothing.example"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("result       none: the domain has no MTA-STS policy"),
        "{}",
        stdout(&out)
    );
    let out = kit.run(&["--json", "spf.example"]).await;
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["result"], "none");
    assert_eq!(v["txt"]["records"], serde_json::json!(["v=spf1 -all"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_2_with_the_reason() {
    let kit = Kit::start().await;
    kit.publish(
        "expired.example",
        "a1",
        CertKind::Expired,
        Response::policy(ENFORCE),
    );
    let out = kit.run(&["--json", "expired.example"]).await;
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert_eq!(v["result"], "fetch_error");
    assert_eq!(v["failure"]["stage"], "https");
    assert_eq!(v["failure"]["result_type"], "sts-webpki-invalid");
    assert!(
        v["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("certificate for mta-sts.expired.example expired")
    );

    kit.publish(
        "invalid.example",
        "a1",
        CertKind::Valid,
        Response::policy("version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n"),
    );
    let out = kit.run(&["invalid.example"]).await;
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("error [POL-2]"), "{text}");
    assert!(text.contains("fetch error (sts-policy-invalid)"), "{text}");

    kit.publish(
        "moved.example",
        "a1",
        CertKind::Valid,
        Response::status(301),
    );
    let out = kit.run(&["moved.example"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("redirects are not followed"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_configuration_errors() {
    let kit = Kit::start().await;
    let out = kit.run(&[]).await;
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"))
        .args(["--timeout", "abc", "example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number of seconds"));
    let out = kit
        .run(&["--ca-file", "/nonexistent/ca.pem", "example.com"])
        .await;
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ca.pem"));
    let out = kit.run(&["-v", "debug", "nothing.example"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("looking up TXT"));
    let out = kit.run(&["--verbosity", "fatal", "nothing.example"]).await;
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn help_teaches() {
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "KNOWN_ID",
        "--nameserver",
        "--json",
        "lint-policy",
        "lint-txt",
        "EXIT STATUS",
        "EXAMPLES",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_proxy_from_the_environment() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "direct.example",
        "d1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let proxy = ConnectProxy::start(kit.https.addr(), false).await.unwrap();
    let env = [
        ("HTTPS_PROXY", format!("http://{}", proxy.addr())),
        ("NO_PROXY", "direct.example".to_owned()),
    ];
    let out = kit.run_with_env(&["--json", "example.com"], &env).await;
    assert_eq!(
        json(&out)["result"],
        "valid",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(proxy.tunnels(), 1);
    let out = kit.run_with_env(&["--json", "direct.example"], &env).await;
    assert_eq!(json(&out)["result"], "valid");
    assert_eq!(proxy.tunnels(), 1, "NO_PROXY hosts go direct");
    let bad = [("HTTPS_PROXY", "socks5://127.0.0.1:1".to_owned())];
    let out = kit.run_with_env(&["example.com"], &bad).await;
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy URL"));
}
