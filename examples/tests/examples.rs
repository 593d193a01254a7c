//! Runs the example binaries as a user would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn lint_policy_reports_and_sets_the_exit_code() {
    let dir = std::env::temp_dir().join(format!("lint-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.txt");
    std::fs::write(
        &good,
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n",
    )
    .unwrap();
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "version: STSv1\nmode: Enforce\nmax_age: 604800\n").unwrap();
    let run = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_lint-policy"))
            .arg(path)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid, mode enforce"));
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 2: error [POL-4]"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn parse_txt_picks_the_record() {
    let out = Command::new(env!("CARGO_BIN_EXE_parse-txt"))
        .args([
            "v=spf1 -all",
            "v=STSv1; id=|abc",
            "v=TLSRPTv1; rua=mailto:r@example.com",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MTA-STS: id abc"), "{text}");
    assert!(
        text.contains("TLSRPT: report to mailto:r@example.com"),
        "{text}"
    );
}

#[test]
fn socketmap_static_answers_over_loopback() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_socketmap-static"))
        .args(["127.0.0.1:0", "example.com=secure match=mx.example.com"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"19:postfix Example.COM,15:postfix other.x,")
        .unwrap();
    let mut buf = vec![0u8; 46];
    stream.read_exact(&mut buf).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(buf, b"30:OK secure match=mx.example.com,9:NOTFOUND ,");
}
