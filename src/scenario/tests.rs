//! End-to-end tests of parsing and validation on in-memory scenario texts, and a check that
//! the shipped JSON Schema names exactly the fields the reader accepts.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use super::file::{
    RawCluster, RawConsumer, RawExisting, RawKeyCount, RawKeys, RawKubernetes, RawLocal, RawNormal, RawPhase,
    RawProducer, RawSecretRef, RawSizeDist, RawTop, RawTopic, RawUniform, RawZipf,
};
use super::*;

const MINIMAL: &str = r#"{
  "name": "mini",
  "cluster": {"local": {}},
  "topics": [{"name": "t", "partitions": 3}],
  "producers": [{"name": "p", "topic": "t", "rate": 100}],
  "consumers": [{"name": "c", "topic": "t"}],
  "phases": [{"name": "warmup", "duration": "5s"}, {"name": "steady", "duration": "20s"}]
}"#;

fn errors(text: &str) -> Vec<String> {
    parse_str(text, "f.json").unwrap_err().iter().map(|d| d.to_string()).collect()
}

#[test]
fn fills_in_every_default() {
    let s = parse_str(MINIMAL, "mini.json").unwrap();
    assert_eq!(s.seed, 1);
    assert_eq!(s.drain, Duration::from_secs(10));
    assert_eq!(
        s.cluster,
        ClusterTarget::Local {
            nodes: 3,
            kafka_version: None,
            broker_config: Default::default(),
            netns: false,
            subnet: None
        }
    );
    assert_eq!(
        s.topics[0],
        TopicSpec { name: "t".into(), partitions: 3, replication_factor: 3, config: Default::default(), reuse: false }
    );
    let p = &s.producers[0];
    assert_eq!(p.instances, 1);
    assert_eq!(p.rate, Rate::PerSec(100.0));
    assert_eq!(p.ramp, Duration::ZERO);
    assert_eq!(p.message_size, SizeDist::Fixed(1024));
    assert_eq!(p.keys, KeyDist::None);
    assert_eq!(p.acks, Acks::All);
    assert!(p.idempotence);
    assert_eq!(p.compression, "none");
    assert_eq!(p.linger, Duration::from_millis(5));
    assert_eq!(p.batch_size, 64 * 1024);
    assert!(p.config.is_empty());
    let c = &s.consumers[0];
    assert_eq!(c.group, "aftershock-mini-c");
    assert_eq!(c.instances, 1);
    assert_eq!(c.start, StartFrom::Earliest);
    assert_eq!(s.phases[0], Phase { name: "warmup".into(), duration: Duration::from_secs(5), measured: false });
    assert!(s.phases[1].measured);
    assert_eq!(s.source, None);
    assert_eq!(s.raw["name"], "mini");
}

#[test]
fn scenario_helpers() {
    let s = parse_str(MINIMAL, "mini.json").unwrap();
    assert_eq!(s.total_duration(), Duration::from_secs(25));
    assert_eq!(s.measured_duration(), Duration::from_secs(20));
    assert_eq!(s.measured_phases().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["steady"]);
    assert_eq!(s.phase_at(Duration::from_secs(4)).unwrap().name, "warmup");
    assert_eq!(s.phase_at(Duration::from_secs(5)).unwrap().name, "steady");
    assert!(s.phase_at(Duration::from_secs(25)).is_none());
    assert_eq!(s.phase_schedule()[1].0, Duration::from_secs(5));
    assert!(s.topic("t").is_some());
    use rand::Rng as _;
    let a: u64 = s.rng("producer/p", 0).random();
    assert_eq!(a, s.rng("producer/p", 0).random::<u64>());
    assert_ne!(a, s.rng("producer/p", 1).random::<u64>());
    let p = s.producers[0].librdkafka_config();
    assert_eq!(p["acks"], "all");
    assert_eq!(p["enable.idempotence"], "true");
    assert_eq!(p["linger.ms"], "5");
    assert_eq!(p["batch.size"], "65536");
    assert_eq!(p["compression.type"], "none");
    let c = s.consumers[0].librdkafka_config();
    assert_eq!(c["group.id"], "aftershock-mini-c");
    assert_eq!(c["auto.offset.reset"], "earliest");
}

#[test]
fn idempotence_follows_acks_unless_given() {
    let text = MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "acks": -1"#);
    assert!(parse_str(&text, "f").unwrap().producers[0].idempotence);
    let text = MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "acks": "1""#);
    let p = &parse_str(&text, "f").unwrap().producers[0];
    assert_eq!((p.acks, p.idempotence), (Acks::Leader, false));
    let text = MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "acks": 0, "idempotence": true"#);
    assert_eq!(
        errors(&text),
        [
            "f.json:5:84: producers[0].idempotence: idempotence needs acks \"all\", but acks is \"0\": set acks to \"all\" or idempotence to false"
        ]
    );
}

#[test]
fn existing_clusters_keep_secret_references() {
    let text = r#"{
      "name": "x",
      "cluster": {"existing": {"bootstrap": "k1:9093,k2:9093", "client_config": {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": {"env": "KAFKA_USER"},
        "sasl.password": {"file": "/run/secrets/kafka"}, "socket.timeout.ms": 30000}}},
      "topics": [{"name": "existing-topic", "partitions": 12, "replication_factor": 3, "reuse": true}],
      "consumers": [{"name": "c", "topic": "existing-topic", "start": "latest"}],
      "phases": [{"name": "steady", "duration": "1m"}]
    }"#;
    let s = parse_str(text, "f").unwrap();
    let ClusterTarget::Existing { bootstrap, client_config, .. } = &s.cluster else { panic!("not existing") };
    assert_eq!(bootstrap, "k1:9093,k2:9093");
    assert_eq!(client_config["sasl.username"], ConfigValue::Env("KAFKA_USER".into()));
    assert_eq!(client_config["sasl.password"], ConfigValue::File("/run/secrets/kafka".into()));
    assert_eq!(client_config["socket.timeout.ms"], ConfigValue::Plain("30000".into()));
    assert!(s.topics[0].reuse);
    assert_eq!(s.consumers[0].start, StartFrom::Latest);
    assert!(s.producers.is_empty());
}

fn kube_scenario(kubernetes: &str, faults: &str) -> String {
    format!(
        r#"{{
      "name": "k",
      "cluster": {{"existing": {{"bootstrap": "b:9092", "kubernetes": {kubernetes}}}}},
      "topics": [{{"name": "t", "partitions": 3, "replication_factor": 3}}],
      "producers": [{{"name": "p", "topic": "t", "rate": 10}}],
      "phases": [{{"name": "steady", "duration": "1m"}}],
      "faults": {faults}
    }}"#
    )
}

/// Strimzi numbers its nodes from 0 (`<cluster>-<pool>-0`); a local cluster from 1.
#[test]
fn node_zero_is_a_target_on_existing_clusters_only() {
    let kill0 = r#"[{"name": "k", "at": "5s", "action": "kill", "target": {"node": 0}, "duration": "30s"}]"#;
    assert!(parse_str(&kube_scenario(r#"{"namespace": "kafka", "strimzi_cluster": "demo"}"#, kill0), "f").is_ok());
    let minus = kill0.replace("\"node\": 0", "\"node\": -1");
    let e = errors(&kube_scenario(r#"{"namespace": "kafka", "strimzi_cluster": "demo"}"#, &minus)).join("\n");
    assert!(e.contains("faults[0].target.node: a node id: a whole number from 0"), "{e}");
    let local = r#"{"name": "l", "cluster": {"local": {"nodes": 3, "netns": true}},
        "topics": [{"name": "t", "partitions": 3}], "producers": [{"name": "p", "topic": "t", "rate": 10}],
        "phases": [{"name": "steady", "duration": "1m"}],
        "faults": [{"name": "k", "at": "5s", "action": "kill", "target": {"node": 0}, "duration": "30s"}]}"#;
    let e = errors(local).join("\n");
    assert!(e.contains("faults[0].target.node: node 0 does not exist: the local cluster has nodes 1 to 3"), "{e}");
}

#[test]
fn kubernetes_settings_default_to_strimzi_and_fit_the_faults() {
    let kill = r#"[{"name": "k", "at": "5s", "action": "kill", "target": {"leader_of": {"topic": "t", "partition": 0}}, "duration": "30s"}]"#;
    let s = parse_str(&kube_scenario(r#"{"namespace": "kafka", "strimzi_cluster": "demo"}"#, kill), "f").unwrap();
    let ClusterTarget::Existing { kubernetes: Some(k), .. } = &s.cluster else { panic!("no kubernetes") };
    assert_eq!(k.selector, "strimzi.io/cluster=demo,strimzi.io/kind=Kafka,strimzi.io/broker-role=true");
    assert_eq!(
        (k.node_id.clone(), k.pod_label.as_str(), k.chaos_mesh),
        (crate::scenario::fault::NodeIdRule::NameSuffix, "strimzi.io/pod-name", false)
    );
    let s = parse_str(
        &kube_scenario(
            r#"{"namespace": "kafka", "selector": "app=kafka,role in (broker)", "node_id": {"label": "kafka/id"}}"#,
            kill,
        ),
        "f",
    )
    .unwrap();
    let ClusterTarget::Existing { kubernetes: Some(k), .. } = &s.cluster else { panic!("no kubernetes") };
    assert_eq!(k.node_id, crate::scenario::fault::NodeIdRule::Label("kafka/id".into()));
    assert_eq!(k.pod_label, "statefulset.kubernetes.io/pod-name");

    let bad = kube_scenario(
        r#"{"namespace": "Kafka_NS", "strimzi_cluster": "a", "selector": "app=kafka", "node_id": "ordinal"}"#,
        r#"[{"name": "p", "at": "5s", "action": "pause", "target": {"node": 1}, "duration": "5s"},
            {"name": "k", "at": "15s", "action": "kill", "target": {"node": 1}, "duration": "5s", "restart_after": "2s"}]"#,
    );
    let e = errors(&bad).join("\n");
    for want in [
        "cluster.existing.kubernetes.namespace: \"Kafka_NS\" is not a namespace name",
        "cluster.existing.kubernetes.selector: give either `strimzi_cluster`",
        "cluster.existing.kubernetes.node_id: expected \"name_suffix\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    let faults_only = kube_scenario(
        r#"{"namespace": "kafka", "strimzi_cluster": "a"}"#,
        r#"[{"name": "p", "at": "5s", "action": "pause", "target": {"node": 1}, "duration": "5s"},
            {"name": "k", "at": "15s", "action": "kill", "target": {"node": 1}, "duration": "5s", "restart_after": "2s"}]"#,
    );
    let e = errors(&faults_only).join("\n");
    let bad_selector = kube_scenario(r#"{"namespace": "kafka", "selector": "app = kafka=x"}"#, "[]");
    assert!(errors(&bad_selector).join("\n").contains("cluster.existing.kubernetes.selector: `app = kafka=x`"));
    for want in [
        "faults[0].action: pause on Kubernetes uses Chaos Mesh",
        "faults[1].restart_after: on Kubernetes the pod's controller recreates",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    let missing = kube_scenario(r#"{"namespace": "kafka"}"#, "[]");
    assert!(
        errors(&missing).join("\n").contains("required field missing: how to find the broker pods"),
        "{:?}",
        errors(&missing)
    );
}

#[test]
fn reports_every_problem_with_its_position() {
    let text = r#"{
  "name": "x",
  "cluster": {"local": {"nodes": 2}},
  "topics": [{"name": "t", "partitions": 3, "replication_factor": 3}],
  "producers": [
    {"name": "p", "topic": "t", "rate": "-5", "message_size": "8B"},
    {"name": "q", "topic": "u", "rate": "1k", "keys": {"zipf": {"count": 10, "exponent": 0}}}
  ],
  "phases": [{"name": "steady", "duration": "0s"}]
}"#;
    assert_eq!(
        errors(text),
        [
            "f.json:4:67: topics[0].replication_factor: replication_factor 3 is above the local cluster's 2 nodes",
            "f.json:6:41: producers[0].rate: `-5`: a rate must be above 0 messages per second, got -5; use \"max\" for a closed loop",
            "f.json:6:63: producers[0].message_size: message size 8B is out of range: it must be between 32B and 16MiB",
            "f.json:7:28: producers[1].topic: topic \"u\" is not declared in topics: add it there (with \"reuse\": true to use a topic that already exists on the cluster); did you mean \"t\"?",
            "f.json:7:90: producers[1].keys.zipf.exponent: exponent must be above 0, got 0",
            "f.json:9:45: phases[0].duration: a phase must be longer than 0s",
        ]
    );
}

#[test]
fn syntax_errors_carry_serde_json_positions() {
    assert_eq!(errors("{\n  \"name\": \"x\",\n}"), ["f.json:3:1: $: invalid JSON: trailing comma"]);
    assert_eq!(errors(""), ["f.json:1:1: $: invalid JSON: EOF while parsing a value"]);
}

#[test]
fn a_dropped_field_gets_no_default_and_no_second_report() {
    // nodes is bad: the replication factor cannot be compared to a default of 3.
    let text = MINIMAL
        .replace(r#""cluster": {"local": {}}"#, r#""cluster": {"local": {"nodes": "5"}}"#)
        .replace(r#"{"name": "t", "partitions": 3}"#, r#"{"name": "t", "partitions": 3, "replication_factor": 5}"#);
    assert_eq!(errors(&text), ["f.json:3:34: cluster.local.nodes: invalid type: string \"5\", expected an integer"]);
    // A misspelt field is not also reported missing.
    let text = MINIMAL.replace(r#""rate": 100"#, r#""rat": 100"#);
    assert_eq!(errors(&text), ["f.json:5:45: producers[0].rat: unknown field `rat`; did you mean `rate`?"]);
    // A topic whose name is bad leaves references unchecked rather than wrong.
    let text = MINIMAL.replace(r#"{"name": "t","#, r#"{"name": 7,"#);
    assert_eq!(errors(&text), ["f.json:4:23: topics[0].name: invalid type: integer `7`, expected a string"]);
}

#[test]
fn duplicate_keys_are_problems() {
    let text = MINIMAL.replace(r#""name": "mini","#, r#""name": "mini", "name": "again","#);
    assert_eq!(
        errors(&text),
        ["f.json:2:19: name: duplicate key: it already appears in this object, and only one value can count"]
    );
}

#[test]
fn unreadable_files_are_one_problem() {
    let e = load(std::path::Path::new("/nonexistent/aftershock/x.json")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e.to_string().starts_with("/nonexistent/aftershock/x.json:1:1: $: cannot read the file"), "{e}");
}

#[test]
fn bytes_that_are_not_utf8_are_one_problem() {
    let e = parse_bytes(b"{\"name\": \"\xff\"}", "b.json").unwrap_err();
    assert_eq!(e.to_string(), "b.json:1:1: $: the file is not UTF-8 text");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    std::fs::write(&path, b"\xfe\xff").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.to_string(), format!("{}:1:1: $: the file is not UTF-8 text", path.display()));
    let ok = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.json")).unwrap();
    assert_eq!(parse_bytes(&ok, "q.json").unwrap().name, "quickstart");
}

#[test]
fn shipped_scenarios_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let s = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.source.as_deref(), Some(path.as_path()));
            n += 1;
        }
    }
    assert!(n >= 5);
    let q = load(&dir.join("quickstart.json")).unwrap();
    assert!(q.total_duration() + q.drain <= Duration::from_secs(50), "quickstart stays short");
}

/// A deserializer that only records the field (or variant) names a type asks for.
struct Names<'a>(&'a mut Vec<&'static str>);

impl<'de> Deserializer<'de> for Names<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("names only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend(fields);
        Err(de::Error::custom("names only"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend(variants);
        Err(de::Error::custom("names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn names<T: DeserializeOwned>() -> BTreeSet<String> {
    let mut v = Vec::new();
    let _ = T::deserialize(Names(&mut v));
    v.into_iter().map(String::from).collect()
}

fn schema_keys(schema: &serde_json::Value, pointer: &str) -> BTreeSet<String> {
    let node = schema.pointer(pointer).unwrap_or_else(|| panic!("no {pointer} in the schema"));
    node.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn schema_names_exactly_the_fields_the_reader_accepts() {
    let schema: serde_json::Value = serde_json::from_str(include_str!("../../schemas/scenario.schema.json")).unwrap();
    let size_dist = "/$defs/producer/properties/message_size/anyOf/1/properties";
    let keys = "/$defs/producer/properties/keys/anyOf/1/properties";
    let checks: Vec<(BTreeSet<String>, String)> = vec![
        (names::<RawTop>(), "/properties".to_string()),
        (names::<RawCluster>(), "/$defs/cluster/properties".to_string()),
        (names::<RawLocal>(), "/$defs/local/properties".to_string()),
        (names::<RawExisting>(), "/$defs/existing/properties".to_string()),
        (names::<RawKubernetes>(), "/$defs/kubernetes/properties".to_string()),
        (names::<RawTopic>(), "/$defs/topic/properties".to_string()),
        (names::<RawProducer>(), "/$defs/producer/properties".to_string()),
        (names::<RawSizeDist>(), size_dist.to_string()),
        (names::<RawUniform>(), format!("{size_dist}/uniform/properties")),
        (names::<RawNormal>(), format!("{size_dist}/normal/properties")),
        (names::<RawKeyCount>(), "/$defs/keyCount/properties".to_string()),
        (names::<RawZipf>(), format!("{keys}/zipf/properties")),
        (names::<RawConsumer>(), "/$defs/consumer/properties".to_string()),
        (names::<RawPhase>(), "/$defs/phase/properties".to_string()),
        (names::<super::file::RawCheck>(), "/$defs/check/properties".to_string()),
        (names::<super::file::RawCapacity>(), "/$defs/capacity/properties".to_string()),
        (names::<super::file::RawStep>(), "/$defs/capacity/properties/step/properties".to_string()),
        (names::<super::file::RawSustain>(), "/$defs/capacity/properties/sustain/properties".to_string()),
    ];
    for (fields, pointer) in checks {
        assert!(!fields.is_empty(), "{pointer}");
        assert_eq!(fields, schema_keys(&schema, &pointer), "{pointer}");
    }
    // Enum kinds written as object keys, plus the bare "none" of keys.
    let mut key_kinds = names::<RawKeys>();
    key_kinds.remove("none");
    assert_eq!(key_kinds, schema_keys(&schema, keys));
    assert_eq!(names::<RawSecretRef>(), BTreeSet::from(["env".to_string(), "file".to_string()]));
}

#[test]
fn replication_defaults_come_from_the_local_cluster() {
    let one = MINIMAL.replace(r#""cluster": {"local": {}}"#, r#""cluster": {"local": {"nodes": 1}}"#);
    assert_eq!(parse_str(&one, "f").unwrap().topics[0].replication_factor, 1);
    let two = MINIMAL.replace(
        r#""cluster": {"local": {}}"#,
        r#""cluster": {"local": {"broker_config": {"default.replication.factor": 2}}}"#,
    );
    assert_eq!(parse_str(&two, "f").unwrap().topics[0].replication_factor, 2);
    let too_many = MINIMAL.replace(
        r#""cluster": {"local": {}}"#,
        r#""cluster": {"local": {"nodes": 1, "broker_config": {"default.replication.factor": 2}}}"#,
    );
    assert_eq!(
        errors(&too_many),
        [
            "f.json:3:85: cluster.local.broker_config[\"default.replication.factor\"]: default.replication.factor 2 is above the cluster's 1 node"
        ]
    );
    let reserved = MINIMAL
        .replace(r#""cluster": {"local": {}}"#, r#""cluster": {"local": {"broker_config": {"listeners": "x"}}}"#);
    assert!(errors(&reserved)[0].contains("`listeners` is set by aftershock"));
}

#[test]
fn topics_need_partitions_and_on_existing_clusters_a_replication_factor() {
    let text = MINIMAL
        .replace(r#""cluster": {"local": {}}"#, r#""cluster": {"existing": {"bootstrap": "k:9092"}}"#)
        .replace(r#"{"name": "t", "partitions": 3}"#, r#"{"name": "t"}"#);
    assert_eq!(
        errors(&text),
        [
            "f.json:4:14: topics[0].partitions: required field missing: the number of partitions, like 6",
            "f.json:4:14: topics[0].replication_factor: required field missing: the replication factor, like 3 (only a local cluster has a default)",
        ]
    );
}

#[test]
fn producers_settings_are_checked_against_each_other() {
    let big = MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "message_size": "2MiB""#);
    assert!(errors(&big)[0].contains("above librdkafka's message.max.bytes (1000000)"));
    let raised = MINIMAL
        .replace(r#""rate": 100"#, r#""rate": 100, "message_size": "2MiB", "config": {"message.max.bytes": 4000000}"#);
    assert!(parse_str(&raised, "f").is_ok());
    let inflight =
        MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "config": {"max.in.flight.requests.per.connection": 10}"#);
    assert!(errors(&inflight)[0].contains("above 5, which idempotence allows"));
    let long_ramp = MINIMAL.replace(r#""rate": 100"#, r#""rate": 100, "ramp": "1m""#);
    assert!(errors(&long_ramp)[0].contains("ramp 1m is longer than the whole run (25s)"));
    let low_isr = MINIMAL
        .replace(r#"{"name": "t", "partitions": 3}"#, r#"{"name": "t", "partitions": 3, "replication_factor": 1}"#);
    assert!(errors(&low_isr)[0].contains("replication factor 1 is below min.insync.replicas 2"));
    let acks1 = low_isr.replace(r#""rate": 100"#, r#""rate": 100, "acks": 1"#);
    assert!(parse_str(&acks1, "f").is_ok(), "acks=1 does not need min.insync.replicas");
}

#[test]
fn the_documented_example_is_valid() {
    let doc = include_str!("../../docs/scenarios.md");
    let example = doc
        .split("## Worked example")
        .nth(1)
        .and_then(|s| s.split("```json").nth(1))
        .and_then(|s| s.split("```").next());
    let s = parse_str(example.expect("a json block after ## Worked example"), "docs/scenarios.md")
        .unwrap_or_else(|e| panic!("{e}"));
    // What the document says the defaults come to.
    let p = &s.producers[0];
    assert_eq!(p.rate.per_instance(p.instances), Rate::PerSec(2500.0));
    assert_eq!(p.message_size, SizeDist::Normal { mean: 1024, stddev: 256, min: 32, max: 2048 });
    assert!(p.idempotence && p.acks == Acks::All && p.batch_size == 65536);
    assert_eq!(s.topics[0].replication_factor, 3);
    assert_eq!(s.consumers[0].group, "aftershock-orders-hot-keys-billing");
    assert_eq!(s.consumers[1].start, StartFrom::Latest);
    assert_eq!(s.total_duration(), Duration::from_secs(145));
    assert_eq!(s.measured_duration(), Duration::from_secs(120));
}

/// Every node of `v` with its path.
fn nodes(v: &serde_json::Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        serde_json::Value::Object(o) => {
            o.iter().for_each(|(k, x)| nodes(x, [at.clone(), vec![k.clone()]].concat(), out))
        }
        serde_json::Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, x)| nodes(x, [at.clone(), vec![i.to_string()]].concat(), out))
        }
        _ => {}
    }
}

fn pointer(path: &[String]) -> String {
    path.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect()
}

#[test]
fn any_value_anywhere_gives_located_problems_and_never_a_panic() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/producer-options.json"),
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut paths = Vec::new();
    nodes(&doc, Vec::new(), &mut paths);
    let replacements = [
        serde_json::json!(null),
        serde_json::json!(-1),
        serde_json::json!(0),
        serde_json::json!(1.5),
        serde_json::json!("x"),
        serde_json::json!(""),
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!({"zzz": 1}),
    ];
    let mut refused = 0;
    for path in &paths {
        for r in &replacements {
            let mut d = doc.clone();
            match d.pointer_mut(&pointer(path)) {
                Some(slot) => *slot = r.clone(),
                None => continue,
            }
            let mangled = serde_json::to_string_pretty(&d).unwrap();
            if let Err(diags) = parse_str(&mangled, "m.json") {
                refused += 1;
                assert!(!diags.is_empty());
                for diag in diags.iter() {
                    assert!(diag.line >= 1 && diag.column >= 1, "{diag}");
                    assert!(!diag.message.contains("internal error"), "{}: {diag}\n{mangled}", pointer(path));
                }
            }
        }
    }
    assert!(refused > paths.len() * 5, "most mangled files are refused ({refused})");
}

#[test]
fn mangled_text_never_panics() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/consumer-options.json"),
    )
    .unwrap();
    let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(11).collect();
    for i in cuts {
        for insert in ["", "\"", "{", "]", ",", "1e999", "\u{2603}"] {
            let mangled = format!("{}{insert}{}", &text[..i], &text[i..].chars().skip(1).collect::<String>());
            if let Err(diags) = parse_str(&mangled, "m.json") {
                assert!(
                    diags.iter().all(|d| d.line >= 1 && d.column >= 1 && !d.message.contains("internal error")),
                    "{diags}"
                );
            }
        }
    }
}

#[test]
fn a_broken_topic_list_does_not_make_references_wrong() {
    let text = MINIMAL.replace(r#""topics": [{"name": "t", "partitions": 3}]"#, r#""topics": {"name": "t"}"#);
    assert_eq!(errors(&text), ["f.json:4:13: topics: invalid type: object, expected an array"]);
}

const CAPACITY: &str = r#"{
  "name": "cap",
  "cluster": {"local": {"nodes": 3}},
  "topics": [{"name": "t", "partitions": 3}],
  "producers": [{"name": "p", "topic": "t"}, {"name": "q", "topic": "t", "rate": 3}],
  "consumers": [{"name": "c", "topic": "t"}],
  "capacity": {"start": "1k", "sustain": {"produce_p99": "50ms"}}
}"#;

#[test]
fn a_capacity_search_needs_no_phases_and_fills_in_defaults() {
    use super::capacity::{NodeDown, StepRule, defaults};
    let s = parse_str(CAPACITY, "cap.json").unwrap();
    assert!(s.phases.is_empty());
    // Rates left out are weights of 1; given ones are weights too.
    assert_eq!(s.producers[0].rate, Rate::PerSec(1.0));
    assert_eq!(s.producers[1].rate, Rate::PerSec(3.0));
    let c = s.capacity.unwrap();
    assert_eq!(c.start, 1000.0);
    assert_eq!(c.step, StepRule::Multiply(defaults::MULTIPLY));
    assert_eq!((c.warmup, c.duration, c.settle), (defaults::WARMUP, defaults::DURATION, defaults::SETTLE));
    assert_eq!(c.initial_warmup, defaults::INITIAL_WARMUP);
    assert_eq!((c.max_rate, c.max_steps, c.refine, c.require), (None, defaults::MAX_STEPS, defaults::REFINE, None));
    assert_eq!(c.node_down, NodeDown::No);
    assert_eq!(c.sustain.produce_p99, Some(Duration::from_millis(50)));
    assert_eq!(c.sustain.e2e_p99, None);
    assert_eq!(c.sustain.min_achieved, defaults::MIN_ACHIEVED);
    assert_eq!(c.sustain.max_error_rate, defaults::MAX_ERROR_RATE);
    // With a consumer of the produced topic, lag is judged by default.
    assert_eq!(c.sustain.max_lag_growth, Some(defaults::MAX_LAG_GROWTH));

    let full = CAPACITY.replace(
        r#""capacity": {"start": "1k", "sustain": {"produce_p99": "50ms"}}"#,
        r#""capacity": {"start": 500, "step": {"add": "2.5k"}, "warmup": "0s", "initial_warmup": "7s", "duration": "4s", "settle": "3s",
            "max_rate": "20k", "max_steps": 9, "refine": 0, "node_down": 2, "require": "1k",
            "sustain": {"e2e_p99": "1s", "min_achieved": 0.9, "max_error_rate": "1%", "max_lag_growth": false}}"#,
    );
    let c = parse_str(&full, "cap.json").unwrap().capacity.unwrap();
    assert_eq!(c.step, StepRule::Add(2500.0));
    assert_eq!(c.initial_warmup, Duration::from_secs(7));
    assert_eq!(c.step.next(500.0), 3000.0);
    assert_eq!((c.warmup, c.duration, c.settle), (Duration::ZERO, Duration::from_secs(4), Duration::from_secs(3)));
    assert_eq!((c.max_rate, c.max_steps, c.refine, c.require), (Some(20_000.0), 9, 0, Some(1000.0)));
    assert_eq!(c.node_down, NodeDown::Node(2));
    assert_eq!((c.sustain.produce_p99, c.sustain.e2e_p99), (None, Some(Duration::from_secs(1))));
    assert_eq!((c.sustain.min_achieved, c.sustain.max_error_rate, c.sustain.max_lag_growth), (0.9, 0.01, None));
    let auto = CAPACITY.replace(r#""start": "1k","#, r#""start": "1k", "node_down": true,"#);
    assert_eq!(parse_str(&auto, "cap.json").unwrap().capacity.unwrap().node_down, NodeDown::Auto);
}

#[test]
fn capacity_problems_are_located() {
    let bad = CAPACITY.replace(
        r#""capacity": {"start": "1k", "sustain": {"produce_p99": "50ms"}}"#,
        r#""capacity": {"start": "max", "step": {"multiply": 1}, "duration": "2.5s", "max_steps": 0,
            "node_down": 4, "sustain": {"min_achieved": "0%", "max_lag_growth": "soon"}}"#,
    );
    let e = errors(&bad);
    let has = |needle: &str| assert!(e.iter().any(|l| l.contains(needle)), "no {needle:?} in {e:#?}");
    has("f.json:7:25: capacity.start: \"max\" is not a target rate here");
    has("capacity.step.multiply: 1 is not a growth factor");
    has("capacity.duration: `2.5s` is not a whole number of seconds");
    has("capacity.max_steps: max_steps 0 is out of range");
    has("capacity.node_down: the local cluster has nodes 1 to 3, not 4");
    has("capacity.sustain: a latency bound is needed");
    has("capacity.sustain.min_achieved: min_achieved must be above 0%");
    has("capacity.sustain.max_lag_growth: `soon` is not a duration");
    // Without phases, a producer may not be closed-loop, and faults and checks have no run.
    let max = CAPACITY
        .replace(r#""rate": 3"#, r#""rate": "max""#)
        .replace(r#""consumers""#, r#""checks": [{"metric": "lost", "max": 0}], "consumers""#);
    let e = errors(&max);
    assert!(e.iter().any(|l| l.contains("producers[1].rate: a capacity search steps the rate itself")), "{e:#?}");
    assert!(e.iter().any(|l| l.contains("checks: checks belong to `aftershock run`")), "{e:#?}");
    // Without capacity, phases and rates are required as before.
    let plain = CAPACITY.replace(r#","capacity": {"start": "1k", "sustain": {"produce_p99": "50ms"}}"#, "");
    let plain = plain.replace(
        r#",
  "capacity": {"start": "1k", "sustain": {"produce_p99": "50ms"}}"#,
        "",
    );
    let e = errors(&plain);
    assert!(e.iter().any(|l| l.contains("producers[0].rate: required field missing")), "{e:#?}");
    assert!(e.iter().any(|l| l.contains("phases: required field missing")), "{e:#?}");
    // An existing cluster cannot have a node taken down, and e2e needs a consumer.
    let existing = CAPACITY
        .replace(r#"{"local": {"nodes": 3}}"#, r#"{"existing": {"bootstrap": "h:9092"}}"#)
        .replace(r#""partitions": 3}"#, r#""partitions": 3, "replication_factor": 1}"#)
        .replace(r#""start": "1k","#, r#""start": "1k", "node_down": true,"#)
        .replace(r#"{"produce_p99": "50ms"}"#, r#"{"e2e_p99": "50ms"}"#)
        .replace(r#""consumers": [{"name": "c", "topic": "t"}],"#, "");
    let e = errors(&existing);
    assert!(
        e.iter().any(|l| l.contains("capacity.node_down: taking a node down needs a cluster aftershock started")),
        "{e:#?}"
    );
    assert!(e.iter().any(|l| l.contains("capacity.sustain.e2e_p99: an end-to-end bound needs a consumer")), "{e:#?}");
}

#[test]
fn a_running_cluster_without_dir_is_left_to_whoever_connects() {
    // Validation reads no environment: the default dir ($AFTERSHOCK_CLUSTER_DIR or the state
    // dir) is resolved by the runner, not here.
    let text = MINIMAL
        .replace(r#"{"local": {}}"#, r#"{"running": {}}"#)
        .replace(r#""partitions": 3}"#, r#""partitions": 3, "replication_factor": 1}"#);
    assert_eq!(parse_str(&text, "f.json").unwrap().cluster, ClusterTarget::Running { dir: None });
    let text = text.replace(r#"{"running": {}}"#, r#"{"running": {"dir": "/tmp/c"}}"#);
    assert_eq!(
        parse_str(&text, "f.json").unwrap().cluster,
        ClusterTarget::Running { dir: Some(std::path::PathBuf::from("/tmp/c")) }
    );
}

/// Durations past any real run are refused where they are written, not summed into an
/// overflow (two phases of u64::MAX seconds panicked `validate`).
#[test]
fn absurd_durations_are_errors_not_overflows() {
    let text = r#"{"name": "huge", "cluster": {"local": {"nodes": 3}}, "topics": [{"name": "t", "partitions": 1}],
 "producers": [{"name": "p", "topic": "t", "rate": 10}],
 "phases": [{"name": "a", "duration": "18446744073709551615s"}, {"name": "b", "duration": "18446744073709551615s"}]}"#;
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().all(|m| m.contains("longer than the longest duration aftershock takes")), "{e:?}");
}
