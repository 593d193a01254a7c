use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lint_policy_exit_codes_and_line_numbers() {
    let good = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r\n";
    let out = run(&["lint-policy", "-"], Some(good));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("-: no problems found"));

    let warn = "version: STSv1\r\nmode: enforce\r\n\r\nmx: mx.example.com\r\nmax_age: 3600\r\n";
    let out = run(&["lint-policy", "-"], Some(warn));
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("-:3: warning [A-5]"), "{t}");
    assert!(t.contains("-:5: warning [POL-5]"), "{t}");

    let path = std::env::temp_dir().join(format!("lint-{}.txt", std::process::id()));
    std::fs::write(
        &path,
        "version: STSv1\nmode: Enforce\nmx: *.example.com\nmax_age: 604800\n",
    )
    .unwrap();
    let out = run(
        &[
            "lint-policy",
            path.to_str().unwrap(),
            "--domain",
            "example.com",
            "--json",
        ],
        None,
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let rules: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap())
        .collect();
    // The invalid mode is reported once, not again as a missing field (no follow-on POL-2).
    assert!(
        rules.contains(&"POL-4") && rules.contains(&"SEC-5") && !rules.contains(&"POL-2"),
        "{rules:?}"
    );
    assert_eq!(v["diagnostics"][0]["line"], 2);

    let out = run(&["lint-policy", "/nonexistent/policy.txt"], None);
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn lint_txt_records() {
    let out = run(&["lint-txt", "v=STSv1; id=20240101;"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("valid: v=STSv1; id=20240101"));
    let out = run(&["lint-txt", "v=STSv1; id=2024-01-01"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error [TXT-4]: at byte 16"),
        "{}",
        text(&out)
    );
    let out = run(
        &[
            "lint-txt",
            "--json",
            "v=TLSRPTv1; rua=mailto:a@example.com!10m",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["diagnostics"][0]["rule"], "RPT-4");
}

#[test]
fn options_before_the_subcommand() {
    // Global options may come first: `--json lint-txt` must not read "lint-txt" as a DOMAIN.
    let out = run(&["--json", "lint-txt", "v=STSv1; id=a"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("\"valid\": true"), "{}", text(&out));
}

/// Runs `lint-txt` with `args` and returns (exit status, standard output).
fn lint_txt(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["lint-txt"];
    all.extend_from_slice(args);
    let out = run(&all, None);
    (out.status.code(), text(&out))
}

#[test]
fn lint_txt_reports_what_it_found_and_the_record_kinds() {
    // TXT-3, RPT-2: (arguments, exit status, what the output must say)
    let kinds = "an MTA-STS record, at _mta-sts.DOMAIN, begins with \"v=STSv1\"; \
                 a TLSRPT record, at _smtp._tls.DOMAIN, with \"v=TLSRPTv1\"";
    let table: &[(&[&str], i32, &[&str])] = &[
        (
            &["v=TLSRPTv2; rua=mailto:a@example.com"],
            2,
            &[
                "error [RPT-2]",
                "must begin with \"v=TLSRPTv1\", found \"v=TLSRPTv2\"",
                "read as a TLSRPT record (--sts or --tlsrpt to choose)",
                kinds,
            ],
        ),
        (
            &["v=TLSRPTv;"],
            2,
            &["error [RPT-2]", "found \"v=TLSRPTv\"", kinds],
        ),
        (
            &["rua=mailto:a@example.com"],
            2,
            &[
                "error [RPT-2]",
                "found \"rua=mailto:a@example.com\"",
                "read as a TLSRPT record",
            ],
        ),
        (
            &["id=abc; v=STSv1"],
            2,
            &[
                "error [TXT-3]",
                "found \"id=abc\"",
                "read as an MTA-STS record",
            ],
        ),
        (
            &["v=spf1 -all"],
            2,
            &[
                "error [TXT-3]",
                "found \"v=spf1 -all\"",
                "neither kind of record, so read as an MTA-STS record",
                kinds,
            ],
        ),
        (
            &["--sts", "v=TLSRPTv1; rua=mailto:a@example.com"],
            2,
            &[
                "error [TXT-3]",
                "found \"v=TLSRPTv1\"",
                "read as an MTA-STS record, as asked",
            ],
        ),
        (
            &["--tlsrpt", "v=STSv1; id=a"],
            2,
            &[
                "error [RPT-2]",
                "found \"v=STSv1\"",
                "read as a TLSRPT record, as asked",
            ],
        ),
        (
            &["--tlsrpt", "v=TLSRPTv1; rua=mailto:a@example.com"],
            0,
            &["valid: v=TLSRPTv1; rua=mailto:a@example.com"],
        ),
        (
            &["v=TLSRPTv1;rua=mailto:a@example.com", "--sts"],
            2,
            &["error [TXT-3]"],
        ),
    ];
    for (args, code, says) in table {
        let (status, out) = lint_txt(args);
        assert_eq!(status, Some(*code), "{args:?}: {out}");
        for text in *says {
            assert!(out.contains(text), "{args:?}: no {text:?} in {out}");
        }
    }
    let out = run(&["lint-txt", "--sts", "--tlsrpt", "v=STSv1; id=a"], None);
    assert_eq!(out.status.code(), Some(64));
    // --json names the grammar the record was judged by.
    let out = run(&["lint-txt", "--json", "rua=mailto:a@example.com"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "tlsrpt");
    assert_eq!(v["diagnostics"][0]["rule"], "RPT-2");
    let out = run(&["lint-txt", "--json", "v=STSv1; id=a"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "sts");
}

#[test]
fn lint_txt_warns_about_rua_that_reports_may_not_reach() {
    // RPT-3: the record is valid (exit 1, "valid:"), each odd URI is one warning.
    let record =
        "v=TLSRPTv1; rua=mailto:tls..rpt@example.com,https://reports.123/v1,mailto:ok@example.com";
    let (status, out) = lint_txt(&[record]);
    assert_eq!(status, Some(1), "{out}");
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("warning [RPT-3]"))
        .collect();
    assert_eq!(warnings.len(), 2, "{out}");
    assert!(warnings[0].contains("rua mailto:tls..rpt@example.com: the local part \"tls..rpt\""));
    assert!(warnings[1].contains("rua https://reports.123/v1: the host \"reports.123\""));
    assert!(
        warnings
            .iter()
            .all(|w| w.ends_with("reports sent to it may never arrive"))
    );
    assert!(out.contains(&format!("valid: {record}")), "{out}");

    let out = run(
        &["lint-txt", "--json", "v=TLSRPTv1; rua=mailto:a@192.0.2.1"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
    assert_eq!(v["diagnostics"][0]["rule"], "RPT-3");

    let (status, out) = lint_txt(&["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"]);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("no problems found"));
}

#[test]
fn lint_txt_messages() {
    // (record, exit status, what the output must say)
    let table: &[(&str, i32, &str)] = &[
        // TXT-5, RPT-3: a lone trailing ";" leaves the required field missing.
        (
            "v=STSv1;",
            2,
            "error [TXT-5]: at byte 8: the required id field is missing",
        ),
        ("v=STSv1; ", 2, "error [TXT-5]"),
        (
            "v=TLSRPTv1;",
            2,
            "error [RPT-3]: at byte 11: the required rua field is missing",
        ),
        (
            "v=STSv1;;id=abc",
            2,
            "error [TXT-6]: at byte 8: empty field",
        ),
        // TXT-7: the first character of a field name.
        (
            "v=STSv1; id=abc; _x=1",
            2,
            "error [TXT-7]: at byte 17: a field name must start with a letter or digit, not '_'",
        ),
        // TXT-8: a later id is ignored, not judged as an id.
        ("v=STSv1; id=abc; id=a-b", 0, "valid: v=STSv1; id=abc"),
    ];
    for (record, code, says) in table {
        let (status, out) = lint_txt(&[record]);
        assert_eq!(status, Some(*code), "{record:?}: {out}");
        assert!(out.contains(says), "{record:?}: no {says:?} in {out}");
    }
}

#[test]
fn lint_txt_help_names_the_kind_flags() {
    let out = run(&["lint-txt", "--help"], None);
    let help = text(&out);
    assert!(
        help.contains("--sts") && help.contains("--tlsrpt"),
        "{help}"
    );
    assert!(
        help.contains("_smtp._tls") && help.contains("_mta-sts"),
        "{help}"
    );
}
