//! The Postfix programs this kit runs: the master daemon, and commands with bounded run times.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;

use super::POLL;

/// `sendmail`, `postqueue`, `postconf`: each answers in milliseconds when the instance is up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The master kills its children and exits on SIGTERM; its own suicide timer is 5 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The Postfix programs, as this installation's `postconf` reports them.
#[derive(Debug, Default)]
pub(super) struct Commands {
    pub(super) master: PathBuf,
    pub(super) postfix: PathBuf,
    pub(super) postqueue: PathBuf,
    pub(super) sendmail: PathBuf,
}

impl Commands {
    pub(super) async fn ask(postconf: &Path, config: &Path) -> io::Result<Self> {
        let out = run(
            tokio::process::Command::new(postconf)
                .arg("-c")
                .arg(config)
                .args([
                    "-h",
                    "daemon_directory",
                    "command_directory",
                    "sendmail_path",
                ]),
            None,
            "postconf",
        )
        .await?;
        let mut lines = out.lines().map(PathBuf::from);
        let (Some(daemons), Some(commands), Some(sendmail)) =
            (lines.next(), lines.next(), lines.next())
        else {
            return Err(io::Error::other(format!("postconf printed {out:?}")));
        };
        Ok(Self {
            master: daemons.join("master"),
            postfix: commands.join("postfix"),
            postqueue: commands.join("postqueue"),
            sendmail,
        })
    }
}

/// The master daemon, run in the foreground as our child (so it is reaped and signalled by its
/// pid, never looked up by name). It makes itself a session and process group leader.
#[derive(Debug)]
pub(super) struct Master(Child);

impl Master {
    pub(super) fn spawn(program: &Path, config: &Path, stderr: &Path) -> io::Result<Self> {
        let stderr = std::fs::File::create(stderr)?;
        std::process::Command::new(program)
            .arg("-c")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map(Self)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))
    }

    /// The exit status, once it has exited.
    pub(super) fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.0.try_wait()
    }

    /// SIGTERM, on which master(8) signals its whole process group and exits; then waits (at
    /// most 10 s) until the master is reaped and no process of the group is left, and kills the
    /// group if one is.
    pub(super) fn stop(mut self) {
        let Ok(raw) = i32::try_from(self.0.id()) else {
            return;
        };
        let pid = Pid::from_raw(raw);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut exited = false;
        while Instant::now() < deadline {
            exited = exited || matches!(self.0.try_wait(), Ok(Some(_)));
            if exited && group_members(raw).is_empty() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn not_installed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "Postfix is not installed ({what}): scripts/test.sh installs Debian's postfix package"
        ),
    )
}

pub(super) fn find_postconf() -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("postconf"))
        .find(|p| p.is_file())
        .ok_or_else(|| not_installed("no postconf"))
}

/// Runs a Postfix command to its end (at most 30 s), feeding it `input`; its standard output.
pub(super) async fn run(
    command: &mut tokio::process::Command,
    input: Option<&[u8]>,
    what: &str,
) -> io::Result<String> {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).await?;
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} ran over {COMMAND_TIMEOUT:?}"),
            )
        })??;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The live (not zombie) processes in process group `pgid`, from /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid pgrp ...": comm may contain anything, so split after it.
            let (_, rest) = stat.rsplit_once(')')?;
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let group: i32 = fields.nth(1)?.parse().ok()?;
            (group == pgid && state != "Z").then_some(pid)
        })
        .collect()
}
