//! A private Postfix instance: its own configuration, queue (the chroot), data directory and
//! log file, sending mail to [`SmtpServer`](crate::SmtpServer)s on loopback without DNS.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use nix::unistd::{Uid, User};

use crate::TestCa;
use config::{Layout, Route};
use process::{Commands, Master, not_installed, run};

pub use log::{Delivery, DeliveryStatus, QueueId};
pub use queue::{QueueName, QueuedMessage, QueuedRecipient};

mod config;
mod log;
mod process;
mod queue;

/// From `postfix check` to the master's "daemon started", on a cold, busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the `wait_for_*` methods watch the log.
const WAIT: Duration = Duration::from_secs(30);
/// Interval between two looks at the log file or the process table.
const POLL: Duration = Duration::from_millis(50);

/// Sets up a [`PostfixInstance`]: where mail for each domain goes, and the TLS policy table.
#[derive(Clone, Debug)]
pub struct PostfixBuilder {
    ca_pem: String,
    routes: Vec<Route>,
    policy_maps: String,
    parameters: Vec<(String, String)>,
}

impl PostfixBuilder {
    /// Mail for `domain` goes to `server`, with no DNS lookup: the chroot's `etc/hosts` maps the
    /// domain to the server's address, and a transport entry `domain smtp-<port>:` picks an
    /// `smtp` service that connects to the server's port. The next hop, and so the TLS policy
    /// lookup key, stays the bare domain, as for mail routed by MX records; the MX host name
    /// Postfix connects to (and sends as SNI, and verifies with `match=hostname`) is the domain
    /// itself.
    ///
    /// # Panics
    ///
    /// If `domain` is not a host name (letters, digits, hyphens, dots; no trailing dot) or
    /// `server` is not IPv4 (the instance uses `inet_protocols = ipv4`).
    pub fn route(mut self, domain: &str, server: SocketAddr) -> Self {
        let domain = domain.to_ascii_lowercase();
        assert!(config::valid_domain(&domain), "not a host name: {domain:?}");
        let SocketAddr::V4(server) = server else {
            panic!("the Postfix instance is IPv4-only: {server}");
        };
        self.routes.retain(|r| r.domain != domain);
        self.routes.push(Route { domain, server });
        self
    }

    /// The `smtp_tls_policy_maps` value; [`PostfixInstance::POLICY_MAPS`] unless changed, and
    /// empty for none.
    pub fn tls_policy_maps(mut self, maps: &str) -> Self {
        maps.clone_into(&mut self.policy_maps);
        self
    }

    /// Sets a main.cf parameter, replacing the kit's value if it has one (the last call wins).
    ///
    /// # Panics
    ///
    /// If the name or value contains a line break.
    pub fn parameter(mut self, name: &str, value: &str) -> Self {
        assert!(
            !name.contains('\n') && !value.contains('\n'),
            "main.cf lines cannot contain line breaks: {name:?} = {value:?}"
        );
        self.parameters.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Writes the instance's files, runs `postfix check` (which creates the queue directories
    /// with their owners) and starts the master daemon; returns once it logged "daemon started".
    ///
    /// # Errors
    ///
    /// If the process is not root (master(8) runs only as the superuser), Postfix is not
    /// installed (`scripts/test.sh` installs Debian's package), or the instance does not come up
    /// within 60 s (the message has the end of its log).
    pub async fn start(self) -> io::Result<PostfixInstance> {
        if !Uid::effective().is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a private Postfix instance needs root: master(8) runs only as the superuser \
                 and smtp(8) needs it to chroot (run the tests as root, as CI does)",
            ));
        }
        let owner = User::from_name("postfix")
            .map_err(io::Error::from)?
            .ok_or_else(|| not_installed("no user \"postfix\""))?;
        let postconf = process::find_postconf()?;

        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("testkit-{}-{n}", std::process::id());
        let root = std::env::temp_dir().join(format!(
            "mta-sts-testkit-postfix-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let layout = Layout::new(&root);
        for dir in [&layout.config, &layout.queue, &layout.data] {
            std::fs::create_dir_all(dir)?;
        }
        let mut instance = PostfixInstance {
            layout,
            name,
            owner: (owner.uid.as_raw(), owner.gid.as_raw()),
            commands: Commands::default(),
            master: None,
            next_message: AtomicU64::new(0),
        };
        instance.write_files(&self)?;
        instance.commands = Commands::ask(&postconf, &instance.layout.config).await?;
        instance.run_postfix(&["check"]).await?;
        instance.write_chroot(&self)?;
        instance.start_master().await?;
        Ok(instance)
    }
}

/// A private Postfix instance (Debian's package, run as root), stopped when dropped.
///
/// Everything lives in one scratch directory, so several instances run side by side, and the
/// system's `/etc/postfix` is never written (`postfix check` only reads Postfix's own file list
/// there):
///
/// - `config_directory` ([`config_dir`](Self::config_dir)): main.cf, master.cf, the transport
///   table and the test CA (`smtp_tls_CAfile`, read by smtp(8) before it enters the chroot);
/// - `queue_directory` ([`queue_dir`](Self::queue_dir)), which is the chroot of `smtp` and the
///   other daemons marked chrooted as in Debian's stock master.cf; its `etc/hosts` replaces DNS;
/// - `data_directory`, and the log file ([`log`](Self::log)) written by postlogd(8).
///
/// No server listens on the network: mail is submitted with `sendmail` ([`submit`](Self::submit))
/// and sent by the `smtp` client at TLS level `may` with SNI, trusting only the [`TestCa`], to
/// the routes given to [`PostfixBuilder::route`]. The TLS policy table is
/// [`POLICY_MAPS`](Self::POLICY_MAPS) unless the builder says otherwise: bind the policy server
/// at [`policy_socket`](Self::policy_socket) and open it with
/// [`share_with_postfix`](Self::share_with_postfix). Deferred mail is retried every second or
/// two.
///
/// Every wait is bounded: 60 s to start, 30 s for a log line, 30 s per Postfix command, 10 s to
/// stop. Dropping the instance stops the master and all its children; the scratch directory is
/// removed, except when the thread is panicking (a failed test), so its log can be read.
#[derive(Debug)]
pub struct PostfixInstance {
    layout: Layout,
    name: String,
    owner: (u32, u32),
    commands: Commands,
    master: Option<Master>,
    next_message: AtomicU64,
}

impl PostfixInstance {
    /// The table of the documented deployment: the policy server's socket at
    /// `mta-sts/mta-sts.sock` inside the queue directory, as the chrooted smtp(8) sees it.
    pub const POLICY_MAPS: &'static str = "socketmap:unix:/mta-sts/mta-sts.sock:postfix";

    /// A builder whose `smtp` client trusts `ca` (and nothing else).
    pub fn builder(ca: &TestCa) -> PostfixBuilder {
        PostfixBuilder {
            ca_pem: ca.cert_pem(),
            routes: Vec::new(),
            policy_maps: Self::POLICY_MAPS.to_owned(),
            parameters: Vec::new(),
        }
    }

    /// `config_directory`.
    pub fn config_dir(&self) -> &Path {
        &self.layout.config
    }

    /// `queue_directory`, which is also the chroot of `smtp`.
    pub fn queue_dir(&self) -> &Path {
        &self.layout.queue
    }

    /// `data_directory`.
    pub fn data_dir(&self) -> &Path {
        &self.layout.data
    }

    /// `maillog_file`.
    pub fn log_path(&self) -> &Path {
        &self.layout.log
    }

    /// The instance's `syslog_name` (the tag of its log lines, unique per instance).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where [`POLICY_MAPS`](Self::POLICY_MAPS) points: `<queue_dir>/mta-sts/mta-sts.sock`. The
    /// directory exists (owner root, group `postfix`, mode 0750); the socket does not.
    pub fn policy_socket(&self) -> PathBuf {
        self.layout.queue.join("mta-sts").join("mta-sts.sock")
    }

    /// The uid and gid of the mail owner `postfix`, as which the chrooted smtp(8) connects to
    /// the policy socket.
    pub fn mail_owner(&self) -> (u32, u32) {
        self.owner
    }

    /// Lets the mail owner connect to the UNIX socket at `path`: group `postfix`, mode 0660
    /// (connecting needs write permission on the socket). The owner is left as it is.
    pub fn share_with_postfix(&self, path: &Path) -> io::Result<()> {
        chown(path, None, Some(self.owner.1))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
    }

    /// The complete lines of the log so far (empty before the first line).
    pub fn log(&self) -> String {
        let mut bytes = std::fs::read(&self.layout.log).unwrap_or_default();
        // A line being written is left out: a cut "status=deferred (...)" would parse with the
        // wrong detail.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(complete);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Submits a message from `from` to `to` with `sendmail` (no SMTP server involved) and
    /// returns its queue id, found in the log through the Message-ID the kit gives it. `body`
    /// follows the kit's header lines; a line with a lone `.` stays in the message.
    pub async fn submit(&self, from: &str, to: &str, body: &str) -> io::Result<QueueId> {
        let n = self.next_message.fetch_add(1, Ordering::Relaxed);
        let message_id = format!("{n}.{}@testkit.invalid", self.name);
        let mut text = format!(
            "From: <{from}>\nTo: <{to}>\nSubject: mta-sts-testkit message {n}\nMessage-ID: <{message_id}>\n\n{body}"
        );
        if !text.ends_with('\n') {
            text.push('\n');
        }
        run(
            tokio::process::Command::new(&self.commands.sendmail)
                .arg("-C")
                .arg(&self.layout.config)
                // -i: a line with a lone dot is text, not the end of input.
                .args(["-i", "-f", from, "--", to]),
            Some(text.as_bytes()),
            "sendmail",
        )
        .await?;
        self.wait(&format!("the queue id of <{message_id}>"), |log| {
            log::queue_id_for(log, &message_id)
        })
        .await
    }

    /// Waits for the first attempt to deliver `queue_id` to `recipient` that ended with
    /// `status`; earlier attempts with another status are skipped (deferred mail is retried).
    pub async fn wait_for_status(
        &self,
        queue_id: &QueueId,
        recipient: &str,
        status: DeliveryStatus,
    ) -> io::Result<Delivery> {
        self.wait(
            &format!("status {status:?} for {queue_id} to <{recipient}>"),
            |log| {
                log::deliveries(log, queue_id, recipient)
                    .into_iter()
                    .find(|d| d.status == status)
            },
        )
        .await
    }

    /// Waits for the first attempt to deliver `queue_id` to `recipient`, whatever its outcome.
    pub async fn wait_for_attempt(
        &self,
        queue_id: &QueueId,
        recipient: &str,
    ) -> io::Result<Delivery> {
        self.wait(
            &format!("a delivery attempt of {queue_id} to <{recipient}>"),
            |log| log::deliveries(log, queue_id, recipient).into_iter().next(),
        )
        .await
    }

    /// Every delivery attempt logged so far for `queue_id` and `recipient`, oldest first.
    pub fn deliveries(&self, queue_id: &QueueId, recipient: &str) -> Vec<Delivery> {
        log::deliveries(&self.log(), queue_id, recipient)
    }

    /// Waits for a log line containing `text` and returns the first one.
    pub async fn wait_for_log(&self, text: &str) -> io::Result<String> {
        self.wait(&format!("a line with {text:?}"), |log| {
            log.lines().find(|l| l.contains(text)).map(str::to_owned)
        })
        .await
    }

    /// The messages in the queue (`postqueue -j`).
    pub async fn queue(&self) -> io::Result<Vec<QueuedMessage>> {
        let out = run(
            tokio::process::Command::new(&self.commands.postqueue)
                .arg("-c")
                .arg(&self.layout.config)
                .arg("-j"),
            None,
            "postqueue -j",
        )
        .await?;
        queue::parse(&out)
    }

    /// Asks for an immediate retry of all deferred mail (`postqueue -f`).
    pub async fn flush(&self) -> io::Result<()> {
        run(
            tokio::process::Command::new(&self.commands.postqueue)
                .arg("-c")
                .arg(&self.layout.config)
                .arg("-f"),
            None,
            "postqueue -f",
        )
        .await
        .map(drop)
    }

    /// Stops the master daemon and every process it started; waits at most 10 s, then kills
    /// what is left. Dropping the instance does this too.
    pub fn stop(&mut self) {
        if let Some(master) = self.master.take() {
            master.stop();
        }
    }

    fn write_files(&self, builder: &PostfixBuilder) -> io::Result<()> {
        let layout = &self.layout;
        chown(&layout.data, Some(self.owner.0), Some(self.owner.1))?;
        let main = config::main_cf(
            layout,
            &self.name,
            &builder.policy_maps,
            &builder.parameters,
        );
        write_cold(&layout.config.join("main.cf"), &main)?;
        write_cold(
            &layout.config.join("master.cf"),
            &config::master_cf(&builder.routes),
        )?;
        write_cold(&layout.transport(), &config::transport(&builder.routes))?;
        write_cold(&layout.ca_file(), &builder.ca_pem)
    }

    /// The files the chrooted daemons read through the C library, and the policy socket's
    /// directory.
    fn write_chroot(&self, builder: &PostfixBuilder) -> io::Result<()> {
        let etc = self.layout.queue.join("etc");
        std::fs::create_dir_all(&etc)?;
        write_cold(&etc.join("hosts"), &config::hosts(&builder.routes))?;
        write_cold(&etc.join("nsswitch.conf"), config::NSSWITCH)?;
        write_cold(&etc.join("resolv.conf"), config::RESOLV)?;
        for file in ["services", "localtime"] {
            let _ = std::fs::copy(Path::new("/etc").join(file), etc.join(file));
        }
        let socket_dir = self.layout.queue.join("mta-sts");
        std::fs::create_dir_all(&socket_dir)?;
        chown(&socket_dir, Some(0), Some(self.owner.1))?;
        std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o750))
    }

    async fn run_postfix(&self, args: &[&str]) -> io::Result<String> {
        run(
            tokio::process::Command::new(&self.commands.postfix)
                .arg("-c")
                .arg(&self.layout.config)
                .args(args),
            None,
            &format!("postfix {}", args.join(" ")),
        )
        .await
    }

    /// Starts the master and waits for its "daemon started" line: by then every service socket
    /// exists.
    async fn start_master(&mut self) -> io::Result<()> {
        let stderr = self.layout.root.join("master.stderr");
        self.master = Some(Master::spawn(
            &self.commands.master,
            &self.layout.config,
            &stderr,
        )?);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.log().contains("daemon started") {
                return Ok(());
            }
            let exited = match self.master.as_mut() {
                Some(master) => master.exited()?,
                None => None,
            };
            if exited.is_some() || Instant::now() >= deadline {
                let stderr = std::fs::read_to_string(&stderr).unwrap_or_default();
                return Err(io::Error::other(format!(
                    "the Postfix master did not start ({}): {stderr}\n{}",
                    exited.map_or("still starting after 60 s".to_owned(), |s| s.to_string()),
                    tail(&self.log())
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Looks at the log until `found` finds something, for at most 30 s.
    async fn wait<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> io::Result<T> {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if let Some(value) = found(&log) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no {what} in the log of {} within {WAIT:?}:\n{}",
                        self.name,
                        tail(&log)
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for PostfixInstance {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "mta-sts-testkit: kept the Postfix instance {} for inspection: {}",
                self.name,
                self.layout.root.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.layout.root);
        }
    }
}

/// Writes `text` to `path` with a modification time a minute in the past. Postfix does not trust
/// a configuration file changed within the last second or so (it may be half written): it reads
/// it again every 300 ms until it has cooled down, which made every fresh instance's first
/// commands and daemons wait about 2 s.
fn write_cold(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text)?;
    let past = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(past)
}

/// The last lines of a log, for error messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
