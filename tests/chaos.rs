//! Faults on real local clusters: a leader kill, a controller kill, a zombie broker, a rolling
//! restart and an unsafe configuration whose loss the verifier must report; and `heal` after
//! aftershock itself is SIGKILLed in the middle of faults.
//!
//! Each run starts its own 3-node cluster. The runs take turns (one lock) because the
//! machine has two cores: clusters side by side would measure the CPU, not the faults.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aftershock::cluster::{ClusterState, NodePaths, process};
use aftershock::report::{FaultRecord, Report, RunStatus};
use aftershock::runner::{Progress, RunOptions, run_scenario};
use serde_json::{Value, json};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scenario(name: &str, steady: &str, producer: Value, faults: Value) -> Value {
    let mut v = netns_scenario(name, steady, producer, faults);
    v["cluster"] = json!({ "local": { "nodes": 3 } });
    v
}

/// The same, with each node in its own network namespace (root only).
fn netns_scenario(name: &str, steady: &str, producer: Value, faults: Value) -> Value {
    json!({
        "name": name,
        "seed": 5,
        "cluster": { "local": { "nodes": 3, "netns": true } },
        "topics": [{ "name": "t", "partitions": 6, "replication_factor": 3, "config": { "min.insync.replicas": 2 } }],
        "producers": [producer],
        "consumers": [{ "name": "c", "topic": "t" }],
        "phases": [{ "name": "warmup", "duration": "4s" }, { "name": "steady", "duration": steady }],
        "faults": faults,
        "drain": "30s"
    })
}

fn safe_producer() -> Value {
    json!({ "name": "p", "topic": "t", "rate": 500, "message_size": "256B", "acks": "all", "idempotence": true })
}

async fn run(v: &Value, dir: &Path) -> Report {
    let s = aftershock::scenario::parse_str(&v.to_string(), "test.json")
        .unwrap_or_else(|d| panic!("invalid test scenario:\n{d}"));
    let opts = RunOptions {
        out: Some(dir.to_path_buf()),
        reports_root: dir.to_path_buf(),
        progress: Progress::None,
        kube_context: None,
    };
    let r = run_scenario(s, opts, std::future::pending()).await.expect("run");
    assert!(process::processes_mentioning(&dir.join("cluster")).is_empty(), "the run's cluster outlived it");
    r.report
}

fn only_fault(r: &Report) -> &FaultRecord {
    assert_eq!(r.faults.len(), 1, "{:#?}", r.faults);
    &r.faults[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_kill_loses_nothing_and_recovers_within_the_session_timeout() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let v = scenario(
        "leader-kill",
        "35s",
        safe_producer(),
        json!([{ "name": "kill-leader", "phase": "steady", "offset": "6s", "action": "kill",
                 "target": { "leader_of": { "topic": "t", "partition": 0 } }, "duration": "12s" }]),
    );
    let r = run(&v, tmp.path()).await;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    let v = &r.verification;
    assert!(v.acked > 10_000, "{v:?}");
    assert_eq!((v.lost, v.duplicates), (0, 0), "{v:?}");
    let f = only_fault(&r);
    assert_eq!(f.action, "kill");
    assert_eq!(f.target.nodes.len(), 1);
    assert!(f.target.reason.contains("led t/0"), "{:?}", f.target);
    let rec = &f.recovery;
    // broker.session.timeout.ms is 9 s: acks=all waits at most that long for the dead replica
    // to leave the ISR, plus leader election and client metadata refresh.
    let unavailable = rec.unavailable_max_secs.expect("unavailability measured");
    assert!(unavailable > 0.0 && unavailable <= 9.0 + 6.0, "unavailable {unavailable} s: {rec:#?}");
    assert!(rec.isr_recovered_secs.is_some(), "{rec:#?}");
    assert!(rec.node_registered_secs.is_some(), "{rec:#?}");
    assert!(rec.max_latency_us.is_some() && rec.p99_latency_us.is_some(), "{rec:#?}");
    assert!(rec.throughput_recovered_secs.is_some(), "{rec:#?}");
    // Written to the ledger before being applied, and closed when undone.
    let ledger = std::fs::read_to_string(tmp.path().join("faults.jsonl")).unwrap();
    assert!(ledger.contains("\"event\":\"applying\"") && ledger.contains("\"event\":\"reverted\""), "{ledger}");
}

/// A recovery check with `abort_on_fail` is decided when the fault's observation ends, not
/// when the run does: the ISR takes far longer than 1 s to be whole again after a kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovery_check_with_abort_on_fail_stops_the_run_once_the_fault_is_observed() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut v = scenario(
        "slow-isr",
        "90s",
        safe_producer(),
        json!([{ "name": "kill-leader", "phase": "steady", "offset": "4s", "action": "kill",
                 "target": { "leader_of": { "topic": "t", "partition": 0 } }, "duration": "4s" }]),
    );
    v["checks"] =
        json!([{ "metric": "recovery.isr_recovered", "fault": "kill-leader", "max": "1s", "abort_on_fail": true }]);
    let r = run(&v, tmp.path()).await;
    assert_eq!(r.status, RunStatus::Aborted, "{:?}", r.abort_reason);
    let why = r.abort_reason.clone().unwrap_or_default();
    assert!(why.contains("abort_on_fail") && why.contains("recovery.isr_recovered"), "{why}");
    let isr = only_fault(&r).recovery.isr_recovered_secs.expect("measured");
    assert!(isr > 1.0, "{isr}");
    // Stopped soon after the ISR was whole again, long before the 94 s of load.
    assert!(r.duration_secs < 60.0, "ran {} s", r.duration_secs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_kill_elects_a_new_quorum_leader() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let v = scenario(
        "controller-kill",
        "30s",
        safe_producer(),
        json!([{ "name": "kill-controller", "phase": "steady", "offset": "5s", "action": "kill", "target": "controller", "duration": "10s" }]),
    );
    let r = run(&v, tmp.path()).await;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    assert_eq!((r.verification.lost, r.verification.duplicates), (0, 0), "{:?}", r.verification);
    let f = only_fault(&r);
    assert!(f.target.reason.contains("active controller"), "{:?}", f.target);
    let new = f.recovery.new_controller_secs.expect("a new quorum leader was seen");
    assert!(new < 10.0, "new controller after {new} s: {:#?}", f.recovery);
    assert!(f.recovery.notes.iter().any(|n| n.contains("became the active controller")), "{:#?}", f.recovery);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zombie_broker_and_rolling_restart_finish_with_their_figures() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let v = scenario(
        "zombie",
        "30s",
        safe_producer(),
        json!([{ "name": "pause-leader", "phase": "steady", "offset": "5s", "action": "pause",
                 "target": { "leader_of": { "topic": "t", "partition": 0 } }, "duration": "12s" }]),
    );
    let r = run(&v, &tmp.path().join("zombie")).await;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    assert_eq!((r.verification.lost, r.verification.duplicates), (0, 0), "{:?}", r.verification);
    let f = only_fault(&r);
    assert_eq!(f.action, "pause");
    assert!(f.end_secs - f.start_secs >= 12.0, "{f:#?}");
    assert!(f.recovery.unavailable_max_secs.is_some() && f.recovery.max_latency_us.is_some(), "{:#?}", f.recovery);

    let v = scenario(
        "rolling",
        "90s",
        safe_producer(),
        json!([{ "name": "rolling-restart", "phase": "steady", "offset": "5s", "action": "restart" }]),
    );
    let r = run(&v, &tmp.path().join("rolling")).await;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    assert_eq!((r.verification.lost, r.verification.duplicates), (0, 0), "{:?}", r.verification);
    let f = only_fault(&r);
    assert_eq!(f.target.nodes, vec![1, 2, 3]);
    assert!(f.recovery.isr_recovered_secs.is_some(), "{:#?}", f.recovery);
    assert!(f.recovery.notes.iter().all(|n| !n.contains("applying") && !n.contains("undoing")), "{:#?}", f.recovery);
}

/// The leader of t/0 cut off from the other nodes (nftables in its namespace): it loses its
/// followers and the quorum; the others elect a new leader and the clients move over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_isolated_from_the_other_nodes_recovers_without_loss() {
    let _turn = TURN.lock().await;
    assert!(nix::unistd::geteuid().is_root(), "network namespaces need root: run the suite as root (CI does)");
    let tmp = tempfile::tempdir().unwrap();
    let v = netns_scenario(
        "isolation",
        "40s",
        safe_producer(),
        json!([{ "name": "isolate-leader", "phase": "steady", "offset": "5s", "action": "partition", "peers": "nodes",
                 "target": { "leader_of": { "topic": "t", "partition": 0 } }, "duration": "15s" }]),
    );
    let r = run(&v, tmp.path()).await;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    assert_eq!((r.verification.lost, r.verification.duplicates), (0, 0), "{:?}", r.verification);
    let f = only_fault(&r);
    assert_eq!(f.action, "partition");
    assert!(f.target.reason.contains("led t/0"), "{:?}", f.target);
    let rec = &f.recovery;
    assert!(rec.unavailable_max_secs.is_some(), "{rec:#?}");
    assert!(rec.isr_recovered_secs.is_some(), "{rec:#?}");
    assert!(rec.max_latency_us.is_some(), "{rec:#?}");
}

/// Faults also act on a cluster started earlier by `aftershock cluster up`, which the run
/// leaves running.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_act_on_a_cluster_from_cluster_up_and_leave_it_running() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let cluster = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            aftershock::cluster::LocalCluster::up(&aftershock::cluster::UpOptions::new(dir))
                .map(|c| c.stop_on_drop(true))
        }
    })
    .await
    .unwrap()
    .expect("cluster up");
    let mut v = scenario(
        "on-running",
        "15s",
        safe_producer(),
        json!([{ "name": "freeze", "phase": "steady", "offset": "3s", "action": "pause", "target": "random", "duration": "5s" }]),
    );
    v["cluster"] = json!({ "running": { "dir": dir } });
    let s = aftershock::scenario::parse_str(&v.to_string(), "test.json").unwrap_or_else(|d| panic!("{d}"));
    let run_dir = tmp.path().join("run");
    let opts = RunOptions {
        out: Some(run_dir.clone()),
        reports_root: run_dir.clone(),
        progress: Progress::None,
        kube_context: None,
    };
    let r = run_scenario(s, opts, std::future::pending()).await.expect("run").report;
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.abort_reason);
    let f = only_fault(&r);
    assert_eq!(f.target.nodes.len(), 1);
    assert!(f.target.reason.contains("at random"), "{:?}", f.target);
    assert_eq!(r.verification.lost, 0, "{:?}", r.verification);
    // Left running, every node resumed.
    let state = ClusterState::load(&dir).unwrap();
    for n in &state.nodes {
        let pid = n.pid.unwrap();
        assert!(process::is_node_alive(pid, &NodePaths::new(&dir, n.id).config), "node {} stopped by the run", n.id);
        assert!(!process::is_stopped(pid), "node {} left paused", n.id);
    }
    tokio::task::spawn_blocking(move || cluster.down(false, Duration::from_secs(30))).await.unwrap().unwrap();
}

/// acks=0 is unsafe: a frozen leader's socket buffers fill with messages the producer counts
/// as delivered, and killing it then drops them. The verifier must report that loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unsafe_configuration_shows_the_loss_the_fault_caused() {
    let _turn = TURN.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let v = scenario(
        "unsafe-acks0",
        "30s",
        json!({ "name": "p", "topic": "t", "rate": 2000, "message_size": "1KiB", "acks": "0" }),
        json!([
            { "name": "freeze", "phase": "steady", "offset": "5s", "action": "pause", "target": { "node": 1 }, "duration": "8s" },
            { "name": "kill-frozen", "phase": "steady", "offset": "9s", "action": "kill", "target": { "node": 1 }, "duration": "10s" }
        ]),
    );
    let r = run(&v, tmp.path()).await;
    assert!(
        r.verification.lost > 0,
        "acks=0 through a frozen then killed broker must lose messages: {:?}",
        r.verification
    );
    assert_eq!(r.faults.len(), 2);
}

/// aftershock is SIGKILLed while a node is paused and another killed: `heal` resumes the
/// one and restarts the other, from the ledger and the cluster state alone. Meanwhile, with
/// no node able to take a write, the progress lines show the messages waiting and how long
/// the oldest has waited.
#[test]
fn heal_after_sigkill_leaves_no_paused_node_and_every_node_back() {
    let _turn = TURN.blocking_lock();
    let tmp = tempfile::tempdir().unwrap();
    assert!(nix::unistd::geteuid().is_root(), "network namespaces need root: run the suite as root (CI does)");
    let v = netns_scenario(
        "crash",
        "3m",
        safe_producer(),
        json!([
            { "name": "freeze", "phase": "steady", "offset": "2s", "action": "pause", "target": { "node": 1 }, "duration": "2m" },
            { "name": "kill", "phase": "steady", "offset": "3s", "action": "kill", "target": { "node": 2 }, "duration": "2m" },
            { "name": "cut", "phase": "steady", "offset": "4s", "action": "partition", "target": { "node": 3 }, "duration": "2m" }
        ]),
    );
    let file = tmp.path().join("crash.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let run_dir = tmp.path().join("run");
    // Not quiet, and not on a terminal: a progress line every 5 s on stderr.
    let mut child = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["run", "--out"])
        .arg(&run_dir)
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ledger = run_dir.join("faults.jsonl");
    let deadline = Instant::now() + Duration::from_secs(150);
    while std::fs::read_to_string(&ledger).map(|l| l.matches("\"applying\"").count()).unwrap_or(0) < 3 {
        assert!(Instant::now() < deadline, "the faults never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Two progress lines into the outage.
    std::thread::sleep(Duration::from_secs(11));
    child.kill().unwrap(); // SIGKILL: no clean-up code runs
    let progress = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    println!("{progress}");
    let oldest = progress
        .lines()
        .filter_map(|l| l.split_once("(oldest ")?.1.split_once(" s)")?.0.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(oldest >= 5.0, "the oldest waiting message's age grows through the outage:\n{progress}");
    assert!(progress.contains("acked 0/s") && progress.contains("p99 -"), "{progress}");

    let cluster_dir = run_dir.join("cluster");
    let state = ClusterState::load(&cluster_dir).unwrap();
    let pid = |id: i32| state.node(id).unwrap().pid.unwrap();
    assert!(process::is_stopped(pid(1)), "node 1 should be left paused by the crash");
    assert!(!process::is_node_alive(pid(2), &NodePaths::new(&cluster_dir, 2).config), "node 2 should be left dead");
    let layout = state.netns.clone().expect("a netns cluster");
    assert!(!aftershock::chaos::partition::active_rules(&layout).unwrap().is_empty(), "node 3 should be left cut off");

    let o = Command::new(env!("CARGO_BIN_EXE_aftershock")).arg("heal").arg(&run_dir).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("resumed pid") && out.contains("restarted node 2") && out.contains("removed partition rules"),
        "{out}"
    );
    assert!(aftershock::chaos::partition::active_rules(&layout).unwrap().is_empty(), "partition rules left after heal");

    let state = ClusterState::load(&cluster_dir).unwrap();
    for n in &state.nodes {
        let p = n.pid.unwrap();
        assert!(process::is_node_alive(p, &NodePaths::new(&cluster_dir, n.id).config), "node {} is not back", n.id);
        assert!(!process::is_stopped(p), "node {} is still paused", n.id);
    }
    let again = Command::new(env!("CARGO_BIN_EXE_aftershock")).arg("heal").arg(&run_dir).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing left to undo"), "{again:?}");

    let down = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["cluster", "down", "--dir"])
        .arg(&cluster_dir)
        .output()
        .unwrap();
    assert!(down.status.success(), "{down:?}");
    assert!(process::processes_mentioning(&cluster_dir).is_empty());
}
