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
        // Never the test's own stdout: a daemon left running must not hold the harness's pipe.
        .stdout(Stdio::null())
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
    let pidfile = dir.join("daemon.pid");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"));
    cmd.arg("-c")
        .arg(&config)
        .arg("-l")
        .arg(&log)
        .arg("-p")
        .arg(&pidfile)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null());
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
    // Issue 13: systemd hears RELOADING=1 (with the monotonic time it requires), then READY=1.
    let n = notify.recv(&mut buf).unwrap();
    let reloading = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    let n = notify.recv(&mut buf).unwrap();
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.contains("READY=1"), "{ready}");
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
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(stopping.contains("STOPPING=1"), "{stopping}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Issue 11, bug 3: the pid file goes away at exit, also after dropping privileges.
    assert!(!pidfile.exists(), "the pid file is removed at exit");
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

/// A running daemon binary, stopped (SIGTERM) by `stop`, killed if a failing test drops it.
struct Running {
    child: std::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        // After `stop` the child has been waited for; kill then fails harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self { child }
    }

    fn wait_listening(&self, port: u16) -> TcpStream {
        eventually_blocking(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .expect("the daemon listens")
    }

    /// Stops the daemon and returns its exit status and what it logged.
    fn stop(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        (status.code(), log)
    }
}

/// One socketmap request over `stream`; the reply's payload.
fn ask(stream: &mut TcpStream, key: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    exchange(stream, key)
}

/// The request and reply of [`ask`] over any stream (the caller bounds the wait).
fn exchange(stream: &mut (impl Read + Write), key: &str) -> String {
    let payload = format!("postfix {key}");
    stream
        .write_all(format!("{}:{payload},", payload.len()).as_bytes())
        .unwrap();
    let mut length = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).is_ok() && byte[0] != b':' {
        length.push(byte[0]);
    }
    let length: usize = String::from_utf8(length).unwrap().parse().unwrap();
    let mut body = vec![0u8; length + 1];
    stream.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body[..length]).into_owned()
}

/// Issue 11: a NOTFOUND answer says why at info, once per domain and change of state, with no
/// doubled "dns: dns:" prefix; `-v debug` shows the daemon's decisions, not the DNS library's
/// internals.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_notfound_reasons_are_logged_once_per_state() {
    let dns = mta_sts_testkit::TestDns::start().await.unwrap();
    let port = free_port();
    let config = temp_path("reasons.yml");
    std::fs::write(
        &config,
        format!(
            "port: {port}\ncache_grace: 0\ndns:\n  nameservers: ['{}']\n",
            dns.addr()
        ),
    )
    .unwrap();
    let daemon = Running::start(&["-c", config.to_str().unwrap(), "-v", "debug"]);
    let mut stream = tokio::task::block_in_place(|| daemon.wait_listening(port));
    let ask = |stream: &mut TcpStream, key: &str| tokio::task::block_in_place(|| ask(stream, key));
    for _ in 0..3 {
        assert_eq!(ask(&mut stream, "plain.example"), "NOTFOUND ");
    }
    // The domain publishes a record, but its policy host does not exist: discovery now fails.
    dns.add_txt("_mta-sts.plain.example", &[b"v=STSv1; id=a1"]);
    dns.set_behavior(
        "_mta-sts.other.example",
        mta_sts_testkit::DnsBehavior::ServFail,
    );
    // The "no record" answer is remembered for a while; another domain shows the failure now.
    for _ in 0..3 {
        assert_eq!(ask(&mut stream, "other.example"), "NOTFOUND ");
    }
    let (status, log) = daemon.stop();
    assert_eq!(status, Some(0), "{log}");
    let lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        lines("no _mta-sts TXT record (the name does not exist): answering NOTFOUND"),
        1,
        "{log}"
    );
    assert_eq!(
        lines("policy discovery failed with no policy cached: answering NOTFOUND"),
        1,
        "{log}"
    );
    assert!(
        log.contains("server answered Server Failure")
            || log.contains("SERVFAIL")
            || log.contains("server answered"),
        "{log}"
    );
    assert!(!log.contains("dns: dns:"), "{log}");
    assert!(
        !log.contains("hickory"),
        "DNS library internals at debug: {log}"
    );
}

/// Issue 11, bug 5: a trial run beside a live daemon: `--port` listens elsewhere without
/// SO_REUSEPORT; starting on the live daemon's port with reuse_port says that another process
/// listens there.
#[test]
fn issue_11_trial_runs_and_shared_ports() {
    let port = free_port();
    let config = temp_path("trial.yml");
    std::fs::write(&config, format!("port: {port}\n")).unwrap();
    let live = Running::start(&["-c", config.to_str().unwrap()]);
    let mut stream = live.wait_listening(port);
    assert_eq!(ask(&mut stream, ".example.com"), "NOTFOUND ");
    // A second daemon on the same port with reuse_port (the default): it starts, and warns.
    let second_log = temp_path("trial-second.log");
    let _ = std::fs::remove_file(&second_log);
    let second = Running::start(&[
        "-c",
        config.to_str().unwrap(),
        "-l",
        second_log.to_str().unwrap(),
    ]);
    let started = eventually_blocking(Duration::from_secs(10), || {
        std::fs::read_to_string(&second_log)
            .ok()
            .filter(|log| log.contains("listening"))
    })
    .expect("the second daemon started");
    assert!(
        started.contains(&format!(
            "another process already listens on 127.0.0.1:{port}"
        )),
        "{started}"
    );
    // The trial run: another port, even with the same file.
    let trial_port = free_port();
    let trial = Running::start(&[
        "-c",
        config.to_str().unwrap(),
        "--port",
        &trial_port.to_string(),
    ]);
    let mut trial_stream = trial.wait_listening(trial_port);
    assert_eq!(ask(&mut trial_stream, ".example.com"), "NOTFOUND ");
    let (status, log) = second.stop();
    assert_eq!(status, Some(0), "{log}");
    let (status, log) = trial.stop();
    assert_eq!(status, Some(0), "{log}");
    assert!(!log.contains("another process already listens"), "{log}");
    assert!(log.contains(&format!("127.0.0.1:{trial_port}")), "{log}");
    let (status, _) = live.stop();
    assert_eq!(status, Some(0));
}

/// Issue 11, bug 3: with -u, a cache the user may not write is a configuration error that says
/// "permission denied", which directory, and as which user (it was "unable to open database
/// file"). Needs root, to drop privileges.
#[test]
fn issue_11_cache_permission_errors_name_the_user() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test drops privileges: run it as root, as CI does"
    );
    let dir = temp_path("root-only");
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("c.yml");
    std::fs::write(
        &config,
        format!(
            "port: {}\ncache:\n  type: sqlite\n  options:\n    filename: {}\n",
            free_port(),
            dir.join("cache.db").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(["-c", config.to_str().unwrap(), "-u", "nobody"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("as user nobody"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        err.contains(&format!("{} is not writable", dir.display())),
        "{err}"
    );
}

/// SIGHUP never ends the daemon, whether or not it logs to a file (its default action would).
#[test]
fn sighup_without_a_log_file_does_not_stop_lookups() {
    let port = free_port();
    let config = temp_path("hup.yml");
    std::fs::write(&config, format!("port: {port}\n")).unwrap();
    let daemon = Running::start(&["-c", config.to_str().unwrap()]);
    let mut stream = daemon.wait_listening(port);
    Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(ask(&mut stream, ".example.com"), "NOTFOUND ");
    let (status, log) = daemon.stop();
    assert_eq!(status, Some(0), "{log}");
    assert!(log.contains("SIGHUP"), "{log}");
}

/// Issue 11, bugs 1 and 2 through the binary: a UNIX socket whose directory does not exist yet is
/// created with that directory and the configured mode, logged by its path (not `path=Some("…")`),
/// answers, and is gone after a clean stop.
#[test]
fn issue_11_unix_socket_in_a_new_directory_through_the_binary() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixStream;

    let dir = temp_path("unix-binary");
    let _ = std::fs::remove_dir_all(&dir);
    let socket = dir.join("mta-sts").join("mta-sts.sock");
    let config = temp_path("unix-binary.yml");
    std::fs::write(&config, format!("path: {}\nmode: 0660\n", socket.display())).unwrap();
    let daemon = Running::start(&["-c", config.to_str().unwrap()]);
    let mut stream = eventually_blocking(Duration::from_secs(10), || {
        UnixStream::connect(&socket).ok()
    })
    .expect("the daemon listens on its UNIX socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(exchange(&mut stream, "localhost"), "NOTFOUND ");
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let directory = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(directory.permissions().mode() & 0o777, 0o750);
    drop(stream);
    let (status, log) = daemon.stop();
    assert_eq!(status, Some(0), "{log}");
    assert!(
        log.contains(&format!("path={}", socket.display())),
        "the socket is logged by its path: {log}"
    );
    assert!(!log.contains("Some("), "{log}");
    assert!(log.contains("created the socket directory"), "{log}");
    assert!(!socket.exists(), "the socket is removed at exit");
}

/// Issue 13, live reload through the binary: SIGHUP re-reads the file and a zone change applies to
/// the connection Postfix already has open (same socket, new answer); a change that needs a
/// restart is said and the running value kept; an invalid file is refused with its error and the
/// running configuration keeps answering; Postfix's `postmap -q` works throughout.
#[test]
fn sighup_reloads_the_configuration_without_closing_connections() {
    let postmap = crate::postmap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dns = runtime.block_on(mta_sts_testkit::TestDns::start()).unwrap();
    // The domain publishes a record but its policy host does not exist: discovery fails, and the
    // zone's on_failure decides between NOTFOUND (the default) and TEMP.
    dns.add_txt("_mta-sts.broken.example", &[b"v=STSv1; id=a1"]);
    let port = free_port();
    let config = temp_path("reload.yml");
    let logfile = temp_path("reload.log");
    let _ = std::fs::remove_file(&logfile);
    let base = format!(
        "port: {port}\ncache_grace: 0\ndns:\n  nameservers: ['{}']\n",
        dns.addr()
    );
    std::fs::write(&config, &base).unwrap();
    let daemon = Running::start(&[
        "-c",
        config.to_str().unwrap(),
        "-l",
        logfile.to_str().unwrap(),
    ]);
    let mut postfix = daemon.wait_listening(port);
    let conf = temp_path("reload-postfix-conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("main.cf"), "").unwrap();
    let map = format!("socketmap:inet:127.0.0.1:{port}:postfix");
    let postmap_q = |key: &str| {
        let out = Command::new(postmap)
            .arg("-c")
            .arg(&conf)
            .args(["-q", key, &map])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // NOTFOUND: nothing printed, status 1. TEMP: postmap stops with a query error (status 1).
    let notfound = |(code, out, err): (Option<i32>, String, String)| {
        code == Some(1) && out.is_empty() && err.is_empty()
    };
    let temporary = |(code, out, err): (Option<i32>, String, String)| {
        code == Some(1) && out.is_empty() && err.contains("error")
    };
    let log = || std::fs::read_to_string(&logfile).unwrap_or_default();
    let reloads = || log().matches("SIGHUP: configuration").count();
    // Signals of one kind do not queue: send the next SIGHUP only once the last one was handled.
    let reload_with = |text: String| {
        let before = reloads();
        std::fs::write(&config, text).unwrap();
        Command::new("kill")
            .args(["-HUP", &daemon.child.id().to_string()])
            .status()
            .unwrap();
        eventually_blocking(Duration::from_secs(10), || {
            (reloads() > before).then_some(())
        })
        .unwrap_or_else(|| panic!("the SIGHUP was handled: {}", log()));
    };
    assert_eq!(ask(&mut postfix, "broken.example"), "NOTFOUND ");
    assert!(notfound(postmap_q("broken.example")));

    reload_with(format!(
        "{base}default_zone:\n  on_failure: temp\nmax_connections: 7\n"
    ));
    let temp = ask(&mut postfix, "broken.example");
    assert!(
        temp.starts_with("TEMP ") && temp.contains("broken.example"),
        "the reloaded zone answers on the connection that was open: {temp}"
    );
    let answer = postmap_q("broken.example");
    assert!(temporary(answer.clone()), "{answer:?}");

    // Invalid files: refused with their error, and the running configuration stays.
    reload_with(format!("{base}default_zone: [\n"));
    reload_with(format!("{base}default_zone:\n  timeout: 1000\n"));
    assert!(ask(&mut postfix, "broken.example").starts_with("TEMP "));
    assert!(temporary(postmap_q("broken.example")));

    // Metrics turned on by a reload; the reloads so far are counted.
    let metrics_port = free_port();
    reload_with(format!(
        "{base}default_zone:\n  on_failure: temp\nlog_level: debug\nmetrics:\n  listen: 127.0.0.1:{metrics_port}\n"
    ));
    assert!(ask(&mut postfix, "broken.example").starts_with("TEMP "));
    eventually_blocking(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", metrics_port)).ok()
    })
    .expect("the metrics endpoint a reload turned on listens");
    let scrape = runtime.block_on(crate::metrics::scrape(
        ([127, 0, 0, 1], metrics_port).into(),
    ));
    for (result, count) in [("ok", 2.0), ("failed", 2.0)] {
        assert_eq!(
            scrape.get("mta_sts_config_reloads_total", &[("result", result)]),
            count
        );
    }
    let (status, stderr) = daemon.stop();
    let log = log();
    assert_eq!(status, Some(0), "{stderr}{log}");
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("configuration not reloaded, the running one stays in force"))
        .collect();
    assert_eq!(refused.len(), 2, "{log}");
    assert!(refused[1].contains("default_zone.timeout"), "{log}");
    assert!(
        log.contains("max_connections: 7 (running: 4096): this change needs a restart"),
        "{log}"
    );
    assert!(log.contains("changed=default_zone"), "{log}");
    assert!(log.contains("changed=log_level"), "{log}");
    // log_level: debug took effect: lookups are now logged one by one.
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("lookup")),
        "{log}"
    );
}
