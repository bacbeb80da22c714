//! Open-loop producer instances: each on its own thread, sending numbered messages on the
//! schedule, recording acks where the delivery report arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use super::payload::{self, Header, PayloadBuilder};
use super::schedule::Schedule;
use crate::chaos::engine::{FaultMarks, FirstAcks};
use crate::error::{Error, Result};
use crate::measure::{ProduceLedger, Recorder, RunClock};
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
    /// Per (fault, partition): run-clock ns of the first ack of a message meant to be sent
    /// after the fault's injection.
    pub first_acks: FirstAcks,
    /// Per fault: run-clock ns of the first failed delivery after its injection.
    pub first_errors: HashMap<u32, u64>,
}

/// The state the delivery callback updates. NB: only the worker thread calls `poll`, so the
/// callback always runs on that thread and the mutex is never contended; it exists because
/// librdkafka's context must be `Sync`.
struct Shared {
    recorder: Recorder,
    ledger: ProduceLedger,
    first_acks: FirstAcks,
    first_errors: HashMap<u32, u64>,
}

struct Ctx {
    clock: RunClock,
    marks: Arc<FaultMarks>,
    shared: Mutex<Shared>,
    /// Delivery reports handled so far; `drain` polls until this stops moving.
    reports: AtomicU64,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let now = Instant::now();
        self.reports.fetch_add(1, Ordering::Relaxed);
        let (msg, err) = match result {
            Ok(m) => (m, None),
            Err((e, m)) => (m, Some(e)),
        };
        let Some(h) = msg.payload().and_then(payload::decode) else { return };
        let intended = self.clock.start() + Duration::from_nanos(h.intended_ns);
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((fault, start_ns)) = self.marks.current() {
            let now_ns = self.clock.offset_nanos(now);
            match err {
                None if h.intended_ns >= start_ns => {
                    s.first_acks.entry((fault, msg.partition())).or_insert(now_ns);
                }
                Some(_) if now_ns >= start_ns => {
                    s.first_errors.entry(fault).or_insert(now_ns);
                }
                _ => {}
            }
        }
        match err {
            None => {
                s.ledger.acked(h.seq);
                s.recorder.acked(intended, now);
            }
            Some(e) => {
                let kind = error_kind(e);
                s.ledger.failed(h.seq, &kind);
                s.recorder.failed(&kind, now);
            }
        }
    }
}

/// Handles every delivery report that is ready, without waiting. NB: `BaseProducer::poll`
/// with a zero timeout handles at most one event (one produce response's worth of reports),
/// so one call per send falls behind as soon as batches are small; a backlog of unhandled
/// reports would show up as produce latency that the cluster never caused.
fn drain(producer: &BaseProducer<Ctx>) {
    loop {
        let before = producer.context().reports.load(Ordering::Relaxed);
        producer.poll(Duration::ZERO);
        if producer.context().reports.load(Ordering::Relaxed) == before {
            break;
        }
    }
}

/// A short, stable name for an error, used as a counter label (e.g. `MessageTimedOut`).
pub fn error_kind(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => format!("{e:?}").split(['(', ' ']).next().unwrap_or("Unknown").to_string(),
    }
}

/// Runs one producer instance to the end of the run or until `cancel`; blocking.
pub fn run_producer(
    mut plan: ProducerPlan,
    clock: RunClock,
    recorder: Recorder,
    payloads: PayloadBuilder,
    cancel: CancellationToken,
) -> Result<ProducerOutcome> {
    let ctx = Ctx {
        clock,
        marks: plan.marks.clone(),
        reports: AtomicU64::new(0),
        shared: Mutex::new(Shared {
            recorder,
            ledger: ProduceLedger::new(plan.producer_id),
            first_acks: FirstAcks::new(),
            first_errors: HashMap::new(),
        }),
    };
    let producer: BaseProducer<Ctx> = plan
        .config
        .create_with_context(ctx)
        .map_err(Error::kafka(format!("creating producer {}[{}]", plan.name, plan.instance)))?;
    let schedule = match plan.rate {
        Rate::PerSec(r) => Some(Schedule { rate: r, ramp: plan.ramp }),
        Rate::Max => None,
    };
    let origin = plan.start_at;
    let mut buf = Vec::with_capacity(plan.sizes.max().max(payload::HEADER_LEN));
    let mut seq: u64 = 0;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let intended = match schedule {
            Some(s) => origin + s.due(seq),
            None => Instant::now(),
        };
        if intended >= plan.stop_at {
            break;
        }
        // Wait for the due time while serving delivery reports; poll returns early on events.
        // NB: librdkafka's poll timeout has millisecond resolution, so the last fraction of a
        // millisecond is slept instead: polling with a zero timeout would spin a whole core.
        loop {
            let now = Instant::now();
            if now >= intended {
                break;
            }
            let wait = intended - now;
            if wait >= Duration::from_millis(1) {
                producer.poll(Duration::from_millis(wait.as_millis() as u64));
            } else {
                drain(&producer);
                std::thread::sleep(intended.saturating_duration_since(Instant::now()));
            }
        }
        let size = plan.sizes.sample(&mut plan.rng);
        let key = plan.keys.key(seq, &mut plan.rng).map(u64::to_be_bytes);
        let now = Instant::now();
        let header = Header {
            producer_id: plan.producer_id,
            seq,
            intended_ns: clock.offset_nanos(intended),
            sent_ns: clock.offset_nanos(now),
        };
        payloads.build(&mut buf, &header, size);
        let mut record = BaseRecord::to(&plan.topic).payload(&buf);
        if let Some(k) = &key {
            record = record.key(&k[..]);
        }
        // A full local queue means the cluster is not keeping up: wait for room. The time
        // spent here shows up as send gap and as produce latency, never as a skipped message.
        let refused = loop {
            match producer.send(record) {
                Ok(()) => break None,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if cancel.is_cancelled() {
                        break Some("Cancelled".to_string());
                    }
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => break Some(error_kind(&e)),
            }
        };
        let sent_at = Instant::now();
        {
            let mut s = producer.context().shared.lock().unwrap_or_else(|p| p.into_inner());
            s.ledger.sent(seq);
            s.recorder.sent(intended, sent_at);
            if let Some(kind) = &refused {
                s.ledger.failed(seq, kind);
                s.recorder.failed(kind, sent_at);
            }
        }
        seq += 1;
        drain(&producer);
    }
    // Drain: give outstanding messages until `drain` to be acknowledged.
    let deadline = Instant::now() + plan.drain;
    while producer.in_flight_count() > 0 && Instant::now() < deadline && !cancel.is_cancelled() {
        producer.poll(Duration::from_millis(50));
    }
    let _ = producer.flush(Duration::from_millis(100));
    let in_flight_at_end = producer.in_flight_count();
    let ctx = producer.context();
    let mut s = ctx.shared.lock().unwrap_or_else(|p| p.into_inner());
    s.recorder.flush();
    let ledger = std::mem::replace(&mut s.ledger, ProduceLedger::new(plan.producer_id));
    let first_acks = std::mem::take(&mut s.first_acks);
    let first_errors = std::mem::take(&mut s.first_errors);
    drop(s);
    Ok(ProducerOutcome {
        name: plan.name,
        instance: plan.instance,
        topic: plan.topic,
        ledger,
        in_flight_at_end,
        first_acks,
        first_errors,
    })
}
