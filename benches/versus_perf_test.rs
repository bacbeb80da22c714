//! aftershock side by side with Kafka's own ProducerPerformance and ConsumerPerformance (the
//! kafka-tools classes of the cached Kafka distribution), on one local cluster started by the
//! project's own code, with the same record size (100 B), acks (all), linger (5 ms), batch size
//! (64 KiB), idempotence (on) and partitions (6). Each tool runs as a child process; runs
//! alternate (perf-test, aftershock, perf-test, ...) and medians are quoted.
//!
//! - Max throughput: ProducerPerformance `--throughput -1` against aftershock at rate "max";
//!   ConsumerPerformance (`fetch.nMsg.sec`) against an aftershock consumer reading the same
//!   backlog (its per-second consumed counts, first and last partial seconds left out).
//!   Target: ratio at least 1.0.
//! - CPU per message at a fixed, equal rate: each tool's user + system CPU from
//!   /proc/<pid>/stat over a window inside its steady state (after start-up and JIT warm-up,
//!   before the end), divided by the messages the rate puts in that window. Consumers tail a
//!   topic that an aftershock producer feeds at the rate. Target: aftershock at most 0.5x.
//!
//! Run: `cargo bench --bench versus_perf_test`. Environment: AFTERSHOCK_BENCH_NODES (default 1),
//! AFTERSHOCK_BENCH_RATE (fixed rate, default 20000), AFTERSHOCK_BENCH_SECS (steady seconds per
//! run, default 20), AFTERSHOCK_BENCH_RUNS (runs per contender, default 3), AFTERSHOCK_BENCH_PARTS
//! (a comma list of producer-max, producer-cpu, consumer-max, consumer-cpu; default all).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aftershock::cluster::{LocalCluster, UpOptions, dist};
use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::{Value, json};

const PARTITIONS: i32 = 6;
const SIZE: usize = 100;

struct Bench {
    java: PathBuf,
    classpath: String,
    bootstrap: String,
    work: PathBuf,
    rf: i32,
    secs: u64,
    rate: u64,
    runs: usize,
    n: usize,
}

fn main() -> Result<()> {
    let nodes: usize = common::env("AFTERSHOCK_BENCH_NODES", 1);
    let work = std::env::temp_dir().join(format!("aftershock-versus-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let kafka = dist::locate_kafka(dist::DEFAULT_KAFKA_VERSION)?;
    let mut up = UpOptions::new(work.join("cluster"));
    up.nodes = nodes;
    // New consumer groups join at once instead of after the default 3 s.
    up.broker_config.insert("group.initial.rebalance.delay.ms".into(), "0".into());
    eprintln!("starting a local cluster of {nodes} node(s) in {}", up.dir.display());
    let cluster = LocalCluster::up(&up)?.stop_on_drop(true);
    let mut b = Bench {
        java: dist::java_command(),
        classpath: format!("{}/*", kafka.libs_dir.display()),
        bootstrap: cluster.bootstrap(),
        work: work.clone(),
        rf: nodes.min(3) as i32,
        secs: common::env("AFTERSHOCK_BENCH_SECS", 20),
        rate: common::env("AFTERSHOCK_BENCH_RATE", 20_000),
        runs: common::env("AFTERSHOCK_BENCH_RUNS", 3),
        n: 0,
    };
    let result = b.all();
    let _ = cluster.down(false, Duration::from_secs(30));
    let _ = std::fs::remove_dir_all(&work);
    result
}

impl Bench {
    /// Whether part `name` of the benchmark is selected by AFTERSHOCK_BENCH_PARTS (a comma list
    /// of producer-max, producer-cpu, consumer-max, consumer-cpu; all by default).
    fn part(name: &str) -> bool {
        std::env::var("AFTERSHOCK_BENCH_PARTS").map_or(true, |v| v.split(',').any(|p| p.trim() == name))
    }

    fn all(&mut self) -> Result<()> {
        create_topics(&self.bootstrap, &[("versus", self.rf), ("tail", self.rf)])?;
        println!(
            "versus perf-test: {} node(s), {PARTITIONS} partitions, RF{}, {SIZE} B, acks=all, linger 5 ms, batch 64 KiB, \
             idempotence on; {} alternating runs each; steady {} s; fixed rate {} msg/s; load average {}",
            self.rf,
            self.rf,
            self.runs,
            self.secs,
            self.rate,
            common::loadavg()
        );
        if Self::part("producer-max") {
            self.producer_max()?;
        }
        if Self::part("producer-cpu") {
            self.producer_cpu()?;
        }
        if Self::part("consumer-max") {
            if !Self::part("producer-max") {
                // The max-throughput consumers read the backlog that producer-max leaves.
                println!("  filling the backlog of topic versus (aftershock at rate max)");
                self.aftershock_producer(None)?;
            }
            self.consumer_max()?;
        }
        if Self::part("consumer-cpu") {
            self.consumer_cpu()?;
        }
        println!("  load average at the end {}", common::loadavg());
        Ok(())
    }

    fn producer_max(&mut self) -> Result<()> {
        let c =
            Comparison { run: "producer max".into(), median: "producer max", units: ("msg/s", "msg/s"), decimals: 0 };
        self.compare(c, Target::AtLeast(1.0), Self::perf_producer_max, |b| Ok(b.aftershock_producer(None)?.0))
    }

    fn producer_cpu(&mut self) -> Result<()> {
        let run = format!("producer at {} msg/s", self.rate);
        let c = Comparison { run, median: "producer CPU", units: ("us CPU/msg", "us/msg"), decimals: 2 };
        self.compare(c, Target::AtMost(0.5), Self::perf_producer_fixed, |b| Ok(b.aftershock_producer(Some(b.rate))?.1))
    }

    fn consumer_max(&mut self) -> Result<()> {
        let c =
            Comparison { run: "consumer max".into(), median: "consumer max", units: ("msg/s", "msg/s"), decimals: 0 };
        self.compare(c, Target::AtLeast(1.0), Self::perf_consumer_max, Self::aftershock_consumer_max)
    }

    fn consumer_cpu(&mut self) -> Result<()> {
        let run = format!("consumer at {} msg/s", self.rate);
        let c = Comparison { run, median: "consumer CPU", units: ("us CPU/msg", "us/msg"), decimals: 2 };
        self.compare(c, Target::AtMost(0.5), |b| b.consumer_fixed(true), |b| b.consumer_fixed(false))
    }

    /// `runs` alternating pairs (perf-test first), each printed, then both medians and the
    /// ratio aftershock / perf-test against `target`.
    fn compare(
        &mut self,
        c: Comparison,
        target: Target,
        perf_test: fn(&mut Bench) -> Result<f64>,
        aftershock: fn(&mut Bench) -> Result<f64>,
    ) -> Result<()> {
        let (d, (run_unit, unit)) = (c.decimals, c.units);
        let (mut ps, mut as_) = (Vec::new(), Vec::new());
        for i in 0..self.runs {
            let p = perf_test(self)?;
            let a = aftershock(self)?;
            println!("  {} run {i}: perf-test {p:.d$} {run_unit}, aftershock {a:.d$} {run_unit}", c.run);
            ps.push(p);
            as_.push(a);
        }
        let (p, a) = (common::median(&ps), common::median(&as_));
        let ratio = a / p;
        println!(
            "  {} median: perf-test {p:.d$} {unit}, aftershock {a:.d$} {unit}, ratio {ratio:.2} (target {}): {}",
            c.median,
            target.describe(),
            pass(target.met(ratio))
        );
        Ok(())
    }

    fn next_dir(&mut self, what: &str) -> PathBuf {
        self.n += 1;
        self.work.join(format!("{:02}-{what}", self.n))
    }

    fn java(&self, class: &str) -> Command {
        let mut c = Command::new(&self.java);
        c.arg("-cp").arg(&self.classpath).arg(format!("org.apache.kafka.tools.{class}"));
        c.stdout(Stdio::piped()).stderr(Stdio::null());
        c
    }

    fn producer_props(&self) -> Vec<String> {
        [
            format!("bootstrap.servers={}", self.bootstrap),
            "acks=all".into(),
            "linger.ms=5".into(),
            "batch.size=65536".into(),
            "enable.idempotence=true".into(),
            "compression.type=none".into(),
        ]
        .to_vec()
    }

    /// ProducerPerformance as fast as it goes: records/sec of its final line.
    fn perf_producer_max(&mut self) -> Result<f64> {
        let records = 3_000_000u64.max(self.secs * 200_000);
        let mut c = self.java("ProducerPerformance");
        c.args(["--topic", "versus", "--num-records", &records.to_string(), "--record-size", &SIZE.to_string()]);
        c.args(["--throughput", "-1", "--producer-props"]).args(self.producer_props());
        let out = c.output().context("running ProducerPerformance")?;
        parse_perf_producer(&String::from_utf8_lossy(&out.stdout))
    }

    /// ProducerPerformance at the fixed rate: CPU µs per message over its steady window.
    fn perf_producer_fixed(&mut self) -> Result<f64> {
        let records = self.rate * (self.secs + 8);
        let mut c = self.java("ProducerPerformance");
        c.args(["--topic", "versus", "--num-records", &records.to_string(), "--record-size", &SIZE.to_string()]);
        c.args(["--throughput", &self.rate.to_string(), "--producer-props"]).args(self.producer_props());
        let child = c.spawn().context("starting ProducerPerformance")?;
        let (cpu, window) = self.cpu_window(child, Duration::from_secs(6))?;
        Ok(cpu / (self.rate as f64 * window) * 1e6)
    }

    fn scenario(&self, name: &str, producers: Value, consumers: Value, phases: Value) -> Value {
        json!({
            "name": name,
            "seed": 1,
            // NB: `existing`, not `running`: a `running` cluster is opened with its lock, and the
            // consumer benchmark runs two aftershock processes at once (feed and consumer).
            "cluster": {"existing": {"bootstrap": self.bootstrap}},
            "topics": [
                {"name": "versus", "partitions": PARTITIONS, "replication_factor": self.rf},
                {"name": "tail", "partitions": PARTITIONS, "replication_factor": self.rf}
            ],
            "producers": producers,
            "consumers": consumers,
            "phases": phases,
            "drain": "5s"
        })
    }

    fn aftershock(&self, dir: &Path, scenario: &Value) -> Command {
        std::fs::create_dir_all(dir).expect("run dir");
        let file = dir.join("scenario.json");
        std::fs::write(&file, serde_json::to_string_pretty(scenario).expect("json")).expect("scenario file");
        let mut c = Command::new(env!("CARGO_BIN_EXE_aftershock"));
        c.arg("run").arg(&file).arg("--out").arg(dir.join("run")).arg("-q");
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    }

    /// aftershock's producer at `rate` (None: "max"): (ack rate of the steady phase, CPU µs per
    /// message over the steady window).
    fn aftershock_producer(&mut self, rate: Option<u64>) -> Result<(f64, f64)> {
        let dir = self.next_dir("aftershock-producer");
        let r = rate.map_or(json!("max"), |r| json!(r));
        let s = self.scenario(
            "versus-producer",
            json!([{"name": "p", "topic": "versus", "rate": r, "message_size": "100B", "acks": "all",
                    "linger": "5ms", "batch_size": "64KiB", "idempotence": true}]),
            json!([]),
            json!([{"name": "warmup", "duration": "5s"}, {"name": "steady", "duration": format!("{}s", self.secs)}]),
        );
        let child = self.aftershock(&dir, &s).spawn().context("starting aftershock")?;
        let (cpu, window) = self.cpu_window(child, Duration::from_secs(6))?;
        let report = load_report(&dir)?;
        let ack_rate = report["totals"]["ack_rate"].as_f64().context("ack_rate")?;
        let per_msg = match rate {
            Some(r) => cpu / (r as f64 * window) * 1e6,
            None => f64::NAN,
        };
        Ok((ack_rate, per_msg))
    }

    /// ConsumerPerformance over the backlog of `versus`: its fetch.nMsg.sec.
    fn perf_consumer_max(&mut self) -> Result<f64> {
        self.n += 1;
        let records = 2_000_000u64.max(self.secs * 150_000);
        let mut c = self.java("ConsumerPerformance");
        c.args(["--bootstrap-server", &self.bootstrap, "--topic", "versus", "--num-records", &records.to_string()]);
        c.args(["--group", &format!("perf-max-{}", self.n), "--timeout", "60000"]);
        let out = c.output().context("running ConsumerPerformance")?;
        parse_perf_consumer(&String::from_utf8_lossy(&out.stdout))
    }

    /// An aftershock consumer over the same backlog: consumed per second in its full seconds.
    fn aftershock_consumer_max(&mut self) -> Result<f64> {
        let dir = self.next_dir("aftershock-consumer");
        let s = self.scenario(
            "versus-consumer",
            json!([]),
            json!([{"name": format!("max-{}", self.n), "topic": "versus", "start": "earliest"}]),
            json!([{"name": "read", "duration": format!("{}s", self.secs)}]),
        );
        let status = self.aftershock(&dir, &s).status().context("running aftershock")?;
        let report = load_report(&dir).with_context(|| format!("aftershock exited with {status}"))?;
        let per_sec: Vec<f64> = report["timeseries"]
            .as_array()
            .context("timeseries")?
            .iter()
            .filter_map(|i| i["consumed"].as_f64())
            .collect();
        let first = per_sec.iter().position(|c| *c > 0.0).context("nothing consumed")?;
        let last = per_sec.iter().rposition(|c| *c > 0.0).unwrap_or(first);
        if last < first + 2 {
            bail!("too few seconds of consumption to measure a rate");
        }
        let full = &per_sec[first + 1..last];
        Ok(full.iter().sum::<f64>() / full.len() as f64)
    }

    /// A consumer tailing `tail` while an aftershock producer feeds it at the fixed rate: the
    /// consumer's CPU µs per message over its steady window.
    fn consumer_fixed(&mut self, perf_test: bool) -> Result<f64> {
        let feed_dir = self.next_dir("feed");
        let s = self.scenario(
            "versus-feed",
            json!([{"name": "feed", "topic": "tail", "rate": self.rate, "message_size": "100B", "acks": "all",
                    "linger": "5ms", "batch_size": "64KiB"}]),
            json!([]),
            json!([{"name": "warmup", "duration": "2s"}, {"name": "steady", "duration": format!("{}s", self.secs + 10)}]),
        );
        let mut feed = self.aftershock(&feed_dir, &s).spawn().context("starting the feed")?;
        std::thread::sleep(Duration::from_secs(2));
        let child = if perf_test {
            let mut c = self.java("ConsumerPerformance");
            c.args(["--bootstrap-server", &self.bootstrap, "--topic", "tail", "--from-latest"]);
            c.args(["--num-records", &(self.rate * (self.secs + 30)).to_string(), "--timeout", "5000"]);
            c.args(["--group", &format!("perf-tail-{}", self.n)]);
            c.spawn().context("starting ConsumerPerformance")?
        } else {
            let dir = self.next_dir("aftershock-tail");
            let s = self.scenario(
                "versus-tail",
                json!([]),
                json!([{"name": format!("tail-{}", self.n), "topic": "tail", "start": "latest"}]),
                json!([{"name": "read", "duration": format!("{}s", self.secs + 6)}]),
            );
            self.aftershock(&dir, &s).spawn().context("starting aftershock")?
        };
        let (cpu, window) = self.cpu_window_for(child, Duration::from_secs(6), Some(Duration::from_secs(self.secs)))?;
        let _ = feed.wait();
        Ok(cpu / (self.rate as f64 * window) * 1e6)
    }

    fn cpu_window(&self, child: Child, skip: Duration) -> Result<(f64, f64)> {
        self.cpu_window_for(child, skip, None)
    }

    /// Samples `child`'s CPU time `skip` after its start and `secs - 3 s` later, then waits for it
    /// (killing it first when `kill_after` is set, for tools that never stop on their own).
    /// Returns (CPU seconds, window seconds).
    fn cpu_window_for(&self, mut child: Child, skip: Duration, kill_after: Option<Duration>) -> Result<(f64, f64)> {
        let pid = child.id();
        let started = Instant::now();
        std::thread::sleep(skip);
        let (t0, c0) = (Instant::now(), common::cpu_of_pid(pid).context("child CPU")?);
        std::thread::sleep(Duration::from_secs(self.secs.saturating_sub(3).max(1)));
        let (t1, c1) = (Instant::now(), common::cpu_of_pid(pid).context("child CPU (ended early?)")?);
        if let Some(k) = kill_after {
            let left = (skip + k).saturating_sub(started.elapsed());
            std::thread::sleep(left);
            let _ = child.kill();
        }
        let _ = child.wait_with_output();
        Ok((c1 - c0, (t1 - t0).as_secs_f64()))
    }
}

/// How one comparison is printed: the label of each run and of the medians, their units, and
/// the decimals of the figures.
struct Comparison {
    run: String,
    median: &'static str,
    units: (&'static str, &'static str),
    decimals: usize,
}

/// What the ratio aftershock / perf-test must reach.
enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(&self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(t) => ratio >= *t,
            Target::AtMost(t) => ratio <= *t,
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {t:.1}"),
            Target::AtMost(t) => format!("<= {t:.1}"),
        }
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn load_report(dir: &Path) -> Result<Value> {
    let path = dir.join("run").join("report.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().context("admin client")?;
    let new: Vec<NewTopic> =
        topics.iter().map(|(name, rf)| NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(*rf))).collect();
    let results = futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))?;
    for r in results {
        if let Err((t, e)) = r {
            bail!("creating topic {t}: {e}");
        }
    }
    Ok(())
}

/// Records/sec from ProducerPerformance's final line
/// (`N records sent, X records/sec (Y MB/sec), ...`).
fn parse_perf_producer(out: &str) -> Result<f64> {
    let line = out.lines().rev().find(|l| l.contains("records sent")).context("no summary line from perf-test")?;
    let x = line.split(',').nth(1).and_then(|f| f.split_whitespace().next()).context("no records/sec")?;
    Ok(x.parse()?)
}

/// fetch.nMsg.sec, the last column of ConsumerPerformance's result line.
fn parse_perf_consumer(out: &str) -> Result<f64> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("start.time"));
    let header: Vec<&str> = lines.next().context("no header from ConsumerPerformance")?.split(", ").collect();
    let values: Vec<&str> = lines.next().context("no result line")?.split(", ").collect();
    let i = header.iter().position(|h| h.trim() == "fetch.nMsg.sec").context("no fetch.nMsg.sec column")?;
    Ok(values.get(i).context("short result line")?.trim().parse()?)
}
