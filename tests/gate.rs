//! The gates from the outside: `aftershock report` (checks) and `aftershock compare`
//! (baselines) on fixed report.json files, their exit codes on passing, failing and
//! inconclusive inputs, their Markdown, and well-formed JUnit XML.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aftershock::gate::{self, Status};
use aftershock::report::Report;
use quick_xml::events::Event;
use serde_json::{Value, json};

fn fixture(name: &str) -> Report {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports").join(name);
    Report::load(&p).unwrap()
}

fn two_faults() -> Report {
    fixture("two-faults-report.json")
}

fn sample() -> Report {
    fixture("sample-report.json")
}

/// A run dir holding `report`.
fn run_dir(report: &Report) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    report.write_atomic(d.path()).unwrap();
    d
}

fn aftershock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aftershock")).args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn with_checks(mut r: Report, checks: Value) -> Report {
    r.scenario["checks"] = checks;
    r
}

fn path(d: &tempfile::TempDir) -> &str {
    d.path().to_str().unwrap()
}

/// Parses a JUnit file to its end (failing on any XML error) and returns the counts of
/// `testcase`, `failure` and `skipped` elements and the root's attributes.
fn junit(file: &Path) -> (usize, usize, usize, Vec<(String, String)>) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let (mut cases, mut failures, mut skipped) = (0, 0, 0);
    let mut root = Vec::new();
    let mut depth = 0i32;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed JUnit at {}: {e}\n{text}", reader.buffer_position()))
        {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testsuites" => {
                root = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned(),
                        )
                    })
                    .collect();
                depth += 1;
            }
            Event::Start(e) => {
                depth += 1;
                match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    _ => {}
                }
            }
            Event::Empty(e) => match e.name().as_ref() {
                "testcase" => cases += 1,
                "skipped" => skipped += 1,
                "failure" => failures += 1,
                _ => {}
            },
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced elements");
    (cases, failures, skipped, root)
}

fn attr<'a>(attrs: &'a [(String, String)], k: &str) -> &'a str {
    attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn passing_checks_exit_0_with_a_table_and_junit() {
    let d = run_dir(&two_faults());
    let xml = d.path().join("out/checks.xml");
    let o = aftershock(&["report", path(&d), "--junit", xml.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("checks: 13 passed\n"), "{out}");
    assert!(out.contains("pass    recovery.unavailable.max   fault kill-leader     max 15.0 s     2.40 s"), "{out}");
    assert!(out.contains("pass    recovery.lag.max           fault kill-leader     max 1000       800"), "{out}");
    for f in ["summary.md", "index.html", "plots/latency.svg", "plots/latency.png", "plots/recovery.png"] {
        assert!(d.path().join(f).exists(), "{f} not rendered");
    }
    let (cases, failures, skipped, root) = junit(&xml);
    assert_eq!((cases, failures, skipped), (13, 0, 0));
    assert_eq!(attr(&root, "tests"), "13");
    assert_eq!(attr(&root, "failures"), "0");
}

#[test]
fn a_failing_check_exits_1() {
    let r = with_checks(
        two_faults(),
        json!([
            {"metric": "e2e.p99", "phase": "steady", "max": "5ms"},
            {"metric": "throughput.min", "min": "390"},
            {"metric": "lost", "max": 0}
        ]),
    );
    let d = run_dir(&r);
    let xml = d.path().join("checks.xml");
    let o = aftershock(&["report", path(&d), "--junit", xml.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("checks: 1 passed, 2 failed"), "{out}");
    assert!(out.contains("FAIL    e2e.p99"), "{out}");
    // The kill stopped every acknowledgement for two whole seconds of the faults phase.
    assert!(out.contains("FAIL    throughput.min  measured phases  min 390 msg/s  0 msg/s"), "{out}");
    let (cases, failures, skipped, _) = junit(&xml);
    assert_eq!((cases, failures, skipped), (3, 2, 0));
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains("e2e.p99 in phase steady was 9.13 ms, above the max 5.00 ms"), "{text}");
    let summary = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(summary.contains("**Checks failed**: 1 passed, 2 failed."), "{summary}");
}

#[test]
fn a_check_without_data_fails_the_gate() {
    // A figure the run could not measure, with the reason from the report.
    let r =
        with_checks(two_faults(), json!([{"metric": "recovery.new_controller", "fault": "kill-leader", "max": "10s"}]));
    let d = run_dir(&r);
    let o = aftershock(&["report", path(&d)]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("checks: 0 passed, 1 without data"), "{out}");
    assert!(out.contains("NO DATA") && out.contains("the killed node (2) was not the active controller"), "{out}");

    // No faults at all.
    let r = with_checks(sample(), json!([{"metric": "recovery.unavailable.max", "max": "10s"}]));
    let results = gate::evaluate(&gate::checks_of(&r).unwrap(), &r);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, Status::NoData);
    assert_eq!(results[0].note.as_deref(), Some("no faults in this run"));
    let d = run_dir(&r);
    let o = aftershock(&["report", path(&d)]);
    assert_eq!(code(&o), 1);
}

#[test]
fn bad_inputs_exit_2() {
    let r = with_checks(two_faults(), json!([{"metric": "e2e.p98", "max": "5ms"}]));
    let d = run_dir(&r);
    let o = aftershock(&["report", path(&d)]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("checks[0].metric: unknown metric `e2e.p98`"), "{}", stderr(&o));

    let empty = tempfile::tempdir().unwrap();
    let o = aftershock(&["report", path(&empty)]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot read report"), "{}", stderr(&o));
}

#[test]
fn gate_semantics() {
    let r = two_faults();
    let eval = |checks: Value| {
        let r = with_checks(r.clone(), checks);
        gate::evaluate(&gate::checks_of(&r).unwrap(), &r)
    };
    // Without a fault, a recovery check covers every fault: one result each.
    let res = eval(json!([{"metric": "recovery.isr_recovered", "max": "10s"}]));
    assert_eq!(
        res.iter().map(|r| (r.scope.as_str(), r.status)).collect::<Vec<_>>(),
        [("fault kill-leader", Status::Fail), ("fault pause-follower", Status::Pass)]
    );
    // throughput.min of steady reads whole seconds only: all of them at 400.
    let res = eval(json!([{"metric": "throughput.min", "phase": "steady", "min": 400}]));
    assert_eq!((res[0].value, res[0].status), (Some(400.0), Status::Pass));
    // The warm-up's first second is partial (the load starts at 0.5 s) and is left out.
    let res = eval(json!([{"metric": "throughput.min", "phase": "warmup", "min": 400}]));
    assert_eq!((res[0].value, res[0].status), (Some(400.0), Status::Pass));
    // Both bounds, inclusive.
    let res = eval(json!([{"metric": "produce.p99", "phase": "steady", "min": "7715us", "max": "7715us"}]));
    assert_eq!(res[0].status, Status::Pass, "{:?}", res[0]);
    // The rebalance, the peak lag and the partitions' mean unavailability, per fault: the
    // pause had no rebalance, which fails the gate as no data, with the reason.
    let res = eval(json!([
        {"metric": "recovery.rebalance", "max": "3s"},
        {"metric": "recovery.lag.max", "max": 500},
        {"metric": "recovery.unavailable.mean", "fault": "kill-leader", "min": "0.5s", "max": "1s"}
    ]));
    let got: Vec<(&str, String, Option<f64>, Status)> =
        res.iter().map(|r| (r.scope.as_str(), r.check.metric.name(), r.value, r.status)).collect();
    assert_eq!(
        got,
        [
            ("fault kill-leader", "recovery.rebalance".into(), Some(3.1), Status::Fail),
            ("fault pause-follower", "recovery.rebalance".into(), None, Status::NoData),
            ("fault kill-leader", "recovery.lag.max".into(), Some(800.0), Status::Fail),
            ("fault pause-follower", "recovery.lag.max".into(), Some(90.0), Status::Pass),
            ("fault kill-leader", "recovery.unavailable.mean".into(), Some(0.858), Status::Pass),
        ]
    );
    assert!(res[1].explain().contains("no consumer group rebalance followed the fault"), "{}", res[1].explain());
    assert_eq!(res[2].explain(), "recovery.lag.max in fault kill-leader was 800, above the max 500");
    let res = eval(json!([{"metric": "error_rate", "phase": "faults", "max": "0.01%"}]));
    assert_eq!(res[0].status, Status::Fail);
    assert!(
        res[0].explain().contains("error_rate in phase faults was 0.17%, above the max 0.01%"),
        "{}",
        res[0].explain()
    );
}

/// `report` with a change applied to a copy, in its own run dir.
fn variant(mut f: impl FnMut(&mut Report)) -> tempfile::TempDir {
    let mut r = two_faults();
    f(&mut r);
    r.run_id = "orders-two-faults-20260502T120000Z".into();
    r.started_at = "2026-05-02T12:00:00.000Z".into();
    run_dir(&r)
}

#[test]
fn compare_identical_runs_passes() {
    let base = run_dir(&two_faults());
    let cur = variant(|_| {});
    let xml = cur.path().join("compare.xml");
    let o = aftershock(&["compare", path(&base), path(&cur), "--junit", xml.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let md = stdout(&o);
    assert!(md.starts_with("## aftershock compare: `orders-two-faults`\n"), "{md}");
    assert!(md.contains("**✅ No regression beyond tolerance**"), "{md}");
    assert!(md.contains("| phase steady | `e2e.p99` | 9.13 ms | 9.13 ms | 0% | 25% | ✅ ok |"), "{md}");
    assert!(md.contains("<details><summary>"), "ungated metrics are folded away: {md}");
    assert!(stderr(&o).is_empty(), "no warnings for the same environment: {}", stderr(&o));
    let (cases, failures, _skipped, _) = junit(&xml);
    assert!(cases > 10, "{cases}");
    assert_eq!(failures, 0);
}

#[test]
fn compare_finds_regressions_beyond_tolerance() {
    let base = run_dir(&two_faults());
    let cur = variant(|r| {
        let steady = r.phases.iter_mut().find(|p| p.name == "steady").unwrap();
        steady.latency.e2e.p99_us *= 2;
        r.faults[0].recovery.unavailable_max_secs = Some(8.0);
    });
    let xml = cur.path().join("compare.xml");
    let o = aftershock(&["compare", path(&base), path(&cur), "--junit", xml.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let md = stdout(&o);
    assert!(md.contains("**❌ 2 regressions beyond tolerance**"), "{md}");
    assert!(md.contains("| phase steady | `e2e.p99` | 9.13 ms | 18.3 ms | +100% | 25% | ❌ regression |"), "{md}");
    assert!(
        md.contains(
            "| fault kill-leader | `recovery.unavailable.max` | 2.40 s | 8.00 s | +233% | 50% | ❌ regression |"
        ),
        "{md}"
    );
    let (_, failures, _, _) = junit(&xml);
    assert_eq!(failures, 2);

    // Tolerances from the command line: looser for one phase, off for the recovery figure.
    let o = aftershock(&[
        "compare",
        path(&base),
        path(&cur),
        "--max-regression",
        "steady:e2e.p99=150",
        "--max-regression",
        "recovery.*=off",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    let o = aftershock(&["compare", path(&base), path(&cur), "--max-regression", "e2e.p98=10"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("matches no metric"), "{}", stderr(&o));
}

#[test]
fn compare_is_inconclusive_on_few_samples() {
    // The sample run has 240 messages a phase: too few for a p99 (1000) or a rate (5 s).
    let base = run_dir(&sample());
    let mut r = sample();
    for p in &mut r.phases {
        p.latency.e2e.p99_us *= 3;
        p.ack_rate /= 2.0;
    }
    r.run_id = "other".into();
    let cur = run_dir(&r);
    let xml = cur.path().join("compare.xml");
    let o = aftershock(&["compare", path(&base), path(&cur), "--junit", xml.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "inconclusive is not a failure: {}", stdout(&o));
    let md = stdout(&o);
    assert!(md.contains("| phase steady | `e2e.p99` | 11.2 ms | 33.6 ms | +200% | 25% | ❔ inconclusive: 240 samples, p99 needs 1000 |"), "{md}");
    assert!(md.contains("| phase steady | `throughput.mean` | 60.0 msg/s | 30.0 msg/s | -50.0% | 10% | ❔ inconclusive: 4 whole seconds, a rate needs 5 |"), "{md}");
    let (_, failures, skipped, root) = junit(&xml);
    assert_eq!(failures, 0);
    assert!(skipped >= 4, "{skipped}");
    assert_eq!(attr(&root, "skipped"), skipped.to_string());
    // --strict makes inconclusive gated metrics fail.
    let o = aftershock(&["compare", path(&base), path(&cur), "--strict"]);
    assert_eq!(code(&o), 1);
}

#[test]
fn compare_refuses_other_scenarios_and_warns_about_environments() {
    let base = run_dir(&two_faults());
    let other = variant(|r| r.scenario["producers"][0]["rate"] = json!(800));
    let o = aftershock(&["compare", path(&base), path(&other)]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("scenario `orders-two-faults` changed in `producers`") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    let o = aftershock(&["compare", path(&base), path(&other), "--force"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("> ⚠️ the runs are of different scenarios"), "{}", stdout(&o));

    let renamed = variant(|r| r.scenario_name = "something-else".into());
    assert_eq!(code(&aftershock(&["compare", path(&base), path(&renamed)])), 2);

    // Checks and descriptions may change between runs of one scenario.
    let rechecked = variant(|r| {
        r.scenario["checks"] = json!([]);
        r.scenario["description"] = json!("new words");
    });
    assert_eq!(code(&aftershock(&["compare", path(&base), path(&rechecked)])), 0);

    let moved = variant(|r| {
        r.environment.kafka_version = Some("4.2.0".into());
        r.environment.cpus = 8;
    });
    let o = aftershock(&["compare", path(&base), path(&moved)]);
    assert_eq!(code(&o), 0);
    let err = stderr(&o);
    assert!(
        err.contains("warning: the runs differ in environment: Kafka 4.1.0 (baseline) vs 4.2.0 (current)"),
        "{err}"
    );
    assert!(err.contains("CPUs 2 (baseline) vs 8 (current)"), "{err}");
    assert!(stdout(&o).contains("> ⚠️ the runs differ in environment: Kafka"), "{}", stdout(&o));

    // Client settings that moved (a librdkafka default, the cluster's client settings) are
    // warned about; the bootstrap list, new on every local cluster, is not.
    let retuned = variant(|r| {
        let p = &mut r.clients.producers[0];
        p.settings.insert("batch.num.messages".into(), "1000".into());
        p.settings.insert("bootstrap.servers".into(), "127.0.0.1:40001".into());
        r.clients.consumers[0].settings.insert("socket.nagle.disable".into(), "true".into());
    });
    let o = aftershock(&["compare", path(&base), path(&retuned)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the runs differ in the librdkafka settings of producer `checkout` (baseline vs current): batch.num.messages 10000 vs 1000"),
        "{err}"
    );
    assert!(err.contains("consumer `billing` (baseline vs current): socket.nagle.disable unset vs true"), "{err}");
    assert!(!err.contains("bootstrap.servers"), "{err}");
    // A baseline from before clients were recorded: nothing to compare, no warning.
    let old = {
        let mut v = serde_json::to_value(two_faults()).unwrap();
        v["schema_version"] = json!(1);
        v.as_object_mut().unwrap().remove("clients");
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("report.json"), v.to_string()).unwrap();
        d
    };
    let o = aftershock(&["compare", path(&old), path(&retuned)]);
    assert_eq!(code(&o), 0, "an old baseline still compares: {}", stderr(&o));
    assert!(!stderr(&o).contains("librdkafka settings"), "{}", stderr(&o));
}

#[test]
fn compare_matches_faults_by_id_and_reports_the_unmatched() {
    let base = run_dir(&two_faults());
    let cur = variant(|r| {
        r.faults.pop();
    });
    let o = aftershock(&["compare", path(&base), path(&cur)]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("fault `pause-follower` is only in the baseline run: not compared"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("fault pause-follower"), "{}", stdout(&o));
}
