//! The report: the versioned `report.json` contract, the builder that makes it from the
//! [`Measurements`](crate::measure::Measurements), and its atomic writer and loader.
//!
//! The report is a contract (style rule 10): text summaries, plots, the gate and baseline
//! comparisons all read [`Report`], never the measurements. `schemas/report.schema.json`
//! describes it precisely and `tests/report_schema.rs` checks the two agree. Any change to
//! the shape bumps [`SCHEMA_VERSION`]; every struct denies unknown fields on reading, so an
//! old reader refuses a newer report instead of misreading it. Older versions, back to
//! [`OLDEST_READABLE_VERSION`], still load, what they lack empty (so that `compare` takes a
//! baseline from before the change and `report` re-renders an old run):
//!
//! | version | what changed |
//! |---|---|
//! | 1 | the first |
//! | 2 | `clients`: each producer's and consumer's librdkafka settings |
//!
//! Units are stated in the report itself ([`Units`]): latencies in microseconds, rates in
//! messages per second, times in seconds since the run start.
//!
//! # Outputs read from the report alone
//! Elsewhere, above this module: [`crate::render`] (`summary.md`, `index.html`, the plots,
//! JUnit XML) and [`crate::gate`] (the checks, and [`compare`](crate::gate::compare) against
//! a baseline). This module imports neither.
//!
//! [`faults`] defines the faults section, [`clients`] the clients' settings, [`generator`]
//! the generator's self-check.

pub mod clients;
pub mod faults;
pub mod generator;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::measure::histogram::{self, HistogramError, LatencyHistogram, LatencySummary, round_to};
use crate::measure::{Counters, LatencySet, Measurements, ProcessSample, Verification};
use crate::vocab::latency::LatencyKind;
pub use clients::{ClientSettings, Clients};
pub use faults::{FaultRecord, FaultTarget, Recovery, RecoveryFigure};

/// Version of the report format written by this aftershock.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest version this aftershock still reads (see the module docs for the differences).
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// File name of the report inside a run's output dir.
pub const REPORT_FILE: &str = "report.json";
/// The histogram encoding named in [`Histograms::encoding`].
pub const HISTOGRAM_ENCODING: &str = histogram::ENCODING;

/// Why a report could not be built, written or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report file cannot be read.
    #[error("cannot read report {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a report of this schema version (with line and column).
    #[error("{path} is not a valid aftershock report (schema version {SCHEMA_VERSION}): {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The report was written by an aftershock with a schema version this one cannot read.
    #[error(
        "{path} has report schema_version {found}, but this aftershock reads versions {OLDEST_READABLE_VERSION} to {SCHEMA_VERSION}"
    )]
    Version { path: PathBuf, found: String },
    /// A histogram could not be encoded or decoded.
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    /// The report could not be turned into JSON.
    #[error("cannot serialize the report: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The report could not be written.
    #[error(transparent)]
    Write(#[from] crate::Error),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every phase ran.
    Completed,
    /// The run stopped early (Ctrl-C, a fatal error); see `abort_reason`.
    Aborted,
}

/// How a run ended, for the builder: an abort always has a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Aborted { reason: String },
}

/// The whole report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer (an older one for a report read from an older file).
    pub schema_version: u32,
    pub aftershock_version: String,
    pub status: RunStatus,
    /// Why the run was aborted; `None` when it completed.
    pub abort_reason: Option<String>,
    pub run_id: String,
    pub scenario_name: String,
    /// RFC 3339 UTC wall-clock time of the run start, millisecond precision.
    pub started_at: String,
    /// RFC 3339 UTC wall-clock time of the run end.
    pub ended_at: String,
    /// Run length on the monotonic clock.
    pub duration_secs: f64,
    /// The scenario as run.
    pub scenario: serde_json::Value,
    pub environment: Environment,
    /// Each producer's and consumer's librdkafka settings as in force; empty in reports of
    /// schema version 1.
    #[serde(default)]
    pub clients: Clients,
    pub units: Units,
    /// Every planned phase in order, including warm-up and phases an abort never reached.
    pub phases: Vec<PhaseStats>,
    /// The measured phases together (warm-up excluded).
    pub totals: Totals,
    /// One entry per second of the run, warm-up included.
    pub timeseries: Vec<Interval>,
    pub histograms: Histograms,
    pub generator: GeneratorCheck,
    pub verification: Verification,
    /// The faults injected during the run, in the order they fired; empty without faults
    /// (and in reports written before faults existed).
    #[serde(default)]
    pub faults: Vec<FaultRecord>,
    /// The aftershock process once a second: resident memory and CPU time, to show that the
    /// generator stayed flat over a long run. Left out when not sampled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process: Vec<ProcessSample>,
}

/// Where the run ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub aftershock_version: String,
    pub librdkafka_version: String,
    /// Broker version, when known (a local cluster knows it; a remote one may not say).
    pub kafka_version: Option<String>,
    pub hostname: String,
    /// Operating system, kernel release and architecture, e.g. `linux 6.18.0 x86_64`.
    pub os: String,
    /// CPUs available to aftershock.
    pub cpus: u32,
    pub cluster: ClusterInfo,
}

/// The cluster under test.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterInfo {
    pub bootstrap: String,
    pub brokers: Vec<BrokerInfo>,
    /// Active controller's node id, when known.
    pub controller_id: Option<i32>,
    pub topics: Vec<TopicInfo>,
}

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// One topic the run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
}

/// The units of every number in the report, stated so readers need not guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Units {
    pub latency: String,
    pub rate: String,
    pub time: String,
}

impl Default for Units {
    fn default() -> Self {
        Units {
            latency: "microseconds".into(),
            rate: "messages per second".into(),
            time: "seconds since run start".into(),
        }
    }
}

/// The three latency summaries of a phase or of the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseLatency {
    /// Ack latency from the intended send time.
    pub produce: LatencySummary,
    /// Producer timestamp to consumer receive.
    pub e2e: LatencySummary,
    /// Actual minus intended send time.
    pub send_gap: LatencySummary,
}

impl PhaseLatency {
    fn of(set: &LatencySet) -> PhaseLatency {
        PhaseLatency { produce: set.produce.summary(), e2e: set.e2e.summary(), send_gap: set.send_gap.summary() }
    }

    /// The summary of `kind`.
    pub fn get(&self, kind: LatencyKind) -> &LatencySummary {
        match kind {
            LatencyKind::Produce => &self.produce,
            LatencyKind::SendGap => &self.send_gap,
            LatencyKind::E2e => &self.e2e,
        }
    }
}

/// What happened in one phase. Counts are of the seconds attributed to the phase (the
/// phase holding a second's midpoint); rates divide them by `duration_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseStats {
    pub name: String,
    /// False for warm-up: excluded from `totals`.
    pub measured: bool,
    pub start_secs: f64,
    /// How long the phase ran: `planned_duration_secs`, or less when the run was aborted.
    pub duration_secs: f64,
    pub planned_duration_secs: f64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Deliveries to consumers, duplicates included.
    pub consumed: u64,
    pub send_rate: f64,
    pub ack_rate: f64,
    pub consume_rate: f64,
    /// Intended send rate, when the phase has a constant one.
    pub target_rate: Option<f64>,
    /// Highest consumer lag (messages) reported in the phase.
    pub max_lag: Option<u64>,
    pub latency: PhaseLatency,
    /// Failed deliveries by error kind.
    pub errors: BTreeMap<String, u64>,
}

/// The measured phases together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Time the measured phases ran, which the rates divide by.
    pub measured_secs: f64,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
    pub send_rate: f64,
    pub ack_rate: f64,
    pub consume_rate: f64,
    pub max_lag: Option<u64>,
    pub latency: PhaseLatency,
    pub errors: BTreeMap<String, u64>,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// Seconds since the run start: this entry covers `[sec, sec + 1)`.
    pub sec: u64,
    /// Name of the phase holding the second, `None` outside every phase.
    pub phase: Option<String>,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
    /// Highest consumer lag reported in the second, `None` if none was.
    pub lag: Option<u64>,
    pub produce: LatencySummary,
    pub e2e: LatencySummary,
}

/// The full histograms, encoded so that runs can be merged and re-summarised exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histograms {
    /// Always [`HISTOGRAM_ENCODING`].
    pub encoding: String,
    /// One entry per phase, in the order of [`Report::phases`].
    pub phases: Vec<PhaseHistograms>,
    /// The measured phases merged.
    pub total: EncodedHistograms,
}

/// The encoded histograms of one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseHistograms {
    pub phase: String,
    pub produce: String,
    pub e2e: String,
    pub send_gap: String,
}

/// Encoded histograms of the three latency kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodedHistograms {
    pub produce: String,
    pub e2e: String,
    pub send_gap: String,
}

impl EncodedHistograms {
    fn encode(set: &LatencySet) -> Result<EncodedHistograms, HistogramError> {
        Ok(EncodedHistograms {
            produce: set.produce.encode()?,
            e2e: set.e2e.encode()?,
            send_gap: set.send_gap.encode()?,
        })
    }

    /// The histograms, decoded.
    ///
    /// # Errors
    /// When a histogram is not valid [`HISTOGRAM_ENCODING`] text.
    pub fn decode(&self) -> Result<LatencySet, HistogramError> {
        decode_set(&self.produce, &self.e2e, &self.send_gap)
    }
}

impl PhaseHistograms {
    /// The histograms, decoded.
    ///
    /// # Errors
    /// When a histogram is not valid [`HISTOGRAM_ENCODING`] text.
    pub fn decode(&self) -> Result<LatencySet, HistogramError> {
        decode_set(&self.produce, &self.e2e, &self.send_gap)
    }
}

fn decode_set(produce: &str, e2e: &str, send_gap: &str) -> Result<LatencySet, HistogramError> {
    Ok(LatencySet {
        produce: LatencyHistogram::decode(produce)?,
        e2e: LatencyHistogram::decode(e2e)?,
        send_gap: LatencyHistogram::decode(send_gap)?,
    })
}

/// Whether the generator, not the cluster, limited the run (see [`generator`] for the rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorCheck {
    /// True when latency or throughput figures reflect the generator rather than the cluster.
    pub limited: bool,
    /// Which phases failed the rule and how; `None` when not limited.
    pub reason: Option<String>,
    /// Why the sends were late, when limited and the CPU use was sampled (absent in older
    /// reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<LimitCause>,
    /// Largest send gap in the measured phases.
    pub max_send_gap_us: u64,
}

/// Why a generator-limited run's sends were late ([`generator`]'s rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitCause {
    /// aftershock itself fell behind its schedule.
    Generator,
    /// Other processes on the host took its CPU (a local cluster's JVMs, say).
    HostCpu,
}

/// What the builder needs besides the measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    pub run_id: String,
    pub scenario_name: String,
    /// The scenario as run.
    pub scenario: serde_json::Value,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    pub outcome: RunOutcome,
    pub environment: Environment,
}

impl Report {
    /// Builds the report of a run from its measurements and ledger verdict.
    ///
    /// # Errors
    /// Only if a histogram cannot be encoded (a count beyond `i64::MAX`).
    pub fn build(meta: RunMeta, m: &Measurements, verification: Verification) -> Result<Report, Error> {
        let phases: Vec<PhaseStats> = m.phases.iter().map(phase_stats).collect();
        let histograms = Histograms {
            encoding: HISTOGRAM_ENCODING.to_string(),
            phases: m
                .phases
                .iter()
                .map(|p| {
                    let e = EncodedHistograms::encode(&p.latency)?;
                    Ok(PhaseHistograms {
                        phase: p.spec.name.clone(),
                        produce: e.produce,
                        e2e: e.e2e,
                        send_gap: e.send_gap,
                    })
                })
                .collect::<Result<_, HistogramError>>()?,
            total: EncodedHistograms::encode(&m.total)?,
        };
        let timeseries = m
            .seconds
            .iter()
            .map(|s| Interval {
                sec: s.sec,
                phase: s.phase.and_then(|i| m.phases.get(i)).map(|p| p.spec.name.clone()),
                sent: s.counters.sent,
                acked: s.counters.acked,
                failed: s.counters.failed_total(),
                consumed: s.counters.consumed,
                lag: s.lag,
                produce: s.produce,
                e2e: s.e2e,
            })
            .collect();
        let measured_secs: f64 = m.phases.iter().filter(|p| p.spec.measured).map(|p| p.executed.as_secs_f64()).sum();
        let totals = Totals {
            measured_secs: secs(Duration::from_secs_f64(measured_secs)),
            sent: m.total_counters.sent,
            acked: m.total_counters.acked,
            failed: m.total_counters.failed_total(),
            consumed: m.total_counters.consumed,
            send_rate: rate(m.total_counters.sent, measured_secs),
            ack_rate: rate(m.total_counters.acked, measured_secs),
            consume_rate: rate(m.total_counters.consumed, measured_secs),
            max_lag: m.phases.iter().filter(|p| p.spec.measured).filter_map(|p| p.max_lag).max(),
            latency: PhaseLatency::of(&m.total),
            errors: m.total_counters.failed.clone(),
        };
        let (status, abort_reason) = match meta.outcome {
            RunOutcome::Completed => (RunStatus::Completed, None),
            RunOutcome::Aborted { reason } => (RunStatus::Aborted, Some(reason)),
        };
        Ok(Report {
            schema_version: SCHEMA_VERSION,
            aftershock_version: env!("CARGO_PKG_VERSION").to_string(),
            status,
            abort_reason,
            run_id: meta.run_id,
            scenario_name: meta.scenario_name,
            started_at: rfc3339(meta.started_at),
            ended_at: rfc3339(meta.ended_at),
            duration_secs: secs(m.elapsed),
            scenario: meta.scenario,
            generator: generator::assess(&phases, &m.process, meta.environment.cpus),
            environment: meta.environment,
            clients: Clients::default(),
            units: Units::default(),
            phases,
            totals,
            timeseries,
            histograms,
            verification,
            faults: Vec::new(),
            process: m.process.clone(),
        })
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    /// Only if the scenario value cannot be serialized.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map_err(Error::Serialize)
    }

    /// Writes `report.json` into `dir` (created if needed) through a temporary file, fsync and
    /// rename, so that a crash never leaves a half-written report; returns its path.
    ///
    /// # Errors
    /// When the dir cannot be created or the file cannot be written.
    pub fn write_atomic(&self, dir: &Path) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(dir)
            .map_err(|source| crate::Error::DirNotWritable { dir: dir.to_path_buf(), source })?;
        let path = dir.join(REPORT_FILE);
        let mut text = self.to_json()?;
        text.push('\n');
        crate::vocab::fs::write_atomic(&path, text.as_bytes())
            .map_err(crate::Error::io(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Reads a report written by [`write_atomic`](Self::write_atomic), by this aftershock or
    /// an older one (see the module docs).
    ///
    /// # Errors
    /// [`Error::Read`] when the file cannot be read, [`Error::Version`] when it has a schema
    /// version this aftershock does not read, [`Error::Parse`] (with line and column) when it
    /// does not match its version.
    pub fn load(path: &Path) -> Result<Report, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        Report::from_slice(&bytes).map_err(|e| match e {
            Error::Parse { source, .. } => Error::Parse { path: path.to_path_buf(), source },
            Error::Version { found, .. } => Error::Version { path: path.to_path_buf(), found },
            e => e,
        })
    }

    /// Parses report JSON text, checking the schema version first so that a newer report
    /// says so rather than failing on its first new field.
    ///
    /// # Errors
    /// As [`load`](Self::load), with an empty path.
    pub fn from_json(text: &str) -> Result<Report, Error> {
        Report::from_slice(text.as_bytes())
    }

    /// Parses the bytes of a report.json as [`load`](Self::load) reads them (what `report` and
    /// `compare` load, and what `fuzz/` feeds arbitrary bytes to); bytes that are not UTF-8
    /// are a parse error with their position.
    ///
    /// # Errors
    /// As [`load`](Self::load), with an empty path.
    pub fn from_slice(bytes: &[u8]) -> Result<Report, Error> {
        #[derive(Deserialize)]
        struct Versioned {
            schema_version: Option<serde_json::Value>,
        }
        let parse = |source| Error::Parse { path: PathBuf::new(), source };
        let v: Versioned = serde_json::from_slice(bytes).map_err(parse)?;
        let readable = u64::from(OLDEST_READABLE_VERSION)..=u64::from(SCHEMA_VERSION);
        match v.schema_version {
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|n| readable.contains(&n)) => {}
            Some(other) => return Err(Error::Version { path: PathBuf::new(), found: other.to_string() }),
            None => return Err(Error::Version { path: PathBuf::new(), found: "(missing)".into() }),
        }
        serde_json::from_slice(bytes).map_err(parse)
    }

    /// The statistics of the phase named `name`.
    pub fn phase(&self, name: &str) -> Option<&PhaseStats> {
        self.phases.iter().find(|p| p.name == name)
    }
}

impl Environment {
    /// The local environment (versions, host, OS, CPUs) around the given cluster description.
    pub fn detect(cluster: ClusterInfo, kafka_version: Option<String>) -> Environment {
        Environment {
            aftershock_version: env!("CARGO_PKG_VERSION").to_string(),
            librdkafka_version: rdkafka::util::get_rdkafka_version().1,
            kafka_version,
            hostname: hostname(),
            os: os_description(),
            cpus: std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            cluster,
        }
    }
}

impl ClusterInfo {
    /// The brokers and the given topics from a metadata response. Ports that do not fit a
    /// `u16` are left out, topics not in the metadata too; librdkafka's metadata does not
    /// name the controller, so `controller_id` is `None` for the caller to fill.
    pub fn from_metadata(bootstrap: &str, metadata: &rdkafka::metadata::Metadata, topics: &[&str]) -> ClusterInfo {
        let brokers = metadata
            .brokers()
            .iter()
            .filter_map(|b| {
                Some(BrokerInfo { id: b.id(), host: b.host().to_string(), port: u16::try_from(b.port()).ok()? })
            })
            .collect();
        let topics = metadata
            .topics()
            .iter()
            .filter(|t| topics.contains(&t.name()))
            .map(|t| TopicInfo {
                name: t.name().to_string(),
                partitions: u32::try_from(t.partitions().len()).unwrap_or(u32::MAX),
                replication_factor: t
                    .partitions()
                    .iter()
                    .map(|p| u32::try_from(p.replicas().len()).unwrap_or(u32::MAX))
                    .max()
                    .unwrap_or(0),
            })
            .collect();
        ClusterInfo { bootstrap: bootstrap.to_string(), brokers, controller_id: None, topics }
    }
}

fn phase_stats(p: &crate::measure::PhaseMeasurements) -> PhaseStats {
    let d = p.executed.as_secs_f64();
    let Counters { sent, acked, consumed, .. } = p.counters;
    PhaseStats {
        name: p.spec.name.clone(),
        measured: p.spec.measured,
        start_secs: secs(p.spec.start),
        duration_secs: secs(p.executed),
        planned_duration_secs: secs(p.spec.duration),
        sent,
        acked,
        failed: p.counters.failed_total(),
        consumed,
        send_rate: rate(sent, d),
        ack_rate: rate(acked, d),
        consume_rate: rate(consumed, d),
        target_rate: p.spec.target_rate.filter(|r| r.is_finite()).map(|r| round_to(r, 1000.0)),
        max_lag: p.max_lag,
        latency: PhaseLatency::of(&p.latency),
        errors: p.counters.failed.clone(),
    }
}

/// Messages per second, 0 over an empty interval.
fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { round_to(count as f64 / secs, 1000.0) } else { 0.0 }
}

/// Seconds with millisecond precision (the report's time resolution).
fn secs(d: Duration) -> f64 {
    round_to(d.as_secs_f64(), 1000.0)
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-05-01T12:00:00.123Z`.
///
/// NB: humantime panics before 1970 and fails after 9999; clamp instead, since a bad system
/// clock must not lose a report.
pub fn rfc3339(t: SystemTime) -> String {
    let max = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let t = t.clamp(UNIX_EPOCH, max);
    humantime::format_rfc3339_millis(t).to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn os_description() -> String {
    let release =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|r| r.trim().to_string()).unwrap_or_default();
    [std::env::consts::OS, release.as_str(), std::env::consts::ARCH]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::measure::{Aggregator, IntervalSnapshot, PhaseSpec, RunClock, WorkerId};

    fn meta(outcome: RunOutcome) -> RunMeta {
        RunMeta {
            run_id: "r1".into(),
            scenario_name: "s".into(),
            scenario: serde_json::json!({"name": "s"}),
            started_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            ended_at: UNIX_EPOCH + Duration::from_millis(1_700_000_012_500),
            outcome,
            environment: Environment::detect(ClusterInfo::default(), None),
        }
    }

    fn measurements() -> Measurements {
        let mut agg = Aggregator::new(RunClock::new(Instant::now()));
        agg.set_phases(&[
            PhaseSpec::new("warmup", Duration::ZERO, Duration::from_secs(2), false),
            PhaseSpec::new("steady", Duration::from_secs(2), Duration::from_secs(10), true).with_target_rate(100.0),
        ]);
        for sec in 0..12 {
            let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), sec);
            s.counters.sent = 100;
            s.counters.acked = 100;
            s.counters.consumed = 100;
            for v in 0..100 {
                s.histogram_mut(LatencyKind::Produce).record_us(1000 + v);
                s.histogram_mut(LatencyKind::SendGap).record_us(50 + v);
                s.histogram_mut(LatencyKind::E2e).record_us(2000 + v);
            }
            agg.ingest(s);
        }
        agg.finish_at(Duration::from_millis(11_500))
    }

    #[test]
    fn build_fills_every_section() {
        let m = measurements();
        let r =
            Report::build(meta(RunOutcome::Aborted { reason: "Ctrl-C".into() }), &m, Verification::default()).unwrap();
        assert_eq!(r.status, RunStatus::Aborted);
        assert_eq!(r.abort_reason.as_deref(), Some("Ctrl-C"));
        assert_eq!(r.started_at, "2023-11-14T22:13:20.123Z");
        assert_eq!(r.duration_secs, 11.5);
        assert_eq!(r.timeseries.len(), 12);
        assert_eq!(r.timeseries[1].phase.as_deref(), Some("warmup"));
        assert_eq!(r.timeseries[2].phase.as_deref(), Some("steady"));
        assert_eq!(r.timeseries[2].produce.count, 100);
        let steady = r.phase("steady").unwrap();
        assert_eq!(steady.duration_secs, 9.5);
        assert_eq!(steady.planned_duration_secs, 10.0);
        assert_eq!(steady.sent, 1000);
        assert_eq!(steady.send_rate, 105.263);
        assert_eq!(r.totals.sent, 1000);
        assert_eq!(r.totals.measured_secs, 9.5);
        assert_eq!(r.totals.latency.produce.count, 1000);
        assert!(!r.generator.limited, "{:?}", r.generator);
        assert_eq!(r.histograms.phases.len(), 2);
        let total = r.histograms.total.decode().unwrap();
        assert_eq!(total.produce.summary(), r.totals.latency.produce);
        assert_eq!(r.histograms.phases[0].decode().unwrap().e2e.count(), 200);
    }

    #[test]
    fn write_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let r = Report::build(meta(RunOutcome::Completed), &measurements(), Verification::default()).unwrap();
        let path = r.write_atomic(&dir.path().join("out/run-1")).unwrap();
        assert!(path.ends_with("run-1/report.json"));
        assert_eq!(Report::load(&path).unwrap(), r);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn load_reports_versions_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let r = Report::build(meta(RunOutcome::Completed), &measurements(), Verification::default()).unwrap();
        let mut v = serde_json::to_value(&r).unwrap();
        v["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        v["new_field"] = serde_json::json!(true);
        let p = dir.path().join("next.json");
        std::fs::write(&p, v.to_string()).unwrap();
        let err = Report::load(&p).unwrap_err();
        assert!(matches!(&err, Error::Version { found, .. } if *found == (SCHEMA_VERSION + 1).to_string()), "{err}");
        assert!(err.to_string().contains("reads versions 1 to 2"), "{err}");
        v["schema_version"] = serde_json::json!(0);
        std::fs::write(&p, v.to_string()).unwrap();
        assert!(matches!(Report::load(&p).unwrap_err(), Error::Version { .. }));

        v["schema_version"] = serde_json::json!(SCHEMA_VERSION);
        std::fs::write(&p, v.to_string()).unwrap();
        let err = Report::load(&p).unwrap_err();
        assert!(matches!(err, Error::Parse { .. }) && err.to_string().contains("new_field"), "{err}");

        std::fs::write(&p, "{\"schema_version\": 2").unwrap();
        assert!(matches!(Report::load(&p).unwrap_err(), Error::Parse { .. }));
        assert!(matches!(Report::load(&dir.path().join("missing.json")).unwrap_err(), Error::Read { .. }));
        assert!(matches!(Report::from_json("{}").unwrap_err(), Error::Version { .. }));
        let not_utf8 = b"{\"schema_version\": 1, \"run_id\": \"\xff\"}";
        assert!(matches!(Report::from_slice(not_utf8).unwrap_err(), Error::Parse { .. }));
        std::fs::write(&p, not_utf8).unwrap();
        assert!(matches!(Report::load(&p).unwrap_err(), Error::Parse { path, .. } if path == p));
    }

    #[test]
    fn version_1_reports_still_load_without_clients() {
        let mut r = Report::build(meta(RunOutcome::Completed), &measurements(), Verification::default()).unwrap();
        r.clients.producers.push(ClientSettings {
            name: "p".into(),
            settings: [("linger.ms".to_string(), "5".to_string())].into(),
            defaults: vec![],
        });
        let mut v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema_version"], 2);
        assert_eq!(v["clients"]["producers"][0]["settings"]["linger.ms"], "5");
        // A report as aftershock wrote them before version 2.
        v["schema_version"] = serde_json::json!(1);
        v.as_object_mut().unwrap().remove("clients");
        let old = Report::from_json(&v.to_string()).unwrap();
        assert_eq!(old.schema_version, 1, "the version read is the file's");
        assert!(old.clients.is_empty());
        assert_eq!(old.phases, r.phases);
    }

    #[test]
    fn timestamps_never_panic() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(400_000_000_000)), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn environment_is_detected() {
        let e = Environment::detect(ClusterInfo::default(), Some("4.1.0".into()));
        assert!(!e.librdkafka_version.is_empty());
        assert!(!e.hostname.is_empty());
        assert!(e.os.starts_with(std::env::consts::OS));
        assert!(e.cpus >= 1);
    }
}
