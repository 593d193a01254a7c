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
    assert!(
        rules.contains(&"POL-4") && rules.contains(&"SEC-5") && rules.contains(&"POL-2"),
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
