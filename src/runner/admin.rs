//! Kafka admin work of a run: its topics created or checked, end offsets, and the cluster's
//! description for the report.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{Error, Result};
use crate::report::ClusterInfo;
use crate::scenario::Scenario;

/// Creates the scenario's topics, or checks existing ones against the file.
pub fn ensure_topics(scenario: &Scenario, base: &ClientConfig) -> Result<()> {
    let probe: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let md = probe.fetch_metadata(None, Duration::from_secs(20)).map_err(Error::kafka("reading cluster metadata"))?;
    let admin: AdminClient<DefaultClientContext> = base.create().map_err(Error::kafka("creating an admin client"))?;
    let mut to_create = Vec::new();
    for t in &scenario.topics {
        match md.topics().iter().find(|m| m.name() == t.name && m.error().is_none()) {
            Some(existing) => {
                let parts = existing.partitions().len() as i32;
                let rf = existing.partitions().first().map(|p| p.replicas().len() as i32).unwrap_or(0);
                if (parts != t.partitions || rf != t.replication_factor) && !t.reuse {
                    return Err(Error::Usage(format!(
                        "topic {} already exists with {parts} partitions and replication factor {rf}, but the scenario \
                         asks for {} and {}; delete it, change the scenario, or set \"reuse\": true to use it as it is",
                        t.name, t.partitions, t.replication_factor
                    )));
                }
            }
            None => to_create.push(t),
        }
    }
    if to_create.is_empty() {
        return Ok(());
    }
    let news: Vec<NewTopic> = to_create
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(t.replication_factor));
            for (k, v) in &t.config {
                n = n.set(k, v);
            }
            n
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    // NB: librdkafka's own thread completes admin futures, so blocking here needs no runtime.
    let results = futures::executor::block_on(admin.create_topics(news.iter(), &opts))
        .map_err(Error::kafka("creating topics"))?;
    for r in results {
        if let Err((name, code)) = r
            && code != RDKafkaErrorCode::TopicAlreadyExists
        {
            return Err(Error::Kafka { context: format!("creating topic {name}"), source: KafkaError::AdminOp(code) });
        }
    }
    let new: Vec<(&str, i32)> = to_create.iter().map(|t| (t.name.as_str(), t.partitions)).collect();
    crate::smoke::wait_for_leaders(&probe, &new, Duration::from_secs(30))
}

/// The current end offset of every partition of each topic.
pub fn end_offsets(base: &ClientConfig, topics: &BTreeMap<String, usize>) -> Result<BTreeMap<String, Vec<i64>>> {
    let c: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let mut out = BTreeMap::new();
    for (t, n) in topics {
        let mut ends = Vec::with_capacity(*n);
        for p in 0..*n as i32 {
            let (_, high) = c
                .fetch_watermarks(t, p, Duration::from_secs(10))
                .map_err(Error::kafka(format!("end offset of {t}/{p}")))?;
            ends.push(high);
        }
        out.insert(t.clone(), ends);
    }
    Ok(out)
}

pub fn cluster_info(base: &ClientConfig, bootstrap: &str, topics: &[String]) -> Result<ClusterInfo> {
    let c: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let md = c.fetch_metadata(None, Duration::from_secs(10)).map_err(Error::kafka("reading cluster metadata"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    Ok(ClusterInfo::from_metadata(bootstrap, &md, &names))
}
