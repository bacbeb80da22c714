//! What travels from the workers to the aggregator: an [`IntervalSnapshot`] of one worker's
//! second ([`Counters`] and one histogram per latency kind), who sent it ([`WorkerId`]), and the
//! channel it travels on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::LatencyHistogram;
use super::spares::Spares;
use crate::vocab::latency::LatencyKind;

/// Sends interval snapshots from the workers to the aggregator.
pub type SnapshotSender = tokio::sync::mpsc::UnboundedSender<IntervalSnapshot>;
/// The aggregator's end of the snapshot channel.
pub type SnapshotReceiver = tokio::sync::mpsc::UnboundedReceiver<IntervalSnapshot>;

/// A new snapshot channel. Unbounded on purpose: a worker must never block on measurement,
/// and it sends at most one snapshot per second.
pub fn channel() -> (SnapshotSender, SnapshotReceiver) {
    tokio::sync::mpsc::unbounded_channel()
}

/// Whether a worker produces or consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerKind {
    Producer,
    Consumer,
}

/// Which worker a snapshot comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerId {
    pub kind: WorkerKind,
    /// The scenario's name for the workload (e.g. the producer group).
    pub name: String,
    /// Instance number within that workload.
    pub instance: u32,
}

impl WorkerId {
    /// A producer worker.
    pub fn producer(name: impl Into<String>, instance: u32) -> WorkerId {
        WorkerId { kind: WorkerKind::Producer, name: name.into(), instance }
    }

    /// A consumer worker.
    pub fn consumer(name: impl Into<String>, instance: u32) -> WorkerId {
        WorkerId { kind: WorkerKind::Consumer, name: name.into(), instance }
    }
}

/// Event counts of one interval, phase or run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Messages handed to the client.
    pub sent: u64,
    /// Successful delivery reports.
    pub acked: u64,
    /// Messages received by consumers (every delivery, duplicates included).
    pub consumed: u64,
    /// Failed delivery reports by error kind.
    pub failed: BTreeMap<String, u64>,
}

impl Counters {
    /// Failed delivery reports of every kind.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.acked += other.acked;
        self.consumed += other.consumed;
        for (k, n) in &other.failed {
            match self.failed.get_mut(k) {
                Some(m) => *m += n,
                None => {
                    self.failed.insert(k.clone(), *n);
                }
            }
        }
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.sent == 0 && self.acked == 0 && self.consumed == 0 && self.failed.is_empty()
    }
}

/// What one worker recorded during (part of) one second.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalSnapshot {
    pub worker: WorkerId,
    /// The second it covers (see [`RunClock::sec`](super::RunClock::sec)).
    pub sec: u64,
    pub counters: Counters,
    /// Highest consumer lag reported during the second, if any.
    pub lag: Option<u64>,
    /// One histogram per [`LatencyKind`], in [`LatencyKind::ALL`] order; `None` when nothing
    /// of that kind was recorded (a producer has no e2e, a consumer no produce latency).
    pub latency: [Option<LatencyHistogram>; 3],
    /// A producer's delivery side: when its oldest message still waiting for a report was
    /// due, as of this snapshot (sent only when it changed; `None`: the side keeps no such
    /// gauge, at rate "max" or on the sending side).
    pub unacked: Option<UnackedGauge>,
    /// Where the aggregator hands the histograms back once merged.
    pub spares: Spares,
}

/// When a producer's oldest message still waiting for its delivery report was due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnackedGauge {
    /// Run-clock ns; `None` when nothing due before the end of the load is still waiting.
    pub oldest_due_ns: Option<u64>,
}

impl IntervalSnapshot {
    /// An empty snapshot of `worker` for second `sec`.
    pub fn new(worker: WorkerId, sec: u64) -> IntervalSnapshot {
        IntervalSnapshot {
            worker,
            sec,
            counters: Counters::default(),
            lag: None,
            latency: [None, None, None],
            unacked: None,
            spares: Spares::default(),
        }
    }

    /// The histogram of `kind`, if anything of that kind was recorded.
    pub fn histogram(&self, kind: LatencyKind) -> Option<&LatencyHistogram> {
        self.latency[kind.index()].as_ref()
    }

    /// The histogram of `kind`, created empty if needed.
    pub fn histogram_mut(&mut self, kind: LatencyKind) -> &mut LatencyHistogram {
        self.latency[kind.index()].get_or_insert_with(|| self.spares.take())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.counters.is_empty()
            && self.lag.is_none()
            && self.latency.iter().all(Option::is_none)
            && self.unacked.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_snapshots_have_no_pool() {
        let s = IntervalSnapshot::new(WorkerId::producer("p", 0), 0);
        assert!(s.spares.waiting().is_none());
        s.spares.give(LatencyHistogram::new()); // dropped, no panic
        assert_eq!(s.spares.take().count(), 0);
    }
}
