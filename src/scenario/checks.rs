//! `checks`: pass/fail thresholds on a run's results, in the manner of k6's thresholds. Each
//! check names a metric, optionally a phase or a fault, and a `min` and/or `max` bound:
//!
//! ```json
//! "checks": [
//!   {"metric": "e2e.p99", "phase": "steady", "max": "50ms"},
//!   {"metric": "lost", "max": 0},
//!   {"metric": "throughput.min", "phase": "steady", "min": "9.5k"},
//!   {"metric": "recovery.unavailable.max", "fault": "kill-leader", "max": "15s", "abort_on_fail": false}
//! ]
//! ```
//!
//! This module holds the model ([`Check`], [`Metric`], [`Scope`]) and the validation of the
//! raw entries; [`crate::gate`] evaluates checks against a report. The metric list and the
//! semantics are documented in `docs/ci.md`.

use std::fmt;

use serde_json::Value;

use super::file::{RawCheck, closest};
use super::position::JsonPath;
use super::problem::Problem;
use crate::vocab::latency::LatencyKind;
use crate::vocab::metric::RecoveryFigure;
pub use crate::vocab::metric::{Stat, VerificationCount};
use crate::vocab::units::Rate;
use crate::vocab::units::{parse_duration, parse_rate};

/// One check of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    pub scope: Scope,
    /// Lowest passing value, in the metric's [`Unit`].
    pub min: Option<f64>,
    /// Highest passing value, in the metric's [`Unit`].
    pub max: Option<f64>,
    /// Stop the run as soon as this check has certainly failed (see [`crate::gate::LiveGate`]).
    pub abort_on_fail: bool,
}

/// What a check is about: the measured phases together, one phase, or one fault.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Run metrics (`lost`, ...) or the measured phases together; for `recovery.*`, every fault.
    Run,
    Phase(String),
    /// The fault's name in the scenario: covers every firing of it.
    Fault(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Run => f.write_str("run"),
            Scope::Phase(p) => write!(f, "phase {p}"),
            Scope::Fault(x) => write!(f, "fault {x}"),
        }
    }
}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// `produce.p99`, `e2e.max`, `send_gap.mean`, ...: a latency statistic.
    Latency(LatencyKind, Stat),
    /// `throughput.min`: the lowest acknowledged count of any whole second.
    ThroughputMin,
    /// `throughput.mean`: acknowledged messages per second over the phase.
    ThroughputMean,
    /// `errors`: failed deliveries.
    Errors,
    /// `error_rate`: failed deliveries / messages sent.
    ErrorRate,
    /// `lag.max`: the highest consumer lag reported.
    LagMax,
    /// `lost`, `duplicates`, ...: the verification of every numbered message.
    Verification(VerificationCount),
    /// `recovery.<figure>`: a recovery figure of a fault.
    Recovery(RecoveryFigure),
}

/// The unit of a metric's values (and bounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Micros,
    Secs,
    PerSec,
    Count,
    Ratio,
}

/// Which kind of scope a metric takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The measured phases together, or one `phase`.
    Phase,
    /// Every fault, or one `fault`.
    Fault,
    /// Neither: the whole run.
    Run,
}

impl Metric {
    /// Every metric, in a stable order (for messages and docs).
    pub fn all() -> Vec<Metric> {
        let mut v = Vec::new();
        for of in LatencyKind::CHECK_ORDER {
            for s in Stat::ALL {
                v.push(Metric::Latency(of, s));
            }
        }
        v.extend([Metric::ThroughputMin, Metric::ThroughputMean, Metric::Errors, Metric::ErrorRate, Metric::LagMax]);
        v.extend(VerificationCount::ALL.map(Metric::Verification));
        v.extend(RecoveryFigure::ALL.map(Metric::Recovery));
        v
    }

    /// The metric named `name`, e.g. `e2e.p99`.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::all().into_iter().find(|m| m.name() == name)
    }

    /// The name checks use.
    pub fn name(self) -> String {
        match self {
            Metric::Latency(of, s) => format!("{}.{}", of.name(), s.key()),
            Metric::ThroughputMin => "throughput.min".into(),
            Metric::ThroughputMean => "throughput.mean".into(),
            Metric::Errors => "errors".into(),
            Metric::ErrorRate => "error_rate".into(),
            Metric::LagMax => "lag.max".into(),
            Metric::Verification(v) => v.key().into(),
            Metric::Recovery(f) => format!("recovery.{}", f.key()),
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency(..) => Unit::Micros,
            Metric::ThroughputMin | Metric::ThroughputMean => Unit::PerSec,
            Metric::Errors | Metric::LagMax | Metric::Verification(_) => Unit::Count,
            Metric::ErrorRate => Unit::Ratio,
            Metric::Recovery(f) if f.is_latency() => Unit::Micros,
            Metric::Recovery(f) if f.is_count() => Unit::Count,
            Metric::Recovery(_) => Unit::Secs,
        }
    }

    pub fn scope_kind(self) -> ScopeKind {
        match self {
            Metric::Verification(_) => ScopeKind::Run,
            Metric::Recovery(_) => ScopeKind::Fault,
            _ => ScopeKind::Phase,
        }
    }

    /// True when a higher value is worse (latencies, errors, recovery times); false for throughput.
    pub fn higher_is_worse(self) -> bool {
        !matches!(self, Metric::ThroughputMin | Metric::ThroughputMean)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Unit {
    /// A value of this unit for people: `12.3 ms`, `4.5 s`, `9500 msg/s`, `3`, `0.25%`.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Micros => crate::vocab::format::latency_us(v),
            Unit::Secs => crate::vocab::format::secs(v),
            Unit::PerSec => crate::vocab::format::rate(v),
            Unit::Count => crate::vocab::format::count(v),
            Unit::Ratio => crate::vocab::format::percent(v),
        }
    }

    /// How a bound of this unit is written, for messages.
    fn example(self) -> &'static str {
        match self {
            Unit::Micros => "a duration like \"50ms\" or \"1.5s\"",
            Unit::Secs => "a duration like \"15s\" or \"500ms\"",
            Unit::PerSec => "a rate like 9500 or \"9.5k\" (messages per second)",
            Unit::Count => "a whole number like 0",
            Unit::Ratio => "a share like \"1%\" or 0.01",
        }
    }
}

impl Check {
    /// The bound as people read it: `max 50 ms`, `min 9500 msg/s`, `5 ms to 50 ms`.
    pub fn bound_text(&self) -> String {
        let u = self.metric.unit();
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("{} to {}", u.format(lo), u.format(hi)),
            (Some(lo), None) => format!("min {}", u.format(lo)),
            (None, Some(hi)) => format!("max {}", u.format(hi)),
            (None, None) => "no bound".into(),
        }
    }

    /// Whether `v` passes the bounds.
    pub fn passes(&self, v: f64) -> bool {
        self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

impl fmt::Display for Check {
    /// `e2e.p99 [phase steady] max 50 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Scope::Run => write!(f, "{} {}", self.metric, self.bound_text()),
            s => write!(f, "{} [{s}] {}", self.metric, self.bound_text()),
        }
    }
}

/// What checks may refer to.
pub(crate) struct CheckContext<'a> {
    /// The scenario's phase names.
    pub phases: &'a [&'a str],
    /// The scenario's fault names.
    pub faults: &'a [&'a str],
}

/// Validates one check entry at `at`, recording every problem.
pub(crate) fn validate(
    raw: &RawCheck,
    at: &JsonPath,
    cx: &CheckContext<'_>,
    broken: &[JsonPath],
    problems: &mut Vec<Problem>,
) -> Option<Check> {
    let metric = metric_of(raw.metric.as_deref(), at, broken, problems);
    let is_broken = |p: &JsonPath| broken.iter().any(|b| p.starts_with(b));
    let mut err = |path: JsonPath, message: String| problems.push(Problem::new(path, message));
    let metric = metric?;

    let scope = match (metric.scope_kind(), &raw.phase, &raw.fault) {
        (_, Some(_), Some(_)) => {
            err(at.key("fault"), "give either `phase` or `fault`, not both".into());
            None
        }
        (ScopeKind::Run, Some(_), None) | (ScopeKind::Run, None, Some(_)) => {
            let field = if raw.phase.is_some() { "phase" } else { "fault" };
            err(at.key(field), format!("`{metric}` counts the whole run's messages; it takes no `{field}`"));
            None
        }
        (ScopeKind::Phase, None, Some(_)) => {
            err(
                at.key("fault"),
                format!(
                    "`{metric}` is a phase metric; for a fault use a recovery metric such as `recovery.latency.p99` or `recovery.unavailable.max`"
                ),
            );
            None
        }
        (ScopeKind::Fault, Some(_), None) => {
            err(
                at.key("phase"),
                format!(
                    "`{metric}` is a fault metric: name the fault with `fault`, or leave it out to check every fault"
                ),
            );
            None
        }
        (ScopeKind::Phase, Some(p), None) => {
            if cx.phases.contains(&p.as_str()) {
                Some(Scope::Phase(p.clone()))
            } else {
                let names: Vec<String> = cx.phases.iter().map(|s| s.to_string()).collect();
                let hint = closest(p, &names).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                err(
                    at.key("phase"),
                    format!("unknown phase `{p}`; the scenario's phases are: {}{hint}", cx.phases.join(", ")),
                );
                None
            }
        }
        (ScopeKind::Fault, None, Some(x)) => {
            if cx.faults.contains(&x.as_str()) {
                Some(Scope::Fault(x.clone()))
            } else if cx.faults.is_empty() {
                err(at.key("fault"), format!("unknown fault `{x}`: the scenario has no faults"));
                None
            } else {
                let names: Vec<String> = cx.faults.iter().map(|s| s.to_string()).collect();
                let hint = closest(x, &names).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                err(
                    at.key("fault"),
                    format!("unknown fault `{x}`; the scenario's faults are: {}{hint}", cx.faults.join(", ")),
                );
                None
            }
        }
        (_, None, None) => Some(Scope::Run),
    };

    let unit = metric.unit();
    let mut bound = |field: &str, v: &Option<Value>| -> Result<Option<f64>, ()> {
        match v {
            None => Ok(None),
            Some(v) => parse_bound(v, unit).map(Some).map_err(|m| err(at.key(field), m)),
        }
    };
    let min = bound("min", &raw.min);
    let max = bound("max", &raw.max);
    let (Ok(min), Ok(max)) = (min, max) else {
        return None;
    };
    if min.is_none() && max.is_none() {
        if !is_broken(&at.key("min")) && !is_broken(&at.key("max")) {
            err(at.clone(), format!("a check needs a bound: `max` or `min` (or both), as {}", unit.example()));
        }
        return None;
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        err(at.key("min"), format!("min {} is above max {}", unit.format(lo), unit.format(hi)));
        return None;
    }
    let abort_on_fail = raw.abort_on_fail.unwrap_or(false);
    if abort_on_fail && let Some(why) = cannot_stop_early(metric) {
        err(at.key("abort_on_fail"), why);
        return None;
    }
    Some(Check { metric, scope: scope?, min, max, abort_on_fail })
}

/// Why a check on `metric` cannot stop a run early (`abort_on_fail`), if it cannot: it is
/// only known once the run has ended.
fn cannot_stop_early(metric: Metric) -> Option<String> {
    if metric.scope_kind() == ScopeKind::Run {
        return Some(format!(
            "`{metric}` is only known after the run has drained and been verified, so it cannot stop the run early"
        ));
    }
    let Metric::Recovery(figure) = metric else { return None };
    if figure.known_during_the_run() {
        return None;
    }
    let live: Vec<String> = RecoveryFigure::ALL
        .into_iter()
        .filter(|f| f.known_during_the_run())
        .map(|f| format!("`{}`", Metric::Recovery(f)))
        .collect();
    Some(format!(
        "`{metric}` is computed from the producers' acks when the run ends, so it cannot stop the run early; the recovery checks that can are {}",
        live.join(", ")
    ))
}

/// The check's metric, by name, with a suggestion for a misspelt one.
fn metric_of(name: Option<&str>, at: &JsonPath, broken: &[JsonPath], problems: &mut Vec<Problem>) -> Option<Metric> {
    let is_broken = |p: &JsonPath| broken.iter().any(|b| p.starts_with(b));
    let mut err = |path: JsonPath, message: String| problems.push(Problem::new(path, message));
    match name {
        None => {
            if !is_broken(&at.key("metric")) {
                err(at.key("metric"), "required field missing: the metric to check, like \"e2e.p99\", \"lost\" or \"recovery.unavailable.max\"".into());
            }
            None
        }
        Some(name) => match Metric::parse(name) {
            Some(m) => Some(m),
            None => {
                let names: Vec<String> = Metric::all().into_iter().map(Metric::name).collect();
                // report.json names some figures otherwise than checks do (`peak_lag`).
                let field = name.strip_prefix("recovery.").and_then(RecoveryFigure::from_report_field);
                let hint = match field.map(|f| Metric::Recovery(f).name()).as_deref().or(closest(name, &names)) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => "; see docs/ci.md for the list (latency: produce|e2e|send_gap . p50|p90|p99|p999|max|mean; throughput.min, throughput.mean, errors, error_rate, lag.max; lost, duplicates, reordered, unexpected, unresolved; recovery.*)".into(),
                };
                err(at.key("metric"), format!("unknown metric `{name}`{hint}"));
                None
            }
        },
    }
}

/// Parses a bound in `unit`: durations for times and latencies, rates for throughput, whole
/// numbers for counts, shares for ratios.
fn parse_bound(v: &Value, unit: Unit) -> Result<f64, String> {
    let wrong = || format!("{} is not a bound for this metric: expected {}", short(v), unit.example());
    match (unit, v) {
        (Unit::Micros | Unit::Secs, Value::String(s)) => {
            let d = parse_duration(s)?;
            Ok(if unit == Unit::Micros { d.as_secs_f64() * 1e6 } else { d.as_secs_f64() })
        }
        (Unit::Micros | Unit::Secs, Value::Number(n)) => Err(format!(
            "{n} has no unit: write {}",
            if unit == Unit::Micros { format!("\"{n}ms\" or \"{n}us\"") } else { format!("\"{n}s\"") }
        )),
        (Unit::PerSec, Value::String(s)) => match parse_rate(s)? {
            Rate::PerSec(r) => Ok(r),
            Rate::Max => Err("\"max\" is not a bound: give a rate like \"9.5k\"".into()),
        },
        (Unit::PerSec, Value::Number(n)) => match n.as_f64() {
            Some(r) if r.is_finite() && r >= 0.0 => Ok(r),
            _ => Err(wrong()),
        },
        (Unit::Count, Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(c), _) => Ok(c as f64),
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 => Ok(f),
            _ => Err(format!("{n} is not a count: expected a whole number, 0 or more")),
        },
        (Unit::Ratio, Value::String(s)) => match s.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(x) if (0.0..=100.0).contains(&x) => Ok(x / 100.0),
                _ => Err(format!("`{s}` is not a percentage from 0% to 100%")),
            },
            None => Err(format!("`{s}` is not a share: write a percentage like \"1%\" or a fraction from 0 to 1")),
        },
        (Unit::Ratio, Value::Number(n)) => match n.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
            _ => Err(format!("{n} is not a share: expected a fraction from 0 to 1, or a percentage like \"1%\"")),
        },
        _ => Err(wrong()),
    }
}

/// A JSON value, shortened for a message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 { format!("{}...", s.chars().take(40).collect::<String>()) } else { s }
}

/// Reads and validates the `checks` of a scenario document (as report.json embeds it),
/// without the rest of the scenario: so that a report can be gated long after its run.
///
/// # Errors
/// Every problem, each as `PATH: MESSAGE` (no line and column: the document is a value).
pub fn from_scenario_value(doc: &Value) -> Result<Vec<Check>, Vec<String>> {
    let Some(list) = doc.get("checks") else { return Ok(Vec::new()) };
    let names = |key: &str| -> Vec<String> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let (phases, faults) = (names("phases"), names("faults"));
    let phases: Vec<&str> = phases.iter().map(String::as_str).collect();
    let faults: Vec<&str> = faults.iter().map(String::as_str).collect();
    let cx = CheckContext { phases: &phases, faults: &faults };
    let at = JsonPath::root().key("checks");
    let mut problems = Vec::new();
    let Some(items) = list.as_array() else {
        return Err(vec![format!("{at}: expected an array of checks")]);
    };
    let mut checks = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let before = problems.len();
        let raw: Option<RawCheck> = super::file::read(item, &at.index(i), &mut problems);
        // A misspelt field stands for the one it was meant to be: that one is not missing.
        let broken: Vec<JsonPath> =
            problems[before..].iter().flat_map(|p| std::iter::once(p.path.clone()).chain(p.meant.clone())).collect();
        if let Some(raw) = raw
            && let Some(c) = validate(&raw, &at.index(i), &cx, &broken, &mut problems)
        {
            checks.push(c);
        }
    }
    if problems.is_empty() {
        Ok(checks)
    } else {
        Err(problems.into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Result<Check, Vec<String>> {
        let doc = json!({
            "phases": [{"name": "warmup"}, {"name": "steady"}],
            "faults": [{"name": "kill-leader"}],
            "checks": [v]
        });
        from_scenario_value(&doc).map(|mut c| c.remove(0))
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::all() {
            assert_eq!(Metric::parse(&m.name()), Some(m), "{m}");
        }
        assert_eq!(Metric::parse("e2e.p99"), Some(Metric::Latency(LatencyKind::E2e, Stat::P99)));
        assert_eq!(Metric::parse("recovery.unavailable.max"), Some(Metric::Recovery(RecoveryFigure::UnavailableMax)));
        assert_eq!(Metric::parse("e2e.p98"), None);
    }

    #[test]
    fn the_examples_of_the_docs_validate() {
        let c = one(json!({"metric": "e2e.p99", "phase": "steady", "max": "50ms"})).unwrap();
        assert_eq!(c.max, Some(50_000.0));
        assert_eq!(c.scope, Scope::Phase("steady".into()));
        assert_eq!(c.to_string(), "e2e.p99 [phase steady] max 50.0 ms");
        let c = one(json!({"metric": "lost", "max": 0})).unwrap();
        assert_eq!((c.scope, c.max), (Scope::Run, Some(0.0)));
        let c = one(json!({"metric": "throughput.min", "phase": "steady", "min": "9.5k"})).unwrap();
        assert_eq!(c.min, Some(9500.0));
        let c = one(
            json!({"metric": "recovery.unavailable.max", "fault": "kill-leader", "max": "15s", "abort_on_fail": false}),
        )
        .unwrap();
        assert_eq!((c.max, c.abort_on_fail), (Some(15.0), false));
        let c = one(json!({"metric": "error_rate", "max": "1%"})).unwrap();
        assert_eq!(c.max, Some(0.01));
        let c = one(json!({"metric": "recovery.latency.p99", "max": "2s", "min": "1ms"})).unwrap();
        assert_eq!((c.scope, c.min, c.max), (Scope::Run, Some(1000.0), Some(2_000_000.0)));
    }

    #[test]
    fn rebalance_lag_and_partition_metrics_validate_like_the_others() {
        let c = one(json!({"metric": "recovery.rebalance", "fault": "kill-leader", "max": "10s"})).unwrap();
        assert_eq!(c.metric, Metric::Recovery(RecoveryFigure::Rebalance));
        assert_eq!((c.scope.clone(), c.max), (Scope::Fault("kill-leader".into()), Some(10.0)));
        assert_eq!(c.to_string(), "recovery.rebalance [fault kill-leader] max 10.0 s");
        let c = one(json!({"metric": "recovery.lag.max", "max": 5000})).unwrap();
        assert_eq!((c.metric.unit(), c.max), (Unit::Count, Some(5000.0)));
        assert_eq!(c.to_string(), "recovery.lag.max max 5000");
        let c = one(json!({"metric": "recovery.unavailable.mean", "max": "2s"})).unwrap();
        assert_eq!((c.metric.unit(), c.max), (Unit::Secs, Some(2.0)));

        let e = |v| one(v).unwrap_err();
        assert_eq!(
            e(json!({"metric": "recovery.lag.max", "max": "5k"})),
            ["checks[0].max: \"5k\" is not a bound for this metric: expected a whole number like 0"]
        );
        assert_eq!(
            e(json!({"metric": "recovery.rebalance", "max": 10})),
            ["checks[0].max: 10 has no unit: write \"10s\""]
        );
        assert_eq!(
            e(json!({"metric": "recovery.rebalance", "phase": "steady", "max": "1s"})),
            [
                "checks[0].phase: `recovery.rebalance` is a fault metric: name the fault with `fault`, or leave it out to check every fault"
            ]
        );
        // All three are computed when the run ends, from the acks, the time series and the
        // group's rebalances: too late to stop it.
        for metric in ["recovery.rebalance", "recovery.lag.max", "recovery.unavailable.mean"] {
            let bound = if metric == "recovery.lag.max" { json!(10) } else { json!("1s") };
            let errs = e(json!({"metric": metric, "max": bound, "abort_on_fail": true}));
            assert!(errs[0].contains("cannot stop the run early"), "{errs:?}");
        }
        assert_eq!(
            e(json!({"metric": "recovery.peak_lag", "max": 10})),
            ["checks[0].metric: unknown metric `recovery.peak_lag`; did you mean `recovery.lag.max`?"]
        );
        assert_eq!(
            e(json!({"metric": "recovery.rebalanse", "max": "1s"})),
            ["checks[0].metric: unknown metric `recovery.rebalanse`; did you mean `recovery.rebalance`?"]
        );
    }

    /// The scenario schema offers exactly the metrics the reader accepts, so an editor's
    /// completion never suggests a name `validate` refuses, nor misses a new one.
    #[test]
    fn the_scenario_schema_lists_every_metric() {
        let schema: Value = serde_json::from_str(include_str!("../../schemas/scenario.schema.json")).unwrap();
        let mut listed: Vec<&str> = schema["$defs"]["check"]["properties"]["metric"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        listed.sort_unstable();
        let mut known: Vec<String> = Metric::all().into_iter().map(Metric::name).collect();
        known.sort_unstable();
        assert_eq!(listed, known);
    }

    #[test]
    fn problems_name_the_field() {
        let e = |v| one(v).unwrap_err();
        assert_eq!(
            e(json!({"metric": "e2e.99", "max": "5ms"})),
            ["checks[0].metric: unknown metric `e2e.99`; did you mean `e2e.p99`?"]
        );
        assert_eq!(
            e(json!({"metric": "e2e.p99", "phase": "stedy", "max": "5ms"})),
            [
                "checks[0].phase: unknown phase `stedy`; the scenario's phases are: warmup, steady; did you mean `steady`?"
            ]
        );
        assert_eq!(
            e(json!({"metric": "e2e.p99", "max": 50})),
            ["checks[0].max: 50 has no unit: write \"50ms\" or \"50us\""]
        );
        assert_eq!(
            e(json!({"metric": "lost", "max": "none"})),
            ["checks[0].max: \"none\" is not a bound for this metric: expected a whole number like 0"]
        );
        assert_eq!(
            e(json!({"metric": "lost", "phase": "steady", "max": 0})),
            ["checks[0].phase: `lost` counts the whole run's messages; it takes no `phase`"]
        );
        assert_eq!(
            e(json!({"metric": "lost", "max": 0, "abort_on_fail": true})),
            [
                "checks[0].abort_on_fail: `lost` is only known after the run has drained and been verified, so it cannot stop the run early"
            ]
        );
        assert_eq!(
            e(json!({"metric": "recovery.unavailable.max", "max": "5s", "abort_on_fail": true})),
            [
                "checks[0].abort_on_fail: `recovery.unavailable.max` is computed from the producers' acks when the run ends, so it cannot stop the run early; the recovery checks that can are `recovery.isr_recovered`, `recovery.node_registered`, `recovery.new_controller`, `recovery.pod_ready`"
            ]
        );
        assert!(one(json!({"metric": "recovery.isr_recovered", "max": "5s", "abort_on_fail": true})).is_ok());
        assert_eq!(
            e(json!({"metric": "e2e.p99"})),
            ["checks[0]: a check needs a bound: `max` or `min` (or both), as a duration like \"50ms\" or \"1.5s\""]
        );
        assert_eq!(
            e(json!({"metric": "e2e.p99", "min": "5s", "max": "1s"})),
            ["checks[0].min: min 5.00 s is above max 1.00 s"]
        );
        assert_eq!(
            e(json!({"metric": "recovery.first_error", "fault": "kill-leadr", "max": "1s"})),
            [
                "checks[0].fault: unknown fault `kill-leadr`; the scenario's faults are: kill-leader; did you mean `kill-leader`?"
            ]
        );
        assert_eq!(
            e(json!({"metric": "error_rate", "max": "150%"})),
            ["checks[0].max: `150%` is not a percentage from 0% to 100%"]
        );
        assert_eq!(
            e(json!({"metric": "throughput.min", "min": "max"})),
            ["checks[0].min: \"max\" is not a bound: give a rate like \"9.5k\""]
        );
        assert_eq!(
            e(json!({"metrc": "lost", "max": 0})),
            ["checks[0].metrc: unknown field `metrc`; did you mean `metric`?"]
        );
    }

    #[test]
    fn scenario_files_report_checks_with_line_and_column() {
        let text = r#"{
  "name": "mini",
  "cluster": {"local": {}},
  "topics": [{"name": "t", "partitions": 3}],
  "producers": [{"name": "p", "topic": "t", "rate": 100}],
  "phases": [{"name": "steady", "duration": "20s"}],
  "checks": [
    {"metric": "e2e.p99", "phase": "steady", "max": "50ms"},
    {"metric": "e2e.p99", "phase": "stedy", "max": 50},
    {"metric": "lost", "max": 0, "abort_on_fail": true},
    "lost"
  ]
}"#;
        let errors: Vec<String> =
            crate::scenario::parse_str(text, "f.json").unwrap_err().iter().map(|d| d.to_string()).collect();
        assert_eq!(
            errors,
            [
                "f.json:9:36: checks[1].phase: unknown phase `stedy`; the scenario's phases are: steady; did you mean `steady`?",
                "f.json:9:52: checks[1].max: 50 has no unit: write \"50ms\" or \"50us\"",
                "f.json:10:51: checks[2].abort_on_fail: `lost` is only known after the run has drained and been verified, so it cannot stop the run early",
                "f.json:11:5: checks[3]: invalid type: string \"lost\", expected a check object, like {\"metric\": \"e2e.p99\", \"phase\": \"steady\", \"max\": \"50ms\"}",
            ]
        );
        let ok = text.replace(
            r#"    {"metric": "e2e.p99", "phase": "stedy", "max": 50},
    {"metric": "lost", "max": 0, "abort_on_fail": true},
    "lost"
"#,
            r#"    {"metric": "lost", "max": 0}
"#,
        );
        let s = crate::scenario::parse_str(&ok, "f.json").unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(s.checks.len(), 2);
        assert_eq!(s.checks[1].metric, Metric::Verification(VerificationCount::Lost));
    }
}
