//! The latencies aftershock measures, named once for the recorders, the report, the checks and the gate.

/// One of the latencies aftershock measures.
///
/// The declaration order is the index order ([`ALL`](Self::ALL), [`index`](Self::index)): a
/// snapshot keeps its histograms in that order. Checks list them in another
/// ([`CHECK_ORDER`](Self::CHECK_ORDER)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LatencyKind {
    /// Ack latency, from the message's *intended* send time (no coordinated omission).
    Produce,
    /// Actual minus intended send time: how far behind its schedule the generator was.
    SendGap,
    /// Producer timestamp to consumer receive, on the same clock.
    E2e,
}

impl LatencyKind {
    /// Every kind, in index order.
    pub const ALL: [LatencyKind; 3] = [LatencyKind::Produce, LatencyKind::SendGap, LatencyKind::E2e];

    /// Every kind in the order checks, their messages and the docs list them.
    pub const CHECK_ORDER: [LatencyKind; 3] = [LatencyKind::Produce, LatencyKind::E2e, LatencyKind::SendGap];

    /// The kind's name in reports and check metrics (`produce`, `send_gap`, `e2e`).
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::Produce => "produce",
            LatencyKind::SendGap => "send_gap",
            LatencyKind::E2e => "e2e",
        }
    }

    /// The kind's position in [`ALL`](Self::ALL).
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_follows_all() {
        for (i, kind) in LatencyKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let mut names: Vec<&str> = LatencyKind::CHECK_ORDER.map(LatencyKind::name).to_vec();
        assert_eq!(names, ["produce", "e2e", "send_gap"]);
        names.sort_unstable();
        assert_eq!(names, ["e2e", "produce", "send_gap"]);
    }
}
