//! The command line: clap definitions, value parsers, the [`Outcome`] of a command, and the
//! dispatch of each subcommand to its body in `commands` (or, for the commands that read
//! reports, in `report`).

mod commands;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::cluster;
use crate::vocab::units::parse_duration;

/// What a command ended with; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for worked and every check passed (exit 0).
    Ok,
    /// The run worked but a check failed (exit 1).
    ChecksFailed,
    /// Bad usage, configuration or a missing prerequisite (exit 2).
    BadConfig,
    /// The run itself failed (exit 3).
    RunFailed,
}

impl Outcome {
    /// The process exit code of this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::ChecksFailed => 1,
            Outcome::BadConfig => 2,
            Outcome::RunFailed => 3,
        }
    }
}

impl From<crate::runner::RunEnd> for Outcome {
    fn from(end: crate::runner::RunEnd) -> Outcome {
        match end {
            crate::runner::RunEnd::Passed => Outcome::Ok,
            crate::runner::RunEnd::ChecksFailed => Outcome::ChecksFailed,
            crate::runner::RunEnd::Failed => Outcome::RunFailed,
        }
    }
}

/// A run's end is the outcome it maps to (what `tests/run.rs` compares).
impl PartialEq<Outcome> for crate::runner::RunEnd {
    fn eq(&self, other: &Outcome) -> bool {
        Outcome::from(*self) == *other
    }
}

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

/// A size such as `150MiB` (the scenario file's units).
pub fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::vocab::units::parse_size(s)
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
        Command::Cluster(cmd) => commands::cluster(cmd).await,
        Command::Validate(a) => Ok(commands::validate(&a.files)),
        Command::Run(a) => commands::run(a).await,
        Command::Capacity(a) => commands::capacity(a).await,
        Command::Heal(a) if a.kubernetes.is_some() => commands::heal_kube(a).await,
        Command::Heal(a) => tokio::task::spawn_blocking(move || commands::heal(a)).await.context("heal thread")?,
        Command::Report(a) => {
            let run = move || commands::report::report_command(&a.run, a.out.as_deref(), a.junit.as_deref());
            tokio::task::spawn_blocking(run).await.context("report thread")
        }
        Command::Bench(BenchCommand::Memory(a)) => Ok(commands::report::memory_command(
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
            Ok(commands::report::compare_command(&a.baseline, &a.current, &a.max_regression, opts, a.junit.as_deref()))
        }
    }
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
