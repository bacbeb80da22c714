//! Aborting `aftershock run` with SIGTERM: the report is still written, marked aborted, and
//! the run's own local cluster is stopped. Kept apart from tests/run.rs so the two suites'
//! clusters do not compete for the CPU (test binaries run one after another).

mod common;
use common::validate_against_schema;
use std::process::Command;
use std::time::Duration;

use aftershock::cluster::process;
use aftershock::report::{Report, RunStatus};
use serde_json::json;

/// SIGTERM in the middle of a run: load stops, the report is written and marked aborted,
/// and the exit code is non-zero. With a `local` cluster, no Kafka process is left behind.
#[test]
fn sigterm_writes_an_aborted_report_and_stops_the_local_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = json!({
        "name": "abort-me",
        "cluster": { "local": { "nodes": 1 } },
        "topics": [{ "name": "t", "partitions": 2, "replication_factor": 1 }],
        "producers": [{ "name": "p", "topic": "t", "rate": 500 }],
        "consumers": [{ "name": "c", "topic": "t" }],
        "phases": [{ "name": "steady", "duration": "5m" }]
    });
    let file = tmp.path().join("abort-me.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    let run_dir = tmp.path().join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["run", "--out"])
        .arg(&run_dir)
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until load is flowing: the plain progress lines (stderr is not a terminal) show
    // acknowledged messages.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let flowing = line
                .split("acked ")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > 0);
            if flowing {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(150)).expect("load never started flowing");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "an aborted run exits 3");
    let report = Report::load(&run_dir.join("report.json")).expect("an aborted run still writes its report");
    assert_eq!(report.status, RunStatus::Aborted);
    assert!(report.abort_reason.as_deref().unwrap_or("").contains("interrupted"), "{:?}", report.abort_reason);
    assert!(report.verification.acked > 0, "{:?}", report.verification);
    assert_eq!(report.verification.lost, 0, "{:?}", report.verification);
    validate_against_schema(&run_dir.join("report.json"));
    assert!(process::processes_mentioning(&run_dir.join("cluster")).is_empty(), "the run's cluster outlived it");
}
