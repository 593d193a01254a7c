//! The programs of `docs/embedding.md`, run as a user would, against the test kit's DNS and HTTPS
//! servers on loopback; and the guide's code and links checked against the repository.

mod guide;
mod kit;
mod own_cache;
mod parsers_only;
mod socketmap_policy_server;

use crate::kit::{output, stdout};

#[tokio::test]
async fn simplest_lookup_refuses_a_bad_domain_before_any_lookup() {
    // It always uses the real Internet, so CI only checks that it runs and validates its input;
    // its three lines are what the guide quotes (see `guide`).
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_simplest-lookup"));
    cmd.arg("192.0.2.1").kill_on_drop(true);
    let out = output(cmd).await;
    assert!(!out.status.success(), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("an IP address is not a domain name"),
        "{stderr}"
    );
}
