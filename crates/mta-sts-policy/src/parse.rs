//! The policy grammar (RFC 8461 §3.2), shared by [`Policy::parse`] and [`lint`](crate::lint).
//!
//! [`policy_line`] applies the ABNF to one line; [`analyze`] walks the file, checks each field's
//! value and the file as a whole, and reports to a [`Sink`]: the parser's sink stops at the first
//! error and ignores warnings, the linter's collects everything.

use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::char as one_char;
use nom::{IResult, Parser};

use crate::lint::Warning;
use crate::policy::{Extension, Slot, Version};
use crate::{MaxAge, Mode, MxPattern, Policy, PolicyError, PolicyErrorKind};

/// The keys RFC 8461 defines; any other key is an extension.
pub(crate) const KNOWN_KEYS: [&str; 4] = ["version", "mode", "max_age", "mx"];

/// Receives what [`analyze`] finds.
pub(crate) trait Sink {
    /// Records an error; returning `Err` stops the analysis.
    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError>;
    /// Records a warning. Only called when [`wants_warnings`](Self::wants_warnings) is true.
    fn warning(&mut self, line: Option<usize>, warning: Warning);
    /// Whether warnings are worth computing.
    fn wants_warnings(&self) -> bool;
}

/// The parser's sink: first error wins, warnings are not computed.
#[derive(Debug)]
pub(crate) struct ParseSink;

impl Sink for ParseSink {
    fn error(&mut self, line: Option<usize>, kind: PolicyErrorKind) -> Result<(), PolicyError> {
        Err(PolicyError::new(line, kind))
    }

    fn warning(&mut self, _line: Option<usize>, _warning: Warning) {}

    fn wants_warnings(&self) -> bool {
        false
    }
}

/// One line of a policy file, after the ABNF.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// Empty or whitespace only (no ABNF production; accepted ).
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

/// The first line each non-repeated field was seen on and its value if that was valid (POL-8), and
/// whether an `mx` line was refused. A field seen but invalid is not also reported as missing.
#[derive(Default)]
struct Seen {
    version: Option<(usize, Option<Version>)>,
    mode: Option<(usize, Option<Mode>)>,
    max_age: Option<(usize, Option<MaxAge>)>,
    mx_refused: bool,
}

impl Seen {
    /// A line the line grammar refused but whose key is still plain (` max_age: 1`, `mode : none`):
    /// the field is there, only malformed.
    fn malformed(&mut self, number: usize, line: &str) {
        match intended_key(line) {
            Some("version") => _ = self.version.get_or_insert((number, None)),
            Some("mode") => _ = self.mode.get_or_insert((number, None)),
            Some("max_age") => _ = self.max_age.get_or_insert((number, None)),
            Some("mx") => self.mx_refused = true,
            _ => {}
        }
    }
}

/// The key a malformed line was meant to have: after any leading whitespace, the letters, digits
/// and `_` before an optional run of whitespace and a `:`.
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

/// Walks a whole policy body. Returns the policy when no error was reported.
pub(crate) fn analyze<S: Sink>(
    body: &[u8],
    policy_domain: Option<&str>,
    sink: &mut S,
) -> Result<Option<Policy>, PolicyError> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let line = body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            sink.error(Some(line), PolicyErrorKind::NotUtf8)?;
            return Ok(None);
        }
    };
    if text.starts_with('\u{feff}') {
        sink.error(Some(1), PolicyErrorKind::ByteOrderMark)?;
        return Ok(None);
    }
    let mut failed = false;
    let mut report = |sink: &mut S, line, kind| {
        failed = true;
        sink.error(line, kind)
    };
    let mut seen = Seen::default();
    let mut mx: Vec<MxPattern> = Vec::new();
    let mut extensions: Vec<(usize, Extension)> = Vec::new();
    let mut order = Vec::new();
    let (mut crlf, mut lf) = (0usize, 0usize);
    let mut pieces = text.split('\n').peekable();
    let mut number = 0;
    while let Some(piece) = pieces.next() {
        number += 1;
        let terminated = pieces.peek().is_some();
        if !terminated && piece.is_empty() {
            break; // the text after the final LF
        }
        let line = match piece.strip_suffix('\r') {
            Some(line) if terminated => {
                crlf += 1;
                line
            }
            _ => {
                lf += usize::from(terminated);
                piece
            }
        };
        let parsed = if line.contains('\r') {
            Err(PolicyErrorKind::ControlCharacter(b'\r'))
        } else {
            policy_line(line)
        };
        let (name, value) = match parsed {
            Ok(Line::Field { name, value }) => (name, value),
            Ok(Line::Blank) => {
                if sink.wants_warnings() {
                    sink.warning(Some(number), Warning::BlankLine);
                }
                continue;
            }
            Err(kind) => {
                report(sink, Some(number), kind)?;
                seen.malformed(number, line);
                continue;
            }
        };
        // POL-8: only the first of a non-repeated key counts. A later one is still a grammatical line
        // (it fits sts-policy-extension), so it is ignored without judging its value.
        match name {
            "version" => {
                if let Some((first, _)) = seen.version {
                    duplicate(sink, number, name, first, || parse_version(value).err());
                    continue;
                }
                let parsed = parse_version(value);
                seen.version = Some((number, parsed.as_ref().ok().copied()));
                match parsed {
                    Ok(_) => order.push(Slot::Version),
                    Err(kind) => report(sink, Some(number), kind)?,
                }
            }
            "mode" => {
                if let Some((first, _)) = seen.mode {
                    duplicate(sink, number, name, first, || {
                        value.parse::<Mode>().map_err(|e| e.kind().clone()).err()
                    });
                    continue;
                }
                let parsed = value.parse::<Mode>().map_err(|e| e.kind().clone());
                seen.mode = Some((number, parsed.as_ref().ok().copied()));
                match parsed {
                    Ok(_) => order.push(Slot::Mode),
                    Err(kind) => report(sink, Some(number), kind)?,
                }
            }
            "max_age" => {
                if let Some((first, _)) = seen.max_age {
                    duplicate(sink, number, name, first, || {
                        MaxAge::parse_value(value).err()
                    });
                    continue;
                }
                let parsed = MaxAge::parse_value(value);
                seen.max_age = Some((number, parsed.as_ref().ok().map(|(age, _)| *age)));
                match parsed {
                    Ok((age, clamped)) => {
                        if sink.wants_warnings() {
                            max_age_warnings(sink, number, age, clamped);
                        }
                        order.push(Slot::MaxAge);
                    }
                    Err(kind) => report(sink, Some(number), kind)?,
                }
            }
            "mx" => match value.parse::<MxPattern>() {
                Err(reason) => {
                    seen.mx_refused = true;
                    let value = value.to_owned();
                    report(
                        sink,
                        Some(number),
                        PolicyErrorKind::InvalidMx { value, reason },
                    )?;
                }
                Ok(_) if mx.len() == Policy::MAX_MX => {
                    seen.mx_refused = true;
                    let kind = PolicyErrorKind::TooManyMx {
                        max: Policy::MAX_MX,
                    };
                    report(sink, Some(number), kind)?;
                }
                Ok(pattern) => {
                    if sink.wants_warnings() {
                        let dot = value.ends_with('.');
                        mx_warnings(sink, number, &pattern, dot, &mx, policy_domain);
                    }
                    order.push(Slot::Mx(mx.len()));
                    mx.push(pattern);
                }
            },
            _ => {
                // Bounded by MAX_EXTENSIONS, so this scan keeps the parse linear.
                if let Some((first, _)) = extensions.iter().find(|(_, e)| e.name() == name) {
                    duplicate(sink, number, name, *first, || None);
                    continue;
                }
                if extensions.len() == Policy::MAX_EXTENSIONS {
                    let kind = PolicyErrorKind::TooManyExtensions {
                        max: Policy::MAX_EXTENSIONS,
                    };
                    report(sink, Some(number), kind)?;
                    continue;
                }
                let case_typo = KNOWN_KEYS.iter().find(|k| k.eq_ignore_ascii_case(name));
                if let Some(known) = case_typo.filter(|_| sink.wants_warnings()) {
                    let found = name.into();
                    sink.warning(Some(number), Warning::KeyCase { found, known });
                }
                order.push(Slot::Extension(extensions.len()));
                extensions.push((number, Extension::new_unchecked(name, value)));
            }
        }
    }
    if sink.wants_warnings() {
        if lf > 0 && crlf > 0 {
            sink.warning(None, Warning::MixedLineEnds { lf, crlf });
        } else if lf > 0 {
            sink.warning(None, Warning::LfLineEnds);
        }
    }
    let mode = seen.mode.and_then(|m| m.1);
    let missing = [
        (seen.version.is_none(), "version"),
        (seen.mode.is_none(), "mode"),
        (seen.max_age.is_none(), "max_age"),
    ];
    for (absent, field) in missing {
        if absent {
            report(sink, None, PolicyErrorKind::MissingField(field))?;
        }
    }
    match mode {
        Some(mode) if mode.requires_mx() && mx.is_empty() && !seen.mx_refused => {
            report(sink, None, PolicyErrorKind::MissingMx(mode))?;
        }
        Some(Mode::None) if !mx.is_empty() && sink.wants_warnings() => {
            sink.warning(None, Warning::MxInModeNone);
        }
        _ => {}
    }
    let (Some(mode), Some((_, Some(max_age))), false) = (mode, seen.max_age, failed) else {
        return Ok(None);
    };
    // A cache may hold a million policies: spare capacity left by pushing would be a quarter of
    // each one's memory.
    let (mut mx, mut order) = (mx, order);
    mx.shrink_to_fit();
    order.shrink_to_fit();
    Ok(Some(Policy {
        version: Version::StsV1,
        mode,
        max_age,
        mx,
        extensions: extensions.into_iter().map(|(_, e)| e).collect(),
        order,
    }))
}

/// A repeated non-repeated key. `invalid` says what would be wrong with its value if it counted;
/// it is asked only for the linter's message, the parser never judges an ignored value.
fn duplicate<S: Sink>(
    sink: &mut S,
    line: usize,
    name: &str,
    first: usize,
    invalid: impl FnOnce() -> Option<PolicyErrorKind>,
) {
    if sink.wants_warnings() {
        let invalid = invalid();
        sink.warning(
            Some(line),
            Warning::Duplicate {
                name: name.into(),
                first,
                invalid,
            },
        );
    }
}

/// `sts-policy-version-value = %s"STSv1"` (POL-3).
fn parse_version(value: &str) -> Result<Version, PolicyErrorKind> {
    if value == Version::StsV1.as_str() {
        Ok(Version::StsV1)
    } else {
        Err(PolicyErrorKind::InvalidVersion(value.into()))
    }
}

fn max_age_warnings<S: Sink>(sink: &mut S, line: usize, age: MaxAge, clamped: bool) {
    if clamped {
        sink.warning(Some(line), Warning::MaxAgeClamped);
    } else if age.as_secs() == 0 {
        sink.warning(Some(line), Warning::MaxAgeZero);
    } else if age.as_secs() < 86_400 {
        sink.warning(Some(line), Warning::MaxAgeShort(age.as_secs()));
    }
}

fn mx_warnings<S: Sink>(
    sink: &mut S,
    line: usize,
    pattern: &MxPattern,
    trailing_dot: bool,
    earlier: &[MxPattern],
    policy_domain: Option<&str>,
) {
    if trailing_dot {
        sink.warning(Some(line), Warning::MxTrailingDot);
    }
    if earlier
        .iter()
        .any(|p| p.as_str().eq_ignore_ascii_case(pattern.as_str()))
    {
        sink.warning(Some(line), Warning::DuplicateMx(pattern.as_str().into()));
    }
    if pattern.is_wildcard() {
        let suffix = pattern.domain();
        let domain = policy_domain.map(|d| d.strip_suffix('.').unwrap_or(d));
        if !suffix.contains('.') {
            sink.warning(Some(line), Warning::WildcardTld(pattern.as_str().into()));
        } else if domain.is_some_and(|d| d.eq_ignore_ascii_case(suffix)) {
            sink.warning(Some(line), Warning::WildcardDomain(pattern.as_str().into()));
        }
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
        assert_eq!(policy_line("_x: 1"), Err(PolicyErrorKind::InvalidKey('_')));
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
}
