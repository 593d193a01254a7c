use mta_sts_policy::{Domain, Mode, MxError, Policy, PolicyErrorKind};

const RFC_EXAMPLE: &str = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800";

fn kind(body: &str) -> PolicyErrorKind {
    Policy::parse(body.as_bytes()).unwrap_err().kind().clone()
}

fn ok(body: &str) -> Policy {
    Policy::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body:?}: {e}"))
}

#[test]
fn pol_1_location() {
    assert_eq!(
        Domain::new("example.com").unwrap().policy_url(),
        "https://mta-sts.example.com/.well-known/mta-sts.txt"
    );
}

#[test]
fn pol_2_required_fields() {
    let p = ok(RFC_EXAMPLE);
    assert_eq!(p.mx().len(), 3);
    assert_eq!(
        kind("mode: enforce\nmx: a.example\nmax_age: 1"),
        PolicyErrorKind::MissingField("version")
    );
    assert_eq!(
        kind("version: STSv1\nmx: a.example\nmax_age: 1"),
        PolicyErrorKind::MissingField("mode")
    );
    assert_eq!(
        kind("version: STSv1\nmode: enforce\nmx: a.example"),
        PolicyErrorKind::MissingField("max_age")
    );
    assert_eq!(
        kind("version: STSv1\nmode: enforce\nmax_age: 1"),
        PolicyErrorKind::MissingMx(Mode::Enforce)
    );
    assert_eq!(
        kind("version: STSv1\nmode: testing\nmax_age: 1"),
        PolicyErrorKind::MissingMx(Mode::Testing)
    );
    assert_eq!(
        ok("version: STSv1\nmode: none\nmax_age: 86400").mode(),
        Mode::None
    );
    assert_eq!(kind(""), PolicyErrorKind::MissingField("version"));
}

#[test]
fn pol_3_version() {
    assert_eq!(
        kind("version: STSv2\nmode: none\nmax_age: 1"),
        PolicyErrorKind::InvalidVersion("STSv2".into())
    );
    assert_eq!(
        kind("version: stsv1\nmode: none\nmax_age: 1"),
        PolicyErrorKind::InvalidVersion("stsv1".into())
    );
}

#[test]
fn pol_4_mode() {
    let err =
        Policy::parse(b"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1").unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert_eq!(err.kind(), &PolicyErrorKind::InvalidMode("Enforce".into()));
    assert_eq!(
        kind("version: STSv1\nmode: report\nmax_age: 1"),
        PolicyErrorKind::InvalidMode("report".into())
    );
}

#[test]
fn pol_5_max_age() {
    let age = |v: &str| {
        ok(&format!("version: STSv1\nmode: none\nmax_age: {v}"))
            .max_age()
            .as_secs()
    };
    assert_eq!(age("0"), 0);
    assert_eq!(age("31557600"), 31_557_600);
    assert_eq!(age("0000604800"), 604_800);
    // A-3: over the maximum is clamped, not refused.
    assert_eq!(age("31557601"), 31_557_600);
    for bad in ["12345678901", "-1", "1e6", "+5", "1 2"] {
        assert_eq!(
            kind(&format!("version: STSv1\nmode: none\nmax_age: {bad}")),
            PolicyErrorKind::InvalidMaxAge(bad.into()),
            "{bad}"
        );
    }
}

#[test]
fn pol_6_line_terminators() {
    let lf = ok(RFC_EXAMPLE);
    let crlf = ok(&RFC_EXAMPLE.replace('\n', "\r\n"));
    let mixed = ok(
        "version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmx: *.example.net\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
    );
    let final_newline = ok(&format!("{RFC_EXAMPLE}\n"));
    assert_eq!(lf, crlf);
    assert_eq!(lf, mixed);
    assert_eq!(lf, final_newline);
    let err = Policy::parse(b"version: STSv1\rmode: none\rmax_age: 1").unwrap_err();
    assert_eq!(err.kind(), &PolicyErrorKind::ControlCharacter(b'\r'));
    assert_eq!(err.rule(), "POL-6");
    assert_eq!(
        kind("version: STSv1\nmode: none\nmax_age: 1\r"),
        PolicyErrorKind::ControlCharacter(b'\r')
    );
}

#[test]
fn pol_7_whitespace() {
    assert_eq!(
        ok("version: STSv1\nmode:none\nmax_age: 1").mode(),
        Mode::None
    );
    assert_eq!(
        ok("version: STSv1\nmode: none \t\nmax_age: 1").mode(),
        Mode::None
    );
    assert_eq!(
        kind("version: STSv1\nmode : none\nmax_age: 1"),
        PolicyErrorKind::WhitespaceBeforeColon
    );
    assert_eq!(
        kind("version: STSv1\n mode: none\nmax_age: 1"),
        PolicyErrorKind::LeadingWhitespace
    );
}

#[test]
fn pol_8_duplicates_first_wins() {
    let p = ok("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 86400");
    assert_eq!(p.mode(), Mode::Enforce);
    let p = ok("version: STSv1\nmode: none\nmax_age: 86400\nmax_age: 5\nx: 1\nx: 2");
    assert_eq!(p.max_age().as_secs(), 86_400);
    assert_eq!(p.extensions().len(), 1);
    assert_eq!(p.extensions()[0].value(), "1");
    // A later repeat is ignored without judging its value: `mode: bogus` is a grammatical line.
    let p = ok("version: STSv1\nmode: none\nmode: bogus\nmax_age: 86400");
    assert_eq!(p.mode(), Mode::None);
    assert_eq!(p.policy_strings().count(), 3);
}

/// What a body parses to: its mode and max_age, or the rule and line of the error.
pub(crate) type Verdict = Result<(Mode, u32), (&'static str, usize)>;

/// POL-8 / A-4: repeats of `version`, `mode` and `max_age` whose values would be invalid.
/// Each row: the body, what the first occurrence makes of it, and the line of the ignored repeat.
pub(crate) const POL_8_REPEATS: &[(&str, Verdict, usize)] = &[
    (
        "version: STSv1\nmode: testing\nmode: enforced\nmx: mx.example.com\nmax_age: 86400\n",
        Ok((Mode::Testing, 86_400)),
        3,
    ),
    (
        "version: STSv1\nmode: enforce\nmode: Enforce\nmx: mx.example.com\nmax_age: 86400\n",
        Ok((Mode::Enforce, 86_400)),
        3,
    ),
    (
        "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\nmax_age: 99999999999\n",
        Ok((Mode::Testing, 86_400)),
        5,
    ),
    (
        "version: STSv1\nversion: STSv2\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n",
        Ok((Mode::Testing, 86_400)),
        2,
    ),
    // The first occurrence counts, so it must be valid even when a later one is.
    (
        "version: STSv1\nmode: Enforce\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n",
        Err(("POL-4", 2)),
        3,
    ),
];

#[test]
fn pol_8_later_repeats_are_not_judged() {
    for (body, expected, _) in POL_8_REPEATS {
        let got = Policy::parse(body.as_bytes())
            .map(|p| (p.mode(), p.max_age().as_secs()))
            .map_err(|e| (e.rule(), e.line().unwrap_or(0)));
        assert_eq!(got, *expected, "{body:?}");
    }
}

#[test]
fn pol_9_mx_values() {
    let mx = |v: &str| {
        Policy::parse(format!("version: STSv1\nmode: enforce\nmx: {v}\nmax_age: 1").as_bytes())
    };
    assert!(mx("*.example.net").is_ok());
    assert!(mx("xn--bcher-kva.example").is_ok());
    let table: &[(&str, MxError)] = &[
        ("mail.*.example.net", MxError::Wildcard),
        ("*example.net", MxError::Wildcard),
        ("*", MxError::Wildcard),
        ("a.example, b.example", MxError::Character(',')),
        ("bücher.example", MxError::ULabel),
    ];
    for (value, reason) in table {
        let err = mx(value).unwrap_err();
        assert_eq!(
            err.kind(),
            &PolicyErrorKind::InvalidMx {
                value: (*value).into(),
                reason: *reason
            },
            "{value}"
        );
        assert_eq!(err.line(), Some(3));
    }
    // A-9: one trailing dot is accepted and dropped.
    assert_eq!(
        mx("mail.example.com.")
            .unwrap()
            .mx()
            .next()
            .unwrap()
            .as_str(),
        "mail.example.com"
    );
}

#[test]
fn pol_10_extensions() {
    let p = ok("version: STSv1\nmode: none\nfoo_bar: some value\nx: caf\u{e9}\nmax_age: 1");
    assert_eq!(p.extensions()[0].name(), "foo_bar");
    assert_eq!(p.extensions()[1].value(), "caf\u{e9}");
    assert_eq!(
        kind("version: STSv1\nmode: none\nx: a\tb\nmax_age: 1"),
        PolicyErrorKind::ControlCharacter(b'\t')
    );
    assert_eq!(
        kind(&format!(
            "version: STSv1\nmode: none\n{}: 1\nmax_age: 1",
            "a".repeat(33)
        )),
        PolicyErrorKind::KeyTooLong
    );
    assert_eq!(
        kind("version: STSv1\nmode: none\n: value\nmax_age: 1"),
        PolicyErrorKind::EmptyKey
    );
    assert_eq!(
        Policy::parse(b"version: STSv1\nmode: none\nx: \xff\nmax_age: 1")
            .unwrap_err()
            .kind(),
        &PolicyErrorKind::NotUtf8
    );
}

#[test]
fn pol_11_field_order_free() {
    let p = ok("max_age: 86400\nmx: a.example\nmode: testing\nversion: STSv1");
    assert_eq!(p.mode(), Mode::Testing);
    assert_eq!(
        p.policy_strings().collect::<Vec<_>>(),
        [
            "max_age: 86400",
            "mx: a.example",
            "mode: testing",
            "version: STSv1"
        ]
    );
}

#[test]
fn pol_12_blank_lines_accepted_a_5() {
    // A-5: the strict ABNF has no blank line; we accept it (and the linter warns).
    let p = ok("version: STSv1\n\nmode: none\n  \nmax_age: 86400\n\n");
    assert_eq!(p.mode(), Mode::None);
    assert_eq!(p.policy_strings().count(), 3);
}

#[test]
fn junk_lines_are_errors() {
    assert_eq!(
        kind("version: STSv1\nmode: none\nmax_age: 1\n<html>"),
        PolicyErrorKind::InvalidKey('<')
    );
    assert_eq!(
        kind("\u{feff}version: STSv1\nmode: none\nmax_age: 1"),
        PolicyErrorKind::ByteOrderMark
    );
}

#[test]
fn sec_1_mx_count_is_bounded() {
    let many: String = (0..=Policy::MAX_MX)
        .map(|i| format!("mx: m{i}.example\n"))
        .collect();
    let body = format!("version: STSv1\nmode: enforce\nmax_age: 1\n{many}");
    assert_eq!(
        kind(&body),
        PolicyErrorKind::TooManyMx {
            max: Policy::MAX_MX
        }
    );
}

#[test]
fn rpt_11_policy_strings_in_file_order() {
    let p = ok(
        "version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: mx2.example.com\nmx: mx.backup-example.com\nmax_age: 604800",
    );
    assert_eq!(
        p.policy_strings().collect::<Vec<_>>(),
        [
            "version: STSv1",
            "mode: testing",
            "mx: mx1.example.com",
            "mx: mx2.example.com",
            "mx: mx.backup-example.com",
            "max_age: 604800"
        ]
    );
}
