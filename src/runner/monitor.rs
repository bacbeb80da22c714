//! Watches a run while it goes: feeds every worker's snapshots to the aggregator, drives the
//! progress display, samples the process, and applies the live stop rules (the safety
//! abort on failed deliveries, checks with `abort_on_fail`), stopping the run with the reason.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::progress::{Progress, ProgressView};
use crate::chaos::outcome::FaultOutcome;
use crate::chaos::recovery;
use crate::gate::LiveGate;
use crate::measure::{Aggregator, Measurements, PhaseSpec, ProcessSample, RunClock, SnapshotReceiver};
use crate::scenario::Scenario;
use crate::scenario::fault::ErrorRateAbort;
use crate::stop::{Stop, StopReason};

/// The monitor of one run.
pub struct Monitor {
    view: ProgressView,
    abort_rule: Option<ErrorRule>,
    live_gate: Option<LiveGate>,
    stop: Stop,
}

/// The safety rule on failed deliveries and how long they have been failing.
struct ErrorRule {
    rule: ErrorRateAbort,
    bad_streak: u64,
    checked_sec: u64,
}

impl Monitor {
    pub fn new(scenario: &Scenario, phases: Vec<PhaseSpec>, progress: Progress, stop: Stop) -> Monitor {
        let live_gate = LiveGate::new(&scenario.checks, phases.clone());
        Monitor {
            view: ProgressView::new(progress, phases, scenario.total_duration()),
            abort_rule: scenario.safety.abort_on_errors.map(|rule| ErrorRule { rule, bad_streak: 0, checked_sec: 0 }),
            // Checks with `abort_on_fail` stop the run as soon as they have certainly failed.
            live_gate,
            stop,
        }
    }

    /// Runs until every worker has dropped its sender; returns what the aggregator measured.
    /// `faults` brings each fault's outcome as its observation ends.
    pub async fn run(
        mut self,
        mut agg: Aggregator,
        mut rx: SnapshotReceiver,
        mut faults: UnboundedReceiver<FaultOutcome>,
        clock: RunClock,
    ) -> Measurements {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut faults_open = true;
        loop {
            tokio::select! {
                o = faults.recv(), if faults_open => match o {
                    Some(o) => {
                        if let Some(gate) = &mut self.live_gate {
                            gate.observe_fault(&recovery::record_so_far(&o));
                        }
                    }
                    None => faults_open = false,
                },
                s = rx.recv() => match s {
                    Some(s) => {
                        if let Some(gate) = &mut self.live_gate {
                            gate.observe(&s);
                        }
                        agg.ingest(s);
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let now = clock.offset(Instant::now());
                    if let Some(p) = ProcessSample::of_self(now.as_secs()) {
                        agg.note_process(p);
                    }
                    self.view.show(now, &agg);
                    self.apply_rules(now, &agg);
                }
            }
        }
        self.view.finish();
        agg.finish()
    }

    /// The live stop rules, once a second.
    fn apply_rules(&mut self, now: Duration, agg: &Aggregator) {
        if self.stop.is_cancelled() {
            return;
        }
        if let Some(gate) = &mut self.live_gate
            && let Some(why) = gate.poll(now.as_secs_f64())
        {
            eprintln!("stopping: {why}");
            self.stop.stop(StopReason::CheckFailed(why));
            return;
        }
        // The abort rule looks at completed seconds: failed share of all reports.
        if let Some(r) = &mut self.abort_rule {
            let sec = now.as_secs().saturating_sub(2);
            if sec <= r.checked_sec {
                return;
            }
            r.checked_sec = sec;
            let (acked, failed) = agg.second_so_far(sec).map_or((0, 0), |(c, _)| (c.acked, c.failed_total()));
            let share = if acked + failed == 0 { 0.0 } else { failed as f64 / (acked + failed) as f64 };
            r.bad_streak = if share > r.rule.error_rate { r.bad_streak + 1 } else { 0 };
            if r.bad_streak >= r.rule.for_.as_secs().max(1) {
                self.stop.stop(StopReason::Safety(format!(
                    "safety abort: more than {:.0}% of deliveries failed for {} s in a row",
                    r.rule.error_rate * 100.0,
                    r.bad_streak
                )));
            }
        }
    }
}
