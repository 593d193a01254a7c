use mta_sts_policy::{Policy, lint};
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "(enforce|testing|none)".prop_map(|m| format!("mode:{m}")),
        "[0-9]{1,10}".prop_map(|a| format!("max_age: {a}")),
        "(\\*\\.)?[a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}".prop_map(|m| format!("mx: {m}")),
        (
            "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,10}",
            "[!-~é]([ !-~é]{0,10}[!-~é])?"
        )
            .prop_map(|(k, v)| format!("{k}:  {v}")),
        Just("version: STSv1".to_owned()),
        Just(String::new()),
    ]
}

proptest! {
    // Display writes a file that parses back to an equal policy.
    #[test]
    fn display_round_trips(
        lines in prop::collection::vec(line(), 0..12),
        crlf in any::<bool>(),
        trailing_ws in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let ws = if trailing_ws { " \t" } else { "" };
        let body = format!("version: STSv1{end}{}", lines.iter().map(|l| format!("{l}{ws}{end}")).collect::<String>());
        if let Ok(policy) = Policy::parse(body.as_bytes()) {
            let again: Policy = policy.to_string().parse().unwrap();
            prop_assert_eq!(&again, &policy);
            prop_assert_eq!(again.policy_strings().count(), policy.policy_strings().count());
        }
        let errors = lint(body.as_bytes()).iter().filter(|d| d.severity() == mta_sts_policy::Severity::Error).count();
        prop_assert_eq!(errors == 0, Policy::parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Policy::parse(&bytes);
        let _ = lint(&bytes);
    }
}
