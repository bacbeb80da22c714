//! The commands that read reports: `aftershock report` (render and gate a run dir),
//! `aftershock compare` (a run against a baseline), and what `aftershock run` does with its
//! report at the end (render, gate, JUnit). `cli` parses the arguments and calls these.

use std::path::{Path, PathBuf};

use crate::Outcome;
use crate::gate::compare::{self, CompareOptions, Tolerance};
use crate::gate::{self, CheckResult};
use crate::render::{self, junit};
use crate::report::{REPORT_FILE, Report};

/// A report given as a run dir or as the report.json file itself.
pub fn report_path(p: &Path) -> PathBuf {
    if p.is_dir() { p.join(REPORT_FILE) } else { p.to_path_buf() }
}

/// Loads the report at `p` (a run dir or a file), saying on stderr why it cannot.
fn load(p: &Path) -> Result<Report, Outcome> {
    Report::load(&report_path(p)).map_err(|e| {
        eprintln!("error: {e}");
        Outcome::BadConfig
    })
}

/// The checks of the report's scenario, evaluated; `Err` holds the problems of checks that
/// cannot be read.
pub fn gate_report(report: &Report) -> Result<Vec<CheckResult>, Vec<String>> {
    gate::checks_of(report).map(|checks| gate::evaluate(&checks, report))
}

/// `aftershock report RUN_DIR`: renders summary.md, index.html and the plots into `out`
/// (default: the run dir), prints the checks, writes JUnit if asked. Exit: 0 when every
/// check passed, 1 when one failed or had no data, 2 when the report cannot be read or its
/// checks are invalid, 3 when the outputs cannot be written.
pub fn report_command(run: &Path, out: Option<&Path>, junit: Option<&Path>) -> Outcome {
    let report = match load(run) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => report_path(run).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")),
    };
    let checks = gate_report(&report);
    let outcome = finish(&report, &checks, &dir, junit, Caller::Report);
    if let Err(problems) = &checks {
        eprintln!("error: the checks in this report's scenario are invalid:");
        for p in problems {
            eprintln!("  {p}");
        }
        return Outcome::BadConfig;
    }
    outcome
}

/// What `run` does with its report: render the outputs, print the checks (on stderr: stdout
/// holds the run dir), write JUnit. Returns the outcome of the checks; rendering problems are
/// reported but do not change it, since the run and its report.json are fine.
pub fn after_run(
    report: &Report,
    checks: &[crate::scenario::checks::Check],
    run_dir: &Path,
    junit: Option<&Path>,
) -> Outcome {
    let results = Ok(gate::evaluate(checks, report));
    finish(report, &results, run_dir, junit, Caller::Run)
}

/// Who renders: `report` (whose job it is, so a rendering failure is its failure) or `run`
/// (whose report.json is fine whatever happens to the plots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Report,
    Run,
}

fn finish(
    report: &Report,
    checks: &Result<Vec<CheckResult>, Vec<String>>,
    dir: &Path,
    junit: Option<&Path>,
    caller: Caller,
) -> Outcome {
    let mut outcome = Outcome::Ok;
    match render::render(report, checks, dir) {
        Ok(r) => eprintln!(
            "rendered {}, {} and {} plots (SVG and PNG) in {}",
            r.summary.display(),
            r.html.display(),
            r.plots.len(),
            dir.join(render::PLOTS_DIR).display()
        ),
        Err(e) if caller == Caller::Report => {
            eprintln!("error: {e}");
            outcome = Outcome::RunFailed;
        }
        Err(e) => eprintln!("warning: the report is written, but its summary and plots are not: {e}"),
    }
    if let Ok(results) = checks {
        let table = gate::text_table(results);
        if caller == Caller::Report {
            print!("{table}");
        } else {
            eprint!("{table}");
        }
        if let Some(path) = junit {
            let xml = junit::checks_suite(&report.scenario_name, &report.run_id, results);
            if let Err(e) = junit::write(path, &[xml]) {
                eprintln!("error: {e}");
                return Outcome::BadConfig;
            }
        }
        if !gate::all_passed(results) && outcome == Outcome::Ok {
            outcome = Outcome::ChecksFailed;
        }
    }
    outcome
}

/// `aftershock compare BASELINE CURRENT`: prints the Markdown comparison on stdout.
/// Exit: 0 no regression beyond tolerance (inconclusive metrics do not fail unless
/// `strict`), 1 a regression, 2 unreadable reports, bad tolerances, or different scenarios
/// without `force`.
pub fn compare_command(
    baseline: &Path,
    current: &Path,
    tolerances: &[String],
    opts: CompareOptions,
    junit: Option<&Path>,
) -> Outcome {
    let (base, cur) = match (load(baseline), load(current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let mut tol = Vec::new();
    for t in tolerances {
        match Tolerance::parse(t) {
            Ok(t) => tol.push(t),
            Err(e) => {
                eprintln!("error: --max-regression {t}: {e}");
                return Outcome::BadConfig;
            }
        }
    }
    let cmp = match compare::compare(&base, &cur, &tol, &opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::BadConfig;
        }
    };
    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    print!("{}", compare::markdown(&cmp));
    if let Some(path) = junit {
        let xml = junit::compare_suite(&cmp);
        if let Err(e) = junit::write(path, &[xml]) {
            eprintln!("error: {e}");
            return Outcome::BadConfig;
        }
    }
    if cmp.regressions() > 0 || (opts.strict && cmp.inconclusive() > 0) { Outcome::ChecksFailed } else { Outcome::Ok }
}

/// `aftershock bench memory`: judges the report's process series (see
/// [`crate::measure::memory_verdict`]); the warm-up ends where the first measured phase starts.
pub fn memory_command(run: &Path, limits: &crate::measure::MemoryLimits) -> Outcome {
    let report = match load(run) {
        Ok(r) => r,
        Err(o) => return o,
    };
    if report.process.is_empty() {
        eprintln!("error: the report has no process samples (written by an aftershock without them?)");
        return Outcome::BadConfig;
    }
    let warmup_end = report.phases.iter().find(|p| p.measured).map_or(0, |p| p.start_secs.ceil() as u64);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let Some(v) = crate::measure::memory_verdict(&report.process, warmup_end, limits) else {
        eprintln!(
            "error: fewer than two {} s windows of samples after warm-up (second {warmup_end}); run longer",
            limits.window_secs
        );
        return Outcome::BadConfig;
    };
    println!(
        "memory of {}: peak RSS {:.1} MiB; after warm-up (from second {warmup_end}, {} s): median of the first {} s \
         {:.1} MiB, of the last {} s {:.1} MiB, growth {:+.2}%",
        report.run_id,
        mib(v.peak_rss_bytes),
        v.span_secs,
        limits.window_secs,
        mib(v.start_rss_bytes),
        limits.window_secs,
        mib(v.end_rss_bytes),
        v.growth * 100.0
    );
    if v.failures.is_empty() {
        println!("PASS: under {:.1} MiB and under {:.1}% growth", mib(limits.max_rss_bytes), limits.max_growth * 100.0);
        Outcome::Ok
    } else {
        for f in &v.failures {
            println!("FAIL: {f}");
        }
        Outcome::ChecksFailed
    }
}
