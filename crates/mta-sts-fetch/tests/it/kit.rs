use std::net::Ipv4Addr;
use std::time::Duration;

use mta_sts_fetch::{DnsClient, FetchConfig, PolicyClient, Proxy, clients};
use mta_sts_testkit::{CertKind, HostConfig, PolicyServer, Response, TestCa, TestDns};

pub(crate) const ENFORCE: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n";

pub(crate) struct Kit {
    pub(crate) dns: TestDns,
    pub(crate) https: PolicyServer,
    pub(crate) ca: TestCa,
}

impl Kit {
    pub(crate) async fn start() -> Self {
        let ca = TestCa::new();
        let dns = TestDns::start().await.unwrap();
        let https = PolicyServer::start(&ca).await.unwrap();
        Self { dns, https, ca }
    }

    /// A client trusting only the kit's CA (plus webpki roots), talking to the kit's DNS and port.
    pub(crate) fn config(&self, timeout: Duration) -> FetchConfig {
        FetchConfig::default()
            .with_nameservers(vec![self.dns.addr()])
            .with_https_port(self.https.addr().port())
            .with_ca_pem(self.ca.cert_pem())
            .with_timeout(timeout)
            .with_proxy(Proxy::None)
    }

    pub(crate) fn clients(&self, timeout: Duration) -> (DnsClient, PolicyClient) {
        clients(&self.config(timeout)).unwrap()
    }

    /// `domain` publishes TXT id `id` and serves `response` with a certificate of kind `cert`.
    pub(crate) fn publish(&self, domain: &str, id: &str, cert: CertKind, response: Response) {
        self.dns.clear(&format!("_mta-sts.{domain}"));
        self.dns.add_txt(
            &format!("_mta-sts.{domain}"),
            &[format!("v=STSv1; id={id}").as_bytes()],
        );
        self.host(domain, cert, response);
    }

    /// Only the policy host: an A record and the HTTPS answer.
    pub(crate) fn host(&self, domain: &str, cert: CertKind, response: Response) {
        let host = format!("mta-sts.{domain}");
        self.dns.clear(&host);
        self.dns.add_a(&host, Ipv4Addr::LOCALHOST);
        self.https.set_host(&host, HostConfig { cert, response });
    }

    pub(crate) fn requests(&self, domain: &str) -> usize {
        self.https.requests(&format!("mta-sts.{domain}")).len()
    }
}
