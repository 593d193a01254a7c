//! `own-cache`: the resolver over the embedder's file-backed cache.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mta_sts_testkit::{CertKind, Response};

use crate::kit::{Kit, assert_lines, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_own-cache");

const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";
const TESTING: &str =
    "version: STSv1\r\nmode: testing\r\nmx: mx2.example.com\r\nmax_age: 86400\r\n";

async fn own_cache(kit: &Kit, cache: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--cache-file", cache.to_str().unwrap()];
    all.extend_from_slice(args);
    kit.run(BIN, &all).await
}

#[tokio::test(flavor = "multi_thread")]
async fn fetches_once_then_answers_from_the_file() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.mx("example.com", 10, "mx1.example.com");
    kit.mx("example.com", 20, "mx.elsewhere.example");
    let cache = kit.scratch.path().join("cache.jsonl");

    // First run: DNS, HTTPS, and the MX hosts from DNS checked against the policy.
    let out = own_cache(&kit, &cache, &["example.com"]).await;
    assert_lines(
        &out,
        &[
            "example.com: policy fetched (id 20240101, mode enforce)",
            "decision: enforce: deliver only to an allowed MX host, over TLS with a certificate valid for its name; otherwise keep the mail queued",
            "mx mx1.example.com: allowed",
            "mx mx.elsewhere.example: not allowed",
        ],
    );
    assert_eq!(kit.requests("example.com"), 1);
    let file = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(file.lines().count(), 1, "{file}");
    assert!(file.contains(r#""id":"20240101""#), "{file}");

    // Second run, a new process: the policy comes from the file, without DNS or HTTPS.
    let txt_queries = kit.dns.query_count("_mta-sts.example.com");
    let out = own_cache(&kit, &cache, &["example.com", "--mx", "a.example.net"]).await;
    assert_lines(
        &out,
        &[
            "example.com: cached policy (id 20240101, mode enforce; checked recently)",
            "mx a.example.net: allowed",
        ],
    );
    assert_eq!(kit.dns.query_count("_mta-sts.example.com"), txt_queries);
    assert_eq!(kit.requests("example.com"), 1);

    // Past the grace period the record is read again; its id is unchanged, so nothing is fetched.
    let out = own_cache(
        &kit,
        &cache,
        &["example.com", "--grace", "0", "--mx", "mx1.example.com"],
    )
    .await;
    assert_lines(
        &out,
        &["example.com: cached policy (id 20240101, mode enforce; TXT id unchanged)"],
    );
    assert!(kit.dns.query_count("_mta-sts.example.com") > txt_queries);
    assert_eq!(kit.requests("example.com"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_fetch_never_replaces_a_newer_one() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let cache = kit.scratch.path().join("cache.jsonl");
    let out = own_cache(&kit, &cache, &["example.com", "--mx", "mx1.example.com"]).await;
    assert_lines(
        &out,
        &["example.com: policy fetched (id 20240101, mode enforce)"],
    );

    // Appended after the newer entry: a still-valid policy fetched 100 s earlier, and a line that
    // is not an entry at all. Neither may replace what the last fetch stored.
    let earlier = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() - Duration::from_secs(100);
    let older = serde_json::json!({
        "domain": "example.com",
        "id": "19990101",
        "fetched_at": earlier.as_secs(),
        "policy": "version: STSv1\r\nmode: testing\r\nmx: old.example.com\r\nmax_age: 31557600\r\n",
    });
    let mut file = std::fs::read_to_string(&cache).unwrap();
    file.push_str(&format!("{older}\nnot a cache entry\n"));
    std::fs::write(&cache, file).unwrap();
    let out = own_cache(&kit, &cache, &["example.com", "--mx", "mx1.example.com"]).await;
    assert_lines(
        &out,
        &[
            "example.com: cached policy (id 20240101, mode enforce; checked recently)",
            "mx mx1.example.com: allowed",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(":3: skipped:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kit.requests("example.com"), 1);

    // A new id: fetched, appended, and what the next run finds.
    kit.publish(
        "example.com",
        "20240202",
        CertKind::Valid,
        Response::policy(TESTING),
    );
    let out = own_cache(
        &kit,
        &cache,
        &["example.com", "--grace", "0", "--mx", "mx2.example.com"],
    )
    .await;
    assert_lines(
        &out,
        &[
            "example.com: policy fetched (id 20240202, mode testing)",
            "decision: testing: deliver as without MTA-STS; report (TLSRPT) what enforce would refuse",
        ],
    );
    let out = own_cache(&kit, &cache, &["example.com", "--mx", "mx2.example.com"]).await;
    assert_lines(
        &out,
        &["example.com: cached policy (id 20240202, mode testing; checked recently)"],
    );
    assert_eq!(kit.requests("example.com"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_check_keeps_the_cached_policy_and_alerts() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "20240101",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let cache = kit.scratch.path().join("cache.jsonl");
    let out = own_cache(&kit, &cache, &["example.com", "--mx", "mx1.example.com"]).await;
    assert_lines(
        &out,
        &["example.com: policy fetched (id 20240101, mode enforce)"],
    );

    // A new id whose policy cannot be fetched: the cached policy still applies, with an alert.
    kit.publish(
        "example.com",
        "20240202",
        CertKind::Valid,
        Response::status(500),
    );
    let out = own_cache(
        &kit,
        &cache,
        &["example.com", "--grace", "0", "--mx", "mx1.example.com"],
    )
    .await;
    let text = stdout(&out);
    assert!(
        text.contains("example.com: cached policy (id 20240101, mode enforce; kept although discovery failed: https:"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("alert: the cached policy could not be checked")),
        "{text}"
    );
    assert_lines(
        &out,
        &[
            "decision: enforce: deliver only to an allowed MX host, over TLS with a certificate valid for its name; otherwise keep the mail queued",
            "mx mx1.example.com: allowed",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_policy_and_failures_deliver_as_without_mta_sts() {
    let kit = Kit::start().await;
    let cache = kit.scratch.path().join("cache.jsonl");
    let out = own_cache(
        &kit,
        &cache,
        &["nothing.example", "--mx", "mx.nothing.example"],
    )
    .await;
    assert_lines(
        &out,
        &[
            "nothing.example: no policy: no _mta-sts TXT record (the name does not exist)",
            "decision: no policy: deliver as without MTA-STS",
        ],
    );

    kit.publish(
        "untrusted.example",
        "1",
        CertKind::UnknownCa,
        Response::policy(ENFORCE),
    );
    let out = own_cache(
        &kit,
        &cache,
        &["untrusted.example", "--mx", "mx1.example.com"],
    )
    .await;
    let text = stdout(&out);
    assert!(
        text.starts_with("untrusted.example: discovery failed: https:"),
        "{text}"
    );
    assert_lines(
        &out,
        &[
            "report: sts-webpki-invalid (TLSRPT)",
            "decision: no policy: deliver as without MTA-STS",
        ],
    );
    assert!(!text.contains("alert"), "{text}");
    // Nothing was cached for either domain.
    assert!(!cache.exists() || std::fs::read_to_string(&cache).unwrap().is_empty());
}
