//! Pure validation: the raw structs read from a file in, the validated [`Scenario`] or every
//! problem out. This file runs the sections in file order and checks what spans them
//! (unique names, references, the ramp against the run); each section has its own file.
//!
//! Nothing here reads files or the environment or opens a connection: secret references are
//! checked for shape only, a `running` cluster's default dir is left to whoever connects, and
//! librdkafka settings are checked against librdkafka's own property table in memory (no
//! client is created).

mod cluster;
mod consumers;
mod faults;
mod phases;
mod producers;
mod safety;
mod settings;
mod topics;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::scenario::capacity::{self, CapacityContext, CapacitySpec};
use crate::scenario::checker::{Checker, Context, entries, fmt_duration};
use crate::scenario::checks::{self, Check, CheckContext};
use crate::scenario::defaults;
use crate::scenario::fault::{FaultSpec, Safety};
use crate::scenario::file::{RawCluster, RawScenario};
use crate::scenario::model::{ClusterTarget, ConsumerSpec, Phase, ProducerSpec, Scenario, TopicSpec};
use crate::scenario::position::JsonPath;
use crate::scenario::problem::Problem;
use crate::vocab::units::Rate;

/// Checks a read scenario. `broken` lists the paths where reading already found a problem:
/// a field missing there was dropped, not left out, so it gets no default and no second report.
/// `source` and `doc` are carried into the result unchanged.
///
/// Returns the scenario or every problem found, and beside either the warnings: what the file
/// may do but likely does not mean (the caller locates and prints them; they never refuse it).
/// The problem list can be empty when `raw` has entries that could not be read at all: their
/// problems were recorded while reading.
pub(crate) fn validate(
    raw: &RawScenario,
    broken: &[JsonPath],
    source: Option<PathBuf>,
    doc: Value,
) -> (Result<Scenario, Vec<Problem>>, Vec<Problem>) {
    let mut c = Checker::new(broken);
    let sections = Sections::check(&mut c, raw);
    sections.check_across(&mut c, raw);
    let warnings = std::mem::take(&mut c.warnings);

    // Reading problems mean some values were dropped: no scenario, even if nothing else is wrong.
    if !c.problems.is_empty() || c.incomplete || !c.broken.is_empty() {
        return (Err(c.problems), warnings);
    }
    // Every `None` in the sections comes with a recorded problem; this only guards against a slip.
    let scenario = sections.into_scenario(raw, source, doc).ok_or_else(|| {
        vec![Problem::new(JsonPath::root(), "internal error: incomplete scenario without a reported problem")]
    });
    (scenario, warnings)
}

/// Every section as validated; `None` where the section, an entry or a field had a problem.
struct Sections {
    name: Option<String>,
    seed: Option<u64>,
    cluster: Option<ClusterTarget>,
    topics: Vec<Option<TopicSpec>>,
    producers: Vec<Option<ProducerSpec>>,
    consumers: Vec<Option<ConsumerSpec>>,
    phases: Vec<Option<Phase>>,
    drain: Option<Duration>,
    faults: Vec<Option<FaultSpec>>,
    checks: Vec<Option<Check>>,
    capacity: Option<Option<CapacitySpec>>,
    safety: Option<Safety>,
}

impl Sections {
    /// Validates each section in file order (problems are sorted by position later; the order
    /// only matters for problems at the same place).
    fn check(c: &mut Checker, raw: &RawScenario) -> Sections {
        let root = JsonPath::root();
        let name = c.name("scenario", raw.name.as_deref(), root.key("name"));
        let seed = match raw.seed {
            Some(s) => Some(s),
            None => c.or_default(&root.key("seed"), defaults::SEED),
        };
        let cluster = c.cluster_section(raw.cluster.as_ref(), &root.key("cluster"));
        let cx = context(name.as_deref(), raw.cluster.as_ref(), cluster.as_ref());
        // A capacity search without phases sets the rates itself: a producer's rate is then only
        // its share of each step's target, and may be left out.
        let capacity_only = raw.capacity.is_some() && raw.phases.is_none();
        let topics = entries(c, &raw.topics, &root.key("topics"), |c, t, at| c.topic(t, at, &cx));
        let producers = entries(c, &raw.producers, &root.key("producers"), |c, p, at| c.producer(p, at, capacity_only));
        let consumers = entries(c, &raw.consumers, &root.key("consumers"), |c, k, at| c.consumer(k, at, &cx));
        let phases = c.phases(raw.phases.as_ref(), &root.key("phases"), capacity_only);
        let drain = match &raw.drain {
            None => c.or_default(&root.key("drain"), defaults::DRAIN),
            Some(d) => c.positive_duration(d, root.key("drain"), "the drain"),
        };
        let phase_names = phase_names(raw);
        let topic_parts: Vec<(&str, i32)> = topics.iter().flatten().map(|t| (t.name.as_str(), t.partitions)).collect();
        let faults =
            c.faults(&raw.faults, &root.key("faults"), &phase_names, &topic_parts, cluster.as_ref(), cx.local_nodes);
        let checks = checks_section(c, raw, &phase_names, capacity_only);
        let capacity = capacity_section(c, raw, cluster.as_ref());
        let safety = match &raw.safety {
            None => Some(Safety::default()),
            Some(s) => c.safety(s, &root.key("safety")),
        };
        Sections { name, seed, cluster, topics, producers, consumers, phases, drain, faults, checks, capacity, safety }
    }

    /// What spans sections: unique names, at least one client, a measured phase, declared
    /// topics, ramps within the run, numeric rates for a capacity search, faults that fire
    /// while the load runs, and enough replicas for acks=all.
    fn check_across(&self, c: &mut Checker, raw: &RawScenario) {
        let root = JsonPath::root();
        let (topics_at, producers_at, consumers_at, phases_at) =
            (root.key("topics"), root.key("producers"), root.key("consumers"), root.key("phases"));
        // Names must be unique within each list; the raw names are used so that an entry with
        // another problem still takes part.
        c.unique("topic", &topics_at, raw.topics.iter().map(|t| t.as_ref().and_then(|t| t.name.as_deref())));
        c.unique("producer", &producers_at, raw.producers.iter().map(|p| p.as_ref().and_then(|p| p.name.as_deref())));
        c.unique("consumer", &consumers_at, raw.consumers.iter().map(|k| k.as_ref().and_then(|k| k.name.as_deref())));
        if let Some(list) = &raw.phases {
            c.unique("phase", &phases_at, list.iter().map(|p| p.as_ref().and_then(|p| p.name.as_deref())));
        }
        c.unique_groups(&consumers_at, &self.consumers);

        if raw.producers.is_empty()
            && raw.consumers.is_empty()
            && !c.is_broken(&producers_at)
            && !c.is_broken(&consumers_at)
        {
            c.err(root.clone(), "no producers and no consumers: a scenario needs at least one of them");
        }
        let phases = &self.phases;
        if !phases.is_empty() && phases.iter().all(|p| p.as_ref().is_some_and(|p| !p.measured)) {
            c.err(phases_at.clone(), "every phase is unmeasured: at least one phase must count (only phases named `warmup` are unmeasured by default)");
        }
        c.topic_references(raw, &topics_at, &producers_at, &consumers_at);
        self.ramps_and_rates(c, raw, &producers_at);
        c.fault_timing(&raw.faults, &self.faults, &self.phases, self.drain, &root.key("faults"));
        c.replication_for_acks_all(raw, self.cluster.as_ref(), &self.topics, &self.producers, &topics_at);
    }

    /// A ramp no longer than the whole run; a numeric rate when a capacity search steps it.
    fn ramps_and_rates(&self, c: &mut Checker, raw: &RawScenario, producers_at: &JsonPath) {
        let phases = &self.phases;
        let total: Duration = phases.iter().flatten().map(|p| p.duration).sum();
        for (i, p) in self.producers.iter().enumerate() {
            if let Some(p) = p
                && !phases.is_empty()
                && phases.iter().all(Option::is_some)
                && p.ramp > total
            {
                c.err(
                    producers_at.index(i).key("ramp"),
                    format!("ramp {} is longer than the whole run ({})", fmt_duration(p.ramp), fmt_duration(total)),
                );
            }
        }
        if raw.capacity.is_some() {
            for (i, p) in self.producers.iter().enumerate() {
                if let Some(p) = p
                    && p.rate == Rate::Max
                {
                    c.err(
                        producers_at.index(i).key("rate"),
                        "a capacity search steps the rate itself: give a number (each producer's share of a step's target follows its rate) or leave it out",
                    );
                }
            }
        }
    }

    /// The scenario, when every section and entry is complete.
    fn into_scenario(self, raw: &RawScenario, source: Option<PathBuf>, doc: Value) -> Option<Scenario> {
        Some(Scenario {
            name: self.name?,
            description: raw.description.clone(),
            seed: self.seed?,
            cluster: self.cluster?,
            topics: self.topics.into_iter().collect::<Option<Vec<_>>>()?,
            producers: self.producers.into_iter().collect::<Option<Vec<_>>>()?,
            consumers: self.consumers.into_iter().collect::<Option<Vec<_>>>()?,
            phases: self.phases.into_iter().collect::<Option<Vec<_>>>()?,
            drain: self.drain?,
            faults: self.faults.into_iter().collect::<Option<Vec<_>>>()?,
            safety: self.safety?,
            checks: self.checks.into_iter().collect::<Option<Vec<_>>>()?,
            capacity: self.capacity?,
            source,
            raw: doc,
            // Located and filled in by the caller, which knows the file's positions.
            warnings: Vec::new(),
        })
    }
}

/// What topic and consumer entries need to know about the rest of the file.
fn context(name: Option<&str>, raw: Option<&RawCluster>, cluster: Option<&ClusterTarget>) -> Context {
    Context {
        scenario: name.unwrap_or_default().to_string(),
        // An existing cluster never has a default replication factor, valid or not.
        cluster_known: cluster.is_some() || matches!(raw, Some(RawCluster::Existing(_))),
        local_nodes: match cluster {
            Some(ClusterTarget::Local { nodes, .. }) => Some(*nodes),
            _ => None,
        },
        default_rf: match cluster {
            Some(ClusterTarget::Local { nodes, broker_config, .. }) => {
                Some(cluster::local_default_rf(*nodes, broker_config))
            }
            _ => None,
        },
    }
}

/// The phase names as written, for faults and checks that name a phase.
fn phase_names(raw: &RawScenario) -> Vec<&str> {
    raw.phases.iter().flatten().flatten().filter_map(|p| p.name.as_deref()).collect()
}

/// `checks`, which belong to `aftershock run` only.
fn checks_section(c: &mut Checker, raw: &RawScenario, phase_names: &[&str], capacity_only: bool) -> Vec<Option<Check>> {
    let root = JsonPath::root();
    let fault_names: Vec<&str> = raw.faults.iter().flatten().filter_map(|f| f.name.as_deref()).collect();
    let check_cx = CheckContext { phases: phase_names, faults: &fault_names };
    let checks = entries(c, &raw.checks, &root.key("checks"), |c, k, at| {
        let broken = c.broken;
        checks::validate(k, at, &check_cx, broken, &mut c.problems)
    });
    if capacity_only {
        for (list, len, what) in [
            ("faults", raw.faults.len(), "use capacity.node_down for a search with one node down"),
            ("checks", raw.checks.len(), "use capacity.require for a lowest acceptable capacity"),
        ] {
            if len > 0 {
                c.err(
                    root.key(list),
                    format!("{list} belong to `aftershock run`, which needs phases; this file has none (it is a capacity search): {what}"),
                );
            }
        }
    }
    checks
}

/// `capacity`, optional: `Some(None)` when absent, `None` when it has a problem.
fn capacity_section(
    c: &mut Checker,
    raw: &RawScenario,
    cluster: Option<&ClusterTarget>,
) -> Option<Option<CapacitySpec>> {
    let Some(k) = &raw.capacity else { return Some(None) };
    let cx = CapacityContext {
        local_nodes: match cluster {
            Some(ClusterTarget::Local { nodes, .. }) => Some(Some(*nodes)),
            Some(ClusterTarget::Running { .. }) => Some(None),
            _ => None,
        },
        has_producers: !raw.producers.is_empty(),
        has_consumers: raw
            .consumers
            .iter()
            .flatten()
            .any(|k| raw.producers.iter().flatten().any(|p| p.topic.is_some() && p.topic == k.topic)),
    };
    capacity::validate(k, &JsonPath::root().key("capacity"), &cx, c).map(Some)
}
