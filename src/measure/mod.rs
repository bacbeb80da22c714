//! Measurement: per-worker latency histograms, per-second counters, and the ledger of
//! numbered messages (sent, acked, consumed, lost, duplicated, reordered).
// NB: being written now; see issue 3.
