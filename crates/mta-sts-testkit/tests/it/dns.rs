use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use mta_sts_testkit::{DnsBehavior, TestDns};

/// A resolver that asks only `server`, over one transport, once, without caching.
fn resolver(server: SocketAddr, protocol: ProtocolConfig) -> TokioResolver {
    let mut connection = ConnectionConfig::new(protocol);
    connection.port = server.port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        server.ip(),
        true,
        vec![connection],
    )]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.timeout = Duration::from_millis(300);
    options.attempts = 0;
    options.cache_size = 0;
    options.edns0 = true;
    builder.build().expect("resolver")
}

/// The TXT records of an answer, each as its character-strings, sorted.
fn txt_records(resolver_answer: &hickory_resolver::lookup::Lookup) -> Vec<Vec<Vec<u8>>> {
    let mut records: Vec<Vec<Vec<u8>>> = resolver_answer
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect();
    records.sort();
    records
}

fn response_code(error: &NetError) -> Option<ResponseCode> {
    match error {
        NetError::Dns(DnsError::ResponseCode(code)) => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn txt_rrset_through_a_cname_chain_over_udp_and_tcp() {
    let dns = TestDns::start().await.unwrap();
    dns.add_cname("_mta-sts.example.com", "_mta-sts.alias.example.net.");
    dns.add_cname("_MTA-STS.alias.example.net", "_mta-sts.target.example.org");
    dns.add_txt(
        "_mta-sts.target.example.org.",
        &[b"v=STSv1; ", b"id=20240101"],
    );
    dns.add_txt("_mta-sts.target.example.org", &[b"v=spf1 -all"]);

    for protocol in [ProtocolConfig::Udp, ProtocolConfig::Tcp] {
        let lookup = resolver(dns.addr(), protocol)
            .txt_lookup("_mta-sts.example.com.")
            .await
            .unwrap();
        let cnames = lookup
            .answers()
            .iter()
            .filter(|r| matches!(r.data, RData::CNAME(_)))
            .count();
        assert_eq!(cnames, 2);
        assert_eq!(
            txt_records(&lookup),
            vec![
                vec![b"v=STSv1; ".to_vec(), b"id=20240101".to_vec()],
                vec![b"v=spf1 -all".to_vec()],
            ]
        );
    }
    assert_eq!(dns.query_count("_mta-sts.EXAMPLE.com."), 2);
    assert_eq!(dns.query_count("_mta-sts.target.example.org"), 0);
}

#[tokio::test]
async fn nxdomain_nodata_and_records_changed_while_running() {
    let dns = TestDns::start().await.unwrap();
    let resolver = resolver(dns.addr(), ProtocolConfig::Udp);
    dns.add_a("mta-sts.example.com", Ipv4Addr::LOCALHOST);
    dns.add_aaaa("mta-sts.example.com", Ipv6Addr::LOCALHOST);
    dns.add_mx("example.com", 10, "mx.example.com");

    let nx = resolver
        .txt_lookup("_mta-sts.example.com.")
        .await
        .unwrap_err();
    assert!(nx.is_nx_domain(), "{nx}");
    let nodata = resolver
        .txt_lookup("mta-sts.example.com.")
        .await
        .unwrap_err();
    assert!(
        nodata.is_no_records_found() && !nodata.is_nx_domain(),
        "{nodata}"
    );
    // An empty non-terminal exists, so it is NODATA too.
    dns.add_txt("_mta-sts.sub.example.net", &[b"v=STSv1; id=1"]);
    let ent = resolver.txt_lookup("sub.example.net.").await.unwrap_err();
    assert!(ent.is_no_records_found() && !ent.is_nx_domain(), "{ent}");

    let ips = resolver.lookup_ip("mta-sts.example.com.").await.unwrap();
    assert_eq!(ips.iter().count(), 2);
    let mx = resolver.mx_lookup("example.com.").await.unwrap();
    let [record] = mx.answers() else {
        panic!("{mx:?}")
    };
    let RData::MX(mx) = &record.data else {
        panic!("{record:?}")
    };
    assert_eq!(
        (mx.preference, mx.exchange.to_ascii().as_str()),
        (10, "mx.example.com.")
    );

    dns.add_txt("_mta-sts.example.com", &[b"v=STSv1; id=2"]);
    let lookup = resolver.txt_lookup("_mta-sts.example.com.").await.unwrap();
    assert_eq!(txt_records(&lookup), vec![vec![b"v=STSv1; id=2".to_vec()]]);
    dns.clear("_mta-sts.example.com.");
    let nx = resolver
        .txt_lookup("_mta-sts.example.com.")
        .await
        .unwrap_err();
    assert!(nx.is_nx_domain(), "{nx}");
}

#[tokio::test]
async fn servfail_refused_and_silence() {
    let dns = TestDns::start().await.unwrap();
    let resolver = resolver(dns.addr(), ProtocolConfig::Udp);
    dns.add_txt("_mta-sts.example.com", &[b"v=STSv1; id=1"]);

    dns.set_behavior("_mta-sts.example.com", DnsBehavior::ServFail);
    let error = resolver
        .txt_lookup("_mta-sts.example.com.")
        .await
        .unwrap_err();
    assert_eq!(
        response_code(&error),
        Some(ResponseCode::ServFail),
        "{error}"
    );
    assert_eq!(dns.query_count("_mta-sts.example.com"), 1);

    dns.set_behavior("_mta-sts.example.com", DnsBehavior::Refused);
    let error = resolver
        .txt_lookup("_mta-sts.example.com.")
        .await
        .unwrap_err();
    assert_eq!(
        response_code(&error),
        Some(ResponseCode::Refused),
        "{error}"
    );
    assert_eq!(dns.query_count("_mta-sts.example.com"), 2);

    dns.set_behavior("_mta-sts.example.com", DnsBehavior::NoResponse);
    let error = resolver
        .txt_lookup("_mta-sts.example.com.")
        .await
        .unwrap_err();
    assert!(matches!(error, NetError::Timeout), "{error}");
    assert_eq!(dns.query_count("_mta-sts.example.com"), 3);

    dns.set_behavior("_mta-sts.example.com", DnsBehavior::Answer);
    resolver.txt_lookup("_mta-sts.example.com.").await.unwrap();
    assert_eq!(dns.query_count("_mta-sts.example.com"), 4);
}

#[tokio::test]
async fn patterns_serve_generated_names_and_exact_records_win() {
    let dns = TestDns::start().await.unwrap();
    let resolver = resolver(dns.addr(), ProtocolConfig::Udp);
    dns.add_txt_pattern("_mta-sts.*.Cold.Example.", &[b"v=STSv1; id=p"]);
    dns.add_a_pattern("mta-sts.*.cold.example", Ipv4Addr::new(127, 0, 0, 9));
    dns.add_txt("_mta-sts.d7.cold.example", &[b"v=STSv1; id=exact"]);

    for name in ["_mta-sts.d1.cold.example.", "_mta-sts.D9999.cold.example."] {
        let lookup = resolver.txt_lookup(name).await.unwrap();
        assert_eq!(txt_records(&lookup), vec![vec![b"v=STSv1; id=p".to_vec()]]);
    }
    let exact = resolver
        .txt_lookup("_mta-sts.d7.cold.example.")
        .await
        .unwrap();
    assert_eq!(
        txt_records(&exact),
        vec![vec![b"v=STSv1; id=exact".to_vec()]]
    );
    let ips = resolver
        .lookup_ip("mta-sts.d42.cold.example.")
        .await
        .unwrap();
    assert_eq!(
        ips.iter().collect::<Vec<_>>(),
        [std::net::IpAddr::from([127, 0, 0, 9])]
    );

    // A pattern label is one label, and names around the pattern keep their usual answers.
    let nx = resolver
        .txt_lookup("_mta-sts.a.b.cold.example.")
        .await
        .unwrap_err();
    assert!(nx.is_nx_domain(), "{nx}");
    let nx = resolver
        .txt_lookup("_mta-sts.d1.other.example.")
        .await
        .unwrap_err();
    assert!(nx.is_nx_domain(), "{nx}");
    // The domain itself is an ancestor of matching names: NODATA.
    let ent = resolver.txt_lookup("d1.cold.example.").await.unwrap_err();
    assert!(ent.is_no_records_found() && !ent.is_nx_domain(), "{ent}");
    assert_eq!(dns.query_count("_mta-sts.d1.cold.example"), 1);
}
