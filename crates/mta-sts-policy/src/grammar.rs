//! The policy grammar (RFC 8461 §3.2): the ABNF of one line, and the walk over a whole file.
//!
//! [`walk`] reports what it finds, errors and [`Warning`]s, to a [`Sink`], and returns the
//! [`Fields`] of a file that had no error. [`Policy::parse`](crate::Policy::parse)'s sink stops at
//! the first error and ignores warnings; [`lint`](crate::lint)'s collects everything.

use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::char as one_char;
use nom::{IResult, Parser};

use crate::extension::Extension;
use crate::version::Version;
use crate::warning::Warning;
use crate::{MaxAge, Mode, MxPattern, PolicyError, PolicyErrorKind};

/// The keys RFC 8461 defines; any other key is an extension.
pub(crate) const KNOWN_KEYS: [&str; 4] = ["version", "mode", "max_age", "mx"];

/// The most `mx` lines a policy may have (SEC-1); see [`Policy::MAX_MX`](crate::Policy::MAX_MX).
pub(crate) const MAX_MX: usize = 1000;

/// The most distinct unknown keys a policy may have (SEC-1); see
/// [`Policy::MAX_EXTENSIONS`](crate::Policy::MAX_EXTENSIONS).
pub(crate) const MAX_EXTENSIONS: usize = 100;

/// The body size senders read up to: RFC 8461 §3.3 suggests 64 KiB, and the sender of this
/// workspace (mta-sts-fetch) and the reference resolvers stop there (FETCH-8).
const SENDER_BODY_LIMIT: usize = 64 * 1024;

/// Receives what [`walk`] finds.
pub(crate) trait Sink {
    /// Records an error; returning `Err` stops the walk.
    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError>;
    /// Records a warning. Only called when [`wants_warnings`](Self::wants_warnings) is true.
    fn warning(&mut self, line: Option<usize>, warning: Warning);
    /// Whether warnings are worth computing.
    fn wants_warnings(&self) -> bool;
}

/// Which field a line of the file carried, to keep file order (RPT-11) without duplicating data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Slot {
    Version,
    Mode,
    MaxAge,
    Mx(usize),
    Extension(usize),
}

/// The fields of a policy and the order of their lines: what a valid file, or
/// [`Policy::new`](crate::Policy::new), hands to `Policy`.
#[derive(Debug)]
pub(crate) struct Fields {
    pub(crate) version: Version,
    pub(crate) mode: Mode,
    pub(crate) max_age: MaxAge,
    pub(crate) mx: Vec<MxPattern>,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) order: Vec<Slot>,
}

/// The rule on the number of `mx` lines: at least one unless the mode is `none` (POL-2), at most
/// [`MAX_MX`] (SEC-1).
pub(crate) fn check_mx_count(mode: Mode, count: usize) -> Result<(), PolicyErrorKind> {
    if mode.requires_mx() && count == 0 {
        Err(PolicyErrorKind::MissingMx(mode))
    } else if count > MAX_MX {
        Err(PolicyErrorKind::TooManyMx { max: MAX_MX })
    } else {
        Ok(())
    }
}

/// One line of a policy file, after the ABNF.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// Empty or whitespace only (no ABNF production; accepted, see A-5).
    Blank,
    /// `key: value` with the delimiter and trailing whitespace removed.
    Field { name: &'a str, value: &'a str },
}

type Rule<'a, T> = IResult<&'a str, T, ()>;

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `sts-policy-ext-name = (sts-policy-alphanum) *31(sts-policy-alphanum / "_" / "-" / ".")`
///
/// Every known key (`max_age` included) fits this rule too, so it reads the key of every line.
fn sts_policy_ext_name(input: &str) -> Rule<'_, &str> {
    let (rest, name) =
        take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .parse(input)?;
    if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Ok((rest, name))
    } else {
        Err(nom::Err::Error(()))
    }
}

/// `sts-policy-field-delim = ":" *WSP`
fn sts_policy_field_delim(input: &str) -> Rule<'_, ()> {
    let (rest, _) = (one_char(':'), take_while(is_wsp)).parse(input)?;
    Ok((rest, ()))
}

/// `sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]`,
/// where `sts-policy-vchar = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4`.
///
/// The caller has already removed trailing `*WSP`; this checks what is left.
fn sts_policy_ext_value(value: &str) -> Result<(), PolicyErrorKind> {
    match value.bytes().find(|&b| b < 0x20 || b == 0x7f) {
        Some(ctl) => Err(PolicyErrorKind::ControlCharacter(ctl)),
        None => Ok(()),
    }
}

/// `sts-policy-field *WSP` on one line (the terminator already removed).
pub(crate) fn policy_line(line: &str) -> Result<Line<'_>, PolicyErrorKind> {
    if line.chars().all(is_wsp) {
        return Ok(Line::Blank);
    }
    if line.starts_with(is_wsp) {
        return Err(PolicyErrorKind::LeadingWhitespace);
    }
    let Ok((rest, name)) = sts_policy_ext_name(line) else {
        return Err(match line.chars().next() {
            Some(':') => PolicyErrorKind::EmptyKey,
            Some(c @ ('_' | '-' | '.')) => PolicyErrorKind::InvalidKeyStart(c),
            Some(c) if c.is_ascii_control() => PolicyErrorKind::ControlCharacter(c as u8),
            Some(c) => PolicyErrorKind::InvalidKey(c),
            None => PolicyErrorKind::MissingColon,
        });
    };
    if name.len() > 32 {
        return Err(PolicyErrorKind::KeyTooLong);
    }
    let Ok((value, ())) = sts_policy_field_delim(rest) else {
        return Err(match rest.chars().next() {
            None => PolicyErrorKind::MissingColon,
            Some(c) if is_wsp(c) => {
                if rest.trim_start_matches(is_wsp).starts_with(':') {
                    PolicyErrorKind::WhitespaceBeforeColon
                } else if rest.contains(':') {
                    PolicyErrorKind::InvalidKey(c)
                } else {
                    PolicyErrorKind::MissingColon
                }
            }
            Some(c) if c.is_ascii_control() => PolicyErrorKind::ControlCharacter(c as u8),
            Some(c) => PolicyErrorKind::InvalidKey(c),
        });
    };
    let value = value.trim_end_matches(is_wsp);
    if value.is_empty() {
        return Err(PolicyErrorKind::EmptyValue(name.to_owned()));
    }
    sts_policy_ext_value(value)?;
    Ok(Line::Field { name, value })
}

/// The key a line refused by [`policy_line`] was meant to have: after any leading whitespace, the
/// letters, digits and `_` before an optional run of whitespace and a `:`.
fn intended_key(line: &str) -> Option<&str> {
    let line = line.trim_start_matches(is_wsp);
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    rest.trim_start_matches(is_wsp)
        .starts_with(':')
        .then_some(key)
}

/// How a line ended: `sts-policy-term = LF / CRLF`, and the last line may have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Lf,
    Crlf,
    Eof,
}

/// The lines of a body, numbered from 1, without their terminators.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str, Term)> {
    text.split_inclusive('\n')
        .zip(1..)
        .map(|(piece, number)| match piece.strip_suffix('\n') {
            Some(line) => match line.strip_suffix('\r') {
                Some(line) => (number, line, Term::Crlf),
                None => (number, line, Term::Lf),
            },
            None => (number, piece, Term::Eof),
        })
}

/// The body as text (FETCH-12): UTF-8 without a byte order mark. The error names its line.
fn text(body: &[u8]) -> Result<&str, (usize, PolicyErrorKind)> {
    match std::str::from_utf8(body) {
        Err(e) => {
            let newlines = body[..e.valid_up_to()].iter().filter(|&&b| b == b'\n');
            Err((newlines.count() + 1, PolicyErrorKind::NotUtf8))
        }
        Ok(text) if text.starts_with('\u{feff}') => Err((1, PolicyErrorKind::ByteOrderMark)),
        Ok(text) => Ok(text),
    }
}

/// Walks a whole policy body. Returns its fields when no error was reported.
pub(crate) fn walk<S: Sink>(
    body: &[u8],
    policy_domain: Option<&str>,
    sink: &mut S,
) -> Result<Option<Fields>, PolicyError> {
    if body.len() > SENDER_BODY_LIMIT && sink.wants_warnings() {
        sink.warning(None, Warning::BodyTooLarge(body.len()));
    }
    let text = match text(body) {
        Ok(text) => text,
        Err((line, kind)) => {
            sink.error(Some(line), kind)?;
            return Ok(None);
        }
    };
    let mut walk = Walk::new(sink, policy_domain);
    for (number, line, term) in lines(text) {
        walk.line(number, line, term)?;
    }
    walk.finish()
}

/// The first occurrence of a non-repeated key (POL-8): its line, and its value if that was valid.
#[derive(Debug, Clone, Copy)]
struct First<T> {
    line: usize,
    value: Option<T>,
}

impl<T> First<T> {
    fn invalid(line: usize) -> Self {
        Self { line, value: None }
    }
}

/// One walk over a file: what each key has contributed so far, with one handler per key.
struct Walk<'a, S> {
    sink: &'a mut S,
    policy_domain: Option<&'a str>,
    failed: bool,
    version: Option<First<Version>>,
    mode: Option<First<Mode>>,
    max_age: Option<First<MaxAge>>,
    mx: Vec<MxPattern>,
    /// An `mx` line was there but refused, so `enforce` is not also told it has none.
    mx_refused: bool,
    extensions: Vec<(usize, Extension)>,
    order: Vec<Slot>,
    lf: usize,
    crlf: usize,
}

impl<'a, S: Sink> Walk<'a, S> {
    fn new(sink: &'a mut S, policy_domain: Option<&'a str>) -> Self {
        Self {
            sink,
            policy_domain,
            failed: false,
            version: None,
            mode: None,
            max_age: None,
            mx: Vec::new(),
            mx_refused: false,
            extensions: Vec::new(),
            order: Vec::new(),
            lf: 0,
            crlf: 0,
        }
    }

    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError> {
        self.failed = true;
        self.sink.error(line, kind)
    }

    /// Reports a warning, building it only when the sink wants warnings.
    fn warn(&mut self, line: Option<usize>, warning: impl FnOnce() -> Warning) {
        if self.sink.wants_warnings() {
            self.sink.warning(line, warning());
        }
    }

    fn line(&mut self, number: usize, line: &str, term: Term) -> Result<(), PolicyError> {
        match term {
            Term::Lf => self.lf += 1,
            Term::Crlf => self.crlf += 1,
            Term::Eof => {}
        }
        let parsed = if line.contains('\r') {
            Err(PolicyErrorKind::ControlCharacter(b'\r'))
        } else {
            policy_line(line)
        };
        match parsed {
            Ok(Line::Field { name, value }) => match name {
                "version" => self.version(number, value),
                "mode" => self.mode(number, value),
                "max_age" => self.max_age(number, value),
                "mx" => self.mx(number, value),
                _ => self.extension(number, name, value),
            },
            Ok(Line::Blank) => {
                self.warn(Some(number), || Warning::BlankLine);
                Ok(())
            }
            Err(kind) => {
                self.malformed(number, line);
                self.error(Some(number), kind)
            }
        }
    }

    /// A line the line grammar refused but whose key is still plain (` max_age: 1`, `mode : none`):
    /// the field is there, only malformed, so it is not also reported as missing.
    fn malformed(&mut self, number: usize, line: &str) {
        match intended_key(line) {
            Some("version") => _ = self.version.get_or_insert(First::invalid(number)),
            Some("mode") => _ = self.mode.get_or_insert(First::invalid(number)),
            Some("max_age") => _ = self.max_age.get_or_insert(First::invalid(number)),
            Some("mx") => self.mx_refused = true,
            _ => {}
        }
    }

    /// POL-8: a later occurrence of a non-repeated key (any but `mx`) is ignored. A later
    /// `version`, `mode` or `max_age` is still a grammatical line (it fits `sts-policy-extension`),
    /// so its value is not judged: `judge` says what would be wrong with it, and only the linter asks.
    fn repeated(
        &mut self,
        number: usize,
        name: &str,
        first: usize,
        judge: impl FnOnce() -> Option<PolicyErrorKind>,
    ) {
        self.warn(Some(number), || Warning::Duplicate {
            name: name.into(),
            first,
            invalid: judge(),
        });
    }

    /// The first occurrence of a key: in the file order when valid, an error otherwise.
    fn counted<T>(
        &mut self,
        number: usize,
        parsed: Result<T, PolicyErrorKind>,
        slot: Slot,
    ) -> Result<(), PolicyError> {
        match parsed {
            Ok(_) => {
                self.order.push(slot);
                Ok(())
            }
            Err(kind) => self.error(Some(number), kind),
        }
    }

    fn version(&mut self, number: usize, value: &str) -> Result<(), PolicyError> {
        if let Some(first) = self.version {
            self.repeated(number, "version", first.line, || {
                Version::from_value(value).err()
            });
            return Ok(());
        }
        let parsed = Version::from_value(value);
        self.version = Some(First {
            line: number,
            value: parsed.as_ref().ok().copied(),
        });
        self.counted(number, parsed, Slot::Version)
    }

    fn mode(&mut self, number: usize, value: &str) -> Result<(), PolicyError> {
        if let Some(first) = self.mode {
            self.repeated(number, "mode", first.line, || Mode::from_value(value).err());
            return Ok(());
        }
        let parsed = Mode::from_value(value);
        self.mode = Some(First {
            line: number,
            value: parsed.as_ref().ok().copied(),
        });
        self.counted(number, parsed, Slot::Mode)
    }

    fn max_age(&mut self, number: usize, value: &str) -> Result<(), PolicyError> {
        if let Some(first) = self.max_age {
            self.repeated(number, "max_age", first.line, || {
                MaxAge::parse_value(value).err()
            });
            return Ok(());
        }
        let parsed = MaxAge::parse_value(value);
        self.max_age = Some(First {
            line: number,
            value: parsed.as_ref().ok().map(|&(age, _)| age),
        });
        if let Ok((age, clamped)) = parsed
            && let Some(advice) = max_age_advice(age, clamped)
        {
            self.warn(Some(number), || advice);
        }
        self.counted(number, parsed, Slot::MaxAge)
    }

    fn mx(&mut self, number: usize, value: &str) -> Result<(), PolicyError> {
        let pattern = match value.parse::<MxPattern>() {
            Ok(pattern) => pattern,
            Err(reason) => {
                self.mx_refused = true;
                let value = value.to_owned();
                return self.error(Some(number), PolicyErrorKind::InvalidMx { value, reason });
            }
        };
        if self.mx.len() == MAX_MX {
            self.mx_refused = true;
            return self.error(Some(number), PolicyErrorKind::TooManyMx { max: MAX_MX });
        }
        if self.sink.wants_warnings() {
            self.mx_warnings(number, &pattern, value.ends_with('.'));
        }
        self.order.push(Slot::Mx(self.mx.len()));
        self.mx.push(pattern);
        Ok(())
    }

    /// A pattern that is legal but probably not what was meant: written with a trailing dot
    /// (A-9), listed twice, shaped like an address (MATCH-1), or a wildcard too wide (SEC-5).
    fn mx_warnings(&mut self, number: usize, pattern: &MxPattern, trailing_dot: bool) {
        let line = Some(number);
        if trailing_dot {
            self.sink.warning(line, Warning::MxTrailingDot);
        }
        if self
            .mx
            .iter()
            .any(|p| p.as_str().eq_ignore_ascii_case(pattern.as_str()))
        {
            self.sink
                .warning(line, Warning::DuplicateMx(pattern.as_str().into()));
        }
        if pattern.is_address_shaped() {
            self.sink
                .warning(line, Warning::MxAddress(pattern.as_str().into()));
        }
        if pattern.is_wildcard() {
            let suffix = pattern.domain();
            let domain = self.policy_domain.map(|d| d.strip_suffix('.').unwrap_or(d));
            if !suffix.contains('.') {
                self.sink
                    .warning(line, Warning::WildcardTld(pattern.as_str().into()));
            } else if domain.is_some_and(|d| d.eq_ignore_ascii_case(suffix)) {
                self.sink
                    .warning(line, Warning::WildcardDomain(pattern.as_str().into()));
            }
        }
    }

    fn extension(&mut self, number: usize, name: &str, value: &str) -> Result<(), PolicyError> {
        // Bounded by MAX_EXTENSIONS, so this scan keeps the parse linear.
        let earlier = self.extensions.iter().find(|(_, e)| e.name() == name);
        if let Some(&(first, _)) = earlier {
            self.repeated(number, name, first, || None);
            return Ok(());
        }
        if self.extensions.len() == MAX_EXTENSIONS {
            let max = MAX_EXTENSIONS;
            return self.error(Some(number), PolicyErrorKind::TooManyExtensions { max });
        }
        if let Some(known) = KNOWN_KEYS
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(name))
        {
            let found = name.into();
            self.warn(Some(number), || Warning::KeyCase { found, known });
        }
        self.order.push(Slot::Extension(self.extensions.len()));
        self.extensions
            .push((number, Extension::new_unchecked(name, value)));
        Ok(())
    }

    /// The checks on the file as a whole, then its fields if nothing was wrong.
    fn finish(mut self) -> Result<Option<Fields>, PolicyError> {
        let (lf, crlf) = (self.lf, self.crlf);
        if lf > 0 && crlf > 0 {
            self.warn(None, || Warning::MixedLineEnds { lf, crlf });
        } else if lf > 0 {
            self.warn(None, || Warning::LfLineEnds);
        }
        let missing = [
            (self.version.is_none(), "version"),
            (self.mode.is_none(), "mode"),
            (self.max_age.is_none(), "max_age"),
        ];
        for (absent, field) in missing {
            if absent {
                self.error(None, PolicyErrorKind::MissingField(field))?;
            }
        }
        let mode = self.mode.and_then(|m| m.value);
        if let Some(mode) = mode.filter(|_| !self.mx_refused)
            && let Err(kind) = check_mx_count(mode, self.mx.len())
        {
            self.error(None, kind)?;
        }
        if mode == Some(Mode::None) && !self.mx.is_empty() {
            self.warn(None, || Warning::MxInModeNone);
        }
        let version = self.version.and_then(|v| v.value);
        let max_age = self.max_age.and_then(|m| m.value);
        let (Some(version), Some(mode), Some(max_age), false) =
            (version, mode, max_age, self.failed)
        else {
            return Ok(None);
        };
        Ok(Some(Fields {
            version,
            mode,
            max_age,
            mx: self.mx,
            extensions: self.extensions.into_iter().map(|(_, e)| e).collect(),
            order: self.order,
        }))
    }
}

/// What to tell about a legal max_age: clamped (A-3), zero (A-15), or under a day (POL-5).
fn max_age_advice(age: MaxAge, clamped: bool) -> Option<Warning> {
    match age.as_secs() {
        _ if clamped => Some(Warning::MaxAgeClamped),
        0 => Some(Warning::MaxAgeZero),
        secs if secs < 86_400 => Some(Warning::MaxAgeShort(secs)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pol_7_line_grammar() {
        let field = |name, value| Ok(Line::Field { name, value });
        assert_eq!(policy_line("mode:enforce"), field("mode", "enforce"));
        assert_eq!(policy_line("mode: enforce \t"), field("mode", "enforce"));
        assert_eq!(policy_line("mode:\t enforce"), field("mode", "enforce"));
        assert_eq!(
            policy_line("mode : enforce"),
            Err(PolicyErrorKind::WhitespaceBeforeColon)
        );
        assert_eq!(
            policy_line(" mode: enforce"),
            Err(PolicyErrorKind::LeadingWhitespace)
        );
        assert_eq!(policy_line(""), Ok(Line::Blank));
        assert_eq!(policy_line(" \t"), Ok(Line::Blank));
    }

    #[test]
    fn pol_10_extension_lines() {
        let field = |name, value| Ok(Line::Field { name, value });
        assert_eq!(
            policy_line("foo_bar: some value"),
            field("foo_bar", "some value")
        );
        assert_eq!(policy_line("x: caf\u{e9}"), field("x", "caf\u{e9}"));
        assert_eq!(
            policy_line("x: a\tb"),
            Err(PolicyErrorKind::ControlCharacter(b'\t'))
        );
        assert_eq!(policy_line(": value"), Err(PolicyErrorKind::EmptyKey));
        for start in ['_', '-', '.'] {
            let line = format!("{start}x: 1");
            let expected = Err(PolicyErrorKind::InvalidKeyStart(start));
            assert_eq!(policy_line(&line), expected, "{line:?}");
        }
        assert_eq!(policy_line("x_-.: 1"), field("x_-.", "1"));
        assert_eq!(policy_line("x y: 1"), Err(PolicyErrorKind::InvalidKey(' ')));
        assert_eq!(policy_line("x y"), Err(PolicyErrorKind::MissingColon));
        assert_eq!(policy_line("junk"), Err(PolicyErrorKind::MissingColon));
        assert_eq!(
            policy_line("x:"),
            Err(PolicyErrorKind::EmptyValue("x".into()))
        );
        assert_eq!(
            policy_line("k\u{e9}y: 1"),
            Err(PolicyErrorKind::InvalidKey('\u{e9}'))
        );
        let long = format!("{}: 1", "a".repeat(33));
        assert_eq!(policy_line(&long), Err(PolicyErrorKind::KeyTooLong));
        let max = format!("{}: 1", "a".repeat(32));
        assert!(policy_line(&max).is_ok());
    }

    /// POL-6: LF or CRLF, the last terminator optional; a bare CR stays in the line.
    #[test]
    fn pol_6_lines_and_terminators() {
        type Row = (&'static str, &'static [(usize, &'static str, Term)]);
        let table: &[Row] = &[
            ("", &[]),
            ("a", &[(1, "a", Term::Eof)]),
            ("a\n", &[(1, "a", Term::Lf)]),
            ("a\r\nb", &[(1, "a", Term::Crlf), (2, "b", Term::Eof)]),
            ("a\n\n", &[(1, "a", Term::Lf), (2, "", Term::Lf)]),
            ("a\rb\r", &[(1, "a\rb\r", Term::Eof)]),
            ("a\r\r\n", &[(1, "a\r", Term::Crlf)]),
        ];
        for (text, expected) in table {
            assert_eq!(lines(text).collect::<Vec<_>>(), *expected, "{text:?}");
        }
    }

    /// POL-2: the key of a malformed line, so that the field is not also called missing.
    #[test]
    fn pol_2_intended_key_of_a_malformed_line() {
        let table: &[(&str, Option<&str>)] = &[
            (" max_age: 1", Some("max_age")),
            ("mode : none", Some("mode")),
            ("\tmx:a.example", Some("mx")),
            ("mx: a\tb", Some("mx")),
            ("junk", None),
            ("<html>", None),
            ("x y: 1", None),
        ];
        for (line, expected) in table {
            assert_eq!(intended_key(line), *expected, "{line:?}");
        }
    }

    #[test]
    fn sec_1_mx_count() {
        let table: &[(Mode, usize, Result<(), PolicyErrorKind>)] = &[
            (
                Mode::Enforce,
                0,
                Err(PolicyErrorKind::MissingMx(Mode::Enforce)),
            ),
            (
                Mode::Testing,
                0,
                Err(PolicyErrorKind::MissingMx(Mode::Testing)),
            ),
            (Mode::None, 0, Ok(())),
            (Mode::Enforce, MAX_MX, Ok(())),
            (
                Mode::None,
                MAX_MX + 1,
                Err(PolicyErrorKind::TooManyMx { max: MAX_MX }),
            ),
        ];
        for (mode, count, expected) in table {
            assert_eq!(check_mx_count(*mode, *count), *expected, "{mode} {count}");
        }
    }
}
