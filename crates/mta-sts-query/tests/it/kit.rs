//! The test kit wrapped for the binary: run `mta-sts-query` against it.

use std::path::PathBuf;
use std::process::{Command, Output};

use mta_sts_testkit::PolicyDomains;
use serde_json::Value;

pub(crate) struct Kit {
    pub(crate) domains: PolicyDomains,
    pub(crate) ca_file: PathBuf,
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
        let ca_file = std::env::temp_dir().join(format!(
            "mta-sts-query-ca-{}-{}.pem",
            std::process::id(),
            domains.https.addr().port()
        ));
        std::fs::write(&ca_file, domains.ca.cert_pem()).unwrap();
        Self { domains, ca_file }
    }

    /// Runs the binary with the kit's name server, CA and port, plus `args`.
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        self.run_with_env(args, &[]).await
    }

    /// Runs the binary with `args` first (a subcommand and its arguments), then the kit's flags.
    pub(crate) async fn run_subcommand(&self, args: &[&str]) -> Output {
        self.run_inner(args, &[], true).await
    }

    /// Like `run`, with these environment variables (and no proxy settings inherited).
    pub(crate) async fn run_with_env(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        self.run_inner(args, env, false).await
    }

    async fn run_inner(&self, args: &[&str], env: &[(&str, String)], args_first: bool) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mta-sts-query"));
        for var in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        if args_first {
            cmd.args(args);
        }
        cmd.arg("--nameserver")
            .arg(self.dns.addr().to_string())
            .arg("--ca-file")
            .arg(&self.ca_file)
            .arg("--https-port")
            .arg(self.https.addr().port().to_string())
            .arg("--timeout")
            .arg("3");
        if !args_first {
            cmd.args(args);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

impl Drop for Kit {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

// The `check --json` report, as the check and DANE tests read it.

/// Every finding of step `name` as (verdict, id, message).
pub(crate) fn findings(v: &Value, name: &str) -> Vec<(String, String, String)> {
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {v:#}"));
    step["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["verdict"].as_str().unwrap().to_owned(),
                f["id"].as_str().unwrap_or("").to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts that step `name` has a finding with this verdict and id whose message contains `text`.
#[track_caller]
pub(crate) fn assert_finding(v: &Value, name: &str, verdict: &str, id: &str, text: &str) {
    let all = findings(v, name);
    assert!(
        all.iter()
            .any(|(vd, i, m)| vd == verdict && i == id && m.contains(text)),
        "no {verdict} [{id}] containing {text:?} in step {name}: {all:#?}"
    );
}

/// Asserts the overall verdict and exit status, and that no other step than `steps` is worse than ok.
#[track_caller]
pub(crate) fn assert_outcome(out: &Output, v: &Value, code: i32, only_in: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{v:#}");
    let verdict = ["ok", "warning", "error"][code as usize];
    assert_eq!(v["verdict"], verdict);
    for step in v["steps"].as_array().unwrap() {
        if !only_in.contains(&step["name"].as_str().unwrap()) {
            assert_eq!(step["verdict"], "ok", "unexpected problem in {step:#}");
        }
    }
}
