//! The defaults and limits of scenario files (documented in `docs/scenarios.md`).

use std::time::Duration;

/// Seed when the file has none: runs are reproducible unless a file asks otherwise.
pub const SEED: u64 = 1;
/// Nodes of a local cluster.
pub const LOCAL_NODES: usize = 3;
/// Most nodes of a local cluster (as `cluster up` allows).
pub const MAX_NODES: usize = 64;
/// Most instances of one producer or consumer entry.
pub const MAX_INSTANCES: i64 = 1024;
/// Payload size of each message.
pub const MESSAGE_SIZE: usize = 1024;
/// Smallest payload: every payload starts with a 32-byte header (magic, producer id, sequence
/// number, intended and actual send times; `load::payload::HEADER_LEN`).
pub const MIN_MESSAGE_SIZE: usize = 32;
/// Largest payload.
pub const MAX_MESSAGE_SIZE: usize = 16 << 20;
/// librdkafka's own `message.max.bytes` default, which payloads must fit unless raised.
pub const LIBRDKAFKA_MESSAGE_MAX_BYTES: u64 = 1_000_000;
/// Producer `compression`.
pub const COMPRESSION: &str = "none";
/// Producer `linger`.
pub const LINGER: Duration = Duration::from_millis(5);
/// librdkafka's upper bound for `linger.ms`.
pub const MAX_LINGER: Duration = Duration::from_secs(900);
/// Producer `batch_size`, in bytes.
pub const BATCH_SIZE: usize = 64 << 10;
/// Exponent of zipf keys.
pub const ZIPF_EXPONENT: f64 = 1.0;
/// Time consumers get after the last phase.
pub const DRAIN: Duration = Duration::from_secs(10);
