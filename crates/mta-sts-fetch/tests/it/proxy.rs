use std::time::Duration;

use mta_sts_fetch::{FetchError, Proxy, clients};
use mta_sts_testkit::{CertKind, ConnectProxy, HostConfig, Response};

use crate::kit::{ENFORCE, Kit, d};

#[tokio::test]
async fn https_through_a_connect_proxy_with_certificate_checks_unchanged() {
    let kit = Kit::start().await;
    let proxy = ConnectProxy::start(kit.https.addr(), false).await.unwrap();
    let config = kit.config(Duration::from_secs(5)).with_proxy(Proxy::Url {
        url: format!("http://{}", proxy.addr()),
        no_proxy: "direct.example".into(),
    });
    let (_, https) = clients(&config).unwrap();
    // The policy host need not resolve locally: the proxy connects.
    kit.https.set_host(
        "mta-sts.proxied.example",
        HostConfig::valid(Response::policy(ENFORCE)),
    );
    assert_eq!(
        https.fetch(&d("proxied.example")).await.unwrap(),
        ENFORCE.as_bytes()
    );
    assert_eq!(
        proxy.targets(),
        [format!(
            "mta-sts.proxied.example:{}",
            kit.https.addr().port()
        )]
    );
    let expired = HostConfig {
        cert: CertKind::Expired,
        response: Response::policy(ENFORCE),
    };
    kit.https.set_host("mta-sts.badcert.example", expired);
    assert!(
        https
            .fetch(&d("badcert.example"))
            .await
            .unwrap_err()
            .is_certificate()
    );
    // NO_PROXY hosts are reached directly.
    kit.host("direct.example", CertKind::Valid, Response::policy(ENFORCE));
    https.fetch(&d("direct.example")).await.unwrap();
    assert_eq!(proxy.tunnels(), 2);
}

#[tokio::test]
async fn proxy_refusal_is_reported() {
    let kit = Kit::start().await;
    let proxy = ConnectProxy::start(kit.https.addr(), true).await.unwrap();
    let config = kit.config(Duration::from_secs(5)).with_proxy(Proxy::Url {
        url: format!("http://{}", proxy.addr()),
        no_proxy: String::new(),
    });
    let (_, https) = clients(&config).unwrap();
    let err = https.fetch(&d("example.com")).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Proxy(m) if m.contains("403 Forbidden")),
        "{err}"
    );
}
