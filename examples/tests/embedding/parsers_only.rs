//! `parsers-only`: the decision from TXT strings and a policy body, with no network at all.

use std::process::Output;

use tokio::process::Command;

use crate::kit::{Scratch, assert_lines, output, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_parsers-only");

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";
const ENFORCE_DECISION: &str = "decision: enforce: deliver only to an allowed MX host, over TLS with a certificate valid for its name; otherwise keep the mail queued";
const NO_POLICY: &str = "decision: no policy: deliver as without MTA-STS";

async fn parsers_only(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).kill_on_drop(true);
    output(cmd).await
}

#[tokio::test]
async fn a_new_record_and_its_policy_decide_the_mx_hosts() {
    let scratch = Scratch::new();
    let policy = scratch.file("policy.txt", ENFORCE);
    let out = parsers_only(&[
        "example.com",
        "--txt",
        "v=spf1 -all",
        // Two character-strings of one record, joined without a space.
        "--txt",
        "v=STSv1; id=2024|0101",
        "--policy-file",
        &policy,
        "--mx",
        "mx1.example.com",
        "--mx",
        "mx2.example.net",
        "--mx",
        "a.b.example.net",
    ])
    .await;
    assert_lines(
        &out,
        &[
            "txt: id 20240101",
            "policy: valid: mode enforce, max_age 604800 s",
            "cache: store it under id 20240101; its max_age counts from now",
            ENFORCE_DECISION,
            "mx mx1.example.com: allowed",
            "mx mx2.example.net: allowed",
            // A wildcard covers exactly one label (RFC 8461 §4.1).
            "mx a.b.example.net: not allowed",
        ],
    );
}

#[tokio::test]
async fn an_unchanged_id_uses_the_cached_policy_and_a_new_one_needs_a_fetch() {
    let scratch = Scratch::new();
    let cached = scratch.file("cached.txt", ENFORCE);
    let out = parsers_only(&[
        "example.com",
        "--txt",
        "v=STSv1; id=20240101",
        "--cached-id",
        "20240101",
        "--cached-policy",
        &cached,
        "--mx",
        "mx.elsewhere.example",
    ])
    .await;
    assert_lines(
        &out,
        &[
            "cache: id unchanged: the cached policy applies, nothing to fetch",
            ENFORCE_DECISION,
            "mx mx.elsewhere.example: not allowed",
        ],
    );

    let out = parsers_only(&[
        "example.com",
        "--txt",
        "v=STSv1; id=20240202",
        "--cached-id",
        "20240101",
        "--cached-policy",
        &cached,
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            "fetch: needed: https://mta-sts.example.com/.well-known/mta-sts.txt (then run again with --policy-file)"
        ),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("decision"), "{}", stdout(&out));
}

#[tokio::test]
async fn without_a_usable_answer_a_cached_policy_still_applies() {
    let scratch = Scratch::new();
    let cached = scratch.file("cached.txt", ENFORCE);
    let invalid = scratch.file(
        "invalid.txt",
        "version: STSv1\nmode: Enforce\nmx: mx1.example.com\nmax_age: 86400\n",
    );
    let with_cache = ["--cached-id", "20240101", "--cached-policy", &cached];

    // The new id's policy does not parse: reported, and the cached policy applies.
    let mut args = vec![
        "example.com",
        "--txt",
        "v=STSv1; id=20240202",
        "--policy-file",
        &invalid,
        "--mx",
        "mx1.example.com",
    ];
    args.extend_from_slice(&with_cache);
    let out = parsers_only(&args).await;
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("policy: invalid: ")
                && l.ends_with("(report sts-policy-invalid)")),
        "{text}"
    );
    assert_lines(
        &out,
        &[
            "cache: the new policy is invalid: the cached policy (id 20240101) still applies",
            ENFORCE_DECISION,
            "mx mx1.example.com: allowed",
        ],
    );

    // Two records (no usable one), no record, or a failed lookup: the cached policy applies;
    // without one, the domain is treated as having no policy.
    let cases: [(&[&str], &str); 3] = [
        (
            &["--txt", "v=STSv1; id=a", "--txt", "v=STSv1; id=b"],
            "cache: the record is missing: the cached policy (id 20240101) still applies",
        ),
        (
            &[],
            "cache: the record is missing: the cached policy (id 20240101) still applies",
        ),
        (
            &["--dns-failed"],
            "cache: discovery failed: the cached policy (id 20240101) still applies",
        ),
    ];
    for (txt, kept) in cases {
        let mut args = vec!["example.com"];
        args.extend_from_slice(txt);
        let out = parsers_only(&args).await;
        assert_lines(&out, &[NO_POLICY]);
        args.extend_from_slice(&with_cache);
        let out = parsers_only(&args).await;
        assert_lines(&out, &[kept, ENFORCE_DECISION]);
    }
    let out = parsers_only(&["example.com"]).await;
    assert_lines(
        &out,
        &["txt: no usable record: no TXT records (NXDOMAIN or NODATA)"],
    );
}

#[tokio::test]
async fn testing_and_none_modes() {
    let scratch = Scratch::new();
    let testing = scratch.file(
        "testing.txt",
        "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 86400\n",
    );
    let none = scratch.file("none.txt", "version: STSv1\nmode: none\nmax_age: 86400\n");
    let record = "v=STSv1; id=1";
    let out = parsers_only(&[
        "example.com",
        "--txt",
        record,
        "--policy-file",
        &testing,
        "--mx",
        "mx9.example.com",
    ])
    .await;
    assert_lines(
        &out,
        &[
            "decision: testing: deliver as without MTA-STS; report (TLSRPT) what enforce would refuse",
            "mx mx9.example.com: not allowed",
        ],
    );
    let out = parsers_only(&[
        "example.com",
        "--txt",
        record,
        "--policy-file",
        &none,
        "--mx",
        "mx9.example.com",
    ])
    .await;
    assert_lines(&out, &["decision: none: deliver as without MTA-STS"]);
    assert!(!stdout(&out).contains("mx9"), "{}", stdout(&out));
}
