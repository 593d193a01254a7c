//! The local part of a mail address (RFC 5322 §3.4.1, as RFC 6068 §2 puts it in a `mailto:` URI).

use std::borrow::Cow;

/// Why the local part of a `mailto:` reporting address is not one a mail server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum LocalPartProblem {
    /// Percent-decoding (RFC 6068 §2) gives bytes that are not UTF-8.
    #[error("its percent-encoded bytes are not UTF-8")]
    NotUtf8,
    /// Nothing before the `@`.
    #[error("it is empty")]
    Empty,
    /// A character outside US-ASCII: RFC 5322 addresses are ASCII, and only servers offering
    /// SMTPUTF8 (RFC 6531) take others.
    #[error("{0:?} is not US-ASCII, which only SMTPUTF8 servers (RFC 6531) accept")]
    NonAscii(char),
    /// A control character, allowed nowhere in an address.
    #[error("{0:?} is a control character")]
    Control(char),
    /// A character that a dot-atom does not allow (space, `"`, `(`, `)`, `,`, `:`, `<`, `>`, `@`,
    /// `[`, `\`, `]`); only a quoted-string may hold it.
    #[error("{0:?} is allowed only inside quotes (%22…%22)")]
    Character(char),
    /// A dot at the start or end, or two dots in a row: not a dot-atom.
    #[error("a dot at its start or end, or two dots in a row, is allowed only inside quotes")]
    Dots,
    /// A quoted-string that is not closed at the end of the local part, or with an unescaped `"`
    /// or `\` inside.
    #[error(
        "its quoted-string is not well formed: it must end with its closing quote, and a '\"' or '\\' inside must be escaped with a backslash"
    )]
    Quoting,
}

/// Percent-decodes a part of a `mailto:` URI (RFC 6068 §2: the address is percent-encoded UTF-8).
///
/// The record parser has already refused a `%` without two hex digits; one left here is kept as is.
pub(crate) fn percent_decode(text: &str) -> Cow<'_, [u8]> {
    if !text.contains('%') {
        return Cow::Borrowed(text.as_bytes());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16).ok()
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// `local-part = dot-atom-text / quoted-string` (RFC 6068 §2, after RFC 5322 §3.4.1, without
/// comments or folding).
pub(crate) fn local_part(local: &str) -> Result<(), LocalPartProblem> {
    if local.is_empty() {
        return Err(LocalPartProblem::Empty);
    }
    if let Some(c) = local.chars().find(|c| !c.is_ascii()) {
        return Err(LocalPartProblem::NonAscii(c));
    }
    if let Some(c) = local.chars().find(|&c| c.is_ascii_control() && c != '\t') {
        return Err(LocalPartProblem::Control(c));
    }
    match local.strip_prefix('"') {
        Some(quoted) => quoted_string(quoted),
        None => dot_atom_text(local),
    }
}

/// `dot-atom-text = 1*atext *("." 1*atext)`
fn dot_atom_text(local: &str) -> Result<(), LocalPartProblem> {
    if let Some(c) = local.chars().find(|&c| c != '.' && !is_atext(c)) {
        return Err(LocalPartProblem::Character(c));
    }
    if local.split('.').any(str::is_empty) {
        return Err(LocalPartProblem::Dots);
    }
    Ok(())
}

/// `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~`` (RFC 5322 §3.2.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// The rest of `quoted-string = DQUOTE *(qtext / quoted-pair / WSP) DQUOTE` after its opening quote:
/// `"` and `\` only as `\"` and `\\` (or another escaped visible character), and nothing after the
/// closing quote.
fn quoted_string(rest: &str) -> Result<(), LocalPartProblem> {
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.as_str().is_empty() => return Ok(()),
            '"' => return Err(LocalPartProblem::Quoting),
            '\\' if chars.next().is_none() => return Err(LocalPartProblem::Quoting),
            _ => {}
        }
    }
    Err(LocalPartProblem::Quoting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpt_3_local_parts() {
        let table: &[(&str, Result<(), LocalPartProblem>)] = &[
            ("tlsrpt", Ok(())),
            ("tls-reports+mta.sts", Ok(())),
            ("!#$%&'*+-/=?^_`{|}~", Ok(())),
            ("\"a b\"", Ok(())),
            ("\"a..b\"", Ok(())),
            ("\"a\\\"b\"", Ok(())),
            ("\"a@b,c\"", Ok(())),
            ("\"\"", Ok(())),
            ("", Err(LocalPartProblem::Empty)),
            ("jos\u{e9}", Err(LocalPartProblem::NonAscii('\u{e9}'))),
            ("a\nb", Err(LocalPartProblem::Control('\n'))),
            ("\"a\rb\"", Err(LocalPartProblem::Control('\r'))),
            ("a b", Err(LocalPartProblem::Character(' '))),
            ("a(b)", Err(LocalPartProblem::Character('('))),
            ("a\"b", Err(LocalPartProblem::Character('"'))),
            ("a,b", Err(LocalPartProblem::Character(','))),
            (".a", Err(LocalPartProblem::Dots)),
            ("a.", Err(LocalPartProblem::Dots)),
            ("a..b", Err(LocalPartProblem::Dots)),
            (".", Err(LocalPartProblem::Dots)),
            ("\"a", Err(LocalPartProblem::Quoting)),
            ("\"", Err(LocalPartProblem::Quoting)),
            ("\"a\"b", Err(LocalPartProblem::Quoting)),
            ("\"a\"b\"", Err(LocalPartProblem::Quoting)),
            ("\"a\\\"", Err(LocalPartProblem::Quoting)),
        ];
        for (local, expected) in table {
            assert_eq!(local_part(local), *expected, "{local:?}");
        }
    }

    #[test]
    fn rpt_3_percent_decoding() {
        let table: &[(&str, &[u8])] = &[
            ("plain", b"plain"),
            ("a%20b", b"a b"),
            ("%22a%40b%22", b"\"a@b\""),
            ("%c3%A9", b"\xc3\xa9"),
            ("100%", b"100%"),
            ("%zz", b"%zz"),
            ("%4", b"%4"),
        ];
        for (text, expected) in table {
            assert_eq!(&*percent_decode(text), *expected, "{text:?}");
        }
    }
}
