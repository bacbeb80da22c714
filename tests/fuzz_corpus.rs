//! The corpora the fuzzers found (`tests/fixtures/fuzz/<target>/`, see
//! docs/scenarios.md#fuzzing), replayed under a plain `cargo test`: every file goes through
//! exactly the functions the fuzz targets call (`fuzz/src/lib.rs`, included below), and none
//! may panic. Errors are fine: most of these files are broken on purpose. Touches no cluster.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Every file of a corpus, sorted; fails when the dir is missing or empty, so that a lost
/// corpus cannot pass as "no panic".
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display())).path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus {} has {} files; expected the minimized corpus", dir.display(), files.len());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // NB: on a panic the test fails with the panic's message; this line says which file.
        eprintln!("{}", f.display());
        run(&data);
    }
    eprintln!("{target}: {} files replayed", files.len());
}

#[test]
fn scenario_corpus_replays_without_panic() {
    replay("scenario", harness::scenario);
}

#[test]
fn report_corpus_replays_without_panic() {
    replay("report", harness::report);
}
