use std::process::Command;

use mta_sts_testkit::{CertKind, Response};

use crate::{ENFORCE, Kit, temp_path};

/// Postfix's `postmap -q` against the daemon, over TCP and a UNIX socket: the answers Postfix itself
/// reads. Needs Postfix (Debian package `postfix`; scripts/test.sh installs it).
#[tokio::test(flavor = "multi_thread")]
async fn postfix_postmap_reads_our_answers() {
    let postmap = crate::postmap();
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let conf = temp_path("postfix-conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("main.cf"), "").unwrap();
    let daemon = kit.start_tcp("").await;
    let map = format!("socketmap:inet:{}:postfix", daemon.addr.unwrap());
    let run = |key: &'static str, map: String| {
        let conf = conf.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(postmap)
                .arg("-c")
                .arg(&conf)
                .args(["-q", key, &map])
                .output()
                .unwrap()
        })
    };
    let out = run("example.com", map.clone()).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "secure match=mail.example.com:.example.net servername=hostname"
    );
    // NOTFOUND: postmap prints nothing and exits 1.
    let out = run(".example.com", map.clone()).await.unwrap();
    assert_eq!((out.status.code(), out.stdout.is_empty()), (Some(1), true));
    daemon.shutdown().await;

    let sock = temp_path("postmap.sock");
    let config = kit.config(&format!("path: {}\nmode: 0666\n", sock.display()));
    let listener = mta_sts_daemon::Listener::bind(&config).await.unwrap();
    let daemon = kit.run(config, listener);
    let out = run(
        "[example.com]:25",
        format!("socketmap:unix:{}:postfix", sock.display()),
    )
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("secure match="));
    daemon.shutdown().await;
}
