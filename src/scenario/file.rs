//! The scenario file as written: raw serde structs, and the reader that turns a parsed document
//! into them while collecting every deserialization problem with its path.
//!
//! Every field of the raw structs is optional, so a bad field can be dropped without failing
//! the whole object: [`read`] deserializes, and on an error records it, removes the offending
//! node from a copy of the document and tries again until the rest reads. Required fields,
//! ranges and units are checked afterwards, purely, in `validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

use super::position::{JsonPath, Seg};
use super::problem::Problem;

/// The top level of a scenario file. List entries stay JSON values here so that each one is
/// read on its own and a broken entry does not shift the indexes of the others.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a scenario object, like {\"name\": ..., \"cluster\": ..., \"phases\": [...]}"
)]
pub(crate) struct RawTop {
    /// For editors; accepted so that it is not an unknown field, otherwise unused.
    #[serde(rename = "$schema")]
    #[allow(dead_code)]
    pub schema: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub cluster: Option<RawCluster>,
    pub topics: Option<Vec<Value>>,
    pub producers: Option<Vec<Value>>,
    pub consumers: Option<Vec<Value>>,
    pub phases: Option<Vec<Value>>,
    pub drain: Option<DurationText>,
    pub faults: Option<Vec<Value>>,
    pub safety: Option<RawSafety>,
    pub checks: Option<Vec<Value>>,
    pub capacity: Option<RawCapacity>,
}

/// Everything read from a file. In each list, `None` marks an entry that could not be read
/// at all (its problems are already recorded), so indexes still match the file.
#[derive(Debug, Default)]
pub(crate) struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub cluster: Option<RawCluster>,
    pub topics: Vec<Option<RawTopic>>,
    pub producers: Vec<Option<RawProducer>>,
    pub consumers: Vec<Option<RawConsumer>>,
    /// `None` when the file has no `phases` at all.
    pub phases: Option<Vec<Option<RawPhase>>>,
    pub drain: Option<DurationText>,
    pub faults: Vec<Option<RawFault>>,
    pub safety: Option<RawSafety>,
    pub checks: Vec<Option<RawCheck>>,
    pub capacity: Option<RawCapacity>,
}

/// One entry of `faults`. The target stays a JSON value: it is a word or a small object, and
/// validation names the accepted forms better than an untagged serde enum would.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a fault object, like {\"name\": \"kill-leader\", \"at\": \"20s\", \"action\": \"kill\", \"target\": \"controller\", \"duration\": \"15s\"}"
)]
pub(crate) struct RawFault {
    pub name: Option<String>,
    pub at: Option<DurationText>,
    pub phase: Option<String>,
    pub offset: Option<DurationText>,
    pub action: Option<String>,
    pub target: Option<Value>,
    pub duration: Option<DurationText>,
    pub restart_after: Option<DurationText>,
    pub every: Option<DurationText>,
    pub times: Option<u32>,
    pub peers: Option<String>,
    pub direction: Option<String>,
}

/// `safety`: abort conditions and the steady-state check before faults.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "safety settings, like {\"abort_if\": {\"error_rate_above\": \"50%\", \"for\": \"10s\"}}"
)]
pub(crate) struct RawSafety {
    pub abort_if: Option<RawAbortIf>,
    pub require_healthy: Option<bool>,
}

/// `safety.abort_if`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an abort condition, like {\"error_rate_above\": \"50%\", \"for\": \"10s\"}")]
pub(crate) struct RawAbortIf {
    pub error_rate_above: Option<Scalar>,
    #[serde(rename = "for")]
    pub for_: Option<DurationText>,
}

/// `cluster`: exactly one of `local` or `existing`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "a cluster: {\"local\": {...}} or {\"existing\": {...}}")]
pub(crate) enum RawCluster {
    Local(RawLocal),
    Existing(RawExisting),
    Running(RawRunning),
}

/// `cluster.running`: a cluster started earlier by `aftershock cluster up`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a running local cluster, like {\"dir\": \"/path/to/cluster\"} (or {} for the default dir)"
)]
pub(crate) struct RawRunning {
    pub dir: Option<String>,
}

/// `cluster.local`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "local cluster settings, like {\"nodes\": 3}")]
pub(crate) struct RawLocal {
    pub nodes: Option<i64>,
    pub kafka_version: Option<String>,
    pub broker_config: Option<BTreeMap<String, Scalar>>,
    pub netns: Option<bool>,
    pub subnet: Option<String>,
}

/// `cluster.existing`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "existing cluster settings, like {\"bootstrap\": \"host:9092\"}")]
pub(crate) struct RawExisting {
    pub bootstrap: Option<String>,
    pub client_config: Option<BTreeMap<String, RawConfigValue>>,
    pub kubernetes: Option<RawKubernetes>,
}

/// `cluster.existing.kubernetes`: the cluster runs in Kubernetes, and faults act on its pods.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "Kubernetes settings, like {\"namespace\": \"kafka\", \"strimzi_cluster\": \"my-cluster\"}"
)]
pub(crate) struct RawKubernetes {
    pub namespace: Option<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub strimzi_cluster: Option<String>,
    pub selector: Option<String>,
    /// `"name_suffix"` or `{"label": "key"}`; a JSON value so validation can name both forms.
    pub node_id: Option<Value>,
    pub pod_label: Option<String>,
    pub chaos_mesh: Option<bool>,
    pub ready_timeout: Option<DurationText>,
}

/// An entry of `topics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a topic object, like {\"name\": \"t\", \"partitions\": 6}")]
pub(crate) struct RawTopic {
    pub name: Option<String>,
    pub partitions: Option<i64>,
    pub replication_factor: Option<i64>,
    pub config: Option<BTreeMap<String, Scalar>>,
    pub reuse: Option<bool>,
}

/// An entry of `producers`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a producer object, like {\"name\": \"p\", \"topic\": \"t\", \"rate\": \"1k\"}"
)]
pub(crate) struct RawProducer {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub instances: Option<i64>,
    pub rate: Option<RateText>,
    pub ramp: Option<DurationText>,
    pub message_size: Option<RawSize>,
    pub keys: Option<RawKeys>,
    pub acks: Option<AcksText>,
    pub idempotence: Option<bool>,
    pub compression: Option<String>,
    pub linger: Option<DurationText>,
    pub batch_size: Option<SizeText>,
    pub config: Option<BTreeMap<String, Scalar>>,
}

/// An entry of `consumers`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a consumer object, like {\"name\": \"c\", \"topic\": \"t\"}")]
pub(crate) struct RawConsumer {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub group: Option<String>,
    pub instances: Option<i64>,
    pub start: Option<RawStart>,
    pub config: Option<BTreeMap<String, Scalar>>,
}

/// `consumers[].start`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "\"earliest\" or \"latest\"")]
pub(crate) enum RawStart {
    Earliest,
    Latest,
}

/// An entry of `phases`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a phase object, like {\"name\": \"steady\", \"duration\": \"1m\"}")]
pub(crate) struct RawPhase {
    pub name: Option<String>,
    pub duration: Option<DurationText>,
    pub measured: Option<bool>,
}

/// `message_size`: a size, or a distribution object.
#[derive(Debug)]
pub(crate) enum RawSize {
    Fixed(SizeText),
    Dist(RawSizeDist),
}

/// `message_size` as a distribution.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "a size distribution: {\"uniform\": {...}} or {\"normal\": {...}}")]
pub(crate) enum RawSizeDist {
    Uniform(RawUniform),
    Normal(RawNormal),
}

/// `message_size.uniform`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "uniform size settings, like {\"min\": \"100B\", \"max\": \"4KiB\"}")]
pub(crate) struct RawUniform {
    pub min: Option<SizeText>,
    pub max: Option<SizeText>,
}

/// `message_size.normal`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "normal size settings, like {\"mean\": \"1KiB\", \"stddev\": \"256B\"}")]
pub(crate) struct RawNormal {
    pub mean: Option<SizeText>,
    pub stddev: Option<SizeText>,
    pub min: Option<SizeText>,
    pub max: Option<SizeText>,
}

/// `keys`.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "snake_case",
    expecting = "keys: \"none\", {\"round_robin\": {...}}, {\"uniform\": {...}} or {\"zipf\": {...}}"
)]
pub(crate) enum RawKeys {
    None,
    RoundRobin(RawKeyCount),
    Uniform(RawKeyCount),
    Zipf(RawZipf),
}

/// `keys.round_robin` and `keys.uniform`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "key settings, like {\"count\": 1000}")]
pub(crate) struct RawKeyCount {
    pub count: Option<i64>,
}

/// `keys.zipf`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "zipf key settings, like {\"count\": 10000, \"exponent\": 1.1}")]
pub(crate) struct RawZipf {
    pub count: Option<i64>,
    pub exponent: Option<f64>,
}

/// A client setting of an existing cluster: a value or a secret reference.
#[derive(Debug)]
pub(crate) enum RawConfigValue {
    Plain(String),
    Ref(RawSecretRef),
}

/// `{"env": "NAME"}` or `{"file": "/path"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "a secret reference: {\"env\": \"NAME\"} or {\"file\": \"/path\"}")]
pub(crate) enum RawSecretRef {
    Env(String),
    File(String),
}

/// An entry of `checks` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a check object, like {\"metric\": \"e2e.p99\", \"phase\": \"steady\", \"max\": \"50ms\"}"
)]
pub(crate) struct RawCheck {
    pub metric: Option<String>,
    pub phase: Option<String>,
    pub fault: Option<String>,
    /// A number or a string; the metric decides which (checked in `checks::validate`).
    pub min: Option<Value>,
    pub max: Option<Value>,
    pub abort_on_fail: Option<bool>,
}

/// `capacity`, the block of a capacity search, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "capacity settings, like {\"start\": \"1k\", \"step\": {\"multiply\": 1.5}, \"sustain\": {\"produce_p99\": \"50ms\"}}"
)]
pub(crate) struct RawCapacity {
    pub start: Option<RateText>,
    pub step: Option<RawStep>,
    pub warmup: Option<DurationText>,
    pub initial_warmup: Option<DurationText>,
    pub duration: Option<DurationText>,
    pub settle: Option<DurationText>,
    pub max_rate: Option<RateText>,
    pub max_steps: Option<i64>,
    pub refine: Option<i64>,
    pub sustain: Option<RawSustain>,
    /// `true`, `false` or a node id; checked in `capacity::validate`.
    pub node_down: Option<Value>,
    pub require: Option<RateText>,
}

/// `capacity.step`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", expecting = "a step: {\"multiply\": 1.5} or {\"add\": \"1k\"}")]
pub(crate) enum RawStep {
    Multiply(f64),
    Add(RateText),
}

/// `capacity.sustain`.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "sustain criteria, like {\"produce_p99\": \"50ms\", \"min_achieved\": \"95%\"}"
)]
pub(crate) struct RawSustain {
    pub produce_p99: Option<DurationText>,
    pub e2e_p99: Option<DurationText>,
    pub min_achieved: Option<Scalar>,
    pub max_error_rate: Option<Scalar>,
    /// A duration, or `false` to not judge consumers.
    pub max_lag_growth: Option<Value>,
}

/// A number or a string, kept as written; units are parsed during validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NumOrText {
    Number(serde_json::Number),
    Text(String),
}

/// A duration string like `"30s"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DurationText(pub String);

/// A size: `"1KiB"` or a number of bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SizeText(pub NumOrText);

/// A rate: `"10k"`, `"max"` or a number of messages per second.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateText(pub NumOrText);

/// `acks`: `"all"`, `"1"`, `"0"`, or the numbers -1, 1, 0.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AcksText(pub NumOrText);

/// A setting's value: a string, number or boolean, kept as text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar(pub String);

/// Accepts the JSON kinds named by its flags and says what it expects otherwise.
struct Flexible {
    expecting: &'static str,
    numbers: bool,
    bools: bool,
}

impl<'de> Visitor<'de> for Flexible {
    type Value = NumOrText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrText, E> {
        Ok(NumOrText::Text(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NumOrText, E> {
        if self.bools {
            Ok(NumOrText::Text(v.to_string()))
        } else {
            Err(E::invalid_type(de::Unexpected::Bool(v), &self))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrText, E> {
        if self.numbers {
            Ok(NumOrText::Number(v.into()))
        } else {
            Err(E::invalid_type(de::Unexpected::Unsigned(v), &self))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrText, E> {
        if self.numbers {
            Ok(NumOrText::Number(v.into()))
        } else {
            Err(E::invalid_type(de::Unexpected::Signed(v), &self))
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumOrText, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) if self.numbers => Ok(NumOrText::Number(n)),
            _ => Err(E::invalid_type(de::Unexpected::Float(v), &self)),
        }
    }
}

fn flexible<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
    numbers: bool,
    bools: bool,
) -> Result<NumOrText, D::Error> {
    d.deserialize_any(Flexible { expecting, numbers, bools })
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match flexible(d, "a duration like \"30s\", \"2m\" or \"500ms\"", false, false)? {
            NumOrText::Text(s) => Ok(DurationText(s)),
            NumOrText::Number(_) => Err(de::Error::custom("unreachable: numbers refused")),
        }
    }
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        flexible(d, "a size like \"1KiB\", \"100B\" or a number of bytes", true, false).map(SizeText)
    }
}

impl<'de> Deserialize<'de> for RateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        flexible(d, "a rate like 1000, \"10k\" or \"max\"", true, false).map(RateText)
    }
}

impl<'de> Deserialize<'de> for AcksText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        flexible(d, "acks: \"all\", \"1\" or \"0\"", true, false).map(AcksText)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Scalar(match flexible(d, "a string, number or boolean", true, true)? {
            NumOrText::Text(s) => s,
            NumOrText::Number(n) => n.to_string(),
        }))
    }
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"1KiB\", a number of bytes, or {\"uniform\": {...}} or {\"normal\": {...}}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Fixed(SizeText(NumOrText::Text(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize::Fixed(SizeText(NumOrText::Number(v.into()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Fixed(SizeText(NumOrText::Number(v.into()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawSize, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| RawSize::Fixed(SizeText(NumOrText::Number(n))))
                    .ok_or_else(|| E::invalid_type(de::Unexpected::Float(v), &self))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawSize, A::Error> {
                // Going through the same MapAccess keeps serde_path_to_error's path tracking.
                RawSizeDist::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawSize::Dist)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawConfigValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean, {\"env\": \"NAME\"} or {\"file\": \"/path\"}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawConfigValue, E> {
                Ok(RawConfigValue::Plain(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawConfigValue, E> {
                Ok(RawConfigValue::Plain(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawConfigValue, E> {
                Ok(RawConfigValue::Plain(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawConfigValue, E> {
                Ok(RawConfigValue::Plain(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawConfigValue, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| RawConfigValue::Plain(n.to_string()))
                    .ok_or_else(|| E::invalid_type(de::Unexpected::Float(v), &self))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawConfigValue, A::Error> {
                RawSecretRef::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawConfigValue::Ref)
            }
        }
        d.deserialize_any(V)
    }
}

/// The lists of the format, with the kind of their entries.
const LISTS: &[(&str, &str)] = &[
    ("topics", "topic"),
    ("producers", "producer"),
    ("consumers", "consumer"),
    ("phases", "phase"),
    ("faults", "fault"),
    ("checks", "check"),
];

/// Reads a whole document, entry by entry, recording every problem in `problems`.
pub(crate) fn read_scenario(doc: &Value, problems: &mut Vec<Problem>) -> RawScenario {
    let root = JsonPath::root();
    if doc.is_array() {
        problems.push(Problem::new(root, "invalid type: array, expected a scenario object, like {\"name\": ..., \"cluster\": ..., \"phases\": [...]}"));
        return RawScenario::default();
    }
    let mut doc = doc.clone();
    if let Value::Object(o) = &mut doc {
        let nulls: Vec<String> = o.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k.clone()).collect();
        for k in nulls {
            problems.push(Problem::new(root.key(k.clone()), NULL_MSG));
            o.remove(&k);
        }
        for (k, v) in o.iter_mut() {
            if !LISTS.iter().any(|(list, _)| list == k) {
                reject_arrays_and_nulls(v, &root.key(k.clone()), problems);
            }
        }
    }
    let Some(top) = read::<RawTop>(&doc, &root, problems) else { return RawScenario::default() };
    fn list<T: DeserializeOwned>(name: &str, items: Option<Vec<Value>>, problems: &mut Vec<Problem>) -> Vec<Option<T>> {
        let at = JsonPath::root().key(name);
        let kind = LISTS.iter().find(|(list, _)| *list == name).map_or("", |(_, kind)| kind);
        items
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, mut v)| {
                if v.is_array() {
                    problems.push(Problem::new(at.index(i), format!("invalid type: array, expected a {kind} object")));
                    return None;
                }
                reject_arrays_and_nulls(&mut v, &at.index(i), problems);
                read::<T>(&v, &at.index(i), problems)
            })
            .collect()
    }
    RawScenario {
        name: top.name,
        description: top.description,
        seed: top.seed,
        cluster: top.cluster,
        topics: list("topics", top.topics, problems),
        producers: list("producers", top.producers, problems),
        consumers: list("consumers", top.consumers, problems),
        phases: top.phases.map(|p| list("phases", Some(p), problems)),
        drain: top.drain,
        faults: list("faults", top.faults, problems),
        safety: top.safety,
        checks: list("checks", top.checks, problems),
        capacity: top.capacity,
    }
}

const NULL_MSG: &str = "invalid type: null; write a value or leave the field out";

/// Reports and removes every array and null inside `v` (and `v` itself, if one).
///
/// Only the four top-level lists are arrays in the format. serde would otherwise accept an
/// array for a struct (as a tuple of its fields in order), so a `["steady", "10s"]` phase would
/// read as if written with names; refusing arrays here keeps the format to objects. Nulls
/// would read as absent fields, which the JSON Schema (and so an editor) does not allow.
fn reject_arrays_and_nulls(v: &mut Value, at: &JsonPath, problems: &mut Vec<Problem>) {
    const MSG: &str = "invalid type: array; only topics, producers, consumers and phases are lists";
    if v.is_array() {
        problems.push(Problem::new(at.clone(), MSG));
        *v = Value::Null;
        return;
    }
    if let Value::Object(o) = v {
        let bad: Vec<(String, bool)> =
            o.iter().filter(|(_, x)| x.is_array() || x.is_null()).map(|(k, x)| (k.clone(), x.is_array())).collect();
        for (k, array) in bad {
            problems.push(Problem::new(at.key(k.clone()), if array { MSG } else { NULL_MSG }));
            o.remove(&k);
        }
        for (k, x) in o.iter_mut() {
            reject_arrays_and_nulls(x, &at.key(k.clone()), problems);
        }
    }
}

/// Upper bound on retries for one value; each retry removes a node, so this only matters for
/// enormous broken inputs.
const MAX_ATTEMPTS: usize = 500;

/// Deserializes `value` (found at `at` in the document) as a `T`, recording every problem.
///
/// On an error, the offending node is removed from a copy and deserialization is retried, so
/// that one bad field does not hide the next. Returns what could be read (possibly with fields
/// left out, each of which has a recorded problem), or `None` when the value itself is unusable.
pub(crate) fn read<T: DeserializeOwned>(value: &Value, at: &JsonPath, problems: &mut Vec<Problem>) -> Option<T> {
    let mut doc = value.clone();
    let mut reported: Vec<JsonPath> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let err = match serde_path_to_error::deserialize::<_, T>(&doc) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let message = err.inner().to_string();
        let located = locate(err.path(), &doc, &message);
        // Removing a node can leave its parent invalid (an enum object with no key left, say);
        // that is a consequence of a problem already reported, not a new one.
        let absolute = at.join(&located.path);
        if !reported.iter().any(|r| r.starts_with(&located.path))
            && !problems.iter().any(|p| p.path.starts_with(&absolute))
        {
            let (message, meant) = polish(&message, &located);
            problems.push(Problem {
                path: absolute,
                on_key: located.on_key,
                message,
                // A misspelt field stands for the one suggested: that one is not missing.
                meant: meant.and_then(|m| Some(at.join(&located.path.parent()?.key(m)))),
            });
        }
        reported.push(located.path.clone());
        let target = if located.missing { located.path.parent() } else { Some(located.path) };
        match target {
            Some(t) if !t.is_root() && remove(&mut doc, &t) => {}
            _ => return None,
        }
    }
    None
}

struct Located {
    /// Path of the problem relative to the value being read.
    path: JsonPath,
    /// The problem is about the key itself (unknown field or variant).
    on_key: bool,
    /// The path names a field that is absent.
    missing: bool,
    /// The enum variant the error was about, if any.
    variant: Option<String>,
}

/// Turns serde_path_to_error's path into a path of the JSON document.
fn locate(path: &serde_path_to_error::Path, doc: &Value, message: &str) -> Located {
    use serde_path_to_error::Segment;
    let mut out = JsonPath::root();
    let mut cur = Some(doc);
    let mut variant = None;
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => {
                out = out.index(*index);
                cur = cur.and_then(|v| v.get(index));
            }
            Segment::Map { key } => {
                out = out.key(key.clone());
                cur = cur.and_then(|v| v.get(key));
            }
            // An externally tagged variant is a key only when written as an object.
            Segment::Enum { variant: name } => {
                variant = Some(name.clone());
                if let Some(next) = cur.and_then(|v| v.as_object()).and_then(|o| o.get(name)) {
                    out = out.key(name.clone());
                    cur = Some(next);
                }
            }
            Segment::Unknown => break,
        }
    }
    let first_quoted = quoted(message).into_iter().next();
    let mut on_key = message.starts_with("unknown field");
    let mut missing = false;
    if message.starts_with("unknown variant")
        && let Some(name) = &first_quoted
    {
        if out.0.last() == Some(&Seg::Key(name.clone())) {
            on_key = true;
        } else if cur.and_then(|v| v.as_object()).is_some_and(|o| o.contains_key(name)) {
            out = out.key(name.clone());
            on_key = true;
        }
    }
    if message.starts_with("missing field")
        && let Some(name) = first_quoted
    {
        out = out.key(name);
        missing = true;
    }
    Located { path: out, on_key, missing, variant }
}

/// The backtick-quoted words of a serde message, in order.
fn quoted(message: &str) -> Vec<String> {
    message.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Rewrites serde's messages where they speak Rust rather than JSON; for an unknown field,
/// also returns the known field it is most likely a typo of.
fn polish(message: &str, at: &Located) -> (String, Option<String>) {
    let words = quoted(message);
    if message.starts_with("unknown field")
        && let Some((unknown, expected)) = words.split_first()
        && let Some(s) = closest(unknown, expected)
    {
        return (format!("unknown field `{unknown}`; did you mean `{s}`?"), Some(s.to_string()));
    }
    (polish_text(message, at), None)
}

fn polish_text(message: &str, at: &Located) -> String {
    let words = quoted(message);
    if (message.starts_with("unknown field") || message.starts_with("unknown variant"))
        && let Some((unknown, expected)) = words.split_first()
    {
        let kind = if message.starts_with("unknown field") { "field" } else { "kind" };
        return match closest(unknown, expected) {
            Some(s) => format!("unknown {kind} `{unknown}`; did you mean `{s}`?"),
            None if expected.is_empty() => format!("unknown {kind} `{unknown}`; none is allowed here"),
            None => format!(
                "unknown {kind} `{unknown}`; expected {}",
                expected.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
            ),
        };
    }
    if message.contains("expected map with a single key")
        || message.contains("expected fewer elements in map")
        || message.contains("invalid type: map, expected enum")
    {
        let example = match at.path.0.last() {
            Some(Seg::Key(k)) if k == "cluster" => "{\"local\": {...}} or {\"existing\": {...}}",
            Some(Seg::Key(k)) if k == "keys" => "{\"zipf\": {...}} (or the string \"none\")",
            Some(Seg::Key(k)) if k == "message_size" => "{\"uniform\": {...}} or {\"normal\": {...}}",
            _ => "{\"env\": \"NAME\"} or {\"file\": \"/path\"}",
        };
        return format!("expected an object with exactly one key that names the kind, like {example}");
    }
    if message.starts_with("invalid type: unit variant")
        && let Some(v) = &at.variant
    {
        return format!("`{v}` needs settings: write it as {{\"{v}\": {{...}}}}");
    }
    let mut m = message.to_string();
    for (rust, json) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected an object"),
        ("floating point", "number"),
        ("invalid type: map", "invalid type: object"),
        ("invalid type: sequence", "invalid type: array"),
    ] {
        m = m.replace(rust, json);
    }
    m
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, the most
/// common typo (`nmae`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Removes the node at `path`; false when there is none.
fn remove(doc: &mut Value, path: &JsonPath) -> bool {
    let Some((last, init)) = path.0.split_last() else { return false };
    let mut cur = doc;
    for seg in init {
        let next = match seg {
            Seg::Key(k) => cur.get_mut(k),
            Seg::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match (last, cur) {
        (Seg::Key(k), Value::Object(o)) => o.remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            // No list nested inside an entry exists in the format; should one appear, a null
            // keeps the indexes of the following elements.
            a[*i] = Value::Null;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems_of<T: DeserializeOwned>(v: Value) -> (Option<T>, Vec<String>) {
        let mut p = Vec::new();
        let t = read::<T>(&v, &JsonPath::root().key("producers").index(0), &mut p);
        (t, p.iter().map(|p| format!("{}{}: {}", p.path, if p.on_key { " (key)" } else { "" }, p.message)).collect())
    }

    #[test]
    fn collects_every_problem_of_an_entry() {
        let (p, msgs) = problems_of::<RawProducer>(json!({
            "name": 5,
            "ratee": 10,
            "topic": "t",
            "message_size": {"uniform": {"min": "1KiB", "mx": 3}},
            "keys": "zipf",
            "config": {"a": [1], "b": "ok", "c": {"x": 1}},
            "acks": true
        }));
        let p = p.expect("the rest reads");
        assert_eq!(p.topic.as_deref(), Some("t"));
        assert_eq!(p.config.unwrap().len(), 1);
        assert_eq!(
            msgs,
            [
                "producers[0].acks: invalid type: boolean `true`, expected acks: \"all\", \"1\" or \"0\"",
                "producers[0].config.a: invalid type: array, expected a string, number or boolean",
                "producers[0].config.c: invalid type: object, expected a string, number or boolean",
                "producers[0].keys: `zipf` needs settings: write it as {\"zipf\": {...}}",
                "producers[0].message_size.uniform.mx (key): unknown field `mx`; did you mean `max`?",
                "producers[0].name: invalid type: integer `5`, expected a string",
                "producers[0].ratee (key): unknown field `ratee`; did you mean `rate`?",
            ]
        );
    }

    #[test]
    fn enum_objects_need_exactly_one_known_key() {
        let (_, msgs) = problems_of::<RawProducer>(json!({"message_size": {"uniform": {}, "normal": {}}}));
        assert_eq!(
            msgs,
            [
                "producers[0].message_size: expected an object with exactly one key that names the kind, like {\"uniform\": {...}} or {\"normal\": {...}}"
            ]
        );
        let (_, msgs) = problems_of::<RawProducer>(json!({"message_size": {"gauss": {}}}));
        assert_eq!(msgs, ["producers[0].message_size.gauss (key): unknown kind `gauss`; expected `uniform`, `normal`"]);
        let (_, msgs) = problems_of::<RawConsumer>(json!({"start": "middle"}));
        assert_eq!(msgs, ["producers[0].start: unknown kind `middle`; expected `earliest`, `latest`"]);
        let (_, msgs) =
            problems_of::<RawExisting>(json!({"client_config": {"sasl.password": {"vault": "x"}, "p": {"env": 3}}}));
        assert_eq!(
            msgs,
            [
                "producers[0].client_config.p.env: invalid type: integer `3`, expected a string",
                "producers[0].client_config[\"sasl.password\"].vault (key): unknown kind `vault`; expected `env`, `file`",
            ]
        );
    }

    #[test]
    fn unusable_values_give_one_problem() {
        let (p, msgs) = problems_of::<RawProducer>(json!("p1"));
        assert!(p.is_none());
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with("producers[0]: invalid type: string \"p1\", expected a producer object"),
            "{msgs:?}"
        );
    }

    #[test]
    fn lists_keep_their_indexes() {
        let doc = json!({"producers": ["x", {"name": "b", "rate": []}, ["c"], {"name": "d"}], "phases": [], "cluster": {"local": [3]}});
        let mut problems = Vec::new();
        let raw = read_scenario(&doc, &mut problems);
        assert_eq!(raw.producers.len(), 4);
        assert!(raw.producers[0].is_none());
        assert!(raw.producers[2].is_none());
        assert_eq!(raw.producers[3].as_ref().unwrap().name.as_deref(), Some("d"));
        let msgs: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
        assert_eq!(
            msgs,
            [
                "cluster.local: invalid type: array; only topics, producers, consumers and phases are lists",
                "producers[0]: invalid type: string \"x\", expected a producer object, like {\"name\": \"p\", \"topic\": \"t\", \"rate\": \"1k\"}",
                "producers[1].rate: invalid type: array; only topics, producers, consumers and phases are lists",
                "producers[2]: invalid type: array, expected a producer object",
            ]
        );
        assert_eq!(raw.phases.map(|p| p.len()), Some(0));
    }

    #[test]
    fn suggestions() {
        let c = ["name".to_string(), "topic".to_string(), "instances".to_string()];
        assert_eq!(closest("nmae", &c), Some("name"));
        assert_eq!(closest("instance", &c), Some("instances"));
        assert_eq!(closest("zzz", &c), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
