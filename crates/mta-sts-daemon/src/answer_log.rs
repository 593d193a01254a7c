//! Why a domain got the answer it got, logged at info once per domain and change of state: an
//! operator sees "NOTFOUND for example.com: no _mta-sts record" once, not once per message, and
//! again only when it changes (a policy appears, discovery starts failing, ...).

use std::time::SystemTime;

use mta_sts_policy::{Domain, Mode};
use mta_sts_resolver::{CacheReason, Failure, NoPolicy, Outcome};
use postfix_socketmap::Reply;

/// How many domains' last state is remembered; beyond, a state may be logged again.
const REMEMBERED: usize = 65_536;

/// The kind of answer a domain got, without the details that change every time (timestamps,
/// the text of an error), so that a repeated failure is not logged again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A policy is enforced, or applies from the cache.
    Enforced,
    /// A cached policy applies although checking it failed.
    EnforcedDespiteFailure,
    /// No usable `_mta-sts` record.
    NoRecord,
    /// The policy's mode is `testing` and the zone does not enforce it.
    Testing,
    /// The policy's mode is `none`.
    ModeNone,
    /// The cached policy expired and nothing newer was found.
    Expired,
    /// Discovery failed and nothing valid is cached.
    Failed,
    /// Anything else (an answer too long for Postfix).
    Other,
}

/// The last logged state per domain.
pub(crate) struct AnswerLog {
    last: quick_cache::sync::Cache<Domain, State>,
    /// The failure logged when a domain last started failing, and when: what the control
    /// socket's `show` reports after the resolver's short memory of it has lapsed.
    failures: quick_cache::sync::Cache<Domain, (Failure, SystemTime)>,
}

impl AnswerLog {
    pub(crate) fn new() -> Self {
        Self {
            last: quick_cache::sync::Cache::new(REMEMBERED),
            failures: quick_cache::sync::Cache::new(REMEMBERED),
        }
    }

    /// The failure `domain` last started failing with, and when (wall-clock time).
    pub(crate) fn last_failure(&self, domain: &Domain) -> Option<(Failure, SystemTime)> {
        self.failures.get(domain)
    }

    /// Forgets every domain.
    pub(crate) fn forget_all(&self) {
        self.last.clear();
        self.failures.clear();
    }

    /// Forgets `domain`: its next state is logged again, its last failure dropped.
    pub(crate) fn forget(&self, domain: &Domain) {
        self.last.remove(domain);
        self.failures.remove(domain);
    }

    /// Logs why `domain` got `reply` when its state changed since the last one logged. Fetches
    /// are rare (a new id, an expiring policy) and always logged.
    pub(crate) fn note(&self, domain: &Domain, outcome: &Outcome, reply: &Reply) {
        if let Outcome::Fetched(p) = outcome {
            tracing::info!(%domain, id = p.id().as_str(), mode = p.policy().mode().as_str(), "policy fetched");
        }
        let state = state(outcome, reply);
        if self.last.get(domain) == Some(state) {
            return;
        }
        self.last.insert(domain.clone(), state);
        if let Some(failure) = outcome.failure() {
            self.failures
                .insert(domain.clone(), (failure.clone(), SystemTime::now()));
        }
        let answer = match reply {
            Reply::Ok(_) => "OK",
            Reply::NotFound => "NOTFOUND",
            Reply::Temp(_) => "TEMP",
            Reply::Timeout(_) => "TIMEOUT",
            Reply::Perm(_) => "PERM",
        };
        match (state, outcome) {
            (State::Enforced, _) => tracing::info!(%domain, "policy applies: answering {answer}"),
            (State::EnforcedDespiteFailure, _) => {
                let failure = outcome
                    .failure()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::warn!(%domain, %failure, "cannot check the cached policy; still applying it: answering {answer}")
            }
            (State::NoRecord, Outcome::NoPolicy(why)) => {
                tracing::info!(%domain, "{why}: answering {answer}")
            }
            (State::Testing, _) => tracing::info!(
                %domain,
                "policy mode testing, not enforced (the zone's strict_testing is off): answering {answer}"
            ),
            (State::ModeNone, _) => {
                tracing::info!(%domain, "policy mode none: answering {answer}")
            }
            (State::Expired, _) => tracing::info!(
                %domain,
                "the cached policy expired and no new one could be fetched: answering {answer}"
            ),
            (State::Failed, _) => {
                let failure = outcome
                    .failure()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::info!(%domain, %failure, "policy discovery failed with no policy cached: answering {answer}")
            }
            (_, _) => tracing::info!(%domain, "answering {answer}"),
        }
    }
}

fn state(outcome: &Outcome, reply: &Reply) -> State {
    if let Some(policy) = outcome.policy() {
        let failed = matches!(
            outcome,
            Outcome::Cached {
                reason: CacheReason::DiscoveryFailed(_),
                ..
            }
        );
        return match (reply, policy.policy().mode()) {
            (Reply::Ok(_), _) if failed => State::EnforcedDespiteFailure,
            (Reply::Ok(_), _) => State::Enforced,
            (_, Mode::Testing) => State::Testing,
            (_, Mode::None) => State::ModeNone,
            _ => State::Other,
        };
    }
    match outcome {
        Outcome::NoPolicy(NoPolicy::Expired) => State::Expired,
        Outcome::NoPolicy(_) => State::NoRecord,
        _ => State::Failed,
    }
}
