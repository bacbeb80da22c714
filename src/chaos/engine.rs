//! Runs a run's fault timeline against a [`FaultBackend`]: each occurrence waits for its
//! time, resolves its target, is applied as a guard (written to the ledger first where the
//! backend keeps one), observed through Kafka, and undone when its window ends or the run is
//! cancelled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::{ApplyEnv, ClusterProbe, FaultBackend, FaultGuard, Nodes};
use super::ledger::FaultLedger;
use super::outcome::FaultOutcome;
use crate::error::{Error, Result};
use crate::measure::RunClock;
use crate::measure::fault_acks::FaultMarks;
use crate::plan::Occurrence;
use crate::scenario::fault::{FaultAction, FaultSpec, Safety, TargetSpec};
use crate::stop::{Stop, StopReason};

/// What the engine needs from the run.
pub struct ChaosContext {
    pub backend: Arc<dyn FaultBackend>,
    pub probe: Arc<dyn ClusterProbe>,
    pub ledger: FaultLedger,
    pub clock: RunClock,
    pub load_start: Instant,
    pub marks: Arc<FaultMarks>,
    pub seed: u64,
    pub safety: Safety,
    /// When the observation of a fault must end at the latest (end of the run).
    pub observe_until: Instant,
    /// The run's tasks: every task the engine starts is tracked, so the run can wait for all.
    pub tracker: TaskTracker,
    /// Gets each occurrence's outcome as soon as its observation ends, while the run goes on
    /// (the live gate decides recovery checks with `abort_on_fail` on it).
    pub finished: Option<tokio::sync::mpsc::UnboundedSender<FaultOutcome>>,
}

/// The time now, from tokio's clock: the same as `Instant::now()` in a run, and virtual in
/// the engine's tests with paused time.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// Runs every occurrence; returns their outcomes in start order. Cancelling `stop` undoes
/// active faults at once. An unhealthy cluster before the first fault stops the whole run
/// (through `stop`'s root) with the reason.
pub async fn run_faults(plan: Vec<Occurrence>, ctx: Arc<ChaosContext>, stop: Stop) -> Vec<FaultOutcome> {
    let mut handles = Vec::new();
    let first = plan.first().map(|o| o.seq);
    for occ in plan {
        let (c, stop) = (ctx.clone(), stop.clone());
        let check_health = Some(occ.seq) == first && ctx.safety.require_healthy;
        handles.push(ctx.tracker.spawn(async move {
            let o = run_one(occ, c.clone(), stop, check_health).await;
            if let Some(tx) = &c.finished {
                // NB: a closed receiver means the run is winding down; the outcome is returned anyway.
                let _ = tx.send(o.clone());
            }
            o
        }));
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

async fn run_one(occ: Occurrence, ctx: Arc<ChaosContext>, stop: Stop, check_health: bool) -> FaultOutcome {
    let mut out = FaultOutcome {
        seq: occ.seq,
        name: occ.spec.name.clone(),
        action: occ.spec.action.name().to_string(),
        repeat: occ.repeat,
        planned_start: (ctx.load_start + occ.start).saturating_duration_since(ctx.clock.start()),
        ..Default::default()
    };
    tokio::select! {
        _ = sleep_until(ctx.load_start + occ.start) => {}
        _ = stop.cancelled() => {
            out.skipped = Some("the run ended before the fault was due".into());
            return out;
        }
    }
    let n_nodes = match ctx.backend.nodes().await {
        Ok(n) => n.all.len(),
        Err(e) => {
            out.skipped = Some(format!("could not list the nodes: {e}"));
            return out;
        }
    };
    if check_health && let Err(why) = healthy_before_first(&ctx, n_nodes).await {
        out.skipped = Some(why.clone());
        stop.stop(StopReason::Safety(why));
        return out;
    }
    // Resolve the target now: leaders and the controller move during a run.
    let resolved = match ctx.backend.nodes().await {
        Ok(nodes) => resolve_target(&ctx, &occ.spec, occ.seq, nodes).await,
        Err(e) => Err(e),
    };
    let (nodes, reason) = match resolved {
        Ok(r) => r,
        Err(e) => {
            out.skipped = Some(format!("could not resolve the target ({}): {e}", occ.spec.target.describe()));
            return out;
        }
    };
    out.nodes = nodes;
    out.reason = reason;
    inject(&occ, &ctx, &stop, n_nodes, &mut out).await;
    out
}

/// Refuses to start breaking a cluster that is already broken.
async fn healthy_before_first(ctx: &ChaosContext, n_nodes: usize) -> std::result::Result<(), String> {
    match ctx.probe.view(Duration::from_secs(10)).await {
        Ok(v) if v.healthy(n_nodes) => Ok(()),
        Ok(v) => Err(format!(
            "the cluster was unhealthy when the first fault was due ({}); no fault was injected (set \"safety\": {{\"require_healthy\": false}} to inject anyway)",
            v.problems(n_nodes)
        )),
        Err(e) => Err(format!("could not check the cluster's health before the first fault: {e}")),
    }
}

/// Applies the fault, holds it for its window, undoes it, and fills in what was observed.
async fn inject(occ: &Occurrence, ctx: &Arc<ChaosContext>, stop: &Stop, n_nodes: usize, out: &mut FaultOutcome) {
    let injected_at = now();
    out.injected = Some(injected_at.saturating_duration_since(ctx.clock.start()));
    ctx.marks.set(occ.seq, ctx.clock.offset_nanos(injected_at));
    // Observe while the fault is on and after it is undone.
    let observer_stop = stop.child();
    let undone = CancellationToken::new();
    let observer = ctx.tracker.spawn(observe(
        ctx.clone(),
        out.nodes.clone(),
        occ.spec.target.clone(),
        n_nodes,
        injected_at,
        Watch { undone: undone.clone(), stop: observer_stop.clone() },
    ));
    let env = ApplyEnv { ledger: ctx.ledger.clone(), probe: ctx.probe.clone(), n_nodes };
    let mut ready_watch = None;
    match ctx.backend.apply(occ, &out.nodes, &env).await {
        Err(e) => out.errors.push(format!("applying: {e}")),
        Ok(guard) => {
            guard.describe(out);
            if takes_pods_down(occ.spec.action) {
                ready_watch = guard.watch_ready(occ.spec.action, stop.token().clone()).map(|w| ctx.tracker.spawn(w));
            }
            hold(occ, guard, injected_at, stop, out).await;
            out.reverted = Some(ctx.clock.offset(now()));
        }
    }
    undone.cancel();
    let obs = observer.await.unwrap_or_default();
    observer_stop.cancel();
    out.healthy_again = obs.healthy_again;
    out.degraded_seen = obs.degraded_seen;
    out.node_registered = obs.node_registered;
    out.new_controller = obs.new_controller;
    out.errors.extend(obs.errors);
    if let Some(w) = ready_watch {
        match w.await {
            Ok(Ok(Some(at))) => out.pod_ready = Some(ctx.clock.offset(at)),
            Ok(Ok(None)) => out.notes.push("the run ended before the pods were Ready again".into()),
            Ok(Err(e)) => out.errors.push(format!("watching the pods: {e}")),
            Err(e) => out.errors.push(format!("watching the pods: {e}")),
        }
    }
    if out.injected.is_some() && out.errors.is_empty() {
        let notes = ctx.backend.effect_notes(occ, out, obs.victim_left);
        out.notes.extend(notes);
    }
}

/// The window, cut short by cancellation; kill and stop restart early when asked; then the
/// revert.
async fn hold(
    occ: &Occurrence,
    mut guard: Box<dyn FaultGuard>,
    injected_at: Instant,
    stop: &Stop,
    out: &mut FaultOutcome,
) {
    if let Some(after) = occ.spec.restart_after {
        tokio::select! { _ = sleep_until(injected_at + after) => {}, _ = stop.cancelled() => {} }
        if let Err(e) = guard.restart_early().await {
            out.errors.push(format!("restarting early: {e}"));
        }
    }
    tokio::select! { _ = sleep_until(injected_at + occ.spec.duration) => {}, _ = stop.cancelled() => {} }
    if let Err(e) = guard.revert().await {
        out.errors.push(format!("undoing: {e}"));
    }
}

fn takes_pods_down(a: FaultAction) -> bool {
    matches!(a, FaultAction::Kill | FaultAction::Stop | FaultAction::Pause)
}

/// Waits until every partition is led and fully in sync on `n_nodes` brokers.
pub(crate) async fn wait_healthy(probe: &dyn ClusterProbe, n_nodes: usize, timeout: Duration) -> Result<()> {
    let deadline = now() + timeout;
    loop {
        if let Ok(v) = probe.view(Duration::from_secs(5)).await
            && v.healthy(n_nodes)
        {
            return Ok(());
        }
        if now() >= deadline {
            return Err(Error::Failed(format!("the cluster was not whole again within {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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

/// How long the observer goes on watching after a fault that Kafka never showed was undone.
/// An effect can lag its cause by up to Kafka's session timeout (9 s in aftershock's clusters,
/// the broker's default for `broker.session.timeout.ms`): a broker killed and restarted inside
/// that time is fenced, if at all, after the restart.
const QUIET_AFTER_UNDO: Duration = Duration::from_secs(10);

/// When the observer learns that the fault was undone, and when it must stop.
struct Watch {
    undone: CancellationToken,
    stop: Stop,
}

/// Polls metadata (and the quorum) every 250 ms from injection until the cluster is whole
/// again, or, if it never looked degraded, until [`QUIET_AFTER_UNDO`] after the fault was
/// undone (there is nothing to recover from, and waiting for the end of the run would hold
/// the drain up); in any case no longer than the run.
async fn observe(
    ctx: Arc<ChaosContext>,
    victims: Vec<i32>,
    target: TargetSpec,
    n_nodes: usize,
    injected_at: Instant,
    watch: Watch,
) -> Observed {
    let mut o = Observed::default();
    let deadline = ctx.observe_until.max(injected_at + Duration::from_secs(5));
    let wants_controller = target == TargetSpec::Controller && ctx.backend.sees_quorum();
    let mut undone_at = None;
    while !watch.stop.is_cancelled() && now() < deadline {
        if undone_at.is_none() && watch.undone.is_cancelled() {
            undone_at = Some(now());
        }
        let view = ctx.probe.view(Duration::from_secs(2)).await;
        let at = ctx.clock.offset(now());
        let mut whole_now = false;
        if let Ok(v) = view {
            whole_now = v.healthy(n_nodes);
            if !whole_now {
                o.degraded_seen = true;
            }
            if victims.iter().any(|id| !v.brokers.contains(id)) {
                o.victim_left = true;
            } else if o.victim_left && o.node_registered.is_none() {
                o.node_registered = Some(at);
            }
            if o.degraded_seen && o.healthy_again.is_none() && v.healthy(n_nodes) {
                o.healthy_again = Some(at);
            }
        }
        if wants_controller
            && o.new_controller.is_none()
            && let Some(leader) = ctx.backend.new_controller(&victims)
        {
            o.new_controller = Some((at, leader));
        }
        let recovered = o.healthy_again.is_some()
            && (!o.victim_left || o.node_registered.is_some())
            && (!wants_controller || o.new_controller.is_some());
        let never_seen = !o.degraded_seen && whole_now && undone_at.is_some_and(|t| now() >= t + QUIET_AFTER_UNDO);
        if recovered || never_seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    o
}

/// Chooses the nodes a fault hits among the backend's nodes, and says why.
async fn resolve_target(ctx: &ChaosContext, spec: &FaultSpec, seq: u32, nodes: Nodes) -> Result<(Vec<i32>, String)> {
    let mut rng = crate::scenario::seeded_rng(ctx.seed, &format!("fault/{}", spec.name), u64::from(seq));
    if matches!(spec.action, FaultAction::Restart) {
        return Ok((nodes.all, "a rolling restart hits every node in turn".into()));
    }
    let ids = nodes.alive;
    let none = || Error::Failed("no live node to hit".into());
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
            let v = ctx.probe.view(Duration::from_secs(10)).await?;
            let l = v
                .leader_of(topic, *partition)
                .ok_or_else(|| Error::Failed(format!("{topic}/{partition} has no leader")))?;
            Ok((vec![l], format!("node {l} led {topic}/{partition}")))
        }
        TargetSpec::MostLeaders => {
            let v = ctx.probe.view(Duration::from_secs(10)).await?;
            let l = v.most_leaders().ok_or_else(none)?;
            let count = v.partitions.iter().filter(|p| p.leader == l).count();
            Ok((vec![l], format!("node {l} led the most partitions ({count} of {})", v.partitions.len())))
        }
        TargetSpec::Controller => {
            let c = ctx.backend.controller(&ids, ctx.probe.as_ref()).await?;
            Ok((vec![c], format!("node {c} was the active controller (KRaft quorum leader)")))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The engine against a backend and a probe played by the test, in tokio's paused time:
    //! every time below is virtual and exact.

    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::chaos::observe::{ClusterView, PartitionView};
    use crate::scenario::fault::FaultStart;

    /// What the backend was asked to do, and when (seconds from the start of the load).
    type Events = Arc<Mutex<Vec<(String, f64)>>>;

    #[derive(Debug)]
    struct MockBackend {
        events: Events,
        start: Instant,
    }

    impl MockBackend {
        fn log(events: &Events, start: Instant, what: String) {
            events.lock().unwrap().push((what, (now() - start).as_secs_f64()));
        }
    }

    impl FaultBackend for MockBackend {
        fn nodes(&self) -> BoxFuture<'_, Result<Nodes>> {
            Box::pin(async { Ok(Nodes { all: vec![1, 2, 3], alive: vec![1, 2, 3] }) })
        }

        fn controller<'a>(&'a self, _alive: &'a [i32], _probe: &'a dyn ClusterProbe) -> BoxFuture<'a, Result<i32>> {
            Box::pin(async { Ok(1) })
        }

        fn apply<'a>(
            &'a self,
            occ: &'a Occurrence,
            nodes: &'a [i32],
            _env: &'a ApplyEnv,
        ) -> BoxFuture<'a, Result<Box<dyn FaultGuard>>> {
            Box::pin(async move {
                MockBackend::log(&self.events, self.start, format!("apply {} {nodes:?}", occ.spec.name));
                let guard = MockGuard { name: occ.spec.name.clone(), events: self.events.clone(), start: self.start };
                Ok(Box::new(guard) as Box<dyn FaultGuard>)
            })
        }
    }

    struct MockGuard {
        name: String,
        events: Events,
        start: Instant,
    }

    impl FaultGuard for MockGuard {
        fn restart_early(&mut self) -> BoxFuture<'_, Result<()>> {
            MockBackend::log(&self.events, self.start, format!("restart {}", self.name));
            Box::pin(async { Ok(()) })
        }

        fn revert(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
            MockBackend::log(&self.events, self.start, format!("revert {}", self.name));
            Box::pin(async { Ok(()) })
        }
    }

    /// Kafka's view: three brokers, `t/0` led by `leader`, in sync unless `unhealthy`.
    struct MockProbe {
        leader: i32,
        unhealthy: bool,
    }

    impl ClusterProbe for MockProbe {
        fn view(&self, _timeout: Duration) -> BoxFuture<'_, Result<ClusterView>> {
            let isr = if self.unhealthy { vec![self.leader] } else { vec![1, 2, 3] };
            let v = ClusterView {
                brokers: vec![1, 2, 3],
                partitions: vec![PartitionView {
                    topic: "t".into(),
                    partition: 0,
                    leader: self.leader,
                    replicas: vec![1, 2, 3],
                    isr,
                }],
            };
            Box::pin(async move { Ok(v) })
        }

        fn quorum_leader(&self, _timeout: Duration) -> BoxFuture<'_, Result<i32>> {
            Box::pin(async { Ok(1) })
        }
    }

    fn fault(name: &str, start: u64, duration: u64, target: TargetSpec) -> FaultSpec {
        FaultSpec {
            name: name.into(),
            start: FaultStart::At(Duration::from_secs(start)),
            action: FaultAction::Kill,
            target,
            duration: Duration::from_secs(duration),
            restart_after: None,
            every: None,
            times: 1,
        }
    }

    struct Setup {
        ctx: Arc<ChaosContext>,
        events: Events,
        dir: tempfile::TempDir,
    }

    fn setup(probe: MockProbe, require_healthy: bool) -> Setup {
        let start = now();
        let events: Events = Arc::default();
        let dir = tempfile::tempdir().unwrap();
        let ctx = Arc::new(ChaosContext {
            backend: Arc::new(MockBackend { events: events.clone(), start }),
            probe: Arc::new(probe),
            ledger: FaultLedger::new(dir.path()),
            clock: RunClock::new(start),
            load_start: start,
            marks: Arc::new(FaultMarks::default()),
            seed: 1,
            safety: Safety { abort_on_errors: None, require_healthy },
            observe_until: start + Duration::from_secs(60),
            tracker: TaskTracker::new(),
            finished: None,
        });
        Setup { ctx, events, dir }
    }

    fn plan(faults: &[FaultSpec]) -> Vec<Occurrence> {
        crate::plan::timeline(faults, &[])
    }

    fn events(s: &Setup) -> Vec<(String, f64)> {
        let _ = s.dir.path();
        s.events.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_is_applied_when_due_and_undone_when_its_window_ends() {
        let s = setup(MockProbe { leader: 1, unhealthy: false }, true);
        let out = run_faults(plan(&[fault("kill-2", 5, 10, TargetSpec::Node(2))]), s.ctx.clone(), Stop::new()).await;
        assert_eq!(events(&s), vec![("apply kill-2 [2]".to_string(), 5.0), ("revert kill-2".to_string(), 15.0)]);
        let o = &out[0];
        assert_eq!((o.seq, o.nodes.clone(), o.skipped.clone()), (1, vec![2], None));
        assert_eq!(o.injected, Some(Duration::from_secs(5)));
        assert_eq!(o.reverted, Some(Duration::from_secs(15)));
        assert_eq!(s.ctx.marks.current(), Some((1, 5_000_000_000)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_kafka_never_showed_is_watched_briefly_after_its_undo_not_to_the_end_of_the_run() {
        let s = setup(MockProbe { leader: 1, unhealthy: false }, true);
        let started = now();
        let out = run_faults(plan(&[fault("quiet", 2, 8, TargetSpec::Node(2))]), s.ctx.clone(), Stop::new()).await;
        let took = now() - started;
        assert_eq!(out[0].reverted, Some(Duration::from_secs(10)));
        // Undone at 10 s, then QUIET_AFTER_UNDO; observe_until is 60 s.
        assert!(took >= Duration::from_secs(20) && took < Duration::from_secs(22), "{took:?}");
        assert!(!out[0].degraded_seen && out[0].healthy_again.is_none(), "{:?}", out[0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_kafka_showed_is_watched_until_the_cluster_is_whole_again() {
        let s = setup(MockProbe { leader: 1, unhealthy: true }, false);
        let started = now();
        let out = run_faults(plan(&[fault("visible", 2, 8, TargetSpec::Node(2))]), s.ctx.clone(), Stop::new()).await;
        // The mock stays degraded: observation lasts until observe_until.
        assert!(now() - started >= Duration::from_secs(60), "{:?}", now() - started);
        assert!(out[0].degraded_seen && out[0].healthy_again.is_none(), "{:?}", out[0]);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_the_run_undoes_an_active_fault_at_once() {
        let s = setup(MockProbe { leader: 1, unhealthy: false }, true);
        let stop = Stop::new();
        let run =
            tokio::spawn(run_faults(plan(&[fault("long", 1, 600, TargetSpec::Node(3))]), s.ctx.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_secs(4)).await;
        stop.stop(StopReason::Interrupted);
        let out = run.await.unwrap();
        assert_eq!(events(&s), vec![("apply long [3]".to_string(), 1.0), ("revert long".to_string(), 4.0)]);
        assert_eq!(out[0].reverted, Some(Duration::from_secs(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_not_due_before_the_run_ends_is_skipped_and_never_applied() {
        let s = setup(MockProbe { leader: 1, unhealthy: false }, true);
        let stop = Stop::new();
        let run =
            tokio::spawn(run_faults(plan(&[fault("late", 30, 5, TargetSpec::Random)]), s.ctx.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.cancel();
        let out = run.await.unwrap();
        assert!(events(&s).is_empty());
        assert_eq!(out[0].skipped.as_deref(), Some("the run ended before the fault was due"));
        assert_eq!(s.ctx.marks.current(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn restart_after_brings_the_node_back_inside_the_window() {
        let s = setup(MockProbe { leader: 1, unhealthy: false }, true);
        let mut f = fault("kill", 2, 20, TargetSpec::Node(1));
        f.restart_after = Some(Duration::from_secs(3));
        run_faults(plan(&[f]), s.ctx.clone(), Stop::new()).await;
        let got = events(&s);
        assert_eq!(
            got,
            vec![
                ("apply kill [1]".to_string(), 2.0),
                ("restart kill".to_string(), 5.0),
                ("revert kill".to_string(), 22.0)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unhealthy_cluster_stops_the_run_before_the_first_fault_with_the_reason() {
        let s = setup(MockProbe { leader: 1, unhealthy: true }, true);
        let stop = Stop::new();
        let faults = [fault("a", 1, 5, TargetSpec::Node(1)), fault("b", 3, 5, TargetSpec::Node(2))];
        let out = run_faults(plan(&faults), s.ctx.clone(), stop.child()).await;
        assert!(events(&s).is_empty(), "nothing applied: {:?}", events(&s));
        assert!(stop.is_cancelled());
        match stop.reason() {
            Some(StopReason::Safety(why)) => assert!(why.contains("1 under-replicated partitions"), "{why}"),
            other => panic!("expected a safety stop, got {other:?}"),
        }
        assert!(out.iter().all(|o| o.skipped.is_some() && o.injected.is_none()), "{out:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn targets_are_resolved_when_the_fault_fires() {
        let s = setup(MockProbe { leader: 3, unhealthy: false }, false);
        let faults = [
            fault("leader", 1, 1, TargetSpec::LeaderOf { topic: "t".into(), partition: 0 }),
            fault("controller", 5, 1, TargetSpec::Controller),
            fault("most", 9, 1, TargetSpec::MostLeaders),
        ];
        let out = run_faults(plan(&faults), s.ctx.clone(), Stop::new()).await;
        let nodes: Vec<(&str, Vec<i32>)> = out.iter().map(|o| (o.name.as_str(), o.nodes.clone())).collect();
        assert_eq!(nodes, vec![("leader", vec![3]), ("controller", vec![1]), ("most", vec![3])]);
        assert_eq!(out[0].reason, "node 3 led t/0");
    }
}
