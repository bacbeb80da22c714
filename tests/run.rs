//! `aftershock run` against real Kafka clusters: accounting checked independently of the
//! ledger, a planted anomaly the verifier must flag, rate accuracy, aborts, a local cluster.

mod common;
use common::validate_against_schema;
use std::path::Path;
use std::time::Duration;

use aftershock::cluster::{LocalCluster, UpOptions};
use aftershock::report::{Report, RunStatus};
use aftershock::runner::{Progress, RunOptions, run_scenario};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;

fn existing_scenario(name: &str, bootstrap: &str, topic: &str, rate: u32, steady: &str) -> serde_json::Value {
    json!({
        "name": name,
        "seed": 3,
        "cluster": { "existing": { "bootstrap": bootstrap } },
        "topics": [{ "name": topic, "partitions": 6, "replication_factor": 3, "config": { "min.insync.replicas": "2" } }],
        "producers": [{ "name": "p", "topic": topic, "rate": rate, "message_size": "256B" }],
        "consumers": [{ "name": "c", "topic": topic }],
        "phases": [{ "name": "warmup", "duration": "3s" }, { "name": "steady", "duration": steady }],
        "drain": "20s"
    })
}

fn load(v: &serde_json::Value) -> aftershock::scenario::Scenario {
    aftershock::scenario::parse_str(&v.to_string(), "test.json")
        .unwrap_or_else(|d| panic!("test scenario invalid:\n{d}"))
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        out: Some(dir.to_path_buf()),
        reports_root: dir.to_path_buf(),
        progress: Progress::None,
        kube_context: None,
    }
}

/// Sum of the end offsets of every partition: what is really in the topic.
fn messages_in_topic(bootstrap: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    md.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10)).unwrap();
            high - low
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_on_a_real_cluster_count_rate_and_anomalies() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = tokio::task::spawn_blocking({
        let dir = tmp.path().join("cluster");
        move || LocalCluster::up(&UpOptions::new(dir)).map(|c| c.stop_on_drop(true))
    })
    .await
    .unwrap()
    .expect("cluster up");
    let bootstrap = cluster.bootstrap();

    // 1. A clean run: the ledger's `acked` equals what the topic really holds (end offsets),
    //    nothing lost or duplicated, and the steady phase holds its target rate within 2%.
    let run_dir = tmp.path().join("clean");
    let s = load(&existing_scenario("clean", &bootstrap, "clean", 2000, "10s"));
    let result = run_scenario(s, opts(&run_dir), std::future::pending()).await.expect("run");
    let rep = &result.report;
    assert_eq!(rep.status, RunStatus::Completed, "{:?}", rep.abort_reason);
    let v = &rep.verification;
    assert!(v.sent > 20_000, "{v:?}");
    let in_topic = tokio::task::spawn_blocking({
        let b = bootstrap.clone();
        move || messages_in_topic(&b, "clean")
    })
    .await
    .unwrap();
    assert_eq!(v.acked as i64, in_topic, "acked must equal the messages in the topic: {v:?}");
    assert_eq!((v.lost, v.duplicates, v.failed, v.unexpected), (0, 0, 0, 0), "{v:?}");
    assert_eq!(v.consumed, v.acked, "{v:?}");
    let steady = rep.phase("steady").expect("steady phase");
    let err = (steady.send_rate - 2000.0).abs() / 2000.0;
    assert!(
        err <= 0.02,
        "steady send rate {} is more than 2% off 2000/s; phases {:#?}\nseconds {:#?}",
        steady.send_rate,
        rep.phases,
        rep.timeseries.iter().map(|i| (i.sec, i.phase.clone(), i.sent, i.acked)).collect::<Vec<_>>()
    );
    assert!(steady.latency.produce.count > 0 && steady.latency.e2e.count > 0);
    assert_eq!(result.outcome, aftershock::Outcome::Ok);
    let path = run_dir.join("report.json");
    validate_against_schema(&path);
    assert_eq!(&Report::load(&path).expect("report loads"), rep);
    // The clients' librdkafka settings as in force: the scenario's defaults (linger 5 ms,
    // batch 64 KiB, acks all with idempotence), librdkafka's adjustment (5 requests in flight
    // under idempotence), aftershock's consumer settings and librdkafka's defaults.
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(file["schema_version"], 2);
    let producer = &file["clients"]["producers"][0];
    assert_eq!(producer["name"], "p", "{producer}");
    for (key, want) in [
        ("linger.ms", "5"),
        ("batch.size", "65536"),
        ("acks", "-1"),
        ("enable.idempotence", "true"),
        ("compression.type", "none"),
        ("max.in.flight", "5"),
    ] {
        assert_eq!(producer["settings"][key], want, "{key}: {producer}");
    }
    assert!(producer["settings"]["batch.num.messages"].is_string(), "librdkafka's default: {producer}");
    assert!(producer["defaults"].as_array().unwrap().contains(&json!("batch.num.messages")), "{producer}");
    assert!(!producer["defaults"].as_array().unwrap().contains(&json!("linger.ms")), "{producer}");
    let consumer = &file["clients"]["consumers"][0];
    assert_eq!(consumer["name"], "c", "{consumer}");
    assert_eq!(consumer["settings"]["fetch.queue.backoff.ms"], "10", "aftershock's own: {consumer}");
    for key in
        ["fetch.min.bytes", "fetch.wait.max.ms", "fetch.max.bytes", "max.partition.fetch.bytes", "isolation.level"]
    {
        assert!(consumer["settings"][key].is_string(), "{key}: {consumer}");
    }
    let checks = aftershock::gate::checks_of(rep).map(|c| aftershock::gate::evaluate(&c, rep));
    let rendered = aftershock::render::render(rep, &checks, &run_dir).expect("renders");
    let summary = std::fs::read_to_string(&rendered.summary).unwrap();
    assert!(summary.contains("| `p` | 5 ms | 65536 |"), "the producer's settings in the summary:\n{summary}");

    // 2. A planted anomaly: during the run, a second producer re-sends messages of the run
    //    with their numbers (a producer reusing ids). The verifier must count them as duplicates.
    let run_dir = tmp.path().join("anomaly");
    let s = load(&existing_scenario("anomaly", &bootstrap, "anomaly", 500, "8s"));
    let run = tokio::spawn(run_scenario(s, opts(&run_dir), std::future::pending()));
    let replayed = tokio::task::spawn_blocking({
        let b = bootstrap.clone();
        move || replay_some(&b, "anomaly", 200)
    })
    .await
    .unwrap();
    let result = run.await.unwrap().expect("run");
    let v = &result.report.verification;
    assert_eq!(replayed, 200);
    assert_eq!(v.duplicates, 200, "every replayed message is a duplicate: {v:?}");
    assert_eq!(v.lost, 0, "{v:?}");

    // 3. A consumer-only run over that topic (written by the run above, the replayer and now a
    //    foreign writer): it verifies the ids it finds, so the replays are still duplicates,
    //    only the foreign payloads are unexpected, and every distinct numbered message counts.
    let foreign = tokio::task::spawn_blocking({
        let b = bootstrap.clone();
        move || {
            let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &b).create().unwrap();
            for i in 0..3 {
                p.send(BaseRecord::<(), _>::to("anomaly").payload(&format!("not aftershock {i}"))).unwrap();
            }
            p.flush(Duration::from_secs(20)).unwrap();
            messages_in_topic(&b, "anomaly")
        }
    })
    .await
    .unwrap();
    let mut reader = existing_scenario("reader", &bootstrap, "anomaly", 500, "5s");
    reader["producers"] = json!([]);
    reader["consumers"] = json!([{ "name": "reader", "topic": "anomaly", "start": "earliest" }]);
    reader["phases"] = json!([{ "name": "read", "duration": "5s" }]);
    let result =
        run_scenario(load(&reader), opts(&tmp.path().join("reader")), std::future::pending()).await.expect("run");
    let r = &result.report.verification;
    assert_eq!((r.duplicates, r.unexpected, r.lost, r.sent), (200, 3, 0, 0), "{r:?}");
    assert_eq!(r.consumed as i64, foreign - 200 - 3, "distinct numbered messages in the topic: {r:?}");
    assert_eq!(r.consumed, v.consumed, "the same messages the writing run's own consumers read: {r:?} {v:?}");

    drop(cluster);
}

/// Reads `n` messages of the run from the topic and produces them again, byte for byte.
fn replay_some(bootstrap: &str, topic: &str, n: usize) -> usize {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "replayer")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The topic appears once the run has created it.
    loop {
        if c.fetch_metadata(Some(topic), Duration::from_secs(5))
            .is_ok_and(|m| m.topics().iter().any(|t| t.error().is_none() && !t.partitions().is_empty()))
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "topic never appeared");
        std::thread::sleep(Duration::from_millis(200));
    }
    c.subscribe(&[topic]).unwrap();
    let mut msgs: Vec<(i32, Vec<u8>)> = Vec::new();
    while msgs.len() < n {
        assert!(std::time::Instant::now() < deadline, "could not read {n} messages");
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200))
            && aftershock::load::payload::decode(m.payload().unwrap_or_default()).is_some()
        {
            msgs.push((m.partition(), m.payload().unwrap().to_vec()));
        }
    }
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).set("acks", "all").create().unwrap();
    for (partition, payload) in &msgs {
        p.send(BaseRecord::<(), _>::to(topic).partition(*partition).payload(payload)).unwrap();
    }
    p.flush(Duration::from_secs(20)).unwrap();
    msgs.len()
}
