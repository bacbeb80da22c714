//! Faults: the schedule from the scenario, Kafka-aware target resolution, the backends that
//! inject and undo faults (local processes and network namespaces; broker pods in Kubernetes),
//! the fault ledger that makes `heal` possible after a crash, and the recovery figures of each
//! fault.

pub mod backend;
pub mod engine;
pub mod heal;
pub mod kube;
pub mod ledger;
pub mod local;
pub mod observe;
pub mod outcome;
pub mod partition;
pub mod quorum;
pub mod recovery;
pub mod task;

use std::path::Path;

use crate::cluster::ClusterState;

/// Removes every partition rule aftershock left in a cluster's network namespaces; returns
/// what it removed. Clusters without namespaces have none.
pub fn partition_heal(_dir: &Path, state: &ClusterState) -> crate::error::Result<Vec<String>> {
    match &state.netns {
        Some(layout) => {
            Ok(partition::heal_all(layout)?.into_iter().map(|r| format!("removed partition rules: {r}")).collect())
        }
        None => Ok(Vec::new()),
    }
}
