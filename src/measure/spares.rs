//! The histogram pool: emptied histograms going round from the aggregator back to the recorder
//! whose snapshots carried them.
//!
//! Histograms go round in a circle rather than being allocated per second: HdrHistogram zeroes
//! all 184 KiB of a new one, which on a worker's thread costs a memset and about 46 page faults
//! (roughly 100 µs on a VM) once a second per kind, right after an ack. The aggregator resets
//! what it has merged and hands it back through the snapshot's [`Spares`]; the recorder takes
//! from there first.

use std::sync::{Arc, Mutex, PoisonError};

use super::histogram::LatencyHistogram;

/// Emptied histograms on their way back to the recorder whose snapshots carried them (see the
/// [module docs](self)). A snapshot built by hand has none, and its histograms are simply
/// dropped after merging.
#[derive(Clone, Default)]
pub struct Spares(Option<Arc<Mutex<Vec<LatencyHistogram>>>>);

/// At most this many spares wait per recorder: a recorder needs at most one per kind per
/// second, and the aggregator hands back as many as it merges.
const MAX_SPARES: usize = 4;

impl Spares {
    /// A pool of its own (a recorder's, or the aggregator's).
    pub(super) fn pool() -> Spares {
        Spares(Some(Arc::default()))
    }

    /// An empty histogram: a spare when there is one, else a new one.
    pub(super) fn take(&self) -> LatencyHistogram {
        self.0.as_ref().and_then(|p| p.lock().unwrap_or_else(PoisonError::into_inner).pop()).unwrap_or_default()
    }

    /// Hands `h` back, emptied, for reuse (dropped if the pool is full or there is none).
    pub fn give(&self, mut h: LatencyHistogram) {
        let Some(pool) = &self.0 else { return };
        // NB: emptied before taking the lock, so the recorder never waits on the memset.
        h.reset();
        let mut spares = pool.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < MAX_SPARES {
            spares.push(h);
        }
    }
}

impl Spares {
    /// How many spares wait in the pool; `None` without one.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> Option<usize> {
        self.0.as_ref().map(|p| p.lock().unwrap().len())
    }
}

impl std::fmt::Debug for Spares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spares")
    }
}

/// Spares are plumbing, not measurements: any two compare equal.
impl PartialEq for Spares {
    fn eq(&self, _: &Spares) -> bool {
        true
    }
}
