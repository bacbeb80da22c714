//! The one interface between the fault engine and what it breaks: a [`FaultBackend`] resolves
//! nodes and applies a fault as a [`FaultGuard`] whose revert undoes it; a [`ClusterProbe`] is
//! what Kafka itself says about the cluster. The local processes and Kubernetes implement the
//! first, Kafka's metadata the second; the engine's tests implement both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::ledger::FaultLedger;
use super::observe::ClusterView;
use super::outcome::FaultOutcome;
use super::task::blocking;
use crate::error::Result;
use crate::plan::Occurrence;
use crate::scenario::fault::FaultAction;

/// The nodes of the cluster as the backend sees them now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nodes {
    pub all: Vec<i32>,
    /// Running (local) or Ready and not being deleted (Kubernetes).
    pub alive: Vec<i32>,
}

/// What a backend needs to apply a fault.
pub struct ApplyEnv {
    /// The run's fault ledger: an entry is written before a local fault is applied.
    pub ledger: FaultLedger,
    /// Kafka's view, for waits between the pods of a rolling restart.
    pub probe: Arc<dyn ClusterProbe>,
    /// How many brokers a whole cluster has.
    pub n_nodes: usize,
}

/// Where faults are injected.
pub trait FaultBackend: Send + Sync + std::fmt::Debug {
    /// Every node and the live ones.
    fn nodes(&self) -> BoxFuture<'_, Result<Nodes>>;

    /// The active KRaft controller among `alive`.
    fn controller<'a>(&'a self, alive: &'a [i32], probe: &'a dyn ClusterProbe) -> BoxFuture<'a, Result<i32>>;

    /// The quorum leader now, if it is none of `victims`; `None` while there is none or
    /// where the backend cannot see the quorum by itself (see [`FaultBackend::sees_quorum`]).
    fn new_controller(&self, _victims: &[i32]) -> Option<i32> {
        None
    }

    /// Whether [`FaultBackend::new_controller`] can tell: the observer of a controller fault
    /// waits for a new one only then.
    fn sees_quorum(&self) -> bool {
        false
    }

    /// Records the fault where the backend keeps its ledger, then applies it to `nodes`.
    fn apply<'a>(
        &'a self,
        occ: &'a Occurrence,
        nodes: &'a [i32],
        env: &'a ApplyEnv,
    ) -> BoxFuture<'a, Result<Box<dyn FaultGuard>>>;

    /// What the run should know about the fault's visible effect once it is over (e.g. a
    /// NetworkPolicy that changed nothing); `victim_left` says whether a hit node was ever
    /// missing from the registered brokers.
    fn effect_notes(&self, _occ: &Occurrence, _out: &FaultOutcome, _victim_left: bool) -> Vec<String> {
        Vec::new()
    }
}

/// An applied fault. `revert` undoes it; dropping it unreverted undoes what can be undone
/// without waiting (resume a paused process, remove rules, delete objects in the background).
pub trait FaultGuard: Send {
    /// Adds what was hit and created (pods, objects) to the outcome.
    fn describe(&self, _out: &mut FaultOutcome) {}

    /// Waits until what the fault took down is back (pods Ready again); `None` when the
    /// backend has nothing to watch. The future yields `None` if `cancel` comes first.
    fn watch_ready(
        &self,
        _action: FaultAction,
        _cancel: CancellationToken,
    ) -> Option<BoxFuture<'static, Result<Option<Instant>>>> {
        None
    }

    /// Kill and stop with `restart_after`: brings the nodes back inside the window.
    fn restart_early(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Undoes the fault and closes its ledger entry.
    fn revert(self: Box<Self>) -> BoxFuture<'static, Result<()>>;
}

/// What Kafka says about the cluster.
pub trait ClusterProbe: Send + Sync {
    /// Brokers, partitions, leaders and ISRs.
    fn view(&self, timeout: Duration) -> BoxFuture<'_, Result<ClusterView>>;

    /// The KRaft quorum leader (DescribeQuorum).
    fn quorum_leader(&self, timeout: Duration) -> BoxFuture<'_, Result<i32>>;
}

/// The probe of a real cluster: librdkafka clients from the run's base settings.
#[derive(Clone)]
pub struct KafkaProbe {
    base: ClientConfig,
}

impl KafkaProbe {
    pub fn new(base: ClientConfig) -> KafkaProbe {
        KafkaProbe { base }
    }
}

impl ClusterProbe for KafkaProbe {
    fn view(&self, timeout: Duration) -> BoxFuture<'_, Result<ClusterView>> {
        let base = self.base.clone();
        Box::pin(blocking(move || ClusterView::fetch(&base, timeout)))
    }

    fn quorum_leader(&self, timeout: Duration) -> BoxFuture<'_, Result<i32>> {
        let base = self.base.clone();
        Box::pin(blocking(move || super::quorum::describe_quorum_leader(&base, timeout)))
    }
}
