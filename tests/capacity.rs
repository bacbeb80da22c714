//! `aftershock capacity` against a real local cluster (one cluster from `cluster up`, used
//! through a `running` scenario target so that the test can check what the search leaves
//! behind): a search that finds a rate, one whose bound cannot be met, the one-node-down
//! variant restoring its node, and an interrupted search that still writes its report.
//!
//! Steps are a few seconds long and the latency bounds loose or impossible on purpose: the
//! test checks the search's behaviour, never how fast this machine is.

mod common;
use common::{dir_str, text};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aftershock::capacity::report::CapacityReport;
use aftershock::cluster::{LocalCluster, UpOptions};
use serde_json::{Value, json};

fn scenario(name: &str, cluster_dir: &Path, capacity: Value) -> Value {
    json!({
        "name": name,
        "seed": 9,
        "cluster": { "running": { "dir": dir_str(cluster_dir) } },
        "topics": [{ "name": name, "partitions": 3, "replication_factor": 3, "config": { "min.insync.replicas": 2 } }],
        "producers": [{ "name": "p", "topic": name, "message_size": "256B" }],
        "consumers": [{ "name": "c", "topic": name }],
        "capacity": capacity
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

fn schema_errors(report: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/capacity.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("capacity.schema.json is not a JSON Schema: {e}"));
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    v.iter_errors(report).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

/// Loads capacity.json, checks it against its schema and the step invariants of any search.
fn check_report(run_dir: &Path) -> CapacityReport {
    let path = run_dir.join("capacity.json");
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let errors = schema_errors(&raw);
    assert!(errors.is_empty(), "capacity.json does not match its schema: {errors:#?}");
    let rep = CapacityReport::load(&path).unwrap();
    // Ramp targets rise; refinements stay strictly inside (highest pass, lowest fail) of the ramp.
    let ramp: Vec<&_> = rep.steps.iter().filter(|s| s.stage == aftershock::capacity::search::Stage::Ramp).collect();
    assert!(ramp.windows(2).all(|w| w[1].target_rate > w[0].target_rate), "{:#?}", rep.steps);
    let verdict = aftershock::capacity::report::Verdict::Pass;
    let pass = ramp.iter().filter(|s| s.verdict == verdict).map(|s| s.target_rate).fold(0.0, f64::max);
    let fail = ramp.iter().filter(|s| s.verdict != verdict).map(|s| s.target_rate).fold(f64::MAX, f64::min);
    for s in rep.steps.iter().filter(|s| s.stage == aftershock::capacity::search::Stage::Refine) {
        assert!(s.target_rate > pass && s.target_rate < fail, "refinement {} outside ({pass}, {fail})", s.target_rate);
    }
    for (i, s) in rep.steps.iter().enumerate() {
        assert_eq!(s.index as usize, i + 1);
        assert_eq!(s.verdict == verdict, s.reasons.is_empty(), "{s:#?}");
        // The per-second series covers the step in order, and its window adds up to the step.
        assert!(s.seconds.windows(2).all(|w| w[1].at_secs == w[0].at_secs + 1), "{:#?}", s.seconds);
        let window: Vec<_> = s.seconds.iter().filter(|x| x.phase == "measure").collect();
        assert!(!window.is_empty(), "{s:#?}");
        assert_eq!(window.iter().map(|x| x.acked).sum::<u64>(), s.acked, "{s:#?}");
    }
    // The answer is the highest passing step, and the lowest failing one above it.
    let passed: Vec<f64> = rep.steps.iter().filter(|s| s.verdict == verdict).map(|s| s.target_rate).collect();
    assert_eq!(rep.result.sustained_rate, passed.iter().copied().reduce(f64::max));
    assert_eq!(rep.result.found, rep.result.sustained_rate.is_some());
    let md = std::fs::read_to_string(run_dir.join("summary.md")).unwrap();
    assert!(md.contains(&rep.result.summary), "{md}");
    assert!(md.contains("| # | stage | target |"), "{md}");
    rep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capacity_search_on_a_real_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster_dir = tmp.path().join("cluster");
    let cluster = tokio::task::spawn_blocking({
        let dir = cluster_dir.clone();
        move || LocalCluster::up(&UpOptions::new(dir)).map(|c| c.stop_on_drop(true))
    })
    .await
    .unwrap()
    .expect("cluster up");

    // 1. A loose bound: the search finds a rate, steps rise, then refine; JSON on stdout,
    //    JUnit written, exit 0.
    let found = scenario(
        "cap-found",
        &cluster_dir,
        json!({ "start": 200, "step": { "multiply": 2 }, "warmup": "1s", "initial_warmup": "2s", "duration": "2s", "settle": "5s",
                "max_steps": 3, "refine": 1, "require": 100,
                "sustain": { "produce_p99": "20s", "e2e_p99": "30s", "min_achieved": "50%", "max_error_rate": "5%",
                             "max_lag_growth": "10s" } }),
    );
    let file = write(tmp.path(), "found", &found);
    let out = tmp.path().join("found-run");
    let junit = tmp.path().join("found.xml");
    let o =
        common::aftershock(&["capacity", &file, "--out", dir_str(&out), "--json", "--junit", dir_str(&junit), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&o)));
    let rep = check_report(&out);
    assert_eq!(printed["run_id"], rep.run_id);
    assert!(rep.result.found, "{:#?}", rep.result);
    assert_eq!(rep.result.meets_requirement, Some(true));
    assert!(rep.steps.len() >= 2 && rep.steps.len() <= 3, "{:#?}", rep.steps);
    assert_eq!(rep.steps[0].target_rate, 200.0);
    assert!(rep.steps.iter().all(|s| s.acked > 0 && s.produce.count > 0 && s.e2e.count > 0), "{:#?}", rep.steps);
    assert!(rep.node_down.is_none());
    assert!(out.join("capacity.svg").is_file() && out.join("capacity.png").is_file());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("sustainable rate") && xml.contains("capacity &gt;= 100 msg/s"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    // 2. A bound nothing can meet: one step, "no sustainable rate", exit 1.
    let never = scenario(
        "cap-never",
        &cluster_dir,
        json!({ "start": 200, "warmup": "1s", "initial_warmup": "0s", "duration": "2s", "settle": "5s", "sustain": { "produce_p99": "1us" } }),
    );
    let file = write(tmp.path(), "never", &never);
    let out = tmp.path().join("never-run");
    let o = common::aftershock(&["capacity", &file, "--out", dir_str(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Other reasons (a short achieved rate on a busy machine) may come first; the bound is among them.
    assert!(stderr.contains("No sustainable rate: the start rate 200 msg/s already failed ("), "{stderr}");
    assert!(stderr.contains("above the bound 1 µs"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), dir_str(&out));
    let rep = check_report(&out);
    assert!(!rep.result.found);
    assert_eq!(rep.result.limit, aftershock::capacity::search::Limit::StartFailed);
    assert_eq!(rep.steps.len(), 1);
    assert!(rep.steps[0].reasons.iter().any(|r| r.contains("above the bound 1 µs")), "{:#?}", rep.steps[0]);

    // 3. One node down for the whole search: node 2 is killed, partitions fail over, the
    //    search runs, node 2 is back at the end. The required capacity is out of reach: exit 1.
    let down = scenario(
        "cap-down",
        &cluster_dir,
        json!({ "start": 200, "step": { "add": 200 }, "warmup": "1s", "initial_warmup": "0s", "duration": "2s", "settle": "5s",
                "max_steps": 2, "refine": 0, "require": "10M", "sustain": { "produce_p99": "20s", "min_achieved": "50%" } }),
    );
    let file = write(tmp.path(), "down", &down);
    let out = tmp.path().join("down-run");
    let o = common::aftershock(&["capacity", &file, "--out", dir_str(&out), "--node-down=2", "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let rep = check_report(&out);
    let d = rep.node_down.clone().expect("node_down recorded");
    assert_eq!(d.node, 2);
    assert!(d.restored, "{d:#?}");
    assert!(d.failover_secs.is_some());
    assert!(rep.result.found, "{:#?}", rep.steps);
    assert_eq!(rep.result.meets_requirement, Some(false));
    assert!(rep.conditions().contains("with node 2 down"), "{}", rep.conditions());
    // The fault ledger says the node was put back, and the cluster has every node again.
    let ledger = std::fs::read_to_string(out.join("faults.jsonl")).unwrap();
    assert!(ledger.contains("\"applying\"") && ledger.contains("\"reverted\""), "{ledger}");
    let status = tokio::task::spawn_blocking({
        let dir = cluster_dir.clone();
        move || LocalCluster::open(&dir).unwrap().status()
    })
    .await
    .unwrap();
    assert_eq!((status.alive, status.registered), (3, 3), "{status:#?}");

    // 4. Interrupted (SIGTERM, as Ctrl-C): the report is still written, marked aborted; exit 3.
    let long = scenario(
        "cap-abort",
        &cluster_dir,
        json!({ "start": 200, "warmup": "1s", "initial_warmup": "0s", "duration": "60s", "sustain": { "produce_p99": "20s" } }),
    );
    let file = write(tmp.path(), "abort", &long);
    let out = tmp.path().join("abort-run");
    let child = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["capacity", &file, "--out", dir_str(&out)])
        .env("AFTERSHOCK_STATE_DIR", tmp.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt it once the first step is under way (consumers join within a few seconds; an
    // earlier interrupt must give an aborted report just the same).
    tokio::time::sleep(Duration::from_secs(8)).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let rep = check_report(&out);
    assert_eq!(rep.status, aftershock::report::RunStatus::Aborted);
    assert!(rep.abort_reason.as_deref().unwrap_or("").contains("interrupted"), "{:?}", rep.abort_reason);
    assert_eq!(rep.result.limit, aftershock::capacity::search::Limit::Aborted);
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("**Aborted**"));

    drop(cluster);
}

#[test]
fn wrong_files_and_flags_exit_2_before_touching_a_cluster() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/capacity-search.json");
    let o = common::aftershock(&["run", shipped]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has no phases: it describes a capacity search"),
        "{}",
        text(&o)
    );
    let o = common::aftershock(&["capacity", concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.json")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no `capacity` block"), "{}", text(&o));
    let o = common::aftershock(&["capacity", shipped, "--node-down=x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = common::aftershock(&["capacity", shipped, "--node-down=9", "--out", "/nonexistent/never"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nodes 1 to 3, not 9"), "{}", text(&o));
    // A bad capacity block is reported with positions, like every scenario problem.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "b", "cluster": {"local": {}}, "topics": [{"name": "t", "partitions": 1}],
 "producers": [{"name": "p", "topic": "t"}],
 "capacity": {"start": "1k", "sustain": {"produce_p99": "fast"}}}"#,
    )
    .unwrap();
    let o = common::aftershock(&["capacity", dir_str(&bad)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bad.json:3:57: capacity.sustain.produce_p99: `fast` is not a duration"), "{stderr}");
}
