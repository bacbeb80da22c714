//! The run's one monotonic clock: [`RunClock`] (the start `Instant`, seconds and nanoseconds
//! since it), and the raw `CLOCK_MONOTONIC` readings it is tied to.

use std::time::{Duration, Instant};

/// The run's time base: the start `Instant`, and whole seconds since it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunClock {
    start: Instant,
    /// Whether the hot paths may read the TSC ([`HotClock`](super::HotClock)): decided once
    /// per run, so that every hot clock of the run reads the same source.
    tsc: bool,
    /// `start` as a raw `CLOCK_MONOTONIC` reading (the clock behind `Instant`), for times
    /// taken where no `Instant` can be built: librdkafka's threads (see `load::ack_stamp`).
    start_mono_ns: u64,
}

impl RunClock {
    /// A clock for a run that started at `start`.
    pub fn new(start: Instant) -> RunClock {
        RunClock { start, tsc: tsc_usable(), start_mono_ns: monotonic_ns_of(start) }
    }

    /// Run-clock ns of a raw `CLOCK_MONOTONIC` reading (0 for readings before the start).
    #[inline]
    pub fn from_monotonic_ns(&self, mono_ns: u64) -> u64 {
        mono_ns.saturating_sub(self.start_mono_ns)
    }

    /// The raw `CLOCK_MONOTONIC` reading of run-clock ns `run_ns`: the inverse of
    /// [`from_monotonic_ns`](Self::from_monotonic_ns), exact for times after the start.
    pub fn to_monotonic_ns(&self, run_ns: u64) -> u64 {
        self.start_mono_ns.saturating_add(run_ns)
    }

    /// Whether the kernel keeps time with the TSC, so that hot clocks may read it.
    pub fn tsc_usable(&self) -> bool {
        self.tsc
    }

    /// When the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The index of the second `now` falls in: 0 for the first second of the run.
    #[inline]
    pub fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    /// Time since the start (zero for instants before it).
    #[inline]
    pub fn offset(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// Nanoseconds since the start, for a message header: the consumer turns it back into an
    /// end-to-end latency with [`e2e`](Self::e2e) on the same clock.
    #[inline]
    pub fn offset_nanos(&self, now: Instant) -> u64 {
        u64::try_from(self.offset(now).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The latency from a header's [`offset_nanos`](Self::offset_nanos) to `now` (zero if the
    /// header claims a later time).
    #[inline]
    pub fn e2e(&self, sent_offset_nanos: u64, now: Instant) -> Duration {
        self.offset(now).saturating_sub(Duration::from_nanos(sent_offset_nanos))
    }
}

/// Whether the kernel keeps time with the TSC: it checks that the counter is invariant and
/// synchronised across CPUs, and switches to another clocksource when it is not. Read once
/// per run, by [`RunClock::new`].
pub(crate) fn tsc_usable() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
}

/// `CLOCK_MONOTONIC` in ns, as a plain number: the clock behind `Instant`, readable where no
/// `Instant` can be built (a C callback handing the time to another thread). 0 if the read
/// fails, which on Linux it does not.
#[inline]
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| (t.tv_sec() as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec() as u64))
}

/// The raw `CLOCK_MONOTONIC` reading at instant `t`: an `Instant::now()` read between two raw
/// reads, the tightest of a few tries, so off by at most half that bracket (tens of ns).
pub fn monotonic_ns_of(t: Instant) -> u64 {
    let (_, mid, at) = (0..5)
        .map(|_| {
            let a = monotonic_ns();
            let i = Instant::now();
            let b = monotonic_ns();
            (b.saturating_sub(a), a + b.saturating_sub(a) / 2, i)
        })
        .min_by_key(|x| x.0)
        .unwrap_or((0, monotonic_ns(), Instant::now()));
    if t >= at {
        mid.saturating_add((t - at).as_nanos() as u64)
    } else {
        mid.saturating_sub((at - t).as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn clock_offsets_round_trip() {
        let clock = RunClock::new(Instant::now());
        let sent = clock.start() + ms(1500);
        let header = clock.offset_nanos(sent);
        assert_eq!(clock.e2e(header, sent + ms(7)), ms(7));
        assert_eq!(clock.e2e(u64::MAX, sent), Duration::ZERO);
        assert_eq!(clock.sec(sent), 1);
        assert_eq!(clock.sec(clock.start()), 0);
    }
}
