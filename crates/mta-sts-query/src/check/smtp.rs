//! Step 7: each MX host over SMTP: greeting, EHLO, STARTTLS (RFC 3207), then a TLS handshake whose
//! certificate must be valid for the MX host name (RFC 8461 §4.2, MATCH-7) and, where the host
//! publishes usable TLSA records, match one of them (RFC 7672 §3.1, DANE-6). The session is the
//! I/O that [`gather`](super::gather) runs; [`smtp`] judges what it saw.

use std::time::SystemTime;

use mta_sts_fetch::{FetchError, TlsDetails, TlsProbe};
use smtp_dane::{ChainMatch, DANE_EE, DaneState, HostAnswer, Tlsa, chain_match};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::gather::{MAX_HOSTS, SmtpProbe, SmtpProblem};
use super::{Finding, Step, Verdict, dns_fix, expiry};
/// Longest reply line read (RFC 5321 §4.5.3.1.5 allows 512 octets).
const MAX_LINE: u64 = 2048;
/// Most lines in one multi-line reply.
const MAX_LINES: usize = 64;
/// Our EHLO name: nothing is delivered, so a name that cannot be mistaken for a real host.
const EHLO: &[u8] = b"EHLO mta-sts-query.invalid\r\n";

/// Step 7, from the probes of every MX host (`None` when the step was skipped) and the DANE state
/// (`None` when unknown or not looked up).
pub(super) fn smtp(
    probes: Option<&[SmtpProbe]>,
    dane: Option<&DaneState>,
    mx_hosts: &[String],
    port: u16,
    now: SystemTime,
) -> Step {
    let title = format!("SMTP STARTTLS on the MX hosts (port {port})");
    let Some(probes) = probes else {
        return Step::new(
            "smtp",
            title,
            vec![Finding::ok(None, "skipped (--no-smtp)")],
        );
    };
    if mx_hosts.is_empty() {
        return Step::new(
            "smtp",
            title,
            vec![Finding::ok(None, "no MX host to check")],
        );
    }
    let mut findings = Vec::with_capacity(probes.len());
    for p in probes {
        findings.push(probe_finding(p, port, now));
        findings.extend(dane.and_then(|state| tlsa_finding(p, state)));
    }
    if mx_hosts.len() > MAX_HOSTS {
        findings.push(Finding::ok(
            None,
            format!("only the first {MAX_HOSTS} MX hosts were checked"),
        ));
    }
    Step::new("smtp", title, findings)
}

/// The verdict on one MX host.
fn probe_finding(probe: &SmtpProbe, port: u16, now: SystemTime) -> Finding {
    let host = &probe.host;
    let (address, failure) = match &probe.result {
        Ok(seen) => {
            let base = format!(
                "{host} ({}): STARTTLS, {}, certificate valid for {host}",
                seen.address, seen.version
            );
            return match seen.not_after.map(|t| expiry(t, now)) {
                Some((Verdict::Warning, when)) => {
                    Finding::warning("MATCH-7", format!("{base}, but it {when}"))
                        .fix("renew the MX host's certificate now (and automate renewal)")
                }
                Some((_, when)) => Finding::ok("MATCH-7", format!("{base}, {when}")),
                None => Finding::ok("MATCH-7", base),
            };
        }
        Err(SmtpProblem::Dns(e)) => {
            return Finding::error("APPLY-1", format!("{host}: {e}")).fix(dns_fix(e));
        }
        Err(SmtpProblem::Connect(why)) => {
            return Finding::error("APPLY-1", format!("{host}: cannot connect: {why}"))
                .fix(format!("accept SMTP connections on port {port}"));
        }
        Err(SmtpProblem::Timeout(timeout)) => {
            return Finding::error(
                "APPLY-1",
                format!(
                    "{host}: no complete SMTP/TLS exchange within {} s",
                    timeout.as_secs_f64()
                ),
            )
            .fix(format!("the MX host must answer promptly on port {port}"));
        }
        Err(SmtpProblem::Session { address, failure }) => (address, failure),
    };
    match failure {
        SmtpFailure::NoStartTls => Finding::error("APPLY-1", format!("{host} ({address}): STARTTLS is not offered after EHLO"))
            .fix("enable STARTTLS (Postfix: smtpd_tls_security_level = may, with a certificate for the MX name)"),
        SmtpFailure::Tls { error: e @ FetchError::Certificate { .. }, .. } => Finding::error("MATCH-7", format!("{host} ({address}): {e}")).fix(format!(
            "install a certificate whose subjectAltName covers {host}, from a public CA, not expired"
        )),
        SmtpFailure::Tls { error: e, .. } => Finding::error("MATCH-7", format!("{host} ({address}): TLS handshake failed: {e}"))
            .fix("enable TLS 1.2 and 1.3 with a certificate for the MX name"),
        SmtpFailure::Reply { expected, got } => Finding::error("APPLY-1", format!("{host} ({address}): expected {expected}, got {}", got.summary()))
            .fix("the MX host must accept EHLO and STARTTLS"),
        SmtpFailure::Pipelined => Finding::error("APPLY-1", format!("{host} ({address}): data sent after the STARTTLS reply, before TLS"))
            .fix("the server must not send anything between its 220 and the TLS handshake (RFC 3207 §5)"),
        SmtpFailure::Io(e) => Finding::error("APPLY-1", format!("{host} ({address}): {e}")).fix("the MX host must complete an SMTP session"),
    }
}

/// DANE-6: the chain a host presented against its usable TLSA records: DANE-EE (3) against the
/// leaf, DANE-TA (2) against the certificates after it. `None` when the host has no usable
/// record or presented no certificate (its failure is already a finding).
fn tlsa_finding(probe: &SmtpProbe, state: &DaneState) -> Option<Finding> {
    let host = &probe.host;
    let records = state
        .hosts()
        .iter()
        .find(|h| h.host.eq_ignore_ascii_case(host.trim_end_matches('.')))
        .and_then(|h| match &h.answer {
            HostAnswer::Tlsa(records) if h.answer.has_usable_tlsa() => Some(records),
            _ => None,
        })?;
    // A chain that failed WebPKI validation still counts here: DANE does not need a public CA.
    let (address, presented) = match &probe.result {
        Ok(seen) => (seen.address, &seen.chain),
        Err(SmtpProblem::Session {
            address,
            failure: SmtpFailure::Tls { chain, .. },
        }) if !chain.is_empty() => (*address, chain),
        Err(_) => return None,
    };
    let chain: Vec<&[u8]> = presented.iter().map(Vec::as_slice).collect();
    let at = format!("{host} ({address})");
    Some(match chain_match(records, &chain) {
        Some(m) => Finding::ok(
            "DANE-6",
            format!(
                "{at}: certificate chain matches TLSA {}",
                matched(records, m)
            ),
        ),
        None => {
            let usable = records.iter().filter(|r| r.usability().is_usable()).count();
            Finding::error(
                "DANE-6",
                format!("{at}: the certificate chain presented matches none of the {usable} usable TLSA record{}: senders that do DANE will not deliver to it", if usable == 1 { "" } else { "s" }),
            )
            .fix(replacement(host, &chain))
        }
    })
}

fn matched(records: &[Tlsa], m: ChainMatch) -> String {
    let record = crate::dane::short_record(&records[m.record].to_string(), false);
    match m.depth {
        0 => format!("{record} (DANE-EE, the server's own certificate)"),
        depth => format!("{record} (DANE-TA, certificate {depth} of the chain)"),
    }
}

/// The record that would match the leaf presented, to publish (beside the old ones until their
/// TTL has passed) if the certificate is the intended one.
fn replacement(host: &str, chain: &[&[u8]]) -> String {
    match chain
        .first()
        .and_then(|leaf| Tlsa::for_certificate(DANE_EE, 1, 1, leaf))
    {
        Some(record) => format!(
            "publish TLSA records for the certificate in use, e.g. \"{record}\" at _25._tcp.{host}, or install the certificate the records describe"
        ),
        None => format!("publish TLSA records at _25._tcp.{host} for the certificate in use"),
    }
}

/// Why an SMTP session ended early.
#[derive(Debug)]
pub(crate) enum SmtpFailure {
    /// The connection failed or said something that is not SMTP.
    Io(std::io::Error),
    /// An unexpected reply.
    Reply { expected: &'static str, got: Reply },
    /// EHLO did not advertise STARTTLS.
    NoStartTls,
    /// The TLS handshake or the certificate check failed.
    Tls {
        /// Why.
        error: FetchError,
        /// What the server presented before the failure, leaf first (empty if nothing): a host
        /// that only DANE authenticates is still matched against its TLSA records.
        chain: Vec<Vec<u8>>,
    },
    /// Bytes arrived between the STARTTLS reply and the handshake.
    Pipelined,
}

/// Greeting, EHLO, STARTTLS, handshake. The caller bounds the time.
pub(crate) async fn session(
    probe: &TlsProbe,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsDetails, SmtpFailure> {
    let mut reader = BufReader::new(tcp);
    let greeting = read_reply(&mut reader).await?;
    if greeting.code != 220 {
        return Err(SmtpFailure::Reply {
            expected: "a 220 greeting",
            got: greeting,
        });
    }
    reader
        .get_mut()
        .write_all(EHLO)
        .await
        .map_err(SmtpFailure::Io)?;
    let ehlo = read_reply(&mut reader).await?;
    if ehlo.code != 250 {
        return Err(SmtpFailure::Reply {
            expected: "250 to EHLO",
            got: ehlo,
        });
    }
    if !ehlo.has_keyword("STARTTLS") {
        let _ = reader.get_mut().write_all(b"QUIT\r\n").await;
        return Err(SmtpFailure::NoStartTls);
    }
    reader
        .get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(SmtpFailure::Io)?;
    let ready = read_reply(&mut reader).await?;
    if ready.code != 220 {
        return Err(SmtpFailure::Reply {
            expected: "220 to STARTTLS",
            got: ready,
        });
    }
    // Bytes already buffered would be plaintext injected before the handshake (CVE-2011-0411 style).
    if !reader.buffer().is_empty() {
        return Err(SmtpFailure::Pipelined);
    }
    match probe.handshake_recording(host, reader.into_inner()).await {
        (Ok(details), _) => Ok(details),
        (Err(error), chain) => Err(SmtpFailure::Tls { error, chain }),
    }
}

/// One SMTP reply: the code of its last line and the text of every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// Whether an EHLO reply advertises `keyword` (RFC 5321 §4.1.1.1: the first word of a line after
    /// the first).
    fn has_keyword(&self, keyword: &str) -> bool {
        self.lines.iter().skip(1).any(|line| {
            line.split_ascii_whitespace()
                .next()
                .is_some_and(|word| word.eq_ignore_ascii_case(keyword))
        })
    }

    fn summary(&self) -> String {
        let first = self.lines.first().map(String::as_str).unwrap_or_default();
        let first: String = first.chars().take(120).collect();
        format!("{} {first:?}", self.code)
    }
}

/// Parses one reply line: code, whether more lines follow, and the text.
fn parse_line(line: &str) -> Option<(u16, bool, &str)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let code = line.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    match line.as_bytes().get(3) {
        None => Some((code, false, "")),
        Some(b' ') => Some((code, false, &line[4..])),
        Some(b'-') => Some((code, true, &line[4..])),
        Some(_) => None,
    }
}

async fn read_reply<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Result<Reply, SmtpFailure> {
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut *reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(SmtpFailure::Io)?;
        if n == 0 {
            return Err(SmtpFailure::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            )));
        }
        if !buf.ends_with(b"\n") {
            return Err(SmtpFailure::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply line longer than {MAX_LINE} bytes or cut off"),
            )));
        }
        let text = String::from_utf8_lossy(&buf);
        let Some((code, more, rest)) = parse_line(&text) else {
            return Err(SmtpFailure::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an SMTP reply: {:?}",
                    text.chars().take(80).collect::<String>()
                ),
            )));
        };
        lines.push(rest.to_owned());
        if !more {
            return Ok(Reply { code, lines });
        }
        if lines.len() >= MAX_LINES {
            return Err(SmtpFailure::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply longer than {MAX_LINES} lines"),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        for (line, expected) in [
            (
                "220 mx.example ESMTP\r\n",
                Some((220, false, "mx.example ESMTP")),
            ),
            ("250-STARTTLS\r\n", Some((250, true, "STARTTLS"))),
            ("250\r\n", Some((250, false, ""))),
            ("25O ok\r\n", None),
            ("250_x\r\n", None),
            ("", None),
        ] {
            assert_eq!(parse_line(line), expected, "{line:?}");
        }
    }

    #[tokio::test]
    async fn multi_line_reply_and_keywords() {
        let input: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250-starttls\r\n250 8BITMIME\r\n";
        let reply = read_reply(&mut BufReader::new(input)).await.unwrap();
        assert_eq!(reply.code, 250);
        assert!(reply.has_keyword("STARTTLS"));
        assert!(
            !reply.has_keyword("mx.example"),
            "the first line is the server name"
        );
        let no_tls: &[u8] = b"250-mx.example STARTTLS\r\n250 8BITMIME\r\n";
        let reply = read_reply(&mut BufReader::new(no_tls)).await.unwrap();
        assert!(!reply.has_keyword("STARTTLS"));
    }

    #[tokio::test]
    async fn bounded_replies() {
        let endless = "250-x\r\n".repeat(100);
        assert!(
            read_reply(&mut BufReader::new(endless.as_bytes()))
                .await
                .is_err()
        );
        let truncated: &[u8] = b"250-x\r\n";
        assert!(read_reply(&mut BufReader::new(truncated)).await.is_err());
        let long = format!("250 {}\r\n", "x".repeat(5000));
        assert!(
            read_reply(&mut BufReader::new(long.as_bytes()))
                .await
                .is_err()
        );
    }
}

#[cfg(test)]
mod judge_tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::time::{Duration, UNIX_EPOCH};

    use mta_sts_fetch::{CertificateProblem, DnsError, TlsVersion};

    use super::super::gather::SmtpSeen;
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_704_067_200)
    }

    fn address() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)), 25)
    }

    fn probe(result: Result<SmtpSeen, SmtpProblem>) -> SmtpProbe {
        SmtpProbe {
            host: "mx1.example.com".into(),
            result,
        }
    }

    fn seen(days: u64) -> Result<SmtpSeen, SmtpProblem> {
        Ok(SmtpSeen {
            address: address(),
            version: TlsVersion::Tls13,
            not_after: Some(now() + Duration::from_secs(days * 86_400)),
            chain: Vec::new(),
        })
    }

    fn failed(failure: SmtpFailure) -> Result<SmtpSeen, SmtpProblem> {
        Err(SmtpProblem::Session {
            address: address(),
            failure,
        })
    }

    #[test]
    fn starttls_rules_from_what_each_host_showed() {
        let wrong_name = FetchError::Certificate {
            host: "mx1.example.com".into(),
            problem: CertificateProblem::WrongName {
                presented: vec!["other.example".into()],
            },
        };
        let table: Vec<(Result<SmtpSeen, SmtpProblem>, Verdict, &str)> = vec![
            (seen(90), Verdict::Ok, "MATCH-7"),
            (seen(5), Verdict::Warning, "MATCH-7"),
            (
                failed(SmtpFailure::Tls {
                    error: wrong_name,
                    chain: Vec::new(),
                }),
                Verdict::Error,
                "MATCH-7",
            ),
            (failed(SmtpFailure::NoStartTls), Verdict::Error, "APPLY-1"),
            (failed(SmtpFailure::Pipelined), Verdict::Error, "APPLY-1"),
            (
                Err(SmtpProblem::Timeout(Duration::from_secs(5))),
                Verdict::Error,
                "APPLY-1",
            ),
            (
                Err(SmtpProblem::Connect("192.0.2.25:25: refused".into())),
                Verdict::Error,
                "APPLY-1",
            ),
            (
                Err(SmtpProblem::Dns(DnsError::NoAddress {
                    name: "mx1.example.com".into(),
                })),
                Verdict::Error,
                "APPLY-1",
            ),
        ];
        let hosts = vec!["mx1.example.com".to_owned()];
        for (result, verdict, id) in table {
            let shown = format!("{result:?}");
            let probes = [probe(result)];
            let step = smtp(Some(&probes), None, &hosts, 25, now());
            assert_eq!(step.verdict, verdict, "{shown}: {:#?}", step.findings);
            assert_eq!(step.findings[0].id, Some(id), "{shown}");
        }
    }

    #[test]
    fn dane_6_presented_chain_against_tlsa() {
        use smtp_dane::{DANE_TA, HostDane, MxAnswer};

        // Selector 0 digests the bytes as they are, so stand-ins for certificates will do here;
        // the integration tests use real ones.
        let (leaf, ca) = (b"leaf certificate".to_vec(), b"issuing CA".to_vec());
        let record = |usage, cert: &[u8]| Tlsa::for_certificate(usage, 0, 1, cert).unwrap();
        let table: Vec<(Vec<Tlsa>, Option<Verdict>, &str)> = vec![
            (
                vec![record(DANE_EE, &leaf)],
                Some(Verdict::Ok),
                "(DANE-EE, the server's own certificate)",
            ),
            (
                vec![record(DANE_TA, &ca)],
                Some(Verdict::Ok),
                "(DANE-TA, certificate 1 of the chain)",
            ),
            // Usage 3 is only ever the leaf, usage 2 never is.
            (
                vec![record(DANE_EE, &ca)],
                Some(Verdict::Error),
                "matches none of the 1 usable TLSA record:",
            ),
            (
                vec![record(DANE_TA, &leaf)],
                Some(Verdict::Error),
                "matches none",
            ),
            // No usable record: the DANE step says so; nothing to match here.
            (vec![record(1, &leaf)], None, ""),
        ];
        let hosts = vec!["mx1.example.com".to_owned()];
        for (records, verdict, text) in table {
            let state = DaneState::new(
                MxAnswer::Secure(hosts.clone()),
                vec![HostDane {
                    host: hosts[0].clone(),
                    answer: HostAnswer::Tlsa(records.clone()),
                }],
                Duration::from_secs(60),
            );
            let probes = [probe(Ok(SmtpSeen {
                address: address(),
                version: TlsVersion::Tls13,
                not_after: None,
                chain: vec![leaf.clone(), ca.clone()],
            }))];
            let step = smtp(Some(&probes), Some(&state), &hosts, 25, now());
            let found = step.findings.iter().find(|f| f.id == Some("DANE-6"));
            assert_eq!(
                found.map(|f| f.verdict),
                verdict,
                "{records:?}: {:#?}",
                step.findings
            );
            if let Some(f) = found {
                assert!(f.message.contains(text), "{}", f.message);
            }
        }
    }

    /// A host with a certificate no public CA vouches for, authenticated by DANE alone: the WebPKI
    /// failure is reported (MTA-STS needs it) and the chain is still matched against the TLSA.
    #[test]
    fn dane_6_chain_that_failed_webpki_is_still_matched() {
        use smtp_dane::{HostDane, MxAnswer};

        let leaf = b"self-signed certificate".to_vec();
        let hosts = vec!["mx1.example.com".to_owned()];
        let state = DaneState::new(
            MxAnswer::Secure(hosts.clone()),
            vec![HostDane {
                host: hosts[0].clone(),
                answer: HostAnswer::Tlsa(vec![
                    Tlsa::for_certificate(DANE_EE, 0, 1, &leaf).unwrap(),
                ]),
            }],
            Duration::from_secs(60),
        );
        let untrusted = |chain: Vec<Vec<u8>>| {
            failed(SmtpFailure::Tls {
                error: FetchError::Certificate {
                    host: hosts[0].clone(),
                    problem: CertificateProblem::UnknownIssuer,
                },
                chain,
            })
        };
        let probes = [probe(untrusted(vec![leaf]))];
        let step = smtp(Some(&probes), Some(&state), &hosts, 25, now());
        let ids: Vec<_> = step.findings.iter().map(|f| (f.id, f.verdict)).collect();
        assert_eq!(
            ids,
            [
                (Some("MATCH-7"), Verdict::Error),
                (Some("DANE-6"), Verdict::Ok)
            ]
        );
        // Nothing presented (the handshake failed before the certificates): nothing to match.
        let probes = [probe(untrusted(Vec::new()))];
        let step = smtp(Some(&probes), Some(&state), &hosts, 25, now());
        assert!(step.findings.iter().all(|f| f.id != Some("DANE-6")));
    }

    #[test]
    fn skipped_and_empty() {
        let step = smtp(None, None, &["mx1.example.com".to_owned()], 25, now());
        assert_eq!(step.findings[0].message, "skipped (--no-smtp)");
        let step = smtp(Some(&[]), None, &[], 25, now());
        assert_eq!(step.findings[0].message, "no MX host to check");
    }
}
