//! The open-loop send schedule: when message n of a producer instance is meant to be sent.
//! Latency is measured from these intended times, so a stalled cluster shows up as latency
//! and not as a lower send rate (no coordinated omission).

use std::time::Duration;

/// A constant rate, reached through an optional linear ramp from zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Messages per second once the ramp is over.
    rate: f64,
    /// The ramp's length in seconds.
    ramp_secs: f64,
    /// Derived once: `due` runs for every message, and a division costs as much as the rest of
    /// it (the producer's bookkeeping budget is 150 ns per message).
    interval_secs: f64,
    ramp_msgs: f64,
}

impl Schedule {
    /// `rate` messages per second, reached after a linear ramp of length `ramp`.
    pub fn new(rate: f64, ramp: Duration) -> Schedule {
        let ramp_secs = ramp.as_secs_f64();
        Schedule { rate, ramp_secs, interval_secs: 1.0 / rate, ramp_msgs: rate * ramp_secs / 2.0 }
    }

    /// Offset from the schedule's start at which message `n` (0-based) is due.
    ///
    /// During a ramp of length T to rate R, the rate grows as R·t/T, so n(t) = R·t²/(2T) and
    /// message n is due at sqrt(2Tn/R); after it, messages are 1/R apart.
    #[inline]
    pub fn due(&self, n: u64) -> Duration {
        Duration::from_nanos(self.due_ns(n))
    }

    /// [`due`](Self::due) in nanoseconds.
    #[inline]
    pub fn due_ns(&self, n: u64) -> u64 {
        let n = n as f64;
        let t = self.ramp_secs;
        let secs = if n < self.ramp_msgs {
            (2.0 * t * n * self.interval_secs).sqrt()
        } else {
            t + (n - self.ramp_msgs) * self.interval_secs
        };
        // NB: not `Duration::from_secs_f64`, whose exact rounding costs more than the rest of
        // this function; a nanosecond of truncation is far below any clock's resolution here.
        (secs.max(0.0) * 1e9) as u64
    }

    /// How many messages are due in [0, `at`): the number a perfect generator has sent by then.
    pub fn due_by(&self, at: Duration) -> u64 {
        let s = at.as_secs_f64();
        let t = self.ramp_secs;
        let n =
            if t > 0.0 && s < t { self.rate * s * s / (2.0 * t) } else { self.rate * t / 2.0 + self.rate * (s - t) };
        n.max(0.0).ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_spaces_messages_evenly() {
        let s = Schedule::new(1000.0, Duration::ZERO);
        assert_eq!(s.due(0), Duration::ZERO);
        assert_eq!(s.due(1), Duration::from_millis(1));
        assert_eq!(s.due(1000), Duration::from_secs(1));
        assert_eq!(s.due_by(Duration::from_secs(2)), 2000);
    }

    #[test]
    fn ramp_reaches_the_rate_and_sends_half_as_much_meanwhile() {
        let s = Schedule::new(1000.0, Duration::from_secs(10));
        // half of 10 s at 1000/s is sent during the ramp
        assert_eq!(s.due_by(Duration::from_secs(10)), 5000);
        let at = s.due(5000).as_secs_f64();
        assert!((at - 10.0).abs() < 1e-9, "{at}");
        // after the ramp, 1 ms apart
        let gap = s.due(6001).as_secs_f64() - s.due(6000).as_secs_f64();
        assert!((gap - 0.001).abs() < 1e-9, "{gap}");
        // monotonic throughout
        let mut last = Duration::ZERO;
        for n in 0..8000 {
            let d = s.due(n);
            assert!(d >= last);
            last = d;
        }
        // due and due_by agree
        for n in [1u64, 10, 100, 4999, 5001, 7000] {
            assert!(s.due_by(s.due(n)) <= n + 1, "{n}");
        }
    }
}
