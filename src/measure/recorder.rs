//! Per-worker recording without locks.
//!
//! A [`Recorder`] belongs to one worker (a producer or consumer task, or a delivery-callback
//! thread) and holds only the current second: a histogram per [`LatencyKind`] and the
//! [`Counters`](super::Counters). When the second rolls over (or on [`Recorder::tick`],
//! [`Recorder::flush`] or drop) it sends an [`IntervalSnapshot`] to the
//! [`Aggregator`](super::Aggregator), which merges them per second and per phase. Every time is
//! measured on one monotonic clock, the run's [`RunClock`]. Its histograms come from its
//! [`Spares`] first (see [`super::spares`]).

use std::time::{Duration, Instant};

use super::clock::RunClock;
use super::snapshot::{IntervalSnapshot, SnapshotSender, UnackedGauge, WorkerId};
use super::spares::Spares;
use crate::vocab::latency::LatencyKind;

const SECOND_NS: u64 = 1_000_000_000;

/// One worker's recorder: the current second's histograms and counters, no locks.
///
/// Every event method takes `now`, the instant the event happened (the caller usually has
/// it; reading the clock costs about 25 ns). An event in a later second than the current one
/// first sends the current interval. The `_ns` variants take run-clock nanoseconds
/// ([`RunClock::offset_nanos`]) instead: the producer's hot path has its times in that form
/// already (message headers carry them), and integer arithmetic there is a few ns cheaper
/// per message than `Instant`'s.
///
/// # Caveats
/// Call [`tick`](Self::tick) at least every few hundred milliseconds from an idle worker (a
/// delivery callback during an outage sees no events): a second is only sent when the worker
/// notices it is over, and the aggregator reduces seconds to summaries [`GRACE_SECS`](super::aggregator::GRACE_SECS) after
/// newer ones arrive. Dropping the recorder flushes it.
#[derive(Debug)]
pub struct Recorder {
    clock: RunClock,
    tx: SnapshotSender,
    current: IntervalSnapshot,
    /// When the current second ends, in run-clock ns: one comparison per event.
    next_second_at_ns: u64,
}

impl Recorder {
    /// A recorder for `worker` that sends to `tx`.
    pub fn new(worker: WorkerId, clock: RunClock, tx: SnapshotSender) -> Recorder {
        let current = IntervalSnapshot { spares: Spares::pool(), ..IntervalSnapshot::new(worker, 0) };
        Recorder { clock, tx, current, next_second_at_ns: SECOND_NS }
    }

    /// Another recorder for the same worker and channel, for a second thread of that worker
    /// (a producer's delivery thread): the aggregator adds up their snapshots.
    pub fn sibling(&self) -> Recorder {
        Recorder::new(self.current.worker.clone(), self.clock, self.tx.clone())
    }

    /// The pool its histograms come from and go back to.
    #[cfg(test)]
    pub(super) fn spares(&self) -> &Spares {
        &self.current.spares
    }

    /// The run's clock.
    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// A message scheduled for `intended` was handed to the client at `now`: counts it and
    /// records the send gap (`now - intended`, zero when early).
    #[inline]
    pub fn sent(&mut self, intended: Instant, now: Instant) {
        self.sent_ns(self.clock.offset_nanos(intended), self.clock.offset_nanos(now));
    }

    /// [`sent`](Self::sent) with run-clock nanoseconds.
    #[inline]
    pub fn sent_ns(&mut self, intended_ns: u64, now_ns: u64) {
        let c = self.at_ns(now_ns);
        c.counters.sent += 1;
        c.histogram_mut(LatencyKind::SendGap).record_us(now_ns.saturating_sub(intended_ns) / 1000);
    }

    /// A message scheduled for `intended` was acknowledged at `now`: counts it and records the
    /// produce latency from the intended send time.
    #[inline]
    pub fn acked(&mut self, intended: Instant, now: Instant) {
        self.acked_ns(self.clock.offset_nanos(intended), self.clock.offset_nanos(now));
    }

    /// [`acked`](Self::acked) with run-clock nanoseconds.
    #[inline]
    pub fn acked_ns(&mut self, intended_ns: u64, now_ns: u64) {
        let c = self.at_ns(now_ns);
        c.counters.acked += 1;
        c.histogram_mut(LatencyKind::Produce).record_us(now_ns.saturating_sub(intended_ns) / 1000);
    }

    /// A delivery failed at `now` with error kind `kind` (e.g. `MsgTimedOut`).
    #[inline]
    pub fn failed(&mut self, kind: &str, now: Instant) {
        self.failed_ns(kind, self.clock.offset_nanos(now));
    }

    /// [`failed`](Self::failed) with run-clock nanoseconds.
    #[inline]
    pub fn failed_ns(&mut self, kind: &str, now_ns: u64) {
        let failed = &mut self.at_ns(now_ns).counters.failed;
        match failed.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                failed.insert(kind.to_owned(), 1);
            }
        }
    }

    /// A message was received at `now`, with its end-to-end latency when it carried a
    /// producer timestamp (see [`RunClock::e2e`]).
    #[inline]
    pub fn consumed(&mut self, now: Instant, e2e: Option<Duration>) {
        let c = self.at(now);
        c.counters.consumed += 1;
        if let Some(e2e) = e2e {
            c.histogram_mut(LatencyKind::E2e).record(e2e);
        }
    }

    /// Reports consumer lag (messages) observed at `now`; a second keeps the highest value.
    #[inline]
    pub fn lag(&mut self, now: Instant, value: u64) {
        let c = self.at(now);
        c.lag = Some(c.lag.map_or(value, |l| l.max(value)));
    }

    /// When the producer's oldest message still waiting for its report was due (see
    /// [`UnackedGauge`]); goes out with the current second.
    #[inline]
    pub fn unacked(&mut self, oldest_due_ns: Option<u64>) {
        self.current.unacked = Some(UnackedGauge { oldest_due_ns });
    }

    /// Records any latency of `kind` at `now`.
    #[inline]
    pub fn record(&mut self, kind: LatencyKind, now: Instant, latency: Duration) {
        self.at(now).histogram_mut(kind).record(latency);
    }

    /// Sends the current interval if its second is over at `now`.
    pub fn tick(&mut self, now: Instant) {
        self.at(now);
    }

    /// Sends the current interval now, even if its second is not over (at the end of the run).
    pub fn flush(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let next = IntervalSnapshot {
            spares: self.current.spares.clone(),
            ..IntervalSnapshot::new(self.current.worker.clone(), self.current.sec)
        };
        let snapshot = std::mem::replace(&mut self.current, next);
        // NB: a closed channel means the aggregator is gone (the run is being torn down);
        // measurement must not turn that into a worker failure.
        let _ = self.tx.send(snapshot);
    }

    /// The interval for `now`, rolling over to its second first if needed.
    #[inline]
    fn at(&mut self, now: Instant) -> &mut IntervalSnapshot {
        self.at_ns(self.clock.offset_nanos(now))
    }

    /// [`at`](Self::at) with run-clock nanoseconds.
    #[inline]
    fn at_ns(&mut self, now_ns: u64) -> &mut IntervalSnapshot {
        if now_ns >= self.next_second_at_ns {
            let sec = now_ns / SECOND_NS;
            if sec > self.current.sec {
                self.flush();
                self.current.sec = sec;
            }
            self.next_second_at_ns = self.current.sec.saturating_add(1).saturating_mul(SECOND_NS);
        }
        // NB: an event stamped before the current second (taken earlier, processed later)
        // joins the current interval: at most a second off, and never a reopened interval.
        &mut self.current
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::measure::snapshot::{SnapshotReceiver, channel};

    pub(in crate::measure) const S: Duration = Duration::from_secs(1);

    pub(in crate::measure) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A run clock, the aggregator's end of the channel, and a producer and a consumer
    /// recorder on it (the aggregator's tests use them too).
    pub(in crate::measure) fn setup() -> (RunClock, SnapshotReceiver, Recorder, Recorder) {
        let clock = RunClock::new(Instant::now());
        let (tx, rx) = channel();
        let p = Recorder::new(WorkerId::producer("p", 0), clock, tx.clone());
        let c = Recorder::new(WorkerId::consumer("c", 0), clock, tx);
        (clock, rx, p, c)
    }

    #[test]
    fn recorder_rolls_over_each_second() {
        let (clock, mut rx, mut p, _c) = setup();
        let t0 = clock.start();
        p.sent(t0, t0 + ms(3));
        p.acked(t0, t0 + ms(20));
        p.failed("MsgTimedOut", t0 + ms(900));
        assert!(rx.try_recv().is_err(), "nothing sent within the second");
        p.sent(t0 + S, t0 + S + ms(1));
        let first = rx.try_recv().unwrap();
        assert_eq!(first.sec, 0);
        assert_eq!(first.worker, WorkerId::producer("p", 0));
        assert_eq!((first.counters.sent, first.counters.acked, first.counters.failed_total()), (1, 1, 1));
        assert_eq!(first.histogram(LatencyKind::Produce).unwrap().summary().max_us, 20_000 + 15);
        assert!(first.histogram(LatencyKind::SendGap).unwrap().summary().p50_us >= 3000);
        assert!(first.histogram(LatencyKind::E2e).is_none());
        // Idle until second 5: tick sends second 1; nothing for the empty seconds between.
        p.tick(t0 + 5 * S);
        assert_eq!(rx.try_recv().unwrap().sec, 1);
        p.tick(t0 + 6 * S);
        assert!(rx.try_recv().is_err());
        // An event stamped before the current second joins it.
        p.sent(t0, t0 + ms(500));
        p.flush();
        assert_eq!(rx.try_recv().unwrap().sec, 6);
        drop(p);
        assert!(rx.try_recv().is_err(), "drop after flush sends nothing");
    }

    #[test]
    fn drop_flushes_and_lag_keeps_the_max() {
        let (clock, mut rx, _p, mut c) = setup();
        let t0 = clock.start();
        c.lag(t0, 10);
        c.lag(t0 + ms(10), 50);
        c.lag(t0 + ms(20), 5);
        c.consumed(t0 + ms(30), Some(ms(2)));
        c.consumed(t0 + ms(30), None);
        drop(c);
        let s = rx.try_recv().unwrap();
        assert_eq!(s.lag, Some(50));
        assert_eq!(s.counters.consumed, 2);
        assert_eq!(s.histogram(LatencyKind::E2e).unwrap().count(), 1);
    }
}
