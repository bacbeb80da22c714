//! The run's workers: each producer and consumer instance on its own thread with its
//! complete librdkafka settings, and joining them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use tokio_util::task::TaskTracker;

use crate::error::{Error, Result};
use crate::load::consumer::{ConsumerOutcome, ConsumerPlan, GroupProgress, run_consumer};
use crate::load::payload::PayloadBuilder;
use crate::load::producer::{ProducerOutcome, ProducerPlan, run_producer};
use crate::measure::fault_acks::FaultMarks;
use crate::measure::{Recorder, RunClock, SnapshotSender, WorkerId};
use crate::plan::ProducerInstance;
use crate::scenario::Scenario;
use crate::stop::Stop;

/// A producer's complete librdkafka settings: the cluster's, then the producer's own.
pub fn producer_config(base: &ClientConfig, p: &crate::scenario::ProducerSpec) -> ClientConfig {
    let mut config = base.clone();
    for (k, v) in p.librdkafka_config() {
        config.set(k, v);
    }
    // Bounded local queue: a stalled cluster makes the generator wait, not balloon.
    if !p.config.contains_key("queue.buffering.max.kbytes") {
        config.set("queue.buffering.max.kbytes", "65536");
    }
    config
}

/// Consumer settings aftershock sets unless the scenario's `config` sets them.
const CONSUMER_DEFAULTS: [(&str, &str); 2] = [
    // Bounded prefetch: a consumer that falls behind waits, it does not balloon.
    ("queued.max.messages.kbytes", "16384"),
    // A full prefetch queue pauses a partition's fetching for this long; librdkafka's 1 s
    // default makes a consumer reading a backlog stall once a second (190k msg/s instead of
    // 1.2M on the local benchmark cluster).
    ("fetch.queue.backoff.ms", "10"),
];

/// A consumer's complete librdkafka settings: the cluster's, then the consumer's own.
fn consumer_config(base: &ClientConfig, c: &crate::scenario::ConsumerSpec) -> ClientConfig {
    let mut config = base.clone();
    for (k, v) in c.librdkafka_config() {
        config.set(k, v);
    }
    config.set("statistics.interval.ms", "1000");
    for (k, v) in CONSUMER_DEFAULTS {
        if !c.config.contains_key(k) {
            config.set(k, v);
        }
    }
    config
}

/// Each consumer group: its name, topic and shared progress.
pub type Groups = Vec<(String, String, Arc<GroupProgress>)>;

/// A worker thread's result, once it ends.
pub type Worker<T> = tokio::sync::oneshot::Receiver<Result<T>>;

/// The consumers of a run: their groups' shared progress and their threads.
pub struct Consumers {
    pub groups: Groups,
    pub threads: Vec<Worker<ConsumerOutcome>>,
}

/// Starts every consumer instance of the scenario on its own thread, reading until `stop`.
/// `producer_ids` are the ids each topic's consumers expect (none: count and time only).
#[allow(clippy::too_many_arguments)]
pub fn start_consumers(
    scenario: &Scenario,
    base: &ClientConfig,
    partitions: &BTreeMap<String, usize>,
    producer_ids: &BTreeMap<String, Vec<u32>>,
    clock: RunClock,
    tx: &SnapshotSender,
    payloads: &PayloadBuilder,
    stop: &Stop,
    tracker: &TaskTracker,
) -> Result<Consumers> {
    let mut groups: Groups = Vec::new();
    let mut threads = Vec::new();
    for c in &scenario.consumers {
        let progress = Arc::new(GroupProgress::new(partitions.get(&c.topic).copied().unwrap_or(0)));
        groups.push((c.name.clone(), c.topic.clone(), progress.clone()));
        let config = consumer_config(base, c);
        for instance in 0..c.instances {
            let plan = ConsumerPlan {
                name: c.name.clone(),
                instance,
                topic: c.topic.clone(),
                producer_ids: producer_ids.get(&c.topic).cloned().unwrap_or_default(),
                config: config.clone(),
            };
            let rec = Recorder::new(WorkerId::consumer(&c.name, instance), clock, tx.clone());
            let (pl, pr, st) = (payloads.clone(), progress.clone(), stop.token().clone());
            threads.push(spawn_worker(format!("consumer-{}-{instance}", c.name), tracker, move || {
                run_consumer(plan, clock, rec, pl, pr, st)
            })?);
        }
    }
    Ok(Consumers { groups, threads })
}

/// What the producers of one run (or of one capacity step) share.
pub struct ProducerRun<'a> {
    pub base: &'a ClientConfig,
    pub clock: RunClock,
    /// Open loop from the first instant to the second.
    pub window: (Instant, Instant),
    /// How long deliveries may drain after the window.
    pub drain: Duration,
    /// Appended to each instance's random stream name (a capacity step's own streams).
    pub stream: &'a str,
    /// Whether the producers' `ramp` applies (a capacity step starts at its rate).
    pub ramp: bool,
    pub tx: &'a SnapshotSender,
    pub payloads: &'a PayloadBuilder,
    pub marks: &'a Arc<FaultMarks>,
    pub stop: &'a Stop,
    pub tracker: &'a TaskTracker,
}

/// Starts each producer instance on its own thread, open loop through the run's window, until
/// its end or `stop`.
pub fn start_producers(
    scenario: &Scenario,
    instances: &[ProducerInstance],
    run: &ProducerRun<'_>,
) -> Result<Vec<Worker<ProducerOutcome>>> {
    let mut threads = Vec::new();
    for pi in instances {
        let p = &scenario.producers[pi.spec];
        let (instance, clock) = (pi.instance, run.clock);
        let plan = ProducerPlan {
            name: p.name.clone(),
            instance,
            producer_id: pi.producer_id,
            topic: p.topic.clone(),
            rate: pi.rate,
            ramp: if run.ramp { p.ramp } else { Duration::ZERO },
            sizes: p.message_size,
            keys: p.keys.sampler(),
            rng: scenario.rng(&format!("producer/{}{}", p.name, run.stream), u64::from(instance)),
            config: producer_config(run.base, p),
            start_at: run.window.0,
            stop_at: run.window.1,
            drain: run.drain,
            marks: run.marks.clone(),
        };
        let rec = Recorder::new(WorkerId::producer(&p.name, instance), clock, run.tx.clone());
        let (pl, cn) = (run.payloads.clone(), run.stop.token().clone());
        threads.push(spawn_worker(format!("producer-{}-{instance}", p.name), run.tracker, move || {
            run_producer(plan, clock, rec, pl, cn)
        })?);
    }
    Ok(threads)
}

/// Waits (up to 30 s, or until `stop`) until every group has all its partitions assigned.
pub async fn wait_assigned(groups: &Groups, stop: &Stop) {
    let assign_deadline = Instant::now() + Duration::from_secs(30);
    while !groups.iter().all(|(_, _, g)| g.fully_assigned()) && Instant::now() < assign_deadline && !stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !groups.iter().all(|(_, _, g)| g.fully_assigned()) {
        tracing::warn!("not every consumer group had all its partitions assigned after 30 s; starting anyway");
    }
}

/// Waits for every worker thread: their outcomes, and what went wrong in the others.
pub async fn join<T>(threads: Vec<Worker<T>>) -> (Vec<T>, Vec<String>) {
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for t in threads {
        match t.await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("worker thread: {e}")),
        }
    }
    (outcomes, failures)
}

/// Workers are long-lived and time-critical: each gets its own OS thread, not a pooled one.
/// The thread holds a token of the run's tracker until it ends, so the run waits for it.
pub fn spawn_worker<T: Send + 'static>(
    name: String,
    tracker: &TaskTracker,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<Worker<T>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = tracker.token();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _token = token;
            let _ = tx.send(f());
        })
        .map_err(Error::io(format!("starting thread {name}")))?;
    Ok(rx)
}
