//! Tests against real Apache Kafka clusters that aftershock starts itself.

mod common;
use common::{aftershock, dir_str, text};
use std::process::Command;
use std::time::Duration;

use aftershock::cluster::{LocalCluster, UpOptions, process};
use aftershock::smoke::{SmokeOptions, TopicSpec, smoke};
use nix::sys::signal::Signal;

/// The acceptance path: 3 nodes, rf 3 / min ISR 2, 20,000 numbered messages each
/// read back exactly once, acks=all still works with one node SIGKILLed, nothing left after down.
#[test]
fn three_node_cluster_exactly_once_survives_a_kill_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let mut cluster = LocalCluster::up(&UpOptions::new(&dir)).expect("cluster up").stop_on_drop(true);
    let bootstrap = cluster.bootstrap();

    let status = cluster.status();
    assert_eq!(status.nodes.len(), 3);
    assert_eq!(status.registered, 3, "{status:?}");
    assert!(status.nodes.iter().all(|n| n.alive && n.registered && n.pid.is_some()));

    // The active controller over the wire (DescribeQuorum, as the Kubernetes backend asks it)
    // is the quorum leader the nodes' own quorum-state files name.
    let mut base = rdkafka::ClientConfig::new();
    base.set("bootstrap.servers", &bootstrap);
    let on_disk = aftershock::chaos::observe::active_controller(&dir, cluster.state(), &[1, 2, 3]);
    let asked =
        aftershock::chaos::quorum::describe_quorum_leader(&base, Duration::from_secs(10)).expect("DescribeQuorum");
    assert_eq!(Some(asked), on_disk);

    let topic = "exactly-once";
    let first = smoke(
        &bootstrap,
        &SmokeOptions {
            topic: topic.into(),
            create: Some(TopicSpec { partitions: 6, replication: 3, min_insync_replicas: Some(2) }),
            messages: 20_000,
            timeout: Duration::from_secs(60),
        },
    )
    .expect("produce and consume");
    assert_eq!(first.sent, 20_000);
    assert_eq!(first.acked, 20_000, "{first:?}");
    assert_eq!(first.consumed, 20_000, "{first:?}");
    assert_eq!((first.missing, first.duplicates, first.failed), (0, 0, 0), "{first:?}");
    assert!(first.ok());

    // SIGKILL one node: with rf 3 and min ISR 2, acks=all produce must still succeed.
    let victim = 2;
    cluster.signal_node(victim, Signal::SIGKILL).unwrap();
    assert!(!cluster.is_alive(victim));
    let status = cluster.status();
    assert_eq!(status.alive, 2, "{status:?}");
    let second = smoke(
        &bootstrap,
        &SmokeOptions { topic: topic.into(), create: None, messages: 2_000, timeout: Duration::from_secs(90) },
    )
    .expect("produce with a node down");
    assert!(second.ok(), "acks=all produce with one node down: {second:?}");

    // The killed node comes back and registers again.
    cluster.restart_node(victim, Duration::from_secs(90)).expect("restart node");
    assert!(cluster.is_alive(victim));

    let report = cluster.down(false, Duration::from_secs(30)).expect("down");
    assert_eq!(report.terminated.len(), 3, "{report:?}");
    assert!(process::processes_mentioning(&dir).is_empty(), "a process of the cluster outlived down");
    assert!(!dir.join("cluster.json").exists(), "data removed");
}

/// The CLI end to end, from separate processes, with two clusters side by side.
#[test]
fn cli_up_status_down_two_clusters_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    // This test's own registry: `heal --all` below must see only its two clusters.
    let state = tmp.path().join("state");
    let aftershock = |args: &[&str]| common::aftershock_in(&state, args);
    let (ua, ub) = std::thread::scope(|s| {
        let ha = s
            .spawn(|| aftershock(&["cluster", "up", "--nodes", "1", "--heap", "256m", "--dir", dir_str(&a), "--json"]));
        let hb = s
            .spawn(|| aftershock(&["cluster", "up", "--nodes", "1", "--heap", "256m", "--dir", dir_str(&b), "--json"]));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert!(ua.status.success(), "{}", text(&ua));
    assert!(ub.status.success(), "{}", text(&ub));

    // A second `up` in the same dir is refused with a clear message and exit code 2.
    let again = aftershock(&["cluster", "up", "--nodes", "1", "--dir", dir_str(&a)]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"), "{}", text(&again));

    let mut bootstraps = Vec::new();
    for d in [&a, &b] {
        let st = aftershock(&["cluster", "status", "--json", "--dir", dir_str(d)]);
        assert!(st.status.success(), "{}", text(&st));
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status --json is JSON");
        let bootstrap = v["bootstrap"].as_str().expect("bootstrap string").to_string();
        assert_eq!(v["nodes"][0]["alive"], true);
        assert_eq!(v["nodes"][0]["registered"], true);
        assert!(v["nodes"][0]["pid"].as_u64().is_some());
        bootstraps.push(bootstrap);
        let plain = aftershock(&["cluster", "status", "--dir", dir_str(d)]);
        assert!(String::from_utf8_lossy(&plain.stdout).contains("1 of 1 alive, 1 registered"), "{}", text(&plain));
    }
    assert_ne!(bootstraps[0], bootstraps[1], "two clusters must not share ports");

    // The kill switch: `heal --all` finds every cluster `up` registered and resumes a frozen node.
    let st: serde_json::Value =
        serde_json::from_slice(&aftershock(&["cluster", "status", "--json", "--dir", dir_str(&a)]).stdout).unwrap();
    let pid = st["nodes"][0]["pid"].as_u64().unwrap() as u32;
    process::signal(pid, Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(process::is_stopped(pid));
    let heal = aftershock(&["heal", "--all"]);
    assert!(heal.status.success(), "{}", text(&heal));
    assert!(String::from_utf8_lossy(&heal.stdout).contains(&format!("resumed node 1 (pid {pid})")), "{}", text(&heal));
    assert!(!process::is_stopped(pid));

    let sm = aftershock(&["cluster", "smoke", "--messages", "500", "--dir", dir_str(&a)]);
    assert!(sm.status.success(), "{}", text(&sm));
    assert!(String::from_utf8_lossy(&sm.stdout).contains("smoke ok"), "{}", text(&sm));

    // `--keep` stops the nodes but keeps data and logs; a later `down` removes them.
    let down = aftershock(&["cluster", "down", "--keep", "--dir", dir_str(&b)]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(process::processes_mentioning(&b).is_empty());
    assert!(b.join("node-1/server.log").is_file());
    let st = aftershock(&["cluster", "status", "--json", "--dir", dir_str(&b)]);
    assert_eq!(st.status.code(), Some(1), "a stopped cluster is not healthy: {}", text(&st));
    for d in [&a, &b] {
        let down = aftershock(&["cluster", "down", "--dir", dir_str(d)]);
        assert!(down.status.success(), "{}", text(&down));
        assert!(process::processes_mentioning(d).is_empty());
        assert!(!d.join("node-1").exists());
    }
    // status of a dir without a cluster says how to start one
    let st = aftershock(&["cluster", "status", "--dir", dir_str(&a)]);
    assert_eq!(st.status.code(), Some(2), "{}", text(&st));
    assert!(String::from_utf8_lossy(&st.stderr).contains("cluster up --dir"), "{}", text(&st));
}

/// A node whose JVM dies at start: the error shows its log and no JVM is left.
#[test]
fn a_node_that_fails_to_start_shows_its_log_and_stops_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad");
    // A heap far beyond the machine's memory: the storage tool (small fixed heap) formats
    // fine, then each broker JVM exits at once.
    let o = aftershock(&["cluster", "up", "--nodes", "2", "--heap", "4000g", "--dir", dir_str(&dir)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exited during startup"), "{}", text(&o));
    assert!(err.contains("Last lines of"), "{}", text(&o));
    assert!(err.contains("insufficient memory"), "the log tail should say why: {}", text(&o));
    assert!(process::processes_mentioning(&dir).is_empty(), "the other node must be stopped");

    // A broker setting Kafka rejects is caught when formatting, before any node starts.
    let o = aftershock(&[
        "cluster",
        "up",
        "--nodes",
        "2",
        "--heap",
        "256m",
        "--dir",
        dir_str(&dir),
        "--broker-config",
        "num.network.threads=lots",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("formatting the storage of Kafka node"), "{}", text(&o));
    assert!(err.contains("Invalid value lots for configuration num.network.threads"), "{}", text(&o));
    assert!(process::processes_mentioning(&dir).is_empty());
}

#[test]
fn missing_prerequisites_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");

    // No java on PATH and no JAVA_HOME.
    let empty_bin = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty_bin).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["cluster", "up", "--dir", dir_str(&dir)])
        .env("PATH", &empty_bin)
        .env_remove("JAVA_HOME")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Java 17") && err.contains("apt-get install"), "{}", text(&o));

    // Java but neither mvn nor KAFKA_HOME, and an empty jar cache.
    let java_only = tmp.path().join("java-bin");
    std::fs::create_dir(&java_only).unwrap();
    let java = which("java").expect("java on PATH for the test suite");
    std::os::unix::fs::symlink(&java, java_only.join("java")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["cluster", "up", "--dir", dir_str(&dir), "--kafka-version", "4.4.0"])
        .env("PATH", &java_only)
        .env_remove("JAVA_HOME")
        .env_remove("KAFKA_HOME")
        .env_remove("MVN")
        .env("AFTERSHOCK_CACHE_DIR", tmp.path().join("empty-cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Maven") && err.contains("KAFKA_HOME"), "{}", text(&o));

    // A KAFKA_HOME that is not a Kafka distribution.
    let o = Command::new(env!("CARGO_BIN_EXE_aftershock"))
        .args(["cluster", "up", "--dir", dir_str(&dir)])
        .env("KAFKA_HOME", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an Apache Kafka distribution"), "{}", text(&o));

    // A dir that cannot be created (its parent is a file; root ignores permission bits).
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = aftershock(&["cluster", "up", "--dir", dir_str(&file.join("sub"))]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not writable"), "{}", text(&o));

    // Bad flag values are usage errors, not panics.
    let o = aftershock(&["cluster", "up", "--nodes", "0", "--dir", dir_str(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = aftershock(&["cluster", "up", "--timeout", "soon"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(cmd)).find(|p| p.is_file())
}
