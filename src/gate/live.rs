//! The live gate: a scenario's `abort_on_fail` checks evaluated while the run goes, from the
//! same snapshots the aggregator receives and on the aggregator's phases.

use std::collections::BTreeMap;

use super::{CheckResult, Status, stat_of};
use crate::measure::{IntervalSnapshot, LatencyHistogram, PhaseSpec, WorkerKind};
use crate::report::FaultRecord;
use crate::scenario::checks::{Check, Metric, Scope, Stat};
use crate::vocab::latency::LatencyKind;

/// Seconds a second's data may still be arriving after it ended (workers flush when their
/// second rolls over and idle ones tick every few hundred milliseconds).
pub const SETTLE_SECS: f64 = 2.0;

/// Whether second `sec` lies wholly inside `phase` (to within the report's millisecond
/// rounding, as [`whole_seconds`] reads it).
fn holds_whole(phase: &PhaseSpec, sec: u64) -> bool {
    let (start, end) = (phase.start.as_secs_f64(), phase.end().as_secs_f64());
    sec as f64 + 0.0005 >= start && sec as f64 + 1.0 <= end + 0.0005
}

#[derive(Debug, Default, Clone)]
struct LiveSecond {
    sent: u64,
    acked: u64,
    failed: u64,
    lag: Option<u64>,
}

/// Evaluates the `abort_on_fail` checks while a run goes, from the same per-worker snapshots
/// the aggregator receives, so that a run can stop as soon as one has **certainly** failed:
///
/// - a bound that data can only cross one way is decided as soon as it is crossed: a `max`
///   on `*.max`, `errors` or `lag.max` (they only grow), a `min` on `throughput.min` (it only
///   shrinks, over whole seconds older than [`SETTLE_SECS`]);
/// - every other phase check (percentiles, means, rates) is decided when its phase has ended
///   and settled, on that phase's complete data;
/// - recovery checks are decided when [`observe_fault`](Self::observe_fault) gets the
///   fault's record, on the figures it has (a missing figure never aborts);
/// - nothing aborts once the last phase has ended: the end-of-run gate decides then.
///
/// The runner feeds it with [`observe`](Self::observe) and asks [`poll`](Self::poll) about
/// once a second; `poll` returns why to stop, once.
#[derive(Debug)]
pub struct LiveGate {
    checks: Vec<Check>,
    decided: Vec<bool>,
    /// The aggregator's phases, and its rule: a second belongs to the phase holding its
    /// midpoint ([`PhaseSpec::covers`]).
    phases: Vec<PhaseSpec>,
    seconds: BTreeMap<u64, LiveSecond>,
    /// Per phase, one histogram per latency kind (in [`LatencyKind::ALL`] order).
    latency: Vec<[LatencyHistogram; 3]>,
    faults: Vec<FaultRecord>,
    load_end: f64,
    fired: bool,
}

impl LiveGate {
    /// A live gate for the `abort_on_fail` checks among `checks`; `None` when there are none.
    pub fn new(checks: &[Check], phases: Vec<PhaseSpec>) -> Option<LiveGate> {
        let checks: Vec<Check> = checks.iter().filter(|c| c.abort_on_fail).cloned().collect();
        if checks.is_empty() {
            return None;
        }
        let load_end = phases.iter().map(|p| p.end().as_secs_f64()).fold(0.0, f64::max);
        Some(LiveGate {
            decided: vec![false; checks.len()],
            latency: phases.iter().map(|_| Default::default()).collect(),
            checks,
            phases,
            seconds: BTreeMap::new(),
            faults: Vec::new(),
            load_end,
            fired: false,
        })
    }

    /// Takes in one worker's snapshot (call it with every snapshot the aggregator gets).
    pub fn observe(&mut self, s: &IntervalSnapshot) {
        let sec = self.seconds.entry(s.sec).or_default();
        sec.sent += s.counters.sent;
        sec.acked += s.counters.acked;
        sec.failed += s.counters.failed_total();
        if let Some(l) = s.lag {
            sec.lag = Some(sec.lag.map_or(l, |x| x.max(l)));
        }
        if let Some(i) = self.phases.iter().position(|p| p.covers(s.sec)) {
            for kind in LatencyKind::ALL {
                // E2e latency is recorded by consumers, the other two by producers.
                let from_right_worker = (kind == LatencyKind::E2e) == (s.worker.kind == WorkerKind::Consumer);
                if let (true, Some(h)) = (from_right_worker, s.histogram(kind)) {
                    self.latency[i][kind.index()].merge(h);
                }
            }
        }
    }

    /// Takes in a fault's record once its recovery figures are known.
    pub fn observe_fault(&mut self, f: &FaultRecord) {
        self.faults.push(f.clone());
    }

    /// The reason to stop the run, the first time an `abort_on_fail` check has certainly
    /// failed; `now_secs` is the time since the run start.
    pub fn poll(&mut self, now_secs: f64) -> Option<String> {
        if self.fired || now_secs >= self.load_end {
            return None;
        }
        for i in 0..self.checks.len() {
            if self.decided[i] {
                continue;
            }
            let c = self.checks[i].clone();
            let (done, value) = self.live_value(&c, now_secs);
            if done {
                self.decided[i] = true;
            }
            if let Some((v, scope)) = value
                && !c.passes(v)
            {
                self.decided[i] = true;
                self.fired = true;
                let r = CheckResult { check: c, scope, value: Some(v), status: Status::Fail, note: None };
                return Some(format!("check failed (abort_on_fail): {}", r.explain()));
            }
        }
        None
    }

    /// Whether the check is decided now, and a value it may be judged on now (one that can
    /// only move further past the bound, or the final one).
    fn live_value(&self, c: &Check, now: f64) -> (bool, Option<(f64, String)>) {
        if let Metric::Recovery(figure) = c.metric {
            // Decided per fault as records arrive; never "done" while faults may still fire.
            let worst = self
                .faults
                .iter()
                .filter(|f| match &c.scope {
                    Scope::Fault(n) => &f.name == n || &f.id == n,
                    _ => true,
                })
                .filter_map(|f| figure.of(&f.recovery).map(|v| (v, format!("fault {}", f.id))))
                .find(|(v, _)| !c.passes(*v));
            return (false, worst);
        }
        let (idx, label): (Vec<usize>, String) = match &c.scope {
            Scope::Phase(p) => {
                (self.phases.iter().position(|x| &x.name == p).into_iter().collect(), format!("phase {p}"))
            }
            _ => ((0..self.phases.len()).filter(|i| self.phases[*i].measured).collect(), "measured phases".to_string()),
        };
        if idx.is_empty() {
            return (true, None);
        }
        let end = idx.iter().map(|i| self.phases[*i].end().as_secs_f64()).fold(0.0, f64::max);
        let done = now >= end + SETTLE_SECS;
        let settled = |sec: u64| (sec as f64) + 1.0 + SETTLE_SECS <= now;
        let in_scope = |sec: u64| idx.iter().any(|i| self.phases[*i].covers(sec));
        let value = match c.metric {
            Metric::Latency(of, stat) => {
                let mut h = LatencyHistogram::new();
                for i in &idx {
                    h.merge(&self.latency[*i][of.index()]);
                }
                let monotonic = stat == Stat::Max && c.max.is_some();
                (!h.is_empty() && (done || monotonic)).then(|| stat_of(&h.summary(), stat))
            }
            Metric::Errors => {
                let n: u64 = self.seconds.iter().filter(|(s, _)| in_scope(**s)).map(|(_, x)| x.failed).sum();
                (done || c.max.is_some_and(|hi| n as f64 > hi)).then_some(n as f64)
            }
            Metric::LagMax => {
                let l = self.seconds.iter().filter(|(s, _)| in_scope(**s)).filter_map(|(_, x)| x.lag).max();
                l.filter(|l| done || c.max.is_some_and(|hi| *l as f64 > hi)).map(|l| l as f64)
            }
            Metric::ThroughputMin => {
                let min = self
                    .seconds
                    .iter()
                    .filter(|(s, _)| idx.iter().any(|i| holds_whole(&self.phases[*i], **s)) && settled(**s))
                    .map(|(_, x)| x.acked)
                    .min();
                min.filter(|m| done || c.min.is_some_and(|lo| (*m as f64) < lo)).map(|m| m as f64)
            }
            Metric::ThroughputMean | Metric::ErrorRate if done => {
                let secs: Vec<&LiveSecond> =
                    self.seconds.iter().filter(|(s, _)| in_scope(**s)).map(|(_, x)| x).collect();
                let (sent, acked, failed) =
                    secs.iter().fold((0u64, 0u64, 0u64), |(s, a, f), x| (s + x.sent, a + x.acked, f + x.failed));
                let dur: f64 =
                    idx.iter().map(|i| self.phases[*i].end().as_secs_f64() - self.phases[*i].start.as_secs_f64()).sum();
                match c.metric {
                    Metric::ThroughputMean if dur > 0.0 => Some(acked as f64 / dur),
                    Metric::ErrorRate if sent > 0 => Some(failed as f64 / sent as f64),
                    _ => None,
                }
            }
            _ => None,
        };
        (done, value.map(|v| (v, label)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::measure::{Counters, WorkerId};
    use serde_json::json;

    fn check(v: serde_json::Value) -> Check {
        let doc =
            json!({"phases": [{"name": "warmup"}, {"name": "steady"}], "faults": [{"name": "kill"}], "checks": [v]});
        crate::scenario::checks::from_scenario_value(&doc).unwrap().remove(0)
    }

    fn phases() -> Vec<PhaseSpec> {
        let ms = Duration::from_millis;
        vec![PhaseSpec::new("warmup", ms(400), ms(2000), false), PhaseSpec::new("steady", ms(2400), ms(10_000), true)]
    }

    fn snapshot(sec: u64, acked: u64, failed: u64, produce_us: u64) -> IntervalSnapshot {
        let mut s = IntervalSnapshot::new(WorkerId::producer("p", 0), sec);
        let mut f = BTreeMap::new();
        if failed > 0 {
            f.insert("MsgTimedOut".to_string(), failed);
        }
        s.counters = Counters { sent: acked + failed, acked, consumed: 0, failed: f };
        for _ in 0..acked {
            s.histogram_mut(LatencyKind::Produce).record_us(produce_us);
        }
        s
    }

    #[test]
    fn no_abort_checks_means_no_live_gate() {
        assert!(LiveGate::new(&[check(json!({"metric": "e2e.p99", "max": "5ms"}))], phases()).is_none());
    }

    #[test]
    fn monotonic_bounds_abort_as_soon_as_they_are_crossed() {
        let c = check(json!({"metric": "produce.max", "phase": "steady", "max": "50ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(3, 100, 0, 10_000));
        assert_eq!(g.poll(4.0), None);
        g.observe(&snapshot(4, 100, 0, 80_000));
        let why = g.poll(5.0).expect("the max only grows: abort now");
        assert!(why.contains("produce.max in phase steady was 80.1 ms, above the max 50.0 ms"), "{why}");
        assert_eq!(g.poll(6.0), None, "fires once");
    }

    #[test]
    fn throughput_min_uses_settled_whole_seconds() {
        let c = check(json!({"metric": "throughput.min", "phase": "steady", "min": 90, "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        // Second 2 is partly warm-up (the phase starts at 2.4): never judged.
        g.observe(&snapshot(2, 10, 0, 1000));
        g.observe(&snapshot(3, 100, 0, 1000));
        // Second 4 is still filling at 5.5: not judged yet.
        g.observe(&snapshot(4, 40, 0, 1000));
        assert_eq!(g.poll(5.5), None);
        let why = g.poll(7.0).expect("second 4 has settled");
        assert!(why.contains("throughput.min in phase steady was 40.0 msg/s, below the min 90.0 msg/s"), "{why}");
    }

    #[test]
    fn percentiles_wait_for_the_end_of_their_phase() {
        let c = check(json!({"metric": "produce.p99", "phase": "warmup", "max": "5ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(0, 100, 0, 20_000));
        g.observe(&snapshot(1, 100, 0, 20_000));
        assert_eq!(g.poll(2.0), None, "the phase has not ended");
        assert!(g.poll(4.5).unwrap().contains("produce.p99 in phase warmup"));
        // Nothing aborts after the load: the end-of-run gate decides.
        let c = check(json!({"metric": "produce.p99", "phase": "steady", "max": "5ms", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(5, 100, 0, 20_000));
        assert_eq!(g.poll(12.5), None);
    }

    #[test]
    fn errors_and_recovery() {
        let c = check(json!({"metric": "errors", "max": 5, "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        g.observe(&snapshot(1, 100, 50, 1000)); // warm-up: not measured
        assert_eq!(g.poll(3.0), None);
        g.observe(&snapshot(3, 100, 6, 1000));
        assert!(g.poll(4.0).unwrap().contains("errors in the measured phases was 6, above the max 5"));

        let c =
            check(json!({"metric": "recovery.isr_recovered", "fault": "kill", "max": "10s", "abort_on_fail": true}));
        let mut g = LiveGate::new(&[c], phases()).unwrap();
        let mut f = FaultRecord {
            id: "kill".into(),
            name: "kill".into(),
            action: "kill".into(),
            target: Default::default(),
            start_secs: 3.0,
            end_secs: 8.0,
            recovery: Default::default(),
        };
        g.observe_fault(&f);
        assert_eq!(g.poll(9.0), None, "a missing figure never aborts");
        f.recovery.isr_recovered_secs = Some(12.0);
        g.observe_fault(&f);
        assert!(g.poll(9.5).unwrap().contains("recovery.isr_recovered in fault kill was 12.0 s"));
    }
}
