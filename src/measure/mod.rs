//! Measurement: per-worker latency histograms and per-second counters, the aggregator that
//! turns them into per-phase statistics and a time series, and the ledger of numbered
//! messages (sent, acked, consumed, lost, duplicated, reordered).
//!
//! # Files
//! [`clock`] (the run clock) and [`hot_clock`] (its cheap reader for hot paths); [`snapshot`]
//! (what a worker sends each second); [`spares`] (the histogram pool); [`recorder`] (a
//! worker's side); [`aggregator`] (everything else, and the phase rules); [`histogram`],
//! [`ledger`] and [`process`].
//!
//! # How the pieces fit
//! Workers never share state on the hot path (goose's design, see `goose:src/metrics.rs`):
//! each owns a [`Recorder`] for its current one-second interval, and a [`ProduceLedger`] or
//! [`ConsumeLedger`] for message ids. A recorder sends an [`IntervalSnapshot`] down a channel
//! whenever its second rolls over; one [`Aggregator`] owns everything else and, at the end,
//! returns the [`Measurements`] that [`crate::report`] turns into report.json.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use aftershock::measure::{channel, Aggregator, PhaseSpec, Recorder, RunClock, WorkerId};
//!
//! let clock = RunClock::new(Instant::now());
//! let (tx, mut rx) = channel();
//! let mut agg = Aggregator::new(clock);
//! agg.set_phases(&[
//!     PhaseSpec::new("warmup", Duration::ZERO, Duration::from_secs(10), false),
//!     PhaseSpec::new("steady", Duration::from_secs(10), Duration::from_secs(60), true).with_target_rate(20_000.0),
//! ]);
//! let mut rec = Recorder::new(WorkerId::producer("orders", 0), clock, tx);
//! let intended = clock.start();
//! let now = Instant::now();
//! rec.sent(intended, now);
//! rec.acked(intended, now);
//! rec.flush();
//! while let Ok(snapshot) = rx.try_recv() {
//!     agg.ingest(snapshot);
//! }
//! let m = agg.finish();
//! assert_eq!(m.seconds[0].counters.acked, 1);
//! ```

pub mod aggregator;
pub mod clock;
pub mod fault_acks;
pub mod histogram;
pub mod hot_clock;
pub mod ledger;
pub mod process;
pub mod recorder;
pub mod snapshot;
pub mod spares;

pub use aggregator::{Aggregator, LatencySet, Measurements, PhaseMeasurements, PhaseSpec, SecondMeasurements};
pub use clock::RunClock;
pub use histogram::{HistogramError, LatencyHistogram, LatencySummary};
pub use hot_clock::HotClock;
pub use ledger::{ConsumeLedger, Delivery, ProduceLedger, SeqBitmap, Verification, verify};
pub use process::{MemoryLimits, MemoryVerdict, ProcessSample, memory_verdict};
pub use recorder::Recorder;
pub use snapshot::{Counters, IntervalSnapshot, SnapshotReceiver, SnapshotSender, WorkerId, WorkerKind, channel};
pub use spares::Spares;
// NB: the latency kinds are shared vocabulary (the checks and the report name them too).
pub use crate::vocab::latency::LatencyKind;
