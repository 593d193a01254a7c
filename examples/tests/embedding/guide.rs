//! `docs/embedding.md` stays true: its Rust code is quoted from files that CI compiles (the
//! examples, the crates), and its links lead to files of the repository.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn guide() -> String {
    std::fs::read_to_string(root().join("docs/embedding.md")).expect("docs/embedding.md")
}

/// The ```rust blocks of `markdown`, each as its lines.
fn rust_blocks(markdown: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let fence = line.trim();
        if !fence.starts_with("```rust") {
            continue;
        }
        // An annotated block (`rust,ignore`) would escape this check: every block is plain.
        assert_eq!(fence, "```rust", "only plain ```rust blocks");
        blocks.push(lines.by_ref().take_while(|l| l.trim() != "```").collect());
    }
    blocks
}

#[test]
fn every_rust_block_is_quoted_from_a_compiled_file() {
    let guide = guide();
    let blocks = rust_blocks(&guide);
    for block in &blocks {
        let (first, code) = block.split_first().expect("a non-empty block");
        let source = first.trim().strip_prefix("// ").unwrap_or_else(|| {
            panic!("a block starts with `// <file it is quoted from>`: {first}")
        });
        let file = std::fs::read_to_string(root().join(source))
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        // Indentation differs between the guide and the file it quotes; nothing else may.
        let code: Vec<&str> = code.iter().map(|l| l.trim()).collect();
        let lines: Vec<&str> = file.lines().map(str::trim).collect();
        assert!(!code.is_empty(), "an empty block quoting {source}");
        assert!(
            lines.windows(code.len()).any(|w| w == code.as_slice()),
            "not found in {source}:\n{}",
            code.join("\n")
        );
    }
    assert!(blocks.len() >= 8, "only {} rust blocks", blocks.len());
    // The simplest embedding is there, quoted from the example that CI builds.
    assert!(
        blocks
            .iter()
            .any(|b| b[0] == "// examples/src/bin/simplest-lookup.rs"
                && b.iter()
                    .any(|l| l.contains("mta_sts_fetch::resolver(MemoryCache::new(10_000))?"))),
        "the three-line embedding"
    );
}

#[test]
fn links_lead_into_the_repository() {
    let guide = guide();
    let docs = root().join("docs");
    let mut links = 0;
    for (at, _) in guide.match_indices("](") {
        let rest = &guide[at + 2..];
        let target = &rest[..rest.find(')').expect("a closed link")];
        links += 1;
        if target.starts_with("https://www.rfc-editor.org/rfc/") {
            continue;
        }
        assert!(
            !target.contains("://"),
            "only RFC links leave the repository: {target}"
        );
        let path = target.split('#').next().unwrap_or_default();
        if path.is_empty() {
            continue;
        }
        assert!(docs.join(path).exists(), "broken link {target}");
    }
    assert!(links >= 10, "only {links} links");
    // Bare addresses outside link syntax, too.
    for (at, _) in guide.match_indices("://") {
        let start = guide[..at]
            .rfind(|c: char| c.is_whitespace() || c == '(' || c == '`')
            .map_or(0, |i| i + 1);
        let address = &guide[start..];
        assert!(
            // The policy URL template, `https://mta-sts.<domain>/…`, is not a link.
            address.starts_with("https://www.rfc-editor.org/rfc/")
                || address.starts_with("https://mta-sts.<domain>"),
            "an external address: {}",
            &address[..address.find(char::is_whitespace).unwrap_or(address.len())]
        );
    }
}
