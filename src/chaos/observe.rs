//! What the cluster looks like right now, for choosing targets and for recovery figures:
//! partition leaders and ISRs from client metadata, and the active KRaft controller from the
//! nodes' own quorum state (client metadata in KRaft names a random broker as controller).

use std::path::Path;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cluster::{ClusterState, NodePaths};
use crate::error::{Error, Result};

/// One partition's leadership and replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub topic: String,
    pub partition: i32,
    /// -1 when there is no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A metadata snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Registered (unfenced) brokers.
    pub brokers: Vec<i32>,
    pub partitions: Vec<PartitionView>,
}

impl ClusterView {
    /// Reads the metadata of every topic.
    pub fn fetch(base: &ClientConfig, timeout: Duration) -> Result<ClusterView> {
        let c: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
        let md = c.fetch_metadata(None, timeout).map_err(Error::kafka("reading cluster metadata"))?;
        let mut brokers: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        brokers.sort_unstable();
        let partitions = md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .flat_map(|t| {
                t.partitions().iter().map(move |p| PartitionView {
                    topic: t.name().to_string(),
                    partition: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
            })
            .collect();
        Ok(ClusterView { brokers, partitions })
    }

    /// The leader of `topic`/`partition`, if it has one.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partitions
            .iter()
            .find(|p| p.topic == topic && p.partition == partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)
    }

    /// The broker leading the most partitions (lowest id on a tie).
    pub fn most_leaders(&self) -> Option<i32> {
        let mut counts = std::collections::BTreeMap::new();
        for p in self.partitions.iter().filter(|p| p.leader >= 0) {
            *counts.entry(p.leader).or_insert(0u32) += 1;
        }
        counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(id, _)| id)
    }

    /// Partitions without a leader.
    pub fn leaderless(&self) -> usize {
        self.partitions.iter().filter(|p| p.leader < 0).count()
    }

    /// Partitions whose ISR is smaller than their replica set.
    pub fn under_replicated(&self) -> usize {
        self.partitions.iter().filter(|p| p.isr.len() < p.replicas.len()).count()
    }

    /// Every partition led and fully in sync, and `expected` brokers registered.
    pub fn healthy(&self, expected: usize) -> bool {
        self.brokers.len() >= expected && self.leaderless() == 0 && self.under_replicated() == 0
    }

    /// Why [`healthy`](Self::healthy) is false, for messages.
    pub fn problems(&self, expected: usize) -> String {
        let mut out = Vec::new();
        if self.brokers.len() < expected {
            out.push(format!("{} of {expected} brokers registered", self.brokers.len()));
        }
        if self.leaderless() > 0 {
            out.push(format!("{} partitions without a leader", self.leaderless()));
        }
        if self.under_replicated() > 0 {
            out.push(format!("{} under-replicated partitions", self.under_replicated()));
        }
        out.join(", ")
    }
}

/// The active KRaft controller of a local cluster: the leader named, at the highest epoch,
/// in the nodes' `quorum-state` files (each voter writes its view on every election).
/// Dead nodes are skipped, so a just-killed leader is not reported after a newer election.
pub fn active_controller(dir: &Path, state: &ClusterState, alive: &[i32]) -> Option<i32> {
    state
        .nodes
        .iter()
        .filter(|n| alive.contains(&n.id))
        .filter_map(|n| {
            let f = NodePaths::new(dir, n.id).data.join("__cluster_metadata-0").join("quorum-state");
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()?;
            let leader = v.get("leaderId")?.as_i64()?;
            let epoch = v.get("leaderEpoch")?.as_i64()?;
            (leader >= 0).then_some((epoch, leader as i32))
        })
        .max()
        .map(|(_, leader)| leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionView {
        PartitionView { topic: topic.into(), partition, leader, replicas: replicas.to_vec(), isr: isr.to_vec() }
    }

    #[test]
    fn leaders_and_health() {
        let v = ClusterView {
            brokers: vec![1, 2, 3],
            partitions: vec![
                p("t", 0, 2, &[1, 2, 3], &[1, 2, 3]),
                p("t", 1, 3, &[1, 2, 3], &[3, 1]),
                p("t", 2, 3, &[1, 2, 3], &[3, 1, 2]),
            ],
        };
        assert_eq!(v.leader_of("t", 1), Some(3));
        assert_eq!(v.leader_of("t", 9), None);
        assert_eq!(v.most_leaders(), Some(3));
        assert_eq!(v.under_replicated(), 1);
        assert!(!v.healthy(3));
        assert!(v.problems(3).contains("1 under-replicated"));
        let led = ClusterView { brokers: vec![1, 2], partitions: vec![p("t", 0, -1, &[1, 2], &[])] };
        assert_eq!(led.leader_of("t", 0), None);
        assert!(led.problems(3).contains("2 of 3 brokers"));
        assert!(led.problems(3).contains("1 partitions without a leader"));
    }

    #[test]
    fn controller_comes_from_the_newest_quorum_state() {
        let dir = tempfile::tempdir().unwrap();
        // Built from JSON so that fields added to the state later (with defaults) need no change here.
        let node = |id: i32| serde_json::json!({"id": id, "host": "127.0.0.1", "broker_port": 1, "controller_port": 2, "pid": null});
        let state: ClusterState = serde_json::from_value(serde_json::json!({
            "version": crate::cluster::state::STATE_VERSION, "cluster_id": "x", "kafka_version": "4.4.0",
            "java": "java", "libs_dir": "/l", "heap": "1g", "created_unix_ms": 0,
            "nodes": [node(1), node(2), node(3)]
        }))
        .unwrap();
        let write = |id: i32, leader: i32, epoch: i32| {
            let d = NodePaths::new(dir.path(), id).data.join("__cluster_metadata-0");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("quorum-state"),
                format!("{{\"leaderId\":{leader},\"leaderEpoch\":{epoch},\"votedId\":-1,\"data_version\":1}}"),
            )
            .unwrap();
        };
        write(1, 1, 3);
        write(2, 2, 4);
        write(3, 2, 4);
        assert_eq!(active_controller(dir.path(), &state, &[1, 2, 3]), Some(2));
        // node 2 died and 1 won the next election
        write(1, 1, 5);
        assert_eq!(active_controller(dir.path(), &state, &[1, 3]), Some(1));
        assert_eq!(active_controller(dir.path(), &state, &[]), None);
    }
}
