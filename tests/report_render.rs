//! The outputs people read, rendered from fixed report.json files alone: golden Markdown
//! summaries, plots that are checked pixel by pixel, and index.html opened in a headless
//! Chromium.
//!
//! `tests/fixtures/reports/two-faults-report.json` is made by [`two_faults_report`] (a
//! synthetic 73-second run with a leader kill and a paused follower, and checks);
//! regenerate it and the golden summaries after an intended change with
//! `AFTERSHOCK_UPDATE_FIXTURES=1 cargo test --test report_render`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, UNIX_EPOCH};

use aftershock::gate;
use aftershock::measure::{
    Aggregator, Counters, IntervalSnapshot, LatencyKind, PhaseSpec, RunClock, Verification, WorkerId,
};
use aftershock::render::summary::ChecksOutcome;
use aftershock::render::{self, HTML_FILE, PLOTS_DIR, SUMMARY_FILE};
use aftershock::report::{
    BrokerInfo, ClientSettings, Clients, ClusterInfo, Environment, FaultRecord, FaultTarget, Recovery, Report, RunMeta,
    RunOutcome, TopicInfo,
};
use serde_json::json;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports")
}

fn updating() -> bool {
    std::env::var_os("AFTERSHOCK_UPDATE_FIXTURES").is_some()
}

/// xorshift: a fixed pseudo-random sequence, independent of any crate's RNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.next()).ln()
    }
}

/// Everything that happens in one second of the synthetic run.
struct Second {
    sent: u64,
    acked: u64,
    failed: u64,
    consumed: u64,
    lag: u64,
    /// Produce latencies (µs) of the messages acknowledged in the second.
    produce: Vec<u64>,
}

const RATE: f64 = 400.0;
const KILL: (f64, f64) = (45.0, 55.0);
const PAUSE: (f64, f64) = (60.0, 66.0);

fn second(s: u64, rng: &mut Rng) -> Second {
    let t = s as f64;
    // Load runs from 0.5 s to 70.5 s.
    let share = (t + 1.0).min(70.5) - t.max(0.5);
    let sent = if share > 0.0 { (RATE * share).round() as u64 } else { 0 };
    let mut produce = Vec::new();
    let mut failed = 0;
    let mut acked;
    let mut lag = 3 + (rng.next() * 4.0) as u64;
    let base = |rng: &mut Rng| {
        let mut v = 1500.0 + rng.exp(1200.0);
        if rng.next() < 0.004 {
            v += 10_000.0 + rng.next() * 30_000.0;
        }
        v as u64
    };
    match s {
        // The leader dies at 45.0: nothing is acknowledged until 47.4, then the backlog drains.
        45 | 46 => {
            failed = if s == 45 { 12 } else { 8 };
            acked = 0;
            lag = if s == 45 { 400 } else { 800 };
        }
        47 => {
            failed = 0;
            // The backlog of 45 and 46 (less the failures), then this second's own messages.
            acked = 2 * 400 - 20 + sent;
            lag = 300;
            for k in 0..(2 * 400 - 20) {
                let sent_at = 45.0 + 2.4 * k as f64 / 780.0;
                produce.push(((47.4 - sent_at) * 1e6) as u64 + base(rng));
            }
            for k in 0..sent {
                let sent_at = 47.0 + k as f64 / sent as f64;
                produce.push(((47.4 - sent_at).max(0.0) * 1e6) as u64 + base(rng));
            }
        }
        _ => {
            acked = sent;
            let extra = if (48..55).contains(&s) {
                // Re-replication after the restart keeps the tail up for a while.
                12_000.0 * (55.0 - t) / 7.0
            } else if (PAUSE.0 as u64..PAUSE.1 as u64).contains(&s) {
                // A paused follower holds acks=all writes until it drops out of the ISR.
                if s < 63 { 180_000.0 } else { 40_000.0 }
            } else {
                0.0
            };
            if (PAUSE.0 as u64..63).contains(&s) {
                acked = (sent as f64 * 0.8) as u64;
                lag = 90;
            }
            if s == 63 {
                acked = sent + (sent as f64 * 0.6) as u64;
            }
            for _ in 0..acked {
                let v = base(rng) as f64 + extra * rng.next().powi(3) * 2.5;
                produce.push(v as u64);
            }
        }
    }
    if sent == 0 && acked == 0 {
        lag = 0;
    }
    let consumed = acked + if s == 47 { 14 } else { 0 };
    Second { sent, acked, failed, consumed, lag, produce }
}

/// The synthetic run behind `two-faults-report.json`.
fn two_faults_report() -> Report {
    let clock = RunClock::new(Instant::now());
    let mut agg = Aggregator::new(clock);
    let ms = Duration::from_millis;
    agg.set_phases(&[
        PhaseSpec::new("warmup", ms(500), ms(10_000), false).with_target_rate(RATE),
        PhaseSpec::new("steady", ms(10_500), ms(30_000), true).with_target_rate(RATE),
        PhaseSpec::new("faults", ms(40_500), ms(30_000), true).with_target_rate(RATE),
    ]);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut totals = Verification::default();
    for s in 0..73u64 {
        let sec = second(s, &mut rng);
        let mut p = IntervalSnapshot::new(WorkerId::producer("checkout", 0), s);
        let mut failed = BTreeMap::new();
        if sec.failed > 0 {
            failed.insert("NotLeaderOrFollower".to_string(), sec.failed);
        }
        p.counters = Counters { sent: sec.sent, acked: sec.acked, consumed: 0, failed };
        for v in &sec.produce {
            p.histogram_mut(LatencyKind::Produce).record_us(*v);
        }
        for _ in 0..sec.sent {
            p.histogram_mut(LatencyKind::SendGap).record_us(20 + (rng.next() * 300.0) as u64);
        }
        let mut c = IntervalSnapshot::new(WorkerId::consumer("billing", 0), s);
        c.counters = Counters { consumed: sec.consumed, ..Counters::default() };
        c.lag = (sec.sent > 0 || sec.acked > 0).then_some(sec.lag);
        for v in &sec.produce {
            c.histogram_mut(LatencyKind::E2e).record_us(v + 800 + rng.exp(500.0) as u64);
        }
        totals.sent += sec.sent;
        totals.acked += sec.acked;
        totals.failed += sec.failed;
        totals.consumed += sec.acked;
        agg.ingest(p);
        agg.ingest(c);
    }
    totals.duplicates = 14;
    let m = agg.finish_at(ms(73_000));

    let environment = Environment {
        aftershock_version: "0.1.0".into(),
        librdkafka_version: "2.10.0".into(),
        kafka_version: Some("4.1.0".into()),
        hostname: "ci-runner-7".into(),
        os: "linux 6.18.0 x86_64".into(),
        cpus: 2,
        cluster: ClusterInfo {
            bootstrap: "127.0.0.1:39001,127.0.0.1:39003,127.0.0.1:39005".into(),
            brokers: (1..=3)
                .map(|id| BrokerInfo { id, host: "127.0.0.1".into(), port: 38999 + 2 * id as u16 })
                .collect(),
            controller_id: Some(1),
            topics: vec![TopicInfo { name: "orders".into(), partitions: 6, replication_factor: 3 }],
        },
    };
    let scenario = json!({
        "name": "orders-two-faults",
        "description": "Steady load, then the leader of orders/0 is killed and later a follower is paused.",
        "seed": 7,
        "cluster": {"local": {"nodes": 3}},
        "topics": [{"name": "orders", "partitions": 6, "replication_factor": 3, "config": {"min.insync.replicas": 2}}],
        "producers": [{"name": "checkout", "topic": "orders", "rate": 400}],
        "consumers": [{"name": "billing", "topic": "orders"}],
        "phases": [
            {"name": "warmup", "duration": "10s"},
            {"name": "steady", "duration": "30s"},
            {"name": "faults", "duration": "30s"}
        ],
        "faults": [
            {"name": "kill-leader", "phase": "faults", "offset": "4.5s", "action": "kill",
             "target": {"leader_of": {"topic": "orders", "partition": 0}}, "duration": "10s"},
            {"name": "pause-follower", "phase": "faults", "offset": "19.5s", "action": "pause",
             "target": {"node": 3}, "duration": "6s"}
        ],
        "checks": [
            {"metric": "e2e.p99", "phase": "steady", "max": "50ms"},
            {"metric": "produce.p999", "phase": "steady", "max": "100ms"},
            {"metric": "throughput.min", "phase": "steady", "min": 380},
            {"metric": "error_rate", "max": "1%"},
            {"metric": "lost", "max": 0},
            {"metric": "duplicates", "max": 50},
            {"metric": "recovery.unavailable.max", "fault": "kill-leader", "max": "15s"},
            {"metric": "recovery.p99_recovered", "max": "10s"},
            {"metric": "recovery.rebalance", "fault": "kill-leader", "max": "10s"},
            {"metric": "recovery.unavailable.mean", "max": "2s"},
            {"metric": "recovery.lag.max", "fault": "kill-leader", "max": 1000}
        ]
    });
    let meta = RunMeta {
        run_id: "orders-two-faults-20260501T120000Z".into(),
        scenario_name: "orders-two-faults".into(),
        scenario,
        started_at: UNIX_EPOCH + Duration::from_millis(1_777_636_800_000),
        ended_at: UNIX_EPOCH + Duration::from_millis(1_777_636_873_000),
        outcome: RunOutcome::Completed,
        environment,
    };
    let mut report = Report::build(meta, &m, totals).unwrap();
    report.clients = clients();
    let partitions = |secs: [f64; 6]| secs.iter().enumerate().map(|(p, s)| (p.to_string(), *s)).collect();
    report.faults = vec![
        FaultRecord {
            id: "kill-leader".into(),
            name: "kill-leader".into(),
            action: "kill".into(),
            target: FaultTarget { nodes: vec![2], reason: "the leader of orders/0".into(), pods: vec![] },
            start_secs: KILL.0,
            end_secs: KILL.1,
            recovery: Recovery {
                first_error_secs: Some(0.3),
                unavailable_max_secs: Some(2.4),
                p99_recovered_secs: Some(4.0),
                throughput_recovered_secs: Some(3.0),
                isr_recovered_secs: Some(12.5),
                node_registered_secs: Some(10.8),
                new_controller_secs: None,
                max_latency_us: Some(2_415_103),
                p99_latency_us: Some(2_351_103),
                // Node 2 led partitions 0 and 3; the others only waited for their batches.
                unavailable_by_partition: partitions([2.4, 0.12, 0.09, 2.35, 0.11, 0.08]),
                rebalance_secs: Some(3.1),
                peak_lag: Some(800),
                notes: vec!["new controller: the killed node (2) was not the active controller".into()],
                ..Recovery::default()
            },
        },
        FaultRecord {
            id: "pause-follower".into(),
            name: "pause-follower".into(),
            action: "pause".into(),
            target: FaultTarget { nodes: vec![3], reason: "node 3".into(), pods: vec![] },
            start_secs: PAUSE.0,
            end_secs: PAUSE.1,
            recovery: Recovery {
                first_error_secs: None,
                unavailable_max_secs: Some(0.42),
                p99_recovered_secs: Some(7.5),
                throughput_recovered_secs: Some(4.0),
                isr_recovered_secs: Some(9.0),
                node_registered_secs: None,
                new_controller_secs: None,
                max_latency_us: Some(452_351),
                p99_latency_us: Some(371_199),
                // acks=all writes wait for the paused follower until it leaves the ISR.
                unavailable_by_partition: partitions([0.18, 0.42, 0.21, 0.3, 0.25, 0.19]),
                rebalance_secs: None,
                peak_lag: Some(90),
                notes: vec![
                    "first error: no delivery failed".into(),
                    "no consumer group rebalance followed the fault".into(),
                    "node registered: a paused node stays registered".into(),
                    "new controller: the paused node (3) was not the active controller".into(),
                ],
                ..Recovery::default()
            },
        },
    ];
    report
}

/// The clients of the synthetic run, as a run with the scenario's defaults records them
/// (librdkafka 2.12's defaults; a shortened list).
fn clients() -> Clients {
    let settings = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Clients {
        producers: vec![ClientSettings {
            name: "checkout".into(),
            settings: settings(&[
                ("acks", "-1"),
                ("batch.num.messages", "10000"),
                ("batch.size", "65536"),
                ("bootstrap.servers", "127.0.0.1:39001,127.0.0.1:39003,127.0.0.1:39005"),
                ("compression.type", "none"),
                ("enable.idempotence", "true"),
                ("linger.ms", "5"),
                ("max.in.flight", "5"),
                ("message.timeout.ms", "300000"),
                ("queue.buffering.max.kbytes", "65536"),
                ("retries", "2147483647"),
            ]),
            defaults: ["batch.num.messages", "max.in.flight", "message.timeout.ms", "retries"]
                .map(String::from)
                .to_vec(),
        }],
        consumers: vec![ClientSettings {
            name: "billing".into(),
            settings: settings(&[
                ("auto.offset.reset", "largest"),
                ("bootstrap.servers", "127.0.0.1:39001,127.0.0.1:39003,127.0.0.1:39005"),
                ("fetch.max.bytes", "52428800"),
                ("fetch.min.bytes", "1"),
                ("fetch.queue.backoff.ms", "10"),
                ("fetch.wait.max.ms", "500"),
                ("group.id", "aftershock-orders-two-faults-billing"),
                ("isolation.level", "read_committed"),
                ("max.partition.fetch.bytes", "1048576"),
                ("queued.max.messages.kbytes", "16384"),
                ("statistics.interval.ms", "1000"),
            ]),
            defaults: [
                "fetch.max.bytes",
                "fetch.min.bytes",
                "fetch.wait.max.ms",
                "isolation.level",
                "max.partition.fetch.bytes",
            ]
            .map(String::from)
            .to_vec(),
        }],
    }
}

fn two_faults_path() -> PathBuf {
    fixtures().join("two-faults-report.json")
}

/// The two-faults fixture, regenerated first when updating fixtures.
fn two_faults() -> Report {
    let path = two_faults_path();
    if updating() {
        std::fs::write(&path, two_faults_report().to_json().unwrap() + "\n").unwrap();
    }
    Report::load(&path).unwrap_or_else(|e| panic!("{e}; regenerate with AFTERSHOCK_UPDATE_FIXTURES=1"))
}

fn sample() -> Report {
    Report::load(&fixtures().join("sample-report.json")).unwrap()
}

fn checks(report: &Report) -> ChecksOutcome {
    gate::checks_of(report).map(|c| gate::evaluate(&c, report))
}

/// Renders `report` into a fresh run dir under `name` in Cargo's test scratch space (kept
/// after the run, to look at).
fn render_into(name: &str, report: &Report) -> (PathBuf, render::Rendered) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_render").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = render::render(report, &checks(report), &dir).unwrap();
    (dir, out)
}

/// Each fixture is rendered once and shared by the tests (rendering takes a few seconds
/// in a debug build).
fn rendered(which: &str) -> &'static (PathBuf, render::Rendered) {
    static TWO: OnceLock<(PathBuf, render::Rendered)> = OnceLock::new();
    static SAMPLE: OnceLock<(PathBuf, render::Rendered)> = OnceLock::new();
    match which {
        "two-faults" => TWO.get_or_init(|| render_into("two-faults", &two_faults())),
        _ => SAMPLE.get_or_init(|| render_into("sample", &sample())),
    }
}

#[test]
fn fixture_matches_its_builder() {
    let built = two_faults_report();
    let mut fixture = two_faults();
    // Histogram bytes may differ between DEFLATE implementations for the same histogram.
    let decoded = |r: &Report| r.histograms.phases.iter().map(|p| p.decode().unwrap()).collect::<Vec<_>>();
    assert_eq!(decoded(&fixture), decoded(&built));
    fixture.histograms = built.histograms.clone();
    assert_eq!(fixture, built, "regenerate with AFTERSHOCK_UPDATE_FIXTURES=1 if the change is intended");
    // It is a report like any other: it validates against the schema.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("../../../schemas/report.schema.json")).unwrap())
            .unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    let instance = serde_json::to_value(&built).unwrap();
    let errors: Vec<String> = v.iter_errors(&instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And its embedded scenario is a valid scenario file.
    let text = serde_json::to_string_pretty(&built.scenario).unwrap();
    let s = aftershock::scenario::parse_str(&text, "embedded.json").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(s.checks.len(), 11);
}

#[test]
fn fixture_has_the_intended_shape() {
    let r = two_faults();
    assert_eq!(r.timeseries.len(), 73);
    assert_eq!(r.faults.len(), 2);
    let steady = r.phase("steady").unwrap();
    assert!(steady.latency.produce.count >= 10_000, "p99.9 of steady is conclusive");
    let faults = r.phase("faults").unwrap();
    assert!(faults.latency.produce.max_us > 2_000_000);
    assert_eq!(r.timeseries[45].acked, 0);
    assert_eq!(r.timeseries[46].acked, 0);
    let results = checks(&r).unwrap();
    assert!(gate::all_passed(&results), "{}", gate::text_table(&results));
}

/// Compares `text` with the golden file `name`, or rewrites it when updating fixtures.
fn golden(name: &str, text: &str) {
    let path = fixtures().join(name);
    if updating() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; regenerate with AFTERSHOCK_UPDATE_FIXTURES=1", path.display()));
    if want != text {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1))
            .collect();
        panic!("{name} changed (regenerate with AFTERSHOCK_UPDATE_FIXTURES=1 if intended):\n{}", diff.join("\n"));
    }
}

#[test]
fn golden_summaries() {
    let (dir, out) = rendered("two-faults");
    assert_eq!(out.summary, dir.join(SUMMARY_FILE));
    let text = std::fs::read_to_string(&out.summary).unwrap();
    golden("two-faults-summary.md", &text);
    for needle in [
        "# aftershock report: orders-two-faults",
        "**All checks passed**: 13 passed.",
        "| `kill-leader` | kill node 2 (the leader of orders/0) | 45.0 s to 55.0 s (10.0 s) |",
        "| `kill-leader` | 2.40 s | 0.86 s | 2.40 s | 0.12 s | 0.09 s | 2.35 s | 0.11 s | 0.08 s |",
        "| ✅ pass | `recovery.rebalance` | fault kill-leader | max 10.0 s | 3.10 s |",
        "| ✅ pass | `recovery.lag.max` | fault kill-leader | max 1000 | 800 |",
        "| producer | linger | batch size | batch messages | acks | idempotence | compression | in flight |",
        "| `checkout` | 5 ms | 65536 | 10000 | all | true | none | 5 |",
        "| `billing` | 1 | 500 ms | 52428800 | 1048576 | latest | read_committed |",
        "- `kill-leader`: new controller: the killed node (2) was not the active controller",
        "![Latency over time](plots/latency.png)",
    ] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }

    let (_, out) = rendered("sample");
    let text = std::fs::read_to_string(&out.summary).unwrap();
    golden("sample-summary.md", &text);
    assert!(text.contains("No faults in this run."));
    assert!(text.contains("No checks in this scenario."));
    assert!(text.contains("**3 acknowledged messages were lost**"));
}

/// A decoded PNG: width, height and RGB pixels.
struct Image {
    w: usize,
    h: usize,
    rgb: Vec<[u8; 3]>,
}

impl Image {
    fn load(path: &Path) -> Image {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let rgb = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
        Image { w: info.width as usize, h: info.height as usize, rgb }
    }

    fn px(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.w + x]
    }

    /// Pixels within `tol` of `color` in the rectangle.
    fn count_near(&self, color: [u8; 3], tol: u8, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                let p = self.px(x, y);
                if (0..3).all(|i| p[i].abs_diff(color[i]) <= tol) {
                    n += 1;
                }
            }
        }
        n
    }

    fn all(&self) -> (usize, usize, usize, usize) {
        (0, 0, self.w, self.h)
    }

    /// Dark pixels (text, axes) in the rectangle.
    fn dark(&self, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> usize {
        let mut n = 0;
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                if self.px(x, y).iter().all(|c| *c < 90) {
                    n += 1;
                }
            }
        }
        n
    }

    fn distinct_colors(&self) -> usize {
        let mut v: Vec<[u8; 3]> = self.rgb.clone();
        v.sort_unstable();
        v.dedup();
        v.len()
    }
}

const ORANGE: [u8; 3] = [255, 127, 14];
const BLUE: [u8; 3] = [31, 119, 180];
const GREEN: [u8; 3] = [44, 160, 44];
const RED: [u8; 3] = [214, 39, 40];
const OLIVE: [u8; 3] = [188, 189, 34];
/// The fault band: amber at 22% over white.
const BAND: [u8; 3] = [255, 236, 212];

#[test]
fn plots_are_drawn_not_just_written() {
    let (dir, out) = rendered("two-faults");
    let names: Vec<&str> = out.plots.iter().map(|p| p.name).collect();
    assert_eq!(names, ["latency", "throughput", "percentiles", "recovery"]);
    for p in &out.plots {
        assert!(p.png.starts_with(dir.join(PLOTS_DIR)));
        let svg = std::fs::read_to_string(&p.svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{}", p.svg.display());
        assert!(svg.contains(p.title), "the SVG has its title as text: {}", p.name);
        let img = Image::load(&p.png);
        assert_eq!((img.w, img.h), if matches!(p.name, "latency" | "percentiles") { (1280, 860) } else { (1280, 520) });
        assert!(img.distinct_colors() > 40, "{}: {} colors", p.name, img.distinct_colors());
        // The title is text: dark pixels across the top band, centred.
        assert!(img.dark((300, 0, 980, 40)) > 300, "{}: no title text", p.name);
        // Axis labels: dark pixels in the left label area.
        assert!(img.dark((0, 60, 110, img.h - 60)) > 300, "{}: no y-axis labels", p.name);
        let white = img.count_near([255, 255, 255], 0, img.all());
        assert!(white < img.w * img.h * 97 / 100, "{}: almost blank", p.name);
    }
    let plot = |name: &str| Image::load(&out.plots.iter().find(|p| p.name == name).unwrap().png);

    let lat = plot("latency");
    assert!(lat.count_near(ORANGE, 10, lat.all()) > 2000, "p99 lines");
    assert!(lat.count_near(BLUE, 10, lat.all()) > 2000, "p50 lines");
    // Both faults are shaded in both panels: the band color appears in tall runs.
    let band = lat.count_near(BAND, 6, lat.all());
    assert!(band > 40_000, "fault bands: {band} px");
    // The kill is at 45 s of a 73 s axis: the band's column, mid-height of the top panel, is shaded.
    let col = (110.0 + (1280.0 - 110.0 - 36.0) * 50.0 / 73.0) as usize;
    assert!(lat.count_near(BAND, 6, (col - 5, 120, col + 5, 380)) > 100, "no band around x={col}");
    // The p99 of the kill reaches seconds: orange pixels in the upper part of the top panel.
    assert!(lat.count_near(ORANGE, 10, (0, 60, 1280, 200)) > 10, "p99 spike");

    let thr = plot("throughput");
    assert!(thr.count_near(GREEN, 10, thr.all()) > 1000, "acked line");
    assert!(thr.count_near(RED, 40, thr.all()) > 200, "error bars");
    assert!(thr.count_near(BAND, 6, thr.all()) > 20_000, "fault bands");

    let pct = plot("percentiles");
    // One curve per phase, in the palette's first three colors.
    for c in [BLUE, ORANGE, GREEN] {
        assert!(pct.count_near(c, 10, pct.all()) > 800, "curve {c:?}");
    }

    let rec = plot("recovery");
    // Bars of several figures in the palette colors.
    assert!(rec.count_near(BLUE, 5, rec.all()) > 500, "first-error bar");
    assert!(rec.count_near(ORANGE, 5, rec.all()) > 500, "unavailable bar");
    assert!(rec.count_near(OLIVE, 5, rec.all()) > 500, "rebalance bar");
}

#[test]
fn each_partitions_unavailability_is_marked_on_the_recovery_plot() {
    let (_, out) = rendered("two-faults");
    let with = Image::load(&out.plots.iter().find(|p| p.name == "recovery").unwrap().png);
    let mut r = two_faults();
    for f in &mut r.faults {
        f.recovery.unavailable_by_partition.clear();
    }
    let (_, out) = render_into("two-faults-no-partitions", &r);
    let without = Image::load(&out.plots.iter().find(|p| p.name == "recovery").unwrap().png);
    // The chart, left of the legend: one black tick per partition and fault.
    let chart = (110, 40, 1280 - 215, 470);
    let (a, b) = (with.dark(chart), without.dark(chart));
    assert!(a > b + 300, "no partition ticks: {a} dark pixels with them, {b} without");
    let text = std::fs::read_to_string(&out.summary).unwrap();
    assert!(!text.contains("Unavailability per partition"), "{text}");
    assert!(
        text.contains("| ⚠️ NO DATA | `recovery.unavailable.mean` | fault kill-leader | max 2.00 s | - (no per-partition unavailability in this report) |"),
        "{text}"
    );
}

#[test]
fn a_version_1_report_renders_without_clients() {
    let mut v = serde_json::to_value(two_faults()).unwrap();
    v["schema_version"] = json!(1);
    v.as_object_mut().unwrap().remove("clients");
    let r = Report::from_json(&v.to_string()).unwrap();
    let (dir, out) = render_into("two-faults-v1", &r);
    let text = std::fs::read_to_string(&out.summary).unwrap();
    assert!(
        text.contains(
            "The clients' settings are not in this report (schema version 1: they are recorded from version 2 on)."
        ),
        "{text}"
    );
    assert!(!text.contains("| producer |"), "{text}");
    let html = std::fs::read_to_string(dir.join(HTML_FILE)).unwrap();
    assert!(html.contains("(schema version 1)"), "the page says which version it read");
}

#[test]
fn a_run_without_faults_says_so() {
    let (_, out) = rendered("sample");
    let rec = Image::load(&out.plots.iter().find(|p| p.name == "recovery").unwrap().png);
    // The note sits in the middle; no bars anywhere.
    let grey_text = rec.count_near([110, 110, 110], 40, (440, 200, 840, 320));
    assert!(grey_text > 200, "no 'no faults in this run' note: {grey_text}");
    assert_eq!(rec.count_near(BLUE, 5, rec.all()), 0, "no bars without faults");
    let svg = std::fs::read_to_string(&out.plots.iter().find(|p| p.name == "recovery").unwrap().svg).unwrap();
    assert!(svg.contains("no faults in this run"));
    let lat = Image::load(&out.plots.iter().find(|p| p.name == "latency").unwrap().png);
    assert_eq!(lat.count_near(BAND, 3, lat.all()), 0, "no fault bands without faults");
}

/// Headless Chromium, as Debian installs it.
fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(c).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("this test needs a headless Chromium: `apt-get install chromium` (.ci/run installs it)");
}

#[test]
fn index_html_is_self_contained_and_renders_in_chromium() {
    let (dir, out) = rendered("two-faults");
    let html = std::fs::read_to_string(&out.html).unwrap();
    assert_eq!(out.html, dir.join(HTML_FILE));
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 4, "every plot inline");
    for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(!html.contains(external), "index.html refers to something outside itself: {external}");
    }
    // Moved alone elsewhere, it is still complete.
    let alone = tempfile::tempdir().unwrap();
    let page = alone.path().join("page.html");
    std::fs::copy(&out.html, &page).unwrap();

    let profile = tempfile::tempdir().unwrap();
    let shot = alone.path().join("shot.png");
    let status = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1400,3400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(status.status.success() && shot.exists(), "chromium failed: {}", String::from_utf8_lossy(&status.stderr));
    let img = Image::load(&shot);
    assert_eq!((img.w, img.h), (1400, 3400));
    // Text and tables at the top, the (inline) latency plot further down: its p99 orange and
    // the fault bands only exist if the images were decoded.
    assert!(img.dark((0, 0, 1400, 300)) > 2000, "no heading text");
    assert!(img.count_near(ORANGE, 12, img.all()) > 1000, "the inline plots did not render");
    assert!(img.count_near(BAND, 6, img.all()) > 10_000, "no fault bands in the page");
}

#[test]
fn degenerate_reports_still_render() {
    // An aborted run with no seconds recorded, and a fault without a single figure.
    let mut r = sample();
    r.timeseries.clear();
    r.faults = vec![FaultRecord {
        id: "kill-controller".into(),
        name: "kill-controller".into(),
        action: "kill".into(),
        target: FaultTarget { nodes: vec![], reason: "the controller could not be resolved".into(), pods: vec![] },
        start_secs: 3.0,
        end_secs: 3.0,
        recovery: Recovery { notes: vec!["the run ended before the fault".into()], ..Recovery::default() },
    }];
    let dir = tempfile::tempdir().unwrap();
    let out = render::render(&r, &checks(&r), dir.path()).unwrap();
    assert_eq!(out.plots.len(), 4);
    let text = std::fs::read_to_string(&out.summary).unwrap();
    assert!(text.contains("| `kill-controller` | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"), "{text}");
    assert!(!text.contains("Unavailability per partition"), "no per-partition table without figures: {text}");
    let rec = Image::load(&out.plots.iter().find(|p| p.name == "recovery").unwrap().png);
    assert!(rec.dark((300, 0, 980, 40)) > 300, "the recovery plot still has its title");
}
