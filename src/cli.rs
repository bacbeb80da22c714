//! The command line: clap definitions, value parsers, and the dispatch of each subcommand.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::Outcome;
use crate::cluster::{self, LocalCluster, UpOptions};
use crate::scenario::ClusterTarget;
use crate::smoke::{self, SmokeOptions, TopicSpec};

/// Put Apache Kafka clusters under load and under failure, and report how they held up.
///
/// Exit codes: 0 ok, 1 checks failed, 2 bad usage or configuration, 3 the run itself failed.
#[derive(Debug, Parser)]
#[command(name = "aftershock", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage a local cluster of real Apache Kafka processes (KRaft).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Check scenario files without touching a cluster; every problem is reported.
    Validate(ValidateArgs),
    /// Run a scenario: load and faults against a cluster, then write report.json.
    Run(RunArgs),
    /// Find the highest rate the cluster sustains under the scenario's `capacity` criteria
    /// (p99 bound, achieved rate, errors, consumer lag), stepping the rate as OpenMessaging
    /// Benchmark does; optionally with one node down. Writes capacity.json and summary.md.
    /// Exit 0 found, 1 no sustainable rate or below `capacity.require`, 2 bad config, 3 failed.
    Capacity(CapacityArgs),
    /// Undo faults left behind by a crashed run: resume paused nodes, restart killed ones,
    /// delete partition rules.
    Heal(HealArgs),
    /// Render a run's summary.md, index.html and plots from its report.json, and gate it on
    /// its scenario's checks (exit 1 when one fails).
    Report(ReportArgs),
    /// Compare a run with a baseline run, phase by phase and fault by fault; print a
    /// Markdown table and exit 1 on a regression beyond tolerance.
    Compare(CompareArgs),
    /// Benchmarks that read a run's report (see docs/performance.md); `cargo bench` has the
    /// others.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Check a long run's memory from its report: peak RSS under the limit, and flat after
    /// warm-up (the median RSS of its last window within --max-growth of its first window).
    /// Exit 1 when it fails. Run scenarios/soak-memory.json first.
    Memory(MemoryArgs),
}

#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// The run dir (or its report.json).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Highest RSS allowed at any second.
    #[arg(long, default_value = "150MiB", value_parser = parse_size_arg, value_name = "SIZE")]
    pub max_rss: u64,
    /// Largest growth allowed after warm-up, in percent.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    pub max_growth: f64,
    /// Length of the first and last windows whose medians are compared.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub window: Duration,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run dir (or its report.json).
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Where to write the outputs [default: the run dir]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the checks as JUnit XML test cases to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run dir (or report.json).
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The run dir (or report.json) to compare with it.
    #[arg(value_name = "CURRENT")]
    pub current: PathBuf,
    /// Tolerance of a metric, [SCOPE:]METRIC=PCT (e.g. e2e.p99=10, steady:e2e.*=15%,
    /// recovery.*=50, lost=off); repeatable. Defaults in docs/ci.md.
    #[arg(long = "max-regression", value_name = "METRIC=PCT")]
    pub max_regression: Vec<String>,
    /// Latency changes up to this much are never regressions (measurement resolution).
    #[arg(long, default_value = "1ms", value_parser = parse_duration, value_name = "DURATION")]
    pub min_latency_delta: Duration,
    /// Compare runs of different scenarios anyway.
    #[arg(long)]
    pub force: bool,
    /// Fail (exit 1) on inconclusive gated metrics too.
    #[arg(long)]
    pub strict: bool,
    /// Also write the gated metrics as JUnit XML test cases to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub scenario: PathBuf,
    /// Run dir for report.json [default: reports/<scenario>-<UTC time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the timeline of phases and faults, and touch nothing (on Kubernetes, also list
    /// the broker pods each fault would hit now).
    #[arg(long)]
    pub dry_run: bool,
    /// Write the scenario's checks as JUnit XML test cases to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Kubernetes: the kubeconfig context to use, over the scenario's and the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario file, with a `capacity` block.
    #[arg(value_name = "FILE")]
    pub scenario: PathBuf,
    /// Run dir for capacity.json and summary.md [default: reports/<scenario>-capacity-<UTC time>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print capacity.json on stdout instead of the step table.
    #[arg(long)]
    pub json: bool,
    /// Write the result as JUnit XML test cases to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run the search with one node killed for its whole length (restarted at the end):
    /// `--node-down` lets aftershock pick (the highest node that is not the active
    /// controller), `--node-down=N` names it. Overrides `capacity.node_down`.
    #[arg(long, value_name = "NODE", num_args = 0..=1, default_missing_value = "auto", value_parser = parse_node_down)]
    pub node_down: Option<crate::scenario::capacity::NodeDown>,
    /// Run on a healthy cluster even if the scenario sets `capacity.node_down`.
    #[arg(long, conflicts_with = "node_down")]
    pub healthy: bool,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `auto` or a node id.
fn parse_node_down(s: &str) -> Result<crate::scenario::capacity::NodeDown, String> {
    use crate::scenario::capacity::NodeDown;
    if s.eq_ignore_ascii_case("auto") {
        return Ok(NodeDown::Auto);
    }
    match s.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(NodeDown::Node(n)),
        _ => Err(format!("`{s}` is not a node id (1, 2, ...) or `auto`")),
    }
}

#[derive(Debug, Args)]
pub struct HealArgs {
    /// A run dir or a cluster dir whose faults to undo.
    #[arg(value_name = "DIR", required_unless_present_any = ["all", "kubernetes"], conflicts_with_all = ["all", "kubernetes"])]
    pub dir: Option<PathBuf>,
    /// Heal every run and cluster dir aftershock knows of (the kill switch).
    #[arg(long, conflicts_with = "kubernetes")]
    pub all: bool,
    /// Delete every NetworkPolicy and Chaos Mesh object aftershock left in this Kubernetes
    /// namespace (objects labelled app.kubernetes.io/managed-by=aftershock).
    #[arg(long, value_name = "NAMESPACE")]
    pub kubernetes: Option<String>,
    /// Kubernetes: only the objects of this run id (the run dir's name).
    #[arg(long, value_name = "ID", requires = "kubernetes")]
    pub run_id: Option<String>,
    /// Kubernetes: the kubeconfig context [default: the current one].
    #[arg(long, value_name = "NAME", requires = "kubernetes")]
    pub context: Option<String>,
    /// Kubernetes: the kubeconfig file [default: $KUBECONFIG, ~/.kube/config, in-cluster].
    #[arg(long, value_name = "FILE", requires = "kubernetes")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Fetch (once), format and start a local cluster; print its bootstrap list.
    Up(UpArgs),
    /// Show each node's pid, ports, liveness and registration.
    Status(StatusArgs),
    /// Stop every node (SIGTERM, then SIGKILL) and remove the cluster's data.
    Down(DownArgs),
    /// Download the Kafka jars into the cache without starting anything.
    Fetch(FetchArgs),
    /// Produce numbered messages with acks=all, read them back, check each arrives exactly once.
    Smoke(SmokeArgs),
}

#[derive(Debug, Args)]
pub struct DirArg {
    /// Cluster directory [default: $AFTERSHOCK_CLUSTER_DIR, else ~/.local/state/aftershock/cluster]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DirArg {
    fn get(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(cluster::default_dir)
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Number of nodes, each broker and controller.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Kafka version to run (fetched from Maven Central; ignored when KAFKA_HOME is set).
    #[arg(long, default_value = cluster::dist::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
    /// JVM heap per node.
    #[arg(long, default_value = "512m")]
    pub heap: String,
    /// Extra broker setting for every node, KEY=VALUE; repeatable.
    #[arg(long = "broker-config", value_name = "KEY=VALUE", value_parser = crate::cluster::props::parse_override)]
    pub broker_config: Vec<(String, String)>,
    /// How long to wait for every broker to register.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Run each node in its own network namespace on a private bridge, so that partition
    /// faults can cut it off (root only; needs iproute2 and nftables). See docs/netns.md.
    #[arg(long)]
    pub netns: bool,
    /// Private IPv4 subnet of a --netns cluster [default: the first free 10.77.N.0/24]
    #[arg(long, value_name = "CIDR", requires = "netns")]
    pub subnet: Option<cluster::Ipv4Net>,
    /// Print the cluster's status as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Print JSON (with a top-level `bootstrap` string) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Keep the data and logs (the nodes are still stopped).
    #[arg(long)]
    pub keep: bool,
    /// How long each node gets to stop after SIGTERM before SIGKILL.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Kafka version to fetch.
    #[arg(long, default_value = cluster::dist::DEFAULT_KAFKA_VERSION)]
    pub kafka_version: String,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Check this cluster instead of the local one in --dir.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub bootstrap: Option<String>,
    /// Messages to produce.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u32,
    /// Partitions of the topic the check creates.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Bound on the produce and on the consume step.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Parses durations like `30s`, `2m`, `1h`, `500ms`.
/// A size such as `150MiB` (the scenario file's units).
pub fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::scenario::parse_size(s)
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 30s, 2m or 1h: {e}"))
}

/// Sets up logging to stderr: warnings by default, more with -v, RUST_LOG wins.
pub fn init_tracing(verbose: u8) {
    // librdkafka reports every refused connection as an error; during a fault that is the
    // expected state, so its log is shown only when asked for (-v).
    let default = match verbose {
        0 => "warn,librdkafka=off,rdkafka=off",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs one command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Cluster(cmd) => cluster_command(cmd).await,
        Command::Validate(a) => Ok(crate::scenario::validate_command(&a.files)),
        Command::Run(a) => run_command(a).await,
        Command::Capacity(a) => capacity_command(a).await,
        Command::Heal(a) if a.kubernetes.is_some() => heal_kube_command(a).await,
        Command::Heal(a) => tokio::task::spawn_blocking(move || heal_command(a)).await.context("heal thread")?,
        Command::Report(a) => {
            let run = move || crate::report::commands::report_command(&a.run, a.out.as_deref(), a.junit.as_deref());
            tokio::task::spawn_blocking(run).await.context("report thread")
        }
        Command::Bench(BenchCommand::Memory(a)) => Ok(crate::report::commands::memory_command(
            &a.run,
            &crate::measure::MemoryLimits {
                max_rss_bytes: a.max_rss,
                max_growth: a.max_growth / 100.0,
                window_secs: a.window.as_secs().max(1),
            },
        )),
        Command::Compare(a) => {
            let opts = crate::gate::compare::CompareOptions {
                force: a.force,
                strict: a.strict,
                min_latency_delta_us: a.min_latency_delta.as_secs_f64() * 1e6,
            };
            Ok(crate::report::commands::compare_command(
                &a.baseline,
                &a.current,
                &a.max_regression,
                opts,
                a.junit.as_deref(),
            ))
        }
    }
}

async fn heal_kube_command(a: HealArgs) -> anyhow::Result<Outcome> {
    let ns = a.kubernetes.unwrap_or_default();
    let client = crate::chaos::kube::client(a.kubeconfig.as_deref(), a.context.as_deref()).await?;
    let removed = crate::chaos::kube::heal(&client, &ns, a.run_id.as_deref()).await?;
    if removed.is_empty() {
        println!("namespace {ns}: nothing left to undo");
    }
    for line in removed {
        println!("namespace {ns}: {line}");
    }
    Ok(Outcome::Ok)
}

fn heal_command(a: HealArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(120);
    let results = match &a.dir {
        Some(d) => vec![(d.clone(), crate::chaos::heal::heal_dir(d, timeout))],
        None => {
            let (results, n) = crate::chaos::heal::heal_all(timeout);
            eprintln!("healing {n} known dir(s)");
            results
        }
    };
    let mut failed = false;
    for (dir, r) in results {
        match r {
            Ok(rep) => {
                if rep.actions.is_empty() && rep.failures.is_empty() {
                    println!("{}: nothing left to undo", dir.display());
                }
                for line in &rep.actions {
                    println!("{}: {line}", dir.display());
                }
                for line in &rep.failures {
                    failed = true;
                    eprintln!("{}: could not undo: {line}", dir.display());
                }
            }
            Err(e) if a.dir.is_some() => return Err(e.into()),
            Err(e) => eprintln!("{}: skipped: {e}", dir.display()),
        }
    }
    Ok(if failed { Outcome::RunFailed } else { Outcome::Ok })
}

async fn run_command(a: RunArgs) -> anyhow::Result<Outcome> {
    let scenario = match crate::scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(Outcome::BadConfig);
        }
    };
    if a.dry_run {
        let plan = crate::plan::RunPlan::new(&scenario, crate::plan::ProducerIds::new(0))?;
        print!("{}", crate::runner::dry_run(&scenario, &plan));
        if let ClusterTarget::Existing { kubernetes: Some(k), .. } = &scenario.cluster
            && !scenario.faults.is_empty()
        {
            print!("{}", crate::runner::dry_run_pods(&scenario, k, a.context.as_deref()).await?);
        }
        return Ok(Outcome::Ok);
    }
    let opts = crate::runner::RunOptions {
        out: a.out,
        reports_root: PathBuf::from("reports"),
        progress: crate::runner::Progress::auto(a.quiet),
        kube_context: a.context,
    };
    let checks = scenario.checks.clone();
    let result = crate::runner::run_scenario(scenario, opts, shutdown_signal()).await?;
    print_run_summary(&result);
    // Render the outputs and gate on the checks; a failed check (or lost messages) exits 1,
    // a failed run keeps its 3.
    let (report, run_dir, junit) = (result.report.clone(), result.run_dir.clone(), a.junit);
    let gate = tokio::task::spawn_blocking(move || {
        crate::report::commands::after_run(&report, &checks, &run_dir, junit.as_deref())
    })
    .await
    .context("report thread")?;
    println!("{}", result.run_dir.display());
    Ok(match (result.outcome, gate) {
        (Outcome::Ok, g) => g,
        (o, _) => o,
    })
}

async fn capacity_command(a: CapacityArgs) -> anyhow::Result<Outcome> {
    use crate::scenario::capacity::NodeDown;
    let scenario = match crate::scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(Outcome::BadConfig);
        }
    };
    let opts = crate::capacity::CapacityOptions {
        out: a.out,
        reports_root: PathBuf::from("reports"),
        progress: crate::runner::Progress::auto(a.quiet),
        node_down: if a.healthy { Some(NodeDown::No) } else { a.node_down },
    };
    let result = crate::capacity::run_capacity(scenario, opts, shutdown_signal()).await?;
    let rep = &result.report;
    if let Some(path) = &a.junit {
        crate::render::junit::write(path, &[rep.junit_suite()])?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(rep)?);
    } else {
        eprintln!();
        eprint!("{}", rep.table());
        eprintln!();
        if let Some(d) = &rep.node_down
            && !d.restored
        {
            eprintln!(
                "warning: node {} could not be restarted ({}); run `aftershock heal {}`",
                d.node,
                d.restore_error.as_deref().unwrap_or("unknown"),
                result.run_dir.display()
            );
        }
        eprintln!("{} ({})", rep.result.summary, rep.conditions());
        println!("{}", result.run_dir.display());
    }
    Ok(result.outcome)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("stopping: draining and writing the report (marked aborted)...");
}

fn print_run_summary(r: &crate::runner::RunResult) {
    let rep = &r.report;
    let v = &rep.verification;
    eprintln!(
        "run {} {:?}{}",
        rep.run_id,
        rep.status,
        rep.abort_reason.as_deref().map(|x| format!(": {x}")).unwrap_or_default()
    );
    for p in rep.phases.iter().filter(|p| p.measured) {
        eprintln!(
            "  phase {:<10} acked {:>9.1}/s  produce p50 {:>8.2} ms p99 {:>8.2} ms max {:>8.2} ms  e2e p99 {:>8.2} ms",
            p.name,
            p.ack_rate,
            p.latency.produce.p50_us as f64 / 1000.0,
            p.latency.produce.p99_us as f64 / 1000.0,
            p.latency.produce.max_us as f64 / 1000.0,
            p.latency.e2e.p99_us as f64 / 1000.0,
        );
    }
    eprintln!(
        "  verification: sent {} acked {} failed {} consumed {} lost {} duplicates {} reordered {} unexpected {}",
        v.sent, v.acked, v.failed, v.consumed, v.lost, v.duplicates, v.reordered, v.unexpected
    );
    if rep.generator.limited {
        eprintln!("  warning: the run was generator-limited: {}", rep.generator.reason.as_deref().unwrap_or(""));
    }
}

async fn cluster_command(cmd: ClusterCommand) -> anyhow::Result<Outcome> {
    // Cluster management is blocking process and file work; keep it off the async workers.
    tokio::task::spawn_blocking(move || cluster_blocking(cmd)).await.context("cluster command thread")?
}

fn cluster_blocking(cmd: ClusterCommand) -> anyhow::Result<Outcome> {
    match cmd {
        ClusterCommand::Up(a) => {
            let opts = UpOptions {
                dir: a.dir.get(),
                nodes: a.nodes,
                kafka_version: a.kafka_version,
                heap: a.heap,
                broker_config: a.broker_config.into_iter().collect::<BTreeMap<_, _>>(),
                start_timeout: a.timeout,
                netns: a.netns,
                subnet: a.subnet,
                ..UpOptions::new(a.dir.get())
            };
            let started = std::time::Instant::now();
            let mut c = LocalCluster::up(&opts)?;
            let status = c.status();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                eprintln!(
                    "cluster of {} Kafka {} nodes up in {:.1}s; dir {}",
                    status.nodes.len(),
                    status.kafka_version,
                    started.elapsed().as_secs_f64(),
                    status.dir.display()
                );
                println!("{}", status.bootstrap);
            }
            Ok(Outcome::Ok)
        }
        ClusterCommand::Status(a) => {
            let mut c = LocalCluster::open(&a.dir.get())?;
            let status = c.status();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", render_status(&status));
            }
            Ok(if status.alive == status.nodes.len() { Outcome::Ok } else { Outcome::ChecksFailed })
        }
        ClusterCommand::Down(a) => {
            let c = LocalCluster::open(&a.dir.get())?;
            let dir = c.dir().to_path_buf();
            let report = c.down(a.keep, a.timeout)?;
            eprintln!(
                "stopped {} node(s) in {}{}{}",
                report.terminated.len(),
                dir.display(),
                if report.killed.is_empty() { String::new() } else { format!("; SIGKILLed {:?}", report.killed) },
                if a.keep { "; data kept" } else { "; data removed" }
            );
            Ok(Outcome::Ok)
        }
        ClusterCommand::Fetch(a) => {
            let d = cluster::dist::fetch(&a.kafka_version)?;
            println!("{}", d.libs_dir.display());
            Ok(Outcome::Ok)
        }
        ClusterCommand::Smoke(a) => {
            let (bootstrap, replication) = match &a.bootstrap {
                Some(b) => (b.clone(), None),
                None => {
                    let c = LocalCluster::open(&a.dir.get())?;
                    (c.bootstrap(), Some(c.state().nodes.len()))
                }
            };
            let nodes = match replication {
                Some(n) => n,
                None => crate::cluster::probe::registered_brokers(&bootstrap, a.timeout)?.len(),
            };
            let (rf, min_isr) = crate::cluster::props::replication_defaults(nodes);
            let opts = SmokeOptions {
                topic: format!("aftershock-smoke-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
                create: Some(TopicSpec {
                    partitions: a.partitions,
                    replication: rf as i32,
                    min_insync_replicas: Some(min_isr as i32),
                }),
                messages: a.messages,
                timeout: a.timeout,
            };
            let r = smoke::smoke(&bootstrap, &opts)?;
            println!(
                "smoke {}: topic {} ({} partitions, rf {}, min ISR {}): sent {} acked {} failed {} consumed {} missing {} duplicates {} (produce {:.2}s, consume {:.2}s){}",
                if r.ok() { "ok" } else { "FAILED" },
                r.topic,
                a.partitions,
                rf,
                min_isr,
                r.sent,
                r.acked,
                r.failed,
                r.consumed,
                r.missing,
                r.duplicates,
                r.produce_secs,
                r.consume_secs,
                r.first_error.as_deref().map(|e| format!("; first error: {e}")).unwrap_or_default()
            );
            Ok(if r.ok() { Outcome::Ok } else { Outcome::ChecksFailed })
        }
    }
}

fn render_status(s: &cluster::ClusterStatus) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "cluster {} (Kafka {}) in {}", s.cluster_id, s.kafka_version, s.dir.display());
    let _ = writeln!(out, "bootstrap {}", s.bootstrap);
    let _ = writeln!(
        out,
        "{:>4}  {:>8}  {:<21}  {:>10}  {:<5}  {:<10}",
        "NODE", "PID", "BROKER", "CONTROLLER", "ALIVE", "REGISTERED"
    );
    for n in &s.nodes {
        let _ = writeln!(
            out,
            "{:>4}  {:>8}  {:<21}  {:>10}  {:<5}  {:<10}",
            n.id,
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            format!("{}:{}", n.host, n.broker_port),
            n.controller_port,
            if n.alive { "yes" } else { "no" },
            if n.registered { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out, "{} of {} alive, {} registered", s.alive, s.nodes.len(), s.registered);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn parses_cluster_up() {
        let cli = Cli::parse_from([
            "aftershock",
            "cluster",
            "up",
            "--nodes",
            "5",
            "--dir",
            "/tmp/x",
            "--broker-config",
            "a.b=1",
        ]);
        let Command::Cluster(ClusterCommand::Up(a)) = cli.command else { panic!("not up") };
        assert_eq!(a.nodes, 5);
        assert_eq!(a.dir.dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(a.broker_config, vec![("a.b".to_string(), "1".to_string())]);
        assert_eq!(a.kafka_version, cluster::dist::DEFAULT_KAFKA_VERSION);
        assert!(!a.netns);
    }

    #[test]
    fn parses_cluster_up_netns() {
        let cli = Cli::parse_from(["aftershock", "cluster", "up", "--netns", "--subnet", "10.78.0.0/24"]);
        let Command::Cluster(ClusterCommand::Up(a)) = cli.command else { panic!("not up") };
        assert!(a.netns);
        assert_eq!(a.subnet, Some("10.78.0.0/24".parse().unwrap()));
        // --subnet needs --netns, and must be a network.
        assert!(Cli::try_parse_from(["aftershock", "cluster", "up", "--subnet", "10.78.0.0/24"]).is_err());
        let e =
            Cli::try_parse_from(["aftershock", "cluster", "up", "--netns", "--subnet", "10.78.0.1/24"]).unwrap_err();
        assert!(e.to_string().contains("host bits"), "{e}");
    }
}
