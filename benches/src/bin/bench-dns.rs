//! A DNS server on loopback for load tests: `_mta-sts.d{0..N}.example` TXT `v=STSv1; id=bench1`.
//! Prints its address, then serves until killed.
//!
//! With `--signed ANCHOR_FILE`, the zone `example.` is DNSSEC-signed (the test kit's `SignedDns`,
//! TTL one hour) and every `d{i}.example` also has an MX record for `mx.example`, which has an A
//! record and no TLSA: a DANE lookup of any domain validates and finds no DANE, so a daemon with
//! DANE on does its DANE check and then answers from MTA-STS, the most work a warm lookup does.
//! The trust anchor (the root key) is written to ANCHOR_FILE.
//!
//! With `--pattern ZONE IP` (for cold discovery, `benches/cold-bench.sh`), DOMAINS is ignored and
//! every `*.ZONE` is a domain never seen before: `_mta-sts.*.ZONE` has TXT `v=STSv1; id=cold1`
//! and `mta-sts.*.ZONE` an A record for IP (where `bench-https` serves), generated per query by
//! the test kit's name patterns.
//!
//! ```text
//! cargo run --release -p mta-sts-benches --bin bench-dns -- [DOMAINS] [--signed ANCHOR_FILE]
//! cargo run --release -p mta-sts-benches --bin bench-dns -- 0 --pattern ZONE IP
//! ```

use std::net::Ipv4Addr;

use mta_sts_testkit::{SignedDns, ZoneKind};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let domains: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let signed = match args.get(1).map(String::as_str) {
        Some("--signed") => Some(args.get(2).expect("--signed needs ANCHOR_FILE").clone()),
        Some("--pattern") => {
            let (Some(zone), Some(ip)) = (args.get(2), args.get(3)) else {
                panic!("--pattern needs ZONE and IP");
            };
            let ip: Ipv4Addr = ip.parse().expect("IP is an IPv4 address");
            let dns = mta_sts_testkit::TestDns::start().await.expect("dns server");
            dns.add_txt_pattern(&format!("_mta-sts.*.{zone}"), &[b"v=STSv1; id=cold1"]);
            dns.add_a_pattern(&format!("mta-sts.*.{zone}"), ip);
            println!("{}", dns.addr());
            return std::future::pending::<()>().await;
        }
        Some(other) => panic!("unknown argument {other:?}"),
        None => None,
    };
    let Some(anchor) = signed else {
        let dns = mta_sts_testkit::TestDns::start().await.expect("dns server");
        for i in 0..domains {
            dns.add_txt(&format!("_mta-sts.d{i}.example"), &[b"v=STSv1; id=bench1"]);
        }
        println!("{}", dns.addr());
        return std::future::pending::<()>().await;
    };
    let mut zone = SignedDns::builder()
        .ttl(3600)
        .zone("example", ZoneKind::Signed)
        .a("mx.example", Ipv4Addr::LOCALHOST);
    for i in 0..domains {
        zone = zone
            .txt(&format!("_mta-sts.d{i}.example"), &[b"v=STSv1; id=bench1"])
            .mx(&format!("d{i}.example"), 10, "mx.example");
    }
    let dns = zone.start().await.expect("signed dns server");
    std::fs::write(&anchor, dns.trust_anchor_text()).expect("write the trust anchor");
    println!("{}", dns.addr());
    std::future::pending::<()>().await
}
