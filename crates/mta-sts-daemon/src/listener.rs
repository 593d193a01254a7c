//! Where the daemon listens: TCP, or a UNIX socket.

use std::path::Path;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};

use crate::Config;

/// Where the daemon listens.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A UNIX socket.
    Unix(UnixListener),
}

pub(crate) enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    pub(crate) async fn accept(&self) -> std::io::Result<Stream> {
        match self {
            Self::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Self::Unix(l) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }

    /// Binds what `config` asks for: the UNIX socket `path` (a stale socket file is replaced, a
    /// live one refused; `mode` applied), or TCP `host:port` (with `SO_REUSEPORT` when `reuse_port`).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        if let Some(path) = &config.path {
            return Self::bind_unix(path, config.mode.map(|m| m.0));
        }
        let addr: std::net::SocketAddr =
            tokio::net::lookup_host((config.host.as_str(), config.port))
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
            socket.set_reuseport(true)?;
        }
        socket
            .bind(addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Self::Tcp(socket.listen(1024)?))
    }

    fn bind_unix(path: &Path, mode: Option<u32>) -> anyhow::Result<Self> {
        if path.exists() {
            anyhow::ensure!(
                std::os::unix::net::UnixStream::connect(path).is_err(),
                "{} is in use by a running daemon",
                path.display()
            );
            std::fs::remove_file(path)
                .with_context(|| format!("cannot replace stale socket {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(Self::Unix(listener))
    }

    /// The TCP address, when listening on TCP.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Self::Tcp(l) => l.local_addr().ok(),
            Self::Unix(_) => None,
        }
    }
}
