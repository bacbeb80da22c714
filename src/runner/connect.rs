//! The cluster a run goes against: started for the run, found running, or an existing one
//! with its client settings; the run dir; and the backend its faults go through.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use tokio_util::task::TaskTracker;

use crate::chaos::backend::FaultBackend;
use crate::chaos::kube::KubeBackend;
use crate::chaos::local::LocalBackend;
use crate::chaos::task::blocking;
use crate::cluster::{LocalCluster, UpOptions};
use crate::error::{Error, Result};
use crate::scenario::{ClusterTarget, Phase, Scenario};
use crate::stop::{Stop, StopReason};

/// The cluster a scenario runs against, connected.
pub struct Connection {
    /// A cluster aftershock started (`local`, owned by the run) or found (`running`).
    pub local: Option<Arc<Mutex<LocalCluster>>>,
    pub bootstrap: String,
    /// Client settings every client of the run starts from.
    pub base: ClientConfig,
    pub kafka_version: Option<String>,
}

/// Starts the scenario's own cluster, opens a running one, or resolves an existing one's
/// client settings.
pub async fn connect(scenario: &Scenario, run_dir: &Path) -> Result<Connection> {
    // The cluster: ours for the run, or the one the file names.
    let (local, bootstrap, client_settings, kafka_version) = match &scenario.cluster {
        ClusterTarget::Local { nodes, kafka_version, broker_config, netns, subnet } => {
            let mut up = UpOptions::new(run_dir.join("cluster"));
            up.nodes = *nodes;
            up.netns = *netns;
            up.subnet = match subnet {
                Some(s) => Some(s.parse().map_err(|e| Error::Usage(format!("subnet {s}: {e}")))?),
                None => None,
            };
            if let Some(v) = kafka_version {
                up.kafka_version = v.clone();
            }
            up.broker_config = broker_config.clone();
            eprintln!("starting a local cluster of {nodes} Kafka node(s) in {}", up.dir.display());
            let c = blocking(move || LocalCluster::up(&up).map(|c| c.stop_on_drop(true))).await?;
            eprintln!("{}", fresh_cluster_note(&scenario.phases));
            let b = c.bootstrap();
            let v = c.state().kafka_version.clone();
            (Some(Arc::new(Mutex::new(c))), b, BTreeMap::new(), Some(v))
        }
        ClusterTarget::Running { dir } => {
            let c = LocalCluster::open(&dir.clone().unwrap_or_else(crate::cluster::default_dir))?;
            let (b, v) = (c.bootstrap(), c.state().kafka_version.clone());
            eprintln!("using the cluster running in {}", c.dir().display());
            (Some(Arc::new(Mutex::new(c))), b, BTreeMap::new(), Some(v))
        }
        ClusterTarget::Existing { bootstrap, .. } => {
            let settings = scenario.cluster.resolve_client_config().map_err(|e| {
                Error::Usage(format!("{}: {e}", scenario.source.as_deref().unwrap_or(Path::new("scenario")).display()))
            })?;
            (None, bootstrap.clone(), settings, None)
        }
    };
    let base = {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &bootstrap);
        for (k, v) in &client_settings {
            c.set(k, v);
        }
        c
    };

    Ok(Connection { local, bootstrap, base, kafka_version })
}

/// Ends a run or a search. After an error, `stops` are cancelled first, so that nothing it
/// started (load, faults, consumers) keeps going; then every tracked task and worker thread is
/// waited for, the scenario's own cluster is stopped, and the wait for Ctrl-C ends.
pub async fn wind_down(
    scenario: &Scenario,
    local: Option<Arc<Mutex<LocalCluster>>>,
    tracker: &TaskTracker,
    stops: &[&Stop],
    failed: bool,
) {
    if failed {
        stops.iter().for_each(|s| s.cancel());
    }
    tracker.close();
    tracker.wait().await;
    disconnect(scenario, local).await;
    stops.iter().for_each(|s| s.cancel());
}

/// Stops the scenario's own cluster (a `running` one is left running).
async fn disconnect(scenario: &Scenario, local: Option<Arc<Mutex<LocalCluster>>>) {
    let owned = matches!(scenario.cluster, ClusterTarget::Local { .. });
    if let Some(c) = local.filter(|_| owned) {
        // The run's own cluster never outlives it. Every fault task has ended by now, so this
        // is the last handle; if not, dropping it kills the nodes (stop_on_drop).
        if let Ok(m) = Arc::try_unwrap(c) {
            let c = m.into_inner().unwrap_or_else(|p| p.into_inner());
            let _ = blocking(move || c.down(false, Duration::from_secs(30))).await;
        }
    }
}

/// Creates the run dir (`out`, or `<reports_root>/<id>`); `shutdown` completing (Ctrl-C,
/// SIGTERM) stops the run.
pub fn open_run(
    id: &str,
    out: Option<&Path>,
    reports_root: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: &Stop,
) -> Result<PathBuf> {
    let run_dir = out.map_or_else(|| reports_root.join(id), Path::to_path_buf);
    std::fs::create_dir_all(&run_dir).map_err(|source| Error::DirNotWritable { dir: run_dir.clone(), source })?;
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown => stop.stop(StopReason::Interrupted),
            // The run has ended (or been stopped otherwise): nothing left to interrupt.
            _ = stop.cancelled() => {}
        }
    });
    Ok(run_dir)
}

/// Where the scenario's faults go: the local cluster's processes, or broker pods through the
/// Kubernetes API; `None` for a scenario without faults on a cluster that can take none.
///
/// # Errors
/// Faults on a cluster no backend reaches, a Kubernetes account that lacks a permission the
/// faults need, or no broker pod matching the selector: all before any load.
pub async fn fault_backend(
    scenario: &Scenario,
    conn: &Connection,
    kube_context: Option<&str>,
    run_id: &str,
) -> Result<Option<Arc<dyn FaultBackend>>> {
    if scenario.faults.is_empty() {
        return Ok(None);
    }
    if let Some(c) = &conn.local {
        return Ok(Some(Arc::new(LocalBackend::new(c.clone()))));
    }
    let ClusterTarget::Existing { kubernetes: Some(k), .. } = &scenario.cluster else {
        return Err(Error::Usage(
            "this scenario has faults, which need a `local` or `running` cluster, or an existing cluster in Kubernetes (`cluster.existing.kubernetes`)".into(),
        ));
    };
    let kb = KubeBackend::connect(k, kube_context, run_id).await?;
    // Fail before any load when the account lacks a permission the faults need.
    let actions: Vec<_> = scenario.faults.iter().map(|f| f.action).collect();
    kb.preflight(&actions).await?;
    let pods = kb.brokers().await?;
    if pods.is_empty() {
        return Err(Error::Usage(format!(
            "no pod in namespace {} matches {}: check cluster.existing.kubernetes",
            k.namespace, k.selector
        )));
    }
    eprintln!(
        "faults go to {} broker pod(s) in namespace {}: {}",
        pods.len(),
        k.namespace,
        pods.iter().map(|p| format!("{} (node {})", p.name, p.node_id)).collect::<Vec<_>>().join(", ")
    );
    Ok(Some(Arc::new(kb)))
}

/// How long the JVMs of a freshly started cluster take to compile their hot paths under load:
/// on a 2-core host at 1k msg/s, the quickstart's produce p50 fell from 160 ms to 10 ms over
/// its first 20 s (2026-12-04).
pub const FRESH_JVM_WARMUP: Duration = Duration::from_secs(20);

/// What a run on a cluster it has just started should know: whether the unmeasured warm-up
/// before the first measured phase covers the JVMs' warm-up.
pub fn fresh_cluster_note(phases: &[Phase]) -> String {
    let warmup: Duration = phases.iter().take_while(|p| !p.measured).map(|p| p.duration).sum();
    let secs = |d: Duration| d.as_secs_f64();
    if warmup >= FRESH_JVM_WARMUP {
        format!(
            "the cluster is fresh: its JVMs warm up under the first {:.0} s of load, which the unmeasured warm-up ({:.0} s) covers",
            secs(FRESH_JVM_WARMUP),
            secs(warmup)
        )
    } else {
        format!(
            "note: the cluster is fresh and its JVMs warm up under the first {:.0} s of load, but only {:.0} s of unmeasured warm-up precede the measured phases: their first seconds will show the warm-up's latency (lengthen the warm-up phase to {:.0} s)",
            secs(FRESH_JVM_WARMUP),
            secs(warmup),
            secs(FRESH_JVM_WARMUP)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &str, secs: u64, measured: bool) -> Phase {
        Phase { name: name.into(), duration: Duration::from_secs(secs), measured }
    }

    #[test]
    fn a_fresh_cluster_note_says_whether_the_warm_up_covers_the_jvms() {
        let covered = fresh_cluster_note(&[phase("warmup", 20, false), phase("steady", 20, true)]);
        assert!(covered.starts_with("the cluster is fresh") && covered.contains("(20 s) covers"), "{covered}");
        let short = fresh_cluster_note(&[phase("warmup", 5, false), phase("steady", 20, true)]);
        assert!(short.starts_with("note:") && short.contains("only 5 s") && short.contains("to 20 s"), "{short}");
        // Unmeasured time counts only before the first measured phase.
        let late = fresh_cluster_note(&[phase("steady", 20, true), phase("cooldown", 30, false)]);
        assert!(late.contains("only 0 s"), "{late}");
    }
}
