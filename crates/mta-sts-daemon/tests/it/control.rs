use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mta_sts_daemon::ctl::CtlCommand;
use mta_sts_daemon::{DomainReport, StatsReport};
use mta_sts_testkit::{CertKind, ConnectProxy, HostConfig, Response, TestRedis, eventually};

use crate::{ENFORCE, Kit, Running, query, temp_path};

/// The changed policy: same shape, another MX host.
fn changed() -> String {
    ENFORCE.replace("mail.example.com", "new.example.com")
}

/// Runs `ctl` through the library's client (the same code as `mta-sts-daemon ctl`), off the
/// runtime since the client blocks: its exit status and what it printed.
pub(crate) async fn ctl(socket: &Path, command: CtlCommand, json: bool) -> (u8, String) {
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let status = mta_sts_daemon::ctl::run(&socket, &command, json, &mut out)
            .unwrap_or_else(|e| panic!("ctl: {e}"));
        (status, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap()
}

pub(crate) fn show(domain: &str) -> CtlCommand {
    CtlCommand::Show {
        domain: domain.into(),
    }
}

pub(crate) fn purge(domains: &[&str]) -> CtlCommand {
    CtlCommand::Purge {
        all: false,
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
    }
}

pub(crate) fn refresh(domain: &str) -> CtlCommand {
    CtlCommand::Refresh {
        domains: vec![domain.into()],
    }
}

pub(crate) fn fresh_socket(name: &str) -> PathBuf {
    let path = temp_path(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Each command against a running daemon with the internal cache, SQLite and Redis.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_with_internal_sqlite_and_redis() {
    let redis = TestRedis::start().unwrap();
    let db = temp_path("control.db");
    let _ = std::fs::remove_file(&db);
    let backends = [
        ("internal", String::new()),
        (
            "sqlite",
            format!(
                "cache:\n  type: sqlite\n  options:\n    filename: {}\n",
                db.display()
            ),
        ),
        (
            "redis",
            format!(
                "cache:\n  type: redis\n  options:\n    url: \"{}/0\"\n",
                redis.url()
            ),
        ),
    ];
    for (backend, yaml) in backends {
        let kit = Kit::start().await;
        let socket = fresh_socket(&format!("{backend}.sock"));
        let yaml = format!("{yaml}control:\n  socket: {}\n", socket.display());
        let daemon = kit.start_tcp(&yaml).await;
        exercise(&kit, &daemon, &socket, backend).await;
        daemon.shutdown().await;
        assert!(!socket.exists(), "{backend}: the socket is removed at exit");
    }
}

async fn exercise(kit: &Kit, daemon: &Running, socket: &Path, backend: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{backend}");
    let addr = daemon.addr.unwrap();
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "other.example",
        "o1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "broken.example",
        "b1",
        CertKind::Valid,
        Response::status(500),
    );
    for domain in ["example.com", "other.example"] {
        assert!(
            query(addr, "postfix", domain)
                .await
                .starts_with("OK secure")
        );
    }
    assert_eq!(query(addr, "postfix", "broken.example").await, "NOTFOUND ");

    // show: the entry and what the resolver remembers.
    let (status, text) = ctl(socket, show("example.com"), false).await;
    assert_eq!(status, 0);
    for part in [
        "example.com\n",
        "policy:        mode enforce, max_age 604800 s, mx mail.example.com, *.example.net",
        "TXT id:        a1",
        "fetched at:    ",
        "last check:    ",
        "last failure:  none",
        "DANE:          off",
    ] {
        assert!(
            text.contains(part),
            "{backend}: {part:?} missing from\n{text}"
        );
    }
    let (_, json) = ctl(socket, show("Example.COM."), true).await;
    let report: DomainReport = serde_json::from_str(json.trim()).unwrap();
    let entry = report.cached.expect("cached");
    assert_eq!((entry.id.as_str(), entry.mode.as_str()), ("a1", "enforce"));
    assert!(entry.valid && report.last_checked.is_some());
    let (_, text) = ctl(socket, show("broken.example"), false).await;
    assert!(text.contains("policy:        none cached"), "{text}");
    assert!(
        text.contains("last failure:  https") && text.contains("sts-policy-fetch-error"),
        "{backend}: {text}"
    );
    assert!(text.contains("fetch backoff: b1: "), "{text}");

    // list, as text and as JSON lines.
    let (_, text) = ctl(socket, CtlCommand::List, false).await;
    assert!(
        text.contains("example.com  enforce id=a1 mx=mail.example.com,*.example.net"),
        "{text}"
    );
    assert!(text.contains("other.example  enforce id=o1"), "{text}");
    assert!(text.ends_with("2 cached policies\n"), "{text}");
    let (_, json) = ctl(socket, CtlCommand::List, true).await;
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{json}");
    assert_eq!(lines[2]["entries"], 2);

    // stats.
    let (_, json) = ctl(socket, CtlCommand::Stats, true).await;
    let stats: StatsReport = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(stats.backend, backend);
    assert_eq!(stats.entries, Some(2));
    assert!(stats.connections_total >= 3, "{stats:?}");
    // The three lookups above, counted by the metrics module whether or not it is served.
    assert_eq!(stats.lookups, Some(3), "{stats:?}");
    let queued = if backend == "internal" { None } else { Some(0) };
    assert_eq!(stats.queued_writes, queued);
    let (_, text) = ctl(socket, CtlCommand::Stats, false).await;
    assert!(
        text.contains(&format!("backend:           {backend}\n")),
        "{text}"
    );

    // refresh: the TXT record is read again (new id) and the new policy fetched now, within
    // cache_grace, and answered at once.
    kit.publish(
        "example.com",
        "a2",
        CertKind::Valid,
        Response::policy(&changed()),
    );
    let (status, text) = ctl(socket, refresh("example.com"), false).await;
    assert_eq!(status, 0, "{text}");
    assert!(
        text.starts_with("example.com: ok: policy fetched (id a2, mode enforce)"),
        "{text}"
    );
    assert!(text.contains("mx new.example.com, *.example.net"), "{text}");
    let answer = query(addr, "postfix", "example.com").await;
    assert!(
        answer.contains("match=new.example.com:.example.net"),
        "{answer}"
    );
    let (status, text) = ctl(socket, refresh("broken.example"), false).await;
    assert_eq!(status, 1, "a failed refresh exits 1: {text}");
    assert!(
        text.starts_with("broken.example: FAILED: discovery failed: https"),
        "{text}"
    );

    // purge: the store, the resolver's memory, the replies; the next lookup discovers afresh.
    let before = kit.requests("example.com");
    let (status, text) = ctl(socket, purge(&["example.com"]), false).await;
    assert_eq!((status, text.as_str()), (0, "purged example.com\n"));
    let (_, text) = ctl(socket, show("example.com"), false).await;
    assert!(
        text.contains("none cached") && text.contains("not within cache_grace"),
        "{text}"
    );
    let answer = query(addr, "postfix", "example.com").await;
    assert!(answer.contains("match=new.example.com"), "{answer}");
    assert_eq!(
        kit.requests("example.com"),
        before + 1,
        "fetched again at once"
    );
    let (status, text) = ctl(socket, purge(&["broken.example"]), false).await;
    assert_eq!(status, 0);
    assert_eq!(text, "purged broken.example\n");
    let (_, text) = ctl(socket, show("broken.example"), false).await;
    assert!(text.contains("last failure:  none"), "{text}");

    // purge --all: every cached domain, and what is remembered of others (a failure here).
    assert_eq!(query(addr, "postfix", "broken.example").await, "NOTFOUND ");
    let (_, text) = ctl(socket, show("broken.example"), false).await;
    assert!(text.contains("last failure:  https"), "{text}");
    let all = CtlCommand::Purge {
        all: true,
        domains: Vec::new(),
    };
    let (status, text) = ctl(socket, all, false).await;
    assert_eq!(status, 0);
    // Redis walks its keys in no particular order.
    let mut purged: Vec<&str> = text.lines().collect();
    purged.sort_unstable();
    assert_eq!(purged, ["purged example.com", "purged other.example"]);
    let (_, text) = ctl(socket, CtlCommand::List, false).await;
    assert_eq!(text, "0 cached policies\n");
    let (_, text) = ctl(socket, show("broken.example"), false).await;
    assert!(
        text.contains("last failure:  none") && !text.contains("backoff"),
        "{text}"
    );
}

/// A purge through one daemon of a shared Redis is seen by another daemon once its in-process
/// tier stops trusting its copy (`cache_grace`, here 1 s): it discovers the domain afresh. A
/// domain not purged keeps its policy there (same TXT id, so no fetch): the change is the purge's.
#[tokio::test(flavor = "multi_thread")]
async fn purge_in_a_shared_redis_is_seen_by_a_second_daemon() {
    let redis = TestRedis::start().unwrap();
    let kit = Kit::start().await;
    kit.publish(
        "purged.example",
        "p1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "kept.example",
        "k1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let shared = format!(
        "cache_grace: 1\ncache:\n  type: redis\n  options:\n    url: \"{}/0\"\n",
        redis.url()
    );
    let socket = fresh_socket("shared.sock");
    let first = kit
        .start_tcp(&format!(
            "{shared}control:\n  socket: {}\n",
            socket.display()
        ))
        .await;
    let second = kit.start_tcp(&shared).await;
    let addr = second.addr.unwrap();
    for domain in ["purged.example", "kept.example"] {
        let answer = query(addr, "postfix", domain).await;
        assert!(answer.contains("match=mail.example.com"), "{answer}");
    }
    // Same ids, new bodies: only a fetch can pick them up.
    for domain in ["purged.example", "kept.example"] {
        kit.https.set_host(
            &format!("mta-sts.{domain}"),
            HostConfig::valid(Response::policy(&changed())),
        );
    }
    let (status, text) = ctl(&socket, purge(&["purged.example"]), false).await;
    assert_eq!((status, text.as_str()), (0, "purged purged.example\n"));
    let seen = eventually(Duration::from_secs(20), || async {
        let answer = query(addr, "postfix", "purged.example").await;
        answer.contains("match=new.example.com").then_some(())
    })
    .await;
    assert!(seen.is_some(), "the second daemon never saw the purge");
    let kept = query(addr, "postfix", "kept.example").await;
    assert!(kept.contains("match=mail.example.com"), "{kept}");
    first.shutdown().await;
    second.shutdown().await;
}

fn binary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(args)
        .output()
        .unwrap()
}

/// The real binary with a control socket, driven by `mta-sts-daemon ctl`; its errors when the
/// daemon is gone or the configuration names no socket.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_ctl_and_says_what_is_wrong() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    // The binary fetches on port 443; the proxy takes every CONNECT to the test kit's server.
    let proxy = ConnectProxy::start(kit.https.addr(), false).await.unwrap();
    let ca = temp_path("control-ca.pem");
    std::fs::write(&ca, kit.ca.cert_pem()).unwrap();
    let db = temp_path("control-binary.db");
    let _ = std::fs::remove_file(&db);
    // A directory that does not exist yet: the daemon creates it.
    let directory = temp_path("control-binary-run");
    let _ = std::fs::remove_dir_all(&directory);
    let socket = directory.join("control.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = temp_path("control-binary.yml");
    std::fs::write(
        &config,
        format!(
            "port: {port}\ncache:\n  type: sqlite\n  options:\n    filename: {}\ndns:\n  nameservers: ['{}']\ntls:\n  ca_file: {}\ncontrol:\n  socket: {}\n",
            db.display(),
            kit.dns.addr(),
            ca.display(),
            socket.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .args(["-c", &config])
        .env("HTTPS_PROXY", format!("http://{}", proxy.addr()))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        // Never the test's own stdout: a daemon left running must not hold the harness's pipe.
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listening = eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    assert!(listening.is_some(), "the daemon listens");
    let answer = query(([127, 0, 0, 1], port).into(), "postfix", "example.com").await;
    assert!(
        answer.starts_with("OK secure match=mail.example.com"),
        "{answer}"
    );
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            binary(&args)
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let out = run(args(&["ctl", "-c", &config, "show", "example.com"]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("TXT id:        a1"), "{text}");
    let socket_arg = socket.to_str().unwrap();
    let out = run(args(&["ctl", "--socket", socket_arg, "stats", "--json"]))
        .await
        .unwrap();
    let stats: StatsReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((stats.backend.as_str(), stats.entries), ("sqlite", Some(1)));
    kit.publish(
        "example.com",
        "a2",
        CertKind::Valid,
        Response::policy(&changed()),
    );
    let out = run(args(&["ctl", "-c", &config, "refresh", "example.com"]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("policy fetched (id a2") && text.contains("new.example.com"),
        "{text}"
    );
    let out = run(args(&["ctl", "-c", &config, "purge", "example.com"]))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "purged example.com\n");
    let out = run(args(&["ctl", "-c", &config, "list"])).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 cached policies\n");
    // Another user may not connect (mode 0600, in a directory of mode 0750): ctl says who may.
    // That user runs a copy of the binary in a directory anyone may enter: the checkout may not
    // be (CI clones into a mode-0700 directory).
    let exe = temp_path("bin-for-nobody").join("mta-sts-daemon");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_mta-sts-daemon"), &exe).unwrap();
    for path in [
        exe.parent().unwrap(),
        exe.parent().unwrap().parent().unwrap(),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let denied = tokio::task::spawn_blocking({
        let socket = socket_arg.to_owned();
        move || {
            Command::new("runuser")
                .args(["-u", "nobody", "--"])
                .arg(&exe)
                .args(["ctl", "--socket", &socket, "stats"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(denied.status.code(), Some(77));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("permission denied") && err.contains("or as root"),
        "{err}"
    );
    // Stopped: the socket is gone, and ctl says where it looked and what the daemon needs.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("control socket listening"), "{log}");
    assert!(!socket.exists(), "the control socket is removed at exit");
    let out = run(args(&["ctl", "-c", &config, "stats"])).await.unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(socket_arg) && err.contains("control.socket"),
        "{err}"
    );
    // A configuration without control.socket.
    let plain = temp_path("control-plain.yml");
    std::fs::File::create(&plain)
        .unwrap()
        .write_all(b"port: 8461\n")
        .unwrap();
    let out = run(args(&["ctl", "-c", plain.to_str().unwrap(), "stats"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sets no control.socket"), "{err}");
    // --socket with a path where nothing is.
    let out = run(args(&[
        "ctl",
        "--socket",
        "/nonexistent/control.sock",
        "show",
        "x.example",
    ]))
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(69));
}

/// What the socket refuses, with an error line: another protocol version, a request that is not
/// one, an oversized line, a purge of nothing; and a fifth connection while four are open.
#[tokio::test(flavor = "multi_thread")]
async fn the_socket_refuses_bad_requests_and_bounds_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let kit = Kit::start().await;
    let socket = fresh_socket("bounds.sock");
    let daemon = kit
        .start_tcp(&format!("control:\n  socket: {}\n", socket.display()))
        .await;
    let ask = |request: Vec<u8>| {
        let socket = socket.clone();
        async move {
            let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
            // The daemon may answer before reading all of an oversized line.
            let _ = stream.write_all(&request).await;
            let mut answer = String::new();
            tokio::time::timeout(Duration::from_secs(15), stream.read_to_string(&mut answer))
                .await
                .unwrap()
                .unwrap();
            let value: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
            assert_eq!(value["ok"], false, "{answer}");
            value["error"].as_str().unwrap().to_owned()
        }
    };
    let error = ask(b"{\"v\":2,\"op\":\"stats\"}\n".to_vec()).await;
    assert_eq!(
        error,
        "protocol version 2 not supported (this daemon speaks 1)"
    );
    assert!(
        ask(b"stats\n".to_vec())
            .await
            .starts_with("invalid request: ")
    );
    let mut long = b"{\"v\":1,\"op\":\"show\",\"domain\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'a', 70_000));
    long.extend(b"\"}\n");
    assert_eq!(ask(long).await, "request longer than 65536 bytes");
    let error = ask(b"{\"v\":1,\"op\":\"purge\"}\n".to_vec()).await;
    assert_eq!(error, "name at least one domain");
    let error = ask(b"{\"v\":1,\"op\":\"show\",\"domain\":\"not a domain\"}\n".to_vec()).await;
    assert!(error.contains("is not a policy domain"), "{error}");
    // Four connections that say nothing hold every slot; a fifth is told so at once.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::UnixStream::connect(&socket).await.unwrap());
    }
    let busy = eventually(Duration::from_secs(10), || async {
        let mut stream = tokio::net::UnixStream::connect(&socket).await.ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.ok()?;
        answer
            .contains("busy: too many control connections")
            .then_some(())
    })
    .await;
    assert!(busy.is_some(), "a fifth connection was not refused");
    drop(idle);
    // Freed: requests are served again.
    let served = eventually(Duration::from_secs(10), || async {
        let socket = socket.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            mta_sts_daemon::ctl::run(&socket, &CtlCommand::Stats, false, &mut out).ok()
        })
        .await
        .unwrap()
    })
    .await;
    assert_eq!(served, Some(0));
    daemon.shutdown().await;
}
