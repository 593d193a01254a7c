//! `metrics.listen`: exact counts after scripted lookups over real socketmap connections,
//! `/healthz` following a real Redis, the binary serving `/metrics`, and the Grafana dashboard
//! querying only metrics a real scrape has.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mta_sts_daemon::{Daemon, Endpoint, Listener, MetricsListener};
use mta_sts_testkit::{CertKind, Response, TestRedis, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{ENFORCE, Kit, Running, query, serve, temp_path};

/// One scrape, read as Prometheus reads it: `name{label="value",…}` (labels sorted) → value.
#[derive(Debug)]
pub(crate) struct Scrape {
    samples: BTreeMap<String, f64>,
    /// `# TYPE` of each metric family.
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment: {line}");
            let (series, value) = line.rsplit_once(' ').expect("a sample: series value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("a number: {line}")),
            };
            let key = match series.split_once('{') {
                None => series.to_owned(),
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("labels end with }");
                    format!("{name}{{{}}}", sorted_labels(labels))
                }
            };
            assert!(
                samples.insert(key.clone(), value).is_none(),
                "duplicate series {key}"
            );
        }
        Self { samples, types }
    }

    /// The value of `name` with exactly `labels` (`k=v` pairs, any order).
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        labels.sort();
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        *self
            .samples
            .get(&key)
            .unwrap_or_else(|| panic!("no series {key} in the scrape: {:#?}", self.samples))
    }

    /// The metric names (as sample lines name them) in the scrape.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .samples
            .keys()
            .map(|k| k.split('{').next().unwrap_or(k).to_owned())
            .collect();
        names.dedup();
        names
    }
}

/// `k="v",k2="v2"` with the pairs sorted; values are checked to be quoted.
fn sorted_labels(labels: &str) -> String {
    let mut pairs = Vec::new();
    let mut rest = labels;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let end = after.find('"').expect("closing quote");
        pairs.push(format!("{key}=\"{}\"", &after[..end]));
        rest = after[end + 1..].trim_start_matches(',');
    }
    pairs.sort();
    pairs.join(",")
}

/// One HTTP/1.1 request; the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut out))
        .await
        .expect("the endpoint answers")
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_owned())
}

/// `GET /metrics`, parsed.
pub(crate) async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    Scrape::parse(&body)
}

/// A daemon on loopback TCP plus its metrics endpoint; both stop when dropped.
struct Observed {
    daemon: Option<Running>,
    /// The socketmap address.
    addr: SocketAddr,
    metrics: SocketAddr,
    endpoint: tokio::task::JoinHandle<()>,
    handle: Daemon,
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.endpoint.abort();
    }
}

async fn observed(kit: &Kit, yaml: &str) -> Observed {
    observed_with(kit, kit.config(yaml)).await
}

async fn observed_with(kit: &Kit, config: mta_sts_daemon::Config) -> Observed {
    let daemon = kit.daemon(config);
    let listener = Listener::Tcp(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let metrics_listener = MetricsListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let metrics = metrics_listener.local_addr().unwrap();
    let endpoint = Endpoint::new(std::sync::Arc::clone(daemon.metrics()), &listener);
    let endpoint = tokio::spawn(endpoint.serve(metrics_listener));
    let addr = listener.local_addr().unwrap();
    Observed {
        handle: daemon.clone(),
        daemon: Some(serve(daemon, listener)),
        addr,
        metrics,
        endpoint,
    }
}

fn sqlite(name: &str) -> String {
    let db = temp_path(name);
    let _ = std::fs::remove_file(&db);
    format!(
        "cache:\n  type: sqlite\n  options:\n    filename: {}\n",
        db.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_lookups_give_exact_counts() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "testing.example",
        "t1",
        CertKind::Valid,
        Response::policy(&ENFORCE.replace("enforce", "testing")),
    );
    kit.publish(
        "broken.example",
        "b1",
        CertKind::Valid,
        Response::status(500),
    );
    kit.publish(
        "untrusted.example",
        "u1",
        CertKind::UnknownCa,
        Response::policy(ENFORCE),
    );
    kit.publish(
        "garbled.example",
        "g1",
        CertKind::Valid,
        Response::policy("this is not a policy\r\n"),
    );
    let yaml = format!(
        "{}zones:\n  defer:\n    on_failure: temp\n",
        sqlite("metrics-exact.db")
    );
    let run = observed(&kit, &yaml).await;
    let addr = run.addr;

    // Before any lookup every series is there, at zero.
    let before = scrape(run.metrics).await;
    assert_eq!(
        before.get(
            "mta_sts_lookups_total",
            &[("zone", "defer"), ("answer", "secure")]
        ),
        0.0
    );
    assert_eq!(
        before.get("mta_sts_lookup_duration_seconds_count", &[]),
        0.0
    );
    assert_eq!(
        before.get(
            "mta_sts_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let secure = "OK secure match=mail.example.com:.example.net servername=hostname";
    // One request per connection, as `query` does: nine connections, and a tenth below.
    let script: [(&str, &str, &str); 9] = [
        ("postfix", "example.com", secure),            // fetched
        ("postfix", "example.com", secure),            // cached
        ("defer", "example.com", secure),              // cached, another zone
        ("postfix", "testing.example", "NOTFOUND "),   // fetched, testing
        ("postfix", "broken.example", "NOTFOUND "),    // HTTP 500
        ("defer", "broken.example", "TEMP "),          // the failure remembered: no fetch
        ("postfix", "untrusted.example", "NOTFOUND "), // certificate of an unknown CA
        ("postfix", "garbled.example", "NOTFOUND "),   // not a policy
        ("postfix", "[192.0.2.1]:25", "NOTFOUND "),    // no lookup at all
    ];
    for (map, key, want) in script {
        let got = query(addr, map, key).await;
        assert!(got.starts_with(want), "{map} {key}: {got}");
    }
    // A malformed request (no key): PERM, counted under default_zone, with no latency.
    let refused = crate::exchange(addr, b"7:postfix,").await;
    assert!(refused.ends_with(b"PERM request has no space between map name and key,"));
    assert_eq!(
        kit.requests("broken.example"),
        1,
        "one fetch of broken.example"
    );

    // The connection gauge drops once the daemon has closed the last connection.
    let after = eventually(Duration::from_secs(10), || async {
        let s = scrape(run.metrics).await;
        (s.get("mta_sts_connections_open", &[]) == 0.0).then_some(s)
    })
    .await
    .expect("every connection closed");

    let lookups = |zone: &str, answer: &str| {
        after.get(
            "mta_sts_lookups_total",
            &[("zone", zone), ("answer", answer)],
        )
    };
    assert_eq!(lookups("default_zone", "secure"), 2.0);
    assert_eq!(lookups("default_zone", "notfound"), 5.0);
    assert_eq!(lookups("default_zone", "temp"), 0.0);
    assert_eq!(lookups("defer", "secure"), 1.0);
    assert_eq!(lookups("defer", "temp"), 1.0);
    assert_eq!(lookups("defer", "notfound"), 0.0);
    assert_eq!(lookups("default_zone", "perm"), 1.0);
    assert_eq!(lookups("defer", "perm"), 0.0);
    for zone in ["default_zone", "defer"] {
        for answer in ["dane", "dane-only"] {
            assert_eq!(lookups(zone, answer), 0.0, "{zone} {answer}");
        }
    }
    assert_eq!(after.get("mta_sts_lookup_duration_seconds_count", &[]), 9.0);
    assert_eq!(
        after.get("mta_sts_lookup_duration_seconds_bucket", &[("le", "+Inf")]),
        9.0
    );
    assert!(after.get("mta_sts_lookup_duration_seconds_sum", &[]) > 0.0);
    let fetches =
        |outcome: &str| after.get("mta_sts_policy_fetches_total", &[("outcome", outcome)]);
    assert_eq!(fetches("ok"), 2.0);
    assert_eq!(fetches("sts-policy-fetch-error"), 1.0);
    assert_eq!(fetches("sts-webpki-invalid"), 1.0);
    assert_eq!(fetches("sts-policy-invalid"), 1.0);
    assert_eq!(after.get("mta_sts_connections_accepted_total", &[]), 10.0);
    // Two policies are cached: example.com and testing.example.
    assert_eq!(after.get("mta_sts_cached_policies", &[]), 2.0);
    let cache = |name: &str, tier: &str| after.get(name, &[("tier", tier)]);
    // The two later lookups of example.com are answered by the in-process tier. The six
    // lookups of a domain with nothing cached read the cache twice each (the lookup, then the
    // discovery), both times past the tier into SQLite, which has nothing either.
    assert_eq!(cache("mta_sts_cache_hits_total", "memory"), 2.0);
    assert_eq!(cache("mta_sts_cache_misses_total", "memory"), 12.0);
    assert_eq!(cache("mta_sts_cache_hits_total", "backend"), 0.0);
    assert_eq!(cache("mta_sts_cache_misses_total", "backend"), 12.0);
    assert_eq!(after.get("mta_sts_cache_backend_errors_total", &[]), 0.0);
    assert_eq!(after.get("mta_sts_cache_queued_writes", &[]), 0.0);
    for verdict in ["dane-only", "dane", "no-dane", "temp"] {
        assert_eq!(
            after.get("mta_sts_dane_decisions_total", &[("verdict", verdict)]),
            0.0
        );
    }

    // Reloads are counted by the method the reload code calls.
    run.handle.metrics().note_reload(true);
    run.handle.metrics().note_reload(false);
    run.handle.metrics().note_reload(false);
    let reloaded = scrape(run.metrics).await;
    assert_eq!(
        reloaded.get("mta_sts_config_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        reloaded.get("mta_sts_config_reloads_total", &[("result", "failed")]),
        2.0
    );
    // Scraping and health checks are not lookups.
    let (status, _) = http_get(run.metrics, "/healthz").await;
    assert_eq!(status, 200);
    let last = scrape(run.metrics).await;
    assert_eq!(last.get("mta_sts_lookup_duration_seconds_count", &[]), 9.0);
    assert_eq!(last.types["mta_sts_lookup_duration_seconds"], "histogram");
    assert_eq!(last.types["mta_sts_lookups_total"], "counter");
    assert_eq!(last.types["mta_sts_cached_policies"], "gauge");
    // Other paths and methods.
    assert_eq!(http_get(run.metrics, "/").await.0, 404);
    drop(run);
}

#[tokio::test(flavor = "multi_thread")]
async fn zones_added_on_reload_get_their_counters() {
    let kit = Kit::start().await;
    let run = observed(&kit, "zones:\n  one: {}\n").await;
    let metrics = run.handle.metrics();
    query(run.addr, "one", "[192.0.2.1]").await;
    // The table a reloaded configuration would install: `one` keeps its count, `two` is new.
    let reloaded = kit.config("zones:\n  one: {}\n  two: {}\n");
    let _table = metrics.zones(&reloaded);
    let s = scrape(run.metrics).await;
    let lookups = |zone: &str| {
        s.get(
            "mta_sts_lookups_total",
            &[("zone", zone), ("answer", "notfound")],
        )
    };
    assert_eq!(lookups("one"), 1.0);
    assert_eq!(lookups("two"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_follows_the_redis_backend_and_the_listener() {
    let kit = Kit::start().await;
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let mut redis = TestRedis::start().unwrap();
    let yaml = format!(
        "cache:\n  type: redis\n  options:\n    url: \"{}/0\"\n    socket_timeout: 1\n",
        redis.url()
    );
    let mut run = observed(&kit, &yaml).await;
    let health = |addr| async move { http_get(addr, "/healthz").await };
    let healthy = eventually(Duration::from_secs(10), || async {
        let (status, body) = health(run.metrics).await;
        (status == 200).then_some(body)
    })
    .await
    .expect("healthy while Redis runs");
    assert_eq!(healthy, "ok\n");

    redis.stop();
    let down = eventually(Duration::from_secs(20), || async {
        let (status, body) = health(run.metrics).await;
        (status == 503).then_some(body)
    })
    .await
    .expect("503 once Redis is stopped");
    assert!(down.starts_with("cache backend "), "{down}");
    assert!(
        !down.contains("socketmap"),
        "the listener still works: {down}"
    );
    // A policy learned while Redis is down: the read fails, the write is queued.
    let before = scrape(run.metrics).await;
    assert_eq!(before.get("mta_sts_cache_backend_errors_total", &[]), 0.0);
    assert!(
        query(run.addr, "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    let queued = scrape(run.metrics).await;
    assert!(queued.get("mta_sts_cache_backend_errors_total", &[]) >= 1.0);
    assert_eq!(queued.get("mta_sts_cache_queued_writes", &[]), 1.0);

    redis.resume().unwrap();
    eventually(Duration::from_secs(20), || async {
        (health(run.metrics).await.0 == 200).then_some(())
    })
    .await
    .expect("200 once Redis is back");
    // Once a lookup reaches the backend again, the queued write is stored.
    let mut n = 0;
    eventually(Duration::from_secs(20), || {
        n += 1;
        let key = format!("new{n}.example");
        async move {
            query(run.addr, "postfix", &key).await;
            let s = scrape(run.metrics).await;
            (s.get("mta_sts_cache_queued_writes", &[]) == 0.0).then_some(())
        }
    })
    .await
    .expect("the queued write replayed");

    // The socketmap listener gone: 503, saying so.
    if let Some(daemon) = run.daemon.take() {
        daemon.shutdown().await;
    }
    let (status, body) = health(run.metrics).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("socketmap listener "), "{body}");
}

/// Every metric a panel of contrib/grafana/mta-sts-daemon.json queries, found in a real scrape.
#[tokio::test(flavor = "multi_thread")]
async fn the_grafana_dashboard_queries_only_metrics_the_daemon_exposes() {
    let dashboard = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contrib/grafana/mta-sts-daemon.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard).unwrap()).unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&json, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has its panels: {exprs:?}");
    let queried: std::collections::BTreeSet<String> =
        exprs.iter().flat_map(|e| metric_names(e)).collect();

    let kit = Kit::start().await;
    let run = observed(&kit, &sqlite("metrics-dashboard.db")).await;
    let exposed = scrape(run.metrics).await.names();
    for name in &queried {
        assert!(
            exposed.contains(name),
            "the dashboard queries {name}, which the daemon does not expose: {exposed:?}"
        );
    }
    // And the dashboard shows every metric family the daemon has.
    for family in [
        "mta_sts_lookups_total",
        "mta_sts_lookup_duration_seconds_bucket",
        "mta_sts_cache_hits_total",
        "mta_sts_cache_misses_total",
        "mta_sts_policy_fetches_total",
        "mta_sts_dane_decisions_total",
        "mta_sts_refreshes_total",
        "mta_sts_cache_backend_errors_total",
        "mta_sts_cache_queued_writes",
        "mta_sts_cached_policies",
        "mta_sts_connections_open",
        "mta_sts_connections_accepted_total",
        "mta_sts_config_reloads_total",
        "mta_sts_build_info",
    ] {
        assert!(
            queried.contains(family),
            "the dashboard does not show {family}"
        );
    }
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The `mta_sts_…` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("mta_sts_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_binary_serves_metrics_and_names_the_key_it_cannot_bind() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free(), free());
    let config = temp_path("metrics-binary.yml");
    std::fs::write(
        &config,
        format!("port: {port}\nmetrics:\n  listen: 127.0.0.1:{metrics_port}\n"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if an assertion fails before the end: no daemon outlives the test.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            if matches!(self.0.try_wait(), Ok(None)) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }
    let mut child = Reap(child);
    let get = |path: &str| -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let metrics = mta_sts_testkit::eventually_blocking(Duration::from_secs(10), || get("/metrics"))
        .expect("the binary serves /metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("content-type: text/plain; version=0.0.4"),
        "{metrics}"
    );
    let body = metrics.split_once("\r\n\r\n").unwrap().1;
    let scrape = Scrape::parse(body);
    assert_eq!(
        scrape.get(
            "mta_sts_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let health = get("/healthz").unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // A second daemon on another socketmap port cannot have the same metrics address.
    let config2 = temp_path("metrics-binary-taken.yml");
    std::fs::write(
        &config2,
        format!(
            "port: {}\nmetrics:\n  listen: 127.0.0.1:{metrics_port}\n",
            free()
        ),
    )
    .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_mta-sts-daemon"))
        .arg("-c")
        .arg(&config2)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("metrics.listen: cannot listen on 127.0.0.1:"),
        "{stderr}"
    );

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    let mut log = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("serving GET /metrics and GET /healthz"),
        "{log}"
    );
}

/// DANE decisions, counted per lookup in zones with DANE: a cold lookup, one answered from the
/// DANE cache, a domain DANE does not apply to, and a zone without DANE (not counted).
#[tokio::test(flavor = "multi_thread")]
async fn dane_decisions_are_counted_per_lookup() {
    use std::net::Ipv4Addr;

    use mta_sts_testkit::{SignedDns, ZoneKind};

    const DIGEST: [u8; 32] = [0x3c; 32];
    let kit = Kit::start().await;
    let dns = SignedDns::builder()
        .zone("dane.example", ZoneKind::Signed)
        .txt("_mta-sts.dane.example", &[b"v=STSv1; id=d1"])
        .a("mta-sts.dane.example", Ipv4Addr::LOCALHOST)
        .mx("dane.example", 10, "mail.dane.example")
        .a("mail.dane.example", Ipv4Addr::LOCALHOST)
        .tlsa("_25._tcp.mail.dane.example", 3, 1, 1, &DIGEST)
        .zone("nodane.example", ZoneKind::Unsigned)
        .mx("nodane.example", 10, "mail.nodane.example")
        .a("mail.nodane.example", Ipv4Addr::LOCALHOST)
        .start()
        .await
        .unwrap();
    kit.host(
        "dane.example",
        CertKind::Valid,
        Response::policy("version: STSv1\nmode: enforce\nmx: mail.dane.example\nmax_age: 86400\n"),
    );
    let yaml = format!(
        "default_zone:\n  dane:\n    enabled: true\nzones:\n  plain: {{}}\ndns:\n  nameservers: ['{}']\n  trust_anchor: {}\n",
        dns.addr(),
        dns.trust_anchor_path().display()
    );
    let config = mta_sts_daemon::Config::parse(&yaml, "dane.yml").unwrap().0;
    let run = observed_with(&kit, config).await;
    let script = [
        ("postfix", "dane.example", "OK dane-only"), // looked up
        ("postfix", "dane.example", "OK dane-only"), // from the DANE cache
        ("postfix", "nodane.example", "NOTFOUND "),  // unsigned: MTA-STS (none) answers
        ("plain", "dane.example", "OK secure match=mail.dane.example"), // no DANE in this zone
    ];
    for (map, key, want) in script {
        let got = query(run.addr, map, key).await;
        assert!(got.starts_with(want), "{map} {key}: {got}");
    }
    let s = scrape(run.metrics).await;
    let dane = |verdict: &str| s.get("mta_sts_dane_decisions_total", &[("verdict", verdict)]);
    assert_eq!(dane("dane-only"), 2.0);
    assert_eq!(dane("no-dane"), 1.0);
    assert_eq!(dane("dane"), 0.0);
    assert_eq!(dane("temp"), 0.0);
    let lookups = |zone: &str, answer: &str| {
        s.get(
            "mta_sts_lookups_total",
            &[("zone", zone), ("answer", answer)],
        )
    };
    assert_eq!(lookups("default_zone", "dane-only"), 2.0);
    assert_eq!(lookups("default_zone", "notfound"), 1.0);
    assert_eq!(lookups("plain", "secure"), 1.0);
}

/// Refresh-ahead and proactive refreshes, counted by kind and outcome. On the paused clock, which
/// the daemon's clock follows; the metrics are read through the library, not over HTTP, so no
/// HTTP timer runs on that clock.
#[tokio::test(start_paused = true)]
async fn refreshes_are_counted_by_kind_and_outcome() {
    let kit = Kit::start().await;
    let short = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 10\n";
    kit.publish(
        "example.com",
        "a1",
        CertKind::Valid,
        Response::policy(short),
    );
    kit.publish(
        "example.org",
        "o1",
        CertKind::Valid,
        Response::policy(ENFORCE),
    );
    let yaml = "proactive_policy_fetching:\n  enabled: yes\n  interval: 3600\n  grace_ratio: 2\n";
    let run = observed(&kit, yaml).await;
    let metrics = std::sync::Arc::clone(run.handle.metrics());
    let refreshes = |kind: &'static str, outcome: &'static str| {
        let metrics = std::sync::Arc::clone(&metrics);
        move || {
            Scrape::parse(&metrics.encode()).get(
                "mta_sts_refreshes_total",
                &[("kind", kind), ("outcome", outcome)],
            )
        }
    };
    assert!(
        query(run.addr, "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    assert!(
        query(run.addr, "postfix", "example.org")
            .await
            .starts_with("OK secure")
    );
    // Past half its 10 s lifetime, a lookup of example.com starts a refresh-ahead.
    crate::pass(Duration::from_secs(6)).await;
    assert!(
        query(run.addr, "postfix", "example.com")
            .await
            .starts_with("OK secure")
    );
    let ahead_ok = refreshes("refresh-ahead", "ok");
    eventually(Duration::from_secs(30), || async {
        (ahead_ok() == 1.0).then_some(())
    })
    .await
    .expect("one refresh-ahead, counted ok");
    assert_eq!(refreshes("refresh-ahead", "failed")(), 0.0);
    // The next proactive pass (an hour after the first, at start) refreshes both cached domains;
    // example.com's host now fails.
    kit.https.set_host(
        "mta-sts.example.com",
        mta_sts_testkit::HostConfig::valid(Response::status(500)),
    );
    crate::pass(Duration::from_secs(3640)).await;
    let (ok, failed) = (
        refreshes("proactive", "ok"),
        refreshes("proactive", "failed"),
    );
    eventually(Duration::from_secs(120), || async {
        (ok() + failed() == 2.0).then_some(())
    })
    .await
    .expect("a proactive pass over both domains");
    assert_eq!(ok(), 1.0, "example.org");
    assert_eq!(failed(), 1.0, "example.com");
    assert_eq!(refreshes("refresh-ahead", "ok")(), 1.0);
}
