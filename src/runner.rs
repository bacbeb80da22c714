//! `aftershock run`: one scenario from start to report. Starts (or connects to) the cluster,
//! creates topics, starts consumers then open-loop producers, shows progress, drains,
//! verifies the ledger, and writes report.json atomically, also when the run is aborted.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use crate::Outcome;
use crate::chaos::engine::{Backend, ChaosContext, FaultAcks, FaultMarks, blocking, run_faults, timeline};
use crate::chaos::kube::KubeBackend;
use crate::chaos::ledger::FaultLedger;
use crate::chaos::recovery;
use crate::cluster::{LocalCluster, UpOptions};
use crate::error::{Error, Result};
use crate::load::consumer::{ConsumerOutcome, ConsumerPlan, GroupProgress, run_consumer};
use crate::load::payload::PayloadBuilder;
use crate::load::producer::{ProducerOutcome, ProducerPlan, run_producer};
use crate::measure::{
    Aggregator, ConsumeLedger, IntervalSnapshot, LatencyHistogram, LatencyKind, PhaseSpec, Recorder, RunClock,
    SnapshotReceiver, Verification, WorkerId, WorkerKind, channel, verify,
};
use crate::report::{ClusterInfo, Environment, Report, RunMeta, RunOutcome};
use crate::scenario::fault::ErrorRateAbort;
use crate::scenario::{ClusterTarget, Rate, Scenario};

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

/// How progress is shown while the run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A live line on a terminal.
    Live,
    /// A plain line every few seconds (logs, CI).
    Lines,
    None,
}

impl Progress {
    /// Live on a terminal, plain lines otherwise, nothing when quiet.
    pub fn auto(quiet: bool) -> Progress {
        use std::io::IsTerminal as _;
        if quiet {
            Progress::None
        } else if std::io::stderr().is_terminal() {
            Progress::Live
        } else {
            Progress::Lines
        }
    }
}

/// What a finished (or aborted) run produced.
#[derive(Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub run_dir: PathBuf,
    pub report: Report,
}

/// The timeline `run --dry-run` prints: phases and every fault occurrence, with offsets from
/// the start of the load. Touches nothing.
pub fn dry_run(s: &Scenario) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let cluster = match &s.cluster {
        ClusterTarget::Local { nodes, .. } => format!("a local cluster of {nodes} node(s), started for the run"),
        ClusterTarget::Existing { bootstrap, .. } => format!("the existing cluster at {bootstrap}"),
        ClusterTarget::Running { dir } => format!(
            "the cluster running in {} (left running)",
            dir.clone().unwrap_or_else(crate::cluster::default_dir).display()
        ),
    };
    let _ = writeln!(out, "scenario {} on {cluster}", s.name);
    for t in &s.topics {
        let _ = writeln!(
            out,
            "  topic {}: {} partitions, replication factor {}",
            t.name, t.partitions, t.replication_factor
        );
    }
    for p in &s.producers {
        let _ = writeln!(out, "  producer {} -> {}: {} instance(s), {}", p.name, p.topic, p.instances, p.rate);
    }
    for c in &s.consumers {
        let _ = writeln!(out, "  consumer {} <- {}: {} instance(s), group {}", c.name, c.topic, c.instances, c.group);
    }
    let _ = writeln!(out, "timeline (offsets from the start of the load):");
    let mut at = Duration::ZERO;
    let mut phase_starts = Vec::new();
    for p in &s.phases {
        let _ = writeln!(
            out,
            "  {:>8}  phase {} for {}{}",
            fmt_offset(at),
            p.name,
            fmt_offset(p.duration),
            if p.measured { "" } else { " (not measured)" }
        );
        phase_starts.push((p.name.clone(), at));
        at += p.duration;
    }
    for o in timeline(&s.faults, &phase_starts) {
        let what = match o.spec.action {
            crate::scenario::fault::FaultAction::Restart => "rolling restart of every node".to_string(),
            a => format!("{} {}", a.name(), o.spec.target.describe()),
        };
        let window = if o.spec.duration.is_zero() {
            String::new()
        } else {
            format!(", undone at {}", fmt_offset(o.start + o.spec.duration))
        };
        let restart =
            o.spec.restart_after.map(|r| format!(", restarted at {}", fmt_offset(o.start + r))).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>8}  fault {}{}: {what}{restart}{window}",
            fmt_offset(o.start),
            o.spec.name,
            if o.repeat > 0 { format!(" #{}", o.repeat + 1) } else { String::new() }
        );
    }
    let _ = writeln!(out, "  {:>8}  load stops; consumers drain for up to {}", fmt_offset(at), fmt_offset(s.drain));
    out
}

fn fmt_offset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{:.3}s", d.as_secs_f64()) }
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
/// Setting-up failures (cluster, topics, clients). Once load has started, a report is
/// always written, marked aborted if the run did not complete.
pub async fn run_scenario(
    scenario: Scenario,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunResult> {
    if scenario.phases.is_empty() {
        return Err(Error::Usage(format!(
            "scenario {} has no phases: it describes a capacity search, which `aftershock capacity FILE` runs",
            scenario.name
        )));
    }
    let started_wall = SystemTime::now();
    let id = run_id(&scenario.name, started_wall);
    let (run_dir, cancel) = open_run(&id, opts.out.as_deref(), &opts.reports_root, shutdown)?;

    let Connection { local, bootstrap, base, kafka_version } = connect(&scenario, &run_dir).await?;

    // Where faults go: the local cluster's processes, or broker pods through the Kubernetes API.
    let backend = match (&local, &scenario.cluster) {
        (Some(c), _) => Some(Backend::Local(c.clone())),
        (None, ClusterTarget::Existing { kubernetes: Some(k), .. }) if !scenario.faults.is_empty() => {
            let kb = KubeBackend::connect(k, opts.kube_context.as_deref(), &id).await?;
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
            Some(Backend::Kube(Arc::new(kb)))
        }
        _ => None,
    };
    if !scenario.faults.is_empty() && backend.is_none() {
        return Err(Error::Usage(
            "this scenario has faults, which need a `local` or `running` cluster, or an existing cluster in Kubernetes (`cluster.existing.kubernetes`)".into(),
        ));
    }
    let result = run_load(
        &scenario,
        &id,
        &run_dir,
        base,
        &bootstrap,
        kafka_version,
        started_wall,
        cancel.clone(),
        opts.progress,
        backend,
    )
    .await;

    disconnect(&scenario, local).await;
    result
}

/// The cluster a scenario runs against, connected.
pub(crate) struct Connection {
    /// A cluster aftershock started (`local`, owned by the run) or found (`running`).
    pub local: Option<Arc<Mutex<LocalCluster>>>,
    pub bootstrap: String,
    /// Client settings every client of the run starts from.
    pub base: ClientConfig,
    pub kafka_version: Option<String>,
}

/// Starts the scenario's own cluster, opens a running one, or resolves an existing one's
/// client settings.
pub(crate) async fn connect(scenario: &Scenario, run_dir: &Path) -> Result<Connection> {
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

/// Stops the scenario's own cluster (a `running` one is left running).
pub(crate) async fn disconnect(scenario: &Scenario, local: Option<Arc<Mutex<LocalCluster>>>) {
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

#[allow(clippy::too_many_arguments)]
async fn run_load(
    scenario: &Scenario,
    id: &str,
    run_dir: &Path,
    base: ClientConfig,
    bootstrap: &str,
    kafka_version: Option<String>,
    started_wall: SystemTime,
    cancel: CancellationToken,
    progress: Progress,
    backend: Option<Backend>,
) -> Result<RunResult> {
    {
        let (s, b) = (scenario.clone(), base.clone());
        blocking(move || ensure_topics(&s, &b)).await?;
    }
    let partitions: BTreeMap<String, usize> =
        scenario.topics.iter().map(|t| (t.name.clone(), t.partitions as usize)).collect();

    // Producer ids: a per-run nonce in the high bits, so that messages of earlier runs in a
    // reused topic are counted as unexpected instead of as duplicates.
    let nonce: u32 = rand::random::<u32>() & 0x000F_FFFF;
    let mut producer_ids: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut producer_plans = Vec::new();
    let mut next_index = 0u32;
    for p in &scenario.producers {
        for instance in 0..p.instances {
            let producer_id = (nonce << 12) | (next_index & 0xFFF);
            next_index += 1;
            producer_ids.entry(p.topic.clone()).or_default().push(producer_id);
            producer_plans.push((p.clone(), instance, producer_id, producer_config(&base, p)));
        }
    }

    let clock = RunClock::new(Instant::now());
    let (tx, rx) = channel();
    let payloads = PayloadBuilder::new(scenario.seed);

    // Consumers first, so that a group starting at `latest` is in place before the first send.
    let stop_consumers = CancellationToken::new();
    let (groups, consumer_threads) =
        start_consumers(scenario, &base, &partitions, &producer_ids, clock, &tx, &payloads, &stop_consumers)?;
    wait_assigned(&groups, &cancel).await;

    // Phases are laid out from the moment producing starts.
    let load_start = Instant::now() + Duration::from_millis(100);
    let load_offset = load_start - clock.start();
    let mut specs = Vec::new();
    let mut at = load_offset;
    let target_rate: Option<f64> = scenario
        .producers
        .iter()
        .map(|p| match p.rate {
            Rate::PerSec(r) => Some(r),
            Rate::Max => None,
        })
        .sum();
    for ph in &scenario.phases {
        let mut spec = PhaseSpec::new(&ph.name, at, ph.duration, ph.measured);
        if let Some(r) = target_rate {
            spec = spec.with_target_rate(r);
        }
        specs.push(spec);
        at += ph.duration;
    }
    let stop_at = clock.start() + at;
    let mut aggregator = Aggregator::new(clock);
    aggregator.set_phases(&specs);

    // Faults run beside the load, on their own schedule.
    let marks = Arc::new(FaultMarks::default());
    let abort_reason: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let chaos_cancel = cancel.child_token();
    let chaos_task = match (&backend, scenario.faults.is_empty()) {
        (Some(b), false) => {
            let mut offset = Duration::ZERO;
            let phase_starts: Vec<(String, Duration)> = scenario
                .phases
                .iter()
                .map(|p| {
                    let s = (p.name.clone(), offset);
                    offset += p.duration;
                    s
                })
                .collect();
            let plan = timeline(&scenario.faults, &phase_starts);
            // `heal --all` must find this run's ledger if aftershock dies mid-fault.
            crate::cluster::registry::remember(run_dir);
            let ctx = Arc::new(ChaosContext {
                backend: b.clone(),
                base: base.clone(),
                ledger: FaultLedger::new(run_dir),
                clock,
                load_start,
                marks: marks.clone(),
                seed: scenario.seed,
                safety: scenario.safety.clone(),
                observe_until: stop_at + scenario.drain,
            });
            Some(tokio::spawn(run_faults(plan, ctx, chaos_cancel.clone(), abort_reason.clone())))
        }
        _ => None,
    };

    let mut producer_threads = Vec::new();
    for (p, instance, producer_id, config) in producer_plans {
        let plan = ProducerPlan {
            name: p.name.clone(),
            instance,
            producer_id,
            topic: p.topic.clone(),
            rate: p.rate.per_instance(p.instances),
            ramp: p.ramp,
            sizes: p.message_size,
            keys: p.keys.sampler(),
            rng: scenario.rng(&format!("producer/{}", p.name), u64::from(instance)),
            config,
            start_at: load_start,
            stop_at,
            drain: scenario.drain,
            marks: marks.clone(),
        };
        let rec = Recorder::new(WorkerId::producer(&p.name, instance), clock, tx.clone());
        let (pl, cn) = (payloads.clone(), cancel.clone());
        producer_threads.push(spawn_worker(format!("producer-{}-{instance}", p.name), move || {
            run_producer(plan, clock, rec, pl, cn)
        })?);
    }
    drop(tx);

    // Measurement and progress run beside the load until every worker has flushed.
    let progress_view = ProgressView::new(progress, specs.clone(), scenario.total_duration());
    let abort_rule = scenario.safety.abort_on_errors.map(|r| (r, abort_reason.clone(), cancel.clone()));
    // Checks with `abort_on_fail` stop the run as soon as they have certainly failed.
    let gate_reason: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let live_phases = specs
        .iter()
        .map(|p| crate::gate::LivePhase {
            name: p.name.clone(),
            start_secs: p.start.as_secs_f64(),
            end_secs: p.end().as_secs_f64(),
            measured: p.measured,
        })
        .collect();
    let live_gate =
        crate::gate::LiveGate::new(&scenario.checks, live_phases).map(|g| (g, gate_reason.clone(), cancel.clone()));
    let agg_task = tokio::spawn(aggregate(aggregator, rx, progress_view, clock, abort_rule, live_gate));

    // Producers end at the end of the last phase (or on cancel) and drain their deliveries.
    let (producer_outcomes, mut failures) = join_producers(producer_threads).await;
    if !failures.is_empty() {
        cancel.cancel();
    }
    // The run lasts its phases even without producers (a consumer-only scenario tails its
    // topics for that long); with producers this returns at once.
    tokio::select! {
        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(stop_at)) => {}
        _ = cancel.cancelled() => {}
    }
    // Faults: give windows and recovery observation until the drain ends, then undo the rest.
    let fault_outcomes = match chaos_task {
        Some(mut t) => {
            let outcomes = tokio::select! {
                r = &mut t => r,
                _ = tokio::time::sleep(scenario.drain) => {
                    chaos_cancel.cancel();
                    t.await
                }
            };
            outcomes.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let aborted = cancel.is_cancelled();

    // Consumers: read everything up to the end offsets as they are now, bounded by the drain
    // timeout (a short one when aborting).
    let drain = if aborted { Duration::from_secs(2).min(scenario.drain) } else { scenario.drain };
    let ends = {
        let (b, topics) = (base.clone(), partitions.clone());
        blocking(move || end_offsets(&b, &topics)).await.unwrap_or_default()
    };
    let drain_deadline = Instant::now() + drain;
    loop {
        let done = groups.iter().all(|(_, topic, g)| ends.get(topic).is_none_or(|e| g.reached(e)));
        if done || Instant::now() >= drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = groups.iter().all(|(_, topic, g)| ends.get(topic).is_none_or(|e| g.reached(e)));
    stop_consumers.cancel();
    let mut consumer_outcomes: Vec<ConsumerOutcome> = Vec::new();
    for t in consumer_threads {
        match t.await {
            Ok(Ok(o)) => consumer_outcomes.push(o),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("consumer thread: {e}")),
        }
    }
    let measurements = agg_task.await.map_err(|e| Error::Usage(format!("measurement task failed: {e}")))?;
    let elapsed_wall = SystemTime::now();

    let verification = verify_all(scenario, &producer_outcomes, &consumer_outcomes);
    let corrupted: u64 = consumer_outcomes.iter().map(|c| c.corrupted).sum();
    if corrupted > 0 {
        tracing::warn!(corrupted, "messages whose payload did not match their number");
    }
    let cluster_info = {
        let (b, bs, topics) = (base.clone(), bootstrap.to_string(), partitions.keys().cloned().collect::<Vec<_>>());
        blocking(move || cluster_info(&b, &bs, &topics)).await.unwrap_or_else(|_| ClusterInfo {
            bootstrap: bootstrap.to_string(),
            brokers: Vec::new(),
            controller_id: None,
            topics: Vec::new(),
        })
    };
    let safety_reason = lock_reason(&abort_reason);
    let gate_abort = lock_reason(&gate_reason);
    let reason = if !failures.is_empty() {
        Some(format!("worker failure: {}", failures.join("; ")))
    } else if let Some(r) = safety_reason {
        Some(r)
    } else if let Some(r) = gate_abort.clone() {
        Some(r)
    } else if aborted {
        Some("interrupted (Ctrl-C or SIGTERM)".to_string())
    } else {
        None
    };
    if !drained && reason.is_none() {
        tracing::warn!("consumers had not read everything when the drain timeout ({drain:?}) ended");
    }
    let meta = RunMeta {
        run_id: id.to_string(),
        scenario_name: scenario.name.clone(),
        scenario: scenario.raw.clone(),
        started_at: started_wall,
        ended_at: elapsed_wall,
        outcome: match &reason {
            None => RunOutcome::Completed,
            Some(r) => RunOutcome::Aborted { reason: r.clone() },
        },
        environment: Environment::detect(cluster_info, kafka_version),
    };
    let mut report = Report::build(meta, &measurements, verification)
        .map_err(|e| Error::Usage(format!("building the report: {e}")))?;
    let mut fault_acks = FaultAcks::new();
    let mut first_errors: HashMap<u32, u64> = HashMap::new();
    for p in &producer_outcomes {
        for (k, v) in &p.fault_acks {
            fault_acks.entry(*k).and_modify(|e| e.merge(v)).or_insert(*v);
        }
        for (k, v) in &p.first_errors {
            let e = first_errors.entry(*k).or_insert(*v);
            *e = (*e).min(*v);
        }
    }
    // Unavailability is measured on the partitions of the first produced-to topic.
    let produced: Vec<i32> = scenario
        .producers
        .first()
        .and_then(|p| partitions.get(&p.topic))
        .map(|n| (0..*n as i32).collect())
        .unwrap_or_default();
    // Rebalances of the first consumer group reading the produced-to topic.
    let rebalances = scenario
        .producers
        .first()
        .and_then(|p| groups.iter().find(|(_, topic, _)| *topic == p.topic))
        .map(|(_, _, g)| g.rebalances())
        .unwrap_or_default();
    report.faults = fault_outcomes
        .iter()
        .map(|o| recovery::record(o, &fault_acks, &first_errors, &produced, &report.timeseries, &rebalances))
        .collect();
    report.write_atomic(run_dir).map_err(|e| Error::Io {
        context: format!("writing the report into {}", run_dir.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    let outcome = if gate_abort.is_some() && reason == gate_abort {
        // Stopped by a failed check: the run worked, the gate failed (exit 1).
        Outcome::ChecksFailed
    } else if reason.is_some() {
        Outcome::RunFailed
    } else if report.verification.lost > 0 {
        Outcome::ChecksFailed
    } else {
        Outcome::Ok
    };
    Ok(RunResult { outcome, run_dir: run_dir.to_path_buf(), report })
}

/// A producer's complete librdkafka settings: the cluster's, then the producer's own.
pub(crate) fn producer_config(base: &ClientConfig, p: &crate::scenario::ProducerSpec) -> ClientConfig {
    let mut config = base.clone();
    for (k, v) in p.librdkafka_config() {
        config.set(k, v);
    }
    // Bounded local queue: a stalled cluster makes the generator wait, not balloon.
    if !p.config.contains_key("queue.buffering.max.kbytes") {
        config.set("queue.buffering.max.kbytes", "65536");
    }
    config
}

/// Consumer settings aftershock sets unless the scenario's `config` sets them.
const CONSUMER_DEFAULTS: [(&str, &str); 2] = [
    // Bounded prefetch: a consumer that falls behind waits, it does not balloon.
    ("queued.max.messages.kbytes", "16384"),
    // A full prefetch queue pauses a partition's fetching for this long; librdkafka's 1 s
    // default makes a consumer reading a backlog stall once a second (190k msg/s instead of
    // 1.2M on the local benchmark cluster).
    ("fetch.queue.backoff.ms", "10"),
];

/// A consumer's complete librdkafka settings: the cluster's, then the consumer's own.
fn consumer_config(base: &ClientConfig, c: &crate::scenario::ConsumerSpec) -> ClientConfig {
    let mut config = base.clone();
    for (k, v) in c.librdkafka_config() {
        config.set(k, v);
    }
    config.set("statistics.interval.ms", "1000");
    for (k, v) in CONSUMER_DEFAULTS {
        if !c.config.contains_key(k) {
            config.set(k, v);
        }
    }
    config
}

/// Each consumer group: its name, topic and shared progress.
pub(crate) type Groups = Vec<(String, String, Arc<GroupProgress>)>;
/// The threads of the consumer instances.
pub(crate) type ConsumerThreads = Vec<tokio::sync::oneshot::Receiver<Result<ConsumerOutcome>>>;

/// Starts every consumer instance of the scenario on its own thread, reading until `stop`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_consumers(
    scenario: &Scenario,
    base: &ClientConfig,
    partitions: &BTreeMap<String, usize>,
    producer_ids: &BTreeMap<String, Vec<u32>>,
    clock: RunClock,
    tx: &crate::measure::SnapshotSender,
    payloads: &PayloadBuilder,
    stop: &CancellationToken,
) -> Result<(Groups, ConsumerThreads)> {
    let mut groups: Groups = Vec::new();
    let mut consumer_threads = Vec::new();
    for c in &scenario.consumers {
        let progress = Arc::new(GroupProgress::new(partitions.get(&c.topic).copied().unwrap_or(0)));
        groups.push((c.name.clone(), c.topic.clone(), progress.clone()));
        let config = consumer_config(base, c);
        for instance in 0..c.instances {
            let plan = ConsumerPlan {
                name: c.name.clone(),
                instance,
                topic: c.topic.clone(),
                producer_ids: producer_ids.get(&c.topic).cloned().unwrap_or_default(),
                config: config.clone(),
            };
            let rec = Recorder::new(WorkerId::consumer(&c.name, instance), clock, tx.clone());
            let (pl, pr, st) = (payloads.clone(), progress.clone(), stop.clone());
            consumer_threads.push(spawn_worker(format!("consumer-{}-{instance}", c.name), move || {
                run_consumer(plan, clock, rec, pl, pr, st)
            })?);
        }
    }
    Ok((groups, consumer_threads))
}

/// Waits (up to 30 s, or until `cancel`) until every group has all its partitions assigned.
pub(crate) async fn wait_assigned(groups: &Groups, cancel: &CancellationToken) {
    let assign_deadline = Instant::now() + Duration::from_secs(30);
    while !groups.iter().all(|(_, _, g)| g.fully_assigned())
        && Instant::now() < assign_deadline
        && !cancel.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !groups.iter().all(|(_, _, g)| g.fully_assigned()) {
        tracing::warn!("not every consumer group had all its partitions assigned after 30 s; starting anyway");
    }
}

/// Sums the ledger verdict of every consumer group: each group is checked against every
/// producer of its topic.
fn verify_all(scenario: &Scenario, producers: &[ProducerOutcome], consumers: &[ConsumerOutcome]) -> Verification {
    let mut total = Verification::default();
    for c in &scenario.consumers {
        let produce: Vec<_> = producers.iter().filter(|p| p.topic == c.topic).map(|p| p.ledger.clone()).collect();
        let mut merged: Option<ConsumeLedger> = None;
        for o in consumers.iter().filter(|o| o.name == c.name) {
            match &mut merged {
                Some(m) => m.merge(&o.ledger),
                None => merged = Some(o.ledger.clone()),
            }
        }
        let merged = merged.unwrap_or_else(|| ConsumeLedger::new(produce.iter().map(|p| p.producer_id())));
        add(&mut total, &verify(&produce, &merged));
    }
    if scenario.consumers.is_empty() {
        // Without consumers there is nothing to verify against; sent/acked still count.
        for p in producers {
            total.sent += p.ledger.sent_count();
            total.acked += p.ledger.acked_count();
            total.failed += p.ledger.failed_count();
        }
    }
    total
}

fn add(t: &mut Verification, v: &Verification) {
    t.sent += v.sent;
    t.acked += v.acked;
    t.failed += v.failed;
    t.unresolved += v.unresolved;
    t.consumed += v.consumed;
    t.lost += v.lost;
    t.duplicates += v.duplicates;
    t.reordered += v.reordered;
    t.unexpected += v.unexpected;
    t.unacked_consumed += v.unacked_consumed;
}

/// Creates the scenario's topics, or checks existing ones against the file.
pub(crate) fn ensure_topics(scenario: &Scenario, base: &ClientConfig) -> Result<()> {
    let probe: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let md = probe.fetch_metadata(None, Duration::from_secs(20)).map_err(Error::kafka("reading cluster metadata"))?;
    let admin: AdminClient<DefaultClientContext> = base.create().map_err(Error::kafka("creating an admin client"))?;
    let mut to_create = Vec::new();
    for t in &scenario.topics {
        match md.topics().iter().find(|m| m.name() == t.name && m.error().is_none()) {
            Some(existing) => {
                let parts = existing.partitions().len() as i32;
                let rf = existing.partitions().first().map(|p| p.replicas().len() as i32).unwrap_or(0);
                if (parts != t.partitions || rf != t.replication_factor) && !t.reuse {
                    return Err(Error::Usage(format!(
                        "topic {} already exists with {parts} partitions and replication factor {rf}, but the scenario \
                         asks for {} and {}; delete it, change the scenario, or set \"reuse\": true to use it as it is",
                        t.name, t.partitions, t.replication_factor
                    )));
                }
            }
            None => to_create.push(t),
        }
    }
    if to_create.is_empty() {
        return Ok(());
    }
    let news: Vec<NewTopic> = to_create
        .iter()
        .map(|t| {
            let mut n = NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(t.replication_factor));
            for (k, v) in &t.config {
                n = n.set(k, v);
            }
            n
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    // NB: librdkafka's own thread completes admin futures, so blocking here needs no runtime.
    let results = futures::executor::block_on(admin.create_topics(news.iter(), &opts))
        .map_err(Error::kafka("creating topics"))?;
    for r in results {
        if let Err((name, code)) = r
            && code != RDKafkaErrorCode::TopicAlreadyExists
        {
            return Err(Error::Kafka { context: format!("creating topic {name}"), source: KafkaError::AdminOp(code) });
        }
    }
    let new: Vec<(&str, i32)> = to_create.iter().map(|t| (t.name.as_str(), t.partitions)).collect();
    crate::smoke::wait_for_leaders(&probe, &new, Duration::from_secs(30))
}

/// The current end offset of every partition of each topic.
pub(crate) fn end_offsets(base: &ClientConfig, topics: &BTreeMap<String, usize>) -> Result<BTreeMap<String, Vec<i64>>> {
    let c: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let mut out = BTreeMap::new();
    for (t, n) in topics {
        let mut ends = Vec::with_capacity(*n);
        for p in 0..*n as i32 {
            let (_, high) = c
                .fetch_watermarks(t, p, Duration::from_secs(10))
                .map_err(Error::kafka(format!("end offset of {t}/{p}")))?;
            ends.push(high);
        }
        out.insert(t.clone(), ends);
    }
    Ok(out)
}

pub(crate) fn cluster_info(base: &ClientConfig, bootstrap: &str, topics: &[String]) -> Result<ClusterInfo> {
    let c: BaseConsumer = base.create().map_err(Error::kafka("creating a metadata client"))?;
    let md = c.fetch_metadata(None, Duration::from_secs(10)).map_err(Error::kafka("reading cluster metadata"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    Ok(ClusterInfo::from_metadata(bootstrap, &md, &names))
}

/// Creates the run dir (`out`, or `<reports_root>/<id>`) and the run's cancellation token,
/// cancelled when `shutdown` completes (Ctrl-C, SIGTERM).
pub(crate) fn open_run(
    id: &str,
    out: Option<&Path>,
    reports_root: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(PathBuf, CancellationToken)> {
    let run_dir = out.map_or_else(|| reports_root.join(id), Path::to_path_buf);
    std::fs::create_dir_all(&run_dir).map_err(|source| Error::DirNotWritable { dir: run_dir.clone(), source })?;
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        token.cancel();
    });
    Ok((run_dir, cancel))
}

/// Waits for every producer thread: their outcomes, and what went wrong in the others.
pub(crate) async fn join_producers(
    threads: Vec<tokio::sync::oneshot::Receiver<Result<ProducerOutcome>>>,
) -> (Vec<ProducerOutcome>, Vec<String>) {
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for t in threads {
        match t.await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("producer thread: {e}")),
        }
    }
    (outcomes, failures)
}

/// Workers are long-lived and time-critical: each gets its own OS thread, not a pooled one.
pub(crate) fn spawn_worker<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<tokio::sync::oneshot::Receiver<Result<T>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(Error::io(format!("starting thread {name}")))?;
    Ok(rx)
}

/// The live gate of `abort_on_fail` checks, where to put why it stopped the run, and the
/// token that stops it.
type LiveGateHandle = (crate::gate::LiveGate, Arc<Mutex<Option<String>>>, CancellationToken);

/// Feeds snapshots to the aggregator and drives the progress display, until every worker
/// has dropped its sender.
/// The safety rule, where its reason goes, and what it cancels.
type AbortRule = (ErrorRateAbort, Arc<Mutex<Option<String>>>, CancellationToken);

async fn aggregate(
    mut agg: Aggregator,
    mut rx: SnapshotReceiver,
    mut view: ProgressView,
    clock: RunClock,
    abort_rule: Option<AbortRule>,
    mut live_gate: Option<LiveGateHandle>,
) -> crate::measure::Measurements {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut bad_streak = 0u64;
    let mut checked_sec = 0u64;
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    view.observe(&s);
                    if let Some((gate, _, _)) = &mut live_gate {
                        gate.observe(&s);
                    }
                    agg.ingest(s);
                }
                None => break,
            },
            _ = tick.tick() => {
                let now = clock.offset(Instant::now());
                if let Some(p) = crate::measure::ProcessSample::of_self(now.as_secs()) {
                    agg.note_process(p);
                }
                view.show(now);
                if let Some((gate, reason, cancel)) = &mut live_gate
                    && let Some(why) = gate.poll(now.as_secs_f64())
                    && !cancel.is_cancelled()
                {
                    eprintln!("stopping: {why}");
                    *reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                    cancel.cancel();
                }
                // The abort rule looks at completed seconds: failed share of all reports.
                if let Some((rule, reason, cancel)) = &abort_rule {
                    let sec = now.as_secs().saturating_sub(2);
                    if sec > checked_sec {
                        checked_sec = sec;
                        let (acked, failed) = view.counts(sec);
                        let share = if acked + failed == 0 { 0.0 } else { failed as f64 / (acked + failed) as f64 };
                        bad_streak = if share > rule.error_rate { bad_streak + 1 } else { 0 };
                        if bad_streak >= rule.for_.as_secs().max(1) && !cancel.is_cancelled() {
                            *reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
                                "safety abort: more than {:.0}% of deliveries failed for {} s in a row",
                                rule.error_rate * 100.0,
                                bad_streak
                            ));
                            cancel.cancel();
                        }
                    }
                }
            }
        }
    }
    view.finish();
    agg.finish()
}

/// The live progress display: phase, time left, rates, p99, errors.
struct ProgressView {
    mode: Progress,
    phases: Vec<PhaseSpec>,
    total: Duration,
    bar: Option<indicatif::ProgressBar>,
    /// Per-second sums of the most recent seconds.
    recent: BTreeMap<u64, (u64, u64, u64, u64, LatencyHistogram)>,
    errors: u64,
    last_line: Instant,
}

impl ProgressView {
    fn new(mode: Progress, phases: Vec<PhaseSpec>, total: Duration) -> ProgressView {
        let bar = (mode == Progress::Live).then(|| {
            let b = indicatif::ProgressBar::new(total.as_secs().max(1));
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos:>4}/{len}s {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        ProgressView { mode, phases, total, bar, recent: BTreeMap::new(), errors: 0, last_line: Instant::now() }
    }

    fn observe(&mut self, s: &IntervalSnapshot) {
        let e = self.recent.entry(s.sec).or_insert_with(|| (0, 0, 0, 0, LatencyHistogram::new()));
        e.0 += s.counters.sent;
        e.1 += s.counters.acked;
        e.2 += s.counters.consumed;
        e.3 += s.counters.failed_total();
        self.errors += s.counters.failed_total();
        if s.worker.kind == WorkerKind::Producer
            && let Some(h) = s.histogram(LatencyKind::Produce)
        {
            e.4.merge(h);
        }
        while self.recent.len() > 8 {
            self.recent.pop_first();
        }
    }

    /// Acked and failed deliveries in second `sec`, if it is still remembered.
    fn counts(&self, sec: u64) -> (u64, u64) {
        self.recent.get(&sec).map(|(_, a, _, f, _)| (*a, *f)).unwrap_or((0, 0))
    }

    fn show(&mut self, now: Duration) {
        if self.mode == Progress::None {
            return;
        }
        let phase =
            self.phases.iter().find(|p| now >= p.start && now < p.end()).map(|p| p.name.as_str()).unwrap_or("drain");
        let end = self.phases.last().map(|p| p.end()).unwrap_or(self.total);
        let left = end.saturating_sub(now).as_secs();
        // The last complete second: the newest one may still be filling.
        let sec = now.as_secs().saturating_sub(1);
        let (sent, acked, consumed, failed, p99) = match self.recent.get(&sec) {
            Some((s, a, c, f, h)) => (*s, *a, *c, *f, h.value_at_quantile(0.99)),
            None => (0, 0, 0, 0, 0),
        };
        let msg = format!(
            "{phase:<8} {left:>4}s left  sent {sent}/s  acked {acked}/s  consumed {consumed}/s  p99 {:.1} ms  errors {} (+{failed})",
            p99 as f64 / 1000.0,
            self.errors
        );
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                bar.set_position(now.as_secs().min(self.total.as_secs()));
                bar.set_message(msg);
            }
            (None, Progress::Lines) if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                eprintln!("[{:>5}s] {msg}", now.as_secs());
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn lock_reason(r: &Mutex<Option<String>>) -> Option<String> {
    r.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `run --dry-run` on Kubernetes: the broker pods each fault would hit if it fired now. Targets
/// that depend on the moment (leaders, the controller, random picks) are resolved as of now
/// and say so.
pub async fn dry_run_pods(s: &Scenario, k: &crate::scenario::fault::KubeSpec, context: Option<&str>) -> Result<String> {
    use std::fmt::Write as _;

    use crate::scenario::fault::{FaultAction, TargetSpec};
    let kb = KubeBackend::connect(k, context, "dry-run").await?;
    let pods = kb.brokers().await?;
    let mut out = String::new();
    let _ = writeln!(out, "broker pods in namespace {} ({}):", k.namespace, k.selector);
    if pods.is_empty() {
        let _ = writeln!(out, "  none: no fault could hit anything");
    }
    for p in &pods {
        let _ = writeln!(out, "  {} node {}{}", p.name, p.node_id, if p.ready { "" } else { " (not Ready)" });
    }
    let name_of = |id: i32| {
        pods.iter().find(|p| p.node_id == id).map_or_else(|| format!("no pod with node id {id}"), |p| p.name.clone())
    };
    let base = {
        let mut c = ClientConfig::new();
        if let ClusterTarget::Existing { bootstrap, .. } = &s.cluster {
            c.set("bootstrap.servers", bootstrap);
        }
        for (key, v) in s.cluster.resolve_client_config().unwrap_or_default() {
            c.set(key, v);
        }
        c
    };
    let view = {
        let b = base.clone();
        blocking(move || crate::chaos::observe::ClusterView::fetch(&b, Duration::from_secs(5))).await
    };
    let _ = writeln!(out, "pods each fault would hit now:");
    for f in &s.faults {
        let hit = match (&f.action, &f.target) {
            (FaultAction::Restart, _) => {
                format!("every pod in turn: {}", pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "))
            }
            (_, TargetSpec::Node(n)) => name_of(*n),
            (_, TargetSpec::LeaderOf { topic, partition }) => match &view {
                Ok(v) => match v.leader_of(topic, *partition) {
                    Some(l) => {
                        format!("{} (leads {topic}/{partition} now; resolved again when the fault fires)", name_of(l))
                    }
                    None => format!("the leader of {topic}/{partition}, which has none now"),
                },
                Err(e) => format!("the leader of {topic}/{partition} (Kafka unreachable now: {e})"),
            },
            (_, TargetSpec::MostLeaders) => match view.as_ref().ok().and_then(|v| v.most_leaders()) {
                Some(l) => format!("{} (leads the most partitions now)", name_of(l)),
                None => "the pod leading the most partitions (unknown now)".into(),
            },
            (_, TargetSpec::Controller) => {
                let b = base.clone();
                match blocking(move || crate::chaos::quorum::describe_quorum_leader(&b, Duration::from_secs(5))).await {
                    Ok(c) => format!("{} (the active controller now)", name_of(c)),
                    Err(e) => format!("the active controller (unknown now: {e})"),
                }
            }
            (_, TargetSpec::Random) => format!(
                "one of {} (seeded pick among Ready pods)",
                pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
            (_, TargetSpec::AllButOne) => "every Ready pod but one (seeded pick)".into(),
        };
        let how = match f.action {
            FaultAction::Kill => "delete with grace period 0",
            FaultAction::Stop => "graceful delete",
            FaultAction::Restart => "graceful delete, one at a time, each Ready and in sync before the next",
            FaultAction::Pause => "Chaos Mesh PodChaos pod-failure",
            FaultAction::Partition { .. } if k.chaos_mesh => "Chaos Mesh NetworkChaos partition",
            FaultAction::Partition { .. } => "NetworkPolicy",
        };
        let _ = writeln!(out, "  fault {}: {hit} [{how}]", f.name);
    }
    Ok(out)
}
