//! Open-loop producer instances: each on its own thread, sending numbered messages on the
//! schedule, with a delivery thread that records acks where the delivery report arrives.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use super::ack_stamp::{Stamp, producer_with_ack_stamps};
use super::payload::{self, Header, PayloadBuilder};
use super::schedule::Schedule;
use super::settings::{self, Effective, Role};
use crate::error::{Error, Result};
use crate::measure::fault_acks::{FaultAcks, FaultMarks};
use crate::measure::{HotClock, ProduceLedger, Recorder, RunClock, SeqBitmap};
use crate::scenario::{KeySampler, Rate, SizeDist};

/// What one producer instance needs to run.
#[derive(Debug)]
pub struct ProducerPlan {
    /// The scenario's producer name.
    pub name: String,
    pub instance: u32,
    /// Unique across the run: the first field of every message number.
    pub producer_id: u32,
    pub topic: String,
    /// This instance's share of the rate.
    pub rate: Rate,
    pub ramp: Duration,
    pub sizes: SizeDist,
    pub keys: KeySampler,
    pub rng: rand::rngs::StdRng,
    /// Complete librdkafka settings (cluster + producer).
    pub config: ClientConfig,
    /// When the schedule starts (the start of the first phase).
    pub start_at: Instant,
    /// When to stop sending (the end of the last phase).
    pub stop_at: Instant,
    /// How long to wait for outstanding deliveries after the last send.
    pub drain: Duration,
    /// The fault currently in force, to time each partition's first ack after it.
    pub marks: Arc<FaultMarks>,
}

/// What a producer instance hands back when it is done.
#[derive(Debug)]
pub struct ProducerOutcome {
    pub name: String,
    pub instance: u32,
    pub topic: String,
    pub ledger: ProduceLedger,
    /// Messages still without a delivery report when the drain ended.
    pub in_flight_at_end: i32,
    /// Per (fault, partition): its first ack and longest ack gap after the fault's injection.
    pub fault_acks: FaultAcks,
    /// Per fault: run-clock ns of the first failed delivery after its injection.
    pub first_errors: HashMap<u32, u64>,
    /// The librdkafka settings the instance ran with, secrets redacted.
    pub settings: Effective,
}

/// How long the sending thread waits before retrying when librdkafka's local queue is full.
/// Short, so that a queue that drains quickly is refilled quickly ("max" rate is bounded by this
/// queue); the wait shows up as send gap, never as a skipped message.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);

/// How long the delivery thread blocks in librdkafka's poll at a time. NB: `BaseProducer::poll`
/// serves events until its deadline, so this only bounds how late the thread notices that the
/// run is over (and how often it ticks its recorder). Not shorter: rdkafka passes librdkafka
/// the time left in whole milliseconds, so the last millisecond before every deadline is spent
/// in zero-timeout polls in a loop. At 10 ms that spin was a tenth of a core, more than all
/// the delivery work at 20k msg/s.
const REPORT_POLL: Duration = Duration::from_millis(100);

/// One message's draws from the scenario's distributions: made once per message, whatever the
/// number of send attempts, so a seed always gives the same sizes and keys.
#[derive(Debug, Clone, Copy)]
pub struct Draft {
    pub size: usize,
    pub key: Option<[u8; 8]>,
}

/// The send side's per-message inputs: the schedule, sizes, keys and payloads of one instance.
///
/// Public so that the benchmarks drive the very code the producer runs (`benches/`).
#[derive(Debug)]
pub struct MessageSource {
    schedule: Option<Schedule>,
    /// The send time's clock: this thread's own cheap reader of the run clock.
    hot: HotClock,
    producer_id: u32,
    sizes: SizeDist,
    keys: KeySampler,
    rng: rand::rngs::StdRng,
    payloads: PayloadBuilder,
    buf: Vec<u8>,
    /// The run-clock offset of the schedule's start, and of the last due time handed out.
    origin_ns: u64,
    due_ns: u64,
    /// The intended and actual send times (run-clock ns) of the last payload stamped.
    stamped: (u64, u64),
}

impl MessageSource {
    /// The source of `plan`'s messages, timed on `clock`.
    pub fn new(plan: &ProducerPlan, clock: RunClock, payloads: PayloadBuilder) -> MessageSource {
        MessageSource {
            schedule: match plan.rate {
                Rate::PerSec(r) => Some(Schedule::new(r, plan.ramp)),
                Rate::Max => None,
            },
            hot: HotClock::new(clock),
            producer_id: plan.producer_id,
            sizes: plan.sizes,
            keys: plan.keys,
            rng: plan.rng.clone(),
            payloads,
            buf: Vec::with_capacity(plan.sizes.max().max(payload::HEADER_LEN)),
            origin_ns: clock.offset_nanos(plan.start_at),
            due_ns: 0,
            stamped: (0, 0),
        }
    }

    /// When message `seq` is due, in run-clock ns; `None` at rate "max", where a message is
    /// due as soon as the local queue has room. [`stamp`](Self::stamp) writes this due time
    /// into the payload.
    #[inline]
    pub fn due(&mut self, seq: u64) -> Option<u64> {
        self.due_ns = self.origin_ns + self.schedule?.due_ns(seq);
        Some(self.due_ns)
    }

    /// How long until the last [`due`](Self::due) time (zero when it has passed).
    #[inline]
    pub fn until_due(&mut self) -> Duration {
        Duration::from_nanos(self.due_ns.saturating_sub(self.hot.now_ns()))
    }

    /// Now, in run-clock ns, on the send thread's clock.
    #[inline]
    pub fn now_ns(&mut self) -> u64 {
        self.hot.now_ns()
    }

    /// The run clock.
    pub fn clock(&self) -> RunClock {
        self.hot.clock()
    }

    /// Draws message `seq`'s size and key.
    #[inline]
    pub fn draft(&mut self, seq: u64) -> Draft {
        let size = self.sizes.sample(&mut self.rng);
        let key = self.keys.key(seq, &mut self.rng).map(u64::to_be_bytes);
        Draft { size, key }
    }

    /// Writes message `seq`'s payload, numbered and stamped with its intended send time (the
    /// last [`due`](Self::due) time, or now at rate "max") and its actual send time (now, read
    /// here), and returns it.
    #[inline]
    pub fn stamp(&mut self, draft: &Draft, seq: u64) -> &[u8] {
        let sent_ns = self.hot.now_ns();
        let intended_ns = if self.schedule.is_some() { self.due_ns } else { sent_ns };
        let header = Header { producer_id: self.producer_id, seq, intended_ns, sent_ns };
        self.payloads.build(&mut self.buf, &header, draft.size);
        self.stamped = (intended_ns, sent_ns);
        &self.buf
    }

    /// The intended and actual send times, in run-clock ns, that the last
    /// [`stamp`](Self::stamp) wrote into its payload.
    #[inline]
    pub fn stamped(&self) -> (u64, u64) {
        self.stamped
    }
}

/// The sending thread's bookkeeping: counts, send gaps and the sent side of the ledger. Owned
/// by that thread alone, so no lock.
#[derive(Debug)]
pub struct SendBook {
    recorder: Recorder,
    ledger: ProduceLedger,
}

impl SendBook {
    /// The send side of producer `producer_id`, recording into `recorder`.
    pub fn new(recorder: Recorder, producer_id: u32) -> SendBook {
        SendBook { recorder, ledger: ProduceLedger::new(producer_id) }
    }

    /// Message `seq`, due at `intended_ns`, was handed to librdkafka at `at_ns` (both in
    /// run-clock ns, as [`MessageSource::stamped`] has them), or refused with error kind
    /// `refused`.
    #[inline]
    pub fn sent(&mut self, seq: u64, intended_ns: u64, at_ns: u64, refused: Option<&str>) {
        self.ledger.sent(seq);
        self.recorder.sent_ns(intended_ns, at_ns);
        if let Some(kind) = refused {
            self.ledger.failed(seq, kind);
            self.recorder.failed_ns(kind, at_ns);
        }
    }
}

/// The delivery thread's bookkeeping: acks, failures, produce latency and fault marks.
///
/// Public so that the benchmarks drive the very code the producer runs (`benches/`).
#[derive(Debug)]
pub struct AckBook {
    /// The ack time's clock: the delivery thread's own cheap reader of the run clock.
    hot: HotClock,
    marks: Arc<FaultMarks>,
    recorder: Recorder,
    ledger: ProduceLedger,
    fault_acks: FaultAcks,
    /// The latest ack time per partition (run-clock ns), for the gaps in `fault_acks`.
    last_ack: Vec<u64>,
    first_errors: HashMap<u32, u64>,
    /// The oldest message still waiting for its report, on a rate schedule.
    frontier: Option<Frontier>,
}

/// The oldest message of a producer still waiting for its delivery report: the lowest seq
/// neither acknowledged nor failed. Seqs are handed out in due order, so it is the oldest,
/// and the schedule says when it was due: its age is the latency users feel during an outage,
/// while no ack arrives to show it.
#[derive(Debug)]
struct Frontier {
    next: u64,
    /// Failed seqs above `next`: failures are rare, and the ledger counts them without a bitmap.
    failed_above: BTreeSet<u64>,
    origin_ns: u64,
    schedule: Schedule,
    stop_ns: u64,
}

impl Frontier {
    /// Message `seq` got its report; returns whether the frontier moved. Amortized, one bitmap
    /// lookup per message.
    #[inline]
    fn resolved(&mut self, seq: u64, failed: bool, acked: &SeqBitmap) -> bool {
        if seq != self.next {
            if failed && seq > self.next {
                self.failed_above.insert(seq);
            }
            return false;
        }
        self.next += 1;
        while acked.contains(self.next) || self.failed_above.remove(&self.next) {
            self.next += 1;
        }
        true
    }

    /// When the oldest unresolved message was due (run-clock ns); `None` once the schedule
    /// has nothing left before the end of the load.
    fn oldest_due_ns(&self) -> Option<u64> {
        let at = self.origin_ns + self.schedule.due_ns(self.next);
        (at < self.stop_ns).then_some(at)
    }
}

impl AckBook {
    /// The delivery side of producer `producer_id`, recording into `recorder`.
    pub fn new(clock: RunClock, marks: Arc<FaultMarks>, recorder: Recorder, producer_id: u32) -> AckBook {
        // The first anchor now, so that the TSC rate is known by the time the first acks
        // arrive (their stamps cannot be mapped before it is).
        let mut hot = HotClock::new(clock);
        hot.now_ns();
        AckBook {
            hot,
            marks,
            recorder,
            ledger: ProduceLedger::new(producer_id),
            fault_acks: FaultAcks::new(),
            last_ack: Vec::new(),
            first_errors: HashMap::new(),
            frontier: None,
        }
    }

    /// Also tracks the oldest unresolved message of `plan`'s schedule (none at rate "max":
    /// there, nothing is due before it is sent) and reports when it was due with every
    /// snapshot in which it changes.
    pub fn tracking_oldest(mut self, plan: &ProducerPlan) -> AckBook {
        let clock = self.hot.clock();
        if let Rate::PerSec(r) = plan.rate {
            let f = Frontier {
                next: 0,
                failed_above: BTreeSet::new(),
                origin_ns: clock.offset_nanos(plan.start_at),
                schedule: Schedule::new(r, plan.ramp),
                stop_ns: clock.offset_nanos(plan.stop_at),
            };
            self.recorder.unacked(f.oldest_due_ns());
            self.frontier = Some(f);
        }
        self
    }

    /// Message `seq` was refused by the client on the sending thread: it will get no report.
    pub fn refused(&mut self, seq: u64) {
        if let Some(f) = &mut self.frontier
            && f.resolved(seq, true, self.ledger.acked_bitmap())
        {
            self.recorder.unacked(f.oldest_due_ns());
        }
    }

    /// A delivery report for `payload` on `partition`: acknowledged when `err` is `None`, at
    /// `stamp` (as [`ack_stamp`](super::ack_stamp) stamps it on librdkafka's broker thread, on
    /// the clock [`stamp_clock`] picks for this run) or, when that is 0, now. Returns the ack
    /// time it recorded (run-clock ns). Payloads aftershock did not write are ignored.
    #[inline]
    pub fn delivered(&mut self, stamp: u64, payload: Option<&[u8]>, partition: i32, err: Option<&KafkaError>) -> u64 {
        let now_ns = self.ack_ns(stamp);
        let Some(h) = payload.and_then(payload::decode) else { return now_ns };
        let last = if err.is_none() { self.take_last_ack(partition, now_ns) } else { 0 };
        if let Some((fault, start_ns)) = self.marks.current() {
            match err {
                None => {
                    // One map entry per ack while a fault is marked.
                    let acks = self.fault_acks.entry((fault, partition)).or_default();
                    if acks.first.is_none() && h.intended_ns >= start_ns {
                        acks.first = Some(now_ns);
                    }
                    acks.longest_gap = acks.longest_gap.max(now_ns.saturating_sub(last.max(start_ns)));
                }
                Some(_) if now_ns >= start_ns => {
                    self.first_errors.entry(fault).or_insert(now_ns);
                }
                _ => {}
            }
        }
        match err {
            None => {
                self.ledger.acked(h.seq);
                self.recorder.acked_ns(h.intended_ns, now_ns);
            }
            Some(e) => {
                let kind = error_kind(e);
                self.ledger.failed(h.seq, &kind);
                self.recorder.failed_ns(&kind, now_ns);
            }
        }
        if let Some(f) = &mut self.frontier
            && f.resolved(h.seq, err.is_some(), self.ledger.acked_bitmap())
        {
            self.recorder.unacked(f.oldest_due_ns());
        }
        now_ns
    }

    /// The previous ack time on `partition` (0 for none), which becomes `now_ns`.
    #[inline]
    fn take_last_ack(&mut self, partition: i32, now_ns: u64) -> u64 {
        let Ok(i) = usize::try_from(partition) else { return 0 };
        if i >= self.last_ack.len() {
            self.last_ack.resize(i + 1, 0);
        }
        std::mem::replace(&mut self.last_ack[i], now_ns)
    }

    /// The run-clock ns of ack stamp `stamp`; unstamped (0), or stamped before the TSC mapping
    /// is calibrated, the time now (read first thing).
    #[inline]
    fn ack_ns(&mut self, stamp: u64) -> u64 {
        if stamp == 0 {
            return self.hot.now_ns();
        }
        let clock = self.hot.clock();
        match stamp_clock(clock) {
            Stamp::Monotonic => clock.from_monotonic_ns(stamp),
            Stamp::Tsc => match self.hot.at_tsc(stamp) {
                Some(ns) => ns,
                None => self.hot.now_ns(),
            },
        }
    }
}

/// The clock a run's ack stamps are read from: the TSC where the run clock reads it.
pub fn stamp_clock(clock: RunClock) -> Stamp {
    if clock.tsc_usable() { Stamp::Tsc } else { Stamp::Monotonic }
}

/// The delivery callback's state. NB: only the delivery thread calls `poll` (and the worker
/// thread once, after that thread ended), so the mutex is not contended but for the rare
/// message the client refuses at once (the sending thread books it); it exists because
/// librdkafka's context must be `Sync`.
struct Ctx {
    book: Mutex<AckBook>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    /// The ack stamp [`ack_stamp`](super::ack_stamp) wrote (0: none).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, stamp: usize) {
        let (msg, err) = match result {
            Ok(m) => (m, None),
            Err((e, m)) => (m, Some(e)),
        };
        on_delivery(&self.book, stamp as u64, msg.payload(), msg.partition(), err);
    }
}

/// What the delivery callback does with one report stamped at `stamp` (0: unstamped); returns
/// the ack time it recorded (run-clock ns). Public so that the benchmarks drive the
/// very code the producer runs (`benches/`), and pair that time with librdkafka's own.
///
/// An unstamped report's time is read on the thread librdkafka hands it to, right after taking
/// the (uncontended) lock: the book holds that thread's clock.
#[inline]
pub fn on_delivery(
    book: &Mutex<AckBook>,
    stamp: u64,
    payload: Option<&[u8]>,
    partition: i32,
    err: Option<&KafkaError>,
) -> u64 {
    book.lock().unwrap_or_else(|p| p.into_inner()).delivered(stamp, payload, partition, err)
}

/// A short, stable name for an error, used as a counter label (e.g. `MessageTimedOut`).
pub fn error_kind(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => format!("{e:?}").split(['(', ' ']).next().unwrap_or("Unknown").to_string(),
    }
}

/// Serves delivery reports until `stop`: blocked in librdkafka's poll, so a report is timed
/// the moment librdkafka queues it, whatever the sending thread is doing (sleeping until the
/// next due time, or waiting for queue room).
fn serve_reports(producer: &BaseProducer<Ctx>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        producer.poll(REPORT_POLL);
        // An idle second (an outage) must still reach the aggregator.
        producer.context().book.lock().unwrap_or_else(|p| p.into_inner()).recorder.tick(Instant::now());
    }
}

/// Runs one producer instance to the end of the run or until `cancel`; blocking.
///
/// Two threads: this one sends on the schedule; a delivery thread sits in librdkafka's poll and
/// records each delivery report as it arrives. Each owns its half of the bookkeeping
/// ([`SendBook`], [`AckBook`]), merged at the end, so neither takes a contended lock.
pub fn run_producer(
    plan: ProducerPlan,
    clock: RunClock,
    recorder: Recorder,
    payloads: PayloadBuilder,
    cancel: CancellationToken,
) -> Result<ProducerOutcome> {
    let acks = AckBook::new(clock, plan.marks.clone(), recorder.sibling(), plan.producer_id).tracking_oldest(&plan);
    // Acks are stamped on librdkafka's broker thread, not after the hand-off to ours.
    let producer: BaseProducer<Ctx> =
        producer_with_ack_stamps(&plan.config, stamp_clock(clock), Ctx { book: Mutex::new(acks) })
            .map_err(Error::kafka(format!("creating producer {}[{}]", plan.name, plan.instance)))?;
    let settings = settings::of_client(producer.client(), &plan.config, Role::Producer);
    let mut source = MessageSource::new(&plan, clock, payloads);
    let mut sends = SendBook::new(recorder, plan.producer_id);
    let stop_reports = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reporter = std::thread::Builder::new()
            .name(format!("dr-{}-{}", plan.name, plan.instance))
            .spawn_scoped(scope, || serve_reports(&producer, &stop_reports))
            .map_err(Error::io(format!("starting the delivery thread of producer {}", plan.name)))?;
        send_until(&producer, &plan, &mut source, &mut sends, &cancel);
        // Drain: give outstanding messages until `drain` to be acknowledged.
        let deadline = Instant::now() + plan.drain;
        while producer.in_flight_count() > 0 && Instant::now() < deadline && !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop_reports.store(true, Ordering::Relaxed);
        let _ = reporter.join();
        Ok::<(), Error>(())
    })?;
    let _ = producer.flush(Duration::from_millis(100));
    let in_flight_at_end = producer.in_flight_count();
    let mut acks = producer.context().book.lock().unwrap_or_else(|p| p.into_inner());
    acks.recorder.flush();
    sends.recorder.flush();
    let mut ledger = sends.ledger;
    ledger.merge(&acks.ledger);
    let fault_acks = std::mem::take(&mut acks.fault_acks);
    let first_errors = std::mem::take(&mut acks.first_errors);
    drop(acks);
    Ok(ProducerOutcome {
        name: plan.name,
        instance: plan.instance,
        topic: plan.topic,
        ledger,
        in_flight_at_end,
        fault_acks,
        first_errors,
        settings,
    })
}

/// The sending loop: every message at its due time (or as soon as there is room, at rate
/// "max"), until the end of the schedule or `cancel`.
fn send_until(
    producer: &BaseProducer<Ctx>,
    plan: &ProducerPlan,
    source: &mut MessageSource,
    sends: &mut SendBook,
    cancel: &CancellationToken,
) {
    let mut seq: u64 = 0;
    let stop_ns = source.clock().offset_nanos(plan.stop_at);
    while !cancel.is_cancelled() {
        match source.due(seq) {
            Some(at) if at >= stop_ns => break,
            Some(_) => {
                let wait = source.until_due();
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
            None if source.now_ns() >= stop_ns => break,
            None => {}
        }
        let draft = source.draft(seq);
        // A full local queue means the cluster is not keeping up: wait for room. On a
        // schedule, the time spent here shows up as send gap and as produce latency, never as
        // a skipped message; at "max", latency counts from the send that succeeded.
        // The send time is read in `stamp` (it goes into the header and the send gap); the send
        // call itself is not timed: it only enqueues.
        let refused = loop {
            let payload = source.stamp(&draft, seq);
            // Opaque 0: the ack-stamp interceptor writes the ack time there.
            let mut record = BaseRecord::with_opaque_to(&plan.topic, 0).payload(payload);
            if let Some(k) = &draft.key {
                record = record.key(&k[..]);
            }
            match producer.send(record) {
                Ok(()) => break None,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if cancel.is_cancelled() {
                        break Some("Cancelled".to_string());
                    }
                    std::thread::sleep(QUEUE_FULL_BACKOFF);
                }
                Err((e, _)) => break Some(error_kind(&e)),
            }
        };
        // The times the payload carries: the due time (or the send time at "max") and the
        // last attempt's send time.
        let (intended_ns, sent_ns) = source.stamped();
        sends.sent(seq, intended_ns, sent_ns, refused.as_deref());
        if refused.is_some() {
            producer.context().book.lock().unwrap_or_else(|p| p.into_inner()).refused(seq);
        }
        seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{WorkerId, channel};

    fn payload(intended_ns: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        PayloadBuilder::new(1).build(
            &mut buf,
            &Header { producer_id: 1, seq: 0, intended_ns, sent_ns: intended_ns },
            64,
        );
        buf
    }

    fn plan_at(rate: Rate, start: Instant, length: Duration) -> ProducerPlan {
        ProducerPlan {
            name: "p".into(),
            instance: 0,
            producer_id: 1,
            topic: "t".into(),
            rate,
            ramp: Duration::ZERO,
            sizes: SizeDist::Fixed(64),
            keys: crate::scenario::KeyDist::None.sampler(),
            rng: crate::scenario::seeded_rng(1, "p", 0),
            config: ClientConfig::new(),
            start_at: start,
            stop_at: start + length,
            drain: Duration::from_secs(1),
            marks: Arc::new(FaultMarks::default()),
        }
    }

    fn numbered(seq: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        PayloadBuilder::new(1).build(&mut buf, &Header { producer_id: 1, seq, intended_ns: 0, sent_ns: 0 }, 64);
        buf
    }

    /// The gauge of the snapshots `book` sent so far, last one first.
    fn gauges(book: &mut AckBook, rx: &mut crate::measure::SnapshotReceiver) -> Vec<Option<u64>> {
        book.recorder.flush();
        let mut out = Vec::new();
        while let Ok(s) = rx.try_recv() {
            if let Some(g) = s.unacked {
                out.push(g.oldest_due_ns);
            }
        }
        out.reverse();
        out
    }

    /// At 1000 msg/s message n is due n ms after the start: the gauge follows the lowest seq
    /// without a report through out-of-order acks, failures and refusals.
    #[test]
    fn the_oldest_message_without_a_report_is_tracked_with_its_due_time() {
        let clock = RunClock::new(Instant::now());
        let (tx, mut rx) = channel();
        let recorder = Recorder::new(WorkerId::producer("t", 0), clock, tx);
        let plan = plan_at(Rate::PerSec(1000.0), clock.start(), Duration::from_millis(10));
        let mut book = AckBook::new(clock, Arc::new(FaultMarks::default()), recorder, 1).tracking_oldest(&plan);
        assert_eq!(gauges(&mut book, &mut rx), vec![Some(0)], "message 0 is the oldest at first");
        let ms = |n: u64| Some(n * 1_000_000);
        // 1 and 2 acked before 0: 0 is still the oldest, and nothing new is reported.
        book.delivered(0, Some(&numbered(1)), 1, None);
        book.delivered(0, Some(&numbered(2)), 2, None);
        assert_eq!(gauges(&mut book, &mut rx), Vec::<Option<u64>>::new());
        // 0 acked: the frontier skips 1 and 2.
        book.delivered(0, Some(&numbered(0)), 0, None);
        assert_eq!(gauges(&mut book, &mut rx), vec![ms(3)]);
        // 4 failed, 5 refused by the client, then 3 acked: 6 is the oldest.
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        book.delivered(0, Some(&numbered(4)), 1, Some(&err));
        book.refused(5);
        book.delivered(0, Some(&numbered(3)), 0, None);
        assert_eq!(gauges(&mut book, &mut rx), vec![ms(6)]);
        // Everything up to the end of the load (10 ms: messages 0..=9) resolved: none waits.
        for seq in 6..10 {
            book.delivered(0, Some(&numbered(seq)), 0, None);
        }
        assert_eq!(gauges(&mut book, &mut rx), vec![None]);
    }

    #[test]
    fn at_rate_max_no_message_is_due_before_it_is_sent() {
        let clock = RunClock::new(Instant::now());
        let (tx, mut rx) = channel();
        let recorder = Recorder::new(WorkerId::producer("t", 0), clock, tx);
        let plan = plan_at(Rate::Max, clock.start(), Duration::from_secs(1));
        let mut book = AckBook::new(clock, Arc::new(FaultMarks::default()), recorder, 1).tracking_oldest(&plan);
        book.delivered(0, Some(&numbered(0)), 0, None);
        assert!(gauges(&mut book, &mut rx).is_empty());
    }

    /// The longest silence after a fault counts from the later of the fault and the previous
    /// ack: acks before the broker really stopped do not hide the outage that followed.
    #[test]
    fn ack_gaps_measure_the_longest_silence_after_the_fault() {
        let clock = RunClock::new(Instant::now());
        let (tx, _rx) = channel();
        let marks = Arc::new(FaultMarks::default());
        let mut book = AckBook::new(clock, marks.clone(), Recorder::new(WorkerId::producer("t", 0), clock, tx), 1);
        let now = |book: &mut AckBook| book.hot.now_ns();
        let t0 = now(&mut book);
        book.delivered(0, Some(&payload(t0)), 0, None);
        assert!(book.fault_acks.is_empty(), "no fault, no gaps");
        let start = now(&mut book);
        marks.set(1, start);
        // The old leader still acknowledges right after the API call...
        book.delivered(0, Some(&payload(t0)), 0, None);
        let quick = book.fault_acks.get(&(1, 0)).and_then(|a| a.first);
        assert_eq!(quick, None, "a message sent before the fault is no first ack");
        // ...then nothing for 80 ms on partition 0, and partition 1 is first acked after 80 ms.
        std::thread::sleep(Duration::from_millis(80));
        let later = now(&mut book);
        book.delivered(0, Some(&payload(later)), 0, None);
        book.delivered(0, Some(&payload(later)), 1, None);
        let gap0 = book.fault_acks[&(1, 0)].longest_gap;
        let gap1 = book.fault_acks[&(1, 1)].longest_gap;
        assert!((80_000_000..200_000_000).contains(&gap0), "partition 0 was silent ~80 ms: {gap0} ns");
        assert!(gap1 >= 80_000_000 && gap1 >= gap0, "partition 1's gap counts from the fault: {gap1} ns");
        // A failed delivery neither ends nor starts a gap.
        let err = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        book.delivered(0, Some(&payload(later)), 0, Some(&err));
        assert_eq!(book.fault_acks[&(1, 0)].longest_gap, gap0);
    }
}
