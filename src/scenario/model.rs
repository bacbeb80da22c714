//! The validated scenario: the model the rest of aftershock runs, with every default filled in,
//! and the deterministic samplers for message sizes and keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Zipf};

pub use crate::vocab::units::Rate;

/// A validated scenario: which cluster, which topics, what load, for how long.
///
/// Built only by [`super::load`] and [`super::parse_str`], so every value in it has passed
/// validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short identifier (letters, digits, `.`, `_`, `-`); used in group ids and reports.
    pub name: String,
    /// Free text for people reading the file or the report.
    pub description: Option<String>,
    /// Seed of every random choice (sizes, keys, ...); the same seed gives the same run.
    pub seed: u64,
    /// The cluster under test.
    pub cluster: ClusterTarget,
    /// Topics to create (or reuse) before the load starts.
    pub topics: Vec<TopicSpec>,
    /// Producer groups; each runs `instances` clients.
    pub producers: Vec<ProducerSpec>,
    /// Consumer groups; each runs `instances` clients.
    pub consumers: Vec<ConsumerSpec>,
    /// Phases, in order; the run lasts their total duration.
    pub phases: Vec<Phase>,
    /// After the last phase, how long consumers may take to read what was acknowledged.
    pub drain: Duration,
    /// The fault schedule, in file order.
    pub faults: Vec<crate::scenario::fault::FaultSpec>,
    /// Abort conditions and the health check before faults.
    pub safety: crate::scenario::fault::Safety,
    /// Pass/fail thresholds on the results, evaluated at the end (see [`crate::gate`]).
    pub checks: Vec<super::checks::Check>,
    /// The capacity search `aftershock capacity` runs; `None` when the file has none.
    pub capacity: Option<super::capacity::CapacitySpec>,
    /// The file this scenario was read from, if any.
    pub source: Option<PathBuf>,
    /// The file as parsed, for the report. Secrets in it are only references
    /// (`{"env": ...}`, `{"file": ...}`), so it is safe to write out.
    pub raw: serde_json::Value,
    /// What the file does but likely does not mean (a fault window that outlasts the load),
    /// located like errors, in file order; the commands that load a file print them.
    pub warnings: Vec<super::problem::Diagnostic>,
}

impl Scenario {
    /// The length of all phases together (the drain not included).
    pub fn total_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// The phases whose results count (every phase but warm-ups, unless a file says otherwise).
    pub fn measured_phases(&self) -> impl Iterator<Item = &Phase> {
        self.phases.iter().filter(|p| p.measured)
    }

    /// The total length of the measured phases.
    pub fn measured_duration(&self) -> Duration {
        self.measured_phases().map(|p| p.duration).sum()
    }

    /// Each phase with its start, as an offset from the start of the run.
    pub fn phase_schedule(&self) -> Vec<(Duration, &Phase)> {
        let mut at = Duration::ZERO;
        self.phases
            .iter()
            .map(|p| {
                let start = at;
                at += p.duration;
                (start, p)
            })
            .collect()
    }

    /// The phase running `elapsed` after the start of the run; `None` once all are over.
    pub fn phase_at(&self, elapsed: Duration) -> Option<&Phase> {
        self.phase_schedule().into_iter().find(|(start, p)| elapsed < *start + p.duration).map(|(_, p)| p)
    }

    /// The declared topic called `name`.
    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// A random generator for one stream of random choices (say `"producer/orders"`, instance 2),
    /// derived from [`Scenario::seed`]: the same seed, stream and index always give the same
    /// sequence, and different streams do not share one.
    ///
    /// # Caveats
    /// `StdRng` sequences are stable for one version of the `rand` crate, not across versions.
    pub fn rng(&self, stream: &str, index: u64) -> StdRng {
        StdRng::seed_from_u64(derive_seed(self.seed, stream, index))
    }
}

/// A random stream derived from `seed`, a stream name and an index, as [`Scenario::rng`] does.
pub fn seeded_rng(seed: u64, stream: &str, index: u64) -> StdRng {
    StdRng::seed_from_u64(derive_seed(seed, stream, index))
}

/// Mixes a seed with a stream name and index (FNV-1a, then splitmix64 finalisers), so that
/// neighbouring seeds or indexes still give unrelated streams.
fn derive_seed(seed: u64, stream: &str, index: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(splitmix(seed ^ h) ^ index)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The cluster a scenario runs against.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterTarget {
    /// aftershock starts a local cluster of `nodes` combined broker+controller nodes for the
    /// run and stops it afterwards.
    Local {
        /// Number of nodes, 1 to 64.
        nodes: usize,
        /// Kafka version to run; `None` for aftershock's default.
        kafka_version: Option<String>,
        /// Extra broker settings for every node.
        broker_config: BTreeMap<String, String>,
        /// Each node in its own network namespace (needed for partition faults; root only).
        netns: bool,
        /// The private subnet of the namespaces; `None` picks a free one.
        subnet: Option<String>,
    },
    /// A local cluster started earlier by `aftershock cluster up` in `dir`: faults act on its
    /// processes, and the run leaves it running.
    Running {
        /// `None` for the default cluster dir, resolved by whoever connects: validation reads
        /// no environment (`$AFTERSHOCK_CLUSTER_DIR`).
        dir: Option<PathBuf>,
    },
    /// A cluster that is already running.
    Existing {
        /// librdkafka `bootstrap.servers`: `host:port[,host:port...]`.
        bootstrap: String,
        /// librdkafka settings for every client (security, timeouts, ...); secret values are
        /// references resolved at run time.
        client_config: BTreeMap<String, ConfigValue>,
        /// The cluster runs in Kubernetes: faults act on its broker pods.
        kubernetes: Option<crate::scenario::fault::KubeSpec>,
    },
}

impl ClusterTarget {
    /// True for a cluster aftershock starts itself.
    pub fn is_local(&self) -> bool {
        matches!(self, ClusterTarget::Local { .. })
    }

    /// The client settings with every secret reference resolved; empty for a local cluster.
    ///
    /// # Errors
    /// The first setting whose variable is unset or whose file cannot be read, by key and
    /// reference (never by value).
    pub fn resolve_client_config(&self) -> Result<BTreeMap<String, String>, ResolveError> {
        match self {
            ClusterTarget::Local { .. } | ClusterTarget::Running { .. } => Ok(BTreeMap::new()),
            ClusterTarget::Existing { client_config, .. } => client_config
                .iter()
                .map(|(k, v)| match v.resolve() {
                    Ok(s) => Ok((k.clone(), s)),
                    Err(e) => Err(ResolveError::Setting { key: k.clone(), source: Box::new(e) }),
                })
                .collect(),
        }
    }
}

/// One client setting of an existing cluster: a value, or a reference to a secret.
///
/// `Debug` shows only what the file says (a value, a variable name or a path): a resolved
/// secret is never stored here, it exists only in the string [`ConfigValue::resolve`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// The value as written.
    Plain(String),
    /// The value of this environment variable, read at run time.
    Env(String),
    /// The contents of this file (without a trailing newline), read at run time.
    File(PathBuf),
}

impl ConfigValue {
    /// The actual value: the plain text, the variable's value or the file's contents (one
    /// trailing newline removed, as secret files usually end with one).
    ///
    /// # Errors
    /// When the variable is unset, empty or not UTF-8, or the file cannot be read; the error
    /// names the variable or file, never its contents.
    pub fn resolve(&self) -> Result<String, ResolveError> {
        match self {
            ConfigValue::Plain(s) => Ok(s.clone()),
            ConfigValue::Env(name) => match std::env::var(name) {
                Ok(v) if v.is_empty() => Err(ResolveError::EnvEmpty { name: name.clone() }),
                Ok(v) => Ok(v),
                Err(std::env::VarError::NotPresent) => Err(ResolveError::EnvMissing { name: name.clone() }),
                Err(std::env::VarError::NotUnicode(_)) => Err(ResolveError::EnvNotUnicode { name: name.clone() }),
            },
            ConfigValue::File(path) => {
                let mut s = std::fs::read_to_string(path)
                    .map_err(|source| ResolveError::File { path: path.clone(), source })?;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                Ok(s)
            }
        }
    }

    /// True for a reference to an environment variable or file.
    pub fn is_reference(&self) -> bool {
        !matches!(self, ConfigValue::Plain(_))
    }
}

impl fmt::Display for ConfigValue {
    /// Shows what the file says, never a resolved secret: `value`, `env:NAME` or `file:PATH`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Plain(s) => f.write_str(s),
            ConfigValue::Env(n) => write!(f, "env:{n}"),
            ConfigValue::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// Why a secret reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The variable is not set.
    #[error("environment variable {name} is not set")]
    EnvMissing { name: String },
    /// The variable is set but empty.
    #[error("environment variable {name} is empty")]
    EnvEmpty { name: String },
    /// The variable's value is not UTF-8.
    #[error("environment variable {name} is not valid UTF-8")]
    EnvNotUnicode { name: String },
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Which client setting failed.
    #[error("client setting {key}: {source}")]
    Setting {
        key: String,
        #[source]
        source: Box<ResolveError>,
    },
}

/// A topic the scenario uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name (Kafka's rules: letters, digits, `.`, `_`, `-`, at most 249).
    pub name: String,
    /// Partitions, 1 or more (a reused topic may have others).
    pub partitions: i32,
    /// Replication factor, 1 or more; at most the node count of a local cluster, which
    /// defaults it to min(3, nodes).
    pub replication_factor: i32,
    /// Topic settings when aftershock creates it (`min.insync.replicas`, `retention.ms`, ...).
    pub config: BTreeMap<String, String>,
    /// When the topic already exists: true uses it as it is, whatever its settings; false
    /// makes the run fail rather than measure a topic laid out differently than declared.
    pub reuse: bool,
}

/// A group of identical producers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerSpec {
    /// Unique among producers; used in client ids and reports.
    pub name: String,
    /// Declared topic it writes to.
    pub topic: String,
    /// Number of producer clients, each with its share of the rate.
    pub instances: u32,
    /// Target rate across all instances, or a closed loop.
    pub rate: Rate,
    /// Time from the start of the run over which the rate climbs linearly from 0 to `rate`.
    pub ramp: Duration,
    /// Payload size of each message; at least 32 bytes, as every payload starts with a header
    /// of the producer id, a sequence number and timestamps.
    pub message_size: SizeDist,
    /// How message keys are chosen.
    pub keys: KeyDist,
    /// librdkafka `acks`.
    pub acks: Acks,
    /// librdkafka `enable.idempotence`.
    pub idempotence: bool,
    /// librdkafka `compression.type`: none, gzip, snappy, lz4 or zstd.
    pub compression: String,
    /// librdkafka `linger.ms`.
    pub linger: Duration,
    /// librdkafka `batch.size`, in bytes.
    pub batch_size: usize,
    /// Any other librdkafka producer settings, passed through.
    pub config: BTreeMap<String, String>,
}

impl ProducerSpec {
    /// The librdkafka settings of one instance: the typed fields mapped to their librdkafka
    /// names, then `config` (which validation keeps free of those names). Cluster settings
    /// (`bootstrap.servers`, client settings) are added by whoever creates the client.
    pub fn librdkafka_config(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("acks".to_string(), self.acks.as_librdkafka().to_string());
        m.insert("enable.idempotence".to_string(), self.idempotence.to_string());
        m.insert("compression.type".to_string(), self.compression.clone());
        m.insert("linger.ms".to_string(), millis(self.linger));
        m.insert("batch.size".to_string(), self.batch_size.to_string());
        m.extend(self.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        m
    }
}

/// Milliseconds as librdkafka reads them (it accepts fractions for `linger.ms`).
fn millis(d: Duration) -> String {
    let us = d.as_micros();
    if us.is_multiple_of(1000) { (us / 1000).to_string() } else { format!("{}", us as f64 / 1000.0) }
}

/// Distribution of payload sizes, in bytes; samples always lie within `min()..=max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    /// Every message has this size.
    Fixed(usize),
    /// Uniform over `min..=max`.
    Uniform { min: usize, max: usize },
    /// Normal with this mean and standard deviation, rounded and clamped to `min..=max`.
    Normal { mean: usize, stddev: usize, min: usize, max: usize },
}

impl SizeDist {
    /// One payload size.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => {
                if min >= max {
                    min
                } else {
                    rng.random_range(min..=max)
                }
            }
            SizeDist::Normal { mean, stddev, min, max } => {
                let x = match Normal::new(mean as f64, stddev as f64) {
                    Ok(n) if stddev > 0 => n.sample(rng).round(),
                    _ => mean as f64,
                };
                // NB: `as` saturates (negative to 0), then the clamp keeps it in bounds.
                (x as usize).clamp(min, max.max(min))
            }
        }
    }

    /// The largest size this distribution can give.
    pub fn max(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { max, .. } | SizeDist::Normal { max, .. } => max,
        }
    }

    /// The smallest size this distribution can give.
    pub fn min(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, .. } | SizeDist::Normal { min, .. } => min,
        }
    }

    /// The mean size (for a normal distribution, before clamping), for throughput estimates.
    pub fn mean(&self) -> f64 {
        match *self {
            SizeDist::Fixed(n) => n as f64,
            SizeDist::Uniform { min, max } => (min as f64 + max as f64) / 2.0,
            SizeDist::Normal { mean, .. } => mean as f64,
        }
    }
}

/// How message keys are chosen; a key is a number in `0..keys` that producers render as text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// No key: librdkafka spreads messages over partitions itself.
    None,
    /// Key `seq % keys`.
    RoundRobin { keys: u64 },
    /// Uniformly random key.
    Uniform { keys: u64 },
    /// Zipf-distributed key: key 0 is the most frequent, key k about `(k+1)^-exponent` as often.
    Zipf { keys: u64, exponent: f64 },
}

impl KeyDist {
    /// The key of the message with sequence number `seq`. Builds a sampler each call; hot loops
    /// should keep one from [`KeyDist::sampler`].
    pub fn key<R: Rng + ?Sized>(&self, seq: u64, rng: &mut R) -> Option<u64> {
        self.sampler().key(seq, rng)
    }

    /// A sampler with the distribution's constants computed once.
    pub fn sampler(&self) -> KeySampler {
        let zipf = match *self {
            KeyDist::Zipf { keys, exponent } => Zipf::new(keys.max(1) as f64, exponent).ok(),
            _ => None,
        };
        KeySampler { dist: *self, zipf }
    }
}

/// A [`KeyDist`] ready to sample.
#[derive(Debug, Clone, Copy)]
pub struct KeySampler {
    dist: KeyDist,
    zipf: Option<Zipf<f64>>,
}

impl KeySampler {
    /// The key of the message with sequence number `seq`, or `None` for unkeyed messages.
    pub fn key<R: Rng + ?Sized>(&self, seq: u64, rng: &mut R) -> Option<u64> {
        match self.dist {
            KeyDist::None => None,
            KeyDist::RoundRobin { keys } => Some(seq % keys.max(1)),
            KeyDist::Uniform { keys } => Some(rng.random_range(0..keys.max(1))),
            KeyDist::Zipf { keys, .. } => {
                let keys = keys.max(1);
                Some(match &self.zipf {
                    // Zipf samples 1..=n as floats; keys start at 0.
                    Some(z) => (z.sample(rng) as u64).saturating_sub(1).min(keys - 1),
                    // Only reachable with an exponent validation refuses; stay in range anyway.
                    None => rng.random_range(0..keys),
                })
            }
        }
    }
}

/// librdkafka `acks`: how many replicas must have a message before it counts as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica (`all`, also written -1).
    All,
    /// The partition leader only (`1`).
    Leader,
    /// No acknowledgement (`0`): the producer cannot know what was lost.
    None,
}

impl Acks {
    /// The value of librdkafka's `acks` setting.
    pub fn as_librdkafka(&self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::Leader => "1",
            Acks::None => "0",
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_librdkafka())
    }
}

/// A group of identical consumers sharing one consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// Unique among consumers; used in client ids and reports.
    pub name: String,
    /// Declared topic it reads.
    pub topic: String,
    /// Consumer group id; unique among consumers.
    pub group: String,
    /// Number of consumer clients in the group.
    pub instances: u32,
    /// Where a group without committed offsets starts.
    pub start: StartFrom,
    /// Any other librdkafka consumer settings, passed through.
    pub config: BTreeMap<String, String>,
}

impl ConsumerSpec {
    /// The librdkafka settings of one instance: `group.id`, `auto.offset.reset`, then `config`.
    pub fn librdkafka_config(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("group.id".to_string(), self.group.clone());
        m.insert("auto.offset.reset".to_string(), self.start.as_librdkafka().to_string());
        m.extend(self.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        m
    }
}

/// Where a consumer group without committed offsets starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest message still in the partition.
    Earliest,
    /// Only messages written after the consumer joined.
    Latest,
}

impl StartFrom {
    /// The value of librdkafka's `auto.offset.reset`.
    pub fn as_librdkafka(&self) -> &'static str {
        match self {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        }
    }
}

/// One named stretch of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Unique among phases.
    pub name: String,
    /// Length, above zero.
    pub duration: Duration,
    /// Whether its results count; false for warm-ups.
    pub measured: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    #[test]
    fn size_samples_stay_in_bounds_and_repeat_for_a_seed() {
        let dists = [
            SizeDist::Fixed(100),
            SizeDist::Uniform { min: 16, max: 4096 },
            SizeDist::Normal { mean: 1024, stddev: 300, min: 100, max: 2000 },
            SizeDist::Normal { mean: 20, stddev: 1000, min: 16, max: 64 },
            SizeDist::Normal { mean: 512, stddev: 0, min: 16, max: 1024 },
            SizeDist::Uniform { min: 64, max: 64 },
        ];
        for d in dists {
            let a: Vec<usize> = {
                let mut r = rng(7);
                (0..1000).map(|_| d.sample(&mut r)).collect()
            };
            let b: Vec<usize> = {
                let mut r = rng(7);
                (0..1000).map(|_| d.sample(&mut r)).collect()
            };
            assert_eq!(a, b, "{d:?} is deterministic");
            assert!(a.iter().all(|&n| n >= d.min() && n <= d.max()), "{d:?} in bounds");
        }
        let mut r = rng(1);
        let u: Vec<usize> = (0..2000).map(|_| SizeDist::Uniform { min: 16, max: 4096 }.sample(&mut r)).collect();
        let mean = u.iter().sum::<usize>() as f64 / u.len() as f64;
        assert!((mean - 2056.0).abs() < 150.0, "uniform mean {mean}");
        assert_eq!(SizeDist::Normal { mean: 512, stddev: 0, min: 16, max: 1024 }.sample(&mut r), 512);
    }

    #[test]
    fn keys_follow_their_distribution_and_repeat_for_a_seed() {
        let mut r = rng(3);
        assert_eq!(KeyDist::None.key(5, &mut r), None);
        let rr = KeyDist::RoundRobin { keys: 3 };
        assert_eq!((0..6).map(|s| rr.key(s, &mut r)).collect::<Vec<_>>(), [0, 1, 2, 0, 1, 2].map(Some));

        for d in [KeyDist::Uniform { keys: 10 }, KeyDist::Zipf { keys: 1000, exponent: 1.1 }] {
            let s = d.sampler();
            let draw = |seed| {
                let mut r = rng(seed);
                (0..5000).map(|i| s.key(i, &mut r).unwrap()).collect::<Vec<_>>()
            };
            let a = draw(11);
            assert_eq!(a, draw(11), "{d:?} is deterministic");
            assert_ne!(a, draw(12), "{d:?} depends on the seed");
            let keys = match d {
                KeyDist::Uniform { keys } | KeyDist::Zipf { keys, .. } => keys,
                _ => unreachable!(),
            };
            assert!(a.iter().all(|&k| k < keys));
        }

        // Zipf: key 0 is by far the most frequent.
        let s = KeyDist::Zipf { keys: 1000, exponent: 1.2 }.sampler();
        let mut r = rng(5);
        let mut counts = vec![0u32; 1000];
        for i in 0..20_000 {
            counts[s.key(i, &mut r).unwrap() as usize] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10] && counts[0] > 20_000 / 10, "{:?}", &counts[..5]);

        // Degenerate values validation refuses still do not panic.
        let mut r = rng(1);
        assert_eq!(KeyDist::RoundRobin { keys: 0 }.key(9, &mut r), Some(0));
        assert_eq!(KeyDist::Uniform { keys: 0 }.key(9, &mut r), Some(0));
        assert!(KeyDist::Zipf { keys: 4, exponent: -1.0 }.key(9, &mut r).unwrap() < 4);
    }

    #[test]
    fn derived_rngs_are_stable_and_distinct() {
        let a = derive_seed(1, "producer/p", 0);
        assert_eq!(a, derive_seed(1, "producer/p", 0));
        assert_ne!(a, derive_seed(1, "producer/p", 1));
        assert_ne!(a, derive_seed(2, "producer/p", 0));
        assert_ne!(a, derive_seed(1, "producer/q", 0));
    }

    #[test]
    fn secrets_resolve_without_showing_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let v = ConfigValue::File(f.clone());
        assert_eq!(v.resolve().unwrap(), "s3cret");
        assert!(!format!("{v:?} {v}").contains("s3cret"));
        let missing = ConfigValue::File(dir.path().join("nope"));
        assert!(missing.resolve().unwrap_err().to_string().contains("nope"));
        let env = ConfigValue::Env("AFTERSHOCK_TEST_SURELY_UNSET_VARIABLE".into());
        assert!(matches!(env.resolve(), Err(ResolveError::EnvMissing { .. })));
        assert_eq!(format!("{env}"), "env:AFTERSHOCK_TEST_SURELY_UNSET_VARIABLE");
        assert_eq!(ConfigValue::Plain("x".into()).resolve().unwrap(), "x");
        let c = ClusterTarget::Existing {
            kubernetes: None,
            bootstrap: "h:9092".into(),
            client_config: BTreeMap::from([("sasl.password".to_string(), env)]),
        };
        let e = c.resolve_client_config().unwrap_err().to_string();
        assert!(e.contains("sasl.password") && e.contains("AFTERSHOCK_TEST_SURELY_UNSET_VARIABLE"), "{e}");
    }

    #[test]
    fn librdkafka_names() {
        assert_eq!(millis(Duration::from_millis(5)), "5");
        assert_eq!(millis(Duration::from_micros(1500)), "1.5");
        assert_eq!(Acks::All.as_librdkafka(), "all");
        assert_eq!(Rate::PerSec(1000.0).per_instance(4), Rate::PerSec(250.0));
        assert_eq!(Rate::Max.per_instance(4), Rate::Max);
    }
}
