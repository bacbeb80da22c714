//! The end of a run: the ledger verdict over every producer and consumer, the cluster as it
//! was, the clients' settings, the recovery figures of each fault, and the report that holds
//! them.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use rdkafka::config::ClientConfig;

use crate::chaos::outcome::FaultOutcome;
use crate::chaos::recovery;
use crate::chaos::task::blocking;
use crate::error::{Error, Result};
use crate::load::consumer::ConsumerOutcome;
use crate::load::producer::ProducerOutcome;
use crate::load::settings::Effective;
use crate::measure::fault_acks::FaultAcks;
use crate::measure::{ConsumeLedger, Measurements, Verification, verify};
use crate::plan::RunPlan;
use crate::report::{ClientSettings, Clients, ClusterInfo, Environment, Report, RunMeta, RunOutcome};
use crate::scenario::Scenario;

/// What the report is made of.
pub struct Parts<'a> {
    pub scenario: &'a Scenario,
    pub plan: &'a RunPlan,
    pub run_id: &'a str,
    pub started_wall: SystemTime,
    pub kafka_version: Option<String>,
    pub cluster_info: ClusterInfo,
    pub measurements: &'a Measurements,
    pub producers: &'a [ProducerOutcome],
    pub consumers: &'a [ConsumerOutcome],
    pub faults: &'a [FaultOutcome],
    /// Rebalances of the first consumer group reading the first produced-to topic.
    pub rebalances: Vec<(bool, u64)>,
    /// Why the run was aborted, if it was.
    pub reason: Option<String>,
}

/// Builds the report of a run.
///
/// # Errors
/// The measurements cannot be turned into a report (a histogram that will not serialise).
pub fn report(p: Parts<'_>) -> Result<Report> {
    let verification = verify_all(p.scenario, p.producers, p.consumers);
    let corrupted: u64 = p.consumers.iter().map(|c| c.corrupted).sum();
    if corrupted > 0 {
        tracing::warn!(corrupted, "messages whose payload did not match their number");
    }
    let meta = RunMeta {
        run_id: p.run_id.to_string(),
        scenario_name: p.scenario.name.clone(),
        scenario: p.scenario.raw.clone(),
        started_at: p.started_wall,
        ended_at: SystemTime::now(),
        outcome: match &p.reason {
            None => RunOutcome::Completed,
            Some(r) => RunOutcome::Aborted { reason: r.clone() },
        },
        environment: Environment::detect(p.cluster_info.clone(), p.kafka_version.clone()),
    };
    let mut report = Report::build(meta, p.measurements, verification)
        .map_err(|e| Error::Report { context: "building the report".into(), source: Box::new(e) })?;
    report.faults = fault_records(&p, &report);
    report.clients = clients(p.scenario, p.producers, p.consumers);
    Ok(report)
}

/// Each producer's and consumer's settings, in scenario order, from its first instance that
/// ran (its instances share one configuration). One none of whose instances came back is left
/// out: its worker failed, and the report says so in its abort reason.
fn clients(scenario: &Scenario, producers: &[ProducerOutcome], consumers: &[ConsumerOutcome]) -> Clients {
    fn first<'a>(found: impl Iterator<Item = (u32, &'a Effective)>) -> Option<&'a Effective> {
        found.min_by_key(|(instance, _)| *instance).map(|(_, e)| e)
    }
    let record = |name: &str, e: &Effective| ClientSettings {
        name: name.to_string(),
        settings: e.values.clone(),
        defaults: e.defaults.clone(),
    };
    Clients {
        producers: scenario
            .producers
            .iter()
            .filter_map(|s| {
                let found = producers.iter().filter(|o| o.name == s.name).map(|o| (o.instance, &o.settings));
                first(found).map(|e| record(&s.name, e))
            })
            .collect(),
        consumers: scenario
            .consumers
            .iter()
            .filter_map(|s| {
                let found = consumers.iter().filter(|o| o.name == s.name).map(|o| (o.instance, &o.settings));
                first(found).map(|e| record(&s.name, e))
            })
            .collect(),
    }
}

/// Each fault's recovery figures, from what the producers and consumers saw.
fn fault_records(p: &Parts<'_>, report: &Report) -> Vec<crate::report::FaultRecord> {
    let mut fault_acks = FaultAcks::new();
    let mut first_errors: HashMap<u32, u64> = HashMap::new();
    for o in p.producers {
        for (k, v) in &o.fault_acks {
            fault_acks.entry(*k).and_modify(|e| e.merge(v)).or_insert(*v);
        }
        for (k, v) in &o.first_errors {
            let e = first_errors.entry(*k).or_insert(*v);
            *e = (*e).min(*v);
        }
    }
    // Unavailability is measured on the partitions of the first produced-to topic.
    let first_topic = p.scenario.producers.first().map(|s| s.topic.as_str());
    let produced: Vec<i32> =
        first_topic.and_then(|t| p.plan.partitions.get(t)).map(|n| (0..*n as i32).collect()).unwrap_or_default();
    p.faults
        .iter()
        .map(|o| recovery::record(o, &fault_acks, &first_errors, &produced, &report.timeseries, &p.rebalances))
        .collect()
}

/// The cluster as it is now, for the report; an empty description when it cannot be read.
pub async fn cluster_info(base: &ClientConfig, bootstrap: &str, partitions: &BTreeMap<String, usize>) -> ClusterInfo {
    let (b, bs, topics) = (base.clone(), bootstrap.to_string(), partitions.keys().cloned().collect::<Vec<_>>());
    blocking(move || super::admin::cluster_info(&b, &bs, &topics))
        .await
        .unwrap_or_else(|_| ClusterInfo { bootstrap: bootstrap.to_string(), ..ClusterInfo::default() })
}

/// Sums the ledger verdict of every consumer group: each group is checked against every
/// producer of its topic.
pub fn verify_all(scenario: &Scenario, producers: &[ProducerOutcome], consumers: &[ConsumerOutcome]) -> Verification {
    let mut total = Verification::default();
    for c in &scenario.consumers {
        let produce: Vec<_> = producers.iter().filter(|p| p.topic == c.topic).map(|p| p.ledger.clone()).collect();
        let mut merged: Option<ConsumeLedger> = None;
        for o in consumers.iter().filter(|o| o.name == c.name) {
            match &mut merged {
                Some(m) => m.merge(&o.ledger),
                None => merged = Some(o.ledger.clone()),
            }
        }
        let merged = merged.unwrap_or_else(|| ConsumeLedger::new(produce.iter().map(|p| p.producer_id())));
        add(&mut total, &verify(&produce, &merged));
    }
    if scenario.consumers.is_empty() {
        // Without consumers there is nothing to verify against; sent/acked still count.
        for p in producers {
            total.sent += p.ledger.sent_count();
            total.acked += p.ledger.acked_count();
            total.failed += p.ledger.failed_count();
        }
    }
    total
}

fn add(t: &mut Verification, v: &Verification) {
    t.sent += v.sent;
    t.acked += v.acked;
    t.failed += v.failed;
    t.unresolved += v.unresolved;
    t.consumed += v.consumed;
    t.lost += v.lost;
    t.duplicates += v.duplicates;
    t.reordered += v.reordered;
    t.unexpected += v.unexpected;
    t.unacked_consumed += v.unacked_consumed;
}
