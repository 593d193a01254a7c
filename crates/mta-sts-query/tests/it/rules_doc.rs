//! `docs/rules.md` against the repository: users look rule IDs up there, so a page that lags the
//! code (an ID with no row, a listed test that was renamed or no longer covers the rule) misleads
//! them. Plain `std::fs` and a hand-written matcher keep this test free of dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The rule families, as in `\b(TXT|POL|…|A)-[0-9]+\b`.
const FAMILIES: [&str; 13] = [
    "TXT", "POL", "MATCH", "FETCH", "CACHE", "APPLY", "DANE", "PFX", "MAP", "SOCK", "RPT", "SEC",
    "A",
];

/// The cell text that marks a rule without a test of its own.
const NOT_TESTED: &str = "not tested yet";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Finding IDs

/// The rule IDs in `text`.
///
/// Exact (`folded == false`) reads what the code writes, `POL-8`, with the regex's word
/// boundaries, where `_` is a word character. Folded reads test names and the prose around
/// them: case is ignored and `_` counts as `-`, so `pol_8_duplicates` names POL-8, and numbers
/// that follow an ID belong to its family, so `txt_9_10_…` names TXT-9 and TXT-10.
fn ids_in(text: &str, folded: bool) -> BTreeSet<String> {
    let chars: Vec<char> = if folded {
        text.chars()
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect()
    } else {
        text.chars().collect()
    };
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_uppercase() || (i > 0 && is_word(chars[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_uppercase() {
            i += 1;
        }
        let family: String = chars[start..i].iter().collect();
        if !FAMILIES.contains(&family.as_str()) {
            continue;
        }
        while let Some(end) = number_after_dash(&chars, i, is_word) {
            let number: String = chars[i + 1..end].iter().collect();
            found.insert(format!("{family}-{number}"));
            i = end;
            if !folded {
                break;
            }
        }
    }
    found
}

/// The end of `-` and digits at `at`, when no word character follows the digits.
fn number_after_dash(chars: &[char], at: usize, is_word: impl Fn(char) -> bool) -> Option<usize> {
    if chars.get(at) != Some(&'-') {
        return None;
    }
    let mut end = at + 1;
    while end < chars.len() && chars[end].is_ascii_digit() {
        end += 1;
    }
    let digits = end > at + 1;
    let boundary = chars.get(end).is_none_or(|&c| !is_word(c));
    (digits && boundary).then_some(end)
}

// ---------------------------------------------------------------------------------------------
// Finding test functions

/// One `#[test]` or `#[tokio::test]` function: its name, and its text from the comments and
/// attributes above it to its closing brace.
#[derive(Debug)]
struct TestFn {
    name: String,
    text: String,
}

/// `src` with the contents of comments, strings and character literals blanked out (newlines
/// kept), so that braces and `fn` can be found in the code alone.
fn code_only(src: &str) -> Vec<char> {
    let s: Vec<char> = src.chars().collect();
    let mut out = s.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(s.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let starts_token = |k: usize| k == 0 || !ident(s[k - 1]);
    let mut i = 0;
    while i < s.len() {
        let next = s.get(i + 1).copied();
        if s[i] == '/' && next == Some('/') {
            let end = s[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(s.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if s[i] == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < s.len() && depth > 0 {
                if s[j] == '/' && s.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if s[j] == '*' && s.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if s[i] == 'r'
            && (starts_token(i) || (s[i - 1] == 'b' && starts_token(i - 1)))
            && matches!(next, Some('"' | '#'))
        {
            // A raw string ends at the quote followed by as many `#` as it began with.
            let hashes = s[i + 1..].iter().take_while(|&&c| c == '#').count();
            let open = i + 1 + hashes;
            if s.get(open) != Some(&'"') {
                i += 1;
                continue;
            }
            let closes = |j: usize| {
                s[j] == '"'
                    && s.len() > j + hashes
                    && s[j + 1..=j + hashes].iter().all(|&c| c == '#')
            };
            let mut j = open + 1;
            while j < s.len() && !closes(j) {
                j += 1;
            }
            let end = (j + 1 + hashes).min(s.len());
            blank(&mut out, i, end);
            i = end;
        } else if s[i] == '"' {
            let mut j = i + 1;
            while j < s.len() && s[j] != '"' {
                j += if s[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if s[i] == '\'' {
            // A character literal, not a lifetime or label: `'x'` or an escape such as `'\''`.
            if next == Some('\\') {
                let mut j = i + 3;
                while j < s.len() && s[j] != '\'' {
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            } else if s.get(i + 2) == Some(&'\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The test functions of a Rust source file.
fn test_fns(src: &str) -> Vec<TestFn> {
    let code = code_only(src);
    let chars: Vec<char> = src.chars().collect();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let line_of = |at: usize| line_starts.partition_point(|&s| s <= at) - 1;
    let line_text = |n: usize| -> String {
        let end = line_starts.get(n + 1).map_or(chars.len(), |&e| e - 1);
        chars[line_starts[n]..end].iter().collect()
    };
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut fns = Vec::new();
    let mut i = 0;
    while i + 3 < code.len() {
        let keyword = code[i] == 'f'
            && code[i + 1] == 'n'
            && code[i + 2].is_whitespace()
            && (i == 0 || !ident(code[i - 1]));
        if !keyword {
            i += 1;
            continue;
        }
        let name_start = i
            + 2
            + code[i + 2..]
                .iter()
                .take_while(|c| c.is_whitespace())
                .count();
        let name_len = code[name_start..].iter().take_while(|&&c| ident(c)).count();
        let name: String = code[name_start..name_start + name_len].iter().collect();
        // The comments and attributes directly above: `#[test]`, and often the rule's ID.
        let fn_line = line_of(i);
        let mut first = fn_line;
        while first > 0 {
            let above = line_text(first - 1);
            let above = above.trim_start();
            if above.starts_with("#[") || above.starts_with("//") {
                first -= 1;
            } else {
                break;
            }
        }
        let is_test = (first..=fn_line).any(|n| {
            let line = line_text(n);
            let attribute = line.trim_start().strip_prefix("#[").unwrap_or("");
            let path = attribute.split(['(', ']']).next().unwrap_or("");
            path == "test" || path.ends_with("::test")
        });
        let Some(open) = code[name_start..]
            .iter()
            .position(|&c| c == '{' || c == ';')
        else {
            break;
        };
        let open = name_start + open;
        if code[open] == ';' || !is_test {
            i = open;
            continue;
        }
        let mut depth = 0;
        let mut close = open;
        for (j, &c) in code.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = j;
                break;
            }
        }
        fns.push(TestFn {
            name,
            text: chars[line_starts[first]..=close].iter().collect(),
        });
        i = close;
    }
    fns
}

// ---------------------------------------------------------------------------------------------
// Reading docs/rules.md

/// One table row: `| ID | source | rule | tested in |`.
#[derive(Debug)]
struct Row {
    /// 1-based line in docs/rules.md, for messages.
    line: usize,
    id: String,
    tested_in: String,
}

fn is_id(cell: &str) -> bool {
    cell.split_once('-').is_some_and(|(family, number)| {
        FAMILIES.contains(&family)
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0')
    })
}

fn rows(doc: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for (n, line) in doc.lines().enumerate() {
        let Some(inner) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = inner
            .trim_end_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if !is_id(cells[0]) {
            continue;
        }
        assert_eq!(
            cells.len(),
            4,
            "docs/rules.md:{}: the row for {} has {} cells, expected 4 (ID | source | rule | tested in)",
            n + 1,
            cells[0],
            cells.len()
        );
        rows.push(Row {
            line: n + 1,
            id: cells[0].to_owned(),
            tested_in: cells[3].to_owned(),
        });
    }
    rows
}

/// The (file, test function) pairs of a "tested in" cell: `` `path.rs`: `a`, `b`; `other.rs`: `c` ``.
/// Code spans with a `/` are files; the others are test names in the file before them.
fn references(cell: &str) -> Result<Vec<(String, String)>, String> {
    let mut refs = Vec::new();
    let mut file: Option<&str> = None;
    for span in cell.split('`').skip(1).step_by(2) {
        if span.contains('/') {
            if !span.ends_with(".rs") {
                return Err(format!("`{span}` is not a Rust file"));
            }
            file = Some(span);
        } else if !span.is_empty() && span.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let Some(file) = file else {
                return Err(format!("test `{span}` comes before any file"));
            };
            refs.push((file.to_owned(), span.to_owned()));
        } else {
            return Err(format!("`{span}` is neither a file nor a test name"));
        }
    }
    Ok(refs)
}

// ---------------------------------------------------------------------------------------------
// Scanning the repository

/// The Rust sources that may use rule IDs: `crates/*/src`, `crates/*/tests`, `examples`,
/// `benches` and `fuzz`, as paths relative to the repository root.
fn sources() -> Vec<String> {
    let root = root();
    let mut dirs = Vec::new();
    for krate in fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        dirs.push(krate.join("src"));
        dirs.push(krate.join("tests"));
    }
    for top in ["examples", "benches", "fuzz"] {
        dirs.push(root.join(top));
    }
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Build output may hold generated Rust files that are not ours.
                if path.file_name().is_some_and(|n| n != "target") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap();
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("crates/mta-sts-policy/tests/")),
        "found no sources under {}",
        root.display()
    );
    files
}

/// Every rule ID the code uses, with the first file that uses it: IDs as written (`POL-8`) and
/// IDs in test names (`pol_8_…`).
fn ids_in_code() -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for file in sources() {
        // This file's strings are examples for the matcher, not rules.
        if file.ends_with("mta-sts-query/tests/it/rules_doc.rs") {
            continue;
        }
        let src = read(&file);
        let named = test_fns(&src)
            .into_iter()
            .flat_map(|t| ids_in(&t.name, true));
        for id in ids_in(&src, false).into_iter().chain(named) {
            ids.entry(id).or_insert_with(|| file.clone());
        }
    }
    ids
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn every_rule_id_in_the_code_has_a_row() {
    let documented: BTreeSet<String> = rows(&read("docs/rules.md"))
        .into_iter()
        .map(|r| r.id)
        .collect();
    let code = ids_in_code();
    assert!(
        code.contains_key("POL-8"),
        "the scan found no POL-8: {code:?}"
    );
    let missing: Vec<String> = code
        .iter()
        .filter(|(id, _)| !documented.contains(*id))
        .map(|(id, file)| format!("{id} (used in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "rule IDs used in the code without a row in docs/rules.md:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_listed_test_exists_and_names_its_rule() {
    let rows = rows(&read("docs/rules.md"));
    let mut files: BTreeMap<String, Option<Vec<TestFn>>> = BTreeMap::new();
    let mut problems = Vec::new();
    for row in &rows {
        let at = format!("docs/rules.md:{} {}", row.line, row.id);
        let untested = row.tested_in.to_lowercase().starts_with(NOT_TESTED);
        let refs = match references(&row.tested_in) {
            Ok(refs) => refs,
            Err(e) => {
                problems.push(format!("{at}: tested-in cell: {e}"));
                continue;
            }
        };
        if refs.is_empty() && !untested {
            problems.push(format!(
                "{at}: the tested-in cell names no `file`: `test`; write \"{NOT_TESTED}\" if no test names {}",
                row.id
            ));
        }
        for (file, name) in refs {
            let fns = files.entry(file.clone()).or_insert_with(|| {
                fs::read_to_string(root().join(&file))
                    .ok()
                    .map(|src| test_fns(&src))
            });
            let Some(fns) = fns else {
                problems.push(format!("{at}: `{file}` does not exist"));
                continue;
            };
            let Some(test) = fns.iter().find(|t| t.name == name) else {
                problems.push(format!("{at}: `{file}` has no test function `{name}`"));
                continue;
            };
            // A test cited for a rule without its own test only has to exist.
            if !untested && !ids_in(&test.text, true).contains(&row.id) {
                problems.push(format!(
                    "{at}: test `{name}` in `{file}` does not mention {} in its name, comments or body",
                    row.id
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/rules.md is out of date:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn each_family_is_numbered_from_one_without_gaps() {
    let rows = rows(&read("docs/rules.md"));
    for family in FAMILIES {
        let numbers: Vec<(usize, u32)> = rows
            .iter()
            .filter_map(|r| {
                let (f, n) = r.id.split_once('-')?;
                (f == family).then(|| (r.line, n.parse().unwrap()))
            })
            .collect();
        assert!(!numbers.is_empty(), "docs/rules.md has no {family} rows");
        for (expected, (line, n)) in (1..).zip(&numbers) {
            assert_eq!(
                *n, expected,
                "docs/rules.md:{line}: {family}-{n} where {family}-{expected} was expected: a row is missing, repeated or out of order"
            );
        }
    }
}

// The helpers above decide what the checks see; these pin down the cases they must get right.

#[test]
fn ids_are_read_in_both_spellings_within_word_boundaries() {
    let set = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(
        ids_in("// POL-8: first wins; see TXT-9, A-15 and APPLY-1.", false),
        set(&["POL-8", "TXT-9", "A-15", "APPLY-1"])
    );
    // Not IDs: inside a longer word, with a letter or `_` glued on, or in lower case.
    assert_eq!(
        ids_in("XPOL-8 POL-8a POL-8_x a-1.b2 pol_8 SHA-1 POL-", false),
        set(&[])
    );
    assert_eq!(ids_in("POL-80", false), set(&["POL-80"]));
    assert_eq!(
        ids_in("fn pol_8_duplicates_first_wins", true),
        set(&["POL-8"])
    );
    assert_eq!(
        ids_in(
            "cache_1_2_6_lifetime apply_2_apply_3_x txt_9_10_y a_10_z",
            true
        ),
        set(&[
            "CACHE-1", "CACHE-2", "CACHE-6", "APPLY-2", "APPLY-3", "TXT-9", "TXT-10", "A-10"
        ])
    );
    assert_eq!(
        ids_in("fetch_7_tls_1_0_only data_5", true),
        set(&["FETCH-7"])
    );
}

#[test]
fn test_functions_end_at_their_own_closing_brace() {
    let src = r####"
use std::fmt;

/// POL-8: the first one wins.
#[test]
fn pol_8_first(x: &str) {
    let braces = "}}} {";
    let raw = r#"} "quoted" {"#;
    let c = '}';
    let lifetime: &'static str = "";
    // } a brace in a comment
    /* } and /* nested } */ */
    if true { assert!(true) }
}

fn helper() { let s = "POL-9"; }

mod inner {
    #[tokio::test(flavor = "multi_thread")]
    async fn txt_9_10_selection() {}
}

#[test] fn same_line() {}

#[test]
fn last() {}
"####;
    let fns = test_fns(src);
    let names: Vec<&str> = fns.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["pol_8_first", "txt_9_10_selection", "same_line", "last"]
    );
    assert!(
        fns[0]
            .text
            .starts_with("/// POL-8: the first one wins.\n#[test]\nfn pol_8_first")
    );
    assert!(
        fns[0].text.ends_with("if true { assert!(true) }\n}"),
        "{}",
        fns[0].text
    );
    assert!(!ids_in(&fns[0].text, true).contains("POL-9"));
    assert!(fns[1].text.trim_start().starts_with("#[tokio::test"));
}

#[test]
fn tested_in_cells_are_files_and_test_names() {
    let cell = "`crates/a/tests/it/x.rs`: `t_1`, `t_2`; `crates/b/src/y.rs`: `u`";
    assert_eq!(
        references(cell).unwrap(),
        [
            ("crates/a/tests/it/x.rs".to_owned(), "t_1".to_owned()),
            ("crates/a/tests/it/x.rs".to_owned(), "t_2".to_owned()),
            ("crates/b/src/y.rs".to_owned(), "u".to_owned()),
        ]
    );
    assert!(references("`t_1`").is_err());
    assert!(references("`crates/a/README.md`: `t`").is_err());
    assert!(references("`crates/a/x.rs`: `servername=hostname`").is_err());
    assert_eq!(references("not tested yet").unwrap(), []);
}
