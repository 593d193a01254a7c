//! Step 6: each MX host over SMTP: greeting, EHLO, STARTTLS (RFC 3207), then a TLS handshake whose
//! certificate must be valid for the MX host name (RFC 8461 §4.2, MATCH-7).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mta_sts_fetch::{DnsClient, FetchError, TlsDetails, TlsProbe};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Finding, Step, Verdict, expiry};

/// MX hosts checked at the same time.
const CONCURRENCY: usize = 4;
/// MX hosts checked at most.
const MAX_HOSTS: usize = 20;
/// Longest reply line read (RFC 5321 §4.5.3.1.5 allows 512 octets).
const MAX_LINE: u64 = 2048;
/// Most lines in one multi-line reply.
const MAX_LINES: usize = 64;
/// Our EHLO name: nothing is delivered, so a name that cannot be mistaken for a real host.
const EHLO: &[u8] = b"EHLO mta-sts-query.invalid\r\n";

/// Step 6, for every MX host, a few at a time, each within `timeout`.
pub(super) async fn smtp(
    dns: &DnsClient,
    probe: &TlsProbe,
    hosts: &[String],
    port: u16,
    timeout: Duration,
    now: std::time::SystemTime,
) -> Step {
    let title = format!("SMTP STARTTLS on the MX hosts (port {port})");
    if hosts.is_empty() {
        let finding = Finding::ok(None, "no MX host to check");
        return Step::new("smtp", title, vec![finding]);
    }
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (index, host) in hosts.iter().take(MAX_HOSTS).enumerate() {
        let (dns, probe, host) = (dns.clone(), probe.clone(), host.clone());
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let findings =
                match tokio::time::timeout(timeout, check_host(&dns, &probe, &host, port, now))
                    .await
                {
                    Ok(findings) => findings,
                    Err(_) => vec![
                        Finding::error(
                            "APPLY-1",
                            format!(
                                "{host}: no complete SMTP/TLS exchange within {} s",
                                timeout.as_secs_f64()
                            ),
                        )
                        .fix("the MX host must answer promptly on port 25"),
                    ],
                };
            (index, findings)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, _)| *index);
    let findings = results.into_iter().flat_map(|(_, f)| f).collect();
    Step::new("smtp", title, findings)
}

/// Why an SMTP session ended early.
#[derive(Debug)]
enum SmtpFailure {
    Io(std::io::Error),
    Reply { expected: &'static str, got: Reply },
    NoStartTls,
    Tls(FetchError),
    Pipelined,
}

async fn check_host(
    dns: &DnsClient,
    probe: &TlsProbe,
    host: &str,
    port: u16,
    now: std::time::SystemTime,
) -> Vec<Finding> {
    let addresses = match dns.addresses(host).await {
        Ok(addresses) => addresses,
        Err(e) => {
            return vec![
                Finding::error("APPLY-1", format!("{host}: {e}"))
                    .fix(format!("publish A and/or AAAA records for {host}")),
            ];
        }
    };
    let mut last = None;
    let mut stream = None;
    for ip in &addresses {
        let addr = SocketAddr::new(*ip, port);
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                stream = Some((addr, tcp));
                break;
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    let Some((addr, tcp)) = stream else {
        let why = last.unwrap_or_else(|| "no address".to_owned());
        return vec![
            Finding::error("APPLY-1", format!("{host}: cannot connect: {why}"))
                .fix(format!("accept SMTP connections on port {port}")),
        ];
    };
    match session(probe, host, tcp).await {
        Ok(tls) => {
            let base = format!("{host} ({addr}): STARTTLS, {}, certificate valid for {host}", tls.version);
            match tls.not_after.map(|t| expiry(t, now)) {
                Some((Verdict::Warning, when)) => vec![
                    Finding::warning("MATCH-7", format!("{base}, but it {when}"))
                        .fix("renew the MX host's certificate now (and automate renewal)"),
                ],
                Some((_, when)) => vec![Finding::ok("MATCH-7", format!("{base}, {when}"))],
                None => vec![Finding::ok("MATCH-7", base)],
            }
        }
        Err(SmtpFailure::NoStartTls) => vec![
            Finding::error("APPLY-1", format!("{host} ({addr}): STARTTLS is not offered after EHLO"))
                .fix("enable STARTTLS (Postfix: smtpd_tls_security_level = may, with a certificate for the MX name)"),
        ],
        Err(SmtpFailure::Tls(e @ FetchError::Certificate { .. })) => vec![
            Finding::error("MATCH-7", format!("{host} ({addr}): {e}")).fix(format!(
                "install a certificate whose subjectAltName covers {host}, from a public CA, not expired"
            )),
        ],
        Err(SmtpFailure::Tls(e)) => vec![
            Finding::error("MATCH-7", format!("{host} ({addr}): TLS handshake failed: {e}"))
                .fix("enable TLS 1.2 and 1.3 with a certificate for the MX name"),
        ],
        Err(SmtpFailure::Reply { expected, got }) => vec![
            Finding::error("APPLY-1", format!("{host} ({addr}): expected {expected}, got {}", got.summary()))
                .fix("the MX host must accept EHLO and STARTTLS"),
        ],
        Err(SmtpFailure::Pipelined) => vec![
            Finding::error("APPLY-1", format!("{host} ({addr}): data sent after the STARTTLS reply, before TLS"))
                .fix("the server must not send anything between its 220 and the TLS handshake (RFC 3207 §5)"),
        ],
        Err(SmtpFailure::Io(e)) => vec![
            Finding::error("APPLY-1", format!("{host} ({addr}): {e}")).fix("the MX host must complete an SMTP session"),
        ],
    }
}

/// Greeting, EHLO, STARTTLS, handshake. The caller bounds the time.
async fn session(probe: &TlsProbe, host: &str, tcp: TcpStream) -> Result<TlsDetails, SmtpFailure> {
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
    probe
        .handshake(host, reader.into_inner())
        .await
        .map_err(SmtpFailure::Tls)
}

/// One SMTP reply: the code of its last line and the text of every line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
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
