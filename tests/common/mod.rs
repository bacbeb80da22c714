//! Helpers shared by the integration tests.
// NB: each test binary uses only some of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Asserts that the report at `report_path` matches schemas/report.schema.json.
pub fn validate_against_schema(report_path: &Path) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.schema.json")).unwrap(),
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(&report).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "report.json does not match its schema: {errors:#?}");
}

/// Runs the binary with its registry of known dirs (for `heal --all`) kept apart from the user's.
pub fn aftershock(args: &[&str]) -> Output {
    aftershock_in(&state_dir(), args)
}

/// The registry dir `aftershock` gives the binary: this test process's own.
pub fn state_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("aftershock-test-state-{}", std::process::id()))
}

/// The same with the registry in `state`: a test that runs `heal --all` keeps it to itself, so
/// that it never heals (or fails to heal) another test's deliberately broken cluster.
pub fn aftershock_in(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(args)
        .env("AFTERSHOCK_STATE_DIR", state)
        .output()
        .expect("run aftershock")
}

/// Exit status and both outputs, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn dir_str(d: &Path) -> &str {
    d.to_str().expect("utf-8 temp dir")
}
