//! Name patterns: one `*` label matches any one label, so a test serves any number of generated
//! names (`_mta-sts.*.cold.example`) without adding each one.

use crate::name_key;

/// A host or DNS name pattern, in [`name_key`] form, split into labels; `*` labels match any one
/// label. Unlike a DNS wildcard (RFC 4592), `*` may stand anywhere and matches exactly one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NamePattern {
    labels: Vec<String>,
}

impl NamePattern {
    /// The pattern `pattern` (case-insensitive, trailing dot optional).
    ///
    /// # Panics
    ///
    /// If `pattern` has an empty label or a label longer than 63 bytes.
    pub(crate) fn new(pattern: &str) -> Self {
        let key = name_key(pattern);
        let labels: Vec<String> = key.split('.').map(str::to_owned).collect();
        if let Some(bad) = labels.iter().find(|l| l.is_empty() || l.len() > 63) {
            panic!("invalid name pattern {pattern:?}: label {bad:?}");
        }
        Self { labels }
    }

    /// Whether `key` (a [`name_key`]) matches the whole pattern.
    pub(crate) fn matches(&self, key: &str) -> bool {
        let mut labels = key.split('.');
        let all = self
            .labels
            .iter()
            .all(|p| labels.next().is_some_and(|label| p == "*" || p == label));
        all && labels.next().is_none()
    }

    /// Whether `key` matches the pattern's last labels, as an ancestor of a matching name does
    /// (it then exists in DNS, as an empty non-terminal at least).
    pub(crate) fn covers(&self, key: &str) -> bool {
        let labels: Vec<&str> = key.split('.').collect();
        labels.len() <= self.labels.len()
            && self.labels[self.labels.len() - labels.len()..]
                .iter()
                .zip(&labels)
                .all(|(p, label)| p == "*" || p == label)
    }
}

#[cfg(test)]
mod tests {
    use super::NamePattern;

    #[test]
    fn one_star_label_matches_one_label() {
        let p = NamePattern::new("_mta-sts.*.Cold.Example.");
        assert!(p.matches("_mta-sts.d1.cold.example"));
        assert!(p.matches("_mta-sts.x-y.cold.example"));
        assert!(!p.matches("_mta-sts.a.b.cold.example"));
        assert!(!p.matches("_mta-sts.cold.example"));
        assert!(!p.matches("mta-sts.d1.cold.example"));
        assert!(!p.matches("_mta-sts.d1.cold.example.org"));
        assert!(p.covers("d1.cold.example"));
        assert!(p.covers("cold.example"));
        assert!(p.covers("_mta-sts.d1.cold.example"));
        assert!(!p.covers("d1.other.example"));
        assert!(!p.covers("x._mta-sts.d1.cold.example"));
    }
}
