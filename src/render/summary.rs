//! The summary of a report for people: per-phase tables, the clients' settings, each fault
//! with its recovery figures, the verification counts and the checks. Built once as a small
//! document model ([`Block`]s) and written as Markdown (`summary.md`) or HTML (inside
//! `index.html`), so the two always say the same thing.

use std::fmt::Write as _;

use crate::gate::{CheckResult, Status};
use crate::report::clients::{CONSUMER_SUMMARY, PRODUCER_SUMMARY, SummaryColumn};
use crate::report::{
    ClientSettings, FaultRecord, LimitCause, PhaseLatency, PhaseStats, RecoveryFigure, Report, RunStatus,
};
use crate::vocab::format::{count, latency_us, percent, rate, secs};

/// A piece of the summary. Text may use `` `code` `` and `**bold**`, nothing else.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    Table(Table),
    List(Vec<String>),
    /// A plot: its title and the PNG's path relative to the run dir.
    Image {
        title: String,
        path: String,
    },
}

/// A table; `right` says which columns hold numbers (right-aligned).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub right: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// The checks as the summary gets them: results, or why the embedded checks could not be read.
pub type ChecksOutcome = Result<Vec<CheckResult>, Vec<String>>;

/// A plot for the summary: title and PNG path relative to the run dir.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotRef {
    pub title: String,
    pub path: String,
}

/// The summary of `report` as blocks.
pub fn document(report: &Report, checks: &ChecksOutcome, plots: &[PlotRef]) -> Vec<Block> {
    let mut doc = vec![Block::Heading(1, format!("aftershock report: {}", report.scenario_name))];
    doc.push(Block::Para(run_line(report)));
    if let Some(d) = report.scenario.get("description").and_then(|d| d.as_str()).filter(|d| !d.trim().is_empty()) {
        doc.push(Block::Para(format!("Scenario: {}", d.trim())));
    }
    doc.push(Block::Para(environment_line(report)));
    if report.generator.limited {
        let what = match report.generator.cause {
            Some(LimitCause::HostCpu) => "other processes took the host's CPU and delayed the sends, not the cluster",
            _ => "the load generator, not the cluster, limited this run",
        };
        doc.push(Block::Para(format!(
            "**Warning**: {what}: {}",
            report.generator.reason.as_deref().unwrap_or("see generator in report.json")
        )));
    }

    doc.push(Block::Heading(2, "Checks".into()));
    match checks {
        Ok(results) if results.is_empty() => doc.push(Block::Para("No checks in this scenario.".into())),
        Ok(results) => {
            doc.push(Block::Para(format!(
                "**{}**: {}.",
                if crate::gate::all_passed(results) { "All checks passed" } else { "Checks failed" },
                crate::gate::verdict_line(results)
            )));
            doc.push(Block::Table(checks_table(results)));
        }
        Err(problems) => {
            doc.push(Block::Para("**The checks in this report's scenario could not be read**:".into()));
            doc.push(Block::List(problems.clone()));
        }
    }

    doc.push(Block::Heading(2, "Phases".into()));
    doc.push(Block::Table(phase_rates(report)));
    doc.push(Block::Para(
        "Latency from each message's intended send time: produce = until acknowledged, end-to-end = until consumed."
            .into(),
    ));
    doc.push(Block::Table(phase_latency(report)));

    doc.push(Block::Heading(2, "Clients".into()));
    clients(report, &mut doc);

    doc.push(Block::Heading(2, "Faults".into()));
    if report.faults.is_empty() {
        doc.push(Block::Para("No faults in this run.".into()));
    } else {
        doc.push(Block::Table(faults_table(&report.faults)));
        doc.push(Block::Para(
            "Recovery: times count from each fault's start, except two lengths: unavailable, the longest stretch without any acknowledgement, and rebalance, from the consumer group's partitions revoked to assigned again; n/a: not measured (see the notes).".into(),
        ));
        doc.push(Block::Table(recovery_table(&report.faults)));
        if let Some(t) = partition_table(report) {
            doc.push(Block::Para(
                "Unavailability per partition of the first producer's topic: the longest time after the fault without an acknowledgement, or until the first acknowledgement of a message sent after it, whichever is longer; n/a: not acknowledged again before the run ended.".into(),
            ));
            doc.push(Block::Table(t));
        }
        let notes: Vec<String> = report
            .faults
            .iter()
            .flat_map(|f| f.recovery.notes.iter().map(move |n| format!("`{}`: {n}", f.id)))
            .collect();
        if !notes.is_empty() {
            doc.push(Block::List(notes));
        }
    }

    doc.push(Block::Heading(2, "Verification".into()));
    doc.push(Block::Table(verification_table(report)));
    doc.push(Block::Para(verification_line(report)));

    let errors = errors_table(report);
    if !errors.rows.is_empty() {
        doc.push(Block::Heading(2, "Errors".into()));
        doc.push(Block::Table(errors));
    }

    if !plots.is_empty() {
        doc.push(Block::Heading(2, "Plots".into()));
        for p in plots {
            doc.push(Block::Image { title: p.title.clone(), path: p.path.clone() });
        }
    }
    doc
}

fn run_line(r: &Report) -> String {
    let status = match (r.status, &r.abort_reason) {
        (RunStatus::Completed, _) => "**completed**".to_string(),
        (RunStatus::Aborted, Some(why)) => format!("was **aborted** ({why})"),
        (RunStatus::Aborted, None) => "was **aborted**".to_string(),
    };
    format!("Run `{}` {status}: started {}, ran {}.", r.run_id, r.started_at, secs(r.duration_secs))
}

fn environment_line(r: &Report) -> String {
    let e = &r.environment;
    let mut s = format!("aftershock {}, librdkafka {}", e.aftershock_version, e.librdkafka_version);
    if let Some(k) = &e.kafka_version {
        let _ = write!(s, ", Kafka {k}");
    }
    let _ = write!(s, "; host `{}` ({}, {} CPU{})", e.hostname, e.os, e.cpus, if e.cpus == 1 { "" } else { "s" });
    let brokers = e.cluster.brokers.len();
    if brokers > 0 {
        let _ = write!(s, "; {brokers} broker{}", if brokers == 1 { "" } else { "s" });
    }
    for t in &e.cluster.topics {
        let _ = write!(
            s,
            "; topic `{}` ({} partitions, replication factor {})",
            t.name, t.partitions, t.replication_factor
        );
    }
    s.push('.');
    s
}

fn checks_table(results: &[CheckResult]) -> Table {
    Table {
        header: ["result", "metric", "scope", "bound", "value"].map(String::from).to_vec(),
        right: vec![false, false, false, false, true],
        rows: results
            .iter()
            .map(|r| {
                let status = match r.status {
                    Status::Pass => "✅ pass",
                    Status::Fail => "❌ FAIL",
                    Status::NoData => "⚠️ NO DATA",
                };
                let mut value = r.value_text();
                if let Some(n) = &r.note {
                    let _ = write!(value, " ({n})");
                }
                vec![status.to_string(), format!("`{}`", r.check.metric), r.scope.clone(), r.check.bound_text(), value]
            })
            .collect(),
    }
}

fn phase_rates(r: &Report) -> Table {
    let header =
        ["phase", "measured", "start", "duration", "sent/s", "acked/s", "consumed/s", "target", "failed", "max lag"];
    let row = |p: &PhaseStats| {
        vec![
            p.name.clone(),
            if p.measured { "yes" } else { "no" }.to_string(),
            secs(p.start_secs),
            if p.duration_secs < p.planned_duration_secs {
                format!("{} of {}", secs(p.duration_secs), secs(p.planned_duration_secs))
            } else {
                secs(p.duration_secs)
            },
            rate(p.send_rate),
            rate(p.ack_rate),
            rate(p.consume_rate),
            p.target_rate.map_or("-".into(), rate),
            p.failed.to_string(),
            p.max_lag.map_or("-".into(), |l| l.to_string()),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.phases.iter().map(row).collect();
    let t = &r.totals;
    rows.push(vec![
        "**measured phases**".into(),
        String::new(),
        String::new(),
        secs(t.measured_secs),
        rate(t.send_rate),
        rate(t.ack_rate),
        rate(t.consume_rate),
        String::new(),
        t.failed.to_string(),
        t.max_lag.map_or("-".into(), |l| l.to_string()),
    ]);
    Table {
        header: header.map(String::from).to_vec(),
        right: vec![false, false, true, true, true, true, true, true, true, true],
        rows,
    }
}

fn lat(s: &crate::measure::LatencySummary, v: u64) -> String {
    if s.count == 0 { "-".into() } else { latency_us(v as f64) }
}

fn phase_latency(r: &Report) -> Table {
    let header = [
        "phase",
        "produce p50",
        "produce p99",
        "produce p99.9",
        "produce max",
        "e2e p50",
        "e2e p99",
        "e2e p99.9",
        "e2e max",
        "samples",
    ];
    let row = |name: String, l: &PhaseLatency| {
        let (p, e) = (&l.produce, &l.e2e);
        vec![
            name,
            lat(p, p.p50_us),
            lat(p, p.p99_us),
            lat(p, p.p999_us),
            lat(p, p.max_us),
            lat(e, e.p50_us),
            lat(e, e.p99_us),
            lat(e, e.p999_us),
            lat(e, e.max_us),
            p.count.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.phases.iter().map(|p| row(p.name.clone(), &p.latency)).collect();
    rows.push(row("**measured phases**".into(), &r.totals.latency));
    let mut right = vec![true; header.len()];
    right[0] = false;
    Table { header: header.map(String::from).to_vec(), right, rows }
}

/// What each fault did, and the latency and the consumer lag during it.
fn faults_table(faults: &[FaultRecord]) -> Table {
    let header = ["fault", "what", "window", "max latency", "p99 latency", "peak lag"].map(String::from).to_vec();
    let lat = |v: Option<f64>| v.map_or("n/a".to_string(), latency_us);
    let rows = faults
        .iter()
        .map(|f| {
            vec![
                format!("`{}`", f.id),
                f.describe(),
                format!("{} to {} ({})", secs(f.start_secs), secs(f.end_secs), secs(f.duration_secs())),
                lat(RecoveryFigure::LatencyMax.of(&f.recovery)),
                lat(RecoveryFigure::LatencyP99.of(&f.recovery)),
                RecoveryFigure::LagMax.of(&f.recovery).map_or("n/a".to_string(), count),
            ]
        })
        .collect();
    Table { header, right: vec![false, false, false, true, true, true], rows }
}

/// Each fault's unavailability per partition, with the longest and the mean; `None` when no
/// fault has per-partition figures (none was measured, or the report predates them).
fn partition_table(report: &Report) -> Option<Table> {
    let faults = &report.faults;
    if faults.iter().all(|f| f.recovery.unavailable_by_partition.is_empty()) {
        return None;
    }
    // Every partition of the topic, also one no fault has a figure for, when the report
    // knows the topic; else the partitions any fault has.
    let topic = report.scenario.pointer("/producers/0/topic").and_then(|t| t.as_str());
    let known = report.environment.cluster.topics.iter().find(|t| Some(t.name.as_str()) == topic).map(|t| t.partitions);
    let mut partitions: Vec<String> = (0..known.unwrap_or(0)).map(|p| p.to_string()).collect();
    for f in faults {
        for (p, _) in f.recovery.partitions() {
            if !partitions.iter().any(|q| q == p) {
                partitions.push(p.to_string());
            }
        }
    }
    partitions.sort_by_key(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.clone()));
    let mut header = vec!["fault".to_string(), "longest".to_string(), "mean".to_string()];
    header.extend(partitions.iter().map(|p| format!("partition {p}")));
    let na = |v: Option<f64>| v.map_or("n/a".to_string(), secs);
    let rows = faults
        .iter()
        .map(|f| {
            let by = &f.recovery.unavailable_by_partition;
            let mut row = vec![
                format!("`{}`", f.id),
                na(RecoveryFigure::UnavailableMax.of(&f.recovery)),
                na(RecoveryFigure::UnavailableMean.of(&f.recovery)),
            ];
            row.extend(partitions.iter().map(|p| na(by.get(p).copied().filter(|v| v.is_finite()))));
            row
        })
        .collect();
    let mut right = vec![true; header.len()];
    right[0] = false;
    Some(Table { header, right, rows })
}

/// The clients' settings: a table of producers and one of consumers, with what shapes
/// latency and batching; the rest is in report.json.
fn clients(report: &Report, doc: &mut Vec<Block>) {
    let c = &report.clients;
    if c.is_empty() {
        doc.push(Block::Para(format!(
            "The clients' settings are not in this report (schema version {}: they are recorded from version 2 on).",
            report.schema_version
        )));
        return;
    }
    doc.push(Block::Para(
        "librdkafka settings in force, as each client reported them (librdkafka's defaults included); every setting is in report.json under `clients`.".into(),
    ));
    let table = |role: &str, list: &[ClientSettings], columns: &[SummaryColumn]| {
        let mut header = vec![role.to_string()];
        header.extend(columns.iter().map(|(_, h, _)| h.to_string()));
        let rows = list
            .iter()
            .map(|s| {
                let mut row = vec![format!("`{}`", s.name)];
                row.extend(columns.iter().map(|(k, _, _)| s.display(k)));
                row
            })
            .collect();
        let mut right = vec![false];
        right.extend(columns.iter().map(|(_, _, number)| *number));
        Table { header, right, rows }
    };
    if !c.producers.is_empty() {
        doc.push(Block::Table(table("producer", &c.producers, &PRODUCER_SUMMARY)));
    }
    if !c.consumers.is_empty() {
        doc.push(Block::Table(table("consumer", &c.consumers, &CONSUMER_SUMMARY)));
    }
}

/// The recovery times of each fault.
fn recovery_table(faults: &[FaultRecord]) -> Table {
    let figures = RecoveryFigure::times_for(faults);
    let mut header = vec!["fault".to_string()];
    header.extend(figures.iter().map(|f| f.label().to_string()));
    let rows = faults
        .iter()
        .map(|f| {
            let mut row = vec![format!("`{}`", f.id)];
            row.extend(figures.iter().map(|g| g.of(&f.recovery).map_or("n/a".to_string(), secs)));
            row
        })
        .collect();
    let mut right = vec![true; header.len()];
    right[0] = false;
    Table { header, right, rows }
}

fn verification_table(r: &Report) -> Table {
    let v = &r.verification;
    let cells = [
        ("sent", v.sent),
        ("acked", v.acked),
        ("failed", v.failed),
        ("unresolved", v.unresolved),
        ("consumed", v.consumed),
        ("lost", v.lost),
        ("duplicates", v.duplicates),
        ("reordered", v.reordered),
        ("unexpected", v.unexpected),
        ("unacked consumed", v.unacked_consumed),
    ];
    Table {
        header: cells.iter().map(|(h, _)| h.to_string()).collect(),
        right: vec![true; cells.len()],
        rows: vec![cells.iter().map(|(_, n)| count(*n as f64)).collect()],
    }
}

fn verification_line(r: &Report) -> String {
    let v = &r.verification;
    let mut s = if v.lost == 0 {
        "No acknowledged message was lost.".to_string()
    } else {
        format!(
            "**{} acknowledged message{} lost** ({} of the acknowledged).",
            v.lost,
            if v.lost == 1 { " was" } else { "s were" },
            percent(v.lost as f64 / v.acked.max(1) as f64)
        )
    };
    if v.duplicates > 0 {
        let _ = write!(s, " {} duplicate deliver{}.", v.duplicates, if v.duplicates == 1 { "y" } else { "ies" });
    }
    s
}

fn errors_table(r: &Report) -> Table {
    let rows = r
        .phases
        .iter()
        .flat_map(|p| p.errors.iter().map(move |(k, n)| vec![p.name.clone(), format!("`{k}`"), n.to_string()]))
        .collect();
    Table {
        header: vec!["phase".into(), "error".into(), "failed deliveries".into()],
        right: vec![false, false, true],
        rows,
    }
}

/// The blocks as Markdown.
pub fn markdown(doc: &[Block]) -> String {
    let mut out = String::new();
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(usize::from(*level)));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "{text}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {i}");
                }
                out.push('\n');
            }
            Block::Image { title, path } => {
                let _ = writeln!(out, "![{title}]({path})\n");
            }
            Block::Table(t) => {
                let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
                let _ = writeln!(out, "| {} |", t.header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
                let _ = writeln!(
                    out,
                    "|{}|",
                    t.right.iter().map(|r| if *r { "---:" } else { "---" }).collect::<Vec<_>>().join("|")
                );
                for row in &t.rows {
                    let _ = writeln!(out, "| {} |", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
                }
                out.push('\n');
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
