use mta_sts_policy::{Policy, Severity, lint, lint_for_domain};

use crate::rules::POL_8_REPEATS;

fn summary(body: &str) -> Vec<(Option<usize>, Severity, &'static str)> {
    lint(body.as_bytes())
        .iter()
        .map(|d| (d.line(), d.severity(), d.rule()))
        .collect()
}

const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n";

#[test]
fn clean_policy_has_no_diagnostics() {
    assert_eq!(summary(GOOD), []);
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let body = "version: STSv2\r\nmode: Enforce\r\nmx: bücher.example\r\n max_age: 1\r\n";
    let s = summary(body);
    assert_eq!(
        s,
        [
            (Some(1), Severity::Error, "POL-3"),
            (Some(2), Severity::Error, "POL-4"),
            (Some(3), Severity::Error, "POL-9"),
            (Some(4), Severity::Error, "POL-7"),
        ]
    );
}

/// POL-2: a field that is there but invalid is not also missing, and `enforce` does not also need
/// an mx line when its mx lines are there but invalid. Truly absent fields are still reported.
#[test]
fn pol_2_no_follow_on_errors() {
    use Severity::{Error, Warning};
    type Row = (
        &'static str,
        &'static [(Option<usize>, Severity, &'static str)],
    );
    let table: &[Row] = &[
        (
            "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 99999999999\r\n",
            &[(Some(4), Error, "POL-5")],
        ),
        (
            "version: STSv1\r\nmode: Enforce\r\nmx: a.example\r\nmax_age: 86400\r\n",
            &[(Some(2), Error, "POL-4")],
        ),
        (
            "version: STSv2\r\nmode: none\r\nmax_age: 86400\r\n",
            &[(Some(1), Error, "POL-3")],
        ),
        (
            "version: STSv1\r\nmode: enforce\r\nmx: b\u{fc}cher.example\r\nmx: *example.net\r\nmax_age: 86400\r\n",
            &[(Some(3), Error, "POL-9"), (Some(4), Error, "POL-9")],
        ),
        // Lines the line grammar refuses, with a key that is still plain.
        (
            "version: STSv1\r\nmode: none\r\n max_age: 86400\r\n",
            &[(Some(3), Error, "POL-7")],
        ),
        (
            "version: STSv1\r\nmode : none\r\nmax_age: 86400\r\n",
            &[(Some(2), Error, "POL-7")],
        ),
        (
            "version: STSv1\r\nmode: testing\r\nmx: a.example\tb\r\nmax_age: 86400\r\n",
            &[(Some(3), Error, "POL-10")],
        ),
        // Absent is still absent: no mx line at all, no max_age line, a key with the wrong case.
        (
            "version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n",
            &[(None, Error, "POL-2")],
        ),
        (
            "version: STSv1\r\nmode: none\r\n",
            &[(None, Error, "POL-2")],
        ),
        (
            "version: STSv1\r\nMode: none\r\nmax_age: 86400\r\n",
            &[(Some(2), Warning, "POL-2"), (None, Error, "POL-2")],
        ),
    ];
    for (body, expected) in table {
        assert_eq!(summary(body), *expected, "{body:?}");
    }
}

#[test]
fn warnings_for_legal_but_risky_policies() {
    let body = "version: STSv1\nmode: enforce\nmode: none\nmx: *.com\nmx: *.com\nmx: mail.example.com.\n\nMode: x\nmax_age: 99999999999\n";
    let s = summary(body);
    assert!(s.contains(&(Some(3), Severity::Warning, "POL-8")), "{s:?}");
    assert!(s.contains(&(Some(4), Severity::Warning, "SEC-5")), "{s:?}");
    assert!(s.contains(&(Some(5), Severity::Warning, "POL-9")), "{s:?}");
    assert!(s.contains(&(Some(6), Severity::Warning, "A-9")), "{s:?}");
    assert!(s.contains(&(Some(7), Severity::Warning, "A-5")), "{s:?}");
    assert!(s.contains(&(Some(8), Severity::Warning, "POL-2")), "{s:?}");
    assert!(s.contains(&(None, Severity::Warning, "POL-6")), "{s:?}");
    // 11 digits is an error; the policy is then invalid for max_age too.
    assert!(s.contains(&(Some(9), Severity::Error, "POL-5")), "{s:?}");
}

#[test]
fn max_age_advice() {
    let s = summary("version: STSv1\r\nmode: none\r\nmax_age: 3600\r\n");
    assert_eq!(s, [(Some(3), Severity::Warning, "POL-5")]);
    let s = summary("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n");
    assert_eq!(s, [(Some(3), Severity::Warning, "A-15")]);
    let s = summary("version: STSv1\r\nmode: none\r\nmax_age: 31557601\r\n");
    assert_eq!(s, [(Some(3), Severity::Warning, "A-3")]);
}

#[test]
fn mixed_line_ends_and_mx_in_none() {
    let s = summary("version: STSv1\r\nmode: none\nmx: a.example\r\nmax_age: 86400\n");
    assert_eq!(
        s,
        [
            (None, Severity::Warning, "POL-6"),
            (None, Severity::Warning, "POL-2")
        ]
    );
}

#[test]
fn wildcard_over_the_policy_domain() {
    let body = "version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\nmax_age: 604800\r\n";
    assert!(lint(body.as_bytes()).is_empty());
    let found = lint_for_domain(body.as_bytes(), &"example.com".parse().unwrap());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule(), "SEC-5");
    assert!(
        found[0].message().contains("every host in the domain"),
        "{}",
        found[0]
    );
}

#[test]
fn lint_and_parse_agree() {
    let bodies = [
        GOOD,
        "version: STSv1\nmode: enforce\nmax_age: 1",
        "junk",
        "version: STSv1\n\nmode: none\nmax_age: 5\n",
    ];
    for body in bodies {
        let has_error = lint(body.as_bytes())
            .iter()
            .any(|d| d.severity() == Severity::Error);
        assert_eq!(
            has_error,
            Policy::parse(body.as_bytes()).is_err(),
            "{body:?}"
        );
    }
}

/// MATCH-1: MX records name hosts, so an address-shaped pattern matches no MX host; the policy
/// is still valid.
#[test]
fn match_1_address_shaped_mx_is_a_warning() {
    let table: &[(&str, bool)] = &[
        ("127.0.0.1", true),
        ("*.1.2.3.4", true),
        ("mx1.example.com", false),
        ("1.example.com", false),
    ];
    for (pattern, warned) in table {
        let body =
            format!("version: STSv1\r\nmode: testing\r\nmx: {pattern}\r\nmax_age: 604800\r\n");
        let found = lint(body.as_bytes());
        let rules: Vec<_> = found
            .iter()
            .map(|d| (d.line(), d.severity(), d.rule()))
            .collect();
        let expected: &[_] = if *warned {
            &[(Some(3), Severity::Warning, "MATCH-1")]
        } else {
            &[]
        };
        assert_eq!(rules, expected, "{pattern}");
        if *warned {
            assert!(
                found[0].message().contains("never matches an MX host name"),
                "{}",
                found[0]
            );
        }
    }
}

/// FETCH-8: senders read at most 64 KiB of a policy, so a longer body is worth a warning.
#[test]
fn fetch_8_body_over_64_kib() {
    let head = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\nnote: ";
    for (size, warned) in [(65_536, false), (65_537, true)] {
        let padding = "a".repeat(size - head.len() - 2);
        let body = format!("{head}{padding}\r\n");
        assert_eq!(body.len(), size);
        let found = lint(body.as_bytes());
        let expected: &[_] = if warned {
            &[(None, Severity::Warning, "FETCH-8")]
        } else {
            &[]
        };
        assert_eq!(summary(&body), expected, "{size}");
        if warned {
            assert!(found[0].message().contains("65537 bytes"), "{}", found[0]);
        }
        // Only a warning: the body still parses.
        assert!(Policy::parse(body.as_bytes()).is_ok());
    }
}

/// POL-10: `sts-policy-ext-name` starts with a letter or digit; `_`, `-` and `.` come later.
#[test]
fn pol_10_key_start_is_named() {
    for key in ["_x", "-x", ".x"] {
        let body = format!("version: STSv1\r\nmode: none\r\n{key}: 1\r\nmax_age: 86400\r\n");
        let found = lint(body.as_bytes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].line(), found[0].severity(), found[0].rule()),
            (Some(3), Severity::Error, "POL-10")
        );
        let start = key.chars().next().unwrap();
        assert_eq!(
            found[0].message(),
            format!("a key must start with a letter or digit, found {start:?}")
        );
    }
}

#[test]
fn diagnostics_read_well() {
    let found = lint(b"version: STSv1\r\nmode: Enforce\r\nmx: a.example\r\nmax_age: 604800\r\n");
    assert_eq!(
        found[0].to_string(),
        "line 2: error [POL-4]: mode must be \"enforce\", \"testing\" or \"none\" (lower case), found \"Enforce\""
    );
    assert!(found[0].error_kind().is_some());
}

#[test]
fn pol_8_ignored_repeats_are_warnings() {
    for (body, expected, repeat) in POL_8_REPEATS {
        let found = lint(body.as_bytes());
        let errors: Vec<_> = found
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .map(|d| (d.rule(), d.line().unwrap_or(0)))
            .collect();
        // Only the first occurrence's own error: the field is present, so not also missing.
        assert_eq!(errors, Vec::from_iter(expected.err()), "{body:?}");
        let warning = found
            .iter()
            .find(|d| d.rule() == "POL-8" && d.line() == Some(*repeat))
            .unwrap_or_else(|| panic!("no POL-8 warning on line {repeat}: {found:?}"));
        assert_eq!(warning.severity(), Severity::Warning);
        // In these rows the ignored value would be invalid exactly when the first one is valid.
        assert_eq!(
            warning.message().contains("would not be valid"),
            expected.is_ok(),
            "{warning}"
        );
    }
}
