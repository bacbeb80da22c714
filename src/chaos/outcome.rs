//! What happened to one fault occurrence: what it hit and why, when it was applied and
//! undone, and what was observed of the cluster after it. The engine fills it in; the
//! recovery figures and the report read it.

use std::time::Duration;

/// What happened to one occurrence; times are offsets from the run clock's start.
#[derive(Debug, Clone, Default)]
pub struct FaultOutcome {
    pub seq: u32,
    pub name: String,
    pub action: String,
    pub repeat: u32,
    pub planned_start: Duration,
    pub nodes: Vec<i32>,
    /// Why these nodes were hit.
    pub reason: String,
    pub injected: Option<Duration>,
    pub reverted: Option<Duration>,
    /// Not applied, and why.
    pub skipped: Option<String>,
    /// First time, after injection, that every node was registered and every partition led
    /// and fully in sync, having been otherwise in between.
    pub healthy_again: Option<Duration>,
    /// Whether the cluster was seen degraded at all after the injection.
    pub degraded_seen: bool,
    /// First time a restarted node was registered again.
    pub node_registered: Option<Duration>,
    /// For controller faults: when another node became the quorum leader, and which.
    pub new_controller: Option<(Duration, i32)>,
    /// Kubernetes: the pods hit, and the objects created for the fault.
    pub pods: Vec<String>,
    /// Kubernetes: when every pod the fault deleted or failed was Ready again.
    pub pod_ready: Option<Duration>,
    /// Anything that went wrong applying, observing or undoing.
    pub errors: Vec<String>,
    /// Anything else worth knowing (e.g. a NetworkPolicy that had no visible effect).
    pub notes: Vec<String>,
}
