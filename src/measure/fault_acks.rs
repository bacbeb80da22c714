//! Acknowledgements seen against faults: the mark the chaos engine sets when it injects a
//! fault, and what each producer saw of each partition after it, for the recovery figures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The fault producers attribute acknowledgements to: its sequence number (from 1) and its
/// injection time in run-clock nanoseconds. Written once per fault, read on every ack.
#[derive(Debug, Default)]
pub struct FaultMarks {
    seq: AtomicU32,
    start_ns: AtomicU64,
}

impl FaultMarks {
    /// The latest fault, if any: (sequence number, injection time in run-clock ns).
    #[inline]
    pub fn current(&self) -> Option<(u32, u64)> {
        let seq = self.seq.load(Ordering::Acquire);
        (seq > 0).then(|| (seq, self.start_ns.load(Ordering::Relaxed)))
    }

    pub fn set(&self, seq: u32, start_ns: u64) {
        self.start_ns.store(start_ns, Ordering::Relaxed);
        self.seq.store(seq, Ordering::Release);
    }
}

/// What the producers saw of each partition after a fault: per (fault sequence number,
/// partition), merged over producers.
pub type FaultAcks = HashMap<(u32, i32), PartitionAcks>;

/// Acknowledgements of one partition after one fault's injection (run-clock ns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionAcks {
    /// The first ack of a message meant to be sent after the injection.
    pub first: Option<u64>,
    /// The longest time without an ack: from the later of the injection and the previous ack
    /// to the next ack. On Kubernetes a broker stops answering some time after the API call
    /// that kills it (the kubelet's grace, a SIGTERM's controlled shutdown), so the first ack
    /// after the call can come from the old leader; the gap starts when it really stopped.
    pub longest_gap: u64,
}

impl PartitionAcks {
    /// Merges another producer's view of the same partition. Several instances share a
    /// partition: it was silent only while all were, and each instance's longest gap bounds
    /// that from above, so the smallest is the closest.
    pub fn merge(&mut self, other: &PartitionAcks) {
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.longest_gap = self.longest_gap.min(other.longest_gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_publish_the_latest_fault() {
        let m = FaultMarks::default();
        assert_eq!(m.current(), None);
        m.set(2, 99);
        assert_eq!(m.current(), Some((2, 99)));
    }
}
