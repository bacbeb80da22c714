//! `faults`: when each fault starts, what it does to which node, its window and repeats, and
//! whether the cluster's fault backend (local processes or Kubernetes pods) can inject it.

use std::time::Duration;

use serde_json::Value;

use crate::scenario::checker::{Checker, entries, fmt_duration};
use crate::scenario::fault::{Direction, FaultAction, FaultSpec, FaultStart, Peers, TargetSpec};
use crate::scenario::file::RawFault;
use crate::scenario::model::ClusterTarget;
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    /// The `faults` list, with unique names, each checked against the cluster's backend.
    pub(super) fn faults(
        &mut self,
        raw: &[Option<RawFault>],
        at: &JsonPath,
        phases: &[&str],
        topics: &[(&str, i32)],
        cluster: Option<&ClusterTarget>,
        local_nodes: Option<usize>,
    ) -> Vec<Option<FaultSpec>> {
        let faults: Vec<Option<FaultSpec>> =
            entries(self, raw, at, |c, f, at| c.fault(f, at, phases, topics, local_nodes));
        self.unique("fault", at, raw.iter().map(|f| f.as_ref().and_then(|f| f.name.as_deref())));
        for (i, f) in faults.iter().enumerate() {
            let Some(f) = f else { continue };
            self.fault_fits_cluster(f, at.index(i), cluster);
        }
        faults
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
        let start = self.fault_start(f, at, phases);
        let action = self.fault_action(f, at);
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
        let (every, times) = self.repeats(f, at, duration);
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

    /// When the fault starts: `at`, or `phase` with an optional `offset`.
    fn fault_start(&mut self, f: &RawFault, at: &JsonPath, phases: &[&str]) -> Option<FaultStart> {
        match (&f.at, &f.phase) {
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
        }
    }

    /// What the fault does; `peers` and `direction` belong to a partition only.
    fn fault_action(&mut self, f: &RawFault, at: &JsonPath) -> Option<FaultAction> {
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
        action
    }

    /// `every` and `times`: a repeating fault's interval, which must exceed its window, and
    /// how often it fires in all.
    fn repeats(
        &mut self,
        f: &RawFault,
        at: &JsonPath,
        duration: Option<Duration>,
    ) -> (Option<Option<Duration>>, Option<u32>) {
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
        (every, times)
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

    /// The local backend acts on the run's own cluster and the Kubernetes backend on pods:
    /// each supports some faults only.
    fn fault_fits_cluster(&mut self, f: &FaultSpec, at: JsonPath, cluster: Option<&ClusterTarget>) {
        match cluster {
            Some(ClusterTarget::Existing { kubernetes: None, .. }) => self.err(
                at,
                "faults need a cluster aftershock started (`local`, or `running` for one from `aftershock cluster up`), or an existing cluster in Kubernetes (`cluster.existing.kubernetes`)",
            ),
            Some(ClusterTarget::Existing { kubernetes: Some(k), .. }) => {
                if f.restart_after.is_some() {
                    self.err(
                        at.key("restart_after"),
                        "on Kubernetes the pod's controller recreates a deleted broker pod: `restart_after` does not apply",
                    );
                }
                match f.action {
                    FaultAction::Pause if !k.chaos_mesh => self.err(
                        at.key("action"),
                        "pause on Kubernetes uses Chaos Mesh (PodChaos pod-failure): set \"chaos_mesh\": true in cluster.existing.kubernetes",
                    ),
                    FaultAction::Partition { peers: Peers::Clients, .. } if k.chaos_mesh => self.err(
                        at.key("peers"),
                        "Chaos Mesh partitions cut a pod from other pods: use peers \"nodes\" or \"all\" (or leave out chaos_mesh for a NetworkPolicy)",
                    ),
                    _ => {}
                }
            }
            Some(ClusterTarget::Local { netns: false, .. }) if matches!(f.action, FaultAction::Partition { .. }) => self.err(
                at.key("action"),
                "a partition needs the nodes in network namespaces: set \"netns\": true on the local cluster (root only)",
            ),
            _ => {}
        }
    }
}
