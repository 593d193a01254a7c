use std::time::Duration;

use mta_sts_fetch::{DnsClient, FetchConfig, PolicyClient, Proxy, clients};
use mta_sts_testkit::PolicyDomains;

pub(crate) const ENFORCE: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n";

/// The test kit's servers, plus clients configured for them.
pub(crate) struct Kit(PolicyDomains);

impl std::ops::Deref for Kit {
    type Target = PolicyDomains;

    fn deref(&self) -> &PolicyDomains {
        &self.0
    }
}

impl Kit {
    pub(crate) async fn start() -> Self {
        Self(PolicyDomains::start().await.unwrap())
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
}

/// A policy domain.
pub(crate) fn d(name: &str) -> mta_sts_policy::Domain {
    name.parse().unwrap()
}

/// `secs` seconds after the epoch.
pub(crate) fn at(secs: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(secs)
}
