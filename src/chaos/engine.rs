//! Runs a scenario's fault schedule against a backend (a local cluster, or broker pods in
//! Kubernetes): each occurrence waits for its time, resolves its target, is applied as a guard
//! (local faults are written to the ledger first), observed, and undone when its window ends
//! or the run is cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom as _;
use rdkafka::config::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::ledger::FaultLedger;
use super::observe::{ClusterView, active_controller};
use crate::cluster::LocalCluster;
use crate::error::{Error, Result};
use crate::measure::RunClock;
use crate::scenario::fault::{FaultAction, FaultSpec, FaultStart, Safety, TargetSpec};

/// The fault producers attribute acknowledgements to: its sequence number (from 1) and its
/// injection time in run-clock nanoseconds. Written once per fault, read on every ack.
#[derive(Debug, Default)]
pub struct FaultMarks {
    seq: AtomicU32,
    start_ns: AtomicU64,
}

impl FaultMarks {
    /// The latest fault, if any: (sequence number, injection time in run-clock ns).
    #[inline]
    pub fn current(&self) -> Option<(u32, u64)> {
        let seq = self.seq.load(Ordering::Acquire);
        (seq > 0).then(|| (seq, self.start_ns.load(Ordering::Relaxed)))
    }

    pub(crate) fn set(&self, seq: u32, start_ns: u64) {
        self.start_ns.store(start_ns, Ordering::Relaxed);
        self.seq.store(seq, Ordering::Release);
    }
}

/// One planned occurrence of a fault.
#[derive(Debug, Clone)]
pub struct Occurrence {
    /// 1-based, in start order; the key of the ledger and of [`FaultMarks`].
    pub seq: u32,
    pub spec: FaultSpec,
    /// Which repetition of the fault (0-based).
    pub repeat: u32,
    /// Offset from the start of the load.
    pub start: Duration,
}

/// Expands `every`/`times` and phase-relative starts into a timeline sorted by start.
/// `phases` are (name, offset of its start from the start of the load).
pub fn timeline(faults: &[FaultSpec], phases: &[(String, Duration)]) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for f in faults {
        let first = match &f.start {
            FaultStart::At(d) => *d,
            FaultStart::Phase { phase, offset } => {
                phases.iter().find(|(n, _)| n == phase).map(|(_, s)| *s).unwrap_or_default() + *offset
            }
        };
        for repeat in 0..f.times.max(1) {
            let start = first + f.every.unwrap_or_default() * repeat;
            out.push(Occurrence { seq: 0, spec: f.clone(), repeat, start });
        }
    }
    out.sort_by_key(|o| o.start);
    for (i, o) in out.iter_mut().enumerate() {
        o.seq = i as u32 + 1;
    }
    out
}

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

/// Where faults are injected.
#[derive(Clone, Debug)]
pub enum Backend {
    /// The processes (and network namespaces) of a local cluster.
    Local(Arc<Mutex<LocalCluster>>),
    /// Broker pods through the Kubernetes API.
    Kube(Arc<super::kube::KubeBackend>),
}

/// An applied fault of either backend.
enum Guard {
    Local(super::local::ActiveFault),
    Kube(super::kube::KubeFault),
}

/// What the engine needs from the run.
pub struct ChaosContext {
    pub backend: Backend,
    pub base: ClientConfig,
    pub ledger: FaultLedger,
    pub clock: RunClock,
    pub load_start: Instant,
    pub marks: Arc<FaultMarks>,
    pub seed: u64,
    pub safety: Safety,
    /// When the observation of a fault must end at the latest (end of the run).
    pub observe_until: Instant,
}

/// Runs every occurrence; returns their outcomes in start order. Cancelling `cancel` undoes
/// active faults at once; `abort` receives a reason if the run must stop (unhealthy cluster).
pub async fn run_faults(
    plan: Vec<Occurrence>,
    ctx: Arc<ChaosContext>,
    cancel: CancellationToken,
    abort: Arc<Mutex<Option<String>>>,
) -> Vec<FaultOutcome> {
    let mut handles = Vec::new();
    let first = plan.first().map(|o| o.seq);
    for occ in plan {
        let (ctx, cancel, abort) = (ctx.clone(), cancel.clone(), abort.clone());
        let check_health = Some(occ.seq) == first && ctx.safety.require_healthy;
        handles.push(tokio::spawn(async move { run_one(occ, ctx, cancel, abort, check_health).await }));
    }
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) => out.push(o),
            Err(e) => out.push(FaultOutcome { errors: vec![format!("fault task failed: {e}")], ..Default::default() }),
        }
    }
    out.sort_by_key(|o| o.seq);
    out
}

async fn run_one(
    occ: Occurrence,
    ctx: Arc<ChaosContext>,
    cancel: CancellationToken,
    abort: Arc<Mutex<Option<String>>>,
    check_health: bool,
) -> FaultOutcome {
    let mut out = FaultOutcome {
        seq: occ.seq,
        name: occ.spec.name.clone(),
        action: occ.spec.action.name().to_string(),
        repeat: occ.repeat,
        planned_start: (ctx.load_start + occ.start).saturating_duration_since(ctx.clock.start()),
        ..Default::default()
    };
    let due = tokio::time::Instant::from_std(ctx.load_start + occ.start);
    tokio::select! {
        _ = tokio::time::sleep_until(due) => {}
        _ = cancel.cancelled() => {
            out.skipped = Some("the run ended before the fault was due".into());
            return out;
        }
    }
    let n_nodes = match node_ids(&ctx.backend).await {
        Ok((all, _)) => all.len(),
        Err(e) => {
            out.skipped = Some(format!("could not list the nodes: {e}"));
            return out;
        }
    };
    if check_health {
        let base = ctx.base.clone();
        let view = blocking(move || ClusterView::fetch(&base, Duration::from_secs(10))).await;
        match view {
            Ok(v) if v.healthy(n_nodes) => {}
            Ok(v) => {
                let why = format!(
                    "the cluster was unhealthy when the first fault was due ({}); no fault was injected (set \"safety\": {{\"require_healthy\": false}} to inject anyway)",
                    v.problems(n_nodes)
                );
                *lock(&abort) = Some(why.clone());
                out.skipped = Some(why);
                cancel.cancel();
                return out;
            }
            Err(e) => {
                let why = format!("could not check the cluster's health before the first fault: {e}");
                *lock(&abort) = Some(why.clone());
                out.skipped = Some(why);
                cancel.cancel();
                return out;
            }
        }
    }

    // Resolve the target now: leaders and the controller move during a run.
    let resolved = match node_ids(&ctx.backend).await {
        Ok((all, alive)) => {
            let (ctx2, spec) = (ctx.clone(), occ.spec.clone());
            blocking(move || resolve_target(&ctx2, &spec, occ.seq, all, alive)).await
        }
        Err(e) => Err(e),
    };
    let (nodes, reason) = match resolved {
        Ok(r) => r,
        Err(e) => {
            out.skipped = Some(format!("could not resolve the target ({}): {e}", occ.spec.target.describe()));
            return out;
        }
    };
    out.nodes = nodes.clone();
    out.reason = reason;

    let injected_at = Instant::now();
    out.injected = Some(injected_at.saturating_duration_since(ctx.clock.start()));
    ctx.marks.set(occ.seq, ctx.clock.offset_nanos(injected_at));
    // Observe while the fault is on and after it is undone.
    let observer_stop = CancellationToken::new();
    let observer = tokio::spawn(observe(
        ctx.clone(),
        nodes.clone(),
        occ.spec.target.clone(),
        n_nodes,
        injected_at,
        observer_stop.clone(),
        cancel.clone(),
    ));

    let applied = match &ctx.backend {
        Backend::Local(cluster) => {
            let (c, ledger, spec, nodes) = (cluster.clone(), ctx.ledger.clone(), occ.spec.clone(), nodes.clone());
            blocking(move || super::local::apply(&c, &ledger, occ.seq, &spec, &nodes)).await.map(Guard::Local)
        }
        Backend::Kube(k) => {
            let base = ctx.base.clone();
            let healthy = move || {
                let base = base.clone();
                async move { wait_healthy(base, n_nodes, k_timeout()).await }
            };
            k.apply(occ.seq, &occ.spec, &nodes, healthy).await.map(Guard::Kube)
        }
    };
    // Kubernetes: watch the pods the fault took down until they are Ready again.
    let mut pod_watch = None;
    match applied {
        Err(e) => out.errors.push(format!("applying: {e}")),
        Ok(guard) => {
            if let (Guard::Kube(f), Backend::Kube(k)) = (&guard, &ctx.backend) {
                out.pods = f.pods().iter().map(|p| p.name.clone()).collect();
                out.notes.extend(f.objects().into_iter().map(|o| format!("created {o}")));
                if takes_pods_down(occ.spec.action) {
                    pod_watch = Some(tokio::spawn(watch_pods_ready(
                        k.clone(),
                        f.pods().to_vec(),
                        occ.spec.action,
                        cancel.clone(),
                    )));
                }
            }
            // The window, cut short by cancellation; kill/stop restart early when asked.
            let window_end = tokio::time::Instant::from_std(injected_at + occ.spec.duration);
            let guard = match (guard, occ.spec.restart_after, &ctx.backend) {
                (Guard::Local(g), Some(after), Backend::Local(cluster)) => {
                    let at = tokio::time::Instant::from_std(injected_at + after);
                    tokio::select! { _ = tokio::time::sleep_until(at) => {}, _ = cancel.cancelled() => {} }
                    let c = cluster.clone();
                    let (g, r) = blocking_guard(move || {
                        let mut g = g;
                        let r = g.restart_early(&c);
                        (g, r)
                    })
                    .await;
                    if let Err(e) = r {
                        out.errors.push(format!("restarting early: {e}"));
                    }
                    Guard::Local(g)
                }
                (g, _, _) => g,
            };
            tokio::select! { _ = tokio::time::sleep_until(window_end) => {}, _ = cancel.cancelled() => {} }
            let r = match (guard, &ctx.backend) {
                (Guard::Local(g), Backend::Local(cluster)) => {
                    let c = cluster.clone();
                    blocking(move || g.revert(&c)).await
                }
                (Guard::Kube(mut g), _) => g.revert().await,
                (Guard::Local(_), Backend::Kube(_)) => Ok(()),
            };
            if let Err(e) = r {
                out.errors.push(format!("undoing: {e}"));
            }
            out.reverted = Some(ctx.clock.offset(Instant::now()));
        }
    }
    let obs = observer.await.unwrap_or_default();
    observer_stop.cancel();
    out.healthy_again = obs.healthy_again;
    out.degraded_seen = obs.degraded_seen;
    out.node_registered = obs.node_registered;
    out.new_controller = obs.new_controller;
    out.errors.extend(obs.errors);
    if let Some(w) = pod_watch {
        match w.await {
            Ok(Ok(Some(at))) => out.pod_ready = Some(ctx.clock.offset(at)),
            Ok(Ok(None)) => out.notes.push("the run ended before the pods were Ready again".into()),
            Ok(Err(e)) => out.errors.push(format!("watching the pods: {e}")),
            Err(e) => out.errors.push(format!("watching the pods: {e}")),
        }
    }
    // A NetworkPolicy only works where the CNI enforces it; a broker cut off from the other
    // nodes for longer than the session timeout (9 s) is fenced, so a broker that stayed
    // registered through a long enough window shows the policy did nothing.
    if let (Backend::Kube(k), FaultAction::Partition { peers, .. }) = (&ctx.backend, occ.spec.action)
        && !k.spec().chaos_mesh
        && peers != crate::scenario::fault::Peers::Clients
        && out.injected.is_some()
        && out.errors.is_empty()
    {
        if occ.spec.duration < NETPOL_EFFECT_WINDOW {
            out.notes.push(format!(
                "the window is shorter than {}s, too short to tell whether the NetworkPolicy took effect",
                NETPOL_EFFECT_WINDOW.as_secs()
            ));
        } else if !obs.victim_left {
            out.notes.push(format!(
                "WARNING: the NetworkPolicy had no visible effect on Kafka: node(s) {:?} stayed registered through a {}s window. Either nothing enforces NetworkPolicies here (kindnet and flannel alone do not), or the engine applies them to new connections only: kube-router (checked) and other conntrack-based engines let established connections go on, and Kafka keeps its connections between brokers open. Such a policy cuts a running broker off only once those connections break (flush the node's conntrack entries for the pod), or use `chaos_mesh`, whose iptables rules in the pod's own network namespace also drop the packets of established connections",
                out.nodes,
                occ.spec.duration.as_secs()
            ));
        }
    }
    out
}

/// A broker cut off from the controller is fenced after `broker.session.timeout.ms` (9 s by
/// default); windows at least this long tell whether a NetworkPolicy took effect.
const NETPOL_EFFECT_WINDOW: Duration = Duration::from_secs(15);

/// How long a rolling restart on Kubernetes waits for the cluster to be whole after a pod.
fn k_timeout() -> Duration {
    Duration::from_secs(300)
}

fn takes_pods_down(a: FaultAction) -> bool {
    matches!(a, FaultAction::Kill | FaultAction::Stop | FaultAction::Pause)
}

/// The node ids of the backend: all of them, and those alive now.
async fn node_ids(backend: &Backend) -> Result<(Vec<i32>, Vec<i32>)> {
    match backend {
        Backend::Local(c) => {
            let mut c = lock(c);
            let all: Vec<i32> = c.state().nodes.iter().map(|n| n.id).collect();
            let alive = all.iter().copied().filter(|id| c.is_alive(*id)).collect();
            Ok((all, alive))
        }
        Backend::Kube(k) => {
            let pods = k.brokers().await?;
            let alive = pods.iter().filter(|p| p.ready && !p.deleting).map(|p| p.node_id).collect();
            Ok((pods.iter().map(|p| p.node_id).collect(), alive))
        }
    }
}

/// Waits until every partition is led and fully in sync on `n_nodes` brokers.
async fn wait_healthy(base: ClientConfig, n_nodes: usize, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let b = base.clone();
        if let Ok(v) = blocking(move || ClusterView::fetch(&b, Duration::from_secs(5))).await
            && v.healthy(n_nodes)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Usage(format!("the cluster was not whole again within {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until each pod the fault took down is Ready again: a replacement for a deleted pod
/// (a new uid), or the same pod after a pod-failure; `None` when the run ends first.
async fn watch_pods_ready(
    k: Arc<super::kube::KubeBackend>,
    pods: Vec<super::kube::BrokerPod>,
    action: FaultAction,
    cancel: CancellationToken,
) -> Result<Option<Instant>> {
    let timeout = k.spec().ready_timeout;
    let wait = async {
        let mut last = Instant::now();
        for p in &pods {
            let at = match action {
                FaultAction::Pause => {
                    // Chaos Mesh's pod-failure keeps the pod; it is Ready again only after
                    // the fault is removed, so first see it not Ready.
                    wait_not_ready(&k, &p.name, timeout).await?;
                    k.wait_ready(&p.name, None, timeout).await?
                }
                _ => k.wait_ready(&p.name, Some(&p.uid), timeout).await?,
            };
            last = last.max(at);
        }
        Ok::<_, Error>(last)
    };
    tokio::select! {
        r = wait => r.map(Some),
        _ = cancel.cancelled() => Ok(None),
    }
}

async fn wait_not_ready(k: &super::kube::KubeBackend, name: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let pods = k.brokers().await?;
        if pods.iter().find(|p| p.name == name).is_none_or(|p| !p.ready) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Observed {
    healthy_again: Option<Duration>,
    degraded_seen: bool,
    node_registered: Option<Duration>,
    new_controller: Option<(Duration, i32)>,
    /// A target node was missing from the registered brokers at some point.
    victim_left: bool,
    errors: Vec<String>,
}

/// Polls metadata (and the quorum state) every 250 ms from injection until the cluster is
/// whole again or the run ends.
async fn observe(
    ctx: Arc<ChaosContext>,
    victims: Vec<i32>,
    target: TargetSpec,
    n_nodes: usize,
    injected_at: Instant,
    stop: CancellationToken,
    cancel: CancellationToken,
) -> Observed {
    let mut o = Observed::default();
    let mut victim_gone = false;
    let deadline = ctx.observe_until.max(injected_at + Duration::from_secs(5));
    loop {
        if stop.is_cancelled() || cancel.is_cancelled() || Instant::now() >= deadline {
            break;
        }
        let base = ctx.base.clone();
        let view = blocking(move || ClusterView::fetch(&base, Duration::from_secs(2))).await;
        let now = ctx.clock.offset(Instant::now());
        if let Ok(v) = view {
            let all_registered = v.brokers.len() >= n_nodes;
            if !all_registered || !v.healthy(n_nodes) {
                o.degraded_seen = true;
            }
            if victims.iter().any(|id| !v.brokers.contains(id)) {
                victim_gone = true;
                o.victim_left = true;
            } else if victim_gone && o.node_registered.is_none() {
                o.node_registered = Some(now);
            }
            if o.degraded_seen && o.healthy_again.is_none() && v.healthy(n_nodes) {
                o.healthy_again = Some(now);
            }
        }
        if let (TargetSpec::Controller, None, Backend::Local(cluster)) = (&target, o.new_controller, &ctx.backend) {
            let c = lock(cluster);
            let alive: Vec<i32> = c.state().nodes.iter().map(|n| n.id).filter(|id| !victims.contains(id)).collect();
            if let Some(leader) = active_controller(c.dir(), c.state(), &alive)
                && !victims.contains(&leader)
            {
                o.new_controller = Some((now, leader));
            }
        }
        let done = o.healthy_again.is_some()
            && (!victim_gone || o.node_registered.is_some())
            && (target != TargetSpec::Controller
                || o.new_controller.is_some()
                || matches!(ctx.backend, Backend::Kube(_)));
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    o
}

/// Chooses the nodes a fault hits among `all` nodes and those alive now (`ids`), and says why.
fn resolve_target(
    ctx: &ChaosContext,
    spec: &FaultSpec,
    seq: u32,
    all: Vec<i32>,
    ids: Vec<i32>,
) -> Result<(Vec<i32>, String)> {
    let mut rng = crate::scenario::seeded_rng(ctx.seed, &format!("fault/{}", spec.name), u64::from(seq));
    if matches!(spec.action, FaultAction::Restart) {
        return Ok((all, "a rolling restart hits every node in turn".into()));
    }
    let none = || Error::Usage("no live node to hit".into());
    match &spec.target {
        TargetSpec::Node(n) => Ok((vec![*n], format!("node {n} by id"))),
        TargetSpec::Random => {
            let n = *ids.choose(&mut rng).ok_or_else(none)?;
            Ok((vec![n], format!("node {n}, chosen at random among live nodes {ids:?}")))
        }
        TargetSpec::AllButOne => {
            let keep = *ids.choose(&mut rng).ok_or_else(none)?;
            let hit: Vec<i32> = ids.iter().copied().filter(|i| *i != keep).collect();
            Ok((hit, format!("every live node but node {keep} (chosen at random)")))
        }
        TargetSpec::LeaderOf { topic, partition } => {
            let v = ClusterView::fetch(&ctx.base, Duration::from_secs(10))?;
            let l = v
                .leader_of(topic, *partition)
                .ok_or_else(|| Error::Usage(format!("{topic}/{partition} has no leader")))?;
            Ok((vec![l], format!("node {l} led {topic}/{partition}")))
        }
        TargetSpec::MostLeaders => {
            let v = ClusterView::fetch(&ctx.base, Duration::from_secs(10))?;
            let l = v.most_leaders().ok_or_else(none)?;
            let count = v.partitions.iter().filter(|p| p.leader == l).count();
            Ok((vec![l], format!("node {l} led the most partitions ({count} of {})", v.partitions.len())))
        }
        TargetSpec::Controller => {
            let c = match &ctx.backend {
                Backend::Local(cluster) => {
                    let c = lock(cluster);
                    active_controller(c.dir(), c.state(), &ids)
                        .ok_or_else(|| Error::Usage("no quorum leader found in the nodes' quorum state".into()))?
                }
                Backend::Kube(_) => super::quorum::describe_quorum_leader(&ctx.base, Duration::from_secs(10))?,
            };
            Ok((vec![c], format!("node {c} was the active controller (KRaft quorum leader)")))
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking cluster or client work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Usage(format!("background task failed: {e}")))?
}

async fn blocking_guard<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What the producers saw of each partition after a fault: per (fault sequence number,
/// partition), merged over producers.
pub type FaultAcks = HashMap<(u32, i32), PartitionAcks>;

/// Acknowledgements of one partition after one fault's injection (run-clock ns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionAcks {
    /// The first ack of a message meant to be sent after the injection.
    pub first: Option<u64>,
    /// The longest time without an ack: from the later of the injection and the previous ack
    /// to the next ack. On Kubernetes a broker stops answering some time after the API call
    /// that kills it (the kubelet's grace, a SIGTERM's controlled shutdown), so the first ack
    /// after the call can come from the old leader; the gap starts when it really stopped.
    pub longest_gap: u64,
}

impl PartitionAcks {
    /// Merges another producer's view of the same partition. Several instances share a
    /// partition: it was silent only while all were, and each instance's longest gap bounds
    /// that from above, so the smallest is the closest.
    pub fn merge(&mut self, other: &PartitionAcks) {
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.longest_gap = self.longest_gap.min(other.longest_gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::fault::FaultStart;

    fn spec(name: &str, start: FaultStart, every: Option<u64>, times: u32) -> FaultSpec {
        FaultSpec {
            name: name.into(),
            start,
            action: FaultAction::Pause,
            target: TargetSpec::Random,
            duration: Duration::from_secs(5),
            restart_after: None,
            every: every.map(Duration::from_secs),
            times,
        }
    }

    #[test]
    fn timeline_expands_repeats_and_phase_offsets_in_order() {
        let phases = vec![("warmup".to_string(), Duration::ZERO), ("steady".to_string(), Duration::from_secs(10))];
        let t = timeline(
            &[
                spec("a", FaultStart::Phase { phase: "steady".into(), offset: Duration::from_secs(5) }, Some(20), 3),
                spec("b", FaultStart::At(Duration::from_secs(20)), None, 1),
            ],
            &phases,
        );
        let got: Vec<(u32, &str, u32, u64)> =
            t.iter().map(|o| (o.seq, o.spec.name.as_str(), o.repeat, o.start.as_secs())).collect();
        assert_eq!(got, vec![(1, "a", 0, 15), (2, "b", 0, 20), (3, "a", 1, 35), (4, "a", 2, 55)]);
    }

    #[test]
    fn marks_publish_the_latest_fault() {
        let m = FaultMarks::default();
        assert_eq!(m.current(), None);
        m.set(2, 99);
        assert_eq!(m.current(), Some((2, 99)));
    }
}
