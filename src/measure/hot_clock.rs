//! A cheap "now" on the run clock for the per-message hot paths: the CPU's time-stamp counter,
//! kept in step with `CLOCK_MONOTONIC` (the clock behind `Instant`, which every other part of
//! the run reads).
//!
//! # Why
//! The producer reads the clock twice per message (send and ack). On a VM, a vDSO
//! `clock_gettime` costs 25 to 40 ns, a third to a half of the whole per-message bookkeeping
//! budget (150 ns); `RDTSC` costs about 13 ns.
//!
//! # How it stays on the run clock
//! Each [`HotClock`] belongs to one thread. It holds an anchor, a TSC value and the run-clock
//! time read together, and a rate in ns per tick, and extrapolates from the anchor. Every
//! [`REANCHOR`] it takes a new anchor and measures the rate over the window just ended, so it
//! follows `CLOCK_MONOTONIC` (including NTP slewing) to within about 100 ns. That matters
//! because hot times meet `Instant` times: a message's send gap is its hot send time minus a
//! due time on the `Instant` schedule, and fault marks are `Instant` times.
//!
//! quanta was not used: its calibration is global and never renewed, so its time drifts away
//! from `Instant` over a long run, and its first use spins for up to 200 ms.
//!
//! # When the TSC is not used
//! Off x86_64, when the kernel does not use the TSC as its clocksource (it demotes a TSC that
//! is unsynchronised across CPUs or unstable), or when a measured rate is implausible, every
//! read is an `Instant::now()`.

use std::time::{Duration, Instant};

use super::clock::RunClock;

/// How often a hot clock takes a new anchor and rate.
pub const REANCHOR: Duration = Duration::from_millis(10);

/// The widest bracket an anchor may come from: a thread preempted between its reads would
/// otherwise anchor the clock milliseconds off. At most half of it is error, and this VM's
/// brackets are about 70 ns.
const MAX_BRACKET_NS: u64 = 1_000;

/// Plausible TSC periods, in ns per tick (50 MHz to 20 GHz); a rate outside this range means
/// the counter cannot be trusted, and the clock falls back to `Instant`.
const PLAUSIBLE_NS_PER_TICK: std::ops::RangeInclusive<f64> = 0.05..=20.0;

/// A thread's cheap reader of the run clock. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct HotClock {
    clock: RunClock,
    tsc: Option<Tsc>,
}

/// The TSC's mapping onto the run clock.
#[derive(Debug, Clone, Copy, Default)]
struct Tsc {
    /// The anchor: a TSC value and the run-clock ns read with it (0 and 0: none yet).
    tsc0: u64,
    ns0: u64,
    /// ns per tick, 32.32 fixed point; 0 while the first rate is being measured.
    mult: u64,
    /// Ticks after `tsc0` for which the anchor is used (0 while uncalibrated).
    span: u64,
}

impl HotClock {
    /// A hot clock on `clock`: the TSC where it is usable, `Instant` otherwise.
    pub fn new(clock: RunClock) -> HotClock {
        HotClock { clock, tsc: clock.tsc_usable().then(Tsc::default) }
    }

    /// A hot clock that always reads `Instant` (for comparisons, and where the TSC is not
    /// wanted).
    pub fn monotonic(clock: RunClock) -> HotClock {
        HotClock { clock, tsc: None }
    }

    /// The run clock it reads.
    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// Whether reads come from the TSC (once calibrated) rather than `Instant`.
    pub fn uses_tsc(&self) -> bool {
        self.tsc.is_some()
    }

    /// Now, in run-clock nanoseconds (see [`RunClock::offset_nanos`]).
    #[inline]
    pub fn now_ns(&mut self) -> u64 {
        if let Some(t) = &self.tsc {
            let dx = read_tsc().wrapping_sub(t.tsc0);
            // NB: a counter behind the anchor wraps to a huge `dx` and takes the slow path.
            if dx < t.span {
                return t.ns0 + ((u128::from(dx) * u128::from(t.mult)) >> 32) as u64;
            }
        }
        self.slow_now_ns()
    }

    /// The run-clock ns of `tsc`, a [`read_tsc`] value taken a little earlier, on any CPU (the
    /// kernel only keeps the TSC as its clocksource when it is synchronised across CPUs).
    /// `None` when this clock does not read the TSC, or is not calibrated yet.
    #[inline]
    pub fn at_tsc(&mut self, tsc: u64) -> Option<u64> {
        let t = self.tsc?;
        // NB: signed: a stamp may predate the anchor (taken on another thread just before this
        // thread re-anchored). Backwards, the current rate is used: over the microseconds to
        // milliseconds a stamp waits for its callback, its error stays in the nanoseconds.
        // Re-anchoring for such a stamp would measure the rate over a window of microseconds.
        if t.mult == 0 || tsc.wrapping_sub(t.tsc0) as i64 >= t.span as i64 {
            // Uncalibrated, or the stamp lies past the anchor's window (so the anchor is at
            // least that old): a fresh anchor first.
            self.slow_now_ns();
        }
        let t = self.tsc?;
        if t.mult == 0 {
            return None;
        }
        let dx = tsc.wrapping_sub(t.tsc0) as i64;
        let dns = (i128::from(dx) * i128::from(t.mult)) >> 32;
        Some(t.ns0.saturating_add_signed(dns as i64))
    }

    /// Uncalibrated, past the anchor's window, or not on the TSC at all.
    #[cold]
    fn slow_now_ns(&mut self) -> u64 {
        let clock = self.clock;
        let Some(t) = &mut self.tsc else { return clock.offset_nanos(Instant::now()) };
        if t.mult == 0 {
            // No rate yet: `Instant` until a first anchor exists and a window has passed since.
            let ns = clock.offset_nanos(Instant::now());
            if t.tsc0 == 0 {
                if let Some((tsc0, ns0)) = anchor(clock) {
                    (t.tsc0, t.ns0) = (tsc0, ns0);
                }
                return ns;
            }
            if ns.saturating_sub(t.ns0) < REANCHOR.as_nanos() as u64 {
                return ns;
            }
        }
        // NB: no clean anchor now (this thread was preempted between its reads): keep the
        // old one for this read, and try again at the next.
        let Some((tsc1, ns1)) = anchor(clock) else { return clock.offset_nanos(Instant::now()) };
        let (dx, dns) = (tsc1.wrapping_sub(t.tsc0), ns1.saturating_sub(t.ns0));
        let ns_per_tick = dns as f64 / dx as f64;
        if tsc1 <= t.tsc0 || !PLAUSIBLE_NS_PER_TICK.contains(&ns_per_tick) {
            // The counter went backwards or runs at an absurd rate: not a clock to trust.
            tracing::warn!(ns_per_tick, "the CPU's time-stamp counter is unusable; reading Instant instead");
            self.tsc = None;
            return ns1;
        }
        let mult = ((u128::from(dns) << 32) / u128::from(dx)) as u64;
        let span = ((u128::from(REANCHOR.as_nanos() as u64) << 32) / u128::from(mult.max(1))) as u64;
        *t = Tsc { tsc0: tsc1, ns0: ns1, mult, span };
        ns1
    }
}

/// A TSC value and the run-clock ns at the same moment: the TSC read between two `Instant`
/// reads, the tightest of three tries (off by half that bracket, a few tens of ns); `None`
/// when even the tightest is wider than [`MAX_BRACKET_NS`].
fn anchor(clock: RunClock) -> Option<(u64, u64)> {
    (0..3)
        .map(|_| {
            let a = clock.offset_nanos(Instant::now());
            let x = read_tsc();
            let b = clock.offset_nanos(Instant::now());
            (b.saturating_sub(a), x, a + b.saturating_sub(a) / 2)
        })
        .min_by_key(|&(bracket, _, _)| bracket)
        .filter(|&(bracket, x, _)| bracket <= MAX_BRACKET_NS && x != 0)
        .map(|(_, x, ns)| (x, ns))
}

/// The CPU's time-stamp counter (0 off x86_64). Only meaningful when the run clock says the
/// TSC is usable ([`RunClock::tsc_usable`]); [`HotClock::at_tsc`] maps it to run-clock ns.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub fn read_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter into registers; it touches no memory.
    // Whether its value can be trusted is decided by `RunClock::tsc_usable` and the rate check.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn read_tsc() -> u64 {
    // Never used: `tsc_usable` is false off x86_64.
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hot read falls between two `Instant` reads around it, within a slack far below
    /// any latency aftershock reports, across several re-anchorings.
    fn agrees_with_instant(mut hot: HotClock) {
        const SLACK_NS: u64 = 2_000;
        let clock = hot.clock();
        let until = Instant::now() + 6 * REANCHOR;
        let mut reads = 0u64;
        let mut last = 0;
        while Instant::now() < until {
            let before = clock.offset_nanos(Instant::now());
            let now = hot.now_ns();
            let after = clock.offset_nanos(Instant::now());
            assert!(now + SLACK_NS >= before && now <= after + SLACK_NS, "{before} <= {now} <= {after}");
            // Never backwards by more than the slack either (a re-anchoring may step back a little).
            assert!(now + SLACK_NS >= last, "{now} after {last}");
            last = now;
            reads += 1;
        }
        assert!(reads > 1000, "{reads}");
    }

    #[test]
    fn tsc_clock_agrees_with_instant() {
        let clock = RunClock::new(Instant::now());
        let hot = HotClock::new(clock);
        // NB: on this project's CI and dev VMs the kernel's clocksource is the TSC, so this
        // exercises the TSC path there; elsewhere it checks the fallback.
        assert_eq!(hot.uses_tsc(), clock.tsc_usable());
        agrees_with_instant(hot);
    }

    #[test]
    fn monotonic_clock_agrees_with_instant() {
        let hot = HotClock::monotonic(RunClock::new(Instant::now()));
        assert!(!hot.uses_tsc());
        agrees_with_instant(hot);
    }

    #[test]
    fn earlier_tsc_values_map_onto_the_run_clock() {
        const SLACK_NS: u64 = 2_000;
        let clock = RunClock::new(Instant::now());
        let mut hot = HotClock::new(clock);
        if !hot.uses_tsc() {
            assert_eq!(hot.at_tsc(read_tsc()), None, "no TSC, no mapping");
            return;
        }
        assert_eq!(hot.at_tsc(read_tsc()), None, "not calibrated yet");
        std::thread::sleep(2 * REANCHOR);
        hot.now_ns();
        // TSC values taken between two Instant reads, as another thread would take them, over
        // three anchor windows; mapped afterwards, most of them from before the latest anchor.
        let mut taken = Vec::new();
        while taken.len() < 60 {
            let before = clock.offset_nanos(Instant::now());
            let tsc = read_tsc();
            let after = clock.offset_nanos(Instant::now());
            taken.push((before, tsc, after));
            std::thread::sleep(REANCHOR / 20);
        }
        for (before, tsc, after) in taken {
            let ns = hot.at_tsc(tsc).expect("calibrated");
            assert!(ns + SLACK_NS >= before && ns <= after + SLACK_NS, "{before} <= {ns} <= {after}");
        }
    }

    #[test]
    fn calibrated_reads_come_from_the_tsc() {
        let mut hot = HotClock::new(RunClock::new(Instant::now()));
        if !hot.uses_tsc() {
            return;
        }
        hot.now_ns(); // the first anchor
        std::thread::sleep(2 * REANCHOR);
        hot.now_ns(); // the second, and the rate
        let t = hot.tsc.expect("still on the TSC");
        assert!(t.mult > 0 && t.span > 0, "{t:?}");
        // The rate is the TSC's: between 50 MHz and 20 GHz.
        let ns_per_tick = t.mult as f64 / 4_294_967_296.0;
        assert!(PLAUSIBLE_NS_PER_TICK.contains(&ns_per_tick), "{ns_per_tick}");
    }
}
