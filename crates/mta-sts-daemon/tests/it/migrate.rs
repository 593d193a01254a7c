use std::collections::BTreeSet;
use std::process::{Command, Output};

use mta_sts_testkit::{CertKind, HostConfig, Response, TestPostgres};

use crate::{ENFORCE, Kit, query, temp_path};

const TESTING: &str = "version: STSv1\nmode: testing\nmx: mx1.testing.example\nmax_age: 86400\n";
const WILDCARD: &str = "version: STSv1\nmode: enforce\nmx: *.wild.example\nmx: backup.example.net\nmax_age: 1209600\nnote: kept as written\n";

fn binary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(args)
        .output()
        .unwrap()
}

fn lines(path: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An exported line with its policy's lines sorted: PostgreSQL keeps the policy as `jsonb`, which
/// does not keep the file's line order (docs/caches.md); the content is what must survive.
fn unordered(line: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    let mut policy: Vec<&str> = value["policy"].as_str().unwrap().lines().collect();
    policy.sort_unstable();
    let policy = policy.join("\n");
    value["policy"] = policy.into();
    value.to_string()
}

/// A reply with its TLSRPT `policy_string` attributes sorted, for the same reason.
fn unordered_reply(reply: &str) -> String {
    let reply = reply.strip_suffix(" }").unwrap_or(reply);
    let (head, strings) = reply.split_once(" { ").unwrap_or((reply, ""));
    let mut strings: Vec<&str> = strings.split(" } { ").collect();
    strings.sort_unstable();
    format!("{head} {}", strings.join("|"))
}

/// Export from SQLite, import into PostgreSQL (through the real binary): the daemon on
/// PostgreSQL gives the same answers with every policy host failing and without a single HTTPS
/// request, and exporting PostgreSQL gives back the same lines.
#[tokio::test(flavor = "multi_thread")]
async fn export_from_sqlite_import_into_postgres_same_answers_without_https() {
    let kit = Kit::start().await;
    let domains = [
        ("example.com", "a1", ENFORCE),
        ("testing.example", "t1", TESTING),
        ("wild.example", "w1", WILDCARD),
    ];
    for (domain, id, policy) in domains {
        kit.publish(domain, id, CertKind::Valid, Response::policy(policy));
    }
    let zones = "zones:\n  strict:\n    strict_testing: true\n  report:\n    tlsrpt: true\n";
    let db = temp_path("migrate.db");
    let _ = std::fs::remove_file(&db);
    let sqlite = format!(
        "{zones}cache:\n  type: sqlite\n  options:\n    filename: {}\n",
        db.display()
    );
    let daemon = kit.start_tcp(&sqlite).await;
    let mut before = Vec::new();
    for (domain, _, _) in domains {
        for map in ["postfix", "strict", "report"] {
            before.push(query(daemon.addr.unwrap(), map, domain).await);
        }
    }
    daemon.shutdown().await;
    assert!(before[0].starts_with("OK secure"), "{before:?}");

    let sqlite_yml = temp_path("migrate-sqlite.yml");
    std::fs::write(&sqlite_yml, &sqlite).unwrap();
    let dump = temp_path("migrate.jsonl");
    let out = binary(&[
        "export",
        "-c",
        sqlite_yml.to_str().unwrap(),
        dump.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("exported 3 entries from the sqlite cache"),
        "{err}"
    );
    assert_eq!(lines(&dump).len(), 3);

    let postgres = TestPostgres::start().unwrap();
    let dsn = postgres.database("migrate").unwrap();
    let pg = format!("{zones}cache:\n  type: postgres\n  options:\n    dsn: \"{dsn}\"\n");
    let pg_yml = temp_path("migrate-postgres.yml");
    std::fs::write(&pg_yml, &pg).unwrap();
    let out = binary(&[
        "import",
        "-c",
        pg_yml.to_str().unwrap(),
        dump.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("imported 3 entries into the postgres cache; 0 bad lines"),
        "{err}"
    );

    // Every policy host fails from now on: only the imported entries can answer.
    let requests: usize = domains.iter().map(|(d, _, _)| kit.requests(d)).sum();
    for (domain, _, _) in domains {
        kit.https.set_host(
            &format!("mta-sts.{domain}"),
            HostConfig::valid(Response::status(500)),
        );
    }
    let daemon = kit.start_tcp(&pg).await;
    let mut after = Vec::new();
    for (domain, _, _) in domains {
        for map in ["postfix", "strict", "report"] {
            after.push(query(daemon.addr.unwrap(), map, domain).await);
        }
    }
    daemon.shutdown().await;
    let sorted = |replies: &[String]| -> Vec<String> {
        replies.iter().map(|r| unordered_reply(r)).collect()
    };
    assert_eq!(sorted(&after), sorted(&before));
    // Without TLSRPT attributes, byte for byte.
    for (i, (after, before)) in after.iter().zip(&before).enumerate() {
        if i % 3 != 2 {
            assert_eq!(after, before);
        }
    }
    let now: usize = domains.iter().map(|(d, _, _)| kit.requests(d)).sum();
    assert_eq!(now, requests, "no HTTPS request was made");

    // And back: PostgreSQL exports the entries SQLite did (domain, id, fetch time, policy).
    let back = temp_path("migrate-back.jsonl");
    let out = binary(&[
        "export",
        "-c",
        pg_yml.to_str().unwrap(),
        back.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let unordered_lines =
        |path| -> BTreeSet<String> { lines(path).iter().map(|l| unordered(l)).collect() };
    assert_eq!(unordered_lines(&back), unordered_lines(&dump));
}

/// Bad lines are reported with their number, the others imported, and the exit status is 1;
/// stdin and stdout are `-`; the internal cache has nothing to export.
#[test]
fn import_reports_bad_lines_and_internal_has_nothing_to_export() {
    use std::io::Write;
    let db = temp_path("import-bad.db");
    let _ = std::fs::remove_file(&db);
    let yml = temp_path("import-bad.yml");
    std::fs::write(
        &yml,
        format!(
            "cache:\n  type: sqlite\n  options:\n    filename: {}\n",
            db.display()
        ),
    )
    .unwrap();
    let good = r#"{"domain":"example.com","id":"a1","fetched_at":1700000000,"policy":"version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n"}"#;
    let input = format!("{good}\n{{\"domain\":\"x.example\"}}\nnot json\n\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(["import", "-c", yml.to_str().unwrap(), "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("line 2: ") && err.contains("line 3: "),
        "{err}"
    );
    assert!(
        err.contains("imported 1 entries into the sqlite cache; 2 bad lines"),
        "{err}"
    );
    let out = binary(&["export", "-c", yml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let exported = String::from_utf8(out.stdout).unwrap();
    assert_eq!(exported.lines().count(), 1);
    assert!(
        exported.contains(r#""domain":"example.com","id":"a1","fetched_at":1700000000"#),
        "{exported}"
    );
    let internal = temp_path("export-internal.yml");
    std::fs::write(&internal, "cache:\n  type: internal\n").unwrap();
    let out = binary(&["export", "-c", internal.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to export"));
}
