//! A DNS server on loopback for load tests: `_mta-sts.d{0..N}.example` TXT `v=STSv1; id=bench1`.
//! Prints its address, then serves until killed.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin bench-dns -- [DOMAINS]
//! ```

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let domains: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dns = mta_sts_testkit::TestDns::start().await.expect("dns server");
    for i in 0..domains {
        dns.add_txt(&format!("_mta-sts.d{i}.example"), &[b"v=STSv1; id=bench1"]);
    }
    println!("{}", dns.addr());
    std::future::pending::<()>().await;
}
