//! The local backend: process faults on the JVMs of a local cluster (kill, stop, pause,
//! rolling restart) and network partitions inside the nodes' namespaces. Every fault is a
//! guard whose `revert` undoes it; dropping a guard undoes what can be undone without the
//! cluster (SIGCONT), so a panic never leaves a broker frozen.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use nix::sys::signal::Signal;

use super::backend::{ApplyEnv, ClusterProbe, FaultBackend, FaultGuard, Nodes};
use super::ledger::{FaultLedger, LedgerEntry, now_ms};
use super::observe::active_controller;
use super::task::{blocking, lock};
use crate::cluster::{LocalCluster, process};
use crate::error::{Error, Result};
use crate::plan::Occurrence;
use crate::scenario::fault::{FaultAction, FaultSpec};

/// How long a restarted node gets to register again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped node gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// An applied fault; undo it with [`ActiveFault::revert`].
#[derive(Debug)]
pub struct ActiveFault {
    id: u32,
    ledger: FaultLedger,
    kind: Kind,
    nodes: Vec<i32>,
    /// Pids of paused nodes, for SIGCONT (also on drop).
    paused: Vec<u32>,
    /// Partition rules; each guard removes its own rules when reverted or dropped.
    partitions: Vec<super::partition::PartitionGuard>,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nodes are down and must be restarted.
    Down,
    Paused,
    Partitioned,
    /// Nothing left to undo (a rolling restart completes while applying).
    Nothing,
}

/// Writes the ledger entry, then applies the fault.
pub fn apply(
    cluster: &Mutex<LocalCluster>,
    ledger: &FaultLedger,
    id: u32,
    spec: &FaultSpec,
    nodes: &[i32],
) -> Result<ActiveFault> {
    let (dir, pids): (PathBuf, Vec<u32>) = {
        let c = lock(cluster);
        let pids = nodes.iter().filter_map(|id| c.state().node(*id).and_then(|n| n.pid)).collect();
        (c.dir().to_path_buf(), pids)
    };
    ledger.append(&LedgerEntry::Applying {
        id,
        fault: spec.name.clone(),
        action: spec.action.name().to_string(),
        cluster_dir: dir,
        nodes: nodes.to_vec(),
        pids: pids.clone(),
        unix_ms: now_ms(),
    })?;
    let mut guard = ActiveFault {
        id,
        ledger: ledger.clone(),
        kind: Kind::Nothing,
        nodes: nodes.to_vec(),
        paused: Vec::new(),
        partitions: Vec::new(),
        done: false,
    };
    match spec.action {
        FaultAction::Kill => {
            guard.kind = Kind::Down;
            let mut c = lock(cluster);
            for n in nodes {
                c.signal_node(*n, Signal::SIGKILL)?;
            }
        }
        FaultAction::Stop => {
            guard.kind = Kind::Down;
            let mut c = lock(cluster);
            for n in nodes {
                stop_node(&mut c, *n)?;
            }
        }
        FaultAction::Pause => {
            guard.kind = Kind::Paused;
            for pid in &pids {
                process::signal(*pid, Signal::SIGSTOP)?;
                guard.paused.push(*pid);
            }
        }
        FaultAction::Restart => {
            let mut c = lock(cluster);
            rolling_restart(&mut c)?;
            guard.finish()?;
        }
        FaultAction::Partition { peers, direction } => {
            let c = lock(cluster);
            let Some(layout) = c.netns() else {
                return Err(Error::Usage(
                    "partition faults need nodes in network namespaces: set \"netns\": true on the local cluster (root only)".into(),
                ));
            };
            for n in nodes {
                guard.partitions.push(super::partition::apply(layout, *n, peers, direction)?);
            }
            guard.kind = Kind::Partitioned;
        }
    }
    Ok(guard)
}

/// SIGTERM, wait for the exit, SIGKILL if it takes too long.
fn stop_node(c: &mut LocalCluster, id: i32) -> Result<()> {
    c.signal_node(id, Signal::SIGTERM)?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while c.is_alive(id) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if c.is_alive(id) {
        c.signal_node(id, Signal::SIGKILL)?;
    }
    Ok(())
}

/// Restarts every node in turn; each must be registered and every partition fully in sync
/// again before the next one goes down.
fn rolling_restart(c: &mut LocalCluster) -> Result<()> {
    let ids: Vec<i32> = c.state().nodes.iter().map(|n| n.id).collect();
    let n = ids.len();
    let bootstrap = c.bootstrap();
    for id in ids {
        stop_node(c, id)?;
        c.restart_node(id, RESTART_TIMEOUT)?;
        let deadline = Instant::now() + RESTART_TIMEOUT;
        let mut base = rdkafka::config::ClientConfig::new();
        base.set("bootstrap.servers", &bootstrap);
        loop {
            if let Ok(v) = super::observe::ClusterView::fetch(&base, Duration::from_secs(5))
                && v.healthy(n)
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Failed(format!(
                    "after restarting node {id}, the partitions did not get back in sync within {RESTART_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(())
}

impl ActiveFault {
    /// Kill and stop with `restart_after`: bring the nodes back before the window ends.
    pub fn restart_early(&mut self, cluster: &Mutex<LocalCluster>) -> Result<()> {
        if self.kind == Kind::Down {
            self.restart_nodes(cluster)?;
            self.kind = Kind::Nothing;
        }
        Ok(())
    }

    /// Undoes the fault and records that in the ledger.
    pub fn revert(mut self, cluster: &Mutex<LocalCluster>) -> Result<()> {
        match self.kind {
            Kind::Down => self.restart_nodes(cluster)?,
            Kind::Paused => self.resume(),
            Kind::Partitioned => {
                for g in self.partitions.drain(..) {
                    g.revert()?;
                }
            }
            Kind::Nothing => {}
        }
        self.kind = Kind::Nothing;
        self.finish()
    }

    fn restart_nodes(&self, cluster: &Mutex<LocalCluster>) -> Result<()> {
        let mut c = lock(cluster);
        for id in &self.nodes {
            if !c.is_alive(*id) {
                c.restart_node(*id, RESTART_TIMEOUT)?;
            }
        }
        Ok(())
    }

    fn resume(&mut self) {
        for pid in self.paused.drain(..) {
            let _ = process::signal(pid, Signal::SIGCONT);
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.done = true;
        self.ledger.append(&LedgerEntry::Reverted { id: self.id, unix_ms: now_ms() })
    }
}

impl Drop for ActiveFault {
    fn drop(&mut self) {
        // Best effort without the cluster: a paused broker is resumed. Down nodes are left to
        // the run's end (its cluster is stopped) or to `aftershock heal`, which reads the
        // ledger entry that stays open for them.
        if !self.done && self.kind == Kind::Paused {
            self.resume();
            let _ = self.finish();
        }
        if !self.done && self.kind == Kind::Partitioned {
            // Each partition guard removes its rules as it drops.
            self.partitions.clear();
            let _ = self.finish();
        }
    }
}

/// The processes and network namespaces of a local cluster, as a [`FaultBackend`].
#[derive(Debug, Clone)]
pub struct LocalBackend {
    cluster: Arc<Mutex<LocalCluster>>,
}

impl LocalBackend {
    pub fn new(cluster: Arc<Mutex<LocalCluster>>) -> LocalBackend {
        LocalBackend { cluster }
    }
}

impl FaultBackend for LocalBackend {
    fn nodes(&self) -> BoxFuture<'_, Result<Nodes>> {
        Box::pin(async move {
            let mut c = lock(&self.cluster);
            let all: Vec<i32> = c.state().nodes.iter().map(|n| n.id).collect();
            let alive = all.iter().copied().filter(|id| c.is_alive(*id)).collect();
            Ok(Nodes { all, alive })
        })
    }

    fn controller<'a>(&'a self, alive: &'a [i32], _probe: &'a dyn ClusterProbe) -> BoxFuture<'a, Result<i32>> {
        // The nodes' own quorum-state files, not client metadata: they name the leader even
        // while metadata still shows the old one.
        Box::pin(async move {
            let c = lock(&self.cluster);
            active_controller(c.dir(), c.state(), alive)
                .ok_or_else(|| Error::Failed("no quorum leader found in the nodes' quorum state".into()))
        })
    }

    fn new_controller(&self, victims: &[i32]) -> Option<i32> {
        let c = lock(&self.cluster);
        let alive: Vec<i32> = c.state().nodes.iter().map(|n| n.id).filter(|id| !victims.contains(id)).collect();
        active_controller(c.dir(), c.state(), &alive).filter(|leader| !victims.contains(leader))
    }

    fn sees_quorum(&self) -> bool {
        true
    }

    fn apply<'a>(
        &'a self,
        occ: &'a Occurrence,
        nodes: &'a [i32],
        env: &'a ApplyEnv,
    ) -> BoxFuture<'a, Result<Box<dyn FaultGuard>>> {
        let (c, ledger, spec, nodes, seq) =
            (self.cluster.clone(), env.ledger.clone(), occ.spec.clone(), nodes.to_vec(), occ.seq);
        Box::pin(async move {
            let cluster = c.clone();
            let fault = blocking(move || apply(&c, &ledger, seq, &spec, &nodes)).await?;
            Ok(Box::new(LocalGuard { fault: Some(fault), cluster }) as Box<dyn FaultGuard>)
        })
    }
}

/// A local fault with the cluster it was applied to.
struct LocalGuard {
    /// Taken by `revert`; dropped unreverted, it undoes what it can without the cluster.
    fault: Option<ActiveFault>,
    cluster: Arc<Mutex<LocalCluster>>,
}

impl FaultGuard for LocalGuard {
    fn restart_early(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let Some(mut f) = self.fault.take() else { return Ok(()) };
            let c = self.cluster.clone();
            // The guard comes back even if the restart panics: the fault must stay revertible.
            let (f, r) = match tokio::task::spawn_blocking(move || {
                let r = f.restart_early(&c);
                (f, r)
            })
            .await
            {
                Ok(x) => x,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
            self.fault = Some(f);
            r
        })
    }

    fn revert(mut self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        let (fault, c) = (self.fault.take(), self.cluster.clone());
        Box::pin(async move {
            match fault {
                Some(f) => blocking(move || f.revert(&c)).await,
                None => Ok(()),
            }
        })
    }
}
