use std::fs;
use std::path::Path;

use mta_sts_policy::Policy;

/// Each `NNN.txt` is a policy body; `NNN.expect` holds either the canonical form the body parses to
/// (CRLF line ends), or `error RULE line N` / `error RULE` for a refused body.
#[test]
fn golden_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut count = 0;
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let body = fs::read(path).unwrap();
        let expect = fs::read_to_string(path.with_extension("expect")).unwrap();
        let got = match Policy::parse(&body) {
            Ok(policy) => {
                // Every accepted vector also round-trips.
                assert_eq!(
                    policy.to_string().parse::<Policy>().unwrap(),
                    policy,
                    "{}",
                    path.display()
                );
                policy.to_string()
            }
            Err(e) => match e.line() {
                Some(line) => format!("error {} line {line}\n", e.rule()),
                None => format!("error {}\n", e.rule()),
            },
        };
        assert_eq!(
            got.replace("\r\n", "\n"),
            expect.replace("\r\n", "\n"),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert!(
        count >= 8,
        "only {count} vectors found in {}",
        dir.display()
    );
}
