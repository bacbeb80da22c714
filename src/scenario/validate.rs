//! Pure validation: the raw structs read from a file in, the validated [`Scenario`] or every
//! problem out.
//!
//! Nothing here reads files or the environment or opens a connection: secret references are
//! checked for shape only, and librdkafka settings are checked against librdkafka's own
//! property table in memory (no client is created).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;
use serde_json::Value;

use super::defaults;
use super::file::{
    AcksText, DurationText, NumOrText, RateText, RawCluster, RawConfigValue, RawConsumer, RawExisting, RawFault,
    RawKeys, RawKubernetes, RawLocal, RawPhase, RawProducer, RawSafety, RawScenario, RawSecretRef, RawSize,
    RawSizeDist, RawStart, RawTopic, Scalar, SizeText,
};
use super::model::{
    Acks, ClusterTarget, ConfigValue, ConsumerSpec, KeyDist, Phase, ProducerSpec, Scenario, SizeDist, StartFrom,
    TopicSpec,
};
use super::position::JsonPath;
use super::problem::Problem;
use crate::scenario::fault::{
    Direction, ErrorRateAbort, FaultAction, FaultSpec, FaultStart, KubeSpec, NodeIdRule, Peers, Safety, TargetSpec,
};
use crate::vocab::units::Rate;
use crate::vocab::units::{format_size, parse_duration, parse_rate, parse_size, rate_from_number};

/// Checks a read scenario. `broken` lists the paths where reading already found a problem:
/// a field missing there was dropped, not left out, so it gets no default and no second report.
/// `source` and `doc` are carried into the result unchanged.
///
/// # Errors
/// Every problem found. The list can be empty when `raw` has entries that could not be read
/// at all: their problems were recorded while reading.
pub(crate) fn validate(
    raw: &RawScenario,
    broken: &[JsonPath],
    source: Option<PathBuf>,
    doc: Value,
) -> Result<Scenario, Vec<Problem>> {
    let mut c = Checker { problems: Vec::new(), incomplete: false, broken };
    let root = JsonPath::root();

    let name = c.name("scenario", raw.name.as_deref(), root.key("name"));
    let seed = match raw.seed {
        Some(s) => Some(s),
        None => c.or_default(&root.key("seed"), defaults::SEED),
    };
    let cluster = match &raw.cluster {
        Some(cl) => c.cluster(cl, &root.key("cluster")),
        None => {
            c.missing(
                root.key("cluster"),
                "the cluster to test: {\"local\": {\"nodes\": 3}} or {\"existing\": {\"bootstrap\": \"host:9092\"}}",
            );
            None
        }
    };
    let cx = Context {
        scenario: name.clone().unwrap_or_default(),
        // An existing cluster never has a default replication factor, valid or not.
        cluster_known: cluster.is_some() || matches!(raw.cluster, Some(RawCluster::Existing(_))),
        local_nodes: match &cluster {
            Some(ClusterTarget::Local { nodes, .. }) => Some(*nodes),
            _ => None,
        },
        default_rf: match &cluster {
            Some(ClusterTarget::Local { nodes, broker_config, .. }) => Some(local_default_rf(*nodes, broker_config)),
            _ => None,
        },
    };

    let topics_at = root.key("topics");
    let topics: Vec<Option<TopicSpec>> = entries(&mut c, &raw.topics, &topics_at, |c, t, at| c.topic(t, at, &cx));
    let producers_at = root.key("producers");
    // A capacity search without phases sets the rates itself: a producer's rate is then only
    // its share of each step's target, and may be left out.
    let capacity_only = raw.capacity.is_some() && raw.phases.is_none();
    let producers: Vec<Option<ProducerSpec>> =
        entries(&mut c, &raw.producers, &producers_at, |c, p, at| c.producer(p, at, capacity_only));
    let consumers_at = root.key("consumers");
    let consumers: Vec<Option<ConsumerSpec>> =
        entries(&mut c, &raw.consumers, &consumers_at, |c, k, at| c.consumer(k, at, &cx));
    let phases_at = root.key("phases");
    let phases: Vec<Option<Phase>> = match &raw.phases {
        None if capacity_only => Vec::new(),
        None => {
            c.missing(phases_at.clone(), "the phases of the run, like [{\"name\": \"warmup\", \"duration\": \"10s\"}, {\"name\": \"steady\", \"duration\": \"1m\"}]");
            Vec::new()
        }
        Some(list) => {
            if list.is_empty() {
                c.err(
                    phases_at.clone(),
                    "at least one phase is needed, like {\"name\": \"steady\", \"duration\": \"1m\"}",
                );
            }
            entries(&mut c, list, &phases_at, |c, p, at| c.phase(p, at))
        }
    };
    let drain = match &raw.drain {
        None => c.or_default(&root.key("drain"), defaults::DRAIN),
        Some(d) => c.positive_duration(d, root.key("drain"), "the drain"),
    };
    let faults_at = root.key("faults");
    let phase_names: Vec<&str> = raw.phases.iter().flatten().flatten().filter_map(|p| p.name.as_deref()).collect();
    let topic_parts: Vec<(&str, i32)> = topics.iter().flatten().map(|t| (t.name.as_str(), t.partitions)).collect();
    let faults: Vec<Option<FaultSpec>> =
        entries(&mut c, &raw.faults, &faults_at, |c, f, at| c.fault(f, at, &phase_names, &topic_parts, cx.local_nodes));
    c.unique("fault", &faults_at, raw.faults.iter().map(|f| f.as_ref().and_then(|f| f.name.as_deref())));
    // The local backend acts on the run's own cluster: partitions need its nodes in namespaces.
    for (i, f) in faults.iter().enumerate() {
        let Some(f) = f else { continue };
        match &cluster {
            Some(ClusterTarget::Existing { kubernetes: None, .. }) => c.err(
                faults_at.index(i),
                "faults need a cluster aftershock started (`local`, or `running` for one from `aftershock cluster up`), or an existing cluster in Kubernetes (`cluster.existing.kubernetes`)",
            ),
            Some(ClusterTarget::Existing { kubernetes: Some(k), .. }) => {
                if f.restart_after.is_some() {
                    c.err(
                        faults_at.index(i).key("restart_after"),
                        "on Kubernetes the pod's controller recreates a deleted broker pod: `restart_after` does not apply",
                    );
                }
                match f.action {
                    FaultAction::Pause if !k.chaos_mesh => c.err(
                        faults_at.index(i).key("action"),
                        "pause on Kubernetes uses Chaos Mesh (PodChaos pod-failure): set \"chaos_mesh\": true in cluster.existing.kubernetes",
                    ),
                    FaultAction::Partition { peers: Peers::Clients, .. } if k.chaos_mesh => c.err(
                        faults_at.index(i).key("peers"),
                        "Chaos Mesh partitions cut a pod from other pods: use peers \"nodes\" or \"all\" (or leave out chaos_mesh for a NetworkPolicy)",
                    ),
                    _ => {}
                }
            }
            Some(ClusterTarget::Local { netns: false, .. }) if matches!(f.action, FaultAction::Partition { .. }) => c.err(
                faults_at.index(i).key("action"),
                "a partition needs the nodes in network namespaces: set \"netns\": true on the local cluster (root only)",
            ),
            _ => {}
        }
    }
    let checks_at = root.key("checks");
    let fault_names: Vec<&str> = raw.faults.iter().flatten().filter_map(|f| f.name.as_deref()).collect();
    let check_cx = super::checks::CheckContext { phases: &phase_names, faults: &fault_names };
    let checks: Vec<Option<super::checks::Check>> = entries(&mut c, &raw.checks, &checks_at, |c, k, at| {
        let broken = c.broken;
        super::checks::validate(k, at, &check_cx, broken, &mut c.problems)
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
    let capacity = match &raw.capacity {
        None => Some(None),
        Some(k) => {
            let cx = super::capacity::CapacityContext {
                local_nodes: match &cluster {
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
            let broken = c.broken;
            super::capacity::validate(k, &root.key("capacity"), &cx, broken, &mut c.problems).map(Some)
        }
    };
    let safety = match &raw.safety {
        None => Some(Safety::default()),
        Some(s) => c.safety(s, &root.key("safety")),
    };

    // Names must be unique within each list; the raw names are used so that an entry with
    // another problem still takes part.
    c.unique("topic", &topics_at, raw.topics.iter().map(|t| t.as_ref().and_then(|t| t.name.as_deref())));
    c.unique("producer", &producers_at, raw.producers.iter().map(|p| p.as_ref().and_then(|p| p.name.as_deref())));
    c.unique("consumer", &consumers_at, raw.consumers.iter().map(|k| k.as_ref().and_then(|k| k.name.as_deref())));
    if let Some(list) = &raw.phases {
        c.unique("phase", &phases_at, list.iter().map(|p| p.as_ref().and_then(|p| p.name.as_deref())));
    }
    c.unique_groups(&consumers_at, &consumers);

    if raw.producers.is_empty()
        && raw.consumers.is_empty()
        && !c.is_broken(&root.key("producers"))
        && !c.is_broken(&root.key("consumers"))
    {
        c.err(root.clone(), "no producers and no consumers: a scenario needs at least one of them");
    }
    if !phases.is_empty() && phases.iter().all(|p| p.as_ref().is_some_and(|p| !p.measured)) {
        c.err(phases_at.clone(), "every phase is unmeasured: at least one phase must count (only phases named `warmup` are unmeasured by default)");
    }
    c.topic_references(raw, &topics_at, &producers_at, &consumers_at);
    let total: Duration = phases.iter().flatten().map(|p| p.duration).sum();
    for (i, p) in producers.iter().enumerate() {
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
        for (i, p) in producers.iter().enumerate() {
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
    c.replication_for_acks_all(raw, cluster.as_ref(), &topics, &producers, &topics_at);

    // Reading problems mean some values were dropped: no scenario, even if nothing else is wrong.
    if !c.problems.is_empty() || c.incomplete || !c.broken.is_empty() {
        return Err(c.problems);
    }
    let scenario = (|| {
        Some(Scenario {
            name: name?,
            description: raw.description.clone(),
            seed: seed?,
            cluster: cluster?,
            topics: topics.into_iter().collect::<Option<Vec<_>>>()?,
            producers: producers.into_iter().collect::<Option<Vec<_>>>()?,
            consumers: consumers.into_iter().collect::<Option<Vec<_>>>()?,
            phases: phases.into_iter().collect::<Option<Vec<_>>>()?,
            drain: drain?,
            faults: faults.into_iter().collect::<Option<Vec<_>>>()?,
            safety: safety?,
            checks: checks.into_iter().collect::<Option<Vec<_>>>()?,
            capacity: capacity?,
            source,
            raw: doc,
        })
    })();
    // Every `None` above comes with a recorded problem; this only guards against a slip.
    scenario.ok_or_else(|| {
        vec![Problem::new(JsonPath::root(), "internal error: incomplete scenario without a reported problem")]
    })
}

/// Validates each readable entry of a list; unreadable ones were reported while reading.
fn entries<R, T>(
    c: &mut Checker,
    raw: &[Option<R>],
    at: &JsonPath,
    mut f: impl FnMut(&mut Checker, &R, &JsonPath) -> Option<T>,
) -> Vec<Option<T>> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(r) => f(c, r, &at.index(i)),
            None => {
                c.incomplete = true;
                None
            }
        })
        .collect()
}

/// What entries need to know about the rest of the file.
struct Context {
    scenario: String,
    /// Whether it is known if topics get a default replication factor.
    cluster_known: bool,
    local_nodes: Option<usize>,
    /// A local cluster's replication factor for topics that give none.
    default_rf: Option<i32>,
}

/// librdkafka settings that have their own field, and that field's name.
const PRODUCER_FIELDS: &[(&str, &str)] = &[
    ("acks", "acks"),
    ("request.required.acks", "acks"),
    ("enable.idempotence", "idempotence"),
    ("compression.type", "compression"),
    ("compression.codec", "compression"),
    ("linger.ms", "linger"),
    ("queue.buffering.max.ms", "linger"),
    ("batch.size", "batch_size"),
];
const CONSUMER_FIELDS: &[(&str, &str)] = &[("group.id", "group"), ("auto.offset.reset", "start")];
const BOOTSTRAP_KEYS: &[&str] = &["bootstrap.servers", "metadata.broker.list"];

/// Broker settings aftershock's local cluster relies on (listeners, ids, quorum, storage).
const RESERVED_BROKER_KEYS: &[&str] = &[
    "process.roles",
    "node.id",
    "broker.id",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "log.dirs",
    "log.dir",
    "metadata.log.dir",
];

const COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// True for librdkafka settings whose value is a secret: they must be references, so that
/// the file (which is copied into reports) never holds one.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k == "ssl.key.pem" || k == "sasl.oauthbearer.config"
}

struct Checker<'a> {
    problems: Vec<Problem>,
    /// Some entry could not be read at all, so no scenario can be built even without problems here.
    incomplete: bool,
    /// Paths where reading found a problem.
    broken: &'a [JsonPath],
}

impl Checker<'_> {
    /// True when reading found a problem at `path` or around it (so a missing value there was dropped).
    fn is_broken(&self, path: &JsonPath) -> bool {
        self.broken.iter().any(|b| path.starts_with(b))
    }

    /// `default` for an absent field, or `None` when the field was dropped because it was bad.
    fn or_default<T>(&self, path: &JsonPath, default: T) -> Option<T> {
        (!self.is_broken(path)).then_some(default)
    }

    fn err(&mut self, path: JsonPath, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn err_key(&mut self, path: JsonPath, message: impl Into<String>) {
        self.problems.push(Problem { path, on_key: true, message: message.into(), meant: None });
    }

    fn missing(&mut self, path: JsonPath, what: &str) {
        if !self.is_broken(&path) {
            self.err(path, format!("required field missing: {what}"));
        }
    }

    /// A required name of letters, digits, `.`, `_` and `-` (it ends up in client ids, group
    /// ids and report file names).
    fn name(&mut self, kind: &str, v: Option<&str>, path: JsonPath) -> Option<String> {
        let Some(v) = v else {
            self.missing(path, &format!("the {kind}'s name"));
            return None;
        };
        if v.is_empty() {
            self.err(path, format!("the {kind}'s name is empty"));
            return None;
        }
        if v.len() > 100 || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            self.err(path, format!("{kind} name {v:?} must be 1 to 100 letters, digits, `.`, `_` or `-`"));
            return None;
        }
        Some(v.to_string())
    }

    fn duration(&mut self, d: &DurationText, path: JsonPath) -> Option<Duration> {
        parse_duration(&d.0).map_err(|e| self.err(path, e)).ok()
    }

    fn positive_duration(&mut self, d: &DurationText, path: JsonPath, what: &str) -> Option<Duration> {
        let v = self.duration(d, path.clone())?;
        if v.is_zero() {
            self.err(path, format!("{what} must be longer than 0s"));
            return None;
        }
        Some(v)
    }

    fn size(&mut self, s: &SizeText, path: JsonPath) -> Option<u64> {
        let r = match &s.0 {
            NumOrText::Text(t) => parse_size(t),
            NumOrText::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Ok(u),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(f as u64),
                _ => Err(format!(
                    "{n} is not a size: expected a whole number of bytes (0 or more), or a string like \"1KiB\""
                )),
            },
        };
        r.map_err(|e| self.err(path, e)).ok()
    }

    /// A size within `min..=max` bytes.
    fn size_in(&mut self, s: &SizeText, path: JsonPath, what: &str, min: u64, max: u64) -> Option<usize> {
        let v = self.size(s, path.clone())?;
        if v < min || v > max {
            self.err(
                path,
                format!(
                    "{what} {} is out of range: it must be between {} and {}",
                    format_size(v),
                    format_size(min),
                    format_size(max)
                ),
            );
            return None;
        }
        usize::try_from(v).ok()
    }

    /// A count within `1..=max`, `default` when absent.
    fn count(&mut self, v: Option<i64>, path: JsonPath, what: &str, max: i64, default: i64) -> Option<i64> {
        let n = match v {
            Some(n) => n,
            None => return self.or_default(&path, default),
        };
        if n < 1 || n > max {
            self.err(path, format!("{what} must be between 1 and {max}, got {n}"));
            return None;
        }
        Some(n)
    }

    fn cluster(&mut self, cl: &RawCluster, at: &JsonPath) -> Option<ClusterTarget> {
        match cl {
            RawCluster::Local(l) => self.local(l, &at.key("local")),
            RawCluster::Existing(e) => self.existing(e, &at.key("existing")),
            RawCluster::Running(r) => match r.dir.as_deref() {
                Some("") => {
                    self.err(at.key("running").key("dir"), "empty dir: leave `dir` out for the default cluster dir");
                    None
                }
                Some(d) => Some(ClusterTarget::Running { dir: Some(PathBuf::from(d)) }),
                None => Some(ClusterTarget::Running { dir: None }),
            },
        }
    }

    fn local(&mut self, l: &RawLocal, at: &JsonPath) -> Option<ClusterTarget> {
        let nodes =
            self.count(l.nodes, at.key("nodes"), "nodes", defaults::MAX_NODES as i64, defaults::LOCAL_NODES as i64);
        if let Some(v) = &l.kafka_version {
            let ok = v.split('.').count() == 3
                && v.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                self.err(at.key("kafka_version"), format!("{v:?} is not a Kafka version like \"4.1.0\""));
            }
        }
        let mut broker_config = BTreeMap::new();
        for (k, v) in l.broker_config.iter().flatten() {
            let path = at.key("broker_config").key(k.clone());
            if RESERVED_BROKER_KEYS.contains(&k.as_str()) {
                self.err_key(path, format!("`{k}` is set by aftershock for its local cluster (listeners, ids, quorum, storage) and cannot be changed"));
            } else if k.trim().is_empty() {
                self.err_key(path, "empty setting name");
            } else {
                if k == "default.replication.factor"
                    && let (Some(n), Ok(rf)) = (nodes, v.0.trim().parse::<i64>())
                    && rf > n
                {
                    self.err(
                        path.clone(),
                        format!(
                            "default.replication.factor {rf} is above the cluster's {n} node{}",
                            if n == 1 { "" } else { "s" }
                        ),
                    );
                }
                broker_config.insert(k.clone(), v.0.clone());
            }
        }
        let subnet = match &l.subnet {
            None => Some(None),
            Some(s) => match s.parse::<crate::cluster::netns::Ipv4Net>() {
                Ok(_) => Some(Some(s.clone())),
                Err(e) => {
                    self.err(at.key("subnet"), format!("`{s}` is not a subnet: {e}"));
                    None
                }
            },
        };
        if l.subnet.is_some() && l.netns != Some(true) {
            self.err(at.key("subnet"), "`subnet` only applies with \"netns\": true");
        }
        Some(ClusterTarget::Local {
            nodes: usize::try_from(nodes?).ok()?,
            kafka_version: l.kafka_version.clone(),
            broker_config,
            netns: l.netns.unwrap_or(false),
            subnet: subnet?,
        })
    }

    fn existing(&mut self, e: &RawExisting, at: &JsonPath) -> Option<ClusterTarget> {
        let bootstrap = match &e.bootstrap {
            None => {
                self.missing(
                    at.key("bootstrap"),
                    "the cluster's bootstrap servers, like \"broker1:9092,broker2:9092\"",
                );
                None
            }
            Some(b)
                if b.trim().is_empty()
                    || b.split(',').any(|s| s.trim().is_empty() || s.trim().contains(char::is_whitespace)) =>
            {
                self.err(
                    at.key("bootstrap"),
                    format!("{b:?} is not a list of servers like \"broker1:9092,broker2:9092\""),
                );
                None
            }
            Some(b) => Some(b.clone()),
        };
        let mut client_config = BTreeMap::new();
        let mut ok = true;
        for (k, v) in e.client_config.iter().flatten() {
            let path = at.key("client_config").key(k.clone());
            let value = match v {
                RawConfigValue::Plain(s) => ConfigValue::Plain(s.clone()),
                RawConfigValue::Ref(RawSecretRef::Env(name)) => {
                    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        self.err(path.key("env"), format!("{name:?} is not an environment variable name (letters, digits and `_`, not starting with a digit)"));
                        ok = false;
                        continue;
                    }
                    ConfigValue::Env(name.clone())
                }
                RawConfigValue::Ref(RawSecretRef::File(p)) => {
                    if p.trim().is_empty() {
                        self.err(path.key("file"), "empty file path");
                        ok = false;
                        continue;
                    }
                    ConfigValue::File(PathBuf::from(p))
                }
            };
            if let Some(msg) = reserved_client_key(k) {
                self.err_key(path, msg);
                ok = false;
                continue;
            }
            if is_secret_key(k) && !value.is_reference() {
                self.err(
                    path,
                    format!("`{k}` is a secret: write it as {{\"env\": \"VARIABLE\"}} or {{\"file\": \"/path\"}} so that it never appears in the file or in reports"),
                );
                ok = false;
                continue;
            }
            let checked = match &value {
                ConfigValue::Plain(s) => librdkafka_check(k, Some(s)),
                _ => librdkafka_check(k, None),
            };
            if let Err(m) = checked {
                self.err_key(path, m);
                ok = false;
                continue;
            }
            client_config.insert(k.clone(), value);
        }
        let kubernetes = match &e.kubernetes {
            None => Some(None),
            Some(k) => self.kubernetes(k, &at.key("kubernetes")).map(Some),
        };
        if !ok {
            return None;
        }
        Some(ClusterTarget::Existing { bootstrap: bootstrap?, client_config, kubernetes: kubernetes? })
    }

    fn kubernetes(&mut self, k: &RawKubernetes, at: &JsonPath) -> Option<KubeSpec> {
        let namespace = match k.namespace.as_deref() {
            None => {
                self.missing(at.key("namespace"), "the namespace of the Kafka pods, like \"kafka\"");
                None
            }
            Some(n) if !is_dns_label(n) => {
                self.err(
                    at.key("namespace"),
                    format!("{n:?} is not a namespace name (lowercase letters, digits and `-`, at most 63)"),
                );
                None
            }
            Some(n) => Some(n.to_string()),
        };
        let selector = match (k.strimzi_cluster.as_deref(), k.selector.as_deref()) {
            (Some(_), Some(_)) => {
                self.err(
                    at.key("selector"),
                    "give either `strimzi_cluster` (Strimzi's labels) or `selector` (any label selector), not both",
                );
                None
            }
            (Some(c), None) if !is_dns_label(c) => {
                self.err(at.key("strimzi_cluster"), format!("{c:?} is not a Kafka resource name"));
                None
            }
            (Some(c), None) => Some(KubeSpec::strimzi_selector(c)),
            (None, Some(sel)) => match check_label_selector(sel) {
                Ok(()) => Some(sel.to_string()),
                Err(m) => {
                    self.err(at.key("selector"), m);
                    None
                }
            },
            (None, None) => {
                self.missing(
                    at.key("strimzi_cluster"),
                    "how to find the broker pods: \"strimzi_cluster\": \"my-cluster\" (Strimzi's labels) or \"selector\": \"app=kafka\"",
                );
                None
            }
        };
        const ID_FORMS: &str = "\"name_suffix\" (the number ending the pod name) or {\"label\": \"key\"}";
        let node_id = match &k.node_id {
            None => Some(NodeIdRule::NameSuffix),
            Some(Value::String(s)) if s == "name_suffix" => Some(NodeIdRule::NameSuffix),
            Some(Value::Object(m))
                if m.len() == 1 && m.get("label").and_then(Value::as_str).is_some_and(|l| !l.is_empty()) =>
            {
                Some(NodeIdRule::Label(m["label"].as_str().unwrap_or_default().to_string()))
            }
            Some(other) => {
                self.err(at.key("node_id"), format!("expected {ID_FORMS}, got {other}"));
                None
            }
        };
        let pod_label = match k.pod_label.as_deref() {
            Some("") => {
                self.err(at.key("pod_label"), "empty label key");
                None
            }
            Some(l) => Some(l.to_string()),
            None if k.strimzi_cluster.is_some() => Some("strimzi.io/pod-name".to_string()),
            None => Some("statefulset.kubernetes.io/pod-name".to_string()),
        };
        let ready_timeout = match &k.ready_timeout {
            None => Some(Duration::from_secs(300)),
            Some(d) => self.positive_duration(d, at.key("ready_timeout"), "ready_timeout"),
        };
        for (field, v) in [("context", &k.context), ("kubeconfig", &k.kubeconfig)] {
            if v.as_deref() == Some("") {
                self.err(at.key(field), format!("empty {field}: leave it out for the default"));
            }
        }
        Some(KubeSpec {
            namespace: namespace?,
            context: k.context.clone().filter(|c| !c.is_empty()),
            kubeconfig: k.kubeconfig.as_deref().filter(|c| !c.is_empty()).map(PathBuf::from),
            selector: selector?,
            node_id: node_id?,
            pod_label: pod_label?,
            chaos_mesh: k.chaos_mesh.unwrap_or(false),
            ready_timeout: ready_timeout?,
        })
    }

    fn topic(&mut self, t: &RawTopic, at: &JsonPath, cx: &Context) -> Option<TopicSpec> {
        let name = match t.name.as_deref() {
            None => {
                self.missing(at.key("name"), "the topic's name");
                None
            }
            Some(n) => match kafka_topic_name(n) {
                Ok(()) => Some(n.to_string()),
                Err(e) => {
                    self.err(at.key("name"), e);
                    None
                }
            },
        };
        let partitions = match t.partitions {
            None => {
                self.missing(at.key("partitions"), "the number of partitions, like 6");
                None
            }
            Some(p) if (1..=i64::from(i32::MAX)).contains(&p) => Some(p as i32),
            Some(p) => {
                self.err(at.key("partitions"), format!("partitions must be 1 or more, got {p}"));
                None
            }
        };
        let replication_factor = match t.replication_factor {
            None => match cx.default_rf {
                Some(rf) => self.or_default(&at.key("replication_factor"), rf),
                // An unknown cluster has its problem reported already.
                None if !cx.cluster_known => None,
                None => {
                    self.missing(
                        at.key("replication_factor"),
                        "the replication factor, like 3 (only a local cluster has a default)",
                    );
                    None
                }
            },
            Some(r) if r < 1 || r > i64::from(i16::MAX) => {
                self.err(at.key("replication_factor"), format!("replication_factor must be 1 or more, got {r}"));
                None
            }
            Some(r) => match cx.local_nodes {
                Some(n) if r as usize > n => {
                    self.err(
                        at.key("replication_factor"),
                        format!(
                            "replication_factor {r} is above the local cluster's {n} node{}",
                            if n == 1 { "" } else { "s" }
                        ),
                    );
                    None
                }
                _ => Some(r as i32),
            },
        };
        let mut config = BTreeMap::new();
        let mut ok = true;
        for (k, v) in t.config.iter().flatten() {
            let path = at.key("config").key(k.clone());
            if k.trim().is_empty() {
                self.err_key(path, "empty setting name");
                ok = false;
                continue;
            }
            if k == "min.insync.replicas" {
                match v.0.trim().parse::<i64>() {
                    Ok(n) if n >= 1 => {
                        if let Some(rf) = replication_factor
                            && rf > 0
                            && n > i64::from(rf)
                        {
                            self.err(path, format!("min.insync.replicas {n} is above the replication_factor {rf}: no acks=all write could succeed"));
                            ok = false;
                            continue;
                        }
                    }
                    _ => {
                        self.err(
                            path,
                            format!("min.insync.replicas must be a whole number of 1 or more, got {:?}", v.0),
                        );
                        ok = false;
                        continue;
                    }
                }
            }
            config.insert(k.clone(), v.0.clone());
        }
        if !ok {
            return None;
        }
        Some(TopicSpec {
            name: name?,
            partitions: partitions?,
            replication_factor: replication_factor?,
            config,
            reuse: match t.reuse {
                Some(r) => r,
                None => self.or_default(&at.key("reuse"), false)?,
            },
        })
    }

    fn producer(&mut self, p: &RawProducer, at: &JsonPath, rate_optional: bool) -> Option<ProducerSpec> {
        let name = self.name("producer", p.name.as_deref(), at.key("name"));
        let topic = self.topic_ref(p.topic.as_deref(), at.key("topic"), "producer");
        let instances = self.count(p.instances, at.key("instances"), "instances", defaults::MAX_INSTANCES, 1);
        let rate = match &p.rate {
            // A weight of 1: the capacity search splits each target in proportion to rates.
            None if rate_optional => Some(Rate::PerSec(1.0)),
            None => {
                self.missing(
                    at.key("rate"),
                    "the target rate in messages per second across the instances, like 1000, \"10k\" or \"max\"",
                );
                None
            }
            Some(r) => self.rate(r, at.key("rate")),
        };
        let ramp = match &p.ramp {
            None => self.or_default(&at.key("ramp"), Duration::ZERO),
            Some(d) => self.duration(d, at.key("ramp")),
        };
        if let (Some(Rate::Max), Some(r)) = (rate, ramp)
            && !r.is_zero()
        {
            self.err(at.key("ramp"), "a ramp needs a numeric rate: with \"max\" there is no target to ramp to");
        }
        let message_size = match &p.message_size {
            None => self.or_default(&at.key("message_size"), SizeDist::Fixed(defaults::MESSAGE_SIZE)),
            Some(s) => self.message_size(s, &at.key("message_size")),
        };
        let keys = match &p.keys {
            None => self.or_default(&at.key("keys"), KeyDist::None),
            Some(k) => self.keys(k, &at.key("keys")),
        };
        let acks = match &p.acks {
            None => self.or_default(&at.key("acks"), Acks::All),
            Some(a) => self.acks(a, at.key("acks")),
        };
        // Idempotence is librdkafka's default and needs acks=all; defaulting it to follow acks
        // means `"acks": "1"` alone is valid, while an explicit contradiction is reported.
        let idempotence = match (p.idempotence, acks) {
            (Some(true), Some(a)) if a != Acks::All => {
                self.err(
                    at.key("idempotence"),
                    format!("idempotence needs acks \"all\", but acks is \"{a}\": set acks to \"all\" or idempotence to false"),
                );
                None
            }
            (Some(v), _) => Some(v),
            (None, a) => self.or_default(&at.key("idempotence"), a == Some(Acks::All)),
        };
        let compression = match p.compression.as_deref() {
            None => self.or_default(&at.key("compression"), defaults::COMPRESSION.to_string()),
            Some(c) if COMPRESSIONS.contains(&c) => Some(c.to_string()),
            Some(c) => {
                self.err(
                    at.key("compression"),
                    format!("unknown compression {c:?}; expected one of {}", COMPRESSIONS.join(", ")),
                );
                None
            }
        };
        let linger = match &p.linger {
            None => self.or_default(&at.key("linger"), defaults::LINGER),
            Some(d) => self.duration(d, at.key("linger")).and_then(|l| {
                if l > defaults::MAX_LINGER {
                    self.err(
                        at.key("linger"),
                        format!("linger {} is above librdkafka's limit of 900s", fmt_duration(l)),
                    );
                    None
                } else {
                    Some(l)
                }
            }),
        };
        let batch_size = match &p.batch_size {
            None => self.or_default(&at.key("batch_size"), defaults::BATCH_SIZE),
            Some(s) => self.size_in(s, at.key("batch_size"), "batch_size", 1, i32::MAX as u64),
        };
        let config = self.client_settings(p.config.as_ref(), &at.key("config"), PRODUCER_FIELDS, "producer");
        if let Some(cfg) = &config {
            if let Some(v) = cfg.get("max.in.flight.requests.per.connection")
                && idempotence == Some(true)
                && v.trim().parse::<u32>().is_ok_and(|n| n > 5)
            {
                self.err(
                    at.key("config").key("max.in.flight.requests.per.connection"),
                    format!("{v} is above 5, which idempotence allows at most; lower it or set idempotence to false"),
                );
            }
            if let Some(size) = message_size {
                let limit = cfg
                    .get("message.max.bytes")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(defaults::LIBRDKAFKA_MESSAGE_MAX_BYTES);
                if size.max() as u64 > limit {
                    self.err(
                        at.key("message_size"),
                        format!(
                            "the largest message ({}) is above librdkafka's message.max.bytes ({limit}): raise config[\"message.max.bytes\"] (and the topic's max.message.bytes)",
                            format_size(size.max() as u64)
                        ),
                    );
                }
            }
        }
        Some(ProducerSpec {
            name: name?,
            topic: topic?,
            instances: u32::try_from(instances?).ok()?,
            rate: rate?,
            ramp: ramp?,
            message_size: message_size?,
            keys: keys?,
            acks: acks?,
            idempotence: idempotence?,
            compression: compression?,
            linger: linger?,
            batch_size: batch_size?,
            config: config?,
        })
    }

    fn consumer(&mut self, k: &RawConsumer, at: &JsonPath, cx: &Context) -> Option<ConsumerSpec> {
        let name = self.name("consumer", k.name.as_deref(), at.key("name"));
        let topic = self.topic_ref(k.topic.as_deref(), at.key("topic"), "consumer");
        let instances = self.count(k.instances, at.key("instances"), "instances", defaults::MAX_INSTANCES, 1);
        let group = match k.group.as_deref() {
            None if self.is_broken(&at.key("group")) => None,
            None => name.as_ref().map(|n| format!("aftershock-{}-{n}", cx.scenario)),
            Some(g) if g.trim().is_empty() => {
                self.err(at.key("group"), "empty group id; leave `group` out for aftershock-<scenario>-<consumer>");
                None
            }
            Some(g) => Some(g.to_string()),
        };
        let start = match k.start {
            None => self.or_default(&at.key("start"), StartFrom::Earliest),
            Some(RawStart::Earliest) => Some(StartFrom::Earliest),
            Some(RawStart::Latest) => Some(StartFrom::Latest),
        };
        let config = self.client_settings(k.config.as_ref(), &at.key("config"), CONSUMER_FIELDS, "consumer");
        if let (Some(cfg), Some(n)) = (&config, instances)
            && n > 1
            && cfg.contains_key("group.instance.id")
        {
            self.err_key(
                at.key("config").key("group.instance.id"),
                "one group.instance.id shared by several instances would fence them off each other; leave it out or use one instance",
            );
        }
        Some(ConsumerSpec {
            name: name?,
            topic: topic?,
            group: group?,
            instances: u32::try_from(instances?).ok()?,
            start: start?,
            config: config?,
        })
    }

    fn phase(&mut self, p: &RawPhase, at: &JsonPath) -> Option<Phase> {
        let name = self.name("phase", p.name.as_deref(), at.key("name"));
        let duration = match &p.duration {
            None => {
                self.missing(at.key("duration"), "how long the phase lasts, like \"30s\" or \"2m\"");
                None
            }
            Some(d) => self.positive_duration(d, at.key("duration"), "a phase"),
        };
        let name = name?;
        let warmup = ["warmup", "warm-up", "warm_up"].iter().any(|w| name.eq_ignore_ascii_case(w));
        let measured = match p.measured {
            Some(m) => m,
            None => self.or_default(&at.key("measured"), !warmup)?,
        };
        Some(Phase { measured, name, duration: duration? })
    }

    fn fault(
        &mut self,
        f: &RawFault,
        at: &JsonPath,
        phases: &[&str],
        topics: &[(&str, i32)],
        local_nodes: Option<usize>,
    ) -> Option<FaultSpec> {
        let name = self.name("fault", f.name.as_deref(), at.key("name"));
        let start = match (&f.at, &f.phase) {
            (Some(_), Some(_)) => {
                self.err(at.key("phase"), "give either `at` (an offset from the start of the load) or `phase` (with an optional `offset`), not both");
                None
            }
            (Some(d), None) => {
                if f.offset.is_some() {
                    self.err(at.key("offset"), "`offset` goes with `phase`; with `at`, the offset is `at` itself");
                }
                self.duration(d, at.key("at")).map(FaultStart::At)
            }
            (None, Some(p)) => {
                if !phases.contains(&p.as_str()) {
                    self.err(
                        at.key("phase"),
                        format!("unknown phase `{p}`; the scenario's phases are: {}", phases.join(", ")),
                    );
                }
                let offset = match &f.offset {
                    None => Some(Duration::ZERO),
                    Some(o) => self.duration(o, at.key("offset")),
                };
                offset.map(|offset| FaultStart::Phase { phase: p.clone(), offset })
            }
            (None, None) => {
                self.missing(at.key("at"), "when the fault starts: \"at\": \"20s\" (from the start of the load), or \"phase\": \"steady\" with an optional \"offset\"");
                None
            }
        };
        let action = match f.action.as_deref() {
            None => {
                self.missing(at.key("action"), "what the fault does: kill, stop, pause, restart or partition");
                None
            }
            Some("kill") => Some(FaultAction::Kill),
            Some("stop") => Some(FaultAction::Stop),
            Some("pause") => Some(FaultAction::Pause),
            Some("restart") => Some(FaultAction::Restart),
            Some("partition") => {
                let peers = match f.peers.as_deref() {
                    None | Some("all") => Some(Peers::All),
                    Some("nodes") => Some(Peers::OtherNodes),
                    Some("clients") => Some(Peers::Clients),
                    Some(other) => {
                        self.err(
                            at.key("peers"),
                            format!("unknown peers `{other}`: expected nodes (the other nodes), clients or all"),
                        );
                        None
                    }
                };
                let direction = match f.direction.as_deref() {
                    None | Some("both") => Some(Direction::Both),
                    Some("inbound") => Some(Direction::Inbound),
                    Some("outbound") => Some(Direction::Outbound),
                    Some(other) => {
                        self.err(
                            at.key("direction"),
                            format!("unknown direction `{other}`: expected both, inbound or outbound"),
                        );
                        None
                    }
                };
                Some(FaultAction::Partition { peers: peers?, direction: direction? })
            }
            Some(other) => {
                self.err(
                    at.key("action"),
                    format!("unknown action `{other}`: expected kill, stop, pause, restart or partition"),
                );
                None
            }
        };
        if !matches!(action, Some(FaultAction::Partition { .. }) | None) {
            for (field, v) in [("peers", &f.peers), ("direction", &f.direction)] {
                if v.is_some() {
                    self.err(at.key(field), format!("`{field}` only applies to the partition action"));
                }
            }
        }
        let target = match (&f.target, action) {
            (None, Some(FaultAction::Restart)) => Some(TargetSpec::AllButOne),
            (None, _) => {
                self.missing(
                    at.key("target"),
                    "the node to hit: {\"node\": 2}, \"random\", {\"leader_of\": {\"topic\": \"t\", \"partition\": 0}}, \"controller\", \"most_leaders\" or \"all_but_one\"",
                );
                None
            }
            (Some(v), _) => self.target(v, at.key("target"), topics, local_nodes),
        };
        let duration = match &f.duration {
            None if action == Some(FaultAction::Restart) => Some(Duration::ZERO),
            None => {
                self.missing(at.key("duration"), "the fault window, like \"15s\": the fault is undone when it ends");
                None
            }
            Some(d) => self.positive_duration(d, at.key("duration"), "a fault window"),
        };
        let restart_after = match &f.restart_after {
            None => Some(None),
            Some(d) => {
                if !matches!(action, Some(FaultAction::Kill | FaultAction::Stop) | None) {
                    self.err(at.key("restart_after"), "`restart_after` only applies to kill and stop");
                }
                let r = self.duration(d, at.key("restart_after"));
                if let (Some(r), Some(w)) = (r, duration)
                    && r > w
                {
                    self.err(
                        at.key("restart_after"),
                        format!(
                            "restart_after {} is past the end of the window ({})",
                            fmt_duration(r),
                            fmt_duration(w)
                        ),
                    );
                }
                r.map(Some)
            }
        };
        let every = match &f.every {
            None => Some(None),
            Some(d) => {
                let e = self.positive_duration(d, at.key("every"), "a repeat interval");
                if let (Some(e), Some(w)) = (e, duration)
                    && e <= w
                {
                    self.err(
                        at.key("every"),
                        format!(
                            "every {} must be longer than the fault window ({}): windows may not overlap",
                            fmt_duration(e),
                            fmt_duration(w)
                        ),
                    );
                }
                e.map(Some)
            }
        };
        let times = match (f.times, &every) {
            (Some(0), _) => {
                self.err(at.key("times"), "times must be at least 1");
                None
            }
            (Some(t), Some(None)) if t > 1 => {
                self.err(at.key("times"), "times above 1 needs `every`, the interval between repeats");
                None
            }
            (Some(t), _) => Some(t),
            (None, Some(Some(_))) => {
                self.missing(at.key("times"), "how many times the fault fires in all, with `every`");
                None
            }
            (None, _) => Some(1),
        };
        Some(FaultSpec {
            name: name?,
            start: start?,
            action: action?,
            target: target?,
            duration: duration?,
            restart_after: restart_after?,
            every: every?,
            times: times?,
        })
    }

    fn target(
        &mut self,
        v: &Value,
        path: JsonPath,
        topics: &[(&str, i32)],
        local_nodes: Option<usize>,
    ) -> Option<TargetSpec> {
        const FORMS: &str = "{\"node\": 2}, \"random\", {\"leader_of\": {\"topic\": \"t\", \"partition\": 0}}, \"controller\", \"most_leaders\" or \"all_but_one\"";
        match v {
            Value::String(s) => match s.as_str() {
                "random" => Some(TargetSpec::Random),
                "controller" => Some(TargetSpec::Controller),
                "most_leaders" => Some(TargetSpec::MostLeaders),
                "all_but_one" => Some(TargetSpec::AllButOne),
                other => {
                    self.err(path, format!("unknown target `{other}`: expected {FORMS}"));
                    None
                }
            },
            // A local cluster numbers its nodes from 1; elsewhere any Kafka node.id (from 0,
            // as Strimzi numbers its pods) may be named.
            Value::Object(o) if o.len() == 1 && o.contains_key("node") => match o["node"].as_i64() {
                Some(n)
                    if n >= 0
                        && n <= i64::from(i32::MAX)
                        && local_nodes.is_none_or(|max| n >= 1 && n as usize <= max) =>
                {
                    Some(TargetSpec::Node(n as i32))
                }
                Some(n) if n >= 0 && local_nodes.is_some() => {
                    self.err(
                        path.key("node"),
                        format!(
                            "node {n} does not exist: the local cluster has nodes 1 to {}",
                            local_nodes.unwrap_or(0)
                        ),
                    );
                    None
                }
                _ => {
                    let from = if local_nodes.is_some() { 1 } else { 0 };
                    self.err(path.key("node"), format!("a node id: a whole number from {from}"));
                    None
                }
            },
            Value::Object(o) if o.len() == 1 && o.contains_key("leader_of") => {
                let lo = &o["leader_of"];
                let topic = lo.get("topic").and_then(Value::as_str);
                let partition = lo.get("partition").map(|p| p.as_i64());
                let extra: Vec<&String> = lo
                    .as_object()
                    .map(|m| m.keys().filter(|k| *k != "topic" && *k != "partition").collect())
                    .unwrap_or_default();
                if let Some(k) = extra.first() {
                    self.err(
                        path.key("leader_of").key((*k).clone()),
                        format!("unknown field `{k}`, expected `topic` or `partition`"),
                    );
                    return None;
                }
                let Some(topic) = topic else {
                    self.err(
                        path.key("leader_of").key("topic"),
                        "the topic whose partition leader is hit (a declared topic)",
                    );
                    return None;
                };
                let partition = match partition {
                    None => 0,
                    Some(Some(p)) if p >= 0 => p as i32,
                    Some(_) => {
                        self.err(path.key("leader_of").key("partition"), "a partition number from 0");
                        return None;
                    }
                };
                match topics.iter().find(|(t, _)| *t == topic) {
                    None => {
                        self.err(
                            path.key("leader_of").key("topic"),
                            format!("unknown topic `{topic}`: declare it in `topics`"),
                        );
                        None
                    }
                    Some((_, n)) if partition >= *n => {
                        self.err(
                            path.key("leader_of").key("partition"),
                            format!("topic {topic} has partitions 0 to {}", n - 1),
                        );
                        None
                    }
                    Some(_) => Some(TargetSpec::LeaderOf { topic: topic.to_string(), partition }),
                }
            }
            _ => {
                self.err(path, format!("invalid target: expected {FORMS}"));
                None
            }
        }
    }

    fn safety(&mut self, s: &RawSafety, at: &JsonPath) -> Option<Safety> {
        let abort_on_errors = match &s.abort_if {
            None => Some(None),
            Some(a) => {
                let rate = match &a.error_rate_above {
                    None => {
                        self.missing(
                            at.key("abort_if").key("error_rate_above"),
                            "the share of failed deliveries that aborts the run, like \"50%\" or 0.5",
                        );
                        None
                    }
                    Some(Scalar(t)) => {
                        let t = t.trim();
                        let parsed = match t.strip_suffix('%') {
                            Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
                            None => t.parse::<f64>().ok(),
                        };
                        match parsed {
                            Some(r) if (0.0..=1.0).contains(&r) => Some(r),
                            _ => {
                                self.err(at.key("abort_if").key("error_rate_above"), format!("`{t}` is not a share: expected a percentage like \"50%\" or a fraction from 0 to 1"));
                                None
                            }
                        }
                    }
                };
                let for_ = match &a.for_ {
                    None => Some(Duration::from_secs(10)),
                    Some(d) => self.positive_duration(d, at.key("abort_if").key("for"), "an abort window"),
                };
                Some(Some(ErrorRateAbort { error_rate: rate?, for_: for_? }))
            }
        };
        Some(Safety { abort_on_errors: abort_on_errors?, require_healthy: s.require_healthy.unwrap_or(true) })
    }

    fn topic_ref(&mut self, t: Option<&str>, path: JsonPath, kind: &str) -> Option<String> {
        match t {
            None => {
                self.missing(path, &format!("the declared topic this {kind} uses"));
                None
            }
            Some("") => {
                self.err(path, "empty topic name");
                None
            }
            Some(t) => Some(t.to_string()),
        }
    }

    fn rate(&mut self, r: &RateText, path: JsonPath) -> Option<Rate> {
        let parsed = match &r.0 {
            NumOrText::Text(t) => parse_rate(t),
            NumOrText::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a rate")).and_then(rate_from_number),
        };
        parsed.map_err(|e| self.err(path, e)).ok()
    }

    fn acks(&mut self, a: &AcksText, path: JsonPath) -> Option<Acks> {
        let text = match &a.0 {
            NumOrText::Text(t) => t.trim().to_ascii_lowercase(),
            NumOrText::Number(n) => n.to_string(),
        };
        match text.as_str() {
            "all" | "-1" => Some(Acks::All),
            "1" => Some(Acks::Leader),
            "0" => Some(Acks::None),
            _ => {
                self.err(path, format!("acks must be \"all\" (or -1), \"1\" or \"0\", got {text}"));
                None
            }
        }
    }

    fn message_size(&mut self, s: &RawSize, at: &JsonPath) -> Option<SizeDist> {
        const WHAT: &str = "message size";
        let (lo, hi) = (defaults::MIN_MESSAGE_SIZE as u64, defaults::MAX_MESSAGE_SIZE as u64);
        match s {
            RawSize::Fixed(v) => self.size_in(v, at.clone(), WHAT, lo, hi).map(SizeDist::Fixed),
            RawSize::Dist(RawSizeDist::Uniform(u)) => {
                let at = at.key("uniform");
                let min = self.required(u.min.as_ref(), at.key("min"), "the smallest size, like \"100B\"");
                let max = self.required(u.max.as_ref(), at.key("max"), "the largest size, like \"4KiB\"");
                let min = min.and_then(|v| self.size_in(v, at.key("min"), WHAT, lo, hi));
                let max = max.and_then(|v| self.size_in(v, at.key("max"), WHAT, lo, hi));
                let (min, max) = (min?, max?);
                if min > max {
                    self.err(
                        at.key("min"),
                        format!("min {} is above max {}", format_size(min as u64), format_size(max as u64)),
                    );
                    return None;
                }
                Some(SizeDist::Uniform { min, max })
            }
            RawSize::Dist(RawSizeDist::Normal(n)) => {
                let at = at.key("normal");
                let mean = self.required(n.mean.as_ref(), at.key("mean"), "the mean size, like \"1KiB\"");
                let stddev =
                    self.required(n.stddev.as_ref(), at.key("stddev"), "the standard deviation, like \"256B\"");
                let mean = mean.and_then(|v| self.size_in(v, at.key("mean"), WHAT, lo, hi));
                let stddev = stddev.and_then(|v| self.size(v, at.key("stddev")));
                let (mean, stddev) = (mean?, usize::try_from(stddev?).ok()?);
                // Four standard deviations each side keep the clamp out of the way of the shape.
                let min = match &n.min {
                    Some(v) => self.size_in(v, at.key("min"), WHAT, lo, hi),
                    None => {
                        self.or_default(&at.key("min"), mean.saturating_sub(stddev.saturating_mul(4)).max(lo as usize))
                    }
                };
                let max = match &n.max {
                    Some(v) => self.size_in(v, at.key("max"), WHAT, lo, hi),
                    None => {
                        self.or_default(&at.key("max"), mean.saturating_add(stddev.saturating_mul(4)).min(hi as usize))
                    }
                };
                // The defaults for min and max always surround the mean, so a violation below
                // names a bound the file sets.
                let (min, max) = (min?, max?);
                if min > mean {
                    self.err(
                        at.key("min"),
                        format!("min {} is above the mean {}", format_size(min as u64), format_size(mean as u64)),
                    );
                    return None;
                }
                if max < mean {
                    self.err(
                        at.key("max"),
                        format!("max {} is below the mean {}", format_size(max as u64), format_size(mean as u64)),
                    );
                    return None;
                }
                Some(SizeDist::Normal { mean, stddev, min, max })
            }
        }
    }

    fn required<'a, T>(&mut self, v: Option<&'a T>, path: JsonPath, what: &str) -> Option<&'a T> {
        if v.is_none() {
            self.missing(path, what);
        }
        v
    }

    fn keys(&mut self, k: &RawKeys, at: &JsonPath) -> Option<KeyDist> {
        let count = |c: &mut Checker, v: Option<i64>, at: JsonPath| match v {
            None => {
                c.missing(at, "the number of distinct keys, like 1000");
                None
            }
            Some(n) if n < 1 => {
                c.err(at, format!("count must be 1 or more, got {n}"));
                None
            }
            Some(n) => Some(n as u64),
        };
        match k {
            RawKeys::None => Some(KeyDist::None),
            RawKeys::RoundRobin(r) => {
                count(self, r.count, at.key("round_robin").key("count")).map(|keys| KeyDist::RoundRobin { keys })
            }
            RawKeys::Uniform(r) => {
                count(self, r.count, at.key("uniform").key("count")).map(|keys| KeyDist::Uniform { keys })
            }
            RawKeys::Zipf(z) => {
                let keys = count(self, z.count, at.key("zipf").key("count"));
                let exponent = match z.exponent {
                    Some(e) => e,
                    None => self.or_default(&at.key("zipf").key("exponent"), defaults::ZIPF_EXPONENT)?,
                };
                if !(exponent.is_finite() && exponent > 0.0) {
                    self.err(at.key("zipf").key("exponent"), format!("exponent must be above 0, got {exponent}"));
                    return None;
                }
                Some(KeyDist::Zipf { keys: keys?, exponent })
            }
        }
    }

    /// Passes-through librdkafka settings of a producer or consumer.
    fn client_settings(
        &mut self,
        config: Option<&BTreeMap<String, Scalar>>,
        at: &JsonPath,
        fields: &[(&str, &str)],
        kind: &str,
    ) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in config.into_iter().flatten() {
            let path = at.key(k.clone());
            let problem = if let Some((_, field)) = fields.iter().find(|(key, _)| key == k) {
                Some(format!("`{k}` has its own field: set `{field}` instead"))
            } else if BOOTSTRAP_KEYS.contains(&k.as_str()) {
                Some(format!("`{k}` comes from `cluster` and cannot be set per {kind}"))
            } else if k == "transactional.id" {
                Some("aftershock's producers are not transactional; `transactional.id` is not supported".to_string())
            } else if is_secret_key(k) {
                Some(format!(
                    "`{k}` is a secret: set it in cluster.existing.client_config as {{\"env\": ...}} or {{\"file\": ...}}, never as plain text"
                ))
            } else {
                librdkafka_check(k, Some(&v.0)).err()
            };
            match problem {
                Some(m) => {
                    self.err_key(path, m);
                    ok = false;
                }
                None => {
                    out.insert(k.clone(), v.0.clone());
                }
            }
        }
        ok.then_some(out)
    }

    fn unique<'a>(&mut self, kind: &str, at: &JsonPath, names: impl Iterator<Item = Option<&'a str>>) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, n) in names.enumerate() {
            let Some(n) = n else { continue };
            if let Some(first) = seen.get(n) {
                self.err(
                    at.index(i).key("name"),
                    format!("duplicate {kind} name {n:?}, already used by {}", at.index(*first)),
                );
            } else {
                seen.insert(n, i);
            }
        }
    }

    fn unique_groups(&mut self, at: &JsonPath, consumers: &[Option<ConsumerSpec>]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, k) in consumers.iter().enumerate() {
            let Some(k) = k else { continue };
            if let Some(first) = seen.get(k.group.as_str()) {
                self.err(
                    at.index(i).key("group"),
                    format!(
                        "group {:?} is also used by {}: two entries in one group would split its partitions; use `instances` for several members of one group",
                        k.group,
                        at.index(*first)
                    ),
                );
            } else {
                seen.insert(&k.group, i);
            }
        }
    }

    /// Producers and consumers may only use topics declared in `topics`.
    fn topic_references(
        &mut self,
        raw: &RawScenario,
        topics_at: &JsonPath,
        producers_at: &JsonPath,
        consumers_at: &JsonPath,
    ) {
        // With the list or an entry unreadable or nameless, the names are not known: say nothing.
        if self.is_broken(topics_at) {
            return;
        }
        let Some(declared) =
            raw.topics.iter().map(|t| t.as_ref().and_then(|t| t.name.as_deref())).collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let refs = raw
            .producers
            .iter()
            .enumerate()
            .map(|(i, p)| (producers_at.index(i), p.as_ref().and_then(|p| p.topic.as_deref())))
            .chain(
                raw.consumers
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (consumers_at.index(i), k.as_ref().and_then(|k| k.topic.as_deref()))),
            );
        for (at, topic) in refs {
            let Some(topic) = topic.filter(|t| !t.is_empty()) else { continue };
            if !declared.contains(&topic) {
                let hint =
                    crate::scenario::file::closest(topic, &declared.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                        .map(|s| format!("; did you mean {s:?}?"))
                        .unwrap_or_default();
                self.err(
                    at.key("topic"),
                    format!(
                        "topic {topic:?} is not declared in {topics_at}: add it there (with \"reuse\": true to use a topic that already exists on the cluster){hint}"
                    ),
                );
            }
        }
    }

    /// acks=all needs at least `min.insync.replicas` replicas: catch topics where the effective
    /// replication factor is below it, as every such write would fail with NOT_ENOUGH_REPLICAS.
    fn replication_for_acks_all(
        &mut self,
        raw: &RawScenario,
        cluster: Option<&ClusterTarget>,
        topics: &[Option<TopicSpec>],
        producers: &[Option<ProducerSpec>],
        topics_at: &JsonPath,
    ) {
        // Only a local cluster's defaults are known; an existing cluster's are not.
        let Some(ClusterTarget::Local { nodes, broker_config, .. }) = cluster else { return };
        let (_, default_isr) = local_defaults(*nodes, broker_config);
        for (i, t) in topics.iter().enumerate() {
            let Some(t) = t else { continue };
            let rf = i64::from(t.replication_factor);
            let isr_explicit = t.config.get("min.insync.replicas").and_then(|v| v.trim().parse::<i64>().ok());
            let isr = isr_explicit.unwrap_or(default_isr);
            if isr <= rf {
                continue;
            }
            let Some(p) = producers.iter().flatten().find(|p| p.topic == t.name && p.acks == Acks::All) else {
                continue;
            };
            let at = topics_at.index(i);
            let explicit_rf =
                raw.topics.get(i).and_then(|r| r.as_ref()).is_some_and(|r| r.replication_factor.is_some());
            let path = if isr_explicit.is_some() {
                at.key("config").key("min.insync.replicas")
            } else if explicit_rf {
                at.key("replication_factor")
            } else {
                at
            };
            self.err(
                path,
                format!(
                    "replication factor {rf} is below min.insync.replicas {isr}{}: producer {:?} uses acks=all, so every write would fail; raise replication_factor or set config[\"min.insync.replicas\"]",
                    if isr_explicit.is_some() { "" } else { " (the local cluster's default)" },
                    p.name
                ),
            );
        }
    }
}

/// The replication factor and min.insync.replicas a local cluster gives topics by default:
/// aftershock's (see `cluster::props::replication_defaults`) unless `broker_config` sets them.
fn local_defaults(nodes: usize, broker_config: &BTreeMap<String, String>) -> (i64, i64) {
    let (rf, isr) = crate::cluster::props::replication_defaults(nodes);
    let get = |k: &str, d: usize| {
        broker_config.get(k).and_then(|v| v.trim().parse::<i64>().ok()).filter(|v| *v >= 1).unwrap_or(d as i64)
    };
    (get("default.replication.factor", rf), get("min.insync.replicas", isr))
}

fn local_default_rf(nodes: usize, broker_config: &BTreeMap<String, String>) -> i32 {
    i32::try_from(local_defaults(nodes, broker_config).0).unwrap_or(i32::MAX)
}

/// Why `key` may not appear in an existing cluster's `client_config`, if it may not.
fn reserved_client_key(key: &str) -> Option<String> {
    if BOOTSTRAP_KEYS.contains(&key) {
        return Some(format!("`{key}` is set from `bootstrap`"));
    }
    if let Some((_, field)) = PRODUCER_FIELDS.iter().find(|(k, _)| *k == key) {
        return Some(format!("`{key}` is set per producer with its `{field}` field"));
    }
    if let Some((_, field)) = CONSUMER_FIELDS.iter().find(|(k, _)| *k == key) {
        return Some(format!("`{key}` is set per consumer with its `{field}` field"));
    }
    if key == "transactional.id" {
        return Some("aftershock's producers are not transactional; `transactional.id` is not supported".into());
    }
    None
}

/// Checks a librdkafka setting against librdkafka's property table, in memory. With no value
/// (a secret reference), only the name is checked.
fn librdkafka_check(key: &str, value: Option<&str>) -> Result<(), String> {
    let mut conf = rdkafka::ClientConfig::new();
    conf.set(key, value.unwrap_or(""));
    match conf.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(res, _, _, _))
            if value.is_none() && res != RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN =>
        {
            Ok(())
        }
        Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, _, _, _)) => {
            Err(format!("librdkafka has no setting `{key}`"))
        }
        Err(KafkaError::ClientConfig(_, desc, _, _)) => Err(format!("librdkafka refuses it: {desc}")),
        Err(e) => Err(format!("librdkafka refuses it: {e}")),
    }
}

/// Checks a topic name against Kafka's rules.
fn kafka_topic_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("empty topic name".into());
    }
    if n == "." || n == ".." {
        return Err(format!("{n:?} is not a valid topic name"));
    }
    if n.len() > 249 {
        return Err(format!("topic name is {} characters long; Kafka allows at most 249", n.len()));
    }
    if !n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(format!("topic name {n:?} may only contain letters, digits, `.`, `_` and `-`"));
    }
    Ok(())
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A DNS-1123 label: namespaces and most Kubernetes object names.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Checks the shape of a Kubernetes label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`,
/// `k in (a,b)`, `k notin (a)`, joined by commas), so a typo fails before the run.
fn check_label_selector(sel: &str) -> Result<(), String> {
    if sel.trim().is_empty() {
        return Err("empty selector: write one like \"app=kafka\"".into());
    }
    let mut parts = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for ch in sel.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    let key_ok = |k: &str| {
        let k = k.trim();
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    for p in &parts {
        let p = p.trim();
        let ok = if let Some((k, v)) = p.split_once("!=").or_else(|| p.split_once("==")).or_else(|| p.split_once('=')) {
            key_ok(k) && v.trim().chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        } else if let Some(k) = p.strip_prefix('!') {
            key_ok(k)
        } else if let Some((k, rest)) = p.split_once(" in ").or_else(|| p.split_once(" notin ")) {
            let rest = rest.trim();
            key_ok(k) && rest.starts_with('(') && rest.ends_with(')')
        } else {
            key_ok(p)
        };
        if !ok {
            return Err(format!(
                "`{p}` in selector {sel:?} is not a label requirement like `app=kafka`, `tier!=x`, `role in (a,b)` or `!k`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_settings_are_checked_locally() {
        assert_eq!(librdkafka_check("linger.ms", Some("5")), Ok(()));
        assert_eq!(librdkafka_check("security.protocol", Some("SASL_SSL")), Ok(()));
        assert_eq!(librdkafka_check("ssl.ca.location", Some("/nonexistent/ca.pem")), Ok(()));
        assert_eq!(librdkafka_check("sasl.password", None), Ok(()));
        assert!(librdkafka_check("lingerr.ms", Some("5")).unwrap_err().contains("no setting `lingerr.ms`"));
        assert!(librdkafka_check("nope", None).unwrap_err().contains("no setting"));
        assert!(librdkafka_check("linger.ms", Some("soon")).unwrap_err().contains("refuses"));
        assert!(librdkafka_check("security.protocol", Some("carrier-pigeon")).is_err());
        assert!(librdkafka_check("a\0b", Some("x")).is_err());
    }

    #[test]
    fn topic_names() {
        assert!(kafka_topic_name("orders.v1_x-y").is_ok());
        assert!(kafka_topic_name("").is_err());
        assert!(kafka_topic_name("..").is_err());
        assert!(kafka_topic_name("a b").is_err());
        assert!(kafka_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("sasl.password"));
        assert!(is_secret_key("ssl.key.password"));
        assert!(is_secret_key("sasl.oauthbearer.client.secret"));
        assert!(is_secret_key("ssl.key.pem"));
        assert!(!is_secret_key("sasl.username"));
        assert!(!is_secret_key("ssl.ca.location"));
    }
}
