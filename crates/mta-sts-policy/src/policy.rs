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
///
/// A cache may hold a million policies, so a policy is kept compact: its mx patterns share one
/// allocation, and only a policy with extension lines has a second one.
#[derive(Clone)]
pub struct Policy {
    /// The mx patterns in file order, each followed by `\n` (a pattern never contains one).
    mx: Box<str>,
    /// Only for a policy with extension lines (rare): those, and the order of all lines.
    extra: Option<Box<Extra>>,
    mx_count: u16,
    /// Without `extra`: the line numbers (from 0) of the version, mode and max_age lines; the
    /// other lines are the mx lines, in order.
    fixed: [u16; 3],
    max_age: MaxAge,
    mode: Mode,
    version: Version,
}

#[derive(Debug, Clone)]
struct Extra {
    extensions: Box<[Extension]>,
    order: Box<[Slot]>,
}

/// One line of a policy, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PolicyField<'a> {
    Version(Version),
    Mode(Mode),
    MaxAge(MaxAge),
    Mx(MxPattern<&'a str>),
    Extension(&'a Extension),
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version)
            .field("mode", &self.mode)
            .field("max_age", &self.max_age)
            .field("mx", &self.mx().collect::<Vec<_>>())
            .field("extensions", &self.extensions())
            .finish()
    }
}

/// Equal when they have the same lines in the same order (mx patterns ignoring ASCII case).
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.fields().eq(other.fields())
    }
}

impl Eq for Policy {}

impl std::hash::Hash for Policy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for field in self.fields() {
            field.hash(state);
        }
    }
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
            mx,
            extensions,
            order,
        } = fields;
        let mut text = String::with_capacity(mx.iter().map(|p| p.as_str().len() + 1).sum());
        for pattern in &mx {
            text.push_str(pattern.as_str());
            text.push('\n');
        }
        // Both bounded far below u16::MAX (MAX_MX, MAX_EXTENSIONS).
        let position = |wanted: Slot| {
            let at = order.iter().position(|slot| *slot == wanted);
            at.and_then(|at| u16::try_from(at).ok()).unwrap_or(u16::MAX)
        };
        let fixed = [
            position(Slot::Version),
            position(Slot::Mode),
            position(Slot::MaxAge),
        ];
        let extra = (!extensions.is_empty()).then(|| {
            Box::new(Extra {
                extensions: extensions.into_boxed_slice(),
                order: order.into_boxed_slice(),
            })
        });
        Ok(Self {
            mx: text.into_boxed_str(),
            extra,
            mx_count: u16::try_from(mx.len()).unwrap_or(u16::MAX),
            fixed,
            max_age,
            mode,
            version,
        })
    }

    /// The lines in file order.
    fn fields(&self) -> impl Iterator<Item = PolicyField<'_>> + '_ {
        let mut mx = self.mx();
        let extensions = self.extensions();
        let lines = match &self.extra {
            Some(extra) => extra.order.len(),
            None => 3 + usize::from(self.mx_count),
        };
        (0..lines).filter_map(move |line| {
            let slot = match &self.extra {
                Some(extra) => extra.order[line],
                None => match self.fixed.iter().position(|&at| usize::from(at) == line) {
                    Some(0) => Slot::Version,
                    Some(1) => Slot::Mode,
                    Some(_) => Slot::MaxAge,
                    None => Slot::Mx(0),
                },
            };
            Some(match slot {
                Slot::Version => PolicyField::Version(self.version),
                Slot::Mode => PolicyField::Mode(self.mode),
                Slot::MaxAge => PolicyField::MaxAge(self.max_age),
                // mx lines come in file order, so the next one is the one this line holds.
                Slot::Mx(_) => PolicyField::Mx(mx.next()?),
                Slot::Extension(i) => PolicyField::Extension(extensions.get(i)?),
            })
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
        if self.extensions().iter().any(|e| e.name() == name) {
            return Err(err(PolicyErrorKind::DuplicateKey(name.to_owned())));
        }
        if self.extensions().len() == Self::MAX_EXTENSIONS {
            let max = Self::MAX_EXTENSIONS;
            return Err(err(PolicyErrorKind::TooManyExtensions { max }));
        }
        let mut order: Vec<Slot> = self
            .fields()
            .enumerate()
            .map(|(line, field)| match field {
                PolicyField::Version(_) => Slot::Version,
                PolicyField::Mode(_) => Slot::Mode,
                PolicyField::MaxAge(_) => Slot::MaxAge,
                PolicyField::Mx(_) => Slot::Mx(line),
                PolicyField::Extension(_) => Slot::Extension(line),
            })
            .collect();
        let mut extensions = self.extensions().to_vec();
        order.push(Slot::Extension(extensions.len()));
        extensions.push(Extension::new_unchecked(name, value));
        // Extension slots index the extensions in order; renumber the ones kept.
        let mut next = 0;
        for slot in &mut order {
            if let Slot::Extension(i) = slot {
                *i = next;
                next += 1;
            }
        }
        self.extra = Some(Box::new(Extra {
            extensions: extensions.into_boxed_slice(),
            order: order.into_boxed_slice(),
        }));
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

    /// The mx patterns in file order (duplicates kept, as published), lent from the policy.
    ///
    /// ```
    /// use mta_sts_policy::Policy;
    ///
    /// let policy: Policy = "version: STSv1\nmode: enforce\nmx: a.example\nmx: *.b.example\nmax_age: 86400\n".parse()?;
    /// assert_eq!(policy.mx().len(), 2);
    /// let patterns: Vec<&str> = policy.mx().map(|p| p.as_str()).collect();
    /// assert_eq!(patterns, ["a.example", "*.b.example"]);
    /// # Ok::<(), mta_sts_policy::PolicyError>(())
    /// ```
    pub fn mx(&self) -> MxPatterns<'_> {
        MxPatterns {
            lines: self.mx.split_terminator('\n'),
            left: usize::from(self.mx_count),
        }
    }

    /// Unknown fields, first occurrence of each, in file order.
    pub fn extensions(&self) -> &[Extension] {
        self.extra.as_ref().map_or(&[], |extra| &extra.extensions)
    }

    /// Whether an MX host name matches any of the policy's patterns (RFC 8461 §4.1).
    pub fn matches_mx(&self, host: &str) -> bool {
        self.mx().any(|p| p.matches(host))
    }

    /// The policy's lines as `key: value` strings, in file order, for the TLSRPT `policy-string`
    /// field (RFC 8460 §4.5, RPT-11) and Postfix's `policy_string` attributes.
    pub fn policy_strings(&self) -> impl Iterator<Item = String> + '_ {
        self.fields().map(|field| field.to_string())
    }
}

/// The mx patterns of a [`Policy`], in file order: see [`Policy::mx`].
#[derive(Debug, Clone)]
pub struct MxPatterns<'a> {
    lines: std::str::SplitTerminator<'a, char>,
    left: usize,
}

impl MxPatterns<'_> {
    /// Whether the policy has no mx pattern left to give (a policy of mode `none` may have none).
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl<'a> Iterator for MxPatterns<'a> {
    type Item = MxPattern<&'a str>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.lines.next()?;
        self.left -= 1;
        Some(MxPattern::lent(line))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for MxPatterns<'_> {}

/// The line as `key: value`.
impl fmt::Display for PolicyField<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "version: {}", v.as_str()),
            Self::Mode(m) => write!(f, "mode: {}", m.as_str()),
            Self::MaxAge(a) => write!(f, "max_age: {}", a.as_secs()),
            Self::Mx(p) => write!(f, "mx: {p}"),
            Self::Extension(e) => write!(f, "{}: {}", e.name(), e.value()),
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
        for field in self.fields() {
            write!(f, "{field}\r\n")?;
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

    /// The compact form keeps every line in file order, whatever the order and the extensions.
    #[test]
    fn rpt_11_file_order_kept() {
        let table = [
            "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmx: *.b.example\r\nmax_age: 86400\r\n",
            "max_age: 86400\r\nmx: a.example\r\nmode: testing\r\nmx: A.example\r\nversion: STSv1\r\n",
            "version: STSv1\r\nx: 1\r\nmode: none\r\nmax_age: 5\r\ny: two words\r\n",
            "mx: a.example\r\nnote: é\r\nmx: c.example\r\nversion: STSv1\r\nmax_age: 1\r\nmode: enforce\r\n",
        ];
        for text in table {
            let policy: Policy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
            let lines: Vec<String> = policy.policy_strings().collect();
            assert_eq!(lines.join("\r\n") + "\r\n", text);
            assert_eq!(policy.mx().len(), text.matches("mx: ").count());
            assert_eq!(policy.to_string().parse::<Policy>().unwrap(), policy);
        }
        let a: Policy = table[0].parse().unwrap();
        let b: Policy = table[0].replace("a.example", "A.EXAMPLE").parse().unwrap();
        assert_eq!(a, b, "mx patterns compare ignoring case");
        let c: Policy = table[0].replace("mx: a.example\r\n", "").parse().unwrap();
        assert_ne!(a, c);
    }

    /// A million policies may be cached: the fixed part stays small (one word per field).
    #[test]
    fn compact() {
        assert!(size_of::<Policy>() <= 40);
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
