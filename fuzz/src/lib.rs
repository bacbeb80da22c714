//! What the fuzz targets do with one input, in one place: `fuzz_targets/*.rs` call these
//! functions, and `tests/fuzz_corpus.rs` (under a plain `cargo test`, no nightly) replays the
//! kept corpora in `tests/fixtures/fuzz/` through the very same functions, which it includes
//! with `#[path]`. Neither function may panic, whatever the bytes: a bad file is an error.
//!
//! Both go through the library's own entry points, the ones the commands use after reading
//! the file: [`aftershock::scenario::parse_bytes`] (`aftershock validate`) and
//! [`aftershock::report::Report::from_slice`] (`aftershock report` and `compare`).

use std::sync::OnceLock;

use aftershock::gate::{self, compare};
use aftershock::plan::{ProducerIds, RunPlan};
use aftershock::render::{html, junit, summary};
use aftershock::report::Report;

/// A scenario file's bytes as `aftershock validate` checks them: parsed and validated, every
/// diagnostic and warning formatted as it prints them. A valid scenario is then planned and
/// its timeline written as `run --dry-run` does, since validation promises that both work.
pub fn scenario(data: &[u8]) {
    match aftershock::scenario::parse_bytes(data, "fuzz.json") {
        Ok(s) => {
            for w in &s.warnings {
                std::hint::black_box(w.to_string());
            }
            // NB: a fixed nonce, so that a replay plans exactly what the fuzzer planned.
            if let Ok(plan) = RunPlan::new(&s, ProducerIds::new(1)) {
                std::hint::black_box(aftershock::runner::dry_run(&s, &plan));
            }
        }
        Err(diags) => {
            for d in diags.iter() {
                std::hint::black_box(d.to_string());
            }
        }
    }
}

/// A report.json's bytes as `aftershock report` and `aftershock compare` load them, then what
/// both do with a loaded report short of drawing plots: the histograms decoded, the scenario's
/// checks read and evaluated, the summary as Markdown and HTML, JUnit XML, and a comparison
/// with a known good report in both directions.
pub fn report(data: &[u8]) {
    let report = match Report::from_slice(data) {
        Ok(r) => r,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    for phase in &report.histograms.phases {
        let _ = std::hint::black_box(phase.decode());
    }
    let _ = std::hint::black_box(report.histograms.total.decode());

    // `aftershock report`: the checks, the text table, the summary and JUnit.
    let checks = gate::checks_of(&report).map(|checks| gate::evaluate(&checks, &report));
    if let Ok(results) = &checks {
        std::hint::black_box(gate::text_table(results));
        std::hint::black_box(gate::verdict_line(results));
        let suite = junit::checks_suite(&report.scenario_name, &report.run_id, results);
        std::hint::black_box(junit::to_xml(&[suite]));
    }
    let doc = summary::document(&report, &checks, &[]);
    std::hint::black_box(summary::markdown(&doc));
    std::hint::black_box(html::page(&report, &doc, &|_| None));

    // `aftershock compare`, with `--force` since the scenarios differ.
    let opts = compare::CompareOptions { force: true, ..Default::default() };
    let tolerances = [compare::Tolerance::parse("*=10").expect("a valid tolerance")];
    for (base, cur) in [(baseline(), &report), (&report, baseline())] {
        if let Ok(c) = compare::compare(base, cur, &tolerances, &opts) {
            std::hint::black_box(compare::markdown(&c));
            std::hint::black_box(junit::to_xml(&[junit::compare_suite(&c)]));
        }
    }
}

/// The report `compare` holds the input against: the sample of `tests/fixtures/reports`.
fn baseline() -> &'static Report {
    static BASELINE: OnceLock<Report> = OnceLock::new();
    BASELINE.get_or_init(|| {
        Report::from_slice(include_bytes!("../../tests/fixtures/reports/sample-report.json"))
            .expect("the sample report loads")
    })
}
