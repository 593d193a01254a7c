//! Short-lived, bounded bookkeeping: when a domain was last checked, which domains have no policy,
//! which (domain, id) fetches failed recently, which refreshes are running.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::time::SystemTime;

use mta_sts_policy::Domain;
use mta_sts_txt::PolicyId;

use crate::Failure;

/// A map whose entries lapse at a deadline, holding at most `capacity` entries: a flood of distinct
/// domains costs bounded memory, at worst forgetting some entries early.
#[derive(Debug)]
pub(crate) struct Expiring<K, V> {
    capacity: usize,
    entries: HashMap<K, (SystemTime, V)>,
}

impl<K: Hash + Eq, V> Expiring<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The value for `key` if its deadline is still ahead of `now`.
    pub(crate) fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q, now: SystemTime) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries
            .get(key)
            .filter(|(deadline, _)| now < *deadline)
            .map(|(_, v)| v)
    }

    /// The value for `key` and its deadline, if the deadline is still ahead of `now`.
    pub(crate) fn get_with_deadline<Q: Hash + Eq + ?Sized>(
        &self,
        key: &Q,
        now: SystemTime,
    ) -> Option<(SystemTime, &V)>
    where
        K: Borrow<Q>,
    {
        self.entries
            .get(key)
            .filter(|(deadline, _)| now < *deadline)
            .map(|(deadline, v)| (*deadline, v))
    }

    /// Calls `visit` with every entry whose deadline is still ahead of `now`.
    pub(crate) fn for_each_live(&self, now: SystemTime, mut visit: impl FnMut(&K, SystemTime, &V)) {
        for (key, (deadline, value)) in &self.entries {
            if now < *deadline {
                visit(key, *deadline, value);
            }
        }
    }

    /// Removes every entry whose key `forget` says to.
    pub(crate) fn remove_where(&mut self, mut forget: impl FnMut(&K) -> bool) {
        self.entries.retain(|key, _| !forget(key));
    }

    pub(crate) fn insert(&mut self, key: K, deadline: SystemTime, value: V, now: SystemTime) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (d, _)| now < *d);
            if self.entries.len() >= self.capacity {
                // Everything is still live: start over rather than grow. Losing these only costs
                // extra lookups, never correctness.
                self.entries.clear();
            }
        }
        self.entries.insert(key, (deadline, value));
    }

    pub(crate) fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.entries.remove(key);
    }
}

#[derive(Debug)]
pub(crate) struct Memo {
    /// Domain → (checked at + grace): a valid cached policy was confirmed at that time.
    pub(crate) checked: Expiring<Domain, ()>,
    /// Domain → no `_mta-sts` record was found.
    pub(crate) no_policy: Expiring<Domain, ()>,
    /// Domain → its last discovery failed; answered from here for a short while.
    pub(crate) failed: Expiring<Domain, Failure>,
    /// (domain, id) → the failure of the last fetch (FETCH-9).
    pub(crate) failures: Expiring<(Domain, PolicyId), Failure>,
    /// Domains with a background refresh running.
    pub(crate) refreshing: HashSet<Domain>,
    /// Domain → a refresh was started; no other until the deadline, so a failing refresh does not
    /// turn every lookup into a DNS query.
    pub(crate) refreshed: Expiring<Domain, ()>,
    capacity: usize,
}

impl Memo {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            checked: Expiring::new(capacity),
            no_policy: Expiring::new(capacity),
            failed: Expiring::new(capacity),
            failures: Expiring::new(capacity),
            refreshing: HashSet::new(),
            refreshed: Expiring::new(capacity),
            capacity,
        }
    }

    /// Forgets everything remembered about `domain` (see `Resolver::forget`).
    pub(crate) fn forget(&mut self, domain: &Domain) {
        self.checked.remove(domain);
        self.no_policy.remove(domain);
        self.failed.remove(domain);
        self.refreshed.remove(domain);
        self.failures.remove_where(|(d, _)| d == domain);
    }

    /// Forgets every domain (see `Resolver::forget_all`); running refreshes stay marked.
    pub(crate) fn forget_all(&mut self) {
        let refreshing = std::mem::take(&mut self.refreshing);
        *self = Self::new(self.capacity);
        self.refreshing = refreshing;
    }

    /// Marks a refresh of `domain` as running until `until`; false if one is running, one started
    /// before `until` was reached, or too many are running.
    pub(crate) fn start_refresh(
        &mut self,
        domain: &Domain,
        now: SystemTime,
        until: SystemTime,
    ) -> bool {
        if self.refreshed.get(domain, now).is_some()
            || self.refreshing.len() >= self.capacity
            || !self.refreshing.insert(domain.clone())
        {
            return false;
        }
        self.refreshed.insert(domain.clone(), until, (), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_lapse_and_capacity_holds() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let mut m = Expiring::new(2);
        m.insert("a", t(10), 1, t(0));
        assert_eq!(m.get("a", t(9)), Some(&1));
        assert_eq!(m.get("a", t(10)), None);
        m.insert("b", t(5), 2, t(0));
        // Full: "c" purges the lapsed "b" at now = 6, keeping "a".
        m.insert("c", t(20), 3, t(6));
        assert_eq!(m.get("a", t(6)), Some(&1));
        assert_eq!(m.get("c", t(6)), Some(&3));
        // Full of live entries: start over.
        m.insert("d", t(30), 4, t(7));
        assert_eq!(m.get("a", t(7)), None);
        assert_eq!(m.get("d", t(7)), Some(&4));
        assert!(m.entries.len() <= 2);
    }
}
