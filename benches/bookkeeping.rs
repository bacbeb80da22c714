//! Microbenchmark of aftershock's per-message bookkeeping: everything the producer does for one
//! message except librdkafka's own work. The send side (schedule, size and key draws, the send
//! time's clock read, the numbered payload, the sent ledger and send-gap histogram) and the
//! delivery side (the ack-stamp interceptor's clock read, which runs on librdkafka's broker
//! thread; then mutex, header decode, fault marks, ack ledger, produce-latency histogram, the
//! oldest-unacked frontier) run
//! through the very functions `run_producer` calls. Target: at most 150 ns per message.
//!
//! Run: `cargo bench --bench bookkeeping` (AFTERSHOCK_BENCH_MESSAGES sets the batch size).

mod common;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftershock::load::payload::PayloadBuilder;
use aftershock::load::producer::{AckBook, MessageSource, SendBook, on_delivery};
use aftershock::measure::clock::monotonic_ns;
use aftershock::measure::fault_acks::FaultMarks;
use aftershock::measure::hot_clock::read_tsc;
use aftershock::measure::{Recorder, RunClock, WorkerId, channel};
use aftershock::scenario::Rate;
use rdkafka::config::ClientConfig;

const TARGET_NS: f64 = 150.0;

fn main() {
    let n: u64 = common::env("AFTERSHOCK_BENCH_MESSAGES", 2_000_000);
    let batches = 7;
    println!("bookkeeping: {batches} batches of {n} messages of 100 B, load average {}", common::loadavg());
    let per_msg: Vec<f64> = (0..batches).map(|_| batch(n)).collect();
    let m = common::median(&per_msg);
    let spread: Vec<String> = per_msg.iter().map(|x| format!("{x:.0}")).collect();
    println!("  per message: median {} (batches: {} ns)", common::ns(m), spread.join(", "));
    println!("  target <= {TARGET_NS} ns: {}", if m <= TARGET_NS { "PASS" } else { "FAIL" });
}

/// One batch of `n` messages; returns ns per message. Each message is acknowledged right after
/// it is sent, from the payload the send side wrote (librdkafka would hand back its copy).
fn batch(n: u64) -> f64 {
    let clock = RunClock::new(Instant::now());
    let (tx, mut rx) = channel();
    // The aggregator's end: snapshots (one per second per side) are received and dropped.
    let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
    let send_rec = Recorder::new(WorkerId::producer("bench", 0), clock, tx);
    let ack_rec = send_rec.sibling();
    // A schedule fast enough never to wait: the due-time arithmetic is still done per message.
    let plan =
        common::plan(ClientConfig::new(), "bench", Rate::PerSec(1e9), 100, clock.start(), Duration::from_secs(3600));
    let mut source = MessageSource::new(&plan, clock, PayloadBuilder::new(1));
    let mut sends = SendBook::new(send_rec, 1);
    let acks = Mutex::new(AckBook::new(clock, Arc::new(FaultMarks::default()), ack_rec, 1).tracking_oldest(&plan));

    // Thread CPU time, not wall time: the machine is shared, and a preempted batch would
    // otherwise count the other jobs' time.
    let t0 = thread_cpu();
    for seq in 0..n {
        source.due(seq).expect("scheduled");
        let draft = source.draft(seq);
        let payload = black_box(source.stamp(&draft, seq));
        // The ack is booked before the send here only because the payload borrows the source.
        // The interceptor's stamp (`load::ack_stamp`, on librdkafka's broker thread in the
        // producer), then the delivery callback's work.
        let acked = if clock.tsc_usable() { read_tsc() } else { monotonic_ns() };
        on_delivery(&acks, acked, Some(payload), (seq % 6) as i32, None);
        let (intended_ns, sent_ns) = source.stamped();
        sends.sent(seq, intended_ns, sent_ns, None);
    }
    let elapsed = thread_cpu() - t0;
    drop(sends);
    drop(acks);
    let _ = drain.join();
    elapsed.as_nanos() as f64 / n as f64
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
    let d = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    d(u.user_time()) + d(u.system_time())
}
