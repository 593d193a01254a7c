//! The files of a private Postfix instance, rendered as text (no I/O here).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

/// Where one instance keeps everything, all under one scratch directory.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    /// The scratch directory; the only prefix the log file may have.
    pub(super) root: PathBuf,
    /// `config_directory`: main.cf, master.cf, the transport table and the CA file.
    pub(super) config: PathBuf,
    /// `queue_directory`, which is also the chroot of the chrooted daemons.
    pub(super) queue: PathBuf,
    /// `data_directory`, owned by the mail owner.
    pub(super) data: PathBuf,
    /// `maillog_file`.
    pub(super) log: PathBuf,
}

impl Layout {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            config: root.join("config"),
            queue: root.join("queue"),
            data: root.join("data"),
            log: root.join("maillog"),
        }
    }

    /// The trust anchor for the SMTP client. It stays outside the chroot: smtp(8) loads
    /// `smtp_tls_CAfile` before it enters the jail.
    pub(super) fn ca_file(&self) -> PathBuf {
        self.config.join("ca.pem")
    }

    pub(super) fn transport(&self) -> PathBuf {
        self.config.join("transport")
    }
}

/// A recipient domain delivered to a fixed loopback server instead of its MX hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Route {
    pub(super) domain: String,
    pub(super) server: SocketAddrV4,
}

/// The master.cf service that connects to `port`. One service per port, because the port is a
/// per-service setting (`smtp_tcp_port`) while the next hop must stay the bare domain.
fn service(port: u16) -> String {
    format!("smtp-{port}")
}

/// main.cf. `name` is unique per instance (syslog name and host name). A parameter in
/// `overrides` replaces the kit's line of the same name in place (a second definition would make
/// every daemon warn), or is added at the end.
pub(super) fn main_cf(
    layout: &Layout,
    name: &str,
    policy_maps: &str,
    overrides: &[(String, String)],
) -> String {
    let path = |p: &Path| p.display().to_string();
    let mut lines: Vec<(&str, String)> = vec![
        ("compatibility_level", "3.6".into()),
        ("queue_directory", path(&layout.queue)),
        ("data_directory", path(&layout.data)),
        ("syslog_name", name.into()),
        // maillog_file (Postfix >= 3.4) goes through postlogd(8): no syslog daemon is needed and
        // the test reads the file. Its directory must be listed in maillog_file_prefixes.
        ("maillog_file", path(&layout.log)),
        ("maillog_file_prefixes", path(&layout.root)),
        ("inet_interfaces", "loopback-only".into()),
        ("inet_protocols", "ipv4".into()),
        ("myhostname", format!("{name}.testkit.invalid")),
        ("mydestination", "$myhostname".into()),
        // Bounces and double bounces end here; no mailbox is written anywhere.
        (
            "local_transport",
            "discard:local delivery is disabled".into(),
        ),
        ("alias_maps", String::new()),
        ("alias_database", String::new()),
        ("biff", "no".into()),
        // No DNS at all: the next hop is the recipient domain, resolved by getaddrinfo() from
        // the chroot's etc/hosts; the port comes from the domain's transport service.
        ("smtp_dns_support_level", "disabled".into()),
        ("smtp_host_lookup", "native".into()),
        (
            "transport_maps",
            format!("texthash:{}", path(&layout.transport())),
        ),
        // Retry deferred mail within seconds, and try a bounce only once.
        ("queue_run_delay", "1s".into()),
        ("minimal_backoff_time", "1s".into()),
        ("maximal_backoff_time", "2s".into()),
        ("bounce_queue_lifetime", "0".into()),
        ("smtp_connect_timeout", "10s".into()),
        ("smtp_tls_security_level", "may".into()),
        ("smtp_tls_CAfile", path(&layout.ca_file())),
        // The test servers pick their certificate by SNI and refuse a handshake without it;
        // Postfix sends none unless told (a policy's servername= or this).
        ("smtp_tls_servername", "hostname".into()),
        ("smtp_tls_loglevel", "1".into()),
        ("smtp_tls_policy_maps", policy_maps.into()),
    ];
    for (key, value) in overrides {
        match lines.iter_mut().find(|(k, _)| k == key) {
            Some(line) => line.1.clone_from(value),
            None => lines.push((key, value.clone())),
        }
    }
    lines
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect()
}

/// master.cf: the services of Debian's stock file that outgoing mail needs, with the same
/// private/unpriv/chroot columns (`smtp` chrooted), plus one chrooted `smtp` service per port.
pub(super) fn master_cf(routes: &[Route]) -> String {
    let mut out = String::from(
        "# service type  private unpriv  chroot  wakeup  maxproc command + args\n\
         pickup     unix  n       -       y       60      1       pickup\n\
         cleanup    unix  n       -       y       -       0       cleanup\n\
         qmgr       unix  n       -       n       300     1       qmgr\n\
         tlsmgr     unix  -       -       y       1000?   1       tlsmgr\n\
         rewrite    unix  -       -       y       -       -       trivial-rewrite\n\
         bounce     unix  -       -       y       -       0       bounce\n\
         defer      unix  -       -       y       -       0       bounce\n\
         trace      unix  -       -       y       -       0       bounce\n\
         verify     unix  -       -       y       -       1       verify\n\
         flush      unix  n       -       y       1000?   0       flush\n\
         proxymap   unix  -       -       n       -       -       proxymap\n\
         proxywrite unix  -       -       n       -       1       proxymap\n\
         smtp       unix  -       -       y       -       -       smtp\n\
         relay      unix  -       -       y       -       -       smtp\n\
         showq      unix  n       -       y       -       -       showq\n\
         error      unix  -       -       y       -       -       error\n\
         retry      unix  -       -       y       -       -       error\n\
         discard    unix  -       -       y       -       -       discard\n\
         anvil      unix  -       -       y       -       1       anvil\n\
         scache     unix  -       -       y       -       1       scache\n\
         postlog    unix-dgram n  -       n       -       1       postlogd\n",
    );
    let ports: BTreeSet<u16> = routes.iter().map(|r| r.server.port()).collect();
    for port in ports {
        let _ = writeln!(
            out,
            "{:<10} unix  -       -       y       -       -       smtp -o smtp_tcp_port={port}",
            service(port)
        );
    }
    out
}

/// The transport table: `domain service:` with an empty next hop, so the next hop (and the TLS
/// policy lookup key) stays the recipient domain.
pub(super) fn transport(routes: &[Route]) -> String {
    routes
        .iter()
        .map(|r| format!("{} {}:\n", r.domain, service(r.server.port())))
        .collect()
}

/// The chroot's etc/hosts: every routed domain at its server's address.
pub(super) fn hosts(routes: &[Route]) -> String {
    let mut out = String::from("127.0.0.1 localhost\n");
    for route in routes {
        let _ = writeln!(out, "{} {}", route.server.ip(), route.domain);
    }
    out
}

/// The chroot's etc/nsswitch.conf: host names from etc/hosts only.
pub(super) const NSSWITCH: &str = "hosts: files\n";

/// The chroot's etc/resolv.conf. With DNS lookups disabled nothing should reach a resolver;
/// should a lookup slip through, it goes to loopback once and fails fast.
pub(super) const RESOLV: &str = "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n";

/// Whether `domain` is a host name Postfix and etc/hosts accept: letters, digits and hyphens in
/// dot-separated labels.
pub(super) fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<Route> {
        vec![
            Route {
                domain: "enforce.test".into(),
                server: "127.0.0.1:2525".parse().unwrap(),
            },
            Route {
                domain: "other.test".into(),
                server: "127.0.0.2:2525".parse().unwrap(),
            },
            Route {
                domain: "plain.test".into(),
                server: "127.0.0.1:3535".parse().unwrap(),
            },
        ]
    }

    #[test]
    fn one_service_per_port_and_bare_domain_next_hops() {
        let master = master_cf(&routes());
        assert!(master.contains("\nsmtp       unix  -       -       y "));
        assert!(master.contains("\nsmtp-2525  unix  -       -       y       -       -       smtp -o smtp_tcp_port=2525\n"));
        assert!(master.contains("smtp -o smtp_tcp_port=3535\n"));
        assert_eq!(master.matches("smtp_tcp_port=2525").count(), 1);
        assert_eq!(
            transport(&routes()),
            "enforce.test smtp-2525:\nother.test smtp-2525:\nplain.test smtp-3535:\n"
        );
        assert_eq!(
            hosts(&routes()),
            "127.0.0.1 localhost\n127.0.0.1 enforce.test\n127.0.0.2 other.test\n127.0.0.1 plain.test\n"
        );
    }

    #[test]
    fn main_cf_overrides_replace_or_add() {
        let layout = Layout::new(Path::new("/tmp/x"));
        let text = main_cf(
            &layout,
            "testkit-1-0",
            "socketmap:unix:/mta-sts/mta-sts.sock:postfix",
            &[
                ("smtp_tls_security_level".into(), "encrypt".into()),
                ("smtp_tls_security_level".into(), "dane".into()),
                ("smtputf8_enable".into(), "no".into()),
            ],
        );
        assert_eq!(text.matches("smtp_tls_security_level").count(), 1);
        assert!(text.contains("\nsmtp_tls_security_level = dane\n"));
        assert!(text.contains("queue_directory = /tmp/x/queue\n"));
        assert!(text.contains("maillog_file = /tmp/x/maillog\nmaillog_file_prefixes = /tmp/x\n"));
        assert!(
            text.contains("smtp_tls_policy_maps = socketmap:unix:/mta-sts/mta-sts.sock:postfix\n")
        );
        assert!(text.ends_with("smtp_tls_policy_maps = socketmap:unix:/mta-sts/mta-sts.sock:postfix\nsmtputf8_enable = no\n"));
        assert!(text.contains("smtp_tls_CAfile = /tmp/x/config/ca.pem\n"));
    }

    #[test]
    fn domains() {
        for (domain, ok) in [
            ("enforce.test", true),
            ("a-b.c1.test", true),
            ("test", true),
            ("", false),
            ("a..test", false),
            ("-a.test", false),
            ("a_b.test", false),
            ("a b.test", false),
            ("enforce.test.", false),
        ] {
            assert_eq!(valid_domain(domain), ok, "{domain:?}");
        }
    }
}
