//! [`Policy`]: a valid policy, built from the fields the grammar found or from values.

use std::fmt;
use std::str::FromStr;

use crate::extension::Extension;
use crate::grammar::{self, Fields, KNOWN_KEYS, Line, Sink, Slot, policy_line, walk};
use crate::version::Version;
use crate::warning::Warning;
use crate::{MaxAge, Mode, MxPattern, PolicyError, PolicyErrorKind};

/// A valid MTA-STS policy (RFC 8461 §3.2).
///
/// Obtained from [`Policy::parse`] (or `str::parse`), or built with [`Policy::new`]. It always has a
/// version, a mode, a max_age, and at least one mx pattern unless the mode is `none`. It remembers the
/// order of its lines, so that [`Display`](fmt::Display) and [`policy_strings`](Self::policy_strings)
/// reproduce the file as published, less ignored duplicates and blank lines.
///
/// ```
/// use mta_sts_policy::{Mode, Policy};
///
/// let policy: Policy = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n".parse()?;
/// assert_eq!(policy.mode(), Mode::Enforce);
/// assert!(policy.matches_mx("mail.example.com"));
/// assert_eq!(policy.to_string().parse::<Policy>()?, policy);
/// # Ok::<(), mta_sts_policy::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Policy {
    version: Version,
    mode: Mode,
    max_age: MaxAge,
    mx: Vec<MxPattern>,
    extensions: Vec<Extension>,
    order: Vec<Slot>,
}

impl Policy {
    /// The most `mx` lines a policy may have; more is refused (SEC-1). A 64 KiB body could hold about
    /// 10 000, which no real deployment needs and which would not fit in a Postfix reply.
    pub const MAX_MX: usize = grammar::MAX_MX;

    /// The most distinct unknown keys a policy may have; more is refused (SEC-1). RFC 8461 defines
    /// none, and every one would be repeated in each TLSRPT-enabled Postfix answer.
    pub const MAX_EXTENSIONS: usize = grammar::MAX_EXTENSIONS;

    /// Parses a policy body as fetched over HTTPS: UTF-8, LF or CRLF line ends.
    ///
    /// Refuses anything RFC 8461 §3.2 does not allow; see [`PolicyErrorKind`]. To see every problem at
    /// once, with warnings, use [`lint`](crate::lint).
    pub fn parse(body: &[u8]) -> Result<Self, PolicyError> {
        match walk(body, None, &mut FirstError)? {
            Some(fields) => Self::from_fields(fields),
            // FirstError ends the walk at the first error, so a walk that returns found none.
            None => Err(PolicyError::new(
                None,
                PolicyErrorKind::MissingField("version"),
            )),
        }
    }

    /// A policy in canonical field order: version, mode, each mx, max_age.
    pub fn new(mode: Mode, max_age: MaxAge, mx: Vec<MxPattern>) -> Result<Self, PolicyError> {
        let mut order = vec![Slot::Version, Slot::Mode];
        order.extend((0..mx.len()).map(Slot::Mx));
        order.push(Slot::MaxAge);
        Self::from_fields(Fields {
            version: Version::StsV1,
            mode,
            max_age,
            mx,
            extensions: Vec::new(),
            order,
        })
    }

    /// The one way a `Policy` is made, by [`parse`](Self::parse) and [`new`](Self::new) alike: the
    /// rules on the file as a whole are checked here, whoever gathered the fields.
    fn from_fields(fields: Fields) -> Result<Self, PolicyError> {
        grammar::check_mx_count(fields.mode, fields.mx.len())
            .map_err(|kind| PolicyError::new(None, kind))?;
        let Fields {
            version,
            mode,
            max_age,
            mut mx,
            extensions,
            mut order,
        } = fields;
        // A cache may hold a million policies: spare capacity left by pushing would be a quarter
        // of each one's memory.
        mx.shrink_to_fit();
        order.shrink_to_fit();
        Ok(Self {
            version,
            mode,
            max_age,
            mx,
            extensions,
            order,
        })
    }

    /// Appends an extension line, checking it as the parser would. Known keys are refused.
    pub fn with_extension(mut self, name: &str, value: &str) -> Result<Self, PolicyError> {
        let line = format!("{name}: {value}");
        let err = |kind| PolicyError::new(None, kind);
        let Line::Field {
            name: key,
            value: val,
        } = policy_line(&line).map_err(err)?
        else {
            return Err(err(PolicyErrorKind::EmptyValue(name.to_owned())));
        };
        if KNOWN_KEYS.contains(&key) {
            return Err(err(PolicyErrorKind::ReservedKey(name.to_owned())));
        }
        if key != name || val != value {
            return Err(err(PolicyErrorKind::ValueWhitespace(name.to_owned())));
        }
        if self.extensions.iter().any(|e| e.name() == name) {
            return Err(err(PolicyErrorKind::DuplicateKey(name.to_owned())));
        }
        if self.extensions.len() == Self::MAX_EXTENSIONS {
            let max = Self::MAX_EXTENSIONS;
            return Err(err(PolicyErrorKind::TooManyExtensions { max }));
        }
        self.order.push(Slot::Extension(self.extensions.len()));
        self.extensions.push(Extension::new_unchecked(name, value));
        Ok(self)
    }

    /// The policy format version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The lifetime, clamped to [`MaxAge::MAX`].
    pub fn max_age(&self) -> MaxAge {
        self.max_age
    }

    /// The mx patterns in file order (duplicates kept, as published).
    pub fn mx(&self) -> &[MxPattern] {
        &self.mx
    }

    /// Unknown fields, first occurrence of each, in file order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Whether an MX host name matches any of the policy's patterns (RFC 8461 §4.1).
    pub fn matches_mx(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }

    /// The policy's lines as `key: value` strings, in file order, for the TLSRPT `policy-string`
    /// field (RFC 8460 §4.5, RPT-11) and Postfix's `policy_string` attributes.
    pub fn policy_strings(&self) -> impl Iterator<Item = String> + '_ {
        self.order.iter().map(|slot| self.line(*slot).to_string())
    }

    fn line(&self, slot: Slot) -> PolicyLine<'_> {
        match slot {
            Slot::Version => PolicyLine("version", LineValue::Str(self.version.as_str())),
            Slot::Mode => PolicyLine("mode", LineValue::Str(self.mode.as_str())),
            Slot::MaxAge => PolicyLine("max_age", LineValue::Num(self.max_age.as_secs())),
            Slot::Mx(i) => PolicyLine("mx", LineValue::Str(self.mx[i].as_str())),
            Slot::Extension(i) => {
                let ext = &self.extensions[i];
                PolicyLine(ext.name(), LineValue::Str(ext.value()))
            }
        }
    }
}

struct PolicyLine<'a>(&'a str, LineValue<'a>);

enum LineValue<'a> {
    Str(&'a str),
    Num(u32),
}

impl fmt::Display for PolicyLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            LineValue::Str(v) => write!(f, "{}: {v}", self.0),
            LineValue::Num(v) => write!(f, "{}: {v}", self.0),
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

/// The canonical file: one `key: value` per line in file order, each ended by CRLF (the RFC's prose
/// says "CRLF-separated"; parsers accept LF too).
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for slot in &self.order {
            write!(f, "{}\r\n", self.line(*slot))?;
        }
        Ok(())
    }
}

/// The parser's sink: the first error ends the walk, warnings are not computed.
#[derive(Debug)]
struct FirstError;

impl Sink for FirstError {
    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError> {
        Err(PolicyError::new(line, kind))
    }

    fn warning(&mut self, _line: Option<usize>, _warning: Warning) {}

    fn wants_warnings(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_requires_mx_unless_none() {
        let age = MaxAge::new(86_400).unwrap();
        assert!(Policy::new(Mode::Enforce, age, vec![]).is_err());
        assert!(Policy::new(Mode::None, age, vec![]).is_ok());
        let p = Policy::new(Mode::Testing, age, vec!["mx.example".parse().unwrap()]).unwrap();
        assert_eq!(
            p.to_string(),
            "version: STSv1\r\nmode: testing\r\nmx: mx.example\r\nmax_age: 86400\r\n"
        );
    }

    #[test]
    fn with_extension_checks() {
        let age = MaxAge::new(86_400).unwrap();
        let p = Policy::new(Mode::None, age, vec![]).unwrap();
        let p = p.with_extension("note", "café au lait").unwrap();
        assert_eq!(p.extensions()[0].value(), "café au lait");
        assert!(p.clone().with_extension("mode", "enforce").is_err());
        assert_eq!(
            p.clone()
                .with_extension("note", "again")
                .unwrap_err()
                .kind(),
            &PolicyErrorKind::DuplicateKey("note".into())
        );
        assert!(p.clone().with_extension("bad key", "x").is_err());
        assert!(p.clone().with_extension("x", "a\tb").is_err());
        assert!(p.clone().with_extension("x", " lead").is_err());
        assert_eq!(p.to_string().parse::<Policy>().unwrap(), p);
    }
}
