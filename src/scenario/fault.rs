//! The validated fault schedule of a scenario: what to break, when, for how long, and which
//! node, plus the safety rules of a run with faults. Built by the scenario validator; the chaos engine carries it out.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One entry of the scenario's `faults` list.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Unique within the scenario; used in the report and by checks.
    pub name: String,
    pub start: FaultStart,
    pub action: FaultAction,
    pub target: TargetSpec,
    /// The fault window: the fault is undone when it ends (kill and stop: the node is
    /// restarted then, unless `restart_after` brought it back earlier).
    pub duration: Duration,
    /// Kill and stop only: restart the node this long after the fault, inside the window.
    pub restart_after: Option<Duration>,
    /// Repeat every this long after the first start, `times` times in all.
    pub every: Option<Duration>,
    pub times: u32,
}

/// When a fault first fires.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultStart {
    /// This long after the load starts.
    At(Duration),
    /// This long after the start of the named phase.
    Phase { phase: String, offset: Duration },
}

/// What a fault does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// SIGKILL, then a restart after `restart_after` or when the window ends.
    Kill,
    /// SIGTERM (a graceful shutdown), then a restart the same way.
    Stop,
    /// SIGSTOP for the window, then SIGCONT: the zombie broker.
    Pause,
    /// A rolling restart of every node, one at a time, each waiting until every partition is
    /// fully in sync again. The target is ignored.
    Restart,
    /// Cut the node off by nftables rules inside its network namespace (`cluster up --netns`).
    Partition { peers: Peers, direction: Direction },
}

impl FaultAction {
    /// The action's name as written in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Kill => "kill",
            FaultAction::Stop => "stop",
            FaultAction::Pause => "pause",
            FaultAction::Restart => "restart",
            FaultAction::Partition { .. } => "partition",
        }
    }
}

/// Which way a cut works, seen from the partitioned node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Nothing passes either way.
    Both,
    /// The node receives nothing from the peers (it can still send to them).
    Inbound,
    /// The node sends nothing to the peers (it can still receive from them).
    Outbound,
}

/// Whom a partitioned node is cut off from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peers {
    /// The other nodes of the cluster (replication, the KRaft quorum, broker heartbeats).
    OtherNodes,
    /// The clients: the host side of the bridge, where every client on the host comes from.
    Clients,
    /// Both: the node is alone.
    All,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Both => "both ways",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        })
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peers::OtherNodes => "the other nodes",
            Peers::Clients => "the clients",
            Peers::All => "the other nodes and the clients",
        })
    }
}

/// How the node a fault hits is chosen, when the fault fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    Node(i32),
    /// A random node (seeded by the scenario's seed).
    Random,
    /// The leader of partition `partition` of `topic` at that moment.
    LeaderOf {
        topic: String,
        partition: i32,
    },
    /// The active KRaft controller (the quorum leader, not client metadata's random pick).
    Controller,
    /// The node that leads the most partitions.
    MostLeaders,
    /// Every node but one (chosen at random, seeded).
    AllButOne,
}

impl TargetSpec {
    /// How the target reads in timelines and reports.
    pub fn describe(&self) -> String {
        match self {
            TargetSpec::Node(n) => format!("node {n}"),
            TargetSpec::Random => "a random node".into(),
            TargetSpec::LeaderOf { topic, partition } => format!("the leader of {topic}/{partition}"),
            TargetSpec::Controller => "the active controller".into(),
            TargetSpec::MostLeaders => "the node leading the most partitions".into(),
            TargetSpec::AllButOne => "all nodes but one".into(),
        }
    }
}

/// Safety rules of a run with faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Safety {
    /// Stop every fault (and end the run, marked aborted) when the share of failed deliveries
    /// stays above `error_rate` for `for_` in a row.
    pub abort_on_errors: Option<ErrorRateAbort>,
    /// Refuse to inject faults into a cluster that is not healthy (a node down, a partition
    /// without a leader or with an incomplete ISR) when the first fault is due.
    pub require_healthy: bool,
}

impl Default for Safety {
    fn default() -> Safety {
        Safety { abort_on_errors: None, require_healthy: true }
    }
}

/// See [`Safety::abort_on_errors`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorRateAbort {
    /// A fraction, 0 to 1.
    pub error_rate: f64,
    pub for_: Duration,
}

/// Where a Kafka cluster that runs in Kubernetes keeps its broker pods, and how faults reach
/// them (`cluster.existing.kubernetes`).
#[derive(Debug, Clone, PartialEq)]
pub struct KubeSpec {
    /// The only namespace aftershock reads or changes.
    pub namespace: String,
    /// The kubeconfig context (`None`: the current one, or the in-cluster service account).
    pub context: Option<String>,
    /// The kubeconfig file (`None`: `$KUBECONFIG`, `~/.kube/config`, then in-cluster).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Label selector of the broker pods.
    pub selector: String,
    /// How a pod's Kafka node id is read.
    pub node_id: NodeIdRule,
    /// A label whose value names one pod, used to select a single broker in NetworkPolicies.
    pub pod_label: String,
    /// Use Chaos Mesh objects: PodChaos `pod-failure` for pause, NetworkChaos for partitions.
    pub chaos_mesh: bool,
    /// How long a deleted broker pod gets to be Ready again before the fault reports it.
    pub ready_timeout: Duration,
}

/// How the Kafka node id of a broker pod is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeIdRule {
    /// The number after the last `-` of the pod name (Strimzi: `<cluster>-<pool>-<id>`).
    NameSuffix,
    /// The value of this label.
    Label(String),
}

impl KubeSpec {
    /// Strimzi's labels for the broker pods of Kafka cluster `name`.
    pub fn strimzi_selector(name: &str) -> String {
        format!("strimzi.io/cluster={name},strimzi.io/kind=Kafka,strimzi.io/broker-role=true")
    }
}
