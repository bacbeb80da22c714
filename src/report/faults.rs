//! The faults of a run as report.json records them: what was done to which node and when,
//! and how the cluster recovered.
//!
//! Times use the report's time base (`timeseries[].sec`): seconds since the run start. The
//! recovery figures are optional: a figure that could not be measured (the fault never hit
//! the controller, the run ended before the ISR was full again) is `null`, and `notes` says
//! why. Readers (summaries, plots, the gate, comparisons) must cope with any of them missing.

use serde::{Deserialize, Serialize};

// The figures' names live in the shared vocabulary (checks name them without the report);
// how each is read from a record lives here, with the record's fields.
pub use crate::vocab::metric::RecoveryFigure;
use crate::vocab::metric::{FaultTargets, RecoveryValues};

/// One fault as it happened. A fault that repeats (`every`/`times`) has one record per firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRecord {
    /// Unique within the report: the fault's name, with `#N` appended for its N-th firing
    /// (from 2) when it repeats, e.g. `kill-leader`, `kill-leader#2`.
    pub id: String,
    /// The fault's name in the scenario; a check naming it covers every firing.
    pub name: String,
    /// What was done: `kill`, `stop`, `pause`, `restart`, `partition`.
    pub action: String,
    /// Which node(s) and why.
    pub target: FaultTarget,
    /// When the fault was injected, in seconds since the run start.
    pub start_secs: f64,
    /// When it was undone (node restarted, resumed, network healed), in seconds since the run start.
    pub end_secs: f64,
    /// How the cluster and the clients came through it.
    pub recovery: Recovery,
}

/// The node(s) a fault hit and why they were chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultTarget {
    /// Node ids hit; empty when the fault hit none (or the target could not be resolved).
    pub nodes: Vec<i32>,
    /// Why these nodes, e.g. `the leader of orders/0`, `the active controller`, `node 2`.
    pub reason: String,
    /// Kubernetes: the broker pods hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
}

/// Recovery figures of one fault. Times (`*_secs`) count from the fault's start, except
/// `unavailable_max_secs`, which is a length. Each is `None` when it could not be measured
/// or did not happen; `notes` then says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// Until the first failed delivery (`None`: no delivery failed).
    pub first_error_secs: Option<f64>,
    /// The longest stretch during or after the fault in which nothing was acknowledged.
    pub unavailable_max_secs: Option<f64>,
    /// Until the per-second produce p99 was back to its level before the fault.
    pub p99_recovered_secs: Option<f64>,
    /// Until the acknowledged rate was back to its level before the fault.
    pub throughput_recovered_secs: Option<f64>,
    /// Until every partition's in-sync replica set was complete again.
    pub isr_recovered_secs: Option<f64>,
    /// Until the target node was registered with the controller again.
    pub node_registered_secs: Option<f64>,
    /// Until a new active controller was elected (faults that hit the controller).
    pub new_controller_secs: Option<f64>,
    /// Kubernetes: until every pod the fault took down was Ready again.
    #[serde(default)]
    pub pod_ready_secs: Option<f64>,
    /// Highest produce latency of a message sent during the fault window, in microseconds.
    pub max_latency_us: Option<u64>,
    /// Produce p99 of the messages sent during the fault window, in microseconds.
    pub p99_latency_us: Option<u64>,
    /// Unavailability of each partition of the produced-to topic (the longest time after the
    /// fault without an ack, or the fault to the first ack of a message sent after it,
    /// whichever is longer), by partition number; partitions never acked again are missing.
    #[serde(default)]
    pub unavailable_by_partition: std::collections::BTreeMap<String, f64>,
    /// How long the consumer group's first rebalance after the fault took (partitions
    /// revoked until assigned again); `None` when no rebalance followed the fault.
    #[serde(default)]
    pub rebalance_secs: Option<f64>,
    /// Highest consumer lag from the fault until 30 s after it was undone, in messages.
    #[serde(default)]
    pub peak_lag: Option<u64>,
    /// Why figures are missing, and anything else worth knowing about this fault.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl RecoveryValues for Recovery {
    fn recovery_value(&self, figure: RecoveryFigure) -> Option<f64> {
        match figure {
            RecoveryFigure::FirstError => self.first_error_secs,
            RecoveryFigure::UnavailableMax => self.unavailable_max_secs,
            RecoveryFigure::UnavailableMean => self.unavailable_mean_secs(),
            RecoveryFigure::P99Recovered => self.p99_recovered_secs,
            RecoveryFigure::ThroughputRecovered => self.throughput_recovered_secs,
            RecoveryFigure::IsrRecovered => self.isr_recovered_secs,
            RecoveryFigure::NodeRegistered => self.node_registered_secs,
            RecoveryFigure::NewController => self.new_controller_secs,
            RecoveryFigure::PodReady => self.pod_ready_secs,
            RecoveryFigure::Rebalance => self.rebalance_secs,
            RecoveryFigure::LatencyMax => self.max_latency_us.map(|v| v as f64),
            RecoveryFigure::LatencyP99 => self.p99_latency_us.map(|v| v as f64),
            RecoveryFigure::LagMax => self.peak_lag.map(|v| v as f64),
        }
    }
}

impl Recovery {
    /// The mean of [`unavailable_by_partition`](Self::unavailable_by_partition), rounded to
    /// milliseconds. `None` whenever the longest is (a partition never acknowledged again is
    /// missing from the map, and a mean without it would flatter the fault), and for reports
    /// written before the per-partition figures existed.
    pub fn unavailable_mean_secs(&self) -> Option<f64> {
        self.unavailable_max_secs?;
        let n = self.unavailable_by_partition.len();
        (n > 0).then(|| {
            let mean = self.unavailable_by_partition.values().sum::<f64>() / n as f64;
            (mean * 1000.0).round() / 1000.0
        })
    }

    /// The per-partition unavailability in partition order (`2` before `10`; a key that is no
    /// number, which aftershock never writes, after the numbers).
    pub fn partitions(&self) -> Vec<(&str, f64)> {
        let mut v: Vec<(&str, f64)> = self.unavailable_by_partition.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        v.sort_by_key(|(p, _)| (p.parse::<u64>().unwrap_or(u64::MAX), p.to_string()));
        v
    }
}

impl FaultTargets for FaultRecord {
    fn hit_pods(&self) -> bool {
        !self.target.pods.is_empty()
    }
}

impl FaultRecord {
    /// The fault window's length in seconds (0 if the record is inconsistent).
    pub fn duration_secs(&self) -> f64 {
        (self.end_secs - self.start_secs).max(0.0)
    }

    /// One line for legends and tables, e.g. `kill node 2 (the leader of orders/0)`.
    pub fn describe(&self) -> String {
        let nodes = match self.target.nodes.as_slice() {
            [] => String::new(),
            [n] => format!(" node {n}"),
            ns => format!(" nodes {}", ns.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")),
        };
        // A reason that only repeats the node (`node 2`) says nothing more.
        let reason = if self.target.reason.is_empty() || nodes.trim() == self.target.reason {
            String::new()
        } else {
            format!(" ({})", self.target.reason)
        };
        let pods = match self.target.pods.as_slice() {
            [] => String::new(),
            ps => format!(" [pod {}]", ps.join(", ")),
        };
        format!("{}{nodes}{pods}{reason}", self.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_their_field() {
        // Key uniqueness and the times being no latencies are tested with the names, in vocab::metric.
        let r = Recovery { unavailable_max_secs: Some(4.5), max_latency_us: Some(1200), ..Recovery::default() };
        assert_eq!(RecoveryFigure::UnavailableMax.of(&r), Some(4.5));
        assert_eq!(RecoveryFigure::LatencyMax.of(&r), Some(1200.0));
        assert_eq!(RecoveryFigure::FirstError.of(&r), None);
        assert_eq!(RecoveryFigure::UnavailableMean.of(&r), None, "no per-partition figures");
        let r = Recovery {
            unavailable_max_secs: Some(4.5),
            unavailable_by_partition: [("0", 4.5), ("1", 0.25), ("10", 0.5)].map(|(p, s)| (p.to_string(), s)).into(),
            rebalance_secs: Some(0.4),
            peak_lag: Some(812),
            ..Recovery::default()
        };
        assert_eq!(RecoveryFigure::Rebalance.of(&r), Some(0.4));
        assert_eq!(RecoveryFigure::LagMax.of(&r), Some(812.0));
        assert_eq!(RecoveryFigure::UnavailableMean.of(&r), Some(1.75));
        // A partition never acknowledged again leaves the longest unknown, and the mean too.
        let partial = Recovery { unavailable_max_secs: None, ..r.clone() };
        assert_eq!(RecoveryFigure::UnavailableMean.of(&partial), None);
        let mut r = r;
        r.unavailable_by_partition.insert("2".into(), 1.0);
        r.unavailable_by_partition.insert("x".into(), 1.0);
        let order: Vec<&str> = r.partitions().into_iter().map(|(p, _)| p).collect();
        assert_eq!(order, ["0", "1", "2", "10", "x"]);
    }

    #[test]
    fn figures_name_fields_of_the_record() {
        let fields = serde_json::to_value(Recovery::default()).unwrap();
        for f in RecoveryFigure::ALL {
            if let Some(field) = f.report_field() {
                assert!(fields.get(field).is_some(), "{f:?} names {field}, which the record lacks");
            }
        }
    }

    #[test]
    fn describes_the_target() {
        let f = FaultRecord {
            id: "k".into(),
            name: "k".into(),
            action: "kill".into(),
            target: FaultTarget { nodes: vec![2], reason: "the leader of orders/0".into(), pods: vec![] },
            start_secs: 10.0,
            end_secs: 25.5,
            recovery: Recovery::default(),
        };
        assert_eq!(f.describe(), "kill node 2 (the leader of orders/0)");
        assert_eq!(f.duration_secs(), 15.5);
        let back: FaultRecord = serde_json::from_value(serde_json::json!({
            "id": "k", "name": "k", "action": "kill", "target": {"nodes": [], "reason": ""},
            "start_secs": 1.0, "end_secs": 2.0,
            "recovery": {"first_error_secs": null, "unavailable_max_secs": null, "p99_recovered_secs": null,
                "throughput_recovered_secs": null, "isr_recovered_secs": null, "node_registered_secs": null,
                "new_controller_secs": null, "max_latency_us": null, "p99_latency_us": null}
        }))
        .unwrap();
        assert!(back.recovery.notes.is_empty(), "notes default to empty");
    }
}
