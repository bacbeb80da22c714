//! `aftershock heal`: undo whatever faults a crashed aftershock left behind, from the fault
//! ledger and the cluster state alone: resume paused nodes, restart killed or stopped ones,
//! and (for network-namespace clusters) delete partition rules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::ledger::{FaultLedger, LedgerEntry, now_ms};
use crate::cluster::{ClusterState, LocalCluster, NodePaths, process, registry, state::STATE_FILE};
use crate::error::{Error, Result};

/// What `heal` did, line by line, for the user.
#[derive(Debug, Default)]
pub struct HealReport {
    pub actions: Vec<String>,
    /// Things it could not undo.
    pub failures: Vec<String>,
}

/// Heals one dir: a run dir (with `faults.jsonl` and maybe its `cluster/`) or a cluster dir.
pub fn heal_dir(dir: &Path, restart_timeout: Duration) -> Result<HealReport> {
    let mut report = HealReport::default();
    let ledger = FaultLedger::new(dir);
    let outstanding = ledger.outstanding()?;
    let mut clusters: Vec<PathBuf> = Vec::new();
    for c in [dir.to_path_buf(), dir.join("cluster")] {
        if c.join(STATE_FILE).is_file() {
            clusters.push(c);
        }
    }
    for e in &outstanding {
        if let LedgerEntry::Applying { cluster_dir, .. } = e
            && !clusters.contains(cluster_dir)
            && cluster_dir.join(STATE_FILE).is_file()
        {
            clusters.push(cluster_dir.clone());
        }
    }
    if clusters.is_empty() && outstanding.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds neither a fault ledger ({}) nor a cluster ({STATE_FILE}): nothing to heal",
            dir.display(),
            super::ledger::LEDGER_FILE
        )));
    }
    // Paused processes first: a SIGCONT needs no cluster state and frees a zombie broker at once.
    for e in &outstanding {
        if let LedgerEntry::Applying { fault, action, pids, .. } = e
            && action == "pause"
        {
            for pid in pids {
                if process::is_running(*pid) {
                    process::signal(*pid, Signal::SIGCONT)?;
                    report.actions.push(format!("resumed pid {pid} (paused by fault {fault})"));
                }
            }
        }
    }
    for c in &clusters {
        heal_cluster(c, restart_timeout, &mut report);
    }
    if report.failures.is_empty() {
        for e in &outstanding {
            if let LedgerEntry::Applying { id, .. } = e {
                ledger.append(&LedgerEntry::Reverted { id: *id, unix_ms: now_ms() })?;
            }
        }
    }
    Ok(report)
}

/// Makes every node of a cluster that is meant to run (it has a pid in the state) run again,
/// resumed and reachable.
fn heal_cluster(dir: &Path, restart_timeout: Duration, report: &mut HealReport) {
    let state = match ClusterState::load(dir) {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    // Network partitions: drop every aftershock rule in the cluster's namespaces.
    match super::partition_heal(dir, &state) {
        Ok(removed) => report.actions.extend(removed),
        Err(e) => report.failures.push(format!("removing partition rules in {}: {e}", dir.display())),
    }
    let mut cluster = match LocalCluster::open(dir) {
        Ok(c) => c,
        Err(e) => {
            report.failures.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for n in &state.nodes {
        let Some(pid) = n.pid else { continue };
        let cfg = NodePaths::new(dir, n.id).config;
        if process::is_node_alive(pid, &cfg) {
            // Harmless when it is not stopped; frees it when it is.
            if process::is_stopped(pid) {
                let _ = process::signal(pid, Signal::SIGCONT);
                report.actions.push(format!("resumed node {} (pid {pid}) in {}", n.id, dir.display()));
            }
            continue;
        }
        match cluster.restart_node(n.id, restart_timeout) {
            Ok(()) => report.actions.push(format!("restarted node {} in {}", n.id, dir.display())),
            Err(e) => report.failures.push(format!("restarting node {} in {}: {e}", n.id, dir.display())),
        }
    }
}

/// `heal --all`: every dir aftershock knows of.
pub fn heal_all(restart_timeout: Duration) -> (Vec<(PathBuf, Result<HealReport>)>, usize) {
    let dirs = registry::known();
    let n = dirs.len();
    (
        dirs.into_iter()
            .map(|d| {
                let r = heal_dir(&d, restart_timeout);
                (d, r)
            })
            .collect(),
        n,
    )
}
