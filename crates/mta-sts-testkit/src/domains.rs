use std::io;
use std::net::Ipv4Addr;

use crate::{CertKind, HostConfig, PolicyServer, Response, TestCa, TestDns};

/// A DNS server, a policy server and their CA together: the usual setup of an MTA-STS test, with
/// one call to publish a domain's `_mta-sts` record and policy host.
#[derive(Debug)]
pub struct PolicyDomains {
    /// The DNS server.
    pub dns: TestDns,
    /// The HTTPS policy server.
    pub https: PolicyServer,
    /// The CA the policy server's certificates chain to.
    pub ca: TestCa,
}

impl PolicyDomains {
    /// Starts both servers with a fresh CA.
    pub async fn start() -> io::Result<Self> {
        let ca = TestCa::new();
        let dns = TestDns::start().await?;
        let https = PolicyServer::start(&ca).await?;
        Ok(Self { dns, https, ca })
    }

    /// `domain` publishes TXT `v=STSv1; id=<id>` and serves `response` from `mta-sts.<domain>`
    /// with a certificate of kind `cert`; earlier records of both names are replaced.
    pub fn publish(&self, domain: &str, id: &str, cert: CertKind, response: Response) {
        let txt = format!("_mta-sts.{domain}");
        self.dns.clear(&txt);
        self.dns
            .add_txt(&txt, &[format!("v=STSv1; id={id}").as_bytes()]);
        self.host(domain, cert, response);
    }

    /// Only the policy host `mta-sts.<domain>`: an A record for 127.0.0.1 and the HTTPS answer.
    pub fn host(&self, domain: &str, cert: CertKind, response: Response) {
        let host = format!("mta-sts.{domain}");
        self.dns.clear(&host);
        self.dns.add_a(&host, Ipv4Addr::LOCALHOST);
        self.https.set_host(&host, HostConfig { cert, response });
    }

    /// Every domain matching `pattern` (a `*` label stands for any one label, as in
    /// `*.cold.example`) publishes TXT `v=STSv1; id=<id>`, and its policy host `mta-sts.<domain>`
    /// has an A record for 127.0.0.1 and serves `response` with a valid certificate, issued at its
    /// first handshake: any number of domains never seen before, for load tests.
    ///
    /// # Panics
    ///
    /// As [`TestDns::add_txt_pattern`] and [`PolicyServer::set_host_pattern`].
    pub fn publish_pattern(&self, pattern: &str, id: &str, response: Response) {
        self.dns.add_txt_pattern(
            &format!("_mta-sts.{pattern}"),
            &[format!("v=STSv1; id={id}").as_bytes()],
        );
        let host = format!("mta-sts.{pattern}");
        self.dns.add_a_pattern(&host, Ipv4Addr::LOCALHOST);
        self.https
            .set_host_pattern(&host, HostConfig::valid(response));
    }

    /// Adds an MX record `domain` → `exchange` and an A record for 127.0.0.1 at `exchange` (for an
    /// [`SmtpServer`](crate::SmtpServer) on loopback).
    pub fn mx(&self, domain: &str, preference: u16, exchange: &str) {
        self.dns.add_mx(domain, preference, exchange);
        self.dns.clear(exchange);
        self.dns.add_a(exchange, Ipv4Addr::LOCALHOST);
    }

    /// How many requests `mta-sts.<domain>` received.
    pub fn requests(&self, domain: &str) -> usize {
        self.https.requests(&format!("mta-sts.{domain}")).len()
    }
}
