use std::time::Duration;

use mta_sts_daemon::Listener;
use mta_sts_testkit::{CertKind, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use mta_sts_testkit::eventually;

use crate::{ENFORCE, Kit, exchange, pass, query, temp_path};

#[tokio::test(flavor = "multi_thread")]
async fn tofu_survives_a_restart_with_sqlite() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let db = temp_path("tofu.db");
    let yaml = format!(
        "cache:\n  type: sqlite\n  options:\n    filename: {}\n",
        db.display()
    );
    let daemon = kit.start_tcp(&yaml).await;
    assert!(
        query(daemon.addr.unwrap(), "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    daemon.shutdown().await;
    // The domain's HTTPS and DNS break; a new daemon still knows the policy.
    kit.https.set_host(
        "mta-sts.example.com",
        mta_sts_testkit::HostConfig::valid(Response::status(500)),
    );
    kit.dns.clear("_mta-sts.example.com");
    let daemon = kit.start_tcp(&yaml).await;
    assert!(
        query(daemon.addr.unwrap(), "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_malformed_input_and_silent_clients() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let daemon = kit.start_tcp("").await;
    let addr = daemon.addr.unwrap();
    let out = exchange(
        addr,
        b"19:postfix example.com,15:postfix other.x,7:postfix,",
    )
    .await;
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("65:OK secure"), "{text}");
    assert!(text.contains("9:NOTFOUND ,"), "{text}");
    assert!(
        text.ends_with("50:PERM request has no space between map name and key,"),
        "{text}"
    );
    // SOCK-9: a malformed netstring closes that connection only.
    assert_eq!(exchange(addr, b"x:abc,").await, b"");
    assert_eq!(exchange(addr, b"99999999999:").await, b"");
    // A client that connects and says nothing does not hold up others.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        query(addr, "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_in_flight_requests_finish() {
    let kit = Kit::start().await;
    let slow = Response {
        delay: Duration::from_millis(800),
        ..Response::policy(ENFORCE)
    };
    kit.publish("slow.example", "s1", CertKind::Valid, slow);
    let daemon = kit.start_tcp("shutdown_timeout: 5\n").await;
    let addr = daemon.addr.unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"20:postfix slow.example,").await.unwrap();
    // Shut down once the lookup is under way: its policy request has reached the server.
    let under_way = eventually(Duration::from_secs(5), || {
        let seen = kit.https.requests("mta-sts.slow.example").len();
        std::future::ready((seen > 0).then_some(()))
    })
    .await;
    assert!(under_way.is_some(), "the lookup never started");
    let stopping = tokio::spawn(daemon.shutdown());
    let mut reply = vec![0u8; 3];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"65:", "the in-flight request was answered");
    stopping.await.unwrap();
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_with_mode_and_stale_file() {
    use std::os::unix::fs::PermissionsExt;
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let path = temp_path("daemon.sock");
    std::fs::write(&path, b"stale").unwrap();
    let config = kit.config(&format!("path: {}\nmode: 0660\n", path.display()));
    let listener = Listener::bind(&config).await.unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o660
    );
    // A live socket is refused.
    assert!(Listener::bind(&config).await.is_err());
    let daemon = kit.run(config, listener);
    let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    stream.write_all(b"19:postfix example.com,").await.unwrap();
    let mut reply = vec![0u8; 3];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"65:");
    daemon.shutdown().await;
}

/// Issue 11, bugs 1 and 2: `owner` and `group` are applied, a missing socket directory is created
/// (mode 0750, group `group`), and the socket file goes away at exit. Needs root, as giving files
/// away does.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_unix_socket_owner_group_directory_and_cleanup() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test gives files to other users: run it as root, as CI does"
    );
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let directory = temp_path("owned-socket-dir").join("mta-sts");
    let _ = std::fs::remove_dir_all(&directory);
    let path = directory.join("mta-sts.sock");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    let config = kit.config(&format!(
        "path: {}\nmode: 0660\nowner: nobody\ngroup: nogroup\n",
        path.display()
    ));
    let listener = Listener::bind(&config).await.unwrap();
    let dir = std::fs::metadata(&directory).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o750);
    assert_eq!(
        (dir.uid(), dir.gid()),
        (nobody.uid.as_raw(), nogroup.gid.as_raw())
    );
    let socket = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(socket.permissions().mode() & 0o777, 0o660);
    assert_eq!(
        (socket.uid(), socket.gid()),
        (nobody.uid.as_raw(), nogroup.gid.as_raw())
    );
    let daemon = kit.run(config, listener);
    let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    stream.write_all(b"19:postfix example.com,").await.unwrap();
    let mut reply = vec![0u8; 3];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"65:");
    drop(stream);
    daemon.shutdown().await;
    assert!(!path.exists(), "the socket file is removed at exit");
    assert!(directory.exists(), "the directory stays for the next start");
    // Unknown accounts are configuration errors, found before anything is bound.
    let config = kit.config(&format!(
        "path: {}\ngroup: no-such-group-here\n",
        path.display()
    ));
    let err = Listener::bind(&config).await.unwrap_err();
    assert_eq!(mta_sts_daemon::exit_status(&err), 78, "{err:#}");
    assert!(!path.exists());
}

/// The daemon with each shared backend: the policy learned by one daemon is answered by a second
/// one whose discovery is broken, through the shared store.
#[tokio::test(flavor = "multi_thread")]
async fn shared_redis_and_postgres_caches() {
    let redis = mta_sts_testkit::TestRedis::start().unwrap();
    let postgres = mta_sts_testkit::TestPostgres::start().unwrap();
    let dsn = postgres.database("daemon").unwrap();
    let backends = [
        format!(
            "cache:\n  type: redis\n  options:\n    url: \"{}/0\"\n",
            redis.url()
        ),
        format!(
            "cache:\n  type: redis\n  options:\n    address: \"{}/0?timeout=5\"\n    db: 1\n    minsize: 5\n    maxsize: 25\n",
            redis.url()
        ),
        format!("cache:\n  type: postgres\n  options:\n    dsn: \"{dsn}\"\n"),
    ];
    for (i, yaml) in backends.iter().enumerate() {
        let kit = Kit::start().await;
        let domain = format!("shared{i}.example");
        kit.publish(&domain, "a1", CertKind::Valid, Response::policy(ENFORCE));
        let first = kit.start_tcp(yaml).await;
        assert!(
            query(first.addr.unwrap(), "postfix", &domain)
                .await
                .starts_with("OK secure"),
            "{yaml}"
        );
        first.shutdown().await;
        // Discovery now fails everywhere; a fresh daemon answers from the shared store.
        kit.dns.clear(&format!("_mta-sts.{domain}"));
        kit.https.set_host(
            &format!("mta-sts.{domain}"),
            mta_sts_testkit::HostConfig::valid(Response::status(500)),
        );
        let second = kit.start_tcp(yaml).await;
        assert!(
            query(second.addr.unwrap(), "postfix", &domain)
                .await
                .starts_with("OK secure"),
            "{yaml}"
        );
        second.shutdown().await;
    }
}

/// On the paused clock: letting time pass there returns once every task is blocked, so "not
/// served while the slot is taken" is checked where nothing else can happen, not after a guess.
#[tokio::test(start_paused = true)]
async fn connections_beyond_the_limit_wait_their_turn() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let daemon = kit.start_tcp("max_connections: 1\n").await;
    let addr = daemon.addr.unwrap();
    // The one slot is taken by an idle client; a second client is not served until it leaves.
    let holder = tokio::net::TcpStream::connect(addr).await.unwrap();
    let waiting = tokio::spawn(query(addr, "postfix", "example.com"));
    pass(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "served beyond max_connections");
    drop(holder);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("OK secure"), "{answer}");
    daemon.shutdown().await;
}

/// CACHE-4 / proactive_policy_fetching: cached policies are re-fetched in the background, even
/// with an unchanged TXT id (which alone never triggers a fetch, FETCH-11). On the paused clock,
/// which the daemon's clock follows: the interval passes without real time passing.
#[tokio::test(start_paused = true)]
async fn proactive_fetching_refreshes_cached_policies() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let yaml = "proactive_policy_fetching:\n  enabled: yes\n  interval: 3600\n  grace_ratio: 2\n";
    let daemon = kit.start_tcp(yaml).await;
    let addr = daemon.addr.unwrap();
    assert!(
        query(addr, "postfix", "example.com")
            .await
            .contains("mail.example.com")
    );
    // Same id, new body: only a proactive fetch can pick it up.
    let changed = ENFORCE.replace("mail.example.com", "new.example.com");
    kit.https.set_host(
        "mta-sts.example.com",
        mta_sts_testkit::HostConfig::valid(Response::policy(&changed)),
    );
    // Before the interval has passed, nothing is fetched again.
    pass(Duration::from_secs(1700)).await;
    assert!(
        query(addr, "postfix", "example.com")
            .await
            .contains("mail.example.com")
    );
    // After it (and a little jitter), the pass runs and fetches the new body.
    pass(Duration::from_secs(1930)).await;
    let answer = eventually(Duration::from_secs(120), || async {
        let answer = query(addr, "postfix", "example.com").await;
        answer.contains("new.example.com").then_some(answer)
    })
    .await;
    assert!(
        answer.is_some(),
        "the changed policy was not fetched proactively"
    );
    assert!(kit.https.requests("mta-sts.example.com").len() >= 2);
    daemon.shutdown().await;
}

/// On the paused clock, which the daemon's clock follows.
#[tokio::test(start_paused = true)]
async fn cache_grace_then_id_change_then_expiry() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let daemon = kit.start_tcp("cache_grace: 2\n").await;
    let addr = daemon.addr.unwrap();
    let first = query(addr, "postfix", "example.com").await;
    assert!(
        first.contains("match=mail.example.com:.example.net"),
        "{first}"
    );
    // A new policy under a new id (CACHE-2), with a lifetime of two seconds.
    let short = "version: STSv1\nmode: enforce\nmx: new.example.org\nmax_age: 2\n";
    kit.publish(
        "example.com",
        "b2",
        CertKind::Valid,
        Response::policy(short),
    );
    // Within cache_grace the cached policy is answered without any DNS query.
    let queries = kit.dns.query_count("_mta-sts.example.com");
    assert_eq!(query(addr, "postfix", "example.com").await, first);
    assert_eq!(kit.dns.query_count("_mta-sts.example.com"), queries);
    // After it, the id is checked again and the new policy fetched.
    pass(Duration::from_millis(2100)).await;
    let second = query(addr, "postfix", "example.com").await;
    assert!(second.contains("match=new.example.org"), "{second}");
    // CACHE-1: once max_age has passed with no way to refresh, the policy is no longer applied.
    kit.dns.clear("_mta-sts.example.com");
    kit.https.set_host(
        "mta-sts.example.com",
        mta_sts_testkit::HostConfig::valid(Response::status(500)),
    );
    // Within its max_age (2 s) the new policy still applies...
    pass(Duration::from_millis(1500)).await;
    assert!(
        query(addr, "postfix", "example.com")
            .await
            .contains("match=new.example.org")
    );
    // ...and after it, it no longer does.
    pass(Duration::from_millis(1000)).await;
    assert_eq!(query(addr, "postfix", "example.com").await, "NOTFOUND ");
    daemon.shutdown().await;
}

/// CACHE-3 at the zone's deadline: when the TXT check hangs after the grace period, a valid
/// cached policy still answers (a hanging name server must not downgrade the domain); only a
/// domain with nothing cached gets `on_failure`. On the paused clock, which the daemon follows.
#[tokio::test(start_paused = true)]
async fn a_hanging_check_keeps_the_cached_policy() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "fresh.example",
        "f1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    // A zone with a longer deadline makes each DNS query wait longer than these zones' 2 s, so
    // the zone deadline is what cuts the lookup short.
    let daemon = kit
        .start_tcp("default_zone:\n  timeout: 2\nzones:\n  temp:\n    timeout: 2\n    on_failure: temp\n  slow:\n    timeout: 30\n")
        .await;
    let addr = daemon.addr.unwrap();
    let first = query(addr, "postfix", "example.com").await;
    assert!(first.starts_with("OK secure"), "{first}");
    // Past the grace period the id is checked again, and now the name server never answers.
    pass(Duration::from_secs(61)).await;
    for name in ["_mta-sts.example.com", "_mta-sts.fresh.example"] {
        kit.dns
            .set_behavior(name, mta_sts_testkit::DnsBehavior::NoResponse);
    }
    assert_eq!(query(addr, "postfix", "example.com").await, first);
    assert_eq!(query(addr, "temp", "example.com").await, first);
    // Nothing cached: on_failure decides.
    assert_eq!(query(addr, "postfix", "fresh.example").await, "NOTFOUND ");
    let temp = query(addr, "temp", "fresh.example").await;
    assert!(
        temp.starts_with("TEMP ") && temp.contains("zone timeout of 2.0 s"),
        "{temp}"
    );
    daemon.shutdown().await;
}
