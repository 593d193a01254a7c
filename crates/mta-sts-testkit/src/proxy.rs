use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// An HTTP CONNECT proxy on `127.0.0.1` that tunnels every `CONNECT` to one fixed address (a
/// [`PolicyServer`](crate::PolicyServer)), whatever host the client names, and counts the tunnels.
///
/// With `refuse`, it answers every `CONNECT` with `403 Forbidden` instead.
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    targets: Arc<std::sync::Mutex<Vec<String>>>,
    accept: JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ConnectProxy {
    /// Starts a proxy tunnelling to `target`, or refusing every request when `refuse` is true.
    ///
    /// Must be called inside a tokio runtime.
    pub async fn start(target: SocketAddr, refuse: bool) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let tunnels = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, seen) = (Arc::clone(&tunnels), Arc::clone(&targets));
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let (count, seen) = (Arc::clone(&count), Arc::clone(&seen));
                connections.spawn(async move {
                    let _ = tunnel(client, target, refuse, count, seen).await;
                });
            }
        });
        Ok(Self {
            addr,
            tunnels,
            targets,
            accept,
        })
    }

    /// The proxy's address, for `http://ADDR` proxy URLs.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many tunnels were opened.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    /// The `host:port` of every CONNECT request received, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn tunnel(
    client: TcpStream,
    target: SocketAddr,
    refuse: bool,
    count: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) -> io::Result<()> {
    let mut client = BufReader::new(client);
    let mut request = String::new();
    client.read_line(&mut request).await?;
    loop {
        let mut header = String::new();
        if client.read_line(&mut header).await? == 0 || header == "\r\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    if parts.next() != Some("CONNECT") {
        return client
            .get_mut()
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
    }
    let authority = parts.next().unwrap_or_default().to_owned();
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(authority);
    let mut client = client.into_inner();
    if refuse {
        return client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
    }
    let mut upstream = TcpStream::connect(target).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    count.fetch_add(1, Ordering::SeqCst);
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
