use super::*;
use crate::cache::{CacheConfig, RedisOptions};

const GUIDE: &str = r#"host: 127.0.0.1
port: 8461
reuse_port: true
shutdown_timeout: 20
cache:
    type: redis
    options:
        address: "redis://127.0.0.1:6384/0?timeout=5"
        db: 0
        password: "ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr"
        minsize: 5
        maxsize: 25
default_zone:
    strict_testing: false
    timeout: 4
zones:
    myzone:
        strict_testing: false
        timeout: 4
"#;

fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
    Config::parse(text, "test.yml")
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_deployment_guide_file_loads_verbatim() {
    let (config, warnings) = parse(GUIDE).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let CacheConfig::Redis(redis) = &config.cache else {
        panic!("{:?}", config.cache)
    };
    assert_eq!(
        redis.password.as_deref(),
        Some("ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr")
    );
    assert_eq!(
        redis.target().unwrap(),
        (
            "redis://:ZlsQPlZAwMRpBgzEvwH2J7jsWkcpC7Xr@127.0.0.1:6384/0".to_owned(),
            Duration::from_secs(5)
        )
    );
    assert_eq!(config.zone("myzone").timeout, Duration::from_secs(4));
    assert_eq!(config.zone("other"), &config.default_zone);
}

#[test]
fn every_example_of_postfix_mta_sts_resolver_loads_without_warnings() {
    let examples = [
        "cache:\n  type: internal\n  options:\n    cache_size: 10000\n",
        "cache:\n  type: sqlite\n  options:\n    filename: \"/var/lib/mta-sts/cache.db\"\n    threads: 4\n    timeout: 5\n",
        "cache:\n  type: redis\n  options:\n    url: \"redis://127.0.0.1/0\"\n    max_connections: 25\n    socket_timeout: 1.0\n    socket_connect_timeout: 1.0\n",
        "cache:\n  type: redis_sentinel\n  options:\n    sentinel_master_name: \"mymaster\"\n    sentinels:\n      - [\"sentinel1\", 26379]\n      - [\"sentinel2\", 26379]\n    password: \"StrongPassword\"\n    max_connections: 25\n    socket_timeout: 1.0\n    socket_connect_timeout: 1.0\n",
        "cache:\n  type: postgres\n  options:\n    dsn: postgres://user@%2Frun%2Fpostgresql/user\n",
        "path: /var/run/mta-sts.sock\nmode: 0666\ncache:\n  type: sqlite\n  options:\n    filename: \"/var/lib/mta-sts/cache.db\"\n",
        "proactive_policy_fetching:\n  enabled: true\n  interval: 86400\n  concurrency_limit: 100\n  grace_ratio: 2\n",
    ];
    for text in examples {
        let (_, warnings) = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(warnings.is_empty(), "{text}: {warnings:?}");
    }
    let (config, _) = parse(examples[3]).unwrap();
    let CacheConfig::RedisSentinel(sentinel) = &config.cache else {
        panic!()
    };
    let urls: Vec<&str> = sentinel.sentinels.iter().map(|s| s.url()).collect();
    assert_eq!(urls, ["redis://sentinel1:26379", "redis://sentinel2:26379"]);
}

#[test]
fn empty_file_means_all_defaults() {
    let (config, _) = parse("").unwrap();
    assert_eq!(config, Config::default());
    let (config, _) = parse("# nothing here\n\n").unwrap();
    assert_eq!(
        (config.host.as_str(), config.port, config.reuse_port),
        ("127.0.0.1", 8461, true)
    );
    assert_eq!(
        (config.cache_grace, config.shutdown_timeout),
        (Duration::from_secs(60), Duration::from_secs(20))
    );
    assert_eq!(config.cache, CacheConfig::default());
    let p = &config.proactive_policy_fetching;
    assert_eq!(
        (p.enabled, p.interval, p.concurrency_limit, p.grace_ratio),
        (false, Duration::from_secs(86_400), 100, 2.0)
    );
    let z = &config.default_zone;
    assert_eq!(
        (z.strict_testing, z.timeout, z.require_sni, z.tlsrpt),
        (false, Duration::from_secs(4), true, false)
    );
}

#[test]
fn pyyaml_booleans_octal_modes_and_decimal_seconds() {
    let (config, _) = parse("reuse_port: no\ndefault_zone:\n  strict_testing: yes\n  tlsrpt: True\npath: /var/spool/postfix/mta-sts.sock\nmode: 0666\ncache_grace: 2.5\n").unwrap();
    assert!(!config.reuse_port);
    assert!(config.default_zone.strict_testing && config.default_zone.tlsrpt);
    assert_eq!(config.mode, Some(SocketMode(0o666)));
    assert_eq!(config.cache_grace, Duration::from_millis(2500));
    for (text, mode) in [
        ("mode: '0660'\n", 0o660),
        ("mode: 0o600\n", 0o600),
        ("mode: 438\n", 438),
    ] {
        assert_eq!(
            parse(text).unwrap().0.mode,
            Some(SocketMode(mode)),
            "{text}"
        );
    }
    assert!(parse("mode: 99999\n").is_err());
    assert_eq!(
        parse("shutdown_timeout: '7'\n").unwrap().0.shutdown_timeout,
        Duration::from_secs(7)
    );
}

#[test]
fn our_additions() {
    let text = "dns:\n  nameservers: ['127.0.0.1:5353', '[::1]:53']\ntls:\n  roots: system\n  ca_file: /etc/ssl/extra.pem\ndefault_zone:\n  on_failure: temp\nmax_connections: 10\npath: /run/x.sock\nowner: postfix\ngroup: postfix\n";
    let (config, warnings) = parse(text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.dns.nameservers.len(), 2);
    assert_eq!(config.tls.roots, RootsSetting::System);
    assert_eq!(config.default_zone.rules().on_failure, OnFailure::Temp);
    assert_eq!(config.max_connections, 10);
}

#[test]
fn dane_is_off_by_default_and_set_per_zone() {
    let (config, _) = parse("").unwrap();
    assert!(!config.dane_enabled());
    assert!(!config.default_zone.rules().dane);
    let text = "dns:\n  trust_anchor: /etc/mta-sts/root.key\nzones:\n  dane:\n    dane:\n      enabled: yes\n      enable: true\n";
    let (config, warnings) = parse(text).unwrap();
    assert!(config.dane_enabled());
    assert!(config.zone("dane").rules().dane);
    assert!(!config.zone("postfix").rules().dane);
    assert_eq!(
        config.dns.trust_anchor.as_deref(),
        Some(Path::new("/etc/mta-sts/root.key"))
    );
    assert_eq!(warnings, ["unknown key zones.dane.dane.enable ignored"]);
    let error = parse("default_zone:\n  dane:\n    enabled: maybe\n").unwrap_err();
    assert!(
        error.to_string().contains("default_zone.dane.enabled"),
        "{error}"
    );
}

/// A DANE key without any zone doing DANE would be parsed and never applied: say so.
#[test]
fn dane_keys_without_dane_are_reported_unused() {
    let (_, warnings) = parse("dns:\n  trust_anchor: /etc/mta-sts/root.key\n").unwrap();
    assert_eq!(
        warnings,
        ["dns.trust_anchor applies only to DANE lookups, and no zone has dane.enabled: ignored"]
    );
    let (_, warnings) =
        parse("dns:\n  trust_ad: true\ndefault_zone:\n  dane:\n    enabled: true\n").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// Issue 10, bug 2: `max_connections` was applied but reported as an unknown key.
#[test]
fn issue_10_max_connections_is_a_known_key() {
    let (config, warnings) = parse("max_connections: 64\n").unwrap();
    assert_eq!(config.max_connections, 64);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn errors_name_the_file_line_column_and_key() {
    assert_eq!(
        error("host: 127.0.0.1\nport: 70000\n"),
        "test.yml:2:7: port: expected a number 1-65535, found 70000"
    );
    assert_eq!(
        error("port: notanumber\n"),
        "test.yml:1:7: port: expected a number 1-65535, found \"notanumber\""
    );
    let err = error("cache:\n  type: memcached\n");
    assert!(
        err.starts_with("test.yml:2:9: cache.type: unknown variant `memcached`")
            && err.contains("internal"),
        "{err}"
    );
    assert_eq!(
        error("zones:\n  slow:\n    timeout: 120\n"),
        "test.yml:3:14: zones.slow.timeout: expected a number of seconds above 0 and at most 90 (Postfix waits 100 s), found 120"
    );
    assert_eq!(
        error("default_zone:\n  strict_testing: maybe\n"),
        "test.yml:2:19: default_zone.strict_testing: expected true or false (or yes/no, on/off), found \"maybe\""
    );
    let err = error("cache_grace: -1\n");
    assert!(
        err.contains("cache_grace: expected a number of seconds, 0 or more, found -1"),
        "{err}"
    );
    let err = error("cache:\n  type: sqlite\n  options:\n    timeout: 3\n");
    assert!(
        err.contains("cache.options") && err.contains("filename"),
        "{err}"
    );
    let parsed = parse("cache:\n  type: redis\n  options:\n    db: 1\n")
        .unwrap()
        .0;
    let CacheConfig::Redis(redis) = parsed.cache else {
        panic!()
    };
    assert!(redis.target().is_err());
    assert_eq!(
        redis,
        RedisOptions {
            db: Some(1),
            ..RedisOptions::default()
        }
    );
}

#[test]
fn indentation_mistakes_say_so() {
    let err = parse("zones:\n  z:\n    timeout: 4\n   strict_testing: yes\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("test.yml:4:4: "), "{text}");
    assert!(text.contains("check the indentation"), "{text}");
    assert!(
        err.snippet().contains("strict_testing: yes"),
        "{}",
        err.snippet()
    );
    assert!(err.snippet().contains("test.yml"), "{}", err.snippet());
}

#[test]
fn unknown_keys_are_warnings_found_by_the_deserializer() {
    let (_, warnings) = parse(
        "host: 127.0.0.1\nlisten: 1\nzones:\n  z:\n    timout: 4\ncache:\n  type: sqlite\n  options:\n    filename: x.db\n    journal: wal\n",
    )
    .unwrap();
    assert_eq!(
        warnings,
        [
            "unknown key listen ignored",
            "unknown key zones.z.timout ignored",
            "unknown key cache.options.journal ignored"
        ]
    );
}

#[test]
fn cache_options_may_come_before_the_type_or_be_absent() {
    let (config, _) = parse("cache:\n  options:\n    filename: x.db\n  type: sqlite\n").unwrap();
    assert!(matches!(config.cache, CacheConfig::Sqlite(_)));
    let (config, _) = parse("cache:\n  type: internal\n").unwrap();
    assert_eq!(config.cache, CacheConfig::default());
    let err = error("cache:\n  options:\n    filename: x.db\n    journal: wal\n  type: sqlite\n");
    assert!(err.contains("unknown option journal"), "{err}");
}

#[test]
fn socket_keys_without_a_socket_are_warned_about() {
    let (_, warnings) = parse("port: 8461\ngroup: postfix\nmode: 0660\n").unwrap();
    assert_eq!(
        warnings,
        [
            "mode applies only to a UNIX socket (path), ignored",
            "group applies only to a UNIX socket (path), ignored"
        ]
    );
}

#[test]
fn booleans_as_pyyaml_reads_them() {
    for (word, value) in [
        ("yes", true),
        ("Yes", true),
        ("YES", true),
        ("on", true),
        ("y", true),
        ("True", true),
        ("no", false),
        ("Off", false),
        ("N", false),
        ("false", false),
    ] {
        let (config, _) = parse(&format!("reuse_port: {word}\n")).unwrap();
        assert_eq!(config.reuse_port, value, "{word}");
    }
    for word in ["1", "maybe", "'true '"] {
        assert!(parse(&format!("reuse_port: {word}\n")).is_err(), "{word}");
    }
}

#[test]
fn dns_trust_ad_is_off_by_default_and_excludes_trust_anchor() {
    assert!(!parse("").unwrap().0.dns.trust_ad);
    let (config, warnings) =
        parse("dns:\n  nameservers: ['127.0.0.1:53']\n  trust_ad: yes\ndefault_zone:\n  dane:\n    enabled: true\n").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(config.dns.trust_ad);
    assert_eq!(config.dns.nameservers.len(), 1);
    // Unknown keys under dns: are still reported.
    let (_, warnings) = parse("dns:\n  trust_ad: false\n  trust_add: true\n").unwrap();
    assert_eq!(warnings, ["unknown key dns.trust_add ignored"]);
    let message = error("dns:\n  trust_anchor: /usr/share/dns/root.key\n  trust_ad: true\n");
    assert!(message.starts_with("test.yml:"), "{message}");
    assert!(
        message.contains("dns.trust_anchor and dns.trust_ad cannot be used together"),
        "{message}"
    );
    let message = error("dns:\n  trust_ad: sometimes\n");
    assert!(message.contains("dns.trust_ad"), "{message}");
}

#[test]
fn control_socket_is_off_by_default_and_mode_0600() {
    let (config, warnings) = parse("port: 8461\n").unwrap();
    assert_eq!(config.control.socket, None);
    assert!(warnings.is_empty());
    let (config, warnings) = parse("control:\n  socket: /run/mta-sts/control.sock\n").unwrap();
    assert_eq!(
        config.control.socket.as_deref(),
        Some(Path::new("/run/mta-sts/control.sock"))
    );
    assert_eq!(config.control.mode, SocketMode(0o600));
    assert!(warnings.is_empty(), "{warnings:?}");
    let (config, _) = parse("control:\n  socket: /tmp/c.sock\n  mode: 0660\n").unwrap();
    assert_eq!(config.control.mode, SocketMode(0o660));
    let (_, warnings) = parse("control:\n  mode: 0660\n").unwrap();
    assert_eq!(
        warnings,
        ["control.mode applies only with control.socket, ignored"]
    );
    let (_, warnings) = parse("control:\n  sockett: /x\n").unwrap();
    assert_eq!(warnings, ["unknown key control.sockett ignored"]);
}

#[test]
fn metrics_listen_is_off_by_default_and_checked_as_read() {
    let (config, _) = parse("").unwrap();
    assert_eq!(config.metrics.listen, None);
    let (config, warnings) = parse("metrics:\n  listen: 127.0.0.1:9461\n  lisen: x\n").unwrap();
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9461".parse().unwrap())
    );
    assert_eq!(warnings, ["unknown key metrics.lisen ignored"]);
    let (config, _) = parse("metrics:\n  listen: '[::1]:9461'\n").unwrap();
    assert_eq!(config.metrics.listen, Some("[::1]:9461".parse().unwrap()));
    let error = error("metrics:\n  listen: localhost\n");
    assert!(
        error.contains("test.yml:2:") && error.contains("metrics.listen"),
        "{error}"
    );
}
