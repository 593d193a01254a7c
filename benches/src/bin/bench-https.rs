//! An HTTPS policy server for cold-discovery load tests (`benches/cold-bench.sh`): every
//! `mta-sts.*.ZONE` host serves a valid `enforce` policy (`mx: mx.example.net`), with a certificate
//! from a throwaway test CA issued at the host's first handshake and kept (the test kit's
//! `PolicyServer` with a host pattern). Writes the CA certificate (PEM) to CA_FILE, prints the
//! address, then serves until killed. ADDR is normally port 443 of a loopback address, the port
//! every MTA-STS client connects to.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin bench-https -- ADDR ZONE CA_FILE
//! ```

use std::net::SocketAddr;

use mta_sts_testkit::{HostConfig, PolicyServer, Response, TestCa};

/// The policy every host serves.
const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 604800\r\n";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, zone, ca_file] = args.as_slice() else {
        eprintln!("usage: bench-https ADDR ZONE CA_FILE");
        std::process::exit(64);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR is ip:port");
    assert!(addr.ip().is_loopback(), "loopback addresses only");
    let ca = TestCa::new();
    std::fs::write(ca_file, ca.cert_pem()).expect("write the CA certificate");
    let https = PolicyServer::start_on(&ca, addr)
        .await
        .unwrap_or_else(|e| panic!("listen on {addr}: {e}"));
    https.set_host_pattern(
        &format!("mta-sts.*.{zone}"),
        HostConfig::valid(Response::policy(POLICY)),
    );
    println!("{}", https.addr());
    std::future::pending::<()>().await
}
