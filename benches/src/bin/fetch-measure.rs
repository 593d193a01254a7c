//! Measures whole policy fetches against real DNS and HTTPS servers on loopback: a 64 KiB policy, a
//! typical one, and a server that trickles its body. Prints wall time per fetch and peak memory.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin fetch-measure [ITERATIONS]
//! cargo run --release -p mta-sts-benches --bin fetch-measure cold DNS_ADDR CA_FILE DOMAINS_FILE CONNECTIONS
//! ```
//!
//! `cold` is the ceiling of the cold-discovery benchmark (`benches/cold-bench.sh`): each domain of
//! DOMAINS_FILE discovered once (`_mta-sts` TXT, policy host address, TLS handshake, HTTP GET on
//! port 443, policy parsed), CONNECTIONS at a time, with our fetch clients and no daemon, against
//! the DNS server at DNS_ADDR and the HTTPS servers its A records name, trusting the PEM CA_FILE.
//! Prints the same line as `socketmap-load`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use std::sync::Arc;

use mta_sts_benches::load;
use mta_sts_fetch::{FetchConfig, Proxy, clients};
use mta_sts_testkit::{HostConfig, PolicyServer, Response, TestCa, TestDns};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn policy_of_size(size: usize) -> String {
    let mut body =
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r\n".to_owned();
    let line = format!("note: {}\r\n", "x".repeat(600));
    while body.len() + line.len() <= size {
        body.push_str(&line);
    }
    body.push_str(&"y".repeat(size.saturating_sub(body.len() + 8)));
    body.push_str(": z\r\n");
    body.truncate(size);
    body
}

/// `fetch-measure cold …`: see the module documentation.
async fn cold(args: &[String]) {
    let [dns, ca_file, domains, connections] = args else {
        eprintln!("usage: fetch-measure cold DNS_ADDR CA_FILE DOMAINS_FILE CONNECTIONS");
        std::process::exit(64);
    };
    let dns: std::net::SocketAddr = dns.parse().expect("DNS_ADDR is ip:port");
    assert!(dns.ip().is_loopback(), "loopback addresses only");
    let domains: Vec<_> = std::fs::read_to_string(domains)
        .expect("domains file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().expect("a domain per line"))
        .collect();
    let config = FetchConfig::default()
        .with_nameservers(vec![dns])
        .with_ca_file(ca_file)
        .with_proxy(Proxy::None);
    let (dns, fetch) = clients(&config).expect("clients");
    let connections = connections.parse().expect("CONNECTIONS is a number");
    let report = load::discoveries(dns, fetch, Arc::new(domains), connections).await;
    if let Some(first) = &report.first_error {
        eprintln!("first error: {first}");
    }
    println!("{report}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "cold") {
        // Concurrent discoveries on every core, as the daemon runs them.
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        return runtime.block_on(cold(&args[1..]));
    }
    // One thread: per-fetch wall time, undisturbed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(typical(
        args.first().and_then(|a| a.parse().ok()).unwrap_or(200),
    ));
}

/// The fetch timings of the module documentation, on one thread.
async fn typical(iterations: u32) {
    let ca = TestCa::new();
    let dns = TestDns::start().await.expect("dns server");
    let https = PolicyServer::start(&ca).await.expect("https server");
    let big = policy_of_size(64 * 1024);
    let hosts = [
        (
            "typical.example",
            Response::policy(
                "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r\n",
            ),
        ),
        ("big.example", Response::policy(&big)),
        (
            "trickle.example",
            Response {
                trickle: Some((64, Duration::from_millis(20))),
                ..Response::policy(&big)
            },
        ),
    ];
    for (domain, response) in &hosts {
        dns.add_a(&format!("mta-sts.{domain}"), Ipv4Addr::LOCALHOST);
        https.set_host(
            &format!("mta-sts.{domain}"),
            HostConfig::valid(response.clone()),
        );
    }
    let config = FetchConfig::default()
        .with_nameservers(vec![dns.addr()])
        .with_https_port(https.addr().port())
        .with_ca_pem(ca.cert_pem())
        .with_timeout(Duration::from_secs(2))
        .with_proxy(Proxy::None);
    let (_, client) = clients(&config).expect("clients");
    println!("| fetch | iterations | mean wall time | outcome | peak RSS after |");
    println!("|---|---|---|---|---|");
    for (domain, runs) in [
        ("typical.example", iterations),
        ("big.example", iterations),
        ("trickle.example", 3),
    ] {
        let started = Instant::now();
        let mut outcome = String::new();
        for _ in 0..runs {
            outcome = match client.fetch(&domain.parse().expect("a domain")).await {
                Ok(body) => format!("{} bytes", body.len()),
                Err(e) => e.to_string(),
            };
        }
        let mean = started.elapsed() / runs;
        println!(
            "| {domain} | {runs} | {:.2} ms | {outcome} | {} KiB |",
            mean.as_secs_f64() * 1000.0,
            peak_rss_kib()
        );
    }
}
