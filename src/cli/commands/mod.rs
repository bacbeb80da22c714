//! The bodies of every command: here those that drive clusters and runs (`cluster`,
//! `validate`, `run`, `capacity`, `heal`), in [`report`] those that read reports (`report`,
//! `compare`, `bench memory`, the end of `run`). Each takes its parsed arguments and returns the
//! [`Outcome`] the binary turns into an exit code; errors go up to [`crate::run`], which prints
//! them.

pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{CapacityArgs, ClusterCommand, HealArgs, Outcome, RunArgs};
use crate::cluster::{self, LocalCluster, UpOptions};
use crate::report::LimitCause;
use crate::scenario::ClusterTarget;
use crate::smoke::{self, SmokeOptions, TopicSpec};

/// `aftershock validate FILE...`: checks each file without touching a cluster; prints
/// `FILE: ok` on stdout for each valid file (after its warnings, on stderr) and every problem
/// of the others on stderr. Returns [`Outcome::BadConfig`] when any file is invalid; warnings
/// alone leave it [`Outcome::Ok`].
pub(super) fn validate(files: &[PathBuf]) -> Outcome {
    let mut outcome = Outcome::Ok;
    for f in files {
        match crate::scenario::load(f) {
            Ok(s) => {
                print_warnings(&s);
                println!("{}: ok", f.display());
            }
            Err(diags) => {
                for d in diags.iter() {
                    eprintln!("{d}");
                }
                outcome = Outcome::BadConfig;
            }
        }
    }
    outcome
}

/// A loaded file's warnings on stderr, one line each, located like errors.
fn print_warnings(s: &crate::scenario::Scenario) {
    for w in &s.warnings {
        eprintln!("{w}");
    }
}

/// The scenario `run` and `capacity` start from: its problems printed and `None` when it is
/// invalid (the caller exits with [`Outcome::BadConfig`]), its warnings printed otherwise.
fn load_for_run(path: &std::path::Path) -> Option<crate::scenario::Scenario> {
    match crate::scenario::load(path) {
        Ok(s) => {
            print_warnings(&s);
            Some(s)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            None
        }
    }
}

pub(super) async fn heal_kube(a: HealArgs) -> anyhow::Result<Outcome> {
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

pub(super) fn heal(a: HealArgs) -> anyhow::Result<Outcome> {
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

pub(super) async fn run(a: RunArgs) -> anyhow::Result<Outcome> {
    let Some(scenario) = load_for_run(&a.scenario) else { return Ok(Outcome::BadConfig) };
    if a.dry_run {
        let plan =
            crate::plan::RunPlan::new(&scenario, crate::plan::ProducerIds::new(0)).map_err(crate::Error::from)?;
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
    let gate = tokio::task::spawn_blocking(move || report::after_run(&report, &checks, &run_dir, junit.as_deref()))
        .await
        .context("report thread")?;
    println!("{}", result.run_dir.display());
    Ok(match (Outcome::from(result.outcome), gate) {
        (Outcome::Ok, g) => g,
        (o, _) => o,
    })
}

pub(super) async fn capacity(a: CapacityArgs) -> anyhow::Result<Outcome> {
    use crate::scenario::capacity::NodeDown;
    let Some(scenario) = load_for_run(&a.scenario) else { return Ok(Outcome::BadConfig) };
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
    Ok(result.outcome.into())
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
        let what = match rep.generator.cause {
            Some(LimitCause::HostCpu) => "the sends were late because other processes took the host's CPU",
            _ => "the run was generator-limited",
        };
        eprintln!("  warning: {what}: {}", rep.generator.reason.as_deref().unwrap_or(""));
    }
}

pub(super) async fn cluster(cmd: ClusterCommand) -> anyhow::Result<Outcome> {
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
