//! The capacity report: `capacity.json` (schema `schemas/capacity.schema.json`), written
//! atomically, and what is rendered from it alone: `summary.md` with the step table, the
//! `capacity.svg`/`.png` plot of p99 against the target rate, and JUnit XML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::search::{Limit, Stage};
use crate::measure::LatencySummary;
use crate::report::{Environment, RunStatus, Units};
use crate::vocab::format::{latency_us, percent, rate, secs};

/// Version of the capacity report format.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;
/// File name of the report in the run dir.
pub const CAPACITY_FILE: &str = "capacity.json";
/// File name of the Markdown summary.
pub const SUMMARY_FILE: &str = "summary.md";

/// The whole capacity.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityReport {
    pub schema_version: u32,
    /// Always `capacity`, so that tools can tell it from a run's report.json.
    pub kind: String,
    pub aftershock_version: String,
    pub status: RunStatus,
    pub abort_reason: Option<String>,
    pub run_id: String,
    pub scenario_name: String,
    pub started_at: String,
    pub ended_at: String,
    pub duration_secs: f64,
    pub scenario: serde_json::Value,
    pub environment: Environment,
    pub units: Units,
    pub search: SearchSettings,
    pub criteria: Criteria,
    /// The node taken down for the whole search, if any.
    pub node_down: Option<NodeDownRecord>,
    pub result: SearchResult,
    /// Every step, in the order run.
    pub steps: Vec<StepRecord>,
}

/// How the search stepped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    pub start_rate: f64,
    /// `multiply` or `add`.
    pub step_kind: String,
    /// The factor, or the messages per second added.
    pub step_value: f64,
    pub warmup_secs: f64,
    /// Extra warm-up of the first step.
    pub initial_warmup_secs: f64,
    pub duration_secs: f64,
    pub settle_secs: f64,
    pub max_rate: Option<f64>,
    pub max_steps: u32,
    pub refine: u32,
}

/// What a step had to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    pub produce_p99_us: Option<u64>,
    pub e2e_p99_us: Option<u64>,
    pub min_achieved: f64,
    pub max_error_rate: f64,
    /// Allowed consumer backlog growth over a step, in seconds of traffic; `None` when not judged.
    pub max_lag_growth_secs: Option<f64>,
}

/// The node that was down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDownRecord {
    pub node: i32,
    /// How it went down (`SIGKILL`).
    pub how: String,
    /// Seconds from the kill until its partitions had new leaders and it was out of every ISR.
    pub failover_secs: Option<f64>,
    /// Whether it was running and registered again at the end.
    pub restored: bool,
    /// Why restoring failed, if it did.
    pub restore_error: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResult {
    /// Whether some rate passed.
    pub found: bool,
    /// The highest target rate that passed.
    pub sustained_rate: Option<f64>,
    /// The lowest target rate that failed.
    pub first_failed_rate: Option<f64>,
    pub limit: Limit,
    /// One sentence for people.
    pub summary: String,
    /// `capacity.require` of the scenario.
    pub required_rate: Option<f64>,
    pub meets_requirement: Option<bool>,
}

/// Whether a step passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Interrupted before it could be judged.
    Aborted,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// From 1.
    pub index: u32,
    pub stage: Stage,
    pub target_rate: f64,
    /// Start of the step (its warm-up), in seconds since the search started.
    pub start_secs: f64,
    /// Messages handed to the client per second in the measured window.
    pub sent_rate: f64,
    /// Acknowledged messages per second in the measured window.
    pub achieved_rate: f64,
    /// `achieved_rate / target_rate`.
    pub achieved_share: f64,
    /// Messages received per second by every consumer together; `None` without consumers.
    pub consumed_rate: Option<f64>,
    /// Produce (ack) latency from the intended send time, over the measured window.
    pub produce: LatencySummary,
    /// End-to-end latency over the measured window.
    pub e2e: LatencySummary,
    /// p99 of how far behind its schedule the generator sent.
    pub send_gap_p99_us: u64,
    pub acked: u64,
    /// Failed deliveries from the window to the end of the settle time.
    pub failed: u64,
    /// Messages still unacknowledged when the settle time ran out (dropped with the step's
    /// producers; not counted as failed).
    pub abandoned: u64,
    pub error_rate: f64,
    /// Failed deliveries by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Consumer backlog (the worst group) at the start and the end of the window.
    pub lag_start: Option<u64>,
    pub lag_end: Option<u64>,
    pub lag_growth: Option<i64>,
    /// Time after the window until deliveries were done and consumers had caught up.
    pub settle_secs: f64,
    /// False when the settle time ran out first (the next step may start loaded).
    pub settled: bool,
    pub verdict: Verdict,
    /// Why it failed; empty when it passed.
    pub reasons: Vec<String>,
    /// The step second by second (warm-up, window, settle), as OMB prints its periodic stats:
    /// where in the window a tail came from. Absent from files written before it was added.
    #[serde(default)]
    pub seconds: Vec<StepSecond>,
}

/// One second of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSecond {
    /// Seconds since the search started.
    pub at_secs: u64,
    /// `warmup`, `measure` or `settle`.
    pub phase: String,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Produce latency of the messages acknowledged in this second.
    pub produce_p99_us: u64,
    pub produce_max_us: u64,
}

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot serialize the capacity report: {0}")]
    Serialize(#[source] serde_json::Error),
    #[error(transparent)]
    Write(#[from] crate::Error),
    #[error(transparent)]
    Plot(#[from] crate::render::plots::PlotError),
}

impl CapacityReport {
    /// Writes capacity.json into `dir` through a temporary file (never a torn report).
    ///
    /// # Errors
    /// When the dir or file cannot be written.
    pub fn write_atomic(&self, dir: &Path) -> Result<PathBuf, WriteError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| crate::Error::DirNotWritable { dir: dir.to_path_buf(), source })?;
        let path = dir.join(CAPACITY_FILE);
        let mut text = serde_json::to_string_pretty(self).map_err(WriteError::Serialize)?;
        text.push('\n');
        crate::vocab::fs::write_atomic(&path, text.as_bytes())
            .map_err(crate::Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Reads a capacity.json.
    ///
    /// # Errors
    /// A message naming the file when it cannot be read or is not a capacity report.
    pub fn load(path: &Path) -> Result<CapacityReport, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a capacity report: {e}", path.display()))
    }

    /// What the cluster was: `3 nodes` or `3 nodes with node 2 down`.
    pub fn conditions(&self) -> String {
        // The broker list is read before any node goes down.
        let n = self.environment.cluster.brokers.len();
        match &self.node_down {
            Some(d) if n > 0 => format!("{n} nodes with node {} down", d.node),
            Some(d) => format!("the cluster with node {} down", d.node),
            None if n > 0 => format!("{n} nodes"),
            None => "the cluster".to_string(),
        }
    }

    /// The step table (Markdown), also printed on the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| # | stage | target | achieved | produce p50 | p99 | p99.9 | e2e p99 | errors | lag start → end | verdict |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for s in &self.steps {
            let lat = |l: &LatencySummary, v: u64| if l.count > 0 { latency_us(v as f64) } else { "–".into() };
            let lag = match (s.lag_start, s.lag_end) {
                (Some(a), Some(b)) => format!("{a} → {b}"),
                _ => "–".into(),
            };
            let verdict = match s.verdict {
                Verdict::Pass => "pass".to_string(),
                Verdict::Fail => format!("**fail**: {}", s.reasons.join("; ")),
                Verdict::Aborted => "aborted".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} ({}){} | {lag} | {verdict} |",
                s.index,
                match s.stage {
                    Stage::Ramp => "ramp",
                    Stage::Refine => "refine",
                },
                rate(s.target_rate),
                rate(s.achieved_rate),
                percent(s.achieved_share),
                lat(&s.produce, s.produce.p50_us),
                lat(&s.produce, s.produce.p99_us),
                lat(&s.produce, s.produce.p999_us),
                lat(&s.e2e, s.e2e.p99_us),
                s.failed,
                percent(s.error_rate),
                if s.abandoned > 0 { format!(", {} abandoned", s.abandoned) } else { String::new() },
            );
        }
        out
    }

    /// summary.md.
    pub fn summary_md(&self, plot: Option<&str>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Capacity search {} on {}\n", self.scenario_name, self.conditions());
        if self.status == RunStatus::Aborted {
            let _ = writeln!(
                out,
                "> **Aborted**: {}. The figures below cover the steps that ran.\n",
                self.abort_reason.as_deref().unwrap_or("stopped early")
            );
        }
        let _ = writeln!(out, "**{}**\n", self.result.summary);
        if let (Some(req), Some(ok)) = (self.result.required_rate, self.result.meets_requirement) {
            let _ = writeln!(out, "Required capacity {}: **{}**.\n", rate(req), if ok { "met" } else { "not met" });
        }
        let c = &self.criteria;
        let mut crit = Vec::new();
        if let Some(b) = c.produce_p99_us {
            crit.push(format!("produce p99 ≤ {} (from the intended send time)", latency_us(b as f64)));
        }
        if let Some(b) = c.e2e_p99_us {
            crit.push(format!("end-to-end p99 ≤ {}", latency_us(b as f64)));
        }
        crit.push(format!("acknowledged rate ≥ {} of the target", percent(c.min_achieved)));
        crit.push(format!("failed deliveries ≤ {}", percent(c.max_error_rate)));
        if let Some(g) = c.max_lag_growth_secs {
            crit.push(format!("consumer backlog grows by at most {} of traffic over a step", secs(g)));
        }
        let _ = writeln!(out, "A rate counts as sustained when, over a step's measured window: {}.\n", crit.join("; "));
        let s = &self.search;
        let _ = writeln!(
            out,
            "Steps: {} warm-up (not measured; the first step {} more) + {} measured, from {} {} {}, then {} bisection step(s) between the last passing and the first failing rate (at most {} steps{}).\n",
            secs(s.warmup_secs),
            secs(s.initial_warmup_secs),
            secs(s.duration_secs),
            rate(s.start_rate),
            if s.step_kind == "multiply" { "times" } else { "plus" },
            if s.step_kind == "multiply" { format!("{}", s.step_value) } else { rate(s.step_value) },
            s.refine,
            s.max_steps,
            s.max_rate.map(|m| format!(", up to {}", rate(m))).unwrap_or_default()
        );
        if let Some(d) = &self.node_down {
            let _ = writeln!(
                out,
                "Node {} was killed ({}) before the first step and stayed down for the whole search; partitions failed over in {}; {}.\n",
                d.node,
                d.how,
                d.failover_secs.map(secs).unwrap_or_else(|| "unknown time".into()),
                if d.restored {
                    "it was restarted at the end".to_string()
                } else {
                    format!(
                        "restarting it at the end FAILED ({}): run `aftershock heal` on the run dir",
                        d.restore_error.as_deref().unwrap_or("unknown")
                    )
                }
            );
        }
        let _ = writeln!(out, "{}", self.table());
        if let Some(p) = plot {
            let _ = writeln!(out, "![p99 latency by target rate]({p})\n");
        }
        let _ = writeln!(
            out,
            "Run {} on {} ({}, {} CPUs), Kafka {}, aftershock {}; {} to {}.",
            self.run_id,
            self.environment.hostname,
            self.environment.os,
            self.environment.cpus,
            self.environment.kafka_version.as_deref().unwrap_or("unknown"),
            self.aftershock_version,
            self.started_at,
            self.ended_at
        );
        out
    }

    /// The result as JUnit: one case for "a sustainable rate was found", one for the required
    /// capacity when the scenario sets one; the step table goes in the output.
    pub fn junit_suite(&self) -> crate::render::junit::Suite {
        use crate::render::junit::{Case, CaseOutcome, Suite};
        let classname = format!("capacity.{}", self.scenario_name);
        let table = Some(self.table());
        let mut cases = vec![Case {
            classname: classname.clone(),
            name: format!("sustainable rate ({})", self.conditions()),
            outcome: if self.status == RunStatus::Aborted {
                CaseOutcome::Failure {
                    kind: "aborted".into(),
                    message: self.abort_reason.clone().unwrap_or_else(|| "aborted".into()),
                }
            } else if self.result.found {
                CaseOutcome::Pass
            } else {
                CaseOutcome::Failure { kind: "no-sustainable-rate".into(), message: self.result.summary.clone() }
            },
            system_out: table.clone(),
        }];
        if let (Some(req), Some(ok)) = (self.result.required_rate, self.result.meets_requirement) {
            cases.push(Case {
                classname,
                name: format!("capacity >= {}", rate(req)),
                outcome: if ok {
                    CaseOutcome::Pass
                } else {
                    CaseOutcome::Failure { kind: "threshold".into(), message: self.result.summary.clone() }
                },
                system_out: None,
            });
        }
        Suite { name: format!("capacity: {}", self.scenario_name), cases }
    }

    /// Writes capacity.json, the plot and summary.md into `dir`. The JSON comes first: a
    /// failing plot never costs the figures.
    ///
    /// # Errors
    /// When capacity.json cannot be written; plot and summary problems are returned too, after
    /// the report is safe.
    pub fn write_all(&self, dir: &Path) -> Result<PathBuf, WriteError> {
        let path = self.write_atomic(dir)?;
        let points: Vec<crate::render::plots::CapacityPoint> = self
            .steps
            .iter()
            .filter(|s| s.verdict != Verdict::Aborted)
            .map(|s| crate::render::plots::CapacityPoint {
                rate: s.target_rate,
                produce_p99_us: (s.produce.count > 0).then_some(s.produce.p99_us),
                e2e_p99_us: (s.e2e.count > 0).then_some(s.e2e.p99_us),
                passed: s.verdict == Verdict::Pass,
            })
            .collect();
        let plot = if points.is_empty() {
            None
        } else {
            let title = format!("p99 latency by target rate: {}", self.conditions());
            crate::render::plots::capacity(
                &points,
                (self.criteria.produce_p99_us, self.criteria.e2e_p99_us),
                self.result.sustained_rate,
                &title,
                dir,
            )?;
            Some("capacity.svg")
        };
        let md = self.summary_md(plot);
        let summary = dir.join(SUMMARY_FILE);
        crate::vocab::fs::write_atomic(&summary, md.as_bytes())
            .map_err(crate::Error::io(format!("writing {}", summary.display())))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ClusterInfo;

    fn step(index: u32, stage: Stage, target: f64, verdict: Verdict, reasons: &[&str]) -> StepRecord {
        StepRecord {
            index,
            stage,
            target_rate: target,
            start_secs: 2.0 + 20.0 * f64::from(index - 1),
            sent_rate: target,
            achieved_rate: target * 0.99,
            achieved_share: 0.99,
            consumed_rate: Some(target),
            produce: LatencySummary { count: 10, p50_us: 2_000, p99_us: 9_000, p999_us: 12_000, ..Default::default() },
            e2e: LatencySummary::default(),
            send_gap_p99_us: 100,
            acked: (target * 15.0) as u64,
            failed: 0,
            abandoned: 0,
            error_rate: 0.0,
            errors: BTreeMap::new(),
            lag_start: Some(0),
            lag_end: Some(12),
            lag_growth: Some(12),
            settle_secs: 0.4,
            settled: true,
            verdict,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            seconds: vec![StepSecond {
                at_secs: 2 + 20 * u64::from(index - 1),
                phase: "measure".into(),
                sent: target as u64,
                acked: target as u64,
                failed: 0,
                produce_p99_us: 9_000,
                produce_max_us: 12_000,
            }],
        }
    }

    fn report() -> CapacityReport {
        CapacityReport {
            schema_version: CAPACITY_SCHEMA_VERSION,
            kind: "capacity".into(),
            aftershock_version: "0.1.0".into(),
            status: RunStatus::Completed,
            abort_reason: None,
            run_id: "cap-capacity-x".into(),
            scenario_name: "cap".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: "2026-01-01T00:02:00.000Z".into(),
            duration_secs: 120.0,
            scenario: serde_json::json!({}),
            environment: Environment::detect(ClusterInfo::default(), Some("4.4.0".into())),
            units: Units::default(),
            search: SearchSettings {
                start_rate: 1000.0,
                step_kind: "multiply".into(),
                step_value: 2.0,
                warmup_secs: 5.0,
                initial_warmup_secs: 20.0,
                duration_secs: 15.0,
                settle_secs: 15.0,
                max_rate: None,
                max_steps: 20,
                refine: 1,
            },
            criteria: Criteria {
                produce_p99_us: Some(50_000),
                e2e_p99_us: None,
                min_achieved: 0.95,
                max_error_rate: 0.001,
                max_lag_growth_secs: Some(1.0),
            },
            node_down: Some(NodeDownRecord {
                node: 3,
                how: "SIGKILL".into(),
                failover_secs: Some(9.5),
                restored: true,
                restore_error: None,
            }),
            result: SearchResult {
                found: true,
                sustained_rate: Some(2000.0),
                first_failed_rate: Some(3000.0),
                limit: Limit::Bracketed,
                summary: "Highest sustained rate: 2000 msg/s; 3000 msg/s failed (produce p99 80.0 ms above the bound 50.0 ms).".into(),
                required_rate: Some(5000.0),
                meets_requirement: Some(false),
            },
            steps: vec![
                step(1, Stage::Ramp, 1000.0, Verdict::Pass, &[]),
                step(2, Stage::Ramp, 2000.0, Verdict::Pass, &[]),
                step(3, Stage::Ramp, 4000.0, Verdict::Fail, &["produce p99 200 ms above the bound 50.0 ms"]),
                step(4, Stage::Refine, 3000.0, Verdict::Fail, &["produce p99 80.0 ms above the bound 50.0 ms"]),
            ],
        }
    }

    #[test]
    fn summary_and_junit_say_what_was_found_and_why_steps_failed() {
        let r = report();
        let md = r.summary_md(Some("capacity.svg"));
        assert!(md.starts_with("# Capacity search cap on the cluster with node 3 down\n"), "{md}");
        assert!(md.contains(&format!("**{}**", r.result.summary)), "{md}");
        assert!(md.contains("Required capacity 5000 msg/s: **not met**."), "{md}");
        assert!(md.contains("produce p99 ≤ 50.0 ms (from the intended send time)"), "{md}");
        assert!(md.contains("Node 3 was killed (SIGKILL) before the first step"), "{md}");
        assert!(md.contains("| 4 | refine | 3000 msg/s |"), "{md}");
        assert!(md.contains("**fail**: produce p99 80.0 ms above the bound 50.0 ms"), "{md}");
        assert!(md.contains("| 0 → 12 |"), "{md}");
        assert!(md.contains("![p99 latency by target rate](capacity.svg)"), "{md}");
        let suite = r.junit_suite();
        assert_eq!(suite.cases.len(), 2);
        assert_eq!(suite.cases[0].outcome, crate::render::junit::CaseOutcome::Pass);
        assert!(
            matches!(&suite.cases[1].outcome, crate::render::junit::CaseOutcome::Failure { kind, .. } if kind == "threshold")
        );

        let aborted = CapacityReport {
            status: RunStatus::Aborted,
            abort_reason: Some("interrupted (Ctrl-C or SIGTERM)".into()),
            ..report()
        };
        assert!(aborted.summary_md(None).contains("> **Aborted**: interrupted (Ctrl-C or SIGTERM)."));
        assert!(
            matches!(&aborted.junit_suite().cases[0].outcome, crate::render::junit::CaseOutcome::Failure { kind, .. } if kind == "aborted")
        );
    }

    #[test]
    fn written_reports_read_back_with_their_plot_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let r = report();
        let path = r.write_all(dir.path()).unwrap();
        assert_eq!(CapacityReport::load(&path).unwrap(), r);
        for f in ["capacity.svg", "capacity.png", "summary.md"] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        assert!(CapacityReport::load(&dir.path().join("summary.md")).unwrap_err().contains("not a capacity report"));
    }
}
