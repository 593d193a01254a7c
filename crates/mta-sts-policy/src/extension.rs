//! Fields RFC 8461 does not define (`sts-policy-extension`, POL-10).

/// An unknown `key: value` line, kept for display and TLSRPT; RFC 8461 §3.2 says to ignore its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    name: Box<str>,
    value: Box<str>,
}

impl Extension {
    /// A line the grammar has already checked (`sts-policy-ext-name`, `sts-policy-ext-value`).
    pub(crate) fn new_unchecked(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The key, as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, as written (may contain UTF-8).
    pub fn value(&self) -> &str {
        &self.value
    }
}
