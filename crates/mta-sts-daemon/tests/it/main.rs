//! The daemon end to end: real DNS and HTTPS servers on loopback, socketmap over TCP and UNIX
//! sockets, and Postfix's own `postmap` client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mta_sts_daemon::{Config, Daemon, Listener, fetch_config};
use mta_sts_fetch::Proxy;
use mta_sts_resolver::Clock;
use mta_sts_testkit::PolicyDomains;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

// Answers for every key form and zone option.
mod answers;
// Persistence, shutdown, sockets and hostile clients.
mod operations;
// Postfix's own socketmap client.
mod postmap;
// DANE before MTA-STS, over DNSSEC-signed zones.
mod dane;
// A real Postfix delivering mail through the daemon, over the chrooted UNIX socket and TCP.
mod postfix;
// A new configuration put in force while connections stay open.
mod reload;
// Cache administration: the control socket and `ctl`, against every kind of backend.
mod control;
// Offline export and import between backends.
mod migrate;
// Prometheus metrics and /healthz (metrics.listen), and the Grafana dashboard built on them.
mod metrics;

/// Wall-clock time that follows tokio's clock. On a paused runtime (`start_paused = true`) it moves
/// only as the test's sleeps and the runtime's idle auto-advance move it, so policy lifetimes,
/// grace periods and proactive passes take no real time; elsewhere it is the real time.
pub(crate) struct TokioClock {
    start: SystemTime,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub(crate) fn new() -> Self {
        Self {
            start: SystemTime::now(),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start + self.origin.elapsed()
    }
}

/// Lets `time` pass on tokio's paused clock (tests with `start_paused = true`): every task that
/// becomes ready meanwhile runs, and the daemon's [`TokioClock`] moves with it. No real time
/// passes; this is never a wait on the wall clock.
pub(crate) async fn pass(time: Duration) {
    tokio::time::sleep(time).await;
}

pub(crate) const ENFORCE: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

/// The test kit's servers, plus daemons configured for them.
pub(crate) struct Kit(PolicyDomains);

impl std::ops::Deref for Kit {
    type Target = PolicyDomains;

    fn deref(&self) -> &PolicyDomains {
        &self.0
    }
}

impl Kit {
    pub(crate) async fn start() -> Self {
        Self(PolicyDomains::start().await.unwrap())
    }

    /// The configuration text plus our name server.
    pub(crate) fn config(&self, yaml: &str) -> Config {
        let yaml = format!("{yaml}\ndns:\n  nameservers: ['{}']\n", self.dns.addr());
        Config::parse(&yaml, "test.yml").unwrap().0
    }

    /// Starts a daemon for `config` on `listener`; dropping the handle shuts it down.
    pub(crate) fn run(&self, config: Config, listener: Listener) -> Running {
        serve(self.daemon(config), listener)
    }

    /// A daemon for `config` that fetches from the kit's HTTPS server.
    pub(crate) fn daemon(&self, config: Config) -> Daemon {
        let fetch = fetch_config(&config)
            .with_https_port(self.https.addr().port())
            .with_ca_pem(self.ca.cert_pem())
            .with_proxy(Proxy::None);
        Daemon::with_clock(config, &fetch, Arc::new(TokioClock::new())).unwrap()
    }

    pub(crate) async fn start_tcp(&self, yaml: &str) -> Running {
        let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        self.run(self.config(yaml), listener)
    }
}

/// Serves `daemon` (a clone shares its state) on `listener`; dropping the handle shuts it down.
pub(crate) fn serve(daemon: Daemon, listener: Listener) -> Running {
    {
        // The control socket too, when the configuration names one.
        let config = daemon.config();
        let control = config.control.socket.as_deref().map(|path| {
            mta_sts_daemon::ControlSocket::bind(path, config.control.mode.0, None).unwrap()
        });
        let addr = listener.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (stopping, control_stopped) = tokio::sync::watch::channel(false);
            let control = control.map(|socket| {
                let daemon = daemon.clone();
                let mut control_stopped = control_stopped.clone();
                tokio::spawn(async move {
                    let stop = async move {
                        let _ = control_stopped.wait_for(|stop| *stop).await;
                    };
                    daemon.serve_control(socket, stop).await;
                })
            });
            daemon
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            let _ = stopping.send(true);
            if let Some(control) = control {
                control.await.unwrap();
            }
        });
        Running {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

pub(crate) struct Running {
    pub(crate) addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Signals shutdown and waits for the daemon to finish.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Sends raw bytes, half-closes, and returns everything the daemon answered.
pub(crate) async fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(input).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

/// One request as Postfix sends it; the reply payload as text.
pub(crate) async fn query(addr: SocketAddr, map: &str, key: &str) -> String {
    let payload = format!("{map} {key}");
    let wire = format!("{}:{payload},", payload.len());
    let out = exchange(addr, wire.as_bytes()).await;
    let text = String::from_utf8(out).unwrap();
    let (_, rest) = text.split_once(':').unwrap();
    rest.strip_suffix(',').unwrap().to_owned()
}

/// Postfix's `postmap` (Debian package `postfix`, which scripts/test.sh installs): the tests that
/// need it fail without it rather than skip.
pub(crate) fn postmap() -> &'static str {
    ["/usr/sbin/postmap", "/usr/bin/postmap"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("postmap not found: install Postfix (scripts/test.sh does)")
}

pub(crate) fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mta-sts-daemon-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
// The built binary: flags, exit codes, signals.
mod binary;
