//! A load tool for socketmap servers: N connections, each sending lookups back to back as Postfix
//! does (one outstanding request per connection), keys taken round-robin from a file.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin socketmap-load -- ADDR KEYS_FILE [CONNECTIONS] [SECONDS] [MAP]
//! ```
//! SECONDS may be `once`: the connections then share one cursor and every key is looked up exactly
//! once (a warm-up pass). Prints lookups/s, latency percentiles and errors (anything but
//! OK/NOTFOUND, or a broken connection). Loopback only: ADDR must be a 127.0.0.0/8 or ::1 address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use postfix_socketmap::{ClientCodec, Reply, Request};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: socketmap-load ADDR KEYS_FILE [CONNECTIONS] [SECONDS] [MAP]");
        std::process::exit(64);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR is ip:port");
    assert!(addr.ip().is_loopback(), "loopback addresses only");
    let keys: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args[2])
            .expect("keys file")
            .lines()
            .map(str::to_owned)
            .filter(|k| !k.is_empty())
            .collect(),
    );
    let connections: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let once = args.get(4).is_some_and(|a| a == "once");
    let seconds: f64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let cursor = Arc::new(AtomicUsize::new(0));
    let map = args.get(5).cloned().unwrap_or_else(|| "postfix".to_owned());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let keys = Arc::clone(&keys);
        let map = map.clone();
        let cursor = Arc::clone(&cursor);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let (mut ok, mut notfound, mut errors) = (0u64, 0u64, 0u64);
            let Ok(stream) = TcpStream::connect(addr).await else {
                return (latencies, ok, notfound, 1);
            };
            let _ = stream.set_nodelay(true);
            let mut framed = Framed::new(stream, ClientCodec::new());
            let mut i = c * 7919;
            loop {
                let key = if once {
                    match keys.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                        Some(key) => key,
                        None => break,
                    }
                } else if Instant::now() < deadline {
                    i += 1;
                    &keys[(i - 1) % keys.len()]
                } else {
                    break;
                };
                let request = Request::new(&map, key).expect("valid request");
                let sent = Instant::now();
                if framed.send(&request).await.is_err() {
                    errors += 1;
                    break;
                }
                match framed.next().await {
                    Some(Ok(Reply::Ok(_))) => ok += 1,
                    Some(Ok(Reply::NotFound)) => notfound += 1,
                    Some(Ok(_)) => errors += 1,
                    _ => {
                        errors += 1;
                        break;
                    }
                }
                latencies.push(sent.elapsed());
            }
            (latencies, ok, notfound, errors)
        });
    }
    let mut all = Vec::new();
    let (mut ok, mut notfound, mut errors) = (0, 0, 0);
    while let Some(done) = tasks.join_next().await {
        let (l, o, n, e) = done.expect("connection task");
        all.extend(l);
        ok += o;
        notfound += n;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "connections={connections} lookups={} lookups/s={:.0} p50={:.3}ms p99={:.3}ms p99.9={:.3}ms ok={ok} notfound={notfound} errors={errors}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        pct(0.999)
    );
}
