//! Where the daemon listens: TCP, or a UNIX socket (for Postfix, usually inside the chroot of its
//! `smtp` client, e.g. `/var/spool/postfix/mta-sts/mta-sts.sock`).

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::unistd::{Gid, Uid};
use tokio::net::{TcpListener, UnixListener};

use crate::{Config, account};

/// Permissions of a socket directory the daemon creates: the owner writes (creates and removes the
/// socket), the group (Postfix's) may only reach the socket.
const DIRECTORY_MODE: u32 = 0o750;

/// Where the daemon listens.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A UNIX socket, removed when the listener is dropped.
    Unix(UnixSocket),
}

/// A bound UNIX socket that removes its file when dropped, unless another process has replaced it
/// in the meantime (a new daemon started before this one stopped).
#[derive(Debug)]
pub struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file as bound.
    file: (u64, u64),
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.file);
        if !ours {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            let directory = self.path.parent().unwrap_or(Path::new("/"));
            tracing::warn!(
                path = %self.path.display(),
                error = %e,
                "cannot remove the socket at exit: its directory {} must be writable by the user the daemon runs as",
                directory.display()
            );
        }
    }
}

impl UnixSocket {
    /// Binds `path` with `mode` as [`Listener::bind_for`] binds the socketmap socket, the file
    /// (and a directory created for it) owned by `runs_as`: the control socket.
    pub(crate) fn bind_owned(path: &Path, mode: u32, runs_as: Option<Uid>) -> anyhow::Result<Self> {
        let ownership = Ownership {
            owner: runs_as,
            group: None,
            runs_as,
        };
        bind_unix(path, Some(mode), ownership)
    }

    pub(crate) async fn accept(&self) -> std::io::Result<tokio::net::UnixStream> {
        Ok(self.listener.accept().await?.0)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

/// Who the socket (and a directory created for it) belongs to.
#[derive(Debug, Clone, Copy, Default)]
struct Ownership {
    owner: Option<Uid>,
    group: Option<Gid>,
    /// The user the daemon will run as (`-u`): a directory it creates must let that user remove
    /// the socket at exit.
    runs_as: Option<Uid>,
}

impl Listener {
    pub(crate) async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Self::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Self::Unix(u) => Ok(Stream::Unix(u.listener.accept().await?.0)),
        }
    }

    /// Binds what `config` asks for: see [`bind_for`](Self::bind_for), for a daemon that keeps its
    /// user.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        Self::bind_for(config, None).await
    }

    /// Binds what `config` asks for, for a daemon that will then run as `runs_as` (`-u`):
    ///
    /// - the UNIX socket `path`: its directory is created if missing (mode 0750, owned by `owner`
    ///   or else the `runs_as` user, group `group`), a stale socket file is replaced and a live
    ///   one refused, then `mode`, `owner` and `group` are applied; the file is removed when the
    ///   listener is dropped;
    /// - or TCP `host:port`, with `SO_REUSEPORT` when `reuse_port`; since that lets a second
    ///   daemon share the port of a running one and take part of Postfix's lookups, a process
    ///   already listening there is warned about.
    pub async fn bind_for(config: &Config, runs_as: Option<Uid>) -> anyhow::Result<Self> {
        if let Some(path) = &config.path {
            let ownership = Ownership {
                owner: config
                    .owner
                    .as_deref()
                    .map(account::user)
                    .transpose()?
                    .map(|u| u.uid),
                group: config
                    .group
                    .as_deref()
                    .map(account::group)
                    .transpose()?
                    .map(|g| g.gid),
                runs_as,
            };
            return bind_unix(path, config.mode.map(|m| m.0), ownership).map(Self::Unix);
        }
        let addr: SocketAddr = tokio::net::lookup_host((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot resolve host {}", config.host))?
            .next()
            .with_context(|| format!("host {} has no address", config.host))?;
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        if config.reuse_port {
            if someone_listens(addr).await {
                tracing::warn!(
                    %addr,
                    "another process already listens on {addr}; with reuse_port both will receive Postfix's lookups (for a trial run, use --port with another port)"
                );
            }
            socket.set_reuseport(true)?;
        }
        socket.bind(addr).with_context(|| {
            format!("cannot listen on {addr} (another daemon? --port chooses another port)")
        })?;
        Ok(Self::Tcp(socket.listen(1024)?))
    }

    /// The TCP address, when listening on TCP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(l) => l.local_addr().ok(),
            Self::Unix(_) => None,
        }
    }

    /// The socket file, when listening on a UNIX socket.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Tcp(_) => None,
            Self::Unix(u) => Some(&u.path),
        }
    }
}

/// Whether something accepts connections at `addr` already.
async fn someone_listens(addr: SocketAddr) -> bool {
    let probe = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_millis(300), probe).await,
        Ok(Ok(_))
    )
}

fn bind_unix(path: &Path, mode: Option<u32>, ownership: Ownership) -> anyhow::Result<UnixSocket> {
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !directory.exists() {
        create_directory(directory, ownership)?;
    }
    if path.exists() {
        anyhow::ensure!(
            std::os::unix::net::UnixStream::connect(path).is_err(),
            "{} is in use by a running daemon",
            path.display()
        );
        std::fs::remove_file(path)
            .with_context(|| format!("cannot replace stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    let metadata = std::fs::symlink_metadata(path)?;
    // From here on, dropping the guard removes the file if anything below fails.
    let socket = UnixSocket {
        listener,
        path: path.to_owned(),
        file: (metadata.dev(), metadata.ino()),
    };
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set mode {mode:04o} on {}", path.display()))?;
    }
    if ownership.owner.is_some() || ownership.group.is_some() {
        give(path, ownership.owner, ownership.group)?;
    }
    Ok(socket)
}

/// Creates the socket's directory: owned by `owner`, else by the user the daemon will run as (so it
/// can remove its socket at exit), group `group`, mode 0750.
fn create_directory(directory: &Path, ownership: Ownership) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create the socket directory {}", directory.display()))?;
    std::fs::set_permissions(directory, std::fs::Permissions::from_mode(DIRECTORY_MODE))?;
    let owner = ownership.owner.or(ownership.runs_as);
    if owner.is_some() || ownership.group.is_some() {
        give(directory, owner, ownership.group)?;
    }
    tracing::info!(directory = %directory.display(), "created the socket directory");
    Ok(())
}

fn give(path: &Path, owner: Option<Uid>, group: Option<Gid>) -> anyhow::Result<()> {
    std::os::unix::fs::chown(
        path,
        owner.map(Uid::as_raw),
        group.map(Gid::as_raw),
    )
    .with_context(|| {
        format!(
            "cannot give {} to owner {} and group {} (only root may; start the daemon as root with -u to run unprivileged)",
            path.display(),
            owner.map_or("(unchanged)".to_owned(), |u| u.to_string()),
            group.map_or("(unchanged)".to_owned(), |g| g.to_string()),
        )
    })
}
