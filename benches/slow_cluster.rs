//! Generator CPU against a slow cluster: aftershock's producer at a fixed, low rate (1000
//! msg/s of 1 KiB, acks=all, idempotence on, linger 5 ms, 12 partitions) against librdkafka's
//! mock cluster with 1 ms and with 200 ms of injected round-trip time, alternating runs.
//! Target: a slow cluster does not make the generator busier; the CPU per message at 200 ms
//! is at most 1.5x that at 1 ms.
//!
//! Unpatched librdkafka 2.12.1 fails this by a wide margin: an idempotent producer's broker
//! threads spin while a partition waits for a response (see vendor/rdkafka-sys/AFTERSHOCK.md).
//! On a 2-core machine that also runs the cluster, the spinning generator slowed the cluster.
//!
//! The mock cluster runs in a child process (this binary, re-run with `--mock-server`), so
//! that the CPU measured is the producer's alone.
//!
//! Run: `cargo bench --bench slow_cluster`. AFTERSHOCK_BENCH_SECS sets the run length
//! (default 10), AFTERSHOCK_BENCH_RUNS the runs per RTT (default 3).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aftershock::load::payload::PayloadBuilder;
use aftershock::load::producer::run_producer;
use aftershock::scenario::Rate;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "slow";
const PARTITIONS: i32 = 12;
const RATE: f64 = 1000.0;
const SIZE: usize = 1024;
const TARGET: f64 = 1.5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--mock-server") {
        let rtt_ms: u64 = args.get(i + 1).and_then(|v| v.parse().ok()).expect("--mock-server RTT_MS");
        return mock_server(rtt_ms);
    }
    let secs: u64 = common::env("AFTERSHOCK_BENCH_SECS", 10);
    let runs: usize = common::env("AFTERSHOCK_BENCH_RUNS", 3);
    println!(
        "slow cluster: mock cluster (3 brokers, {PARTITIONS} partitions, RF3) in a child process; aftershock's \
         producer at {RATE} msg/s, {SIZE} B, acks=all, idempotence on, linger.ms=5; {runs} alternating runs of \
         {secs} s per RTT; load average {}",
        common::loadavg()
    );
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for (rtt, out) in [(1, &mut fast), (200, &mut slow)] {
            let us = run(rtt, Duration::from_secs(secs));
            println!("  run {i} RTT {rtt:>3} ms: {us:>6.1} us CPU per message ({:.3} cores)", us * RATE / 1e6);
            out.push(us);
        }
    }
    let (f, s) = (common::median(&fast), common::median(&slow));
    println!("  median: RTT 1 ms {f:.1} us/msg, RTT 200 ms {s:.1} us/msg");
    let ratio = s / f;
    println!("  ratio {ratio:.2} (target <= {TARGET}): {}", if ratio <= TARGET { "PASS" } else { "FAIL" });
}

/// The child: a mock cluster with the topic and the RTT, its address on stdout, until stdin closes.
fn mock_server(rtt_ms: u64) {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic(TOPIC, PARTITIONS, 3).expect("topic");
    mock.broker_round_trip_time(-1, Duration::from_millis(rtt_ms)).expect("rtt");
    println!("{}", mock.bootstrap_servers());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// One run of aftershock's producer against a fresh mock cluster; CPU microseconds per acked message.
fn run(rtt_ms: u64, length: Duration) -> f64 {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--mock-server", &rtt_ms.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the mock cluster process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("bootstrap servers");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", line.trim())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5");
    let (clock, recorder, agg) = common::live_aggregator();
    // Connections and metadata come before the measured part.
    let start = Instant::now() + Duration::from_millis(500);
    let plan = common::plan(config, TOPIC, Rate::PerSec(RATE), SIZE, start, length);
    std::thread::sleep(Duration::from_millis(400));
    let cpu0 = common::process_cpu();
    let out = run_producer(plan, clock, recorder, PayloadBuilder::new(1), CancellationToken::new()).expect("producer");
    let cpu = common::process_cpu() - cpu0;
    agg.join().expect("aggregator");
    drop(child.stdin.take());
    let _ = child.wait();
    let acked = out.ledger.acked_count();
    assert!(acked as f64 >= 0.95 * RATE * length.as_secs_f64(), "only {acked} acked");
    cpu / acked as f64 * 1e6
}
