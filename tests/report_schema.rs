//! report.json is a contract: a report built through the public API validates against the
//! checked-in JSON Schema, broken reports do not, serialization round-trips, and the sample
//! report in tests/fixtures/reports/ is what the builder makes.
//!
//! Regenerate the sample after an intended change with
//! `AFTERSHOCK_UPDATE_FIXTURES=1 cargo test --test report_schema`.

use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use aftershock::measure::{
    Aggregator, ConsumeLedger, PhaseSpec, ProduceLedger, Recorder, RunClock, WorkerId, channel, verify,
};
use aftershock::report::{
    BrokerInfo, ClientSettings, Clients, ClusterInfo, Environment, Report, RunMeta, RunOutcome, RunStatus, TopicInfo,
};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join("schemas/report.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture_path() -> PathBuf {
    root().join("tests/fixtures/reports/sample-report.json")
}

/// Every schema violation of `instance`, as `path: message` lines.
fn violations(instance: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema itself is valid");
    validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

/// A small deterministic pseudo-random sequence (xorshift), so the sample never changes with
/// a dependency's RNG.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// A synthetic run through the public API: 3 phases (warm-up, steady, a broker fault),
/// 2 producers and 1 consumer feeding recorders and ledgers, 60 messages a second.
fn build_report(outcome: RunOutcome) -> Report {
    let clock = RunClock::new(Instant::now());
    let t0 = clock.start();
    let (tx, mut rx) = channel();
    let mut agg = Aggregator::new(clock);
    let s = Duration::from_secs;
    agg.set_phases(&[
        PhaseSpec::new("warmup", s(0), s(2), false).with_target_rate(60.0),
        PhaseSpec::new("steady", s(2), s(4), true).with_target_rate(60.0),
        PhaseSpec::new("broker-kill", s(6), s(3), true).with_target_rate(60.0),
    ]);
    let producer_ids = [7_001u32, 7_002];
    let mut producers: Vec<(Recorder, ProduceLedger, u64)> = producer_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (Recorder::new(WorkerId::producer("orders", i as u32), clock, tx.clone()), ProduceLedger::new(*id), 0)
        })
        .collect();
    let mut consumer = Recorder::new(WorkerId::consumer("orders-group", 0), clock, tx);
    let mut consumed = ConsumeLedger::new(producer_ids);
    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);

    for sec in 0..9u64 {
        let fault = (6..9).contains(&sec);
        // At the start of the second: a late delivery may already have moved the consumer on.
        consumer.lag(t0 + Duration::from_millis(sec * 1000), if fault { 40 * (sec - 5) } else { 3 });
        for tick in 0..30u64 {
            let intended = t0 + Duration::from_millis(sec * 1000 + tick * 33);
            for (p, (rec, ledger, seq)) in producers.iter_mut().enumerate() {
                let gap = Duration::from_micros(20 + rng.next(400));
                rec.sent(intended, intended + gap);
                ledger.sent(*seq);
                let ack_ms = if fault { 50 + rng.next(900) } else { 2 + rng.next(8) };
                // Acks and deliveries stay within the second, as a real consumer's arrive in order.
                let acked_at = intended + Duration::from_millis(ack_ms).min(Duration::from_millis(996 - tick * 33));
                if fault && tick % 10 == 0 {
                    rec.failed(if p == 0 { "MsgTimedOut" } else { "NotEnoughReplicas" }, acked_at);
                    ledger.failed(*seq, if p == 0 { "MsgTimedOut" } else { "NotEnoughReplicas" });
                } else {
                    rec.acked(intended, acked_at);
                    ledger.acked(*seq);
                    // One acked message of the fault is lost, and one is delivered twice.
                    if !(fault && tick == 5 && p == 0) {
                        let received = acked_at + Duration::from_micros(300 + rng.next(2_000));
                        let partition = (*seq % 3) as i32;
                        consumer.consumed(received, Some(received - intended));
                        consumed.consumed(partition, producer_ids[p], *seq);
                        if fault && tick == 7 && p == 1 {
                            consumer.consumed(received, Some(received - intended));
                            consumed.consumed(partition, producer_ids[p], *seq);
                        }
                    }
                }
                *seq += 1;
            }
        }
    }
    for (rec, _, _) in &mut producers {
        rec.flush();
    }
    consumer.flush();
    while let Ok(snapshot) = rx.try_recv() {
        agg.ingest(snapshot);
    }
    // The process series, as the runner samples it once a second.
    for sec in 0..9u64 {
        agg.note_process(aftershock::measure::ProcessSample {
            sec,
            rss_bytes: (40 + sec) << 20,
            cpu_secs: 0.25 * sec as f64,
            host_busy_secs: Some(1.5 * sec as f64),
        });
    }
    let m = agg.finish_at(Duration::from_millis(9_250));
    let ledgers: Vec<ProduceLedger> = producers.into_iter().map(|(_, l, _)| l).collect();
    let verification = verify(&ledgers, &consumed);

    let environment = Environment {
        aftershock_version: env!("CARGO_PKG_VERSION").to_string(),
        librdkafka_version: "2.10.0".into(),
        kafka_version: Some("4.1.0".into()),
        hostname: "sample-host".into(),
        os: "linux 6.18.0 x86_64".into(),
        cpus: 2,
        cluster: ClusterInfo {
            bootstrap: "127.0.0.1:39001,127.0.0.1:39003,127.0.0.1:39005".into(),
            brokers: (1..=3)
                .map(|id| BrokerInfo { id, host: "127.0.0.1".into(), port: 38999 + 2 * id as u16 })
                .collect(),
            controller_id: Some(1),
            topics: vec![TopicInfo { name: "aftershock-orders".into(), partitions: 3, replication_factor: 3 }],
        },
    };
    let meta = RunMeta {
        run_id: "20260501T120000Z-sample".into(),
        scenario_name: "sample-broker-kill".into(),
        scenario: json!({
            "name": "sample-broker-kill",
            "phases": [{"name": "warmup", "duration": "2s"}, {"name": "steady", "duration": "4s"}],
            "faults": [{"type": "kill", "broker": 2, "at": "6s"}]
        }),
        started_at: UNIX_EPOCH + Duration::from_millis(1_777_636_800_000),
        ended_at: UNIX_EPOCH + Duration::from_millis(1_777_636_809_250),
        outcome,
        environment,
    };
    let mut report = Report::build(meta, &m, verification).unwrap();
    report.clients = clients();
    report
}

/// The clients' settings as a run records them (a shortened list), one secret among them.
fn clients() -> Clients {
    let settings = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Clients {
        producers: vec![ClientSettings {
            name: "orders".into(),
            settings: settings(&[
                ("acks", "-1"),
                ("batch.num.messages", "10000"),
                ("batch.size", "65536"),
                ("bootstrap.servers", "127.0.0.1:39001,127.0.0.1:39003,127.0.0.1:39005"),
                ("compression.type", "none"),
                ("enable.idempotence", "true"),
                ("linger.ms", "5"),
                ("max.in.flight", "5"),
                ("sasl.password", "<redacted>"),
            ]),
            defaults: vec!["batch.num.messages".into(), "max.in.flight".into()],
        }],
        consumers: vec![ClientSettings {
            name: "orders-group".into(),
            settings: settings(&[
                ("auto.offset.reset", "largest"),
                ("fetch.max.bytes", "52428800"),
                ("fetch.min.bytes", "1"),
                ("fetch.wait.max.ms", "500"),
                ("group.id", "aftershock-sample-orders-group"),
            ]),
            defaults: vec!["fetch.max.bytes".into(), "fetch.min.bytes".into(), "fetch.wait.max.ms".into()],
        }],
    }
}

fn sample() -> Report {
    build_report(RunOutcome::Completed)
}

#[test]
fn built_report_validates_against_the_schema() {
    for report in [sample(), build_report(RunOutcome::Aborted { reason: "interrupted (Ctrl-C)".into() })] {
        let value = serde_json::to_value(&report).unwrap();
        let errors = violations(&value);
        assert!(errors.is_empty(), "schema violations:\n{}", errors.join("\n"));
    }
}

#[test]
fn sample_has_the_expected_shape() {
    let r = sample();
    assert_eq!(r.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["warmup", "steady", "broker-kill"]);
    assert_eq!(r.timeseries.len(), 10);
    assert_eq!(r.timeseries[9].phase, None);
    assert_eq!(r.process.len(), 9, "the process series is carried into the report");
    assert_eq!(r.process[8].rss_bytes, 48 << 20);
    assert_eq!(r.totals.sent, 7 * 60, "warm-up is excluded from the totals");
    let fault = r.phase("broker-kill").unwrap();
    assert_eq!(fault.errors.values().sum::<u64>(), fault.failed);
    assert_eq!(fault.failed, 18);
    assert_eq!(fault.max_lag, Some(120));
    assert!(fault.latency.produce.p99_us > r.phase("steady").unwrap().latency.produce.p99_us);
    let v = r.verification;
    assert_eq!((v.sent, v.failed, v.lost, v.duplicates, v.unexpected), (540, 18, 3, 3, 0));
    assert_eq!(v.consumed, v.acked - v.lost + v.unacked_consumed);
    assert!(!r.generator.limited, "{:?}", r.generator);
}

/// Damages a valid report in one way.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn broken_reports_fail_validation() {
    let good = serde_json::to_value(sample()).unwrap();
    let broken: Vec<(&str, Breaker)> = vec![
        ("top-level field removed", Box::new(|v| drop(v.as_object_mut().unwrap().remove("verification")))),
        (
            "nested field removed",
            Box::new(|v| drop(v["phases"][1]["latency"]["produce"].as_object_mut().unwrap().remove("p99_us"))),
        ),
        ("wrong status", Box::new(|v| v["status"] = json!("finished"))),
        ("aborted without a reason", Box::new(|v| v["status"] = json!("aborted"))),
        ("completed with a reason", Box::new(|v| v["abort_reason"] = json!("why"))),
        ("unknown field", Box::new(|v| v["extra"] = json!(1))),
        ("negative count", Box::new(|v| v["timeseries"][0]["sent"] = json!(-1))),
        ("string count", Box::new(|v| v["verification"]["lost"] = json!("0"))),
        ("other schema version", Box::new(|v| v["schema_version"] = json!(3))),
        ("the previous schema version", Box::new(|v| v["schema_version"] = json!(1))),
        ("clients missing", Box::new(|v| drop(v.as_object_mut().unwrap().remove("clients")))),
        ("unknown client field", Box::new(|v| v["clients"]["producers"][0]["instances"] = json!(2))),
        ("a setting that is no string", Box::new(|v| v["clients"]["producers"][0]["settings"]["linger.ms"] = json!(5))),
        (
            "a client without defaults",
            Box::new(|v| drop(v["clients"]["consumers"][0].as_object_mut().unwrap().remove("defaults"))),
        ),
        ("other units", Box::new(|v| v["units"]["latency"] = json!("milliseconds"))),
        ("other encoding", Box::new(|v| v["histograms"]["encoding"] = json!("hdrhistogram-v2-base64"))),
        ("bad timestamp", Box::new(|v| v["started_at"] = json!("2026-05-01 12:00:00"))),
        ("limited without a reason", Box::new(|v| v["generator"]["limited"] = json!(true))),
    ];
    for (what, breaks) in broken {
        let mut v = good.clone();
        breaks(&mut v);
        assert!(!violations(&v).is_empty(), "{what}: the schema accepted it");
    }
    assert!(violations(&good).is_empty());
}

#[test]
fn readers_refuse_changed_reports() {
    let mut v = serde_json::to_value(sample()).unwrap();
    v["phases"][0]["surprise"] = json!(true);
    assert!(Report::from_json(&v.to_string()).is_err(), "unknown nested field accepted");
    let mut v = serde_json::to_value(sample()).unwrap();
    v.as_object_mut().unwrap().remove("totals");
    assert!(Report::from_json(&v.to_string()).is_err(), "missing field accepted");
    let mut v = serde_json::to_value(sample()).unwrap();
    v["status"] = json!("finished");
    assert!(Report::from_json(&v.to_string()).is_err(), "unknown status accepted");
}

#[test]
fn report_round_trips() {
    for report in [sample(), build_report(RunOutcome::Aborted { reason: "broker 2 never came back".into() })] {
        let text = report.to_json().unwrap();
        let back = Report::from_json(&text).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.to_json().unwrap(), text, "serialization is stable");
    }
    let aborted = build_report(RunOutcome::Aborted { reason: "x".into() });
    assert_eq!(aborted.status, RunStatus::Aborted);

    let dir = tempfile::tempdir().unwrap();
    let report = sample();
    let path = report.write_atomic(dir.path()).unwrap();
    assert_eq!(Report::load(&path).unwrap(), report);
}

#[test]
fn sample_fixture_matches_the_builder() {
    let built = sample();
    let path = fixture_path();
    if std::env::var_os("AFTERSHOCK_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, built.to_json().unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; regenerate with AFTERSHOCK_UPDATE_FIXTURES=1", path.display()));
    let errors = violations(&serde_json::from_str(&text).unwrap());
    assert!(errors.is_empty(), "the sample violates the schema:\n{}", errors.join("\n"));
    let mut fixture = Report::load(&path).unwrap();

    // Versions move on their own; histogram bytes may differ between DEFLATE implementations
    // while encoding the same histogram, so those compare decoded.
    fixture.aftershock_version = built.aftershock_version.clone();
    fixture.environment.aftershock_version = built.environment.aftershock_version.clone();
    let decoded = |r: &Report| {
        let mut sets = vec![r.histograms.total.decode().unwrap()];
        sets.extend(r.histograms.phases.iter().map(|p| p.decode().unwrap()));
        sets
    };
    assert_eq!(decoded(&fixture), decoded(&built), "histograms differ from the fixture");
    fixture.histograms = built.histograms.clone();
    assert_eq!(
        fixture, built,
        "the builder's output changed: regenerate with AFTERSHOCK_UPDATE_FIXTURES=1 if intended"
    );
}

#[test]
fn faults_are_optional_and_closed() {
    let mut v = serde_json::to_value(sample()).unwrap();
    assert_eq!(v["faults"], json!([]), "a run without faults says so");
    // Reports written before faults existed have no `faults` at all: still valid and readable.
    v.as_object_mut().unwrap().remove("faults");
    assert!(violations(&v).is_empty());
    assert!(Report::from_json(&v.to_string()).unwrap().faults.is_empty());

    v["faults"] = json!([{
        "id": "kill-leader", "name": "kill-leader", "action": "kill",
        "target": {"nodes": [2], "reason": "the leader of orders/0"},
        "start_secs": 6.0, "end_secs": 8.5,
        "recovery": {
            "first_error_secs": 0.2, "unavailable_max_secs": 1.5, "p99_recovered_secs": null,
            "throughput_recovered_secs": 2.0, "isr_recovered_secs": null, "node_registered_secs": 3.1,
            "new_controller_secs": null, "max_latency_us": 900000, "p99_latency_us": null,
            "notes": ["p99 recovered: the run ended first"]
        }
    }]);
    assert!(violations(&v).is_empty(), "{:?}", violations(&v));
    let r = Report::from_json(&v.to_string()).unwrap();
    assert_eq!(r.faults[0].recovery.unavailable_max_secs, Some(1.5));
    assert_eq!(r.faults[0].recovery.p99_recovered_secs, None);

    let broken: Vec<(&str, Breaker)> = vec![
        (
            "recovery figure missing",
            Box::new(|v| drop(v["faults"][0]["recovery"].as_object_mut().unwrap().remove("isr_recovered_secs"))),
        ),
        ("unknown fault field", Box::new(|v| v["faults"][0]["severity"] = json!("high"))),
        ("negative time", Box::new(|v| v["faults"][0]["start_secs"] = json!(-1.0))),
        ("string figure", Box::new(|v| v["faults"][0]["recovery"]["first_error_secs"] = json!("0.2s"))),
        (
            "target without reason",
            Box::new(|v| drop(v["faults"][0]["target"].as_object_mut().unwrap().remove("reason"))),
        ),
    ];
    for (what, breaks) in broken {
        let mut b = v.clone();
        breaks(&mut b);
        assert!(!violations(&b).is_empty(), "{what}: the schema accepted it");
        // serde reads an absent optional figure as null, and does not check ranges; the rest
        // the reader refuses too.
        if !matches!(what, "negative time" | "recovery figure missing") {
            assert!(Report::from_json(&b.to_string()).is_err(), "{what}: the reader accepted it");
        }
    }
}

#[test]
fn clients_carry_settings_and_version_1_reports_still_load() {
    let r = sample();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["clients"]["producers"][0]["settings"]["linger.ms"], "5");
    assert_eq!(v["clients"]["producers"][0]["settings"]["sasl.password"], "<redacted>");
    assert_eq!(v["clients"]["consumers"][0]["settings"]["fetch.wait.max.ms"], "500");

    // A report as aftershock wrote them before version 2: no `clients`. It no longer matches
    // the schema (which describes what this aftershock writes), but it still loads, so that
    // `compare` takes an old baseline and `report` re-renders an old run.
    let mut old = v.clone();
    old["schema_version"] = json!(1);
    old.as_object_mut().unwrap().remove("clients");
    assert!(!violations(&old).is_empty());
    let back = Report::from_json(&old.to_string()).unwrap();
    assert_eq!(back.schema_version, 1);
    assert!(back.clients.is_empty());
    assert_eq!(back.verification, r.verification);
    // Inside `clients`, the reader refuses an unknown field as it does anywhere else.
    let mut bad = v.clone();
    bad["clients"]["producers"][0]["surprise"] = json!(true);
    assert!(Report::from_json(&bad.to_string()).is_err());
}
