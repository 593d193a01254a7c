use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use mta_sts_testkit::eventually_blocking;

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
    let mut stream = eventually_blocking(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the daemon listens");
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
    assert!(
        err.contains("bad.yml:3:12: default_zone.timeout: "),
        "{err}"
    );
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

#[test]
fn drops_privileges_notifies_systemd_and_reopens_its_log() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        .starts_with(b"0\n");
    let dir = temp_path("privileges");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let port = free_port();
    let config = dir.join("d.yml");
    std::fs::write(
        &config,
        format!(
            "port: {port}\ncache:\n  type: sqlite\n  options:\n    filename: {}\n",
            dir.join("c.db").display()
        ),
    )
    .unwrap();
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let log = dir.join("daemon.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"));
    cmd.arg("-c")
        .arg(&config)
        .arg("-l")
        .arg(&log)
        .env("NOTIFY_SOCKET", &notify_path);
    if is_root {
        cmd.args(["-u", "nobody"]);
    }
    let mut child = cmd.spawn().unwrap();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).unwrap();
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS=listening on 127.0.0.1:"),
        "{ready}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_owned();
    if is_root {
        let nobody = String::from_utf8(
            Command::new("id")
                .args(["-u", "nobody"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(
            uid_line
                .split_whitespace()
                .skip(1)
                .all(|u| u == nobody.trim()),
            "{uid_line}"
        );
    }
    // logrotate: move the file away, SIGHUP, and the daemon writes to a new file at the old path.
    std::fs::rename(&log, dir.join("daemon.log.1")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let reopened = eventually_blocking(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .is_ok_and(|t| t.contains("log file reopened"))
            .then_some(())
    });
    assert!(reopened.is_some(), "no new log file after SIGHUP");
    assert!(
        std::fs::read_to_string(dir.join("daemon.log.1"))
            .unwrap()
            .contains("listening")
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let n = notify.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Every example configuration in contrib/ loads without error or warning.
#[test]
fn contrib_configurations_load() {
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib");
    let mut count = 0;
    for entry in std::fs::read_dir(&contrib).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml") {
            let (_, warnings) =
                mta_sts_daemon::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
            count += 1;
        }
    }
    assert!(count >= 5, "only {count} example configurations");
}

/// Issue 10, bug 3: each failure class exits with the status `--help` and mta-sts-daemon(1)
/// promise.
#[test]
fn issue_10_exit_codes_match_help_and_man_page() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
            .args(args)
            .output()
            .unwrap()
    };
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let man = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man/mta-sts-daemon.1"),
    )
    .unwrap();
    let section = man.split(".SH EXIT STATUS").nth(1).unwrap();
    let section = section.split("\n.SH ").next().unwrap();
    for (code, help_text, man_text) in [
        ("0", "clean shutdown", "clean shutdown"),
        ("2", "invalid command line", "invalid command line"),
        (
            "78",
            "the configuration cannot be used",
            "the configuration cannot be used",
        ),
        ("1", "any other failure", "any other failure"),
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(code) && l.contains(help_text)),
            "--help lacks {code} {help_text}:\n{help}"
        );
        assert!(
            section.contains(&format!(".B {code}\n{man_text}")),
            "the man page lacks {code} {man_text}:\n{section}"
        );
    }

    // 2: a flag that does not exist.
    assert_eq!(run(&["--no-such-flag"]).status.code(), Some(2));
    // 78: an invalid file, an unreadable file, a user that does not exist, a cache file that
    // cannot be opened.
    let config = temp_path("exit-invalid.yml");
    std::fs::write(&config, "port: many\n").unwrap();
    assert_eq!(
        run(&["-c", config.to_str().unwrap()]).status.code(),
        Some(78)
    );
    assert_eq!(run(&["-c", "/nonexistent/x.yml"]).status.code(), Some(78));
    let port = free_port();
    let config = temp_path("exit-user.yml");
    std::fs::write(&config, format!("port: {port}\n")).unwrap();
    let out = run(&["-c", config.to_str().unwrap(), "-u", "no-such-user-here"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user: no-such-user-here"));
    let config = temp_path("exit-cache.yml");
    std::fs::write(
        &config,
        format!("port: {port}\ncache:\n  type: sqlite\n  options:\n    filename: /nonexistent/dir/c.db\n"),
    )
    .unwrap();
    let out = run(&["-c", config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 1: the port is taken by another program (no SO_REUSEPORT on either side).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = temp_path("exit-bind.yml");
    std::fs::write(
        &config,
        format!(
            "port: {}\nreuse_port: no\n",
            taken.local_addr().unwrap().port()
        ),
    )
    .unwrap();
    let out = run(&["-c", config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Said once, not twice, when the log is standard error.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("cannot listen").count(), 1, "{err}");
}
