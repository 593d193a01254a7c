//! Scalar values of the configuration, checked as they are read so that an error points at the
//! value: numbers of seconds, ports, counts, socket modes. Messages say in words what was
//! expected and what was found.

use std::fmt;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{self, Visitor};

use super::{ConfigError, InvalidValue};

/// A YAML scalar as read, before judging it.
enum Scalar {
    Int(i128),
    Float(f64),
    Text(String),
    Bool(bool),
    Other(&'static str),
}

impl Scalar {
    /// The value as a number, accepting numeric strings as PyYAML users write them (`'4'`).
    fn number(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            Self::Text(t) => t.trim().parse().ok(),
            Self::Bool(_) | Self::Other(_) => None,
        }
    }

    fn integer(&self) -> Option<i128> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i128),
            Self::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(t) => write!(f, "{t:?}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Other(what) => f.write_str(what),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
        Ok(Scalar::Int(i128::try_from(v).unwrap_or(i128::MAX)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other("nothing"))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other("nothing"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<Scalar, A::Error> {
        Ok(Scalar::Other("a list"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<Scalar, A::Error> {
        Ok(Scalar::Other("a mapping"))
    }
}

fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

fn expected<E: de::Error>(what: &str, found: &Scalar) -> E {
    E::custom(format!("expected {what}, found {found}"))
}

/// A boolean as PyYAML reads YAML 1.1: `true`/`false`, `yes`/`no`, `on`/`off`, `y`/`n`, in lower,
/// capitalised or upper case.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = read(d)?;
    let word = match &value {
        Scalar::Bool(b) => return Ok(*b),
        Scalar::Text(t) => t.as_str(),
        _ => "",
    };
    let lower = word.to_ascii_lowercase();
    let shaped = word == lower || word == word.to_ascii_uppercase() || {
        let mut chars = word.chars();
        chars.next().is_some_and(char::is_uppercase) && chars.as_str() == &lower[1..]
    };
    match lower.as_str() {
        "true" | "yes" | "on" | "y" if shaped => Ok(true),
        "false" | "no" | "off" | "n" if shaped => Ok(false),
        _ => Err(expected("true or false (or yes/no, on/off)", &value)),
    }
}

/// A TCP port: `1` to `65535`.
pub(super) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let value = read(d)?;
    value
        .integer()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| expected("a number 1-65535", &value))
}

/// A number of seconds, `0` or more, whole or decimal (postfix-mta-sts-resolver reads floats).
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = read(d)?;
    value
        .number()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| expected("a number of seconds, 0 or more", &value))
}

/// A number of seconds above `0`.
pub(super) fn positive_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = read(d)?;
    value
        .number()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| expected("a number of seconds above 0", &value))
}

/// A zone's discovery deadline: above 0 and at most 90 s, since Postfix gives up on a socketmap
/// answer after 100 s (SOCK-6) and the answer needs some of that.
pub(super) fn zone_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = read(d)?;
    value
        .number()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(90))
        .ok_or_else(|| {
            expected(
                "a number of seconds above 0 and at most 90 (Postfix waits 100 s)",
                &value,
            )
        })
}

/// A count of things: `1` or more.
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let value = read(d)?;
    value
        .integer()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| expected("a whole number, 1 or more", &value))
}

/// A number above `0`.
pub(super) fn positive_number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = read(d)?;
    value
        .number()
        .filter(|n| n.is_finite() && *n > 0.0)
        .ok_or_else(|| expected("a number above 0", &value))
}

/// Permissions of a UNIX socket: `0666` (YAML 1.1 octal, as PyYAML reads it), `'0666'`, `0o666`;
/// an integer whose digits are not all octal is taken as decimal, as PyYAML did.
pub(super) fn socket_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let value = read(d)?;
    let digits = match &value {
        Scalar::Text(t) => t.trim().trim_start_matches("0o").to_owned(),
        // YAML 1.2 readers see `0666` as the number 666: its digits are the octal ones written.
        number => match number.integer() {
            Some(i) if i >= 0 => i.to_string(),
            _ => return Err(expected("octal permissions such as 0660", &value)),
        },
    };
    let mode = if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        u32::from_str_radix(&digits, 8).ok()
    } else {
        digits.parse().ok()
    };
    mode.filter(|m| *m <= 0o7777)
        .ok_or_else(|| expected("octal permissions such as 0660", &value))
}

/// A deserialization error as a [`ConfigError`] with the file, line, column and key, the YAML
/// parser's own location suffix removed, and a hint for the structure errors that indentation
/// mistakes cause.
pub(super) fn located(file: &str, key: &str, error: &serde_saphyr::Error) -> ConfigError {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let plain = error.without_snippet().to_string();
    let suffix = format!(" at line {line}, column {column}");
    let message = plain.strip_suffix(&suffix).unwrap_or(&plain).to_owned();
    let structural = [
        "did not find expected key",
        "mapping values are not allowed",
        "did not find expected '-'",
        "could not find expected ':'",
    ];
    let hint = if structural.iter().any(|s| message.contains(s)) {
        " (check the indentation: the keys of one section must line up, indented with spaces)"
    } else {
        ""
    };
    // The rendered form repeats the message on its first line, then shows the lines around the
    // error with a marker; keep those, under the file's own name.
    let rendered = error.to_string();
    let snippet = rendered
        .split_once('\n')
        .map(|(_, rest)| rest.replace("<input>", file))
        .unwrap_or_default();
    // A path of "?" means the error is in the YAML structure, not in a value.
    let key = match key.trim_end_matches(".?") {
        "" | "?" => String::new(),
        k => format!("{k}: "),
    };
    ConfigError::Invalid(Box::new(InvalidValue {
        path: file.to_owned(),
        line,
        column,
        key,
        message,
        hint,
        snippet,
    }))
}
