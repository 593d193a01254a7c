//! The client of the control socket, `mta-sts-daemon ctl`: sends one request, prints the answer
//! for people (or as JSON with `--json`), and says why when it cannot.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::control::{
    ControlRequest, DomainReport, EntryReport, PurgeReport, RefreshReport, StatsReport,
    request_line,
};

/// `sysexits.h`: the daemon is not there (no socket, nothing listening).
pub const EX_UNAVAILABLE: u8 = 69;
/// `sysexits.h`: the answer is not what the protocol says.
pub const EX_PROTOCOL: u8 = 76;
/// `sysexits.h`: not allowed to connect.
pub const EX_NOPERM: u8 = 77;

/// The longest answer line read (a `show` or a `list` entry is far shorter).
const MAX_LINE: u64 = 1024 * 1024;
/// How long one answer line may take (a `refresh` answers each domain within its zone timeout).
const LINE_WAIT: Duration = Duration::from_secs(200);

/// A `ctl` command.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
#[non_exhaustive]
pub enum CtlCommand {
    /// The cached entry of DOMAIN: policy, TXT id, fetched at, expiry, last check, DANE state,
    /// last failure.
    Show {
        /// The policy domain.
        domain: String,
    },
    /// Every cached entry.
    List,
    /// Forget domains everywhere the daemon remembers them (in a shared store: for every daemon,
    /// the others within their cache_grace).
    Purge {
        /// Every cached domain.
        #[arg(long, conflicts_with = "domains")]
        all: bool,
        /// The domains.
        #[arg(required_unless_present = "all")]
        domains: Vec<String>,
    },
    /// A TXT check and policy fetch now, printing the outcome.
    Refresh {
        /// The domains.
        #[arg(required = true)]
        domains: Vec<String>,
    },
    /// Backend, entries, queued writes, uptime, connections.
    Stats,
}

impl CtlCommand {
    fn request(&self) -> ControlRequest {
        match self {
            Self::Show { domain } => ControlRequest::Show {
                domain: domain.clone(),
            },
            Self::List => ControlRequest::List,
            Self::Purge { all, domains } => ControlRequest::Purge {
                domains: domains.clone(),
                all: *all,
            },
            Self::Refresh { domains } => ControlRequest::Refresh {
                domains: domains.clone(),
            },
            Self::Stats => ControlRequest::Stats,
        }
    }
}

/// Why `ctl` could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// No socket at the path.
    #[error(
        "{}: no control socket there: is the daemon running, with control.socket set to this path in its configuration (mta-sts-daemon.yml(5))?",
        .0.display()
    )]
    Missing(PathBuf),
    /// A socket file, but no daemon behind it.
    #[error("{}: nothing listens there: is the daemon running?", .0.display())]
    Refused(PathBuf),
    /// Not allowed to connect.
    #[error(
        "{}: permission denied: run ctl as the user the daemon runs as, or as root (the socket's mode is control.mode, 0600 by default)",
        .0.display()
    )]
    Denied(PathBuf),
    /// Talking to the daemon failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The daemon refused the request.
    #[error("{0}")]
    Refusal(String),
    /// The answer does not follow the protocol.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl CtlError {
    /// The exit status: 69 no daemon, 77 permission denied, 76 protocol, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Missing(_) | Self::Refused(_) => EX_UNAVAILABLE,
            Self::Denied(_) => EX_NOPERM,
            Self::Protocol(_) => EX_PROTOCOL,
            Self::Io { .. } | Self::Refusal(_) => 1,
        }
    }
}

/// Sends `request` to the daemon at `socket`; calls `item` with each item line's content and
/// returns the result.
pub fn call(
    socket: &Path,
    request: &ControlRequest,
    mut item: impl FnMut(Value) -> Result<(), CtlError>,
) -> Result<Value, CtlError> {
    let io = |source| CtlError::Io {
        path: socket.to_owned(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CtlError::Missing(socket.to_owned()),
        std::io::ErrorKind::ConnectionRefused => CtlError::Refused(socket.to_owned()),
        std::io::ErrorKind::PermissionDenied => CtlError::Denied(socket.to_owned()),
        _ => io(e),
    })?;
    stream.set_read_timeout(Some(LINE_WAIT)).map_err(io)?;
    stream.set_write_timeout(Some(LINE_WAIT)).map_err(io)?;
    stream
        .write_all(request_line(request).as_bytes())
        .map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = std::io::Read::take(&mut reader, MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if read == 0 {
            return Err(CtlError::Protocol(
                "the daemon closed the connection without a result".into(),
            ));
        }
        let value: Value = serde_json::from_slice(&line)
            .map_err(|e| CtlError::Protocol(format!("not JSON: {e}")))?;
        if let Some(content) = value.get("item") {
            item(content.clone())?;
            continue;
        }
        return match value.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
            Some(false) => Err(CtlError::Refusal(
                value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("refused")
                    .to_owned(),
            )),
            None => Err(CtlError::Protocol(value.to_string())),
        };
    }
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, CtlError> {
    serde_json::from_value(value).map_err(|e| CtlError::Protocol(e.to_string()))
}

fn write_err(e: std::io::Error) -> CtlError {
    CtlError::Io {
        path: PathBuf::from("standard output"),
        source: e,
    }
}

/// Runs `command` against the daemon at `socket`, printing to `out` (JSON lines with `json`).
/// Returns the exit status: 0, or 1 when a domain could not be refreshed or purged.
pub fn run(
    socket: &Path,
    command: &CtlCommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CtlError> {
    let now = SystemTime::now();
    let mut items = Vec::new();
    let result = call(socket, &command.request(), |item| {
        if json {
            writeln!(out, "{item}").map_err(write_err)?;
        } else if let CtlCommand::List = command {
            // Printed as they come: a large store is never held in memory.
            let entry: EntryReport = typed(item)?;
            writeln!(out, "{}", list_line(&entry, now)).map_err(write_err)?;
        } else {
            items.push(item);
        }
        Ok(())
    })?;
    let mut status = 0;
    match command {
        _ if json => writeln!(out, "{result}").map_err(write_err)?,
        CtlCommand::Show { .. } => {
            write!(out, "{}", show(&typed(result.clone())?, now)).map_err(write_err)?
        }
        CtlCommand::List => {
            let count = result.get("entries").and_then(Value::as_u64).unwrap_or(0);
            let skipped = result.get("skipped").and_then(Value::as_u64).unwrap_or(0);
            writeln!(
                out,
                "{count} cached {}",
                plural(count, "policy", "policies")
            )
            .map_err(write_err)?;
            if skipped > 0 {
                writeln!(
                    out,
                    "{skipped} unreadable {} skipped",
                    plural(skipped, "entry", "entries")
                )
                .map_err(write_err)?;
            }
        }
        CtlCommand::Purge { .. } => {
            let report: PurgeReport = typed(result.clone())?;
            for domain in &report.purged {
                writeln!(out, "purged {domain}").map_err(write_err)?;
            }
            for (domain, error) in &report.failed {
                writeln!(out, "NOT purged {domain}: {error}").map_err(write_err)?;
                status = 1;
            }
            if report.purged.is_empty() && report.failed.is_empty() {
                writeln!(out, "nothing cached: nothing purged").map_err(write_err)?;
            }
        }
        CtlCommand::Refresh { .. } => {
            for item in items {
                let report: RefreshReport = typed(item)?;
                status = status.max(u8::from(!report.ok));
                write!(out, "{}", refreshed(&report, now)).map_err(write_err)?;
            }
        }
        CtlCommand::Stats => {
            write!(out, "{}", stats(&typed(result.clone())?)).map_err(write_err)?
        }
    }
    if json {
        if let CtlCommand::Refresh { .. } = command {
            status = u8::from(result.get("failed").and_then(Value::as_u64).unwrap_or(0) > 0);
        }
        if let CtlCommand::Purge { .. } = command {
            let report: PurgeReport = typed(result.clone())?;
            status = u8::from(!report.failed.is_empty());
        }
    }
    Ok(status)
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `2026-12-01 22:04:05 UTC (3 min ago)`.
fn when(at: u64, now: SystemTime) -> String {
    let now = crate::control::unix(now);
    let relative = if at <= now {
        format!("{} ago", span(now - at))
    } else {
        format!("in {}", span(at - now))
    };
    format!("{} ({relative})", utc(at))
}

fn span(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// Seconds since the epoch as a UTC date and time (the civil calendar from days, H. Hinnant).
fn utc(at: u64) -> String {
    let days = at / 86_400;
    let rest = at % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn list_line(entry: &EntryReport, now: SystemTime) -> String {
    let state = if entry.valid { "" } else { " EXPIRED" };
    format!(
        "{}  {} id={} mx={} max_age={} fetched {}{state}",
        entry.domain,
        entry.mode,
        entry.id,
        entry.mx.join(","),
        entry.max_age,
        when(entry.fetched_at, now)
    )
}

fn policy_lines(entry: &EntryReport, now: SystemTime) -> String {
    let expiry = if entry.valid { "expires" } else { "EXPIRED" };
    format!(
        "  policy:        mode {}, max_age {} s, mx {}\n  TXT id:        {}\n  fetched at:    {}\n  {expiry}:       {}\n",
        entry.mode,
        entry.max_age,
        entry.mx.join(", "),
        entry.id,
        when(entry.fetched_at, now),
        when(entry.expires_at, now),
    )
}

fn show(report: &DomainReport, now: SystemTime) -> String {
    let mut out = format!("{}\n", report.domain);
    match &report.cached {
        Some(entry) => out.push_str(&policy_lines(entry, now)),
        None => out.push_str("  policy:        none cached\n"),
    }
    let checked = report
        .last_checked
        .map_or("not within cache_grace".to_owned(), |at| when(at, now));
    out.push_str(&format!("  last check:    {checked}\n"));
    if let Some(until) = report.no_policy_until {
        out.push_str(&format!(
            "  no record:     remembered until {}\n",
            when(until, now)
        ));
    }
    match &report.last_failure {
        Some(failure) => {
            let since = failure
                .since
                .map_or(String::new(), |at| format!("; since {}", when(at, now)));
            out.push_str(&format!("  last failure:  {}{since}\n", failure.failure));
        }
        None => out.push_str("  last failure:  none\n"),
    }
    for backoff in &report.fetch_backoff {
        out.push_str(&format!("  fetch backoff: {backoff}\n"));
    }
    if report.refreshing {
        out.push_str("  refreshing:    now\n");
    }
    let dane = match &report.dane {
        _ if !report.dane_enabled => "off (no zone has dane.enabled)".to_owned(),
        None => "not looked up (or expired)".to_owned(),
        Some(dane) => format!("{} (kept {} s more)", dane.state, dane.expires_in),
    };
    out.push_str(&format!("  DANE:          {dane}\n"));
    out
}

fn refreshed(report: &RefreshReport, now: SystemTime) -> String {
    let verdict = if report.ok { "ok" } else { "FAILED" };
    let mut out = format!("{}: {verdict}: {}\n", report.domain, report.outcome);
    if let Some(entry) = &report.policy {
        out.push_str(&policy_lines(entry, now));
    }
    if let Some(dane) = &report.dane {
        out.push_str(&format!("  DANE:          {dane}\n"));
    }
    out
}

fn stats(report: &StatsReport) -> String {
    let or_unknown = |n: Option<u64>| n.map_or("unknown".to_owned(), |n| n.to_string());
    format!(
        "backend:           {}\nentries:           {}\nqueued writes:     {}\nuptime:            {}\nconnections open:  {}\nconnections total: {}\n{}cache_grace:       {} s\nproactive:         {}\n",
        report.backend,
        or_unknown(report.entries),
        report
            .queued_writes
            .map_or("none (no persistent backend)".to_owned(), |n| n.to_string()),
        span(report.uptime),
        report.connections_open,
        report.connections_total,
        report
            .lookups
            .map_or(String::new(), |n| format!("lookups:           {n}\n")),
        report.cache_grace,
        if report.proactive { "on" } else { "off" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
    }

    #[test]
    fn errors_say_what_to_do_and_exit_accordingly() {
        let missing = CtlError::Missing("/run/mta-sts/control.sock".into());
        assert!(missing.to_string().contains("control.socket"));
        assert_eq!(missing.exit_status(), EX_UNAVAILABLE);
        let denied = CtlError::Denied("/run/mta-sts/control.sock".into());
        assert!(denied.to_string().contains("as root"));
        assert_eq!(denied.exit_status(), EX_NOPERM);
    }
}
