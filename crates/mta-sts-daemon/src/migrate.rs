//! Offline export and import of a persistent store as JSON lines, so an operator can move every
//! learned policy from one backend to another (SQLite → Redis or PostgreSQL, and back).
//!
//! One line per domain: `{"domain":"example.com","id":"20240101","fetched_at":1700000000,
//! "fetched_at_nanos":0,"policy":"version: STSv1\nmode: enforce\n…"}`. The policy is the file's
//! text, in file order, so the entry restores exactly; times are seconds since the Unix epoch.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use mta_sts_cache::{CacheAdmin, CachedPolicy, ScanCursor};
use mta_sts_policy::{Domain, Policy};
use serde::{Deserialize, Serialize};

/// The longest line `import` reads (a policy is at most 64 KiB).
const MAX_LINE: usize = 1024 * 1024;
/// Entries read per page when walking the store.
const PAGE: usize = 1000;

/// One exported entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    domain: String,
    id: String,
    fetched_at: u64,
    #[serde(default)]
    fetched_at_nanos: u32,
    policy: String,
}

impl Line {
    fn new(domain: &Domain, entry: &CachedPolicy) -> Self {
        let since = entry
            .fetched_at()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut policy = entry
            .policy()
            .policy_strings()
            .collect::<Vec<_>>()
            .join("\n");
        policy.push('\n');
        Self {
            domain: domain.to_string(),
            id: entry.id().to_string(),
            fetched_at: since.as_secs(),
            fetched_at_nanos: since.subsec_nanos(),
            policy,
        }
    }

    fn entry(self) -> Result<(Domain, CachedPolicy), String> {
        let domain: Domain = self
            .domain
            .parse()
            .map_err(|e| format!("domain {:?}: {e}", self.domain))?;
        let id = self
            .id
            .parse()
            .map_err(|e| format!("id {:?}: {e}", self.id))?;
        let policy = Policy::parse(self.policy.as_bytes()).map_err(|e| format!("policy: {e}"))?;
        if self.fetched_at_nanos >= 1_000_000_000 {
            return Err("fetched_at_nanos must be below 1000000000".into());
        }
        let fetched_at = SystemTime::UNIX_EPOCH
            .checked_add(Duration::new(self.fetched_at, self.fetched_at_nanos))
            .ok_or("fetched_at out of range")?;
        Ok((domain, CachedPolicy::new(policy, id, fetched_at)))
    }
}

/// Writes every entry of `cache` to `out`, one JSON line each. Returns the entries written and
/// those the store could not read (skipped, as a proactive refresh skips them).
pub async fn export(cache: &dyn CacheAdmin, out: &mut dyn Write) -> anyhow::Result<(u64, u64)> {
    let (mut written, mut skipped) = (0u64, 0u64);
    let mut cursor: Option<ScanCursor> = None;
    loop {
        let page = cache
            .scan(cursor.as_ref(), PAGE)
            .await
            .context("cannot read the cache")?;
        skipped += page.skipped as u64;
        for (domain, entry) in &page.entries {
            let line = serde_json::to_string(&Line::new(domain, entry))?;
            writeln!(out, "{line}").context("cannot write the export")?;
            written += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.flush().context("cannot write the export")?;
    Ok((written, skipped))
}

/// What [`import`] did.
#[derive(Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Entries handed to the store (one already holding a newer fetch keeps it).
    pub imported: u64,
    /// Lines that could not be imported: the 1-based line number and why.
    pub bad: Vec<(u64, String)>,
}

/// Reads JSON lines as [`export`] writes them and stores each entry in `cache`; an entry never
/// replaces a newer fetch of the same domain. Blank lines are ignored; a bad line is reported with
/// its number and the others are still imported. Fails only when the input cannot be read.
pub async fn import(
    cache: &dyn CacheAdmin,
    input: &mut dyn BufRead,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut number = 0u64;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = std::io::Read::take(&mut *input, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .context("cannot read the import")?;
        if read == 0 {
            break;
        }
        number += 1;
        if buffer.len() > MAX_LINE && !buffer.ends_with(b"\n") {
            report
                .bad
                .push((number, format!("line longer than {MAX_LINE} bytes")));
            // Skip the rest of the line.
            let mut rest = Vec::new();
            input
                .read_until(b'\n', &mut rest)
                .context("cannot read the import")?;
            continue;
        }
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Line>(&buffer)
            .map_err(|e| e.to_string())
            .and_then(Line::entry);
        match parsed {
            Err(why) => report.bad.push((number, why)),
            Ok((domain, entry)) => match cache.put(&domain, Arc::new(entry)).await {
                Ok(()) => report.imported += 1,
                Err(e) => report
                    .bad
                    .push((number, format!("{domain}: the store refused it: {e}"))),
            },
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use mta_sts_cache::{MemoryCache, PolicyCache};

    use super::*;

    #[tokio::test]
    async fn export_then_import_restores_exactly_and_reports_bad_lines() {
        let source = MemoryCache::new(10);
        let policy: Policy = "version: STSv1\nmode: testing\nmx: b.example\nmx: *.a.example\nmax_age: 3600\nnote: kept\n"
            .parse()
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        let domain: Domain = "example.com".parse().unwrap();
        let entry = CachedPolicy::new(policy, "x1".parse().unwrap(), at);
        source.put(&domain, Arc::new(entry.clone())).await.unwrap();
        let mut out = Vec::new();
        assert_eq!(export(&source, &mut out).await.unwrap(), (1, 0));
        let mut text = String::from_utf8(out).unwrap();
        text.push_str("\nnot json\n{\"domain\":\"bad domain\",\"id\":\"1\",\"fetched_at\":1,\"policy\":\"\"}\n");
        let target = MemoryCache::new(10);
        // A newer fetch already there is kept.
        let newer_domain: Domain = "newer.example".parse().unwrap();
        let newer = CachedPolicy::new(
            "version: STSv1\nmode: enforce\nmx: n.example\nmax_age: 60\n"
                .parse()
                .unwrap(),
            "n2".parse().unwrap(),
            at + Duration::from_secs(10),
        );
        target
            .put(&newer_domain, Arc::new(newer.clone()))
            .await
            .unwrap();
        let older = Line::new(
            &newer_domain,
            &CachedPolicy::new(newer.policy().clone(), "n1".parse().unwrap(), at),
        );
        text.push_str(&serde_json::to_string(&older).unwrap());
        let report = import(&target, &mut text.as_bytes()).await.unwrap();
        assert_eq!(report.imported, 2);
        let lines: Vec<u64> = report.bad.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [3, 4], "{:?}", report.bad);
        assert_eq!(*target.get(&domain).await.unwrap().unwrap(), entry);
        assert_eq!(*target.get(&newer_domain).await.unwrap().unwrap(), newer);
    }
}
