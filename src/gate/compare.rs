//! `aftershock compare`: a run against a baseline, phase with phase and fault with fault,
//! from the two report.json files alone.
//!
//! # Rules
//! - **Same scenario.** Runs of different scenarios (another name, or the same name with other
//!   load, phases or faults; `description`, `$schema` and `checks` may differ) are refused
//!   unless forced. Differences of environment (versions, host, CPUs, cluster shape) and of
//!   the clients' librdkafka settings (a default that moved with librdkafka, the cluster's
//!   client settings) are warned about: they often explain a change.
//! - **Gated metrics.** A metric is gated when a tolerance applies to it: the defaults
//!   ([`DEFAULT_TOLERANCES`]) or `--max-regression METRIC=PCT`. A gated metric regresses when
//!   it got worse by more than its tolerance (higher for latencies, errors and recovery
//!   times; lower for throughput) *and* by more than the resolution of what it measures
//!   ([`CompareOptions::min_latency_delta_us`] for latencies, one second for recovery
//!   times, which come from the per-second series). Other metrics are shown, not gated.
//! - **Noise.** A percentile needs enough samples beyond it in *both* runs to be compared:
//!   at least [`MIN_TAIL_SAMPLES`] / (1 - q), so p99 needs 1000 samples and p99.9 10,000. A
//!   max is one sample and is never conclusive. Rates need [`MIN_SECONDS`] whole seconds. A
//!   recovery figure missing from either run is inconclusive. An inconclusive metric is
//!   neither a pass nor a failure (unless `--strict`).

use std::fmt::Write as _;

use serde_json::Value;

use super::{Measured, md_escape, measure};
use crate::report::{ClientSettings, Environment, FaultRecord, RecoveryFigure, Report};
use crate::scenario::checks::{Metric, Scope, Stat, Unit, VerificationCount};
use crate::vocab::format;
use crate::vocab::latency::LatencyKind;

/// Samples a percentile needs beyond it (see the module's rules).
pub const MIN_TAIL_SAMPLES: f64 = 10.0;
/// Whole seconds a rate needs in each run.
pub const MIN_SECONDS: u64 = 5;
/// Samples a mean needs in each run.
pub const MIN_MEAN_SAMPLES: u64 = 20;
/// Resolution of recovery times: the per-second time series they are read from.
pub const RECOVERY_RESOLUTION_SECS: f64 = 1.0;

/// Tolerances in percent that apply unless `--max-regression` says otherwise.
pub const DEFAULT_TOLERANCES: &[(&str, f64)] = &[
    ("produce.p99", 25.0),
    ("e2e.p99", 25.0),
    ("produce.p999", 50.0),
    ("e2e.p999", 50.0),
    ("throughput.mean", 10.0),
    ("lost", 0.0),
    ("recovery.unavailable.max", 50.0),
    ("recovery.p99_recovered", 50.0),
    ("recovery.throughput_recovered", 50.0),
];

/// How to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// Compare runs of different scenarios anyway.
    pub force: bool,
    /// Treat inconclusive gated metrics as failures.
    pub strict: bool,
    /// Latency changes up to this many microseconds are never regressions.
    pub min_latency_delta_us: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { force: false, strict: false, min_latency_delta_us: 1000.0 }
    }
}

/// One `--max-regression [SCOPE:]METRIC=PCT`: `e2e.p99=10`, `steady:e2e.*=15%`, `*=off`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerance {
    /// A phase or fault name; `None` for every scope.
    pub scope: Option<String>,
    /// A metric name, or a prefix ending in `*`.
    pub pattern: String,
    /// Percent; `None` means "not gated" (`off`).
    pub pct: Option<f64>,
}

impl Tolerance {
    /// Parses `[SCOPE:]METRIC=PCT`, where PCT is a percentage (`10`, `10%`) or `off`.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> Result<Tolerance, String> {
        let (lhs, pct) = s.split_once('=').ok_or("expected METRIC=PCT, like e2e.p99=10 or steady:e2e.*=15%")?;
        let (scope, pattern) = match lhs.split_once(':') {
            Some((sc, p)) if !sc.is_empty() => (Some(sc.to_string()), p.to_string()),
            Some(_) => return Err("empty scope before `:`".into()),
            None => (None, lhs.to_string()),
        };
        let known = Metric::all();
        let matches_any = match pattern.strip_suffix('*') {
            Some(prefix) => known.iter().any(|m| m.name().starts_with(prefix)),
            None => known.iter().any(|m| m.name() == pattern),
        };
        if !matches_any {
            return Err(format!("`{pattern}` matches no metric (see docs/ci.md for the list)"));
        }
        let pct = pct.trim();
        let pct = if pct.eq_ignore_ascii_case("off") || pct.eq_ignore_ascii_case("none") {
            None
        } else {
            let v: f64 = pct
                .trim_end_matches('%')
                .trim()
                .parse()
                .map_err(|_| format!("`{pct}` is not a percentage or `off`"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("`{pct}` must be 0 or more"));
            }
            Some(v)
        };
        Ok(Tolerance { scope, pattern, pct })
    }

    /// How well it matches `metric` in `scope` (a phase or fault name): higher is more
    /// specific; `None` when it does not match.
    fn specificity(&self, metric: &str, scope: Option<&str>) -> Option<u8> {
        let scoped = match (&self.scope, scope) {
            (None, _) => 0,
            (Some(a), Some(b)) if a == b => 2,
            _ => return None,
        };
        let exact = match self.pattern.strip_suffix('*') {
            Some(prefix) if metric.starts_with(prefix) => 0,
            None if self.pattern == metric => 1,
            _ => return None,
        };
        Some(scoped + exact)
    }
}

/// The tolerance in percent for `metric` in `scope`, if it is gated.
fn tolerance_for(tols: &[Tolerance], metric: &str, scope: Option<&str>) -> Option<f64> {
    let explicit = tols.iter().filter_map(|t| t.specificity(metric, scope).map(|s| (s, t))).max_by_key(|(s, _)| *s);
    match explicit {
        Some((_, t)) => t.pct,
        None => DEFAULT_TOLERANCES.iter().find(|(m, _)| *m == metric).map(|(_, p)| *p),
    }
}

/// How one metric compared.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within tolerance.
    Ok,
    /// Worse by more than the tolerance.
    Regression,
    /// Better by more than the tolerance.
    Improved,
    /// Too few samples or a missing value; why.
    Inconclusive(String),
    /// Not gated: shown for information.
    Info,
}

/// One compared metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `run`, `measured phases`, `phase steady`, `fault kill-leader`.
    pub scope: String,
    pub metric: Metric,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// Relative change, current against baseline (positive: higher).
    pub change: Option<f64>,
    /// Tolerance in percent when gated.
    pub tolerance: Option<f64>,
    pub verdict: Verdict,
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub baseline_run: String,
    pub current_run: String,
    pub baseline_started: String,
    pub current_started: String,
    pub rows: Vec<Row>,
    /// Environment differences and anything else a reader should know.
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict == Verdict::Regression).count()
    }

    pub fn inconclusive(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Inconclusive(_))).count()
    }

    /// The gated rows (every verdict but [`Verdict::Info`]).
    pub fn gated(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict != Verdict::Info)
    }
}

/// Why two reports cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("the runs are of different scenarios ({0}); compare runs of one scenario, or pass --force")]
    DifferentScenarios(String),
}

/// Compares `current` against `baseline`.
///
/// # Errors
/// [`CompareError::DifferentScenarios`] unless `opts.force`.
pub fn compare(
    baseline: &Report,
    current: &Report,
    tolerances: &[Tolerance],
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    let mut warnings = run_warnings(baseline, current, opts)?;

    let mut rows = Vec::new();
    let mut add = |scope_label: String,
                   scope_name: Option<&str>,
                   metric: Metric,
                   b: Option<Measured>,
                   c: Option<Measured>,
                   note_b: Option<String>,
                   note_c: Option<String>| {
        let tolerance = tolerance_for(tolerances, &metric.name(), scope_name);
        rows.push(row(scope_label, metric, b, c, note_b, note_c, tolerance, opts));
    };
    let get = |r: &Report, m: Metric, s: &Scope| -> (Option<Measured>, Option<String>) {
        match measure(r, m, s).into_iter().next() {
            Some((_, Ok(v))) => (Some(v), None),
            Some((_, Err(why))) => (None, Some(why)),
            None => (None, Some("not measured".into())),
        }
    };

    for v in [VerificationCount::Lost, VerificationCount::Duplicates] {
        let m = Metric::Verification(v);
        let ((b, nb), (c, nc)) = (get(baseline, m, &Scope::Run), get(current, m, &Scope::Run));
        add("run".into(), None, m, b, c, nb, nc);
    }
    let phase_metrics = {
        let mut v = Vec::new();
        for of in [LatencyKind::Produce, LatencyKind::E2e] {
            for s in [Stat::P50, Stat::P99, Stat::P999, Stat::Max] {
                v.push(Metric::Latency(of, s));
            }
        }
        v.extend([Metric::ThroughputMean, Metric::ThroughputMin, Metric::ErrorRate]);
        v
    };
    for m in &phase_metrics {
        let ((b, nb), (c, nc)) = (get(baseline, *m, &Scope::Run), get(current, *m, &Scope::Run));
        add("measured phases".into(), None, *m, b, c, nb, nc);
    }
    let measured =
        |r: &Report| -> Vec<String> { r.phases.iter().filter(|p| p.measured).map(|p| p.name.clone()).collect() };
    let (bp, cp) = (measured(baseline), measured(current));
    for name in bp.iter().filter(|n| cp.contains(n)) {
        let scope = Scope::Phase(name.clone());
        for m in &phase_metrics {
            let ((b, nb), (c, nc)) = (get(baseline, *m, &scope), get(current, *m, &scope));
            add(format!("phase {name}"), Some(name), *m, b, c, nb, nc);
        }
    }
    for (name, only) in bp
        .iter()
        .filter(|n| !cp.contains(n))
        .map(|n| (n, "baseline"))
        .chain(cp.iter().filter(|n| !bp.contains(n)).map(|n| (n, "current")))
    {
        warnings.push(format!("phase `{name}` is only in the {only} run: not compared"));
    }

    let ids = |r: &Report| -> Vec<String> { r.faults.iter().map(|f| f.id.clone()).collect() };
    let (bf, cf) = (ids(baseline), ids(current));
    for id in bf.iter().filter(|n| cf.contains(n)) {
        let find = |r: &Report| r.faults.iter().find(|f| &f.id == id).cloned();
        let (Some(fb), Some(fc)) = (find(baseline), find(current)) else { continue };
        if fb.action != fc.action || fb.target.nodes != fc.target.nodes {
            warnings.push(format!(
                "fault `{id}` hit other nodes or acted otherwise: baseline {}, current {}",
                fb.describe(),
                fc.describe()
            ));
        }
        for fig in RecoveryFigure::ALL {
            let m = Metric::Recovery(fig);
            let pick = |f: &FaultRecord| fig.of(&f.recovery).map(|value| Measured { value, samples: 1 });
            let why = |f: &FaultRecord| {
                if f.recovery.notes.is_empty() { "not measured".to_string() } else { f.recovery.notes.join("; ") }
            };
            let (b, c) = (pick(&fb), pick(&fc));
            let nb = b.is_none().then(|| why(&fb));
            let nc = c.is_none().then(|| why(&fc));
            add(format!("fault {id}"), Some(&fb.name), m, b, c, nb, nc);
        }
    }
    for (id, only) in bf
        .iter()
        .filter(|n| !cf.contains(n))
        .map(|n| (n, "baseline"))
        .chain(cf.iter().filter(|n| !bf.contains(n)).map(|n| (n, "current")))
    {
        warnings.push(format!("fault `{id}` is only in the {only} run: not compared"));
    }

    Ok(Comparison {
        scenario: current.scenario_name.clone(),
        baseline_run: baseline.run_id.clone(),
        current_run: current.run_id.clone(),
        baseline_started: baseline.started_at.clone(),
        current_started: current.started_at.clone(),
        rows,
        warnings,
    })
}

/// What the two runs differ in besides their figures (scenario, environment, aborts, a
/// limited generator), one message each.
///
/// # Errors
/// [`CompareError::DifferentScenarios`] unless `opts.force`.
fn run_warnings(baseline: &Report, current: &Report, opts: &CompareOptions) -> Result<Vec<String>, CompareError> {
    let mut warnings = Vec::new();
    if let Some(diff) = scenario_difference(baseline, current) {
        if !opts.force {
            return Err(CompareError::DifferentScenarios(diff));
        }
        warnings.push(format!("the runs are of different scenarios ({diff}); compared anyway (--force)"));
    }
    warnings.extend(environment_differences(baseline, current));
    warnings.extend(client_differences(baseline, current));
    for (which, r) in [("baseline", baseline), ("current", current)] {
        if let Some(why) = &r.abort_reason {
            warnings.push(format!("the {which} run was aborted: {why}"));
        }
        if r.generator.limited {
            warnings.push(format!("the {which} run was limited by the load generator, not the cluster"));
        }
    }
    Ok(warnings)
}

#[allow(clippy::too_many_arguments)]
fn row(
    scope: String,
    metric: Metric,
    b: Option<Measured>,
    c: Option<Measured>,
    note_b: Option<String>,
    note_c: Option<String>,
    tolerance: Option<f64>,
    opts: &CompareOptions,
) -> Row {
    let change = match (b, c) {
        (Some(b), Some(c)) if b.value != 0.0 => Some((c.value - b.value) / b.value),
        (Some(b), Some(c)) if c.value == b.value => Some(0.0),
        (Some(_), Some(c)) => Some(if c.value > 0.0 { f64::INFINITY } else { f64::NEG_INFINITY }),
        _ => None,
    };
    let verdict = match tolerance {
        None => Verdict::Info,
        Some(tol) => match (b, c) {
            (None, _) => Verdict::Inconclusive(format!("no value in the baseline: {}", note_b.unwrap_or_default())),
            (_, None) => Verdict::Inconclusive(format!("no value in the current run: {}", note_c.unwrap_or_default())),
            (Some(b), Some(c)) => match too_noisy(metric, b.samples.min(c.samples)) {
                Some(why) => Verdict::Inconclusive(why),
                None => judge(metric, b.value, c.value, tol, opts),
            },
        },
    };
    Row { scope, metric, baseline: b.map(|m| m.value), current: c.map(|m| m.value), change, tolerance, verdict }
}

/// Why a comparison on `samples` samples (the fewer of the two runs) would be noise.
fn too_noisy(metric: Metric, samples: u64) -> Option<String> {
    let n = samples as f64;
    match metric {
        Metric::Latency(_, Stat::Max) | Metric::Recovery(RecoveryFigure::LatencyMax) => {
            Some("a max is a single sample, never conclusive".into())
        }
        Metric::Latency(_, Stat::Mean) if samples < MIN_MEAN_SAMPLES => {
            Some(format!("{samples} samples, a mean needs {MIN_MEAN_SAMPLES}"))
        }
        Metric::Latency(_, s) => {
            let q = s.quantile()?;
            let need = (MIN_TAIL_SAMPLES / (1.0 - q)).round();
            (n < need).then(|| format!("{samples} samples, {} needs {need:.0}", s.key()))
        }
        Metric::ThroughputMean | Metric::ThroughputMin | Metric::LagMax if samples < MIN_SECONDS => {
            Some(format!("{samples} whole seconds, a rate needs {MIN_SECONDS}"))
        }
        _ => None,
    }
}

fn judge(metric: Metric, b: f64, c: f64, tol_pct: f64, opts: &CompareOptions) -> Verdict {
    let worse = if metric.higher_is_worse() { c - b } else { b - c };
    let slack = match metric.unit() {
        Unit::Micros => opts.min_latency_delta_us,
        Unit::Secs => RECOVERY_RESOLUTION_SECS,
        _ => 0.0,
    };
    if worse.abs() <= slack {
        return Verdict::Ok;
    }
    let tol = tol_pct / 100.0;
    let rel = if b != 0.0 {
        worse / b.abs()
    } else if worse > 0.0 {
        f64::INFINITY
    } else {
        f64::NEG_INFINITY
    };
    if rel > tol {
        Verdict::Regression
    } else if rel < -tol.max(f64::EPSILON) {
        Verdict::Improved
    } else {
        Verdict::Ok
    }
}

/// What makes two runs runs of different scenarios, if anything: the name, or any part of
/// the scenario but its description, `$schema` and checks.
fn scenario_difference(a: &Report, b: &Report) -> Option<String> {
    if a.scenario_name != b.scenario_name {
        return Some(format!("`{}` and `{}`", a.scenario_name, b.scenario_name));
    }
    let strip = |v: &Value| -> serde_json::Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        for k in ["description", "$schema", "checks"] {
            m.remove(k);
        }
        m
    };
    let (x, y) = (strip(&a.scenario), strip(&b.scenario));
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<String> =
        keys.into_iter().filter(|k| x.get(*k) != y.get(*k)).map(|k| format!("`{k}`")).collect();
    (!differing.is_empty()).then(|| format!("scenario `{}` changed in {}", a.scenario_name, differing.join(", ")))
}

/// The environment differences between two runs, one message each.
fn environment_differences(a: &Report, b: &Report) -> Vec<String> {
    let (x, y) = (&a.environment, &b.environment);
    let mut out = Vec::new();
    let mut diff = |what: &str, p: String, q: String| {
        if p != q {
            out.push(format!("the runs differ in environment: {what} {p} (baseline) vs {q} (current)"));
        }
    };
    diff("aftershock", x.aftershock_version.clone(), y.aftershock_version.clone());
    diff("librdkafka", x.librdkafka_version.clone(), y.librdkafka_version.clone());
    diff(
        "Kafka",
        x.kafka_version.clone().unwrap_or("unknown".into()),
        y.kafka_version.clone().unwrap_or("unknown".into()),
    );
    diff("host", x.hostname.clone(), y.hostname.clone());
    diff("OS", x.os.clone(), y.os.clone());
    diff("CPUs", x.cpus.to_string(), y.cpus.to_string());
    diff("brokers", x.cluster.brokers.len().to_string(), y.cluster.brokers.len().to_string());
    let topics = |e: &Environment| {
        e.cluster
            .topics
            .iter()
            .map(|t| format!("{}({}p, rf {})", t.name, t.partitions, t.replication_factor))
            .collect::<Vec<_>>()
            .join(" ")
    };
    diff("topics", topics(x), topics(y));
    out
}

/// Settings that differ between the runs' clients of one name, one message per client. Only
/// when both runs record them (schema version 2 on); `bootstrap.servers` is left out, since a
/// local cluster gets new ports every run and the environment names the cluster.
fn client_differences(a: &Report, b: &Report) -> Vec<String> {
    if a.clients.is_empty() || b.clients.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let roles: [(&str, &[ClientSettings], &[ClientSettings]); 2] = [
        ("producer", &a.clients.producers, &b.clients.producers),
        ("consumer", &a.clients.consumers, &b.clients.consumers),
    ];
    for (role, xs, ys) in roles {
        for x in xs {
            let Some(y) = ys.iter().find(|y| y.name == x.name) else { continue };
            let mut keys: Vec<&String> = x.settings.keys().chain(y.settings.keys()).collect();
            keys.sort();
            keys.dedup();
            let differing: Vec<String> = keys
                .into_iter()
                .filter(|k| k.as_str() != "bootstrap.servers")
                .filter_map(|k| {
                    let (p, q) = (x.get(k), y.get(k));
                    (p != q).then(|| format!("{k} {} vs {}", p.unwrap_or("unset"), q.unwrap_or("unset")))
                })
                .collect();
            if !differing.is_empty() {
                out.push(format!(
                    "the runs differ in the librdkafka settings of {role} `{}` (baseline vs current): {}",
                    x.name,
                    differing.join(", ")
                ));
            }
        }
    }
    out
}

/// The comparison as Markdown, fit for a pull-request comment: the verdict, warnings, the
/// gated metrics, and the others folded away.
pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## aftershock compare: `{}`\n", c.scenario);
    let _ = writeln!(
        out,
        "Baseline `{}` ({}) against current `{}` ({}).\n",
        c.baseline_run, c.baseline_started, c.current_run, c.current_started
    );
    let gated = c.gated().count();
    let regressions = c.regressions();
    let inconclusive = c.inconclusive();
    let improved = c.rows.iter().filter(|r| r.verdict == Verdict::Improved).count();
    let head = if regressions > 0 {
        format!("**❌ {regressions} regression{} beyond tolerance**", if regressions == 1 { "" } else { "s" })
    } else {
        "**✅ No regression beyond tolerance**".to_string()
    };
    let _ = writeln!(
        out,
        "{head}: {gated} gated metrics, {} within tolerance, {improved} improved, {inconclusive} inconclusive (too few samples or not measured).\n",
        gated - regressions - inconclusive - improved
    );
    for w in &c.warnings {
        let _ = writeln!(out, "> ⚠️ {}", md_escape(w));
    }
    if !c.warnings.is_empty() {
        out.push('\n');
    }
    let header =
        "| scope | metric | baseline | current | change | tolerance | verdict |\n|---|---|---:|---:|---:|---:|---|\n";
    if gated > 0 {
        out.push_str(header);
        for r in c.gated() {
            out.push_str(&row_md(r));
        }
        out.push('\n');
    }
    let info: Vec<&Row> = c.rows.iter().filter(|r| r.verdict == Verdict::Info).collect();
    if !info.is_empty() {
        let _ = writeln!(out, "<details><summary>{} metrics not gated</summary>\n", info.len());
        out.push_str("| scope | metric | baseline | current | change |\n|---|---|---:|---:|---:|\n");
        for r in info {
            out.push_str(&row_md(r));
        }
        out.push_str("\n</details>\n");
    }
    out
}

fn row_md(r: &Row) -> String {
    let unit = r.metric.unit();
    let v = |x: Option<f64>| x.map_or("-".to_string(), |x| unit.format(x));
    let verdict = match &r.verdict {
        Verdict::Ok => "✅ ok".to_string(),
        Verdict::Regression => "❌ regression".to_string(),
        Verdict::Improved => "🟢 improved".to_string(),
        Verdict::Inconclusive(why) => format!("❔ inconclusive: {}", md_escape(why)),
        Verdict::Info => {
            return format!(
                "| {} | `{}` | {} | {} | {} |\n",
                md_escape(&r.scope),
                r.metric,
                v(r.baseline),
                v(r.current),
                r.change.map_or("-".to_string(), format::change)
            );
        }
    };
    format!(
        "| {} | `{}` | {} | {} | {} | {} | {verdict} |\n",
        md_escape(&r.scope),
        r.metric,
        v(r.baseline),
        v(r.current),
        r.change.map_or("-".to_string(), format::change),
        r.tolerance.map_or("-".to_string(), format::pct),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_parse_and_match() {
        let t = Tolerance::parse("e2e.p99=10").unwrap();
        assert_eq!((t.scope.as_deref(), t.pattern.as_str(), t.pct), (None, "e2e.p99", Some(10.0)));
        let t = Tolerance::parse("steady:e2e.*=15%").unwrap();
        assert_eq!((t.scope.as_deref(), t.pct), (Some("steady"), Some(15.0)));
        assert_eq!(Tolerance::parse("*=off").unwrap().pct, None);
        assert!(Tolerance::parse("e2e.p98=10").unwrap_err().contains("matches no metric"));
        assert!(Tolerance::parse("e2e.p99").is_err());
        assert!(Tolerance::parse("e2e.p99=-3").is_err());
        assert!(Tolerance::parse("e2e.p99=lots").is_err());

        let tols = [Tolerance::parse("e2e.*=40").unwrap(), Tolerance::parse("steady:e2e.p99=5").unwrap()];
        assert_eq!(tolerance_for(&tols, "e2e.p99", Some("steady")), Some(5.0), "scoped exact wins");
        assert_eq!(tolerance_for(&tols, "e2e.p99", Some("faults")), Some(40.0));
        assert_eq!(tolerance_for(&tols, "produce.p99", None), Some(25.0), "defaults for the rest");
        assert_eq!(tolerance_for(&tols, "produce.p50", None), None, "not gated by default");
        assert_eq!(tolerance_for(&[Tolerance::parse("lost=off").unwrap()], "lost", None), None);
    }

    #[test]
    fn noise_rules() {
        let p99 = Metric::Latency(LatencyKind::E2e, Stat::P99);
        assert!(too_noisy(p99, 999).unwrap().contains("p99 needs 1000"));
        assert_eq!(too_noisy(p99, 1000), None);
        assert!(too_noisy(Metric::Latency(LatencyKind::E2e, Stat::P999), 9_999).is_some());
        assert!(too_noisy(Metric::Latency(LatencyKind::E2e, Stat::Max), 1_000_000).is_some());
        assert!(too_noisy(Metric::ThroughputMean, 4).is_some());
        assert_eq!(too_noisy(Metric::Recovery(RecoveryFigure::UnavailableMax), 1), None);
    }

    #[test]
    fn judging_respects_direction_and_resolution() {
        let o = CompareOptions::default();
        let p99 = Metric::Latency(LatencyKind::E2e, Stat::P99);
        assert_eq!(judge(p99, 10_000.0, 13_000.0, 25.0, &o), Verdict::Regression);
        assert_eq!(judge(p99, 10_000.0, 12_000.0, 25.0, &o), Verdict::Ok);
        assert_eq!(judge(p99, 10_000.0, 7_000.0, 25.0, &o), Verdict::Improved);
        assert_eq!(judge(p99, 2_000.0, 2_900.0, 25.0, &o), Verdict::Ok, "within the 1 ms resolution");
        assert_eq!(judge(Metric::ThroughputMean, 1000.0, 850.0, 10.0, &o), Verdict::Regression, "lower is worse");
        assert_eq!(judge(Metric::ThroughputMean, 1000.0, 1200.0, 10.0, &o), Verdict::Improved);
        let unavail = Metric::Recovery(RecoveryFigure::UnavailableMax);
        assert_eq!(judge(unavail, 1.0, 1.9, 50.0, &o), Verdict::Ok, "within one second");
        assert_eq!(judge(unavail, 2.0, 6.0, 50.0, &o), Verdict::Regression);
        let lost = Metric::Verification(VerificationCount::Lost);
        assert_eq!(judge(lost, 0.0, 1.0, 0.0, &o), Verdict::Regression);
        assert_eq!(judge(lost, 0.0, 0.0, 0.0, &o), Verdict::Ok);
    }
}
