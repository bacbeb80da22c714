//! Consumer instances: each on its own thread, in its consumer group, timing every message
//! end to end and entering its number in the instance's ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use tokio_util::sync::CancellationToken;

use super::payload::{self, PayloadBuilder};
use super::settings::{self, Effective, Role};
use crate::error::{Error, Result};
use crate::measure::{ConsumeLedger, Recorder, RunClock};

/// What one consumer instance needs to run.
#[derive(Debug)]
pub struct ConsumerPlan {
    pub name: String,
    pub instance: u32,
    pub topic: String,
    /// Producer ids that write to this topic; other numbers count as unexpected.
    pub producer_ids: Vec<u32>,
    /// Complete librdkafka settings (cluster + consumer + group).
    pub config: ClientConfig,
}

/// Per-partition progress of one consumer group, shared by its instances and read by the
/// run to decide when the group has drained. Each partition is written by the instance that
/// owns it, so there is no contention.
#[derive(Debug)]
pub struct GroupProgress {
    next_offset: Vec<AtomicI64>,
    consumed: AtomicU64,
    /// Partitions currently assigned across the group's instances.
    assigned: AtomicI64,
    /// Rebalance events (true = assigned, false = revoked) at run-clock ns; rare, so a lock is fine.
    rebalances: std::sync::Mutex<Vec<(bool, u64)>>,
}

impl GroupProgress {
    pub fn new(partitions: usize) -> GroupProgress {
        GroupProgress {
            next_offset: (0..partitions).map(|_| AtomicI64::new(-1)).collect(),
            consumed: AtomicU64::new(0),
            assigned: AtomicI64::new(0),
            rebalances: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// True when every partition has been read up to `ends[p]` (the end offsets taken after the
    /// producers stopped). Partitions with nothing in them count as read.
    pub fn reached(&self, ends: &[i64]) -> bool {
        ends.iter()
            .enumerate()
            .all(|(p, end)| *end <= 0 || self.next_offset.get(p).is_some_and(|n| n.load(Ordering::Relaxed) >= *end))
    }

    /// True once every partition is assigned to one of the group's instances: only then can
    /// producing start without a `latest` consumer missing the first messages.
    pub fn fully_assigned(&self) -> bool {
        self.assigned.load(Ordering::Relaxed) >= self.next_offset.len() as i64
    }

    /// Rebalance events so far: (assigned?, run-clock ns).
    pub fn rebalances(&self) -> Vec<(bool, u64)> {
        self.rebalances.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next offset the group will read in each partition (-1 where it has read nothing yet).
    pub fn positions(&self) -> Vec<i64> {
        self.next_offset.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// Messages consumed so far by the group.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn advance(&self, partition: i32, next: i64) {
        if let Some(slot) = usize::try_from(partition).ok().and_then(|p| self.next_offset.get(p)) {
            slot.fetch_max(next, Ordering::Relaxed);
        }
        self.consumed.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a consumer instance hands back.
#[derive(Debug)]
pub struct ConsumerOutcome {
    pub name: String,
    pub instance: u32,
    pub topic: String,
    pub ledger: ConsumeLedger,
    /// Messages whose filler did not match their number.
    pub corrupted: u64,
    /// Highest total lag this instance saw.
    pub max_lag: u64,
    /// The librdkafka settings the instance ran with, secrets redacted.
    pub settings: Effective,
}

struct Ctx {
    lag: AtomicI64,
    progress: Arc<GroupProgress>,
    clock: RunClock,
}

impl ClientContext for Ctx {
    fn stats(&self, stats: Statistics) {
        // Summed over this instance's partitions, against the offset consumed so far (the
        // committed one only moves every auto-commit interval, which would draw a saw-tooth);
        // librdkafka reports -1 where it does not know.
        let lag: i64 = stats
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag_stored >= 0)
            .map(|p| p.consumer_lag_stored)
            .sum();
        self.lag.store(lag, Ordering::Relaxed);
    }
}

impl ConsumerContext for Ctx {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let at = self.clock.offset_nanos(Instant::now());
        let event = match rebalance {
            Rebalance::Assign(tpl) => {
                self.progress.assigned.fetch_add(tpl.count() as i64, Ordering::Relaxed);
                Some(true)
            }
            Rebalance::Revoke(tpl) => {
                self.progress.assigned.fetch_sub(tpl.count() as i64, Ordering::Relaxed);
                Some(false)
            }
            Rebalance::Error(_) => None,
        };
        if let Some(assigned) = event {
            self.progress.rebalances.lock().unwrap_or_else(|p| p.into_inner()).push((assigned, at));
        }
    }
}

/// Runs one consumer instance until `stop`; blocking.
pub fn run_consumer(
    plan: ConsumerPlan,
    clock: RunClock,
    mut recorder: Recorder,
    payloads: PayloadBuilder,
    progress: Arc<GroupProgress>,
    stop: CancellationToken,
) -> Result<ConsumerOutcome> {
    let consumer: BaseConsumer<Ctx> = plan
        .config
        .create_with_context(Ctx { lag: AtomicI64::new(-1), progress: progress.clone(), clock })
        .map_err(Error::kafka(format!("creating consumer {}[{}]", plan.name, plan.instance)))?;
    let settings = settings::of_client(consumer.client(), &plan.config, Role::Consumer);
    consumer
        .subscribe(&[&plan.topic])
        .map_err(Error::kafka(format!("subscribing consumer {} to {}", plan.name, plan.topic)))?;
    // A topic that no producer of this run writes is verified on the ids found in it.
    let mut ledger = if plan.producer_ids.is_empty() {
        ConsumeLedger::adopting()
    } else {
        ConsumeLedger::new(plan.producer_ids.iter().copied())
    };
    let mut corrupted = 0u64;
    let mut max_lag = 0u64;
    let mut last_lag_report = Instant::now();
    while !stop.is_cancelled() {
        let polled = consumer.poll(Duration::from_millis(100));
        let now = Instant::now();
        if now.duration_since(last_lag_report) >= Duration::from_secs(1) {
            last_lag_report = now;
            if let Ok(lag) = u64::try_from(consumer.context().lag.load(Ordering::Relaxed)) {
                recorder.lag(now, lag);
                max_lag = max_lag.max(lag);
            }
        }
        let Some(result) = polled else {
            recorder.tick(now);
            continue;
        };
        // NB: errors here are transient by librdkafka's design (a broker went away, a
        // partition moved): the consumer recovers by itself, and the ledger shows any effect.
        let Ok(msg) = result else { continue };
        progress.advance(msg.partition(), msg.offset() + 1);
        match msg.payload().and_then(|p| payload::decode(p).map(|h| (p, h))) {
            Some((bytes, h)) => {
                if !payloads.filler_intact(bytes, &h) {
                    corrupted += 1;
                }
                ledger.consumed(msg.partition(), h.producer_id, h.seq);
                recorder.consumed(now, Some(clock.e2e(h.intended_ns, now)));
            }
            None => {
                ledger.foreign();
                recorder.consumed(now, None);
            }
        }
    }
    recorder.flush();
    Ok(ConsumerOutcome {
        name: plan.name,
        instance: plan.instance,
        topic: plan.topic,
        ledger,
        corrupted,
        max_lag,
        settings,
    })
}
