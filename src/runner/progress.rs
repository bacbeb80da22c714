//! The live progress display: phase, time left, rates, p99 and errors, as a bar on a
//! terminal or a line every few seconds in logs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::measure::{IntervalSnapshot, LatencyHistogram, LatencyKind, PhaseSpec, WorkerKind};

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

/// The live progress display: phase, time left, rates, p99, errors.
pub struct ProgressView {
    mode: Progress,
    phases: Vec<PhaseSpec>,
    total: Duration,
    bar: Option<indicatif::ProgressBar>,
    /// Per-second sums of the most recent seconds.
    recent: BTreeMap<u64, (u64, u64, u64, u64, LatencyHistogram)>,
    errors: u64,
    last_line: Instant,
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
        ProgressView { mode, phases, total, bar, recent: BTreeMap::new(), errors: 0, last_line: Instant::now() }
    }

    pub fn observe(&mut self, s: &IntervalSnapshot) {
        let e = self.recent.entry(s.sec).or_insert_with(|| (0, 0, 0, 0, LatencyHistogram::new()));
        e.0 += s.counters.sent;
        e.1 += s.counters.acked;
        e.2 += s.counters.consumed;
        e.3 += s.counters.failed_total();
        self.errors += s.counters.failed_total();
        if s.worker.kind == WorkerKind::Producer
            && let Some(h) = s.histogram(LatencyKind::Produce)
        {
            e.4.merge(h);
        }
        while self.recent.len() > 8 {
            self.recent.pop_first();
        }
    }

    /// Acked and failed deliveries in second `sec`, if it is still remembered.
    pub fn counts(&self, sec: u64) -> (u64, u64) {
        self.recent.get(&sec).map(|(_, a, _, f, _)| (*a, *f)).unwrap_or((0, 0))
    }

    pub fn show(&mut self, now: Duration) {
        if self.mode == Progress::None {
            return;
        }
        let phase =
            self.phases.iter().find(|p| now >= p.start && now < p.end()).map(|p| p.name.as_str()).unwrap_or("drain");
        let end = self.phases.last().map(|p| p.end()).unwrap_or(self.total);
        let left = end.saturating_sub(now).as_secs();
        // The last complete second: the newest one may still be filling.
        let sec = now.as_secs().saturating_sub(1);
        let (sent, acked, consumed, failed, p99) = match self.recent.get(&sec) {
            Some((s, a, c, f, h)) => (*s, *a, *c, *f, h.value_at_quantile(0.99)),
            None => (0, 0, 0, 0, 0),
        };
        let msg = format!(
            "{phase:<8} {left:>4}s left  sent {sent}/s  acked {acked}/s  consumed {consumed}/s  p99 {:.1} ms  errors {} (+{failed})",
            p99 as f64 / 1000.0,
            self.errors
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
