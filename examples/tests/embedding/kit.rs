//! The test kit and a scratch directory, and running an example binary against them.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mta_sts_testkit::PolicyDomains;
use tokio::process::Command;

/// The longest an example may take to finish or answer. On loopback they take well under a
/// second; the bound only keeps a broken example from hanging the test run.
pub(crate) const BOUND: Duration = Duration::from_secs(60);

/// A directory of its own for one test, removed when dropped.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mta-sts-examples-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in the directory and returns its path as a string.
    pub(crate) fn file(&self, name: &str, contents: &str) -> String {
        let path = self.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test kit's DNS and HTTPS servers and its CA, with the CA in a PEM file.
pub(crate) struct Kit {
    pub(crate) domains: PolicyDomains,
    pub(crate) scratch: Scratch,
    ca_file: PathBuf,
}

impl std::ops::Deref for Kit {
    type Target = PolicyDomains;

    fn deref(&self) -> &PolicyDomains {
        &self.domains
    }
}

impl Kit {
    pub(crate) async fn start() -> Self {
        let domains = PolicyDomains::start().await.unwrap();
        let scratch = Scratch::new();
        let ca_file = scratch.path().join("ca.pem");
        std::fs::write(&ca_file, domains.ca.cert_pem()).unwrap();
        Self {
            domains,
            scratch,
            ca_file,
        }
    }

    /// `program` with the kit's name server, CA and HTTPS port, and no proxy settings inherited
    /// (a CI runner's `HTTPS_PROXY` would send the policy fetches elsewhere).
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for var in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
            cmd.env_remove(var);
        }
        cmd.arg("--nameserver")
            .arg(self.dns.addr().to_string())
            .arg("--ca-file")
            .arg(&self.ca_file)
            .arg("--https-port")
            .arg(self.https.addr().port().to_string())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `program` with the kit's flags and `args`.
    pub(crate) async fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(program);
        cmd.args(args);
        output(cmd).await
    }
}

/// Runs `cmd` to completion within [`BOUND`] (the child is killed if it takes longer).
pub(crate) async fn output(mut cmd: Command) -> Output {
    tokio::time::timeout(BOUND, cmd.output())
        .await
        .expect("the example finished in time")
        .unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that the example succeeded and printed every one of `lines` (each a whole line).
#[track_caller]
pub(crate) fn assert_lines(out: &Output, lines: &[&str]) {
    let text = stdout(out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{text}\n{stderr}", out.status);
    for line in lines {
        assert!(
            text.lines().any(|l| l == *line),
            "missing line {line:?} in:\n{text}\n{stderr}"
        );
    }
}
