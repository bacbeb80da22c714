//! `cluster`: a local cluster aftershock starts, one it started earlier (`running`), or an
//! existing one (possibly in Kubernetes), and the replication defaults a local cluster gives
//! topics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::settings::{is_secret_key, librdkafka_check, reserved_client_key};
use crate::scenario::checker::Checker;
use crate::scenario::defaults;
use crate::scenario::fault::{KubeSpec, NodeIdRule};
use crate::scenario::file::{RawCluster, RawConfigValue, RawExisting, RawKubernetes, RawLocal, RawSecretRef};
use crate::scenario::model::{ClusterTarget, ConfigValue};
use crate::scenario::position::JsonPath;

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

impl Checker<'_> {
    /// The `cluster` section, required.
    pub(super) fn cluster_section(&mut self, raw: Option<&RawCluster>, at: &JsonPath) -> Option<ClusterTarget> {
        match raw {
            Some(cl) => self.cluster(cl, at),
            None => {
                self.missing(
                    at.clone(),
                    "the cluster to test: {\"local\": {\"nodes\": 3}} or {\"existing\": {\"bootstrap\": \"host:9092\"}}",
                );
                None
            }
        }
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
}

/// The replication factor and min.insync.replicas a local cluster gives topics by default:
/// aftershock's (see `cluster::props::replication_defaults`) unless `broker_config` sets them.
pub(super) fn local_defaults(nodes: usize, broker_config: &BTreeMap<String, String>) -> (i64, i64) {
    let (rf, isr) = crate::cluster::props::replication_defaults(nodes);
    let get = |k: &str, d: usize| {
        broker_config.get(k).and_then(|v| v.trim().parse::<i64>().ok()).filter(|v| *v >= 1).unwrap_or(d as i64)
    };
    (get("default.replication.factor", rf), get("min.insync.replicas", isr))
}

pub(super) fn local_default_rf(nodes: usize, broker_config: &BTreeMap<String, String>) -> i32 {
    i32::try_from(local_defaults(nodes, broker_config).0).unwrap_or(i32::MAX)
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
