//! A quick produce/consume check of a cluster: numbered messages with acks=all, read back,
//! each number expected exactly once. The scenario runner does this at scale; this check is
//! what `cluster smoke` and the cluster tests use to prove a cluster really works.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::{Error, Result};

/// What to check.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    pub topic: String,
    /// Create the topic first (it must not exist yet); otherwise it must exist.
    pub create: Option<TopicSpec>,
    pub messages: u32,
    /// Bound on each of the produce and the consume step.
    pub timeout: Duration,
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub partitions: i32,
    pub replication: i32,
    pub min_insync_replicas: Option<i32>,
}

/// The outcome of one check; `ok()` when every acked number came back exactly once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SmokeReport {
    pub topic: String,
    pub run: String,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub first_error: Option<String>,
    pub produce_secs: f64,
    pub consume_secs: f64,
}

impl SmokeReport {
    pub fn ok(&self) -> bool {
        self.sent > 0 && self.acked == self.sent && self.failed == 0 && self.missing == 0 && self.duplicates == 0
    }
}

#[derive(Default)]
struct Acks {
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Creates a topic and waits until it is usable.
pub fn create_topic(bootstrap: &str, topic: &str, spec: &TopicSpec, timeout: Duration) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(Error::kafka("creating an admin client"))?;
    let min_isr = spec.min_insync_replicas.map(|m| m.to_string());
    let mut new = NewTopic::new(topic, spec.partitions, TopicReplication::Fixed(spec.replication));
    if let Some(m) = &min_isr {
        new = new.set("min.insync.replicas", m);
    }
    let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    // The admin future is completed by librdkafka's own thread, so blocking on it needs no runtime.
    let results = futures::executor::block_on(admin.create_topics([&new], &opts))
        .map_err(Error::kafka(format!("creating topic {topic}")))?;
    for r in results {
        if let Err((name, code)) = r {
            return Err(Error::Kafka { context: format!("creating topic {name}"), source: KafkaError::AdminOp(code) });
        }
    }
    // Metadata propagates to every broker asynchronously; wait until each partition has a leader.
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(Error::kafka("creating a metadata client"))?;
    wait_for_leaders(&probe, &[(topic, spec.partitions)], timeout)
}

/// Waits until each (topic, partition count) is in the metadata with a leader for every
/// partition, so that the first sends do not time out. A failed metadata fetch is retried.
pub fn wait_for_leaders(probe: &BaseConsumer, topics: &[(&str, i32)], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(md) = probe.fetch_metadata(None, Duration::from_secs(5)) {
            let ready = topics.iter().all(|(name, partitions)| {
                md.topics().iter().any(|t| {
                    t.name() == *name
                        && t.error().is_none()
                        && t.partitions().len() == *partitions as usize
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                })
            });
            if ready {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            let names: Vec<&str> = topics.iter().map(|(n, _)| *n).collect();
            return Err(Error::Kafka {
                context: format!("waiting for the partition leaders of {}", names.join(", ")),
                source: KafkaError::MetadataFetch(RDKafkaErrorCode::LeaderNotAvailable),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Produces `opts.messages` numbered messages with acks=all and idempotence, reads the whole
/// topic back, and counts every number of this run.
pub fn smoke(bootstrap: &str, opts: &SmokeOptions) -> Result<SmokeReport> {
    if let Some(spec) = &opts.create {
        create_topic(bootstrap, &opts.topic, spec, opts.timeout)?;
    }
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut report = SmokeReport { topic: opts.topic.clone(), run: run.clone(), ..Default::default() };

    let producer: BaseProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", opts.timeout.as_millis().to_string())
        .create_with_context(Acks::default())
        .map_err(Error::kafka("creating a producer"))?;
    let started = Instant::now();
    for seq in 0..opts.messages {
        let key = seq.to_string();
        let payload = format!("{run}:{seq}");
        let mut record = BaseRecord::to(&opts.topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(Error::kafka("enqueueing a message")(e)),
            }
        }
        report.sent += 1;
        producer.poll(Duration::ZERO);
    }
    producer.flush(opts.timeout).map_err(Error::kafka("flushing the producer"))?;
    let ctx = producer.context();
    report.acked = ctx.acked.load(Ordering::Relaxed);
    report.failed = ctx.failed.load(Ordering::Relaxed);
    report.first_error = ctx.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
    report.produce_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let counts = read_back(bootstrap, &opts.topic, &run, opts.messages, opts.timeout)?;
    report.consume_secs = started.elapsed().as_secs_f64();
    report.consumed = counts.iter().map(|c| u64::from(*c)).sum();
    report.missing = counts.iter().filter(|c| **c == 0).count() as u64;
    report.duplicates = counts.iter().map(|c| u64::from(c.saturating_sub(1))).sum();
    Ok(report)
}

/// Reads every partition of `topic` from the beginning to its current end and counts how
/// often each number of run `run` appears.
fn read_back(bootstrap: &str, topic: &str, run: &str, messages: u32, timeout: Duration) -> Result<Vec<u32>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("aftershock-smoke-{run}"))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(Error::kafka("creating a consumer"))?;
    let md =
        consumer.fetch_metadata(Some(topic), timeout).map_err(Error::kafka(format!("reading metadata of {topic}")))?;
    let partitions: Vec<i32> =
        md.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(Error::kafka(format!("reading the end offset of {topic}/{p}")))?;
        if high > 0 {
            ends.push((p, high));
            tpl.add_partition_offset(topic, p, Offset::Beginning).map_err(Error::kafka("assigning"))?;
        }
    }
    consumer.assign(&tpl).map_err(Error::kafka(format!("assigning the partitions of {topic}")))?;
    let mut next: std::collections::HashMap<i32, i64> = ends.iter().map(|(p, _)| (*p, 0)).collect();
    let mut counts = vec![0u32; messages as usize];
    let prefix = format!("{run}:");
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while ends.iter().any(|(p, high)| next[p] < *high) {
        if Instant::now() >= deadline {
            return Err(Error::Kafka {
                context: format!(
                    "reading {topic} back: the end was not reached within {timeout:?} (last error: {last_error:?})"
                ),
                source: KafkaError::Global(RDKafkaErrorCode::OperationTimedOut),
            });
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else { continue };
        // NB: with a broker down the consumer reports transport failures and keeps going on
        // its own; only running out of time ends the read.
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                last_error = Some(e.to_string());
                continue;
            }
        };
        next.insert(msg.partition(), msg.offset() + 1);
        let Some(seq) = msg
            .payload()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.strip_prefix(&prefix))
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        if let Some(c) = counts.get_mut(seq) {
            *c += 1;
        }
    }
    Ok(counts)
}
