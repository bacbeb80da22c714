//! JUnit XML for CI systems: each check, and each gated metric of a comparison, is one test
//! case. A failed check or a regression is a `<failure>`; a check without data fails too
//! (type `no-data`), as it does in the gate; an inconclusive comparison is `<skipped>`.
//!
//! The layout is the common denominator that GitHub Actions reporters, GitLab, Jenkins and
//! Buildkite read: `<testsuites>` of `<testsuite name tests failures errors skipped time>`
//! of `<testcase classname name time>`.

use std::path::{Path, PathBuf};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::gate::compare::{Comparison, Verdict};
use crate::gate::{CheckResult, Status};

/// One `<testsuite>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub classname: String,
    pub name: String,
    pub outcome: CaseOutcome,
    /// Shown by most CI systems next to the case.
    pub system_out: Option<String>,
}

/// How a test case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Pass,
    Failure { kind: String, message: String },
    Skipped { message: String },
}

/// Why a JUnit file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write JUnit XML to {path}: {source}")]
pub struct JunitError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The checks of a run as a suite named `checks: SCENARIO`.
pub fn checks_suite(scenario: &str, run_id: &str, results: &[CheckResult]) -> Suite {
    let cases = results
        .iter()
        .map(|r| {
            let outcome = match r.status {
                Status::Pass => CaseOutcome::Pass,
                Status::Fail => CaseOutcome::Failure { kind: "threshold".into(), message: r.explain() },
                Status::NoData => CaseOutcome::Failure { kind: "no-data".into(), message: r.explain() },
            };
            Case {
                classname: format!("aftershock.checks.{scenario}"),
                name: format!("{} [{}] {}", r.check.metric, r.scope, r.check.bound_text()),
                outcome,
                system_out: Some(format!("run {run_id}: {}", r.explain())),
            }
        })
        .collect();
    Suite { name: format!("checks: {scenario}"), cases }
}

/// The gated metrics of a comparison as a suite named `compare: SCENARIO`.
pub fn compare_suite(c: &Comparison) -> Suite {
    let cases = c
        .gated()
        .map(|r| {
            let unit = r.metric.unit();
            let v = |x: Option<f64>| x.map_or("-".to_string(), |x| unit.format(x));
            let what = format!(
                "{} in {}: baseline {}, current {} ({}), tolerance {}",
                r.metric,
                r.scope,
                v(r.baseline),
                v(r.current),
                r.change.map_or("-".to_string(), crate::vocab::format::change),
                r.tolerance.map_or("-".to_string(), crate::vocab::format::pct)
            );
            let outcome = match &r.verdict {
                Verdict::Regression => CaseOutcome::Failure { kind: "regression".into(), message: what.clone() },
                Verdict::Inconclusive(why) => CaseOutcome::Skipped { message: format!("inconclusive: {why}") },
                _ => CaseOutcome::Pass,
            };
            Case {
                classname: format!("aftershock.compare.{}", c.scenario),
                name: format!("{} [{}]", r.metric, r.scope),
                outcome,
                system_out: Some(format!("{} against {}: {what}", c.current_run, c.baseline_run)),
            }
        })
        .collect();
    Suite { name: format!("compare: {}", c.scenario), cases }
}

/// The suites as a JUnit XML document.
pub fn to_xml(suites: &[Suite]) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // NB: writing into a Vec cannot fail; the results are io::Result only by signature.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let count = |s: &Suite, f: fn(&CaseOutcome) -> bool| s.cases.iter().filter(|c| f(&c.outcome)).count();
    let failed = |o: &CaseOutcome| matches!(o, CaseOutcome::Failure { .. });
    let skipped = |o: &CaseOutcome| matches!(o, CaseOutcome::Skipped { .. });
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let total_failed: usize = suites.iter().map(|s| count(s, failed)).sum();
    let total_skipped: usize = suites.iter().map(|s| count(s, skipped)).sum();
    let _ = w
        .create_element("testsuites")
        .with_attribute(("name", "aftershock"))
        .with_attribute(("tests", total.to_string().as_str()))
        .with_attribute(("failures", total_failed.to_string().as_str()))
        .with_attribute(("errors", "0"))
        .with_attribute(("skipped", total_skipped.to_string().as_str()))
        .with_attribute(("time", "0"))
        .write_inner_content(|w| {
            for s in suites {
                w.create_element("testsuite")
                    .with_attribute(("name", s.name.as_str()))
                    .with_attribute(("tests", s.cases.len().to_string().as_str()))
                    .with_attribute(("failures", count(s, failed).to_string().as_str()))
                    .with_attribute(("errors", "0"))
                    .with_attribute(("skipped", count(s, skipped).to_string().as_str()))
                    .with_attribute(("time", "0"))
                    .write_inner_content(|w| {
                        for c in &s.cases {
                            let el = w
                                .create_element("testcase")
                                .with_attribute(("classname", c.classname.as_str()))
                                .with_attribute(("name", c.name.as_str()))
                                .with_attribute(("time", "0"));
                            if c.outcome == CaseOutcome::Pass && c.system_out.is_none() {
                                el.write_empty()?;
                                continue;
                            }
                            el.write_inner_content(|w| {
                                match &c.outcome {
                                    CaseOutcome::Pass => {}
                                    CaseOutcome::Failure { kind, message } => {
                                        w.create_element("failure")
                                            .with_attribute(("type", kind.as_str()))
                                            .with_attribute(("message", message.as_str()))
                                            .write_text_content(BytesText::new(message))?;
                                    }
                                    CaseOutcome::Skipped { message } => {
                                        w.create_element("skipped")
                                            .with_attribute(("message", message.as_str()))
                                            .write_empty()?;
                                    }
                                }
                                if let Some(out) = &c.system_out {
                                    w.create_element("system-out").write_text_content(BytesText::new(out))?;
                                }
                                Ok(())
                            })?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        });
    let mut text = String::from_utf8(w.into_inner()).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the suites to `path` (its directory is created if needed).
///
/// # Errors
/// When the file cannot be written.
pub fn write(path: &Path, suites: &[Suite]) -> Result<(), JunitError> {
    let err = |source| JunitError { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, to_xml(suites)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_counts() {
        let s = Suite {
            name: "checks: a<b>".into(),
            cases: vec![
                Case { classname: "c".into(), name: "ok".into(), outcome: CaseOutcome::Pass, system_out: None },
                Case {
                    classname: "c".into(),
                    name: "e2e.p99 \"max\" & more".into(),
                    outcome: CaseOutcome::Failure { kind: "threshold".into(), message: "62 ms > 50 ms <x>".into() },
                    system_out: Some("details".into()),
                },
                Case {
                    classname: "c".into(),
                    name: "s".into(),
                    outcome: CaseOutcome::Skipped { message: "few".into() },
                    system_out: None,
                },
            ],
        };
        let xml = to_xml(&[s]);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
        assert!(
            xml.contains("<testsuites name=\"aftershock\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"checks: a&lt;b&gt;\""), "{xml}");
        assert!(xml.contains("name=\"e2e.p99 &quot;max&quot; &amp; more\""), "{xml}");
        assert!(xml.contains(">62 ms &gt; 50 ms &lt;x&gt;</failure>"), "{xml}");
        assert!(xml.contains("<skipped message=\"few\"/>"), "{xml}");
    }
}
