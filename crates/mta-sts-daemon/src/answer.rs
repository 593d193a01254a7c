//! From a discovery outcome to the socketmap reply (RFC 8461 §5, TLS_README, TLSRPT_README).

use std::sync::Arc;

use mta_sts_cache::CachedPolicy;
use mta_sts_fetch::DaneError;
use mta_sts_policy::{Domain, Mode, Policy};
use mta_sts_resolver::Outcome;
use postfix_socketmap::{MAX_REPLY_LEN, Reply};
use smtp_dane::DaneState;
use tokio::time::Instant;

/// What to answer when discovery fails and no valid policy is cached (`on_failure:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// `notfound`: answer `NOTFOUND`, deliver as if the domain had no policy (RFC 8461 §3.3,
    /// FETCH-10).
    #[default]
    #[serde(rename = "notfound")]
    NotFound,
    /// `temp`: answer `TEMP`, defer the mail until discovery succeeds.
    Temp,
}

/// The per-zone answer rules (`zones.NAME` / `default_zone` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRules {
    /// Enforce `testing` policies too (postfix-mta-sts-resolver's `strict_testing`).
    pub strict_testing: bool,
    /// Add `servername=hostname`, so Postfix sends the MX host name as SNI (Postfix 3.4+, APPLY-8).
    pub require_sni: bool,
    /// Add the TLSRPT attributes of Postfix 3.10+ (PFX-5), which also give RFC-exact MX matching
    /// with Postfix 3.10.5+ (MAP-2).
    pub tlsrpt: bool,
    /// The answer when discovery fails with nothing valid cached.
    pub on_failure: OnFailure,
    /// Look up DANE first and answer `dane`/`dane-only` when the domain has it.
    pub dane: bool,
}

impl Default for ZoneRules {
    fn default() -> Self {
        Self {
            strict_testing: false,
            require_sni: true,
            tlsrpt: false,
            on_failure: OnFailure::NotFound,
            dane: false,
        }
    }
}

/// The reply for `domain` given the discovery `outcome`.
///
/// - `enforce` (and `testing` with `strict_testing`) → `OK secure match=…` (APPLY-1): the patterns
///   in policy order, `*.x` written `.x`, duplicates dropped (MAP-1), then `servername=hostname`,
///   then with `tlsrpt` the `policy_type`, `policy_domain`, `mx_host_pattern` and `policy_string`
///   attributes (PFX-5, PFX-6);
/// - `testing`, `none`, no policy → `NOTFOUND ` (APPLY-2, APPLY-3);
/// - failure with nothing cached → per [`OnFailure`];
/// - an answer over Postfix's 100000-byte limit → `TEMP` (SOCK-5); never an empty `OK` (SOCK-3).
pub fn answer(domain: &Domain, outcome: &Outcome, rules: &ZoneRules) -> Reply {
    if let Some(cached) = outcome.policy() {
        let policy = cached.policy();
        let enforce = match policy.mode() {
            Mode::Enforce => true,
            Mode::Testing => rules.strict_testing,
            Mode::None => false,
        };
        if !enforce || policy.mx().is_empty() {
            return Reply::NotFound;
        }
        let reply = Reply::Ok(secure(domain, policy, rules));
        if reply.payload_len() > MAX_REPLY_LEN {
            return Reply::Temp(format!(
                "MTA-STS answer for {domain} exceeds {MAX_REPLY_LEN} bytes"
            ));
        }
        return reply;
    }
    match (outcome, rules.on_failure) {
        (Outcome::Failure(failure), OnFailure::Temp) => Reply::Temp(format!(
            "MTA-STS policy discovery for {domain} failed: {failure}"
        )),
        _ => Reply::NotFound,
    }
}

/// The reply DANE gives `domain`, or `None` when DANE does not apply and MTA-STS decides.
///
/// APPLY-4, DANE-2: `OK dane-only` when every MX host publishes usable TLSA records, `OK dane`
/// when some do; no TLSRPT attributes, since Postfix reports DANE itself (DANE-7). DANE-4: when
/// the state could not be established (SERVFAIL, timeout, a bogus signature), `TEMP`, never a
/// silent fall back to MTA-STS or to no policy.
pub fn dane_answer(domain: &Domain, state: Result<&DaneState, &DaneError>) -> Option<Reply> {
    match state {
        Ok(state) => state
            .verdict()
            .postfix_level()
            .map(|level| Reply::Ok(level.to_owned())),
        Err(error) => Some(Reply::Temp(error.temp_reason(domain.as_str()))),
    }
}

/// The replies last given for recently asked domains, so a warm lookup does not format the same
/// `OK secure match=…` again. An entry is used only for the very policy (the same `Arc`) and the
/// same rules it was built from, so a new policy or another zone's rules are never answered from
/// here. Bounded: only the hot domains matter, and a miss costs one formatting.
const MEMO_MAX_REPLY: usize = 2048;

pub(crate) struct ReplyMemo {
    replies: quick_cache::sync::Cache<Domain, Arc<Memoized>>,
}

pub(crate) struct Memoized {
    policy: Arc<CachedPolicy>,
    rules: ZoneRules,
    reply: Reply,
    /// Until when DANE is known not to apply to the domain (zones with DANE on): the DANE state
    /// rides along with the reply, so the warm path reads one entry for both.
    no_dane_until: Option<Instant>,
}

impl ReplyMemo {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            replies: quick_cache::sync::Cache::new(capacity.max(1)),
        }
    }

    /// Drops the reply kept for `domain` (an operator purged it).
    pub(crate) fn forget(&self, domain: &Domain) {
        self.replies.remove(domain);
    }

    /// Drops every reply kept.
    pub(crate) fn forget_all(&self) {
        self.replies.clear();
    }

    /// The entry of `domain` when DANE is known not to apply to it at `now`.
    pub(crate) fn without_dane(&self, domain: &Domain, now: Instant) -> Option<Arc<Memoized>> {
        self.replies
            .get(domain)
            .filter(|hit| hit.no_dane_until.is_some_and(|until| until > now))
    }

    /// Notes on `domain`'s entry, if it has one, that DANE does not apply to it until `until`
    /// (the DANE state's expiry). A concurrent new entry may be overwritten by this copy of the
    /// old one; that only costs a miss, since entries answer only for their own policy.
    pub(crate) fn note_no_dane(&self, domain: &Domain, until: Instant) {
        let Some(hit) = self.replies.get(domain) else {
            return;
        };
        if hit.no_dane_until.is_some_and(|known| known >= until) {
            return;
        }
        self.replies.insert(
            domain.clone(),
            Arc::new(Memoized {
                policy: Arc::clone(&hit.policy),
                rules: hit.rules.clone(),
                reply: hit.reply.clone(),
                no_dane_until: Some(until),
            }),
        );
    }

    /// [`answer`](Self::answer), trying `hit` (an entry just read) before the memo.
    pub(crate) fn answer_from(
        &self,
        hit: Option<&Memoized>,
        domain: &Domain,
        outcome: &Outcome,
        rules: &ZoneRules,
    ) -> Reply {
        if let (Some(hit), Some(policy)) = (hit, outcome.policy())
            && Arc::ptr_eq(&hit.policy, policy)
            && hit.rules == *rules
        {
            return hit.reply.clone();
        }
        self.answer(domain, outcome, rules)
    }

    /// [`answer`], from the memo when `outcome` carries a policy already answered for `domain`.
    pub(crate) fn answer(&self, domain: &Domain, outcome: &Outcome, rules: &ZoneRules) -> Reply {
        let Some(policy) = outcome.policy() else {
            return answer(domain, outcome, rules);
        };
        if let Some(hit) = self.replies.get(domain)
            && Arc::ptr_eq(&hit.policy, policy)
            && hit.rules == *rules
        {
            return hit.reply.clone();
        }
        let reply = answer(domain, outcome, rules);
        if reply.payload_len() > MEMO_MAX_REPLY {
            // Long TLSRPT answers are rare; keeping them would let the memo's size grow with the
            // policies' (up to 100 kB each) rather than with the number of domains.
            return reply;
        }
        self.replies.insert(
            domain.clone(),
            Arc::new(Memoized {
                policy: Arc::clone(policy),
                rules: rules.clone(),
                reply: reply.clone(),
                no_dane_until: None,
            }),
        );
        reply
    }
}

fn secure(domain: &Domain, policy: &Policy, rules: &ZoneRules) -> String {
    let mut patterns: Vec<String> = Vec::new();
    for mx in policy.mx() {
        let pattern = if mx.is_wildcard() {
            format!(".{}", mx.domain())
        } else {
            mx.as_str().to_owned()
        };
        if !patterns.iter().any(|p| p.eq_ignore_ascii_case(&pattern)) {
            patterns.push(pattern);
        }
    }
    let mut out = format!("secure match={}", patterns.join(":"));
    if rules.require_sni {
        out.push_str(" servername=hostname");
    }
    if rules.tlsrpt {
        out.push_str(&format!(" policy_type=sts policy_domain={domain}"));
        for mx in policy.mx() {
            out.push_str(&format!(" mx_host_pattern={mx}"));
        }
        for line in policy.policy_strings() {
            // PFX-6: braces would break Postfix's attribute parsing; such extension lines are left out.
            if line.contains(['{', '}']) {
                continue;
            }
            let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&format!(" {{ policy_string = {line} }}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mta_sts_cache_stub::entry;

    use super::*;

    fn d(name: &str) -> Domain {
        name.parse().unwrap()
    }

    /// A cached-policy outcome without going through a resolver.
    mod mta_sts_cache_stub {
        use super::*;

        pub(super) fn entry(body: &str) -> Outcome {
            let policy: Policy = body.parse().unwrap();
            let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
            let cached = CachedPolicy::new(policy, "a1".parse().unwrap(), at);
            Outcome::Fetched(Arc::new(cached))
        }
    }

    const RFC: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n";

    fn ok(reply: Reply) -> String {
        match reply {
            Reply::Ok(data) => data,
            other => panic!("expected OK, got {other:?}"),
        }
    }

    #[test]
    fn memoized_replies_follow_the_policy_and_the_rules() {
        let memo = ReplyMemo::new(16);
        let rules = ZoneRules::default();
        let first = entry(RFC);
        let expected = answer(&d("example.com"), &first, &rules);
        assert_eq!(memo.answer(&d("example.com"), &first, &rules), expected);
        assert_eq!(memo.answer(&d("example.com"), &first, &rules), expected);
        // A new policy for the same domain (a new Arc) is answered afresh, never from the memo.
        let changed = entry("version: STSv1\nmode: enforce\nmx: other.example\nmax_age: 86400\n");
        assert_eq!(
            ok(memo.answer(&d("example.com"), &changed, &rules)),
            "secure match=other.example servername=hostname"
        );
        // So are other rules (another zone) with the same policy.
        let tlsrpt = ZoneRules {
            tlsrpt: true,
            ..ZoneRules::default()
        };
        assert_eq!(
            memo.answer(&d("example.com"), &changed, &tlsrpt),
            answer(&d("example.com"), &changed, &tlsrpt)
        );
        assert_eq!(
            ok(memo.answer(&d("example.com"), &changed, &rules)),
            "secure match=other.example servername=hostname"
        );
        // The same policy object under another domain name gives that domain's answer.
        assert_eq!(
            memo.answer(&d("example.org"), &changed, &tlsrpt),
            answer(&d("example.org"), &changed, &tlsrpt)
        );
        // Long answers are given but not kept, so the memo's size follows the number of domains.
        let many: String = (0..100)
            .map(|i| format!("mx: mx{i}.example.org\n"))
            .collect();
        let long = entry(&format!(
            "version: STSv1\nmode: enforce\n{many}max_age: 86400\n"
        ));
        let kept = memo.replies.len();
        let reply = memo.answer(&d("long.example"), &long, &tlsrpt);
        assert!(reply.payload_len() > MEMO_MAX_REPLY);
        assert_eq!(reply, answer(&d("long.example"), &long, &tlsrpt));
        assert_eq!(memo.replies.len(), kept);
        // Outcomes without a policy are never memoized.
        let none = Outcome::NoPolicy(mta_sts_resolver::NoPolicy::Expired);
        assert_eq!(
            memo.answer(&d("example.com"), &none, &rules),
            Reply::NotFound
        );
    }

    /// DANE-9: "no DANE" rides along with a memoized reply only until the DANE state expires, and
    /// only for the entry's own policy and rules.
    #[test]
    fn no_dane_rides_along_with_the_reply_until_the_state_expires() {
        let memo = ReplyMemo::new(16);
        let rules = ZoneRules {
            dane: true,
            ..ZoneRules::default()
        };
        let domain = d("example.com");
        let now = Instant::now();
        let until = now + std::time::Duration::from_secs(60);
        // No entry yet: nothing to note on.
        memo.note_no_dane(&domain, until);
        assert!(memo.without_dane(&domain, now).is_none());
        let first = entry(RFC);
        let reply = memo.answer(&domain, &first, &rules);
        assert!(memo.without_dane(&domain, now).is_none(), "not known yet");
        memo.note_no_dane(&domain, until);
        let hit = memo
            .without_dane(&domain, now)
            .expect("known until the state expires");
        assert!(
            memo.without_dane(&domain, until).is_none(),
            "expired with the state"
        );
        assert_eq!(memo.answer_from(Some(&hit), &domain, &first, &rules), reply);
        // Another policy is never answered from the entry.
        let changed = entry("version: STSv1\nmode: enforce\nmx: other.example\nmax_age: 86400\n");
        assert_eq!(
            memo.answer_from(Some(&hit), &domain, &changed, &rules),
            answer(&domain, &changed, &rules)
        );
    }

    #[test]
    fn apply_1_enforce_is_secure_with_servername() {
        let data = ok(answer(
            &d("example.com"),
            &entry(RFC),
            &ZoneRules::default(),
        ));
        assert_eq!(
            data,
            "secure match=mail.example.com:.example.net:backupmx.example.com servername=hostname"
        );
        let no_sni = ZoneRules {
            require_sni: false,
            ..ZoneRules::default()
        };
        assert_eq!(
            ok(answer(&d("example.com"), &entry(RFC), &no_sni)),
            "secure match=mail.example.com:.example.net:backupmx.example.com"
        );
    }

    #[test]
    fn pfx_5_map_2_tlsrpt_attributes_exactly() {
        let rules = ZoneRules {
            tlsrpt: true,
            ..ZoneRules::default()
        };
        let data = ok(answer(&d("example.com"), &entry(RFC), &rules));
        let expected = "secure match=mail.example.com:.example.net:backupmx.example.com servername=hostname \
            policy_type=sts policy_domain=example.com mx_host_pattern=mail.example.com \
            mx_host_pattern=*.example.net mx_host_pattern=backupmx.example.com \
            { policy_string = version: STSv1 } { policy_string = mode: enforce } \
            { policy_string = mx: mail.example.com } { policy_string = mx: *.example.net } \
            { policy_string = mx: backupmx.example.com } { policy_string = max_age: 604800 }";
        assert_eq!(data, expected);
    }

    #[test]
    fn pfx_6_brace_lines_left_out() {
        let body = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nnote: a {b}\nother: x   y\n";
        let rules = ZoneRules {
            tlsrpt: true,
            ..ZoneRules::default()
        };
        let data = ok(answer(&d("example.com"), &entry(body), &rules));
        assert!(!data.contains("note"), "{data}");
        assert!(data.contains("{ policy_string = other: x y }"), "{data}");
    }

    #[test]
    fn map_1_patterns_deduplicated_in_policy_order() {
        let body = "version: STSv1\nmode: enforce\nmx: *.example.net\nmx: a.example\nmx: *.EXAMPLE.net\nmx: a.example\nmax_age: 86400\n";
        assert_eq!(
            ok(answer(
                &d("example.com"),
                &entry(body),
                &ZoneRules::default()
            )),
            "secure match=.example.net:a.example servername=hostname"
        );
    }

    #[test]
    fn apply_2_apply_3_testing_and_none_are_notfound() {
        let testing = RFC.replace("mode: enforce", "mode: testing");
        assert_eq!(
            answer(&d("example.com"), &entry(&testing), &ZoneRules::default()),
            Reply::NotFound
        );
        let strict = ZoneRules {
            strict_testing: true,
            ..ZoneRules::default()
        };
        assert!(matches!(
            answer(&d("example.com"), &entry(&testing), &strict),
            Reply::Ok(_)
        ));
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        assert_eq!(
            answer(&d("example.com"), &entry(none), &strict),
            Reply::NotFound
        );
        let none_with_mx = "version: STSv1\nmode: none\nmx: a.example\nmax_age: 86400\n";
        assert_eq!(
            answer(&d("example.com"), &entry(none_with_mx), &strict),
            Reply::NotFound
        );
    }

    #[test]
    fn fetch_10_failure_without_cache_per_on_failure() {
        use mta_sts_resolver::{Failure, ResultType, Stage};
        let failure = Outcome::Failure(Failure::new(
            Stage::Https,
            ResultType::StsPolicyFetchError,
            std::io::Error::other("connection refused"),
        ));
        assert_eq!(
            answer(&d("example.com"), &failure, &ZoneRules::default()),
            Reply::NotFound
        );
        let temp = ZoneRules {
            on_failure: OnFailure::Temp,
            ..ZoneRules::default()
        };
        let Reply::Temp(reason) = answer(&d("example.com"), &failure, &temp) else {
            panic!("not TEMP")
        };
        assert!(
            reason.contains("example.com") && reason.contains("connection refused"),
            "{reason}"
        );
    }

    #[test]
    fn sock_5_oversized_answer_is_temp() {
        let mx: String = (0..1000)
            .map(|i| format!("mx: {}{i}.example.com\n", "m".repeat(60)))
            .collect();
        let body = format!("version: STSv1\nmode: enforce\n{mx}max_age: 86400\n");
        let rules = ZoneRules {
            tlsrpt: true,
            ..ZoneRules::default()
        };
        let reply = answer(&d("example.com"), &entry(&body), &rules);
        assert!(
            matches!(&reply, Reply::Temp(reason) if reason.contains("exceeds 100000 bytes")),
            "{reply:?}"
        );
    }
}
