//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/artifacts/<target>/`) through the targets' bodies, on stable, in `cargo test`.

use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_committed_corpus_and_it_replays() {
    let root = fuzz_dir();
    let mut total = 0;
    for (name, target) in mta_sts_fuzz::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            corpus.len() >= 3,
            "fuzz/corpus/{name} has {} seed files; every target needs a committed seed corpus",
            corpus.len()
        );
        let crashes = inputs(&root.join("artifacts").join(name));
        for file in corpus.iter().chain(&crashes) {
            let data = fs::read(file).expect("readable corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
            total += 1;
        }
    }
    eprintln!("replayed {total} inputs");
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let targets = fuzz_dir().join("fuzz_targets");
    for (name, _) in mta_sts_fuzz::TARGETS {
        let file = targets.join(format!("{name}.rs"));
        let source =
            fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} is missing", file.display()));
        assert!(
            source.contains(&format!("mta_sts_fuzz::{name}(")),
            "{} calls another body",
            file.display()
        );
    }
}
