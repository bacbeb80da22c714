//! How far aftershock's recorded produce latency is from the truth, on librdkafka's mock cluster
//! with a known injected round-trip time.
//!
//! **The truth, per message.** A librdkafka plugin (`benches/common/ack_stamps.c`, compiled
//! here and loaded through `plugin.library.paths`) stamps every ack on librdkafka's broker
//! thread, the moment the produce response is parsed and before the ack is handed to the
//! application. That is the earliest moment the client holds the ack. It is read on
//! CLOCK_MONOTONIC, the clock behind Rust's `Instant`.
//!
//! **The error, per message**, is the ack time the client recorded minus that stamp.
//! Pairing each message with its own truth takes the latency itself out of the comparison (the
//! mock broker's millisecond timer moves a 200 msg/s p99 latency by hundreds of µs from run to
//! run). Target: aftershock's p99 error at most 10 µs, at every rate.
//!
//! Two clients run side by side on one mock cluster, in rounds:
//! - **aftershock**: its producer as `run_producer` wires it: built by
//!   `producer_with_ack_stamps` (its own `on_acknowledgement` interceptor stamps each ack on the
//!   broker thread, registered after the plugin's, so it reads the clock just after the
//!   truth), `MessageSource`, `SendBook`, and a delivery thread blocked in poll whose callback
//!   is `on_delivery`, which returns the ack time it recorded. Its produce histogram, as the
//!   report has it, is also compared with the true latencies' at p50 and p99.
//! - **reference**: the same schedule and pacing, and a delivery callback that does nothing but
//!   read the clock, as most librdkafka applications time acks. Its error is the hand-off from
//!   librdkafka's broker thread to the application's poll thread (tens of µs at the median,
//!   about 100 µs at p99 on this VM): what aftershock measured too before it stamped acks in
//!   an interceptor.
//!
//! In each round both clients run at the same time, at the same rate, their schedules half an
//! interval apart (which one leads alternates between rounds), so their acks do not meet but
//! the host's slow spells hit both alike.
//!
//! The whole process (mock brokers included) is pinned to CPU 0, as in the generator ceiling:
//! on one CPU thread wake-ups cost a few µs instead of tens of µs across vCPUs.
//!
//! Needs a C compiler (`cc`) for the plugin. Run: `cargo bench --bench timestamp_error`
//! (AFTERSHOCK_BENCH_SECS per run, default 5; AFTERSHOCK_BENCH_RUNS per client and rate,
//! default 10; AFTERSHOCK_BENCH_RATES, default 200,2000; AFTERSHOCK_BENCH_CORES=all to unpin).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftershock::load::ack_stamp::producer_with_ack_stamps;
use aftershock::load::payload::{self, Header, PayloadBuilder};
use aftershock::load::producer::{AckBook, MessageSource, SendBook, on_delivery, stamp_clock};
use aftershock::load::schedule::Schedule;
use aftershock::measure::clock::{monotonic_ns, monotonic_ns_of};
use aftershock::measure::fault_acks::FaultMarks;
use aftershock::measure::{LatencyHistogram, Measurements, RunClock};
use aftershock::scenario::Rate;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

const TOPIC: &str = "timestamps";
const RTT: Duration = Duration::from_millis(1);
const TARGET_US: f64 = 10.0;
/// How far before the truth a recorded ack may read and still count as after it: aftershock's
/// TSC stamps are mapped onto CLOCK_MONOTONIC by its hot clock, to within tens of ns.
const MAPPING_SLACK_US: f64 = 2.0;
/// How long the delivery threads block in poll at a time: aftershock's value (rdkafka spins
/// through the last millisecond of each poll, and a spinning thread sees a report sooner).
const POLL: Duration = Duration::from_millis(100);

fn main() {
    let secs: u64 = common::env("AFTERSHOCK_BENCH_SECS", 5);
    let runs: usize = common::env("AFTERSHOCK_BENCH_RUNS", 10);
    let plugin = Plugin::build();
    let pinned = common::pin_unless_all_cores();
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic(TOPIC, 1, 3).expect("topic");
    mock.broker_round_trip_time(-1, RTT).expect("rtt");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("plugin.library.paths", plugin.library.display().to_string());
    println!(
        "timestamp error: mock cluster (3 brokers, RF3), injected RTT {} ms, acks=all, linger.ms=0, 100 B; \
         {runs} rounds of {secs} s per rate, both clients at once, half an interval apart; {}; load average {}",
        RTT.as_millis(),
        if pinned { "pinned to CPU 0" } else { "unpinned" },
        common::loadavg()
    );
    println!("  error = recorded ack time minus the ack's stamp on librdkafka's broker thread, per message");
    // aftershock's worst p99 error over the rates.
    let mut worst = f64::MIN;
    let mut valid = true;
    let rates: Vec<f64> = common::env::<String>("AFTERSHOCK_BENCH_RATES", "200,2000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("AFTERSHOCK_BENCH_RATES: messages per second, comma-separated"))
        .collect();
    for rate in rates {
        let length = Duration::from_secs(secs);
        let (mut refs, mut ours) = (Vec::new(), Vec::new());
        for round in 0..runs {
            let (r, a) = side_by_side(&config, &plugin, rate, length, round % 2 == 0);
            refs.push(r);
            ours.push(a);
        }
        let (r, a) = (Errors::pool(&refs), Errors::pool(&ours));
        println!("  {rate} msg/s:");
        for (name, pooled, v) in [("reference ", &r, &refs), ("aftershock", &a, &ours)] {
            let per_run: Vec<String> = v.iter().map(|e| format!("{:.1}", e.quantile_us(0.99))).collect();
            println!(
                "    {name}  error p50 {:6.1} us  p99 {:6.1} us  p99.9 {:6.1} us  max {:7.1} us  min {:5.1} us  \
                 (n={}, unpaired {}; p99 of each run: {})",
                pooled.quantile_us(0.5),
                pooled.quantile_us(0.99),
                pooled.quantile_us(0.999),
                pooled.quantile_us(1.0),
                pooled.quantile_us(0.0),
                pooled.ns.len(),
                pooled.unpaired,
                per_run.join(", ")
            );
            // Every ack paired, and none recorded before librdkafka had it: aftershock's TSC
            // stamps are mapped onto CLOCK_MONOTONIC to well within MAPPING_SLACK_US.
            valid &= pooled.unpaired == 0 && !pooled.ns.is_empty() && pooled.quantile_us(0.0) >= -MAPPING_SLACK_US;
        }
        println!(
            "    aftershock's p99 error {:+.2} us; the reference's {:+.1} us (the hand-off aftershock does not pay)",
            a.quantile_us(0.99),
            r.quantile_us(0.99)
        );
        let (report, truth) = (&a.recorded, &a.truth);
        let rtt_us = RTT.as_micros() as i64;
        println!(
            "    aftershock's report minus the truth (runs pooled): p50 {:+} us, p99 {:+} us (true latency minus \
             the RTT: p50 {} us, p99 {} us)",
            report.value_at_quantile(0.5) as i64 - truth.value_at_quantile(0.5) as i64,
            report.value_at_quantile(0.99) as i64 - truth.value_at_quantile(0.99) as i64,
            truth.value_at_quantile(0.5) as i64 - rtt_us,
            truth.value_at_quantile(0.99) as i64 - rtt_us,
        );
        worst = worst.max(a.quantile_us(0.99));
    }
    let verdict = if !valid {
        "INVALID (unpaired acks or an ack recorded before librdkafka had it)"
    } else if worst <= TARGET_US {
        "PASS"
    } else {
        "FAIL"
    };
    println!("  aftershock's worst p99 error {worst:+.2} us (target <= {TARGET_US} us): {verdict}");
}

/// One client's per-message errors, and (for aftershock) its recorded and true latency
/// histograms.
#[derive(Default)]
struct Errors {
    /// Recorded ack time minus the true one, ns, per message, sorted.
    ns: Vec<i64>,
    /// Acks recorded without a true stamp, or stamped but not recorded, or dropped by the plugin.
    unpaired: usize,
    recorded: LatencyHistogram,
    truth: LatencyHistogram,
}

impl Errors {
    /// All runs of one client together.
    fn pool(runs: &[Errors]) -> Errors {
        let mut all = Errors::default();
        for e in runs {
            all.ns.extend_from_slice(&e.ns);
            all.unpaired += e.unpaired;
            all.recorded.merge(&e.recorded);
            all.truth.merge(&e.truth);
        }
        all.ns.sort_unstable();
        all
    }

    /// The error at quantile `q` (0 is the minimum, 1 the maximum), µs.
    fn quantile_us(&self, q: f64) -> f64 {
        // NB: `ns` is kept sorted (by `pair` and `pool`).
        let Some(last) = self.ns.len().checked_sub(1) else { return f64::NAN };
        self.ns[((q * last as f64).round() as usize).min(last)] as f64 / 1000.0
    }
}

/// The compiled plugin, and the file its client instances write their stamps to.
struct Plugin {
    _dir: tempfile::TempDir,
    library: PathBuf,
    stamps: PathBuf,
}

/// One ack as the plugin saw it.
struct TrueAck {
    /// CLOCK_MONOTONIC ns.
    at_ns: u64,
    header: Header,
}

impl Plugin {
    /// Compiles `ack_stamps.c` against the vendored librdkafka headers.
    fn build() -> Plugin {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("temporary directory");
        let library = dir.path().join("ack_stamps.so");
        let stamps = dir.path().join("stamps.bin");
        let out = Command::new("cc")
            .args(["-O2", "-shared", "-fPIC", "-Wall", "-Werror"])
            .arg("-I")
            .arg(root.join("vendor/rdkafka-sys/librdkafka/src"))
            .arg(format!("-DSTAMPS_PATH=\"{}\"", stamps.display()))
            .arg("-o")
            .arg(&library)
            .arg(root.join("benches/common/ack_stamps.c"))
            .arg("-lpthread")
            .output()
            .expect("running cc (a C compiler is needed to build the ack-stamp plugin)");
        assert!(
            out.status.success(),
            "compiling the ack-stamp plugin failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Plugin { _dir: dir, library, stamps }
    }

    /// The successful acks of aftershock-headed messages the last destroyed client stamped,
    /// and how many stamps the plugin dropped.
    fn take(&self) -> (Vec<TrueAck>, u64) {
        const RECORD: usize = 48;
        let bytes = std::fs::read(&self.stamps).expect("stamps written when the client was destroyed");
        std::fs::remove_file(&self.stamps).expect("removing the stamps");
        let dropped = u64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes"));
        let acks = bytes[8..]
            .chunks_exact(RECORD)
            .filter(|r| i32::from_ne_bytes(r[8..12].try_into().expect("4 bytes")) == 0)
            .filter_map(|r| {
                let at_ns = u64::from_ne_bytes(r[..8].try_into().expect("8 bytes"));
                Some(TrueAck { at_ns, header: payload::decode(&r[16..RECORD])? })
            })
            .collect();
        (acks, dropped)
    }

    /// Pairs the acks a client recorded (sequence number, ack time in CLOCK_MONOTONIC ns) with
    /// the plugin's stamps. `origin_ns` is the CLOCK_MONOTONIC time the headers' intended times
    /// count from.
    fn pair(&self, recorded: &[(u64, u64)], origin_ns: u64) -> Errors {
        let (acks, dropped) = self.take();
        let mut at: Vec<Option<u64>> = Vec::new();
        for (seq, t) in recorded {
            let i = *seq as usize;
            if at.len() <= i {
                at.resize(i + 1, None);
            }
            at[i] = Some(*t);
        }
        let mut e = Errors { unpaired: dropped as usize, ..Errors::default() };
        for ack in &acks {
            let intended_ns = origin_ns + ack.header.intended_ns;
            e.truth.record(Duration::from_nanos(ack.at_ns.saturating_sub(intended_ns)));
            match at.get_mut(ack.header.seq as usize).and_then(Option::take) {
                Some(t) => e.ns.push(t as i64 - ack.at_ns as i64),
                None => e.unpaired += 1,
            }
        }
        e.unpaired += at.iter().flatten().count();
        e.ns.sort_unstable();
        e
    }
}

/// The reference client's delivery callback: the clock read first, then the pairing record.
struct Stamp {
    acks: Mutex<Vec<(u64, u64)>>,
}

impl ClientContext for Stamp {}

impl ProducerContext for Stamp {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let now = monotonic_ns();
        let Ok(m) = r else { return };
        let Some(h) = m.payload().and_then(payload::decode) else { return };
        self.acks.lock().expect("acks").push((h.seq, now));
    }
}

/// aftershock's delivery callback (as in `run_producer`: `on_delivery` on its `AckBook`), and
/// the pairing record of the ack time it returns.
struct Books {
    /// The run clock: `on_delivery` returns run-clock ns.
    clock: RunClock,
    book: Mutex<AckBook>,
    acks: Mutex<Vec<(u64, u64)>>,
}

impl ClientContext for Books {}

impl ProducerContext for Books {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, stamp: usize) {
        let (m, err) = match r {
            Ok(m) => (m, None),
            Err((e, m)) => (m, Some(e)),
        };
        let now = self.clock.to_monotonic_ns(on_delivery(&self.book, stamp as u64, m.payload(), m.partition(), err));
        if let (None, Some(h)) = (err, m.payload().and_then(payload::decode)) {
            self.acks.lock().expect("acks").push((h.seq, now));
        }
    }
}

/// A client under test whose delivery thread blocks in poll, as aftershock's does.
struct Client<C: ProducerContext + 'static> {
    producer: Arc<BaseProducer<C>>,
    stop: Arc<AtomicBool>,
    poller: std::thread::JoinHandle<()>,
}

impl<C: ProducerContext + 'static> Client<C> {
    fn start(producer: BaseProducer<C>) -> Client<C> {
        let producer = Arc::new(producer);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (p, s) = (producer.clone(), stop.clone());
            std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.poll(POLL);
                }
            })
        };
        Client { producer, stop, poller }
    }

    /// Waits for the last reports and destroys the client (the plugin writes its stamps then).
    fn finish(self) -> Arc<C> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Relaxed);
        self.poller.join().expect("poller");
        let context = self.producer.context().clone();
        drop(self.producer);
        context
    }
}

/// One round: both clients at `rate` for `length` at the same time, one of them half an
/// interval behind the other (aftershock when `aftershock_behind`). Returns the reference's
/// errors and aftershock's.
fn side_by_side(
    config: &ClientConfig,
    plugin: &Plugin,
    rate: f64,
    length: Duration,
    aftershock_behind: bool,
) -> (Errors, Errors) {
    let start = Instant::now() + Duration::from_millis(200);
    let behind = start + Duration::from_secs_f64(0.5 / rate);
    let (ref_start, our_start) = if aftershock_behind { (start, behind) } else { (behind, start) };
    let reference = Reference::new(config, rate, ref_start, length);
    let mut ours = Aftershock::new(config, rate, our_start, length);
    std::thread::scope(|s| {
        s.spawn(|| reference.send());
        s.spawn(|| ours.send());
    });
    // NB: one after the other: the plugin writes a client's stamps to one file when it is
    // destroyed.
    (reference.finish(plugin), ours.finish(plugin))
}

/// Sleeps until `at` (the pacing both clients share).
fn sleep_until(at: Instant) {
    let wait = at.saturating_duration_since(Instant::now());
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
}

/// The reference client: the same schedule, a callback that only reads the clock.
struct Reference {
    client: Client<Stamp>,
    schedule: Schedule,
    start: Instant,
    length: Duration,
}

impl Reference {
    fn new(config: &ClientConfig, rate: f64, start: Instant, length: Duration) -> Reference {
        let context = Stamp { acks: Mutex::new(Vec::with_capacity((rate * length.as_secs_f64()) as usize + 1)) };
        let producer: BaseProducer<Stamp> = config.create_with_context(context).expect("producer");
        Reference { client: Client::start(producer), schedule: Schedule::new(rate, Duration::ZERO), start, length }
    }

    fn send(&self) {
        let builder = PayloadBuilder::new(1);
        let mut payload = Vec::with_capacity(100);
        for seq in 0.. {
            let due = self.schedule.due(seq);
            if due >= self.length {
                break;
            }
            sleep_until(self.start + due);
            let header = Header { producer_id: 1, seq, intended_ns: due.as_nanos() as u64, sent_ns: 0 };
            builder.build(&mut payload, &header, 100);
            let record = BaseRecord::<(), _>::to(TOPIC).payload(&payload[..]);
            self.client.producer.send(record).map_err(|(e, _)| e).expect("send");
        }
    }

    fn finish(self, plugin: &Plugin) -> Errors {
        let context = self.client.finish();
        let acks = std::mem::take(&mut *context.acks.lock().expect("acks"));
        plugin.pair(&acks, monotonic_ns_of(self.start))
    }
}

/// aftershock's producer bookkeeping, wired as `run_producer` wires it, and its produce
/// histogram as the report has it.
struct Aftershock {
    client: Client<Books>,
    source: MessageSource,
    sends: SendBook,
    clock: RunClock,
    stop_ns: u64,
    aggregator: std::thread::JoinHandle<Measurements>,
}

impl Aftershock {
    fn new(config: &ClientConfig, rate: f64, start: Instant, length: Duration) -> Aftershock {
        let (clock, recorder, aggregator) = common::live_aggregator();
        let plan = common::plan(config.clone(), TOPIC, Rate::PerSec(rate), 100, start, length);
        let book = AckBook::new(clock, Arc::new(FaultMarks::default()), recorder.sibling(), plan.producer_id)
            .tracking_oldest(&plan);
        let capacity = (rate * length.as_secs_f64()) as usize + 1;
        let context = Books { clock, book: Mutex::new(book), acks: Mutex::new(Vec::with_capacity(capacity)) };
        // NB: the plugin's interceptor is registered first (when `plugin.library.paths` is set),
        // so it stamps each ack just before aftershock's does.
        let producer = producer_with_ack_stamps(&plan.config, stamp_clock(clock), context).expect("producer");
        Aftershock {
            client: Client::start(producer),
            source: MessageSource::new(&plan, clock, PayloadBuilder::new(1)),
            sends: SendBook::new(recorder, plan.producer_id),
            clock,
            stop_ns: clock.offset_nanos(plan.stop_at),
            aggregator,
        }
    }

    /// As run_producer's send loop, on a schedule and with room in the queue.
    fn send(&mut self) {
        let source = &mut self.source;
        for seq in 0.. {
            let due = source.due(seq).expect("a scheduled rate");
            if due >= self.stop_ns {
                break;
            }
            let wait = source.until_due();
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let draft = source.draft(seq);
            let payload = source.stamp(&draft, seq);
            let record = BaseRecord::<(), _, usize>::with_opaque_to(TOPIC, 0).payload(payload);
            self.client.producer.send(record).map_err(|(e, _)| e).expect("send");
            let (intended_ns, sent_ns) = source.stamped();
            self.sends.sent(seq, intended_ns, sent_ns, None);
        }
    }

    fn finish(self, plugin: &Plugin) -> Errors {
        drop(self.sends);
        let context = self.client.finish();
        let acks = std::mem::take(&mut *context.acks.lock().expect("acks"));
        let book = Arc::try_unwrap(context).ok().expect("the client is gone").book.into_inner().expect("book");
        drop(book); // flushes the ack recorder: the aggregator ends
        let mut e = plugin.pair(&acks, self.clock.to_monotonic_ns(0));
        e.recorded = self.aggregator.join().expect("aggregator").total.produce;
        e
    }
}
