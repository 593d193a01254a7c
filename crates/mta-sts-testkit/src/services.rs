use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn scratch_dir(kind: &str) -> io::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("mta-sts-testkit-{kind}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "{what} exited with {status} before listening on {port}"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::other(format!(
        "{what} did not listen on {port} within 30 s"
    )))
}

fn find_binary(name: &str) -> io::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    versions.sort();
    std::env::split_paths(&path)
        .map(|p| p.join(name))
        .chain(versions.into_iter().rev().map(|v| v.join("bin").join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} not found: install it from Debian's packages (scripts/test.sh does: redis-server, postgresql)"),
            )
        })
}

/// The uid and gid of a system user, from `id`.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
    };
    Some((id("-u")?, id("-g")?))
}

/// A private `redis-server` process on its own port and directory, stopped when dropped.
///
/// Needs the `redis-server` binary (Debian package `redis-server`).
#[derive(Debug)]
pub struct TestRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    replica_of: Option<u16>,
}

impl TestRedis {
    /// Starts a server on a free port; blocks until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            dir: scratch_dir("redis")?,
            child: None,
            replica_of: None,
        };
        redis.resume()?;
        Ok(redis)
    }

    /// Starts a replica of the server on `master_port`.
    pub fn start_replica(master_port: u16) -> io::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            dir: scratch_dir("redis")?,
            child: None,
            replica_of: Some(master_port),
        };
        redis.resume()?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would), keeping its port for [`resume`](Self::resume).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    pub fn resume(&mut self) -> io::Result<()> {
        let binary = find_binary("redis-server")?;
        let mut child = Command::new(binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(
                self.replica_of
                    .map(|m| {
                        vec![
                            "--replicaof".to_owned(),
                            "127.0.0.1".to_owned(),
                            m.to_string(),
                        ]
                    })
                    .unwrap_or_default(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_for_port(self.port, &mut child, "redis-server")?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Sentinel process monitoring one master as `mymaster`, stopped when dropped.
#[derive(Debug)]
pub struct TestSentinel {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl TestSentinel {
    /// Starts a sentinel watching the master on `master_port`.
    pub fn start(master_port: u16) -> io::Result<Self> {
        let port = free_port()?;
        let dir = scratch_dir("sentinel")?;
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n",
                dir.display()
            ),
        )?;
        let mut child = Command::new(find_binary("redis-server")?)
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_for_port(port, &mut child, "redis sentinel")?;
        Ok(Self { port, dir, child })
    }

    /// `redis://127.0.0.1:PORT` of the sentinel.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for TestSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private PostgreSQL server (initdb in a scratch directory, its own port, trust authentication),
/// stopped when dropped. As root it runs as the `postgres` user, as PostgreSQL requires.
///
/// Needs the server binaries (Debian package `postgresql`) and `psql`.
#[derive(Debug)]
pub struct TestPostgres {
    port: u16,
    dir: PathBuf,
    child: Child,
}

fn as_postgres(program: &Path) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if is_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

impl TestPostgres {
    /// Creates a cluster and starts it on a free port; blocks until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let port = free_port()?;
        let dir = scratch_dir("postgres")?;
        let data = dir.join("data");
        if let Some((uid, gid)) = user_ids("postgres") {
            let _ = std::os::unix::fs::chown(&dir, Some(uid), Some(gid));
        }
        let status = as_postgres(&find_binary("initdb")?)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !status.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&status.stderr)
            )));
        }
        let mut child = as_postgres(&find_binary("postgres")?)
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ])
            .arg("-k")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        wait_for_port(port, &mut child, "postgres")?;
        Ok(Self { port, dir, child })
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` and returns its DSN (`host=127.0.0.1 port=… user=postgres dbname=name`).
    pub fn database(&self, name: &str) -> io::Result<String> {
        let out = Command::new(find_binary("psql")?)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
            ])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "CREATE DATABASE {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(format!(
            "host=127.0.0.1 port={} user=postgres dbname={name}",
            self.port
        ))
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // The postmaster's own PID (runuser may sit between us and it): SIGINT is a fast shutdown.
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned));
        if let Some(pid) = pid {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
