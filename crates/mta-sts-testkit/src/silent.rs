use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A TCP port on `127.0.0.1` that accepts connections and never reads or writes.
///
/// For "the server never answers" tests: a client connects, sends its TLS ClientHello or its
/// request, and waits for its own timeout. Connections stay open until the server is dropped.
#[derive(Debug)]
pub struct SilentServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SilentServer {
    /// Binds a random port on `127.0.0.1` and starts accepting.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Self { addr, accept })
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
