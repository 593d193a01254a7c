use mta_sts_policy::{MxPattern, Policy};
use proptest::prelude::*;

fn pattern(s: &str) -> MxPattern {
    s.parse().unwrap()
}

#[test]
fn match_1_policy_matches_mx_name() {
    let p = Policy::parse(
        b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 1",
    )
    .unwrap();
    assert!(p.matches_mx("mail.example.com"));
    assert!(p.matches_mx("mx1.example.net"));
    assert!(!p.matches_mx("evil.example.org"));
}

#[test]
fn match_2_wildcard_exactly_one_label() {
    let p = pattern("*.example.com");
    let table = [
        ("mail.example.com", true),
        ("example.com", false),
        ("foo.bar.example.com", false),
        (".example.com", false),
    ];
    for (host, expected) in table {
        assert_eq!(p.matches(host), expected, "{host}");
    }
}

#[test]
fn match_3_literal() {
    assert!(pattern("mail.example.com").matches("mail.example.com"));
    assert!(!pattern("mail.example.com").matches("mx.mail.example.com"));
}

#[test]
fn match_4_case_insensitive() {
    assert!(pattern("*.Example.COM").matches("MAIL.example.com"));
}

#[test]
fn match_5_trailing_dot() {
    assert!(pattern("mail.example.com").matches("mail.example.com."));
    assert!(!pattern("mail.example.com").matches("mail.example.com.."));
}

#[test]
fn match_6_idn_a_labels() {
    assert!(!pattern("*.xn--bcher-kva.example").matches("xn--bcher-kva.example"));
    assert!(pattern("*.xn--bcher-kva.example").matches("mx.xn--bcher-kva.example"));
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

proptest! {
    // MATCH-3/4/5: a literal pattern matches its own name in any case, with or without one trailing dot.
    #[test]
    fn literal_matches_itself(name in domain(), upper in any::<bool>(), dot in any::<bool>()) {
        let p: MxPattern = name.parse().unwrap();
        let mut host = if upper { name.to_ascii_uppercase() } else { name };
        if dot { host.push('.'); }
        prop_assert!(p.matches(&host));
    }

    // MATCH-2: *.d matches l.d for any one label l, never d, and never x.l.d.
    #[test]
    fn wildcard_one_label(d in domain(), l in label(), extra in label()) {
        let p: MxPattern = format!("*.{d}").parse().unwrap();
        let one_label = format!("{l}.{d}");
        let two_labels = format!("{extra}.{l}.{d}");
        prop_assert!(p.matches(&one_label));
        prop_assert!(!p.matches(&d));
        prop_assert!(!p.matches(&two_labels));
    }

    // A literal pattern matches only a name equal to it ignoring ASCII case and one trailing dot.
    #[test]
    fn literal_is_equality(a in domain(), b in domain()) {
        let p: MxPattern = a.parse().unwrap();
        prop_assert_eq!(p.matches(&b), a.eq_ignore_ascii_case(&b));
    }

    // No host string, however odd, panics the matcher.
    #[test]
    fn arbitrary_hosts_never_panic(host in ".{0,40}", d in domain()) {
        let _ = pattern(&format!("*.{d}")).matches(&host);
        let _ = pattern(&d).matches(&host);
    }
}
