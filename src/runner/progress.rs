//! The live progress display: phase, time left, rates, p99 and errors, as a bar on a
//! terminal or a line every few seconds in logs.

use std::time::{Duration, Instant};

use crate::measure::{Aggregator, PhaseSpec};

/// How progress is shown while the run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A live line on a terminal.
    Live,
    /// A plain line every few seconds (logs, CI).
    Lines,
    None,
}

impl Progress {
    /// Live on a terminal, plain lines otherwise, nothing when quiet.
    pub fn auto(quiet: bool) -> Progress {
        use std::io::IsTerminal as _;
        if quiet {
            Progress::None
        } else if std::io::stderr().is_terminal() {
            Progress::Live
        } else {
            Progress::Lines
        }
    }
}

/// The live progress display: phase, time left, rates, p99, errors, read from the aggregator
/// (it keeps no counts of its own).
pub struct ProgressView {
    mode: Progress,
    phases: Vec<PhaseSpec>,
    total: Duration,
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
}

/// The messages waiting for their acks and how long the oldest has waited since it was due:
/// while nothing is acknowledged (an outage), the latency users feel is only visible here.
fn waiting(in_flight: u64, oldest_due_ns: Option<u64>, now: Duration) -> String {
    match oldest_due_ns {
        Some(due) if in_flight > 0 => {
            let age = Duration::from_nanos((now.as_nanos() as u64).saturating_sub(due));
            format!("in flight {in_flight} (oldest {:.1} s)", age.as_secs_f64())
        }
        _ => format!("in flight {in_flight}"),
    }
}

impl ProgressView {
    pub fn new(mode: Progress, phases: Vec<PhaseSpec>, total: Duration) -> ProgressView {
        let bar = (mode == Progress::Live).then(|| {
            let b = indicatif::ProgressBar::new(total.as_secs().max(1));
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos:>4}/{len}s {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        ProgressView { mode, phases, total, bar, last_line: Instant::now() }
    }

    /// Shows the run at `now`, from what the aggregator has so far.
    pub fn show(&mut self, now: Duration, agg: &Aggregator) {
        if self.mode == Progress::None {
            return;
        }
        let phase =
            self.phases.iter().find(|p| now >= p.start && now < p.end()).map(|p| p.name.as_str()).unwrap_or("drain");
        let end = self.phases.last().map(|p| p.end()).unwrap_or(self.total);
        let left = end.saturating_sub(now).as_secs();
        // The last complete second: the newest one may still be filling.
        let sec = now.as_secs().saturating_sub(1);
        let (sent, acked, consumed, failed, p99) = match agg.second_so_far(sec) {
            Some((c, p99)) => (c.sent, c.acked, c.consumed, c.failed_total(), p99),
            None => (0, 0, 0, 0, 0),
        };
        let msg = format!(
            "{phase:<8} {left:>4}s left  sent {sent}/s  acked {acked}/s  consumed {consumed}/s  p99 {}  {}  errors {} (+{failed})",
            if acked > 0 { format!("{:.1} ms", p99 as f64 / 1000.0) } else { "-".into() },
            waiting(agg.in_flight_so_far(), agg.oldest_unacked_due_ns(), now),
            agg.failed_so_far()
        );
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                bar.set_position(now.as_secs().min(self.total.as_secs()));
                bar.set_message(msg);
            }
            (None, Progress::Lines) if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                eprintln!("[{:>5}s] {msg}", now.as_secs());
            }
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_part_shows_the_oldest_age_only_while_messages_wait() {
        let now = Duration::from_secs(30);
        assert_eq!(waiting(1200, Some(22_500_000_000), now), "in flight 1200 (oldest 7.5 s)");
        assert_eq!(waiting(0, Some(22_500_000_000), now), "in flight 0");
        // At rate "max" nothing is due before it is sent: no age.
        assert_eq!(waiting(5, None, now), "in flight 5");
    }
}
