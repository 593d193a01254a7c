//! The cold-discovery benchmark's machinery, small (`benches/cold-bench.sh` runs it large): domains
//! never seen before, served by the test kit's name patterns (DNS records and certificates made on
//! demand), looked up through our daemon over socketmap and discovered without it, with every
//! answer the expected `secure` one.

use std::sync::Arc;

use mta_sts_benches::load::{self, Expect, Keys};
use mta_sts_daemon::{Config, Daemon, Listener, fetch_config};
use mta_sts_fetch::{Proxy, clients};
use mta_sts_testkit::{PolicyDomains, Response};

const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 604800\r\n";
const DOMAINS: usize = 50;
const CONNECTIONS: usize = 5;

fn domains(run: &str) -> Vec<String> {
    (0..DOMAINS)
        .map(|i| format!("d{i}.{run}.cold.example"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_domains_through_the_daemon_and_the_ceiling_client() {
    let kit = PolicyDomains::start().await.unwrap();
    kit.publish_pattern("*.*.cold.example", "cold1", Response::policy(POLICY));

    let yaml = format!(
        "cache:\n  type: internal\ndns:\n  nameservers: ['{}']\n",
        kit.dns.addr()
    );
    let config = Config::parse(&yaml, "cold.yml").unwrap().0;
    let fetch = fetch_config(&config)
        .with_https_port(kit.https.addr().port())
        .with_ca_pem(kit.ca.cert_pem())
        .with_proxy(Proxy::None);
    let daemon = Daemon::new(config, &fetch).unwrap();
    let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        daemon
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
    });

    let expect = Expect::OkStartingWith("secure".to_owned());
    let keys = Arc::new(domains("daemon"));
    let report = load::socketmap(
        addr,
        Arc::clone(&keys),
        CONNECTIONS,
        Keys::Once,
        "postfix",
        &expect,
    )
    .await;
    assert_eq!(
        (report.ok, report.errors, report.latencies.len()),
        (DOMAINS as u64, 0, DOMAINS),
        "{report}: {:?}",
        report.first_error
    );
    // Each lookup was a discovery: one policy fetch per domain.
    for key in keys.iter() {
        assert_eq!(kit.requests(key), 1, "{key}");
    }
    // The expectation is checked: a domain the patterns do not serve is an error, not a success.
    let unknown = Arc::new(vec!["unknown.example".to_owned()]);
    let report = load::socketmap(addr, unknown, 1, Keys::Once, "postfix", &expect).await;
    assert_eq!((report.ok, report.errors), (0, 1), "{report}");

    let (dns, fetcher) = clients(&fetch).unwrap();
    let fresh = domains("ceiling")
        .iter()
        .map(|d| d.parse().unwrap())
        .collect();
    let report = load::discoveries(dns, fetcher, Arc::new(fresh), CONNECTIONS).await;
    assert_eq!(
        (report.ok, report.errors),
        (DOMAINS as u64, 0),
        "{report}: {:?}",
        report.first_error
    );
    assert_eq!(kit.https.host_count(), 2 * DOMAINS);

    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}
