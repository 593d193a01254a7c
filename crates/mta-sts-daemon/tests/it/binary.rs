use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::temp_path;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn starts_answers_and_stops_cleanly_on_sigterm() {
    let port = free_port();
    let db = temp_path("binary.db");
    let config = temp_path("binary.yml");
    std::fs::write(
        &config,
        format!(
            "port: {port}\ncache:\n  type: sqlite\n  options:\n    filename: {}\n",
            db.display()
        ),
    )
    .unwrap();
    let pidfile = temp_path("binary.pid");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&pidfile)
        .args(["-v", "debug", "--disable-uvloop"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stream = stream.expect("the daemon listens");
    // A parent-domain key is answered without any DNS (APPLY-6).
    stream.write_all(b"20:postfix .example.com,").unwrap();
    let mut reply = [0u8; 12];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"9:NOTFOUND ,");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        child.id().to_string()
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("listening") && log.contains("shutting down"),
        "{log}"
    );
    assert!(db.exists(), "the SQLite cache was created");
    assert!(!pidfile.exists(), "the pid file is removed at exit");
}

#[test]
fn configuration_errors_exit_78_and_say_where() {
    let config = temp_path("bad.yml");
    std::fs::write(&config, "port: 8461\ndefault_zone:\n  timeout: forever\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml") && err.contains("line 3"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(["-c", "/nonexistent/mta-sts-daemon.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn help_names_the_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--verbosity",
        "--config",
        "--logfile",
        "--pidfile",
        "--disable-uvloop",
        "smtp_tls_policy_maps",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}
