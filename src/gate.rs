//! The gate: a scenario's [`checks`](crate::scenario::checks) evaluated against a report, and
//! the live evaluation that lets a check with `abort_on_fail` stop a run early.
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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::measure::{IntervalSnapshot, LatencyHistogram, LatencySummary, WorkerKind};
use crate::report::{FaultRecord, PhaseLatency, PhaseStats, Report};
use crate::scenario::checks::{Check, Metric, Scope, ScopeKind, Stat};
use crate::vocab::latency::LatencyKind;

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
                        if f.recovery.notes.is_empty() {
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

/// Seconds a second's data may still be arriving after it ended (workers flush when their
/// second rolls over and idle ones tick every few hundred milliseconds).
pub const SETTLE_SECS: f64 = 2.0;

/// A phase as the live gate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePhase {
    pub name: String,
    /// Seconds since the run start.
    pub start_secs: f64,
    pub end_secs: f64,
    pub measured: bool,
}

impl LivePhase {
    /// The aggregator's rule: a second belongs to the phase holding its midpoint.
    fn covers(&self, sec: u64) -> bool {
        let mid = sec as f64 + 0.5;
        self.start_secs <= mid && mid < self.end_secs
    }

    fn holds_whole(&self, sec: u64) -> bool {
        sec as f64 + 0.0005 >= self.start_secs && sec as f64 + 1.0 <= self.end_secs + 0.0005
    }
}

#[derive(Debug, Default, Clone)]
struct LiveSecond {
    sent: u64,
    acked: u64,
    failed: u64,
    lag: Option<u64>,
}

/// Evaluates the `abort_on_fail` checks while a run goes, from the same per-worker snapshots
/// the aggregator receives, so that a run can stop as soon as one has **certainly** failed:
///
/// - a bound that data can only cross one way is decided as soon as it is crossed: a `max`
///   on `*.max`, `errors` or `lag.max` (they only grow), a `min` on `throughput.min` (it only
///   shrinks, over whole seconds older than [`SETTLE_SECS`]);
/// - every other phase check (percentiles, means, rates) is decided when its phase has ended
///   and settled, on that phase's complete data;
/// - recovery checks are decided when [`observe_fault`](Self::observe_fault) gets the
///   fault's record, on the figures it has (a missing figure never aborts);
/// - nothing aborts once the last phase has ended: the end-of-run gate decides then.
///
/// The runner feeds it with [`observe`](Self::observe) and asks [`poll`](Self::poll) about
/// once a second; `poll` returns why to stop, once.
#[derive(Debug)]
pub struct LiveGate {
    checks: Vec<Check>,
    decided: Vec<bool>,
    phases: Vec<LivePhase>,
    seconds: BTreeMap<u64, LiveSecond>,
    /// Per phase, one histogram per latency kind (in [`LatencyKind::ALL`] order).
    latency: Vec<[LatencyHistogram; 3]>,
    faults: Vec<FaultRecord>,
    load_end: f64,
    fired: bool,
}

impl LiveGate {
    /// A live gate for the `abort_on_fail` checks among `checks`; `None` when there are none.
    pub fn new(checks: &[Check], phases: Vec<LivePhase>) -> Option<LiveGate> {
        let checks: Vec<Check> = checks.iter().filter(|c| c.abort_on_fail).cloned().collect();
        if checks.is_empty() {
            return None;
        }
        let load_end = phases.iter().map(|p| p.end_secs).fold(0.0, f64::max);
        Some(LiveGate {
            decided: vec![false; checks.len()],
            latency: phases.iter().map(|_| Default::default()).collect(),
            checks,
            phases,
            seconds: BTreeMap::new(),
            faults: Vec::new(),
            load_end,
            fired: false,
        })
    }

    /// Takes in one worker's snapshot (call it with every snapshot the aggregator gets).
    pub fn observe(&mut self, s: &IntervalSnapshot) {
        let sec = self.seconds.entry(s.sec).or_default();
        sec.sent += s.counters.sent;
        sec.acked += s.counters.acked;
        sec.failed += s.counters.failed_total();
        if let Some(l) = s.lag {
            sec.lag = Some(sec.lag.map_or(l, |x| x.max(l)));
        }
        if let Some(i) = self.phases.iter().position(|p| p.covers(s.sec)) {
            for kind in LatencyKind::ALL {
                // E2e latency is recorded by consumers, the other two by producers.
                let from_right_worker = (kind == LatencyKind::E2e) == (s.worker.kind == WorkerKind::Consumer);
                if let (true, Some(h)) = (from_right_worker, s.histogram(kind)) {
                    self.latency[i][kind.index()].merge(h);
                }
            }
        }
    }

    /// Takes in a fault's record once its recovery figures are known.
    pub fn observe_fault(&mut self, f: &FaultRecord) {
        self.faults.push(f.clone());
    }

    /// The reason to stop the run, the first time an `abort_on_fail` check has certainly
    /// failed; `now_secs` is the time since the run start.
    pub fn poll(&mut self, now_secs: f64) -> Option<String> {
        if self.fired || now_secs >= self.load_end {
            return None;
        }
        for i in 0..self.checks.len() {
            if self.decided[i] {
                continue;
            }
            let c = self.checks[i].clone();
            let (done, value) = self.live_value(&c, now_secs);
            if done {
                self.decided[i] = true;
            }
            if let Some((v, scope)) = value
                && !c.passes(v)
            {
                self.decided[i] = true;
                self.fired = true;
                let r = CheckResult { check: c, scope, value: Some(v), status: Status::Fail, note: None };
                return Some(format!("check failed (abort_on_fail): {}", r.explain()));
            }
        }
        None
    }

    /// Whether the check is decided now, and a value it may be judged on now (one that can
    /// only move further past the bound, or the final one).
    fn live_value(&self, c: &Check, now: f64) -> (bool, Option<(f64, String)>) {
        if let Metric::Recovery(figure) = c.metric {
            // Decided per fault as records arrive; never "done" while faults may still fire.
            let worst = self
                .faults
                .iter()
                .filter(|f| match &c.scope {
                    Scope::Fault(n) => &f.name == n || &f.id == n,
                    _ => true,
                })
                .filter_map(|f| figure.of(&f.recovery).map(|v| (v, format!("fault {}", f.id))))
                .find(|(v, _)| !c.passes(*v));
            return (false, worst);
        }
        let (idx, label): (Vec<usize>, String) = match &c.scope {
            Scope::Phase(p) => {
                (self.phases.iter().position(|x| &x.name == p).into_iter().collect(), format!("phase {p}"))
            }
            _ => ((0..self.phases.len()).filter(|i| self.phases[*i].measured).collect(), "measured phases".to_string()),
        };
        if idx.is_empty() {
            return (true, None);
        }
        let end = idx.iter().map(|i| self.phases[*i].end_secs).fold(0.0, f64::max);
        let done = now >= end + SETTLE_SECS;
        let settled = |sec: u64| (sec as f64) + 1.0 + SETTLE_SECS <= now;
        let in_scope = |sec: u64| idx.iter().any(|i| self.phases[*i].covers(sec));
        let value = match c.metric {
            Metric::Latency(of, stat) => {
                let mut h = LatencyHistogram::new();
                for i in &idx {
                    h.merge(&self.latency[*i][of.index()]);
                }
                let monotonic = stat == Stat::Max && c.max.is_some();
                (!h.is_empty() && (done || monotonic)).then(|| stat_of(&h.summary(), stat))
            }
            Metric::Errors => {
                let n: u64 = self.seconds.iter().filter(|(s, _)| in_scope(**s)).map(|(_, x)| x.failed).sum();
                (done || c.max.is_some_and(|hi| n as f64 > hi)).then_some(n as f64)
            }
            Metric::LagMax => {
                let l = self.seconds.iter().filter(|(s, _)| in_scope(**s)).filter_map(|(_, x)| x.lag).max();
                l.filter(|l| done || c.max.is_some_and(|hi| *l as f64 > hi)).map(|l| l as f64)
            }
            Metric::ThroughputMin => {
                let min = self
                    .seconds
                    .iter()
                    .filter(|(s, _)| idx.iter().any(|i| self.phases[*i].holds_whole(**s)) && settled(**s))
                    .map(|(_, x)| x.acked)
                    .min();
                min.filter(|m| done || c.min.is_some_and(|lo| (*m as f64) < lo)).map(|m| m as f64)
            }
            Metric::ThroughputMean | Metric::ErrorRate if done => {
                let secs: Vec<&LiveSecond> =
                    self.seconds.iter().filter(|(s, _)| in_scope(**s)).map(|(_, x)| x).collect();
                let (sent, acked, failed) =
                    secs.iter().fold((0u64, 0u64, 0u64), |(s, a, f), x| (s + x.sent, a + x.acked, f + x.failed));
                let dur: f64 = idx.iter().map(|i| self.phases[*i].end_secs - self.phases[*i].start_secs).sum();
                match c.metric {
                    Metric::ThroughputMean if dur > 0.0 => Some(acked as f64 / dur),
                    Metric::ErrorRate if sent > 0 => Some(failed as f64 / sent as f64),
                    _ => None,
                }
            }
            _ => None,
        };
        (done, value.map(|v| (v, label)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{Counters, WorkerId};
    use serde_json::json;

    fn check(v: serde_json::Value) -> Check {
        let doc =
            json!({"phases": [{"name": "warmup"}, {"name": "steady"}], "faults": [{"name": "kill"}], "checks": [v]});
        crate::scenario::checks::from_scenario_value(&doc).unwrap().remove(0)
    }

    fn phases() -> Vec<LivePhase> {
        vec![
            LivePhase { name: "warmup".into(), start_secs: 0.4, end_secs: 2.4, measured: false },
            LivePhase { name: "steady".into(), start_secs: 2.4, end_secs: 12.4, measured: true },
        ]
    }

    fn snapshot(sec: u64, acked: u64, failed: u64, produce_us: u64) -> IntervalSnapshot {
        let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), sec);
        let mut f = BTreeMap::new();
        if failed > 0 {
            f.insert("MsgTimedOut".to_string(), failed);
        }
        s.counters = Counters { sent: acked + failed, acked, consumed: 0, failed: f };
        for _ in 0..acked {
            s.histogram_mut(LatencyKind::Produce).record_us(produce_us);
        }
        s
    }

    #[test]
    fn no_abort_checks_means_no_live_gate() {
        assert!(LiveGate::new(&[check(json!({"metric": "e2e.p99", "max": "5ms"}))], phases()).is_none());
    }

    #[test]
    fn monotonic_bounds_abort_as_soon_as_they_are_crossed() {
        let c = check(json!({"metric": "produce.max", "phase": "steady", "max": "50ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(3, 100, 0, 10_000));
        assert_eq!(g.poll(4.0), None);
        g.observe(&snapshot(4, 100, 0, 80_000));
        let why = g.poll(5.0).expect("the max only grows: abort now");
        assert!(why.contains("produce.max in phase steady was 80.1 ms, above the max 50.0 ms"), "{why}");
        assert_eq!(g.poll(6.0), None, "fires once");
    }

    #[test]
    fn throughput_min_uses_settled_whole_seconds() {
        let c = check(json!({"metric": "throughput.min", "phase": "steady", "min": 90, "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        // Second 2 is partly warm-up (the phase starts at 2.4): never judged.
        g.observe(&snapshot(2, 10, 0, 1000));
        g.observe(&snapshot(3, 100, 0, 1000));
        // Second 4 is still filling at 5.5: not judged yet.
        g.observe(&snapshot(4, 40, 0, 1000));
        assert_eq!(g.poll(5.5), None);
        let why = g.poll(7.0).expect("second 4 has settled");
        assert!(why.contains("throughput.min in phase steady was 40.0 msg/s, below the min 90.0 msg/s"), "{why}");
    }

    #[test]
    fn percentiles_wait_for_the_end_of_their_phase() {
        let c = check(json!({"metric": "produce.p99", "phase": "warmup", "max": "5ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(0, 100, 0, 20_000));
        g.observe(&snapshot(1, 100, 0, 20_000));
        assert_eq!(g.poll(2.0), None, "the phase has not ended");
        assert!(g.poll(4.5).unwrap().contains("produce.p99 in phase warmup"));
        // Nothing aborts after the load: the end-of-run gate decides.
        let c = check(json!({"metric": "produce.p99", "phase": "steady", "max": "5ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(5, 100, 0, 20_000));
        assert_eq!(g.poll(12.5), None);
    }

    #[test]
    fn errors_and_recovery() {
        let c = check(json!({"metric": "errors", "max": 5, "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(1, 100, 50, 1000)); // warm-up: not measured
        assert_eq!(g.poll(3.0), None);
        g.observe(&snapshot(3, 100, 6, 1000));
        assert!(g.poll(4.0).unwrap().contains("errors in the measured phases was 6, above the max 5"));

        let c =
            check(json!({"metric": "recovery.unavailable.max", "fault": "kill", "max": "10s", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        let mut f = FaultRecord {
            id: "kill".into(),
            name: "kill".into(),
            action: "kill".into(),
            target: Default::default(),
            start_secs: 3.0,
            end_secs: 8.0,
            recovery: Default::default(),
        };
        g.observe_fault(&f);
        assert_eq!(g.poll(9.0), None, "a missing figure never aborts");
        f.recovery.unavailable_max_secs = Some(12.0);
        g.observe_fault(&f);
        assert!(g.poll(9.5).unwrap().contains("recovery.unavailable.max in fault kill was 12.0 s"));
    }
}
