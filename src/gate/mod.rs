//! The gate: a scenario's [`checks`](crate::scenario::checks) evaluated against a report, the
//! live evaluation that lets a check with `abort_on_fail` stop a run early ([`live`]), and the
//! comparison of a run with a baseline ([`compare`]).
//!
//! [`evaluate`] is pure: a report in, one [`CheckResult`] per check and scope out. It reads
//! only the [`Report`], so `aftershock report` can re-gate a run long after it ended, from the
//! checks embedded in the report's own copy of the scenario ([`checks_of`]).
//!
//! # Semantics
//! - A check passes when its value lies within its bounds (`min <= value <= max`, inclusive).
//! - A phase metric without `phase` reads the measured phases together (`totals`); with one,
//!   that phase's statistics.
//! - `throughput.min` is the lowest acknowledged count of any *whole* second inside the phase:
//!   the seconds where the load starts and stops are partial, so they are left out.
//! - A recovery metric without `fault` is checked for every fault of the run (one result
//!   each); with `fault`, for every firing of that fault.
//! - A value that cannot be read (a phase that never ran, no latency samples, a recovery
//!   figure the run could not measure, no faults at all) gives [`Status::NoData`], which
//!   fails the gate like a violated bound: a gate never passes on missing evidence.

pub mod compare;
pub mod live;

use std::fmt::Write as _;

use crate::measure::LatencySummary;
use crate::report::{FaultRecord, PhaseLatency, PhaseStats, RecoveryFigure, Report};
use crate::scenario::checks::{Check, Metric, Scope, ScopeKind, Stat};

pub use live::{LiveGate, SETTLE_SECS};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// The value could not be read; fails the gate.
    NoData,
}

impl Status {
    /// `pass`, `FAIL`, `NO DATA`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NoData => "NO DATA",
        }
    }
}

/// One check evaluated for one scope (a recovery check gives one result per fault firing).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub check: Check,
    /// Where the value was read: `measured phases`, `phase steady`, `fault kill-leader#2`, `run`.
    pub scope: String,
    pub value: Option<f64>,
    pub status: Status,
    /// Why there is no value, or what the value is based on.
    pub note: Option<String>,
}

impl CheckResult {
    /// The value with its unit, or `-`.
    pub fn value_text(&self) -> String {
        self.value.map_or_else(|| "-".to_string(), |v| self.check.metric.unit().format(v))
    }

    /// A one-line explanation, e.g. `e2e.p99 in phase steady was 62.1 ms, above the max 50.0 ms`.
    pub fn explain(&self) -> String {
        let scope = match self.scope.as_str() {
            s @ ("run" | "measured phases") => format!("the {s}"),
            s => s.to_string(),
        };
        let what = format!("{} in {scope}", self.check.metric);
        let unit = self.check.metric.unit();
        match (self.status, self.value) {
            (Status::NoData, _) | (_, None) => {
                format!("{what}: no data ({})", self.note.as_deref().unwrap_or("no value"))
            }
            (Status::Pass, Some(v)) => format!("{what} was {}, within {}", unit.format(v), self.check.bound_text()),
            (Status::Fail, Some(v)) => {
                let side = match (self.check.min, self.check.max) {
                    (_, Some(hi)) if v > hi => format!("above the max {}", unit.format(hi)),
                    (Some(lo), _) if v < lo => format!("below the min {}", unit.format(lo)),
                    _ => format!("outside {}", self.check.bound_text()),
                };
                format!("{what} was {}, {side}", unit.format(v))
            }
        }
    }
}

/// A metric's value and how many samples it rests on (latency values, whole seconds, sent
/// messages): comparisons use the count to tell a signal from noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub samples: u64,
}

/// The checks of the scenario embedded in `report` (its `checks` list).
///
/// # Errors
/// Every problem of the embedded checks, as `PATH: MESSAGE` lines.
pub fn checks_of(report: &Report) -> Result<Vec<Check>, Vec<String>> {
    crate::scenario::checks::from_scenario_value(&report.scenario)
}

/// Evaluates every check against `report`: one result per check and scope, in check order.
pub fn evaluate(checks: &[Check], report: &Report) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for c in checks {
        for (scope, m) in measure(report, c.metric, &c.scope) {
            let (value, status, note) = match m {
                Ok(m) => (Some(m.value), if c.passes(m.value) { Status::Pass } else { Status::Fail }, None),
                Err(why) => (None, Status::NoData, Some(why)),
            };
            out.push(CheckResult { check: c.clone(), scope, value, status, note });
        }
    }
    out
}

/// True when every result passed (and so the gate passes); true for no checks at all.
pub fn all_passed(results: &[CheckResult]) -> bool {
    results.iter().all(|r| r.status == Status::Pass)
}

/// Reads `metric` for `scope` from the report: one entry per place it applies to (several for
/// a recovery metric over several faults), each a value or the reason there is none.
pub fn measure(report: &Report, metric: Metric, scope: &Scope) -> Vec<(String, Result<Measured, String>)> {
    match (metric.scope_kind(), scope) {
        (ScopeKind::Fault, _) => {
            let Metric::Recovery(figure) = metric else { return Vec::new() };
            let faults: Vec<&FaultRecord> = match scope {
                Scope::Fault(name) => report.faults.iter().filter(|f| &f.name == name || &f.id == name).collect(),
                _ => report.faults.iter().collect(),
            };
            if faults.is_empty() {
                let (label, why) = match scope {
                    Scope::Fault(name) => (format!("fault {name}"), format!("fault `{name}` did not fire in this run")),
                    _ => ("faults".to_string(), "no faults in this run".to_string()),
                };
                return vec![(label, Err(why))];
            }
            faults
                .into_iter()
                .map(|f| {
                    let v = figure.of(&f.recovery).map(|value| Measured { value, samples: 1 }).ok_or_else(|| {
                        // The notes say why the longest is missing, not why the mean is when
                        // the report has no per-partition figures at all (an older report).
                        let no_partitions =
                            f.recovery.unavailable_by_partition.is_empty() && f.recovery.unavailable_max_secs.is_some();
                        if figure == RecoveryFigure::UnavailableMean && no_partitions {
                            "no per-partition unavailability in this report".to_string()
                        } else if f.recovery.notes.is_empty() {
                            "not measured in this run".to_string()
                        } else {
                            f.recovery.notes.join("; ")
                        }
                    });
                    (format!("fault {}", f.id), v)
                })
                .collect()
        }
        (ScopeKind::Run, _) => {
            let Metric::Verification(v) = metric else { return Vec::new() };
            let ver = &report.verification;
            use crate::scenario::checks::VerificationCount as V;
            let n = match v {
                V::Lost => ver.lost,
                V::Duplicates => ver.duplicates,
                V::Reordered => ver.reordered,
                V::Unexpected => ver.unexpected,
                V::Unresolved => ver.unresolved,
            };
            vec![("run".to_string(), Ok(Measured { value: n as f64, samples: ver.sent }))]
        }
        (ScopeKind::Phase, Scope::Phase(name)) => {
            let label = format!("phase {name}");
            let r = match report.phase(name) {
                None => Err(format!("phase `{name}` is not in this report")),
                Some(p) if p.duration_secs <= 0.0 => Err(format!("phase `{name}` never ran (the run ended before it)")),
                Some(p) => phase_metric(report, metric, std::slice::from_ref(p), PhaseData::of(p)),
            };
            vec![(label, r)]
        }
        (ScopeKind::Phase, _) => {
            let measured: Vec<PhaseStats> =
                report.phases.iter().filter(|p| p.measured && p.duration_secs > 0.0).cloned().collect();
            let r = if measured.is_empty() {
                Err("no measured phase ran".to_string())
            } else {
                let t = &report.totals;
                let data = PhaseData {
                    sent: t.sent,
                    failed: t.failed,
                    ack_rate: t.ack_rate,
                    secs: t.measured_secs,
                    max_lag: t.max_lag,
                    latency: t.latency,
                };
                phase_metric(report, metric, &measured, data)
            };
            vec![("measured phases".to_string(), r)]
        }
    }
}

/// The figures of one phase, or of the measured phases together.
struct PhaseData {
    sent: u64,
    failed: u64,
    ack_rate: f64,
    secs: f64,
    max_lag: Option<u64>,
    latency: PhaseLatency,
}

impl PhaseData {
    fn of(p: &PhaseStats) -> PhaseData {
        PhaseData {
            sent: p.sent,
            failed: p.failed,
            ack_rate: p.ack_rate,
            secs: p.duration_secs,
            max_lag: p.max_lag,
            latency: p.latency,
        }
    }
}

/// A statistic of a latency summary, in microseconds.
pub fn stat_of(s: &LatencySummary, stat: Stat) -> f64 {
    match stat {
        Stat::P50 => s.p50_us as f64,
        Stat::P90 => s.p90_us as f64,
        Stat::P99 => s.p99_us as f64,
        Stat::P999 => s.p999_us as f64,
        Stat::Max => s.max_us as f64,
        Stat::Mean => s.mean_us,
    }
}

fn phase_metric(report: &Report, metric: Metric, phases: &[PhaseStats], d: PhaseData) -> Result<Measured, String> {
    match metric {
        Metric::Latency(of, stat) => {
            let s = d.latency.get(of);
            if s.count == 0 {
                return Err(format!("no {} latency was recorded", of.name()));
            }
            Ok(Measured { value: stat_of(s, stat), samples: s.count })
        }
        Metric::ThroughputMean => {
            if d.secs <= 0.0 {
                return Err("the phase did not run".into());
            }
            Ok(Measured { value: d.ack_rate, samples: whole_seconds(report, phases).len() as u64 })
        }
        Metric::ThroughputMin => {
            let secs = whole_seconds(report, phases);
            match secs.iter().map(|i| i.acked).min() {
                Some(min) => Ok(Measured { value: min as f64, samples: secs.len() as u64 }),
                None => Err("no whole second inside the phase".into()),
            }
        }
        Metric::Errors => Ok(Measured { value: d.failed as f64, samples: d.sent }),
        Metric::ErrorRate => {
            if d.sent == 0 {
                return Err("no message was sent".into());
            }
            Ok(Measured { value: d.failed as f64 / d.sent as f64, samples: d.sent })
        }
        Metric::LagMax => match d.max_lag {
            Some(l) => Ok(Measured {
                value: l as f64,
                samples: whole_seconds(report, phases).iter().filter(|i| i.lag.is_some()).count() as u64,
            }),
            None => Err("no consumer reported its lag".into()),
        },
        Metric::Verification(_) | Metric::Recovery(_) => Err("not a phase metric".into()),
    }
}

/// The seconds of the time series that lie wholly inside one of `phases`.
pub fn whole_seconds<'a>(report: &'a Report, phases: &[PhaseStats]) -> Vec<&'a crate::report::Interval> {
    // Phase bounds are rounded to milliseconds in the report.
    const EPS: f64 = 0.0005;
    report
        .timeseries
        .iter()
        .filter(|i| {
            let (s, e) = (i.sec as f64, i.sec as f64 + 1.0);
            phases.iter().any(|p| s + EPS >= p.start_secs && e <= p.start_secs + p.duration_secs + EPS)
        })
        .collect()
}

/// The results as a plain-text table for a terminal, with a one-line verdict first.
pub fn text_table(results: &[CheckResult]) -> String {
    let mut out = String::new();
    if results.is_empty() {
        out.push_str("checks: none in this scenario\n");
        return out;
    }
    let _ = writeln!(out, "checks: {}", verdict_line(results));
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            [r.status.label().to_string(), r.check.metric.name(), r.scope.clone(), r.check.bound_text(), {
                let mut v = r.value_text();
                if let Some(n) = &r.note {
                    v.push_str(&format!("  ({n})"));
                }
                v
            }]
        })
        .collect();
    let header = ["RESULT", "METRIC", "SCOPE", "BOUND", "VALUE"];
    let mut w = header.map(|h| h.chars().count());
    for row in &rows {
        for (i, c) in row.iter().enumerate().take(4) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            if i < 4 {
                l.push_str(&format!(" {c}{}", " ".repeat(w[i] - c.chars().count())));
                l.push(' ');
            } else {
                l.push_str(&format!(" {c}"));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header));
    for row in &rows {
        let _ = writeln!(out, "{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

/// `3 passed, 1 failed, 1 without data`.
pub fn verdict_line(results: &[CheckResult]) -> String {
    let count = |s| results.iter().filter(|r| r.status == s).count();
    let mut parts = vec![format!("{} passed", count(Status::Pass))];
    if count(Status::Fail) > 0 {
        parts.push(format!("{} failed", count(Status::Fail)));
    }
    if count(Status::NoData) > 0 {
        parts.push(format!("{} without data", count(Status::NoData)));
    }
    parts.join(", ")
}

/// The results as a Markdown table (for summaries and pull-request comments).
pub fn markdown_table(results: &[CheckResult]) -> String {
    let mut out = String::new();
    if results.is_empty() {
        out.push_str("No checks in this scenario.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "**{}**: {}\n",
        if all_passed(results) { "All checks passed" } else { "Checks failed" },
        verdict_line(results)
    );
    out.push_str("| result | metric | scope | bound | value |\n|---|---|---|---|---:|\n");
    for r in results {
        let icon = match r.status {
            Status::Pass => "✅ pass",
            Status::Fail => "❌ fail",
            Status::NoData => "⚠️ no data",
        };
        let mut value = r.value_text();
        if let Some(n) = &r.note {
            value.push_str(&format!(" ({})", md_escape(n)));
        }
        let _ = writeln!(
            out,
            "| {icon} | `{}` | {} | {} | {} |",
            r.check.metric,
            md_escape(&r.scope),
            r.check.bound_text(),
            value
        );
    }
    out
}

/// Escapes what would break a Markdown table cell.
pub fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::Recovery;

    /// The render tests' two-fault run, with recovery figures of this test's own.
    fn report(kill: Recovery, pause: Recovery) -> Report {
        let mut r = Report::from_json(include_str!("../../tests/fixtures/reports/two-faults-report.json")).unwrap();
        r.faults[0].recovery = kill;
        r.faults[1].recovery = pause;
        r
    }

    fn checks(list: serde_json::Value) -> Vec<Check> {
        let doc = json!({"faults": [{"name": "kill-leader"}, {"name": "pause-follower"}], "checks": list});
        crate::scenario::checks::from_scenario_value(&doc).unwrap()
    }

    #[test]
    fn recovery_checks_read_the_rebalance_the_peak_lag_and_the_partitions() {
        let kill = Recovery {
            unavailable_max_secs: Some(3.0),
            unavailable_by_partition: [("0", 3.0), ("1", 0.5), ("2", 0.25)].map(|(p, s)| (p.into(), s)).into(),
            rebalance_secs: Some(4.25),
            peak_lag: Some(12_000),
            ..Recovery::default()
        };
        // A report from before the per-partition figures: the longest, but no mean.
        let pause = Recovery {
            unavailable_max_secs: Some(0.5),
            notes: vec!["no consumer group rebalance followed the fault".into()],
            ..Recovery::default()
        };
        let r = report(kill, pause);
        let results = evaluate(
            &checks(json!([
                {"metric": "recovery.rebalance", "max": "3s"},
                {"metric": "recovery.lag.max", "fault": "kill-leader", "max": 20000},
                {"metric": "recovery.unavailable.mean", "max": "1s"}
            ])),
            &r,
        );
        let got: Vec<(&str, Option<f64>, Status)> =
            results.iter().map(|x| (x.scope.as_str(), x.value, x.status)).collect();
        assert_eq!(
            got,
            [
                ("fault kill-leader", Some(4.25), Status::Fail),
                ("fault pause-follower", None, Status::NoData),
                ("fault kill-leader", Some(12_000.0), Status::Pass),
                ("fault kill-leader", Some(1.25), Status::Fail),
                ("fault pause-follower", None, Status::NoData),
            ]
        );
        assert_eq!(results[0].explain(), "recovery.rebalance in fault kill-leader was 4.25 s, above the max 3.00 s");
        assert_eq!(
            results[1].explain(),
            "recovery.rebalance in fault pause-follower: no data (no consumer group rebalance followed the fault)"
        );
        assert_eq!(results[2].explain(), "recovery.lag.max in fault kill-leader was 12000, within max 20000");
        assert_eq!(
            results[4].explain(),
            "recovery.unavailable.mean in fault pause-follower: no data (no per-partition unavailability in this report)"
        );
    }
}
