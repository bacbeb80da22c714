//! `run --dry-run`: the planned timeline of phases and faults, and on Kubernetes the broker
//! pods each fault would hit now. Touches nothing.

use std::fmt::Write as _;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use crate::chaos::kube::KubeBackend;
use crate::chaos::task::blocking;
use crate::error::Result;
use crate::plan::RunPlan;
use crate::scenario::fault::{FaultAction, KubeSpec, TargetSpec};
use crate::scenario::{ClusterTarget, Scenario};

/// The timeline `run --dry-run` prints: phases and every fault occurrence, with offsets from
/// the start of the load. Touches nothing.
pub fn dry_run(s: &Scenario, plan: &RunPlan) -> String {
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
    for p in &plan.phases {
        let _ = writeln!(
            out,
            "  {:>8}  phase {} for {}{}",
            fmt_offset(p.offset),
            p.name,
            fmt_offset(p.duration),
            if p.measured { "" } else { " (not measured)" }
        );
    }
    for o in &plan.faults {
        let what = match o.spec.action {
            FaultAction::Restart => "rolling restart of every node".to_string(),
            a => format!("{} {}", a.name(), o.spec.target.describe()),
        };
        let (load_end, window_end) = (plan.load_duration(), o.start.saturating_add(o.spec.duration));
        // The run gives faults `drain` after the load (and the producers' last deliveries),
        // then undoes what is still on.
        let cut = load_end.saturating_add(s.drain);
        let window = if o.spec.duration.is_zero() {
            String::new()
        } else if window_end > cut {
            format!(
                ", undone at about {} when the drain ends (its window would end at {})",
                fmt_offset(cut),
                fmt_offset(window_end)
            )
        } else if window_end > load_end {
            format!(", undone at {} (in the drain, after the load)", fmt_offset(window_end))
        } else {
            format!(", undone at {}", fmt_offset(window_end))
        };
        let restart = o
            .spec
            .restart_after
            .map(|r| format!(", restarted at {}", fmt_offset(o.start.saturating_add(r))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>8}  fault {}{}: {what}{restart}{window}",
            fmt_offset(o.start),
            o.spec.name,
            if o.repeat > 0 { format!(" #{}", o.repeat + 1) } else { String::new() }
        );
    }
    let _ = writeln!(
        out,
        "  {:>8}  load stops; consumers drain for up to {}",
        fmt_offset(plan.load_duration()),
        fmt_offset(s.drain)
    );
    out
}

fn fmt_offset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{:.3}s", d.as_secs_f64()) }
}

/// `run --dry-run` on Kubernetes: the broker pods each fault would hit if it fired now. Targets
/// that depend on the moment (leaders, the controller, random picks) are resolved as of now
/// and say so.
pub async fn dry_run_pods(s: &Scenario, k: &KubeSpec, context: Option<&str>) -> Result<String> {
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
