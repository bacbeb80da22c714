//! `aftershock run`: one scenario from start to report. Plans the run, starts (or connects
//! to) the cluster, creates topics, starts consumers then open-loop producers and the fault
//! engine, shows progress, drains, verifies the ledger, and writes report.json atomically,
//! also when the run is aborted.
//!
//! The parts: [`connect`] (the cluster and the run dir), [`admin`] (topics and offsets),
//! [`workers`] (client settings and worker threads), [`monitor`] (measurement, progress and
//! live stop rules), [`progress`], [`assemble`] (ledger verdict and the report), [`dry_run`].

pub mod admin;
pub mod assemble;
pub mod connect;
pub mod dry_run;
pub mod monitor;
pub mod progress;
pub mod workers;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rdkafka::config::ClientConfig;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::chaos::backend::{FaultBackend, KafkaProbe};
use crate::chaos::engine::{ChaosContext, run_faults};
use crate::chaos::ledger::FaultLedger;
use crate::chaos::outcome::FaultOutcome;
use crate::chaos::task::blocking;
use crate::error::{Error, Result};
use crate::load::consumer::ConsumerOutcome;
use crate::load::payload::PayloadBuilder;
use crate::measure::fault_acks::FaultMarks;
use crate::measure::{Aggregator, Measurements, PhaseSpec, RunClock, channel};
use crate::plan::{ProducerIds, RunPlan};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::stop::{Stop, StopReason};
pub use connect::Connection;
pub use dry_run::{dry_run, dry_run_pods};
pub use progress::Progress;
use workers::Groups;

/// How `run` was asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run dir; default `reports/<scenario>-<UTC time>`.
    pub out: Option<PathBuf>,
    /// Where default run dirs go.
    pub reports_root: PathBuf,
    pub progress: Progress,
    /// Kubernetes: the kubeconfig context, over the scenario's.
    pub kube_context: Option<String>,
}

/// How a run (or a capacity search) ended, before the command line turns it into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It worked and nothing it checks itself failed.
    Passed,
    /// It worked, but a check failed: acknowledged messages were lost, a check with
    /// `abort_on_fail` stopped it, a search found no sustainable rate.
    ChecksFailed,
    /// It failed or was aborted.
    Failed,
}

/// What a finished (or aborted) run produced.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: RunEnd,
    pub run_dir: PathBuf,
    pub report: Report,
}

/// The run dir name: `<scenario>-<UTC time>`, e.g. `quickstart-20261125T141502Z`.
pub fn run_id(name: &str, at: SystemTime) -> String {
    let t = humantime::format_rfc3339_seconds(at).to_string();
    let compact: String = t.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{name}-{compact}")
}

/// Runs a validated scenario until it completes or `shutdown` resolves.
///
/// # Errors
/// A scenario that cannot be planned, and setting-up failures (cluster, topics, clients).
/// Once load has started, a report is always written, marked aborted if the run did not
/// complete. Whatever fails, every task and worker thread the run started has ended, and
/// every fault has been undone, when this returns.
pub async fn run_scenario(
    scenario: Scenario,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunResult> {
    let plan = RunPlan::new(&scenario, ProducerIds::random())?;
    let started_wall = SystemTime::now();
    let id = run_id(&scenario.name, started_wall);
    let stop = Stop::new();
    // The consumers stop on their own root: when the run is interrupted they still drain
    // (briefly) what was acknowledged, or those messages would count as lost.
    let consumers_stop = Stop::new();
    let run_dir = connect::open_run(&id, opts.out.as_deref(), &opts.reports_root, shutdown, &stop)?;
    let conn = connect::connect(&scenario, &run_dir).await?;
    let tracker = TaskTracker::new();
    let result = async {
        let backend = connect::fault_backend(&scenario, &conn, opts.kube_context.as_deref(), &id).await?;
        let run = Run {
            scenario: &scenario,
            plan: &plan,
            id: &id,
            run_dir: &run_dir,
            conn: &conn,
            started_wall,
            stop: &stop,
            consumers_stop: &consumers_stop,
            tracker: &tracker,
            progress: opts.progress,
        };
        run.load(backend).await
    }
    .await;
    connect::wind_down(&scenario, conn.local, &tracker, &[&stop, &consumers_stop], result.is_err()).await;
    result
}

/// Everything one run shares.
struct Run<'a> {
    scenario: &'a Scenario,
    plan: &'a RunPlan,
    id: &'a str,
    run_dir: &'a Path,
    conn: &'a Connection,
    started_wall: SystemTime,
    stop: &'a Stop,
    consumers_stop: &'a Stop,
    tracker: &'a TaskTracker,
    progress: Progress,
}

/// The run's clocks: the run clock, when producing starts and when it stops.
#[derive(Debug, Clone, Copy)]
struct Times {
    clock: RunClock,
    load_start: Instant,
    stop_at: Instant,
}

impl Run<'_> {
    /// On the connected cluster and the plan: start, drain, assemble.
    async fn load(&self, backend: Option<Arc<dyn FaultBackend>>) -> Result<RunResult> {
        let base = self.conn.base.clone();
        {
            let (s, b) = (self.scenario.clone(), base.clone());
            blocking(move || admin::ensure_topics(&s, &b)).await?;
        }
        let clock = RunClock::new(Instant::now());
        let (tx, rx) = channel();
        let payloads = PayloadBuilder::new(self.scenario.seed);

        // Consumers first, so that a group starting at `latest` is in place before the first send.
        let consumers_stop = self.consumers_stop;
        let consumers = workers::start_consumers(
            self.scenario,
            &base,
            &self.plan.partitions,
            &self.plan.producer_ids,
            clock,
            &tx,
            &payloads,
            consumers_stop,
            self.tracker,
        )?;
        workers::wait_assigned(&consumers.groups, self.stop).await;

        // Phases are laid out from the moment producing starts.
        let load_start = Instant::now() + Duration::from_millis(100);
        let load_offset = load_start - clock.start();
        let times = Times { clock, load_start, stop_at: load_start + self.plan.load_duration() };
        let specs: Vec<PhaseSpec> = self
            .plan
            .phases
            .iter()
            .map(|ph| {
                let spec = PhaseSpec::new(&ph.name, load_offset + ph.offset, ph.duration, ph.measured);
                match ph.target_rate {
                    Some(r) => spec.with_target_rate(r),
                    None => spec,
                }
            })
            .collect();
        let mut aggregator = Aggregator::new(clock);
        aggregator.set_phases(&specs);

        // Faults run beside the load, on their own schedule.
        let marks = Arc::new(FaultMarks::default());
        let chaos_stop = self.stop.child();
        let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
        let chaos = backend.map(|b| self.start_faults(b, &base, times, &marks, &chaos_stop, finished_tx));
        let producers = workers::start_producers(
            self.scenario,
            &self.plan.producers,
            &workers::ProducerRun {
                base: &base,
                clock,
                window: (times.load_start, times.stop_at),
                drain: self.scenario.drain,
                stream: "",
                ramp: true,
                tx: &tx,
                payloads: &payloads,
                marks: &marks,
                stop: self.stop,
                tracker: self.tracker,
            },
        )?;
        drop(tx);

        // Measurement, progress and the live stop rules run beside the load until every
        // worker has flushed.
        let monitor = monitor::Monitor::new(self.scenario, specs, self.progress, self.stop.clone());
        let measurements = self.tracker.spawn(monitor.run(aggregator, rx, finished_rx, clock));

        // Producers end at the end of the last phase (or on cancel) and drain their deliveries.
        let (producer_outcomes, mut failures) = workers::join(producers).await;
        if !failures.is_empty() {
            self.stop.cancel();
        }
        // The run lasts its phases even without producers (a consumer-only scenario tails its
        // topics for that long); with producers this returns at once.
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(times.stop_at)) => {}
            _ = self.stop.cancelled() => {}
        }
        let fault_outcomes = self.finish_faults(chaos, &chaos_stop).await;
        let aborted = self.stop.is_cancelled();
        let consumer_outcomes =
            self.drain(&consumers.groups, consumers.threads, consumers_stop, aborted, &mut failures).await;
        let measurements: Measurements =
            measurements.await.map_err(|e| Error::Task { what: "the measurement task", source: e })?;
        let rebalances = self.rebalances(&consumers.groups);
        self.finish(measurements, producer_outcomes, consumer_outcomes, fault_outcomes, failures, rebalances).await
    }

    /// Starts the fault engine on its own task.
    fn start_faults(
        &self,
        backend: Arc<dyn FaultBackend>,
        base: &ClientConfig,
        times: Times,
        marks: &Arc<FaultMarks>,
        stop: &Stop,
        finished: tokio::sync::mpsc::UnboundedSender<FaultOutcome>,
    ) -> JoinHandle<Vec<FaultOutcome>> {
        // `heal --all` must find this run's ledger if aftershock dies mid-fault.
        crate::cluster::registry::remember(self.run_dir);
        let ctx = Arc::new(ChaosContext {
            backend,
            probe: Arc::new(KafkaProbe::new(base.clone())),
            ledger: FaultLedger::new(self.run_dir),
            clock: times.clock,
            load_start: times.load_start,
            marks: marks.clone(),
            seed: self.scenario.seed,
            safety: self.scenario.safety.clone(),
            observe_until: times.stop_at + self.scenario.drain,
            tracker: self.tracker.clone(),
            finished: Some(finished),
        });
        self.tracker.spawn(run_faults(self.plan.faults.clone(), ctx, stop.clone()))
    }

    /// Faults get their windows and recovery observation until the drain ends; then the
    /// rest is undone.
    async fn finish_faults(&self, chaos: Option<JoinHandle<Vec<FaultOutcome>>>, stop: &Stop) -> Vec<FaultOutcome> {
        let Some(mut t) = chaos else { return Vec::new() };
        let outcomes = tokio::select! {
            r = &mut t => r,
            _ = tokio::time::sleep(self.scenario.drain) => {
                stop.cancel();
                t.await
            }
        };
        outcomes.unwrap_or_default()
    }

    /// Consumers read everything up to the end offsets as they are now, bounded by the drain
    /// timeout (a short one when aborting); then they stop.
    async fn drain(
        &self,
        groups: &Groups,
        threads: Vec<workers::Worker<ConsumerOutcome>>,
        stop: &Stop,
        aborted: bool,
        failures: &mut Vec<String>,
    ) -> Vec<ConsumerOutcome> {
        let drain = if aborted { Duration::from_secs(2).min(self.scenario.drain) } else { self.scenario.drain };
        let ends = {
            let (b, topics) = (self.conn.base.clone(), self.plan.partitions.clone());
            blocking(move || admin::end_offsets(&b, &topics)).await.unwrap_or_default()
        };
        let all_read =
            |groups: &Groups| groups.iter().all(|(_, topic, g)| ends.get(topic).is_none_or(|e| g.reached(e)));
        let deadline = Instant::now() + drain;
        while !all_read(groups) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !all_read(groups) && !aborted {
            tracing::warn!("consumers had not read everything when the drain timeout ({drain:?}) ended");
        }
        stop.cancel();
        let (outcomes, errors) = workers::join(threads).await;
        failures.extend(errors);
        outcomes
    }

    /// Rebalances of the first consumer group reading the first produced-to topic: the
    /// recovery figures time a fault's rebalance from them.
    fn rebalances(&self, groups: &Groups) -> Vec<(bool, u64)> {
        self.scenario
            .producers
            .first()
            .and_then(|p| groups.iter().find(|(_, topic, _)| *topic == p.topic))
            .map(|(_, _, g)| g.rebalances())
            .unwrap_or_default()
    }

    /// Verifies, builds and writes the report; decides the outcome.
    async fn finish(
        &self,
        measurements: Measurements,
        producers: Vec<crate::load::producer::ProducerOutcome>,
        consumers: Vec<ConsumerOutcome>,
        faults: Vec<FaultOutcome>,
        failures: Vec<String>,
        rebalances: Vec<(bool, u64)>,
    ) -> Result<RunResult> {
        let reason = if !failures.is_empty() {
            Some(format!("worker failure: {}", failures.join("; ")))
        } else {
            self.stop.reason().or(self.stop.is_cancelled().then_some(StopReason::Interrupted)).map(|r| r.to_string())
        };
        let cluster_info = assemble::cluster_info(&self.conn.base, &self.conn.bootstrap, &self.plan.partitions).await;
        let parts = assemble::Parts {
            scenario: self.scenario,
            plan: self.plan,
            run_id: self.id,
            started_wall: self.started_wall,
            kafka_version: self.conn.kafka_version.clone(),
            cluster_info,
            measurements: &measurements,
            producers: &producers,
            consumers: &consumers,
            faults: &faults,
            rebalances,
            reason: reason.clone(),
        };
        let report = assemble::report(parts)?;
        report.write_atomic(self.run_dir).map_err(|e| Error::Report {
            context: format!("writing the report into {}", self.run_dir.display()),
            source: Box::new(e),
        })?;
        let stopped_by_check = failures.is_empty() && matches!(self.stop.reason(), Some(StopReason::CheckFailed(_)));
        let outcome = if stopped_by_check {
            // Stopped by a failed check: the run worked, the gate failed (exit 1).
            RunEnd::ChecksFailed
        } else if reason.is_some() {
            RunEnd::Failed
        } else if report.verification.lost > 0 {
            RunEnd::ChecksFailed
        } else {
            RunEnd::Passed
        };
        Ok(RunResult { outcome, run_dir: self.run_dir.to_path_buf(), report })
    }
}
