//! Helpers shared by the benchmarks: medians, CPU time, and a producer plan for aftershock's
//! real producer path.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aftershock::load::producer::ProducerPlan;
use aftershock::measure::fault_acks::FaultMarks;
use aftershock::scenario::{KeyDist, Rate, SizeDist, seeded_rng};
use rdkafka::config::ClientConfig;

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU seconds (user + system) of this whole process so far.
pub fn process_cpu() -> f64 {
    aftershock::measure::process::cpu_secs_of_self().expect("getrusage")
}

/// User + system CPU seconds of process `pid` so far, from /proc/<pid>/stat.
pub fn cpu_of_pid(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    Some(ticks / hz)
}

/// The benchmark setting `name` from the environment, or `default` when unset or unparsable.
pub fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The 1-minute load average, for the record.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A plan for aftershock's real producer: `size`-byte unkeyed messages at `rate` to `topic`,
/// from `start` for `length`.
pub fn plan(
    config: ClientConfig,
    topic: &str,
    rate: Rate,
    size: usize,
    start: Instant,
    length: Duration,
) -> ProducerPlan {
    ProducerPlan {
        name: "bench".into(),
        instance: 0,
        producer_id: 1,
        topic: topic.into(),
        rate,
        ramp: Duration::ZERO,
        sizes: SizeDist::Fixed(size),
        keys: KeyDist::None.sampler(),
        rng: seeded_rng(1, "bench", 0),
        config,
        start_at: start,
        stop_at: start + length,
        drain: Duration::from_secs(10),
        marks: Arc::new(FaultMarks::default()),
    }
}

/// `n` ns as a short string.
/// A run clock, a producer recorder, and an aggregator thread ingesting its snapshots as a
/// run does; join the thread for the measurements once the recorder is dropped.
pub fn live_aggregator() -> (
    aftershock::measure::RunClock,
    aftershock::measure::Recorder,
    std::thread::JoinHandle<aftershock::measure::Measurements>,
) {
    use aftershock::measure::{Aggregator, Recorder, RunClock, WorkerId, channel};
    let clock = RunClock::new(Instant::now());
    let (tx, mut rx) = channel();
    let agg = std::thread::spawn(move || {
        let mut agg = Aggregator::new(clock);
        while let Some(s) = rx.blocking_recv() {
            agg.ingest(s);
        }
        agg.finish()
    });
    (clock, Recorder::new(WorkerId::producer("bench", 0), clock, tx), agg)
}

pub fn ns(n: f64) -> String {
    format!("{n:.1} ns")
}

/// Pins the whole process (threads started later included) to CPU 0, unless
/// AFTERSHOCK_BENCH_CORES=all; returns whether it did. On one CPU every thread wake-up stays on
/// that CPU (a few µs) instead of crossing vCPUs (tens of µs, and noisy on a shared VM).
pub fn pin_unless_all_cores() -> bool {
    let pinned = std::env::var("AFTERSHOCK_BENCH_CORES").map_or(true, |v| v != "all");
    if pinned {
        let mut set = nix::sched::CpuSet::new();
        set.set(0).expect("cpu 0");
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("pinning to CPU 0");
    }
    pinned
}
