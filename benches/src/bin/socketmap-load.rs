//! A load tool for socketmap servers: N connections, each sending lookups back to back as Postfix
//! does (one outstanding request per connection), keys taken round-robin from a file.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin socketmap-load -- ADDR KEYS_FILE [CONNECTIONS] [SECONDS] [MAP] [EXPECT]
//! ```
//! SECONDS may be `once`: the connections then share one cursor and every key is looked up exactly
//! once (a warm-up pass, or cold discovery when the keys are new to the server). Prints
//! lookups/s, latency percentiles and errors: anything but OK/NOTFOUND, or a broken connection;
//! with EXPECT (such as `secure`), anything but an `OK` answer starting with EXPECT. The first
//! error, if any, goes to stderr. Loopback only: ADDR must be a 127.0.0.0/8 or ::1 address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_benches::load::{self, Expect, Keys};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: socketmap-load ADDR KEYS_FILE [CONNECTIONS] [SECONDS|once] [MAP] [EXPECT]"
        );
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
    let mode = match args.get(4).map(String::as_str) {
        Some("once") => Keys::Once,
        seconds => Keys::For(Duration::from_secs_f64(
            seconds.and_then(|a| a.parse().ok()).unwrap_or(10.0),
        )),
    };
    let map = args.get(5).map_or("postfix", String::as_str);
    let expect = match args.get(6) {
        Some(prefix) => Expect::OkStartingWith(prefix.clone()),
        None => Expect::OkOrNotFound,
    };
    let report = load::socketmap(addr, keys, connections, mode, map, &expect).await;
    if let Some(first) = &report.first_error {
        eprintln!("first error: {first}");
    }
    println!("{report}");
}
