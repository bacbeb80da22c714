//! `aftershock capacity`: the capacity-planning mode. Finds the highest rate the cluster
//! sustains under the scenario's `sustain` criteria, stepping the rate as OpenMessaging
//! Benchmark does ([`search`]), optionally with one node down for the whole search, and writes
//! `capacity.json`, `summary.md` and a plot ([`report`]).
//!
//! # How a search runs
//! One cluster and one set of consumers serve the whole search. Each step gets fresh open-loop
//! producers (the runner's, at the step's rate, latency from the intended send time) and a
//! fresh [`Aggregator`] whose phases are the step's warm-up, its measured window and its
//! settle time; a small router task hands every snapshot to the current step's aggregator.
//! Between steps the search waits until the step's deliveries are done and the consumers have
//! caught up, so that one step's backlog does not count against the next.

pub mod report;
pub mod search;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::chaos::backend::{ApplyEnv, ClusterProbe, FaultBackend, FaultGuard, KafkaProbe};
use crate::chaos::ledger::FaultLedger;
use crate::chaos::local::LocalBackend;
use crate::chaos::task::blocking;
use crate::cluster::LocalCluster;
use crate::error::{Error, Result};
use crate::load::payload::PayloadBuilder;
use crate::load::producer::ProducerOutcome;
use crate::measure::fault_acks::FaultMarks;
use crate::measure::{Aggregator, LatencyKind, Measurements, PhaseSpec, RunClock, SnapshotReceiver, channel};
use crate::plan::{Occurrence, ProducerIds, ProducerInstance};
use crate::report::{ClusterInfo, Environment, RunStatus, Units};
use crate::runner::workers::{self, Groups};
use crate::runner::{self, Connection, Progress, RunEnd, admin, connect};
use crate::scenario::capacity::{CapacitySpec, NodeDown, StepRule};
use crate::scenario::fault::{FaultAction, FaultSpec, FaultStart, TargetSpec};
use crate::scenario::{ClusterTarget, Rate, Scenario};
use crate::stop::{Stop, StopReason};
use report::{
    CAPACITY_SCHEMA_VERSION, CapacityReport, Criteria, NodeDownRecord, SearchResult, SearchSettings, StepRecord,
    StepSecond, Verdict,
};
use search::{Limit, Plan, Search, Stage, StepFigures, judge};

/// How long a killed node's partitions get to fail over before the search starts.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(90);
/// After a step's window, consumers' last per-second snapshots need this long to arrive.
const SNAPSHOT_GRACE: Duration = Duration::from_millis(1500);
/// How often a long warm-up probes the backlog, as the window will.
const WARMUP_PROBE_EVERY: Duration = Duration::from_secs(15);
/// The last warm-up probe comes at least this long before the window: a broker recompiling
/// after its first probe was slow for about 4 s.
const WARMUP_PROBE_LEAD: Duration = Duration::from_secs(20);

/// How `capacity` was asked to run.
#[derive(Debug, Clone)]
pub struct CapacityOptions {
    /// Run dir; default `reports/<scenario>-capacity-<UTC time>`.
    pub out: Option<PathBuf>,
    pub reports_root: PathBuf,
    pub progress: Progress,
    /// Overrides the scenario's `capacity.node_down`.
    pub node_down: Option<NodeDown>,
}

/// What a finished (or aborted) search produced.
#[derive(Debug)]
pub struct CapacityRun {
    /// Passed: found (and any required capacity met); checks failed: no sustainable rate, or
    /// below the required capacity; failed: aborted, or the node did not come back.
    pub outcome: RunEnd,
    pub run_dir: PathBuf,
    pub report: CapacityReport,
}

/// Runs the capacity search of a validated scenario until it ends or `shutdown` resolves.
///
/// # Errors
/// A scenario without a `capacity` block or a node-down request the cluster cannot serve
/// ([`Error::Usage`]), and setting-up failures (cluster, topics, failover). Once the first
/// step has started, a report is always written, marked aborted if the search did not end.
pub async fn run_capacity(
    scenario: Scenario,
    opts: CapacityOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<CapacityRun> {
    let Some(spec) = scenario.capacity.clone() else {
        return Err(Error::Usage(format!(
            "scenario {} has no `capacity` block: add one (see docs/scenarios.md#capacity), or run it with `aftershock run`",
            scenario.name
        )));
    };
    let node_down = opts.node_down.unwrap_or(spec.node_down);
    match (&scenario.cluster, node_down) {
        (_, NodeDown::No) => {}
        (ClusterTarget::Existing { .. }, _) => {
            return Err(Error::Usage(
                "taking a node down needs a cluster aftershock started (`local`, or `running` for one from \
                 `aftershock cluster up`); an existing cluster needs the Kubernetes backend"
                    .into(),
            ));
        }
        (ClusterTarget::Local { nodes, .. }, d) => {
            if *nodes < 2 {
                return Err(Error::Usage("a cluster of one node has nothing left with that node down".into()));
            }
            if let NodeDown::Node(id) = d
                && (id < 1 || id as usize > *nodes)
            {
                return Err(Error::Usage(format!("the local cluster has nodes 1 to {nodes}, not {id}")));
            }
        }
        (ClusterTarget::Running { .. }, _) => {}
    }
    let started_wall = SystemTime::now();
    let id = runner::run_id(&format!("{}-capacity", scenario.name), started_wall);
    let stop = Stop::new();
    let run_dir = connect::open_run(&id, opts.out.as_deref(), &opts.reports_root, shutdown, &stop)?;
    let conn = connect::connect(&scenario, &run_dir).await?;
    let tracker = TaskTracker::new();
    let run = Run {
        scenario: &scenario,
        spec: &spec,
        conn: &conn,
        id: &id,
        run_dir: &run_dir,
        stop: stop.clone(),
        tracker: tracker.clone(),
        opts: &opts,
    };
    let result = run.search(node_down, started_wall).await;
    connect::wind_down(&scenario, conn.local, &tracker, &[&stop], result.is_err()).await;
    result
}

/// Everything a search shares.
struct Run<'a> {
    scenario: &'a Scenario,
    spec: &'a CapacitySpec,
    conn: &'a Connection,
    id: &'a str,
    run_dir: &'a Path,
    stop: Stop,
    tracker: TaskTracker,
    opts: &'a CapacityOptions,
}

/// What a step saw while it ran, besides its measurements.
struct StepSeen {
    /// When its first phase began, on the run clock.
    start_off: Duration,
    lag_start: Option<u64>,
    lag_end: Option<u64>,
    settled: bool,
    settle_secs: f64,
    aborted: bool,
}

/// Control messages of the snapshot router.
enum Ctl {
    /// Route snapshots into this step's aggregator from now on.
    Begin(Box<Aggregator>),
    /// Hand the current aggregator back (and route nothing until the next `Begin`).
    Take(oneshot::Sender<Option<Aggregator>>),
}

/// Feeds every snapshot to the current step's aggregator. Snapshots between steps (the gap
/// after a step's settle time) belong to no step and are dropped.
async fn route(mut rx: SnapshotReceiver, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
    let mut current: Option<Aggregator> = None;
    loop {
        tokio::select! {
            // Snapshots first: a `Take` must not overtake ones already queued.
            biased;
            s = rx.recv() => match s {
                Some(s) => {
                    if let Some(a) = &mut current {
                        a.ingest(s);
                    }
                }
                None => break,
            },
            c = ctl.recv() => match c {
                Some(Ctl::Begin(a)) => current = Some(*a),
                Some(Ctl::Take(tx)) => {
                    let _ = tx.send(current.take());
                }
                None => break,
            },
        }
    }
}

/// The node taken down for the whole search, as a fault through the local backend.
struct DownNode {
    node: i32,
    guard: Box<dyn FaultGuard>,
    failover_secs: Option<f64>,
}

/// The ledger id of the node-down entry (one per run dir).
const LEDGER_ID: u32 = 1;

/// Picks the node (the highest one that is not the active controller, unless told), kills it
/// as a fault of the local backend (written to the fault ledger first, so that `aftershock
/// heal` can bring it back after a crash), and waits until its partitions have new leaders
/// and it is out of every ISR.
async fn take_down(
    cluster: Arc<Mutex<LocalCluster>>,
    which: NodeDown,
    probe: Arc<dyn ClusterProbe>,
    run_dir: &Path,
) -> Result<DownNode> {
    let backend = LocalBackend::new(cluster);
    let nodes = backend.nodes().await?;
    let node = match which {
        NodeDown::Node(id) if nodes.all.contains(&id) => id,
        NodeDown::Node(id) => {
            return Err(Error::Usage(format!("the cluster has no node {id} (nodes {:?})", nodes.all)));
        }
        _ => {
            let controller = backend.controller(&nodes.alive, probe.as_ref()).await.ok();
            let mut candidates: Vec<i32> = nodes.alive.iter().copied().filter(|id| Some(*id) != controller).collect();
            if candidates.is_empty() {
                candidates = nodes.alive.clone();
            }
            *candidates.iter().max().ok_or_else(|| Error::Failed("no node of the cluster is running".into()))?
        }
    };
    if nodes.alive.len() < 2 {
        return Err(Error::Failed(format!("only {} node(s) running: none can be taken down", nodes.alive.len())));
    }
    crate::cluster::registry::remember(run_dir);
    let occ = Occurrence {
        seq: LEDGER_ID,
        spec: FaultSpec {
            name: "capacity-node-down".into(),
            start: FaultStart::At(Duration::ZERO),
            action: FaultAction::Kill,
            target: TargetSpec::Node(node),
            duration: Duration::ZERO,
            restart_after: None,
            every: None,
            times: 1,
        },
        repeat: 0,
        start: Duration::ZERO,
    };
    let env = ApplyEnv { ledger: FaultLedger::new(run_dir), probe: probe.clone(), n_nodes: nodes.all.len() };
    let killed = Instant::now();
    let guard = backend.apply(&occ, &[node], &env).await?;
    let mut last = String::new();
    while killed.elapsed() < FAILOVER_TIMEOUT {
        if let Ok(v) = probe.view(Duration::from_secs(5)).await {
            let out_of_isr = v.partitions.iter().all(|p| !p.isr.contains(&node));
            if !v.brokers.contains(&node) && v.leaderless() == 0 && out_of_isr && !v.partitions.is_empty() {
                return Ok(DownNode { node, guard, failover_secs: Some(killed.elapsed().as_secs_f64()) });
            }
            last = format!(
                "{} partitions without a leader, node {node} {}registered, {}",
                v.leaderless(),
                if v.brokers.contains(&node) { "still " } else { "no longer " },
                if out_of_isr { "out of every ISR" } else { "still in some ISR" }
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let why = format!("after killing node {node}, partitions did not fail over within {FAILOVER_TIMEOUT:?}: {last}");
    // Put it back before giving up; the search cannot run on a cluster in this state.
    let _ = restore(DownNode { node, guard, failover_secs: None }).await;
    Err(Error::Failed(why))
}

/// Restarts the node (the fault's revert) and waits until it is registered; the revert
/// closes the ledger entry.
async fn restore(d: DownNode) -> NodeDownRecord {
    let (restored, restore_error) = match d.guard.revert().await {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    };
    NodeDownRecord { node: d.node, how: "SIGKILL".into(), failover_secs: d.failover_secs, restored, restore_error }
}

/// The worst consumer group's backlog: for each partition, what is in it beyond both the
/// group's position and where the search started.
fn backlog(groups: &Groups, base: &BTreeMap<String, Vec<i64>>, ends: &BTreeMap<String, Vec<i64>>) -> u64 {
    groups
        .iter()
        .map(|(_, topic, g)| {
            let (Some(b), Some(e)) = (base.get(topic), ends.get(topic)) else { return 0 };
            g.positions()
                .iter()
                .zip(b.iter().zip(e))
                .map(|(pos, (b, e))| (e - (*pos).max(*b)).max(0) as u64)
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}

/// When a warm-up of this length probes the backlog, from its start: every
/// [`WARMUP_PROBE_EVERY`], the last at least [`WARMUP_PROBE_LEAD`] before the window.
fn warmup_probes(warmup: Duration) -> impl Iterator<Item = Duration> {
    let last = warmup.saturating_sub(WARMUP_PROBE_LEAD);
    (1u32..).map(|k| WARMUP_PROBE_EVERY * k).take_while(move |at| *at <= last)
}

/// Sleeps until `at` or until `cancel`; true when cancelled.
async fn sleep_until(at: Instant, cancel: &Stop) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => false,
        _ = cancel.cancelled() => true,
    }
}

impl Run<'_> {
    async fn search(&self, node_down: NodeDown, started_wall: SystemTime) -> Result<CapacityRun> {
        let base = self.conn.base.clone();
        {
            let (s, b) = (self.scenario.clone(), base.clone());
            blocking(move || admin::ensure_topics(&s, &b)).await?;
        }
        let partitions: BTreeMap<String, usize> =
            self.scenario.topics.iter().map(|t| (t.name.clone(), t.partitions as usize)).collect();
        // The cluster as it is before a node goes down, for the report.
        let cluster_info = runner::assemble::cluster_info(&base, &self.conn.bootstrap, &partitions).await;
        let down = match (node_down, &self.conn.local) {
            (NodeDown::No, _) => None,
            (_, None) => return Err(Error::Usage("taking a node down needs a local or running cluster".into())),
            (which, Some(c)) => {
                let probe: Arc<dyn ClusterProbe> = Arc::new(KafkaProbe::new(base.clone()));
                if self.opts.progress != Progress::None {
                    eprintln!("taking a node down (SIGKILL) and waiting for its partitions to fail over");
                }
                let d = take_down(c.clone(), which, probe, self.run_dir).await?;
                if self.opts.progress != Progress::None {
                    eprintln!(
                        "node {} is down; partitions failed over in {:.1} s",
                        d.node,
                        d.failover_secs.unwrap_or(f64::NAN)
                    );
                }
                Some(d)
            }
        };
        let steps = self.steps(&partitions).await;
        // The node comes back whatever happened to the steps (an error, Ctrl-C).
        let node_record = match down {
            Some(d) => {
                if self.opts.progress != Progress::None {
                    eprintln!("restarting node {}", d.node);
                }
                Some(restore(d).await)
            }
            None => None,
        };
        let (records, search, abort) = steps;
        let report = self.report(records, &search, abort, node_record, cluster_info, started_wall);
        report.write_all(self.run_dir).map_err(|source| Error::Report {
            context: format!("writing the capacity report into {}", self.run_dir.display()),
            source: Box::new(source),
        })?;
        let restore_failed = report.node_down.as_ref().is_some_and(|d| !d.restored);
        let outcome = if report.status == RunStatus::Aborted || restore_failed {
            RunEnd::Failed
        } else if !report.result.found || report.result.meets_requirement == Some(false) {
            RunEnd::ChecksFailed
        } else {
            RunEnd::Passed
        };
        Ok(CapacityRun { outcome, run_dir: self.run_dir.to_path_buf(), report })
    }

    /// Runs the steps; never fails (an error ends the search as aborted, with its reason).
    async fn steps(&self, partitions: &BTreeMap<String, usize>) -> (Vec<StepRecord>, Search, Option<String>) {
        let spec = self.spec;
        let mut search = Search::new(Plan {
            start: spec.start,
            step: spec.step,
            max_rate: spec.max_rate,
            max_steps: spec.max_steps,
            refine: spec.refine,
        });
        let mut records = Vec::new();
        let clock = RunClock::new(Instant::now());
        let (tx, rx) = channel();
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let router = tokio::spawn(route(rx, ctl_rx));
        let payloads = PayloadBuilder::new(self.scenario.seed);
        // Their own root: the steps' end stops them, after the last step's messages are read.
        let stop_consumers = Stop::new();
        // Consumers only count and time messages here: no ledger verification in a search.
        let no_ids = BTreeMap::new();
        let started = workers::start_consumers(
            self.scenario,
            &self.conn.base,
            partitions,
            &no_ids,
            clock,
            &tx,
            &payloads,
            &stop_consumers,
            &self.tracker,
        );
        let (groups, consumer_threads) = match started {
            Ok(c) => (c.groups, c.threads),
            Err(e) => {
                search.abort();
                router.abort();
                return (records, search, Some(e.to_string()));
            }
        };
        workers::wait_assigned(&groups, &self.stop).await;
        // Where the search starts: anything already in the topics is read first, so that old
        // messages neither count as backlog nor as latency.
        let base_offsets = self.end_offsets(partitions).await.unwrap_or_default();
        let deadline = Instant::now() + spec.settle;
        while !groups.iter().all(|(_, t, g)| base_offsets.get(t).is_none_or(|e| g.reached(e)))
            && Instant::now() < deadline
            && !self.stop.is_cancelled()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut abort = None;
        // One allocator for the whole search: every step's producers get ids of their own.
        let mut ids = ProducerIds::random();
        while let Some((target, stage)) = search.next_rate() {
            if self.stop.is_cancelled() {
                break;
            }
            let index = records.len() as u32 + 1;
            if self.opts.progress != Progress::None {
                eprintln!(
                    "step {index} ({}): {} for {} s + {} s warm-up",
                    if stage == Stage::Ramp { "ramp" } else { "refine" },
                    crate::vocab::format::rate(target),
                    spec.duration.as_secs(),
                    (spec.warmup + if index == 1 { spec.initial_warmup } else { Duration::ZERO }).as_secs()
                );
            }
            let step = StepCx {
                index,
                stage,
                target,
                clock,
                tx: &tx,
                ctl: &ctl,
                payloads: &payloads,
                groups: &groups,
                partitions,
                base_offsets: &base_offsets,
                ids: &mut ids,
            };
            match self.step(step).await {
                Ok(rec) => {
                    if self.opts.progress != Progress::None {
                        eprintln!("  {}", step_line(&rec));
                    }
                    let verdict = rec.verdict;
                    records.push(rec);
                    match verdict {
                        Verdict::Pass => search.record(target, true),
                        Verdict::Fail => search.record(target, false),
                        Verdict::Aborted => break,
                    }
                }
                Err(e) => {
                    abort = Some(format!("step {index} failed: {e}"));
                    break;
                }
            }
        }
        if self.stop.is_cancelled() && abort.is_none() {
            abort = Some(self.stop.reason().unwrap_or(StopReason::Interrupted).to_string());
        }
        if abort.is_some() {
            search.abort();
        }
        stop_consumers.cancel();
        drop(tx);
        for t in consumer_threads {
            if let Ok(Err(e)) = t.await {
                tracing::warn!("consumer: {e}");
            }
        }
        router.abort();
        (records, search, abort)
    }

    async fn end_offsets(&self, partitions: &BTreeMap<String, usize>) -> Result<BTreeMap<String, Vec<i64>>> {
        let (b, t) = (self.conn.base.clone(), partitions.clone());
        blocking(move || admin::end_offsets(&b, &t)).await
    }

    async fn lag(&self, cx: &StepCx<'_>) -> Option<u64> {
        if cx.groups.is_empty() {
            return None;
        }
        let ends = self.end_offsets(cx.partitions).await.ok()?;
        Some(backlog(cx.groups, cx.base_offsets, &ends))
    }

    /// One step: producers at the target for warm-up + window, then settle, then the verdict.
    async fn step(&self, cx: StepCx<'_>) -> Result<StepRecord> {
        let spec = self.spec;
        let clock = cx.clock;
        // Steps start on a whole second of the run clock (the recorders' intervals), with a
        // second or more for the producers to connect.
        let start_off = Duration::from_secs(clock.offset(Instant::now()).as_secs() + 2);
        let start_at = clock.start() + start_off;
        // The first step also warms the cluster up (JIT, page cache, connections), as OMB's
        // warm-up phase does before it measures anything.
        let warmup = spec.warmup + if cx.index == 1 { spec.initial_warmup } else { Duration::ZERO };
        let warm_end = start_at + warmup;
        let win_end = warm_end + spec.duration;
        let mut phases = Vec::new();
        if !warmup.is_zero() {
            phases.push(PhaseSpec::new("warmup", start_off, warmup, false).with_target_rate(cx.target));
        }
        phases.push(PhaseSpec::new("measure", start_off + warmup, spec.duration, true).with_target_rate(cx.target));
        phases.push(PhaseSpec::new(
            "settle",
            start_off + warmup + spec.duration,
            spec.settle + SNAPSHOT_GRACE + Duration::from_secs(2),
            false,
        ));
        let mut agg = Aggregator::new(clock);
        agg.set_phases(&phases);
        let _ = cx.ctl.send(Ctl::Begin(Box::new(agg)));

        // Each producer's share of the target follows its rate in the file (its weight).
        let weight = |r: Rate| match r {
            Rate::PerSec(r) => r,
            Rate::Max => 1.0,
        };
        let total: f64 = self.scenario.producers.iter().map(|p| weight(p.rate)).sum();
        let mut instances = Vec::new();
        for (i, p) in self.scenario.producers.iter().enumerate() {
            let rate = Rate::PerSec(cx.target * weight(p.rate) / total / f64::from(p.instances));
            for instance in 0..p.instances {
                instances.push(ProducerInstance { spec: i, instance, producer_id: cx.ids.allocate()?, rate });
            }
        }
        let stop = self.stop.child();
        let threads = workers::start_producers(
            self.scenario,
            &instances,
            &workers::ProducerRun {
                base: &self.conn.base,
                clock,
                window: (start_at, win_end),
                drain: spec.settle,
                stream: &format!("/step{}", cx.index),
                ramp: false,
                tx: cx.tx,
                payloads: cx.payloads,
                marks: &Arc::new(FaultMarks::default()),
                stop: &stop,
                tracker: &self.tracker,
            },
        )?;

        // The warm-up does what the window will do, the backlog probe included: on a fresh
        // cluster the first probe after warm-up stalled every broker for up to 0.7 s (most
        // likely the JIT discarding request-dispatch code compiled before any ListOffsets;
        // docs/performance.md). Probing during the warm-up moves that stall out of the window.
        let mut aborted = false;
        for at in warmup_probes(warmup) {
            aborted = sleep_until(start_at + at, &self.stop).await;
            if aborted {
                break;
            }
            let _ = self.lag(&cx).await;
        }
        aborted = aborted || sleep_until(warm_end, &self.stop).await;
        let lag_start = if aborted { None } else { self.lag(&cx).await };
        aborted = aborted || sleep_until(win_end, &self.stop).await;
        let lag_end = if aborted { None } else { self.lag(&cx).await };

        let (outcomes, failures) = workers::join(threads).await;
        if !failures.is_empty() {
            let _ = self.take(cx.ctl).await;
            return Err(Error::Failed(failures.join("; ")));
        }
        // Settle: the step's messages read by every group, bounded by the settle time.
        let ends = self.end_offsets(cx.partitions).await.unwrap_or_default();
        let settle_deadline = win_end + spec.settle;
        let reached = || cx.groups.iter().all(|(_, t, g)| ends.get(t).is_none_or(|e| g.reached(e)));
        while !reached() && Instant::now() < settle_deadline && !self.stop.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let settled = reached() && outcomes.iter().all(|o| o.in_flight_at_end == 0);
        let settle_secs = Instant::now().saturating_duration_since(win_end).as_secs_f64();
        if !self.stop.is_cancelled() {
            tokio::time::sleep_until((win_end + SNAPSHOT_GRACE).max(Instant::now()).into()).await;
        }
        aborted = aborted || self.stop.is_cancelled();
        let agg = self.take(cx.ctl).await;
        let m = agg.map(|a| a.finish_at(clock.offset(Instant::now())));
        let seen = StepSeen { start_off, lag_start, lag_end, settled, settle_secs, aborted };
        Ok(self.step_record(&cx, m.as_ref(), &outcomes, seen))
    }

    /// The step's figures, verdict and record, from what its aggregator measured.
    fn step_record(
        &self,
        cx: &StepCx<'_>,
        m: Option<&Measurements>,
        outcomes: &[ProducerOutcome],
        seen: StepSeen,
    ) -> StepRecord {
        let spec = self.spec;
        let StepSeen { start_off, lag_start, lag_end, settled, settle_secs, aborted } = seen;
        let phase = |name: &str| m.and_then(|m| m.phases.iter().find(|p| p.spec.name == name));
        let (measure, settle) = (phase("measure"), phase("settle"));
        let mut errors = measure.map(|p| p.counters.failed.clone()).unwrap_or_default();
        if let Some(s) = settle {
            for (k, n) in &s.counters.failed {
                *errors.entry(k.clone()).or_insert(0) += n;
            }
        }
        // Messages still queued when the settle time ran out are purged as the step's producers
        // close: the search gave up on them, the cluster did not refuse them. They are counted
        // apart (the rate and latency criteria already show a cluster that fell behind).
        errors.retain(|k, _| !k.starts_with("Purge"));
        let abandoned: u64 = outcomes.iter().map(|o| u64::try_from(o.in_flight_at_end).unwrap_or(0)).sum();
        let failed: u64 = errors.values().sum();
        let acked_after = settle.map_or(0, |s| s.counters.acked);
        let figures = StepFigures {
            target: cx.target,
            window: spec.duration,
            sent: measure.map_or(0, |p| p.counters.sent),
            acked: measure.map_or(0, |p| p.counters.acked),
            failed,
            reported: measure.map_or(0, |p| p.counters.acked) + acked_after + failed,
            produce: measure.map(|p| p.latency.get(LatencyKind::Produce).summary()).unwrap_or_default(),
            e2e: measure.map(|p| p.latency.get(LatencyKind::E2e).summary()).unwrap_or_default(),
            lag_start,
            lag_end,
            has_consumers: !cx.groups.is_empty(),
            send_gap_p99_us: measure.map_or(0, |p| p.latency.get(LatencyKind::SendGap).value_at_quantile(0.99)),
        };
        let (verdict, reasons) = if aborted {
            (Verdict::Aborted, vec!["interrupted before the step ended".to_string()])
        } else {
            let why = judge(&figures, &spec.sustain);
            (if why.is_empty() { Verdict::Pass } else { Verdict::Fail }, why)
        };
        let window = spec.duration.as_secs_f64();
        let seconds = m.map(step_seconds).unwrap_or_default();
        StepRecord {
            index: cx.index,
            stage: cx.stage,
            target_rate: cx.target,
            start_secs: round3(start_off.as_secs_f64()),
            sent_rate: round3(figures.sent_rate()),
            achieved_rate: round3(figures.achieved()),
            achieved_share: round3(figures.achieved() / cx.target),
            consumed_rate: (!cx.groups.is_empty())
                .then(|| round3(measure.map_or(0, |p| p.counters.consumed) as f64 / window)),
            produce: figures.produce,
            e2e: figures.e2e,
            send_gap_p99_us: figures.send_gap_p99_us,
            acked: figures.acked,
            failed,
            abandoned,
            error_rate: figures.error_rate(),
            errors,
            lag_start,
            lag_end,
            lag_growth: figures.lag_growth(),
            settle_secs: round3(settle_secs),
            settled,
            verdict,
            reasons,
            seconds,
        }
    }

    async fn take(&self, ctl: &mpsc::UnboundedSender<Ctl>) -> Option<Aggregator> {
        let (tx, rx) = oneshot::channel();
        ctl.send(Ctl::Take(tx)).ok()?;
        rx.await.ok().flatten()
    }

    fn report(
        &self,
        steps: Vec<StepRecord>,
        search: &Search,
        abort: Option<String>,
        node_down: Option<NodeDownRecord>,
        cluster: ClusterInfo,
        started_wall: SystemTime,
    ) -> CapacityReport {
        let spec = self.spec;
        let s = &spec.sustain;
        let limit = search.limit().unwrap_or(Limit::Aborted);
        let sustained = search.sustained();
        let first_failed = search.first_failed();
        let r = crate::vocab::format::rate;
        let first_reason = |rate: f64| {
            steps
                .iter()
                .find(|x| x.target_rate == rate && x.verdict == Verdict::Fail)
                .and_then(|x| x.reasons.first().cloned())
                .unwrap_or_default()
        };
        let summary = match (limit, sustained) {
            (Limit::Aborted, Some(g)) => {
                format!("Aborted after {} step(s); the highest rate sustained so far is {}.", steps.len(), r(g))
            }
            (Limit::Aborted, None) => format!("Aborted after {} step(s), before any rate was sustained.", steps.len()),
            (Limit::StartFailed, _) | (_, None) => format!(
                "No sustainable rate: the start rate {} already failed ({}). Lower capacity.start or loosen capacity.sustain.",
                r(spec.start),
                first_failed.map(first_reason).unwrap_or_default()
            ),
            (Limit::MaxRate, Some(g)) => {
                format!(
                    "Sustained {}, the max_rate: the capacity is at least that (raise max_rate to look further).",
                    r(g)
                )
            }
            (Limit::MaxSteps, Some(g)) => format!(
                "Sustained {} when the step budget ({} steps) ran out without a failing step: the capacity is at least that.",
                r(g),
                spec.max_steps
            ),
            (Limit::Bracketed, Some(g)) => match first_failed {
                Some(b) => format!("Highest sustained rate: {}; {} failed ({}).", r(g), r(b), first_reason(b)),
                None => format!("Highest sustained rate: {}.", r(g)),
            },
        };
        let (step_kind, step_value) = match spec.step {
            StepRule::Multiply(f) => ("multiply", f),
            StepRule::Add(a) => ("add", a),
        };
        let ended_wall = SystemTime::now();
        CapacityReport {
            schema_version: CAPACITY_SCHEMA_VERSION,
            kind: "capacity".into(),
            aftershock_version: env!("CARGO_PKG_VERSION").to_string(),
            status: if abort.is_some() { RunStatus::Aborted } else { RunStatus::Completed },
            abort_reason: abort,
            run_id: self.id.to_string(),
            scenario_name: self.scenario.name.clone(),
            started_at: crate::report::rfc3339(started_wall),
            ended_at: crate::report::rfc3339(ended_wall),
            duration_secs: round3(ended_wall.duration_since(started_wall).unwrap_or_default().as_secs_f64()),
            scenario: self.scenario.raw.clone(),
            environment: Environment::detect(cluster, self.conn.kafka_version.clone()),
            units: Units::default(),
            search: SearchSettings {
                start_rate: spec.start,
                step_kind: step_kind.into(),
                step_value,
                warmup_secs: spec.warmup.as_secs_f64(),
                initial_warmup_secs: spec.initial_warmup.as_secs_f64(),
                duration_secs: spec.duration.as_secs_f64(),
                settle_secs: spec.settle.as_secs_f64(),
                max_rate: spec.max_rate,
                max_steps: spec.max_steps,
                refine: spec.refine,
            },
            criteria: Criteria {
                produce_p99_us: s.produce_p99.map(|d| d.as_micros() as u64),
                e2e_p99_us: s.e2e_p99.map(|d| d.as_micros() as u64),
                min_achieved: s.min_achieved,
                max_error_rate: s.max_error_rate,
                max_lag_growth_secs: s.max_lag_growth.map(|d| d.as_secs_f64()),
            },
            node_down,
            result: SearchResult {
                found: sustained.is_some(),
                sustained_rate: sustained,
                first_failed_rate: first_failed,
                limit,
                summary,
                required_rate: spec.require,
                meets_requirement: spec.require.map(|req| sustained.is_some_and(|g| g >= req)),
            },
            steps,
        }
    }
}

/// What one step needs from the search.
struct StepCx<'a> {
    index: u32,
    stage: Stage,
    target: f64,
    clock: RunClock,
    tx: &'a crate::measure::SnapshotSender,
    ctl: &'a mpsc::UnboundedSender<Ctl>,
    payloads: &'a PayloadBuilder,
    groups: &'a Groups,
    partitions: &'a BTreeMap<String, usize>,
    base_offsets: &'a BTreeMap<String, Vec<i64>>,
    ids: &'a mut ProducerIds,
}

/// The step's own seconds (those in one of its phases: warm-up, window, settle).
fn step_seconds(m: &Measurements) -> Vec<StepSecond> {
    m.seconds
        .iter()
        .filter_map(|s| {
            let phase = m.phases.get(s.phase?)?.spec.name.clone();
            Some(StepSecond {
                at_secs: s.sec,
                phase,
                sent: s.counters.sent,
                acked: s.counters.acked,
                failed: s.counters.failed_total(),
                produce_p99_us: s.produce.p99_us,
                produce_max_us: s.produce.max_us,
            })
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    if x.is_finite() { (x * 1000.0).round() / 1000.0 } else { 0.0 }
}

/// The progress line of a finished step.
pub fn step_line(s: &StepRecord) -> String {
    let f = crate::vocab::format::latency_us;
    let lag = match s.lag_growth {
        Some(g) => format!("  backlog {g:+}"),
        None => String::new(),
    };
    let e2e = if s.e2e.count > 0 { format!("  e2e p99 {}", f(s.e2e.p99_us as f64)) } else { String::new() };
    let verdict = match s.verdict {
        Verdict::Pass => "pass".to_string(),
        Verdict::Fail => format!("FAIL: {}", s.reasons.join("; ")),
        Verdict::Aborted => "aborted".to_string(),
    };
    format!(
        "achieved {}  produce p50 {} p99 {} p99.9 {}{e2e}  errors {}{}{lag}  -> {verdict}",
        crate::vocab::format::rate(s.achieved_rate),
        f(s.produce.p50_us as f64),
        f(s.produce.p99_us as f64),
        f(s.produce.p999_us as f64),
        s.failed,
        if s.abandoned > 0 { format!(" (+{} abandoned)", s.abandoned) } else { String::new() }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_warm_up_probes_like_the_window_and_a_short_one_does_not() {
        let secs = |w: u64| warmup_probes(Duration::from_secs(w)).map(|d| d.as_secs()).collect::<Vec<_>>();
        // The shipped first step: 3 min + 5 s; the last probe 20 s or more before the window.
        assert_eq!(secs(185), [15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165]);
        assert_eq!(secs(35), [15]);
        assert!(secs(34).is_empty());
        // A later step's 5 s warm-up, and none at all.
        assert!(secs(5).is_empty());
        assert!(secs(0).is_empty());
    }
}
