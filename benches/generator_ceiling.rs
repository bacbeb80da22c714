//! Generator ceiling on librdkafka's mock cluster (no JVM): a bare `BaseProducer` loop against
//! aftershock's real producer (`run_producer` at rate "max", with its schedule, timestamps,
//! histograms, numbering, ledger and aggregator), 100-byte messages, acks=all, alternating runs.
//! Target: aftershock reaches at least 80% of the bare loop's msgs/s.
//!
//! Run: `cargo bench --bench generator_ceiling`. By default the whole process (mock brokers
//! included) is pinned to CPU 0, so both contenders get one core; AFTERSHOCK_BENCH_CORES=all
//! leaves it unpinned. AFTERSHOCK_BENCH_SECS sets the run length (default 10), AFTERSHOCK_BENCH_RUNS
//! the runs per contender (default 3).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aftershock::load::payload::PayloadBuilder;
use aftershock::load::producer::run_producer;
use aftershock::scenario::Rate;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "ceiling";
const PARTITIONS: i32 = 6;
const SIZE: usize = 100;

struct Run {
    acked: u64,
    secs: f64,
    cpu: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.acked as f64 / self.secs
    }
    fn cpu_per_million(&self) -> f64 {
        self.cpu / (self.acked as f64 / 1e6)
    }
}

fn main() {
    let secs: u64 = common::env("AFTERSHOCK_BENCH_SECS", 10);
    let runs: usize = common::env("AFTERSHOCK_BENCH_RUNS", 3);
    let pinned = common::pin_unless_all_cores();
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic(TOPIC, PARTITIONS, 3).expect("topic");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "65536");
    println!(
        "generator ceiling: mock cluster (3 brokers, {PARTITIONS} partitions, RF3), {SIZE} B, acks=all, linger.ms=5; \
         {runs} alternating runs of {secs} s each; {}; load average {}",
        if pinned { "pinned to CPU 0" } else { "unpinned" },
        common::loadavg()
    );
    // A short warm-up of each, so that connections and metadata are in place for both.
    bare(&config, Duration::from_secs(1));
    ours(&config, Duration::from_secs(1));
    let (mut b, mut a) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let r = bare(&config, Duration::from_secs(secs));
        println!("  run {i} bare BaseProducer: {:>10.0} msg/s, {:.2} CPU-s per million", r.rate(), r.cpu_per_million());
        b.push(r);
        let r = ours(&config, Duration::from_secs(secs));
        println!("  run {i} aftershock:        {:>10.0} msg/s, {:.2} CPU-s per million", r.rate(), r.cpu_per_million());
        a.push(r);
    }
    let med = |v: &[Run], f: fn(&Run) -> f64| common::median(&v.iter().map(f).collect::<Vec<_>>());
    let (br, ar) = (med(&b, Run::rate), med(&a, Run::rate));
    println!("  median bare:       {br:>10.0} msg/s, {:.2} CPU-s per million", med(&b, Run::cpu_per_million));
    println!("  median aftershock: {ar:>10.0} msg/s, {:.2} CPU-s per million", med(&a, Run::cpu_per_million));
    let ratio = ar / br;
    println!("  ratio {ratio:.3} (target >= 0.80): {}", if ratio >= 0.8 { "PASS" } else { "FAIL" });
}

struct Count(AtomicU64);

impl ClientContext for Count {}

impl ProducerContext for Count {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if r.is_ok() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The ceiling: send a constant payload as fast as the queue takes it, serve delivery reports
/// on the same thread, count acks in the callback; then wait for the rest.
fn bare(config: &ClientConfig, length: Duration) -> Run {
    let producer: BaseProducer<Count> = config.create_with_context(Count(AtomicU64::new(0))).expect("producer");
    let payload = [0x5au8; SIZE];
    let cpu0 = common::process_cpu();
    let t0 = Instant::now();
    while t0.elapsed() < length {
        loop {
            match producer.send(BaseRecord::<(), _>::to(TOPIC).payload(&payload[..])) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("send: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    Run {
        acked: producer.context().0.load(Ordering::Relaxed),
        secs: t0.elapsed().as_secs_f64(),
        cpu: common::process_cpu() - cpu0,
    }
}

/// aftershock's producer at rate "max", with a live aggregator taking its snapshots.
fn ours(config: &ClientConfig, length: Duration) -> Run {
    let (clock, recorder, agg) = common::live_aggregator();
    let cpu0 = common::process_cpu();
    let t0 = Instant::now();
    let plan = common::plan(config.clone(), TOPIC, Rate::Max, SIZE, t0, length);
    let out = run_producer(plan, clock, recorder, PayloadBuilder::new(1), CancellationToken::new()).expect("producer");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = common::process_cpu() - cpu0;
    let m = agg.join().expect("aggregator");
    assert_eq!(m.total_counters.acked, out.ledger.acked_count(), "the aggregator saw every ack");
    Run { acked: out.ledger.acked_count(), secs, cpu }
}
