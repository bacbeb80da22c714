//! `topics`: each topic's name, partitions, replication and settings; that producers and
//! consumers use declared topics; and that acks=all writes can succeed on each topic.

use std::collections::BTreeMap;

use super::cluster::local_defaults;
use crate::scenario::checker::{Checker, Context};
use crate::scenario::file::{RawScenario, RawTopic, closest};
use crate::scenario::model::{Acks, ClusterTarget, ProducerSpec, TopicSpec};
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    pub(super) fn topic(&mut self, t: &RawTopic, at: &JsonPath, cx: &Context) -> Option<TopicSpec> {
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

    /// Producers and consumers may only use topics declared in `topics`.
    pub(super) fn topic_references(
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
                let hint = closest(topic, &declared.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
    pub(super) fn replication_for_acks_all(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(kafka_topic_name("orders.v1_x-y").is_ok());
        assert!(kafka_topic_name("").is_err());
        assert!(kafka_topic_name("..").is_err());
        assert!(kafka_topic_name("a b").is_err());
        assert!(kafka_topic_name(&"x".repeat(250)).is_err());
    }
}
