//! The one aggregator that owns every measurement outside the workers: it merges the workers'
//! snapshots per second and per phase ([`PhaseSpec`]), and at the end returns the
//! [`Measurements`] the report is built from.
//!
//! # Memory
//! A histogram is about 184 KiB. The aggregator keeps one merged histogram per kind per
//! phase, plus full histograms only for the last [`GRACE_SECS`] seconds of the time series:
//! older seconds are reduced to their [`LatencySummary`], so hours of run cost a few hundred
//! bytes per second. A snapshot that arrives after its second was reduced still counts in
//! every counter and in its phase's histograms, only not in that second's latency summary
//! (it is counted in [`Measurements::late_snapshots`]). Merged histograms go back to their
//! recorder through the snapshot's [`Spares`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::clock::RunClock;
use super::histogram::{LatencyHistogram, LatencySummary};
use super::process::ProcessSample;
use super::snapshot::{Counters, IntervalSnapshot, SnapshotReceiver, WorkerId};
use super::spares::Spares;
use crate::vocab::latency::LatencyKind;

/// How many seconds behind the newest one a second stays open for late snapshots.
pub const GRACE_SECS: u64 = 10;

/// One phase of the run: a consecutive time window, measured or not (warm-up).
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseSpec {
    pub name: String,
    /// Offset of the phase's start from the run start.
    pub start: Duration,
    /// Planned length.
    pub duration: Duration,
    /// False for warm-up: kept in the time series, left out of the run totals.
    pub measured: bool,
    /// Intended send rate (messages per second) when the phase has one constant target.
    pub target_rate: Option<f64>,
}

impl PhaseSpec {
    /// A phase without a target rate.
    pub fn new(name: impl Into<String>, start: Duration, duration: Duration, measured: bool) -> PhaseSpec {
        PhaseSpec { name: name.into(), start, duration, measured, target_rate: None }
    }

    /// Sets the intended send rate.
    pub fn with_target_rate(mut self, rate: f64) -> PhaseSpec {
        self.target_rate = Some(rate);
        self
    }

    /// Offset of the phase's end.
    pub fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }

    /// Whether second `sec` belongs to this phase: its midpoint falls inside the window, so
    /// phases starting at fractional offsets still split seconds without overlap.
    pub fn covers(&self, sec: u64) -> bool {
        let mid = Duration::from_secs(sec).saturating_add(Duration::from_millis(500));
        self.start <= mid && mid < self.end()
    }
}

impl<S: Into<String>> From<(S, Duration, Duration, bool)> for PhaseSpec {
    fn from((name, start, duration, measured): (S, Duration, Duration, bool)) -> PhaseSpec {
        PhaseSpec::new(name, start, duration, measured)
    }
}

/// One histogram per latency kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencySet {
    pub produce: LatencyHistogram,
    pub send_gap: LatencyHistogram,
    pub e2e: LatencyHistogram,
}

impl LatencySet {
    /// The histogram of `kind`.
    pub fn get(&self, kind: LatencyKind) -> &LatencyHistogram {
        match kind {
            LatencyKind::Produce => &self.produce,
            LatencyKind::SendGap => &self.send_gap,
            LatencyKind::E2e => &self.e2e,
        }
    }

    /// The histogram of `kind`, mutably.
    pub fn get_mut(&mut self, kind: LatencyKind) -> &mut LatencyHistogram {
        match kind {
            LatencyKind::Produce => &mut self.produce,
            LatencyKind::SendGap => &mut self.send_gap,
            LatencyKind::E2e => &mut self.e2e,
        }
    }

    /// Adds every histogram of `other`.
    pub fn merge(&mut self, other: &LatencySet) {
        for kind in LatencyKind::ALL {
            self.get_mut(kind).merge(other.get(kind));
        }
    }
}

/// What was measured in one phase.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseMeasurements {
    pub spec: PhaseSpec,
    /// How much of the phase ran: its planned length, or less if the run ended early.
    pub executed: Duration,
    /// Counts of the seconds attributed to the phase.
    pub counters: Counters,
    /// Highest consumer lag reported in the phase.
    pub max_lag: Option<u64>,
    pub latency: LatencySet,
}

/// What was measured in one second of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondMeasurements {
    pub sec: u64,
    /// Index into [`Measurements::phases`]; `None` for seconds outside every phase.
    pub phase: Option<usize>,
    pub counters: Counters,
    /// Highest consumer lag reported in the second.
    pub lag: Option<u64>,
    pub produce: LatencySummary,
    pub e2e: LatencySummary,
}

/// Everything the aggregator measured, for [`crate::report`].
#[derive(Clone, Debug, PartialEq)]
pub struct Measurements {
    /// Run length the rates are computed over.
    pub elapsed: Duration,
    pub phases: Vec<PhaseMeasurements>,
    /// Every second from 0 to the end of the run, without gaps.
    pub seconds: Vec<SecondMeasurements>,
    /// Merged histograms of the measured phases.
    pub total: LatencySet,
    /// Counts of the measured phases.
    pub total_counters: Counters,
    /// Counts per worker over the whole run (warm-up included), for diagnostics.
    pub workers: BTreeMap<WorkerId, Counters>,
    /// Snapshots that arrived after their second was reduced to a summary.
    pub late_snapshots: u64,
    /// The aftershock process once a second (RSS, CPU), when the run sampled it.
    pub process: Vec<ProcessSample>,
}

#[derive(Debug, Default)]
struct SecondAcc {
    counters: Counters,
    lag: Option<u64>,
    produce: LatencySummary,
    e2e: LatencySummary,
}

/// Histograms of a second that is still open for late snapshots.
#[derive(Debug, Default)]
struct OpenSecond {
    produce: Option<LatencyHistogram>,
    e2e: Option<LatencyHistogram>,
}

/// Merges `h` into `slot`, which starts from one of `free` (or a new histogram) when empty:
/// `h` goes back to its recorder rather than staying here.
fn merge_into(slot: &mut Option<LatencyHistogram>, h: &LatencyHistogram, free: &Spares) {
    slot.get_or_insert_with(|| free.take()).merge(h);
}

/// Owns every measurement outside the workers: merges snapshots per second and per phase.
#[derive(Debug)]
pub struct Aggregator {
    clock: RunClock,
    phases: Vec<PhaseSpec>,
    /// True while no phases were set: the whole run is one measured phase named `run`.
    implicit_phase: bool,
    phase_latency: Vec<LatencySet>,
    seconds: BTreeMap<u64, SecondAcc>,
    open: BTreeMap<u64, OpenSecond>,
    /// Seconds below this were reduced to summaries.
    closed_below: u64,
    workers: BTreeMap<WorkerId, Counters>,
    /// Each producer's latest [`UnackedGauge`](super::snapshot::UnackedGauge) reading.
    oldest_due: BTreeMap<WorkerId, Option<u64>>,
    late: u64,
    process: Vec<ProcessSample>,
    /// Emptied histograms of closed seconds, for the next open ones.
    free: Spares,
}

impl Aggregator {
    /// An aggregator for the run timed by `clock`, with one implicit measured phase `run`
    /// until [`set_phases`](Self::set_phases) is called.
    pub fn new(clock: RunClock) -> Aggregator {
        Aggregator {
            clock,
            phases: vec![PhaseSpec::new("run", Duration::ZERO, Duration::MAX, true)],
            implicit_phase: true,
            phase_latency: vec![LatencySet::default()],
            seconds: BTreeMap::new(),
            open: BTreeMap::new(),
            closed_below: 0,
            workers: BTreeMap::new(),
            oldest_due: BTreeMap::new(),
            late: 0,
            process: Vec::new(),
            free: Spares::pool(),
        }
    }

    /// Sets the run's phases: consecutive windows, each second attributed to the phase that
    /// holds its midpoint. Accepts [`PhaseSpec`]s or `(name, start_offset, duration, measured)`
    /// tuples. An empty list restores the implicit `run` phase.
    ///
    /// # Caveats
    /// Call it before ingesting: phase histograms are built as snapshots arrive, so latencies
    /// ingested earlier are dropped from the phases (counters are not: they are attributed at
    /// [`finish`](Self::finish)). Phase names should be unique; the report refers to phases by name.
    pub fn set_phases<P: Clone + Into<PhaseSpec>>(&mut self, phases: &[P]) {
        let mut phases: Vec<PhaseSpec> = phases.iter().cloned().map(Into::into).collect();
        phases.sort_by_key(|p| p.start);
        self.implicit_phase = phases.is_empty();
        if self.implicit_phase {
            phases.push(PhaseSpec::new("run", Duration::ZERO, Duration::MAX, true));
        }
        self.phase_latency = vec![LatencySet::default(); phases.len()];
        self.phases = phases;
    }

    /// The phases seconds are attributed to.
    pub fn phases(&self) -> &[PhaseSpec] {
        &self.phases
    }

    /// The index of the phase second `sec` belongs to.
    pub fn phase_of(&self, sec: u64) -> Option<usize> {
        self.phases.iter().position(|p| p.covers(sec))
    }

    /// Merges one worker's interval into its second and its phase.
    pub fn ingest(&mut self, snapshot: IntervalSnapshot) {
        let IntervalSnapshot { worker, sec, counters, lag, latency, unacked, spares } = snapshot;
        let [produce, send_gap, e2e] = latency;
        if let Some(g) = unacked {
            // One delivery side per worker sends these, in order.
            self.oldest_due.insert(worker.clone(), g.oldest_due_ns);
        }

        self.workers.entry(worker).or_default().add(&counters);
        let second = self.seconds.entry(sec).or_default();
        second.counters.add(&counters);
        if let Some(lag) = lag {
            second.lag = Some(second.lag.map_or(lag, |l| l.max(lag)));
        }
        if let Some(p) = self.phase_of(sec) {
            let set = &mut self.phase_latency[p];
            for (kind, h) in
                [(LatencyKind::Produce, &produce), (LatencyKind::SendGap, &send_gap), (LatencyKind::E2e, &e2e)]
            {
                if let Some(h) = h {
                    set.get_mut(kind).merge(h);
                }
            }
        }
        if sec >= self.closed_below {
            let open = self.open.entry(sec).or_default();
            for (slot, h) in [(&mut open.produce, &produce), (&mut open.e2e, &e2e)] {
                if let Some(h) = h {
                    merge_into(slot, h, &self.free);
                }
            }
        } else if produce.is_some() || e2e.is_some() {
            self.late += 1;
        }
        for h in [produce, send_gap, e2e].into_iter().flatten() {
            spares.give(h);
        }
        self.close_before(sec.saturating_sub(GRACE_SECS));
    }

    /// Second `sec` as far as its snapshots have arrived, for the live view: its counts and
    /// its produce p99 in µs (0 without acks).
    pub fn second_so_far(&self, sec: u64) -> Option<(&Counters, u64)> {
        let acc = self.seconds.get(&sec)?;
        let p99 = match self.open.get(&sec) {
            Some(open) => open.produce.as_ref().map_or(0, |h| h.value_at_quantile(0.99)),
            None => acc.produce.p99_us,
        };
        Some((&acc.counters, p99))
    }

    /// Failed deliveries so far, over every worker.
    pub fn failed_so_far(&self) -> u64 {
        self.workers.values().map(Counters::failed_total).sum()
    }

    /// Messages sent and not yet acknowledged or failed, over every producer, as far as the
    /// snapshots so far tell (they lag by up to a second).
    pub fn in_flight_so_far(&self) -> u64 {
        self.workers.values().map(|c| c.sent.saturating_sub(c.acked + c.failed_total())).sum()
    }

    /// When the oldest message still waiting for its delivery report, over every producer on
    /// a rate schedule, was due (run-clock ns); `None` when none is waiting or none is known.
    pub fn oldest_unacked_due_ns(&self) -> Option<u64> {
        self.oldest_due.values().flatten().copied().min()
    }

    /// Records the process's footprint for the report (one sample per second is plenty).
    pub fn note_process(&mut self, sample: ProcessSample) {
        self.process.push(sample);
    }

    /// Ingests snapshots until every sender is dropped (the workers are done).
    pub async fn drain(&mut self, rx: &mut SnapshotReceiver) {
        while let Some(snapshot) = rx.recv().await {
            self.ingest(snapshot);
        }
    }

    /// The measurements, with the run ending now.
    pub fn finish(self) -> Measurements {
        let elapsed = self.clock.start().elapsed();
        self.finish_at(elapsed)
    }

    /// The measurements, with the run ending `elapsed` after its start (rates and executed
    /// phase lengths are computed over it).
    pub fn finish_at(mut self, elapsed: Duration) -> Measurements {
        self.close_before(u64::MAX);
        let mut phases: Vec<PhaseMeasurements> = self
            .phases
            .iter()
            .zip(std::mem::take(&mut self.phase_latency))
            .map(|(spec, latency)| {
                let mut spec = spec.clone();
                if self.implicit_phase {
                    spec.duration = elapsed;
                }
                let executed = elapsed.saturating_sub(spec.start).min(spec.duration);
                PhaseMeasurements { spec, executed, counters: Counters::default(), max_lag: None, latency }
            })
            .collect();

        // Every second that started before the end, plus any stragglers stamped later.
        let last_started = if elapsed.is_zero() { None } else { Some((elapsed - Duration::from_nanos(1)).as_secs()) };
        let mut secs: Vec<u64> = last_started.map(|l| (0..=l).collect()).unwrap_or_default();
        secs.extend(self.seconds.keys().copied().filter(|s| last_started.is_none_or(|l| *s > l)));
        let seconds: Vec<SecondMeasurements> = secs
            .into_iter()
            .map(|sec| {
                let acc = self.seconds.remove(&sec).unwrap_or_default();
                let phase = self.phase_of(sec);
                if let Some(p) = phase {
                    let pm = &mut phases[p];
                    pm.counters.add(&acc.counters);
                    pm.max_lag = pm.max_lag.max(acc.lag);
                }
                SecondMeasurements {
                    sec,
                    phase,
                    counters: acc.counters,
                    lag: acc.lag,
                    produce: acc.produce,
                    e2e: acc.e2e,
                }
            })
            .collect();

        let mut total = LatencySet::default();
        let mut total_counters = Counters::default();
        for p in phases.iter().filter(|p| p.spec.measured) {
            total.merge(&p.latency);
            total_counters.add(&p.counters);
        }
        Measurements {
            elapsed,
            phases,
            seconds,
            total,
            total_counters,
            workers: self.workers,
            late_snapshots: self.late,
            process: self.process,
        }
    }

    /// Reduces every open second below `bound` to its summaries.
    fn close_before(&mut self, bound: u64) {
        if bound <= self.closed_below {
            return;
        }
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= bound {
                break;
            }
            let (sec, open) = entry.remove_entry();
            let acc = self.seconds.entry(sec).or_default();
            for (summary, h) in [(&mut acc.produce, open.produce), (&mut acc.e2e, open.e2e)] {
                if let Some(h) = h {
                    *summary = h.summary();
                    self.free.give(h);
                }
            }
        }
        self.closed_below = bound;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::measure::recorder::Recorder;
    use crate::measure::recorder::tests::{S, ms, setup};
    use crate::measure::snapshot::channel;

    fn drain(rx: &mut SnapshotReceiver, agg: &mut Aggregator) -> usize {
        let mut n = 0;
        while let Ok(s) = rx.try_recv() {
            agg.ingest(s);
            n += 1;
        }
        n
    }

    /// How many spares wait in `r`'s pool.
    fn spares_of(r: &Recorder) -> usize {
        r.spares().waiting().expect("a recorder has a pool")
    }

    #[test]
    fn merged_histograms_go_back_to_their_recorder_empty() {
        let (clock, mut rx, mut p, _c) = setup();
        let t0 = clock.start();
        let mut agg = Aggregator::new(clock);
        p.sent(t0, t0 + ms(3));
        p.acked(t0, t0 + ms(20));
        assert_eq!(spares_of(&p), 0);
        // Second 1 begins (its produce histogram is a new one): second 0 goes to the aggregator,
        // whose merge hands both of its histograms back.
        p.acked(t0 + S, t0 + S + ms(500));
        assert_eq!(drain(&mut rx, &mut agg), 1);
        assert_eq!(spares_of(&p), 2);
        p.sent(t0 + S, t0 + S + ms(7));
        assert_eq!(spares_of(&p), 1, "second 1's send gap histogram is a spare");
        p.flush();
        drain(&mut rx, &mut agg);
        let m = agg.finish_at(2 * S);
        // Reused histograms carried no values over: each second holds only its own.
        assert_eq!(m.seconds[0].produce.count, 1);
        assert!((19_900..=20_100).contains(&m.seconds[0].produce.max_us), "{:?}", m.seconds[0].produce);
        assert_eq!(m.seconds[1].produce.count, 1);
        assert!(m.seconds[1].produce.min_us >= 499_000, "nothing of second 0 left: {:?}", m.seconds[1].produce);
        assert_eq!(m.total.get(LatencyKind::SendGap).count(), 2);
        assert!(m.total.get(LatencyKind::SendGap).value_at_quantile(1.0) < 8_000);
    }

    #[test]
    fn aggregator_attributes_seconds_to_phases() {
        let (clock, mut rx, mut p, mut c) = setup();
        let t0 = clock.start();
        let mut agg = Aggregator::new(clock);
        agg.set_phases(&[("warmup", Duration::ZERO, 2 * S, false), ("steady", 2 * S, 3 * S, true)]);
        for sec in 0..6u64 {
            let base = t0 + S * sec as u32;
            for i in 0..10u64 {
                let intended = base + ms(i * 50);
                p.sent(intended, intended + ms(1));
                p.acked(intended, intended + ms(10 + sec));
                p.failed(if i == 0 { "MsgTimedOut" } else { "QueueFull" }, intended + ms(2));
                c.consumed(intended + ms(20), Some(ms(20)));
            }
            c.lag(base, sec * 100);
            drain(&mut rx, &mut agg);
        }
        drop(p);
        drop(c);
        drain(&mut rx, &mut agg);
        let m = agg.finish_at(Duration::from_millis(5_400));
        assert_eq!(m.seconds.len(), 6);
        assert_eq!(
            m.seconds.iter().map(|s| s.phase).collect::<Vec<_>>(),
            [Some(0), Some(0), Some(1), Some(1), Some(1), None]
        );
        assert_eq!(m.seconds[3].counters.sent, 10);
        assert_eq!(m.seconds[3].counters.failed_total(), 10);
        assert_eq!(m.seconds[3].lag, Some(300));
        assert_eq!(m.seconds[3].produce.count, 10);
        assert_eq!(m.seconds[3].produce.max_us, 13_000 + 7);
        assert_eq!(m.seconds[3].e2e.count, 10);

        let (warm, steady) = (&m.phases[0], &m.phases[1]);
        assert_eq!(warm.executed, 2 * S);
        assert_eq!(steady.executed, 3 * S);
        assert_eq!(steady.counters.sent, 30);
        assert_eq!(steady.counters.failed["MsgTimedOut"], 3);
        assert_eq!(steady.counters.failed["QueueFull"], 27);
        assert_eq!(steady.max_lag, Some(400));
        assert_eq!(steady.latency.produce.count(), 30);
        assert_eq!(steady.latency.send_gap.count(), 30);
        assert_eq!(steady.latency.e2e.count(), 30);
        // Warm-up is in the series but not in the totals; second 5 is in no phase.
        assert_eq!(m.total_counters.sent, 30);
        assert_eq!(m.total.produce.count(), 30);
        assert_eq!(m.total.produce.summary().min_us, 12_000);
        assert_eq!(m.workers[&WorkerId::producer("p", 0)].sent, 60);
        assert_eq!(m.late_snapshots, 0);
    }

    #[test]
    fn an_aborted_run_shortens_phases_and_fills_gaps() {
        let clock = RunClock::new(Instant::now());
        let mut agg = Aggregator::new(clock);
        agg.set_phases(&[PhaseSpec::new("a", Duration::ZERO, 10 * S, true), PhaseSpec::new("b", 10 * S, 10 * S, true)]);
        let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), 3);
        s.counters.sent = 5;
        agg.ingest(s);
        let m = agg.finish_at(ms(6_500));
        assert_eq!(m.seconds.len(), 7, "seconds 0..=6, empty ones included");
        assert_eq!(m.seconds[3].counters.sent, 5);
        assert!(m.seconds[0].counters.is_empty());
        assert_eq!(m.phases[0].executed, ms(6_500));
        assert_eq!(m.phases[1].executed, Duration::ZERO);
    }

    #[test]
    fn implicit_phase_covers_the_run() {
        let clock = RunClock::new(Instant::now());
        let mut agg = Aggregator::new(clock);
        let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), 1);
        s.histogram_mut(LatencyKind::Produce).record_us(100);
        agg.ingest(s);
        let m = agg.finish_at(2 * S);
        assert_eq!(m.phases.len(), 1);
        assert_eq!(m.phases[0].spec.name, "run");
        assert_eq!(m.phases[0].spec.duration, 2 * S);
        assert_eq!(m.phases[0].executed, 2 * S);
        assert_eq!(m.total.produce.count(), 1);
        assert_eq!(m.seconds[1].phase, Some(0));
    }

    #[test]
    fn late_snapshots_count_everywhere_but_their_summary() {
        let clock = RunClock::new(Instant::now());
        let mut agg = Aggregator::new(clock);
        let snap = |sec: u64, v: u64| {
            let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), sec);
            s.counters.acked = 1;
            s.histogram_mut(LatencyKind::Produce).record_us(v);
            s
        };
        agg.ingest(snap(0, 100));
        agg.ingest(snap(GRACE_SECS, 200)); // second 0 is still open
        agg.ingest(snap(0, 300));
        agg.ingest(snap(GRACE_SECS + 1, 400)); // closes second 0
        agg.ingest(snap(0, 500)); // late
        assert!(agg.open.len() <= GRACE_SECS as usize + 1);
        let m = agg.finish_at(Duration::from_secs(GRACE_SECS + 2));
        assert_eq!(m.seconds[0].counters.acked, 3);
        assert_eq!(m.seconds[0].produce.count, 2);
        assert_eq!(m.seconds[0].produce.max_us, 300);
        assert_eq!(m.late_snapshots, 1);
        assert_eq!(m.total.produce.count(), 5);
    }

    #[test]
    fn absurd_seconds_do_not_panic() {
        let mut agg = Aggregator::new(RunClock::new(Instant::now()));
        agg.set_phases(&[("a", Duration::ZERO, Duration::MAX, true)]);
        let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), u64::MAX);
        s.counters.sent = 1;
        agg.ingest(s);
        let m = agg.finish_at(S);
        assert_eq!(m.seconds.len(), 2);
        assert_eq!(m.seconds[1].sec, u64::MAX);
    }

    #[tokio::test]
    async fn drain_ends_when_workers_are_done() {
        let clock = RunClock::new(Instant::now());
        let (tx, mut rx) = channel();
        let mut agg = Aggregator::new(clock);
        let worker = tokio::spawn(async move {
            let mut r = Recorder::new(WorkerId::producer("p", 1), clock, tx);
            let now = Instant::now();
            r.sent(now, now);
            r.acked(now, now);
        });
        agg.drain(&mut rx).await;
        worker.await.unwrap();
        let m = agg.finish();
        assert_eq!(m.total_counters.acked, 1);
    }

    #[test]
    fn the_live_view_reads_seconds_as_far_as_they_have_arrived() {
        let (clock, mut rx, mut p, mut c) = setup();
        let t0 = clock.start();
        let mut agg = Aggregator::new(clock);
        p.sent(t0, t0 + ms(1));
        p.acked(t0, t0 + ms(40));
        p.failed("MsgTimedOut", t0 + ms(500));
        c.consumed(t0 + ms(50), Some(ms(45)));
        p.flush();
        c.flush();
        while let Ok(s) = rx.try_recv() {
            agg.ingest(s);
        }
        let (counts, p99) = agg.second_so_far(0).expect("second 0 arrived");
        assert_eq!((counts.sent, counts.acked, counts.consumed, counts.failed_total()), (1, 1, 1, 1));
        assert!((40_000..41_000).contains(&p99), "the open second's produce p99: {p99}");
        assert_eq!(agg.failed_so_far(), 1);
        assert!(agg.second_so_far(1).is_none());
    }

    #[test]
    fn the_live_view_counts_messages_in_flight_and_the_oldest_due_time_over_producers() {
        let clock = RunClock::new(Instant::now());
        let (tx, mut rx) = channel();
        let t0 = clock.start();
        let mut agg = Aggregator::new(clock);
        let mut a = Recorder::new(WorkerId::producer("a", 0), clock, tx.clone());
        let mut a_acks = a.sibling();
        let mut b_acks = Recorder::new(WorkerId::producer("b", 0), clock, tx);
        for _ in 0..5 {
            a.sent(t0, t0 + ms(1));
        }
        a_acks.acked(t0, t0 + ms(3));
        a_acks.failed("MsgTimedOut", t0 + ms(4));
        a_acks.unacked(Some(7_000_000));
        b_acks.unacked(Some(3_000_000));
        for r in [&mut a, &mut a_acks, &mut b_acks] {
            r.flush();
        }
        while let Ok(s) = rx.try_recv() {
            agg.ingest(s);
        }
        assert_eq!(agg.in_flight_so_far(), 3, "5 sent, 1 acked, 1 failed");
        assert_eq!(agg.oldest_unacked_due_ns(), Some(3_000_000), "the older of the two producers'");
        // b has nothing waiting any more; a's reading stands.
        b_acks.unacked(None);
        b_acks.flush();
        agg.ingest(rx.try_recv().unwrap());
        assert_eq!(agg.oldest_unacked_due_ns(), Some(7_000_000));
    }
}
