//! A scratch directory, and running an example binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
