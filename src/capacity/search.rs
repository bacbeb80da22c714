//! The pure part of a capacity search: which rate to try next, and whether a step's figures
//! show the rate as sustained. No clock, no cluster: the run in [`super`] feeds it.
//!
//! # How the rate moves
//! OpenMessaging Benchmark's `RateController` (openmessaging/benchmark,
//! `benchmark-framework/.../RateController.java`) adjusts the rate every control period: it
//! grows it by ×(1 + ramping factor), the factor doubling after a good period (up to ×2) and
//! halving after a bad one (a publish or receive backlog above 1000 messages, or, when set, a
//! p99 publish or end-to-end latency above its target, which also steps back to 95%).
//! aftershock keeps the two movements but makes them discrete, so that every tried rate is
//! its own separately measured step with its own verdict in the report:
//! 1. **ramp**: from `start`, grow by the step rule (×factor or +rate) while steps pass, up to
//!    `max_rate`;
//! 2. **refine**: after the first failing step, bisect between the last passing and the first
//!    failing rate, `refine` times (OMB's halving, as a binary search).
//!
//! The answer is a bracket: the highest passing rate and the lowest failing one above it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::measure::LatencySummary;
use crate::report::generator::{MAX_SEND_GAP_P99_US, cluster_kept_up};
use crate::scenario::capacity::{StepRule, Sustain};

/// Targets are whole messages per second.
fn round_rate(r: f64) -> f64 {
    r.round().max(1.0)
}

/// Which stage of the search a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Ramp,
    Refine,
}

/// Why the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// A step failed and the refinement between the last passing and it is done.
    Bracketed,
    /// `max_rate` passed: the capacity is at least that.
    MaxRate,
    /// The step budget ran out.
    MaxSteps,
    /// The very first step (the start rate) failed.
    StartFailed,
    /// Stopped by Ctrl-C or an error before the search ended.
    Aborted,
}

/// The search settings it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub start: f64,
    pub step: StepRule,
    pub max_rate: Option<f64>,
    pub max_steps: u32,
    pub refine: u32,
}

/// The state of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    plan: Plan,
    steps: u32,
    stage: Stage,
    /// Highest passing rate so far.
    good: Option<f64>,
    /// Lowest failing rate so far.
    bad: Option<f64>,
    refines_done: u32,
    ended: Option<Limit>,
}

impl Search {
    pub fn new(plan: Plan) -> Search {
        Search { plan, steps: 0, stage: Stage::Ramp, good: None, bad: None, refines_done: 0, ended: None }
    }

    /// The next rate to try and its stage, or `None` when the search is over (see [`limit`](Self::limit)).
    pub fn next_rate(&mut self) -> Option<(f64, Stage)> {
        if self.ended.is_some() {
            return None;
        }
        if self.steps >= self.plan.max_steps {
            self.ended = Some(if self.bad.is_some() { Limit::Bracketed } else { Limit::MaxSteps });
            return None;
        }
        let cap = |r: f64| self.plan.max_rate.map_or(r, |m| r.min(m));
        match (self.stage, self.good, self.bad) {
            (Stage::Ramp, None, _) => Some((round_rate(cap(self.plan.start)), Stage::Ramp)),
            (Stage::Ramp, Some(g), _) => {
                if self.plan.max_rate.is_some_and(|m| g >= m) {
                    self.ended = Some(Limit::MaxRate);
                    return None;
                }
                let next = round_rate(cap(self.plan.step.next(g)));
                if next <= g {
                    // An additive step below 1 msg/s after rounding: nothing new to try.
                    self.ended = Some(Limit::MaxSteps);
                    return None;
                }
                Some((next, Stage::Ramp))
            }
            (Stage::Refine, Some(g), Some(b)) => {
                let mid = round_rate((g + b) / 2.0);
                if self.refines_done >= self.plan.refine || mid <= g || mid >= b {
                    self.ended = Some(Limit::Bracketed);
                    return None;
                }
                Some((mid, Stage::Refine))
            }
            _ => {
                self.ended = Some(Limit::StartFailed);
                None
            }
        }
    }

    /// Enters a step's verdict.
    pub fn record(&mut self, rate: f64, passed: bool) {
        self.steps += 1;
        if self.stage == Stage::Refine {
            self.refines_done += 1;
        }
        if passed {
            self.good = Some(self.good.map_or(rate, |g| g.max(rate)));
        } else {
            self.bad = Some(self.bad.map_or(rate, |b| b.min(rate)));
            if self.good.is_none() {
                self.ended = Some(Limit::StartFailed);
            }
            self.stage = Stage::Refine;
        }
    }

    /// Marks the search as stopped early.
    pub fn abort(&mut self) {
        self.ended = Some(Limit::Aborted);
    }

    /// Why it ended, once it has.
    pub fn limit(&self) -> Option<Limit> {
        self.ended
    }

    /// The highest rate that passed.
    pub fn sustained(&self) -> Option<f64> {
        self.good
    }

    /// The lowest rate that failed.
    pub fn first_failed(&self) -> Option<f64> {
        self.bad
    }
}

/// What was measured in one step's window, for [`judge`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepFigures {
    /// Target rate across every producer.
    pub target: f64,
    /// Length of the measured window.
    pub window: Duration,
    pub sent: u64,
    pub acked: u64,
    /// Failed deliveries reported in the window and while the step settled.
    pub failed: u64,
    /// Deliveries reported over the same span as `failed` (acked + failed), for the error rate.
    pub reported: u64,
    pub produce: LatencySummary,
    pub e2e: LatencySummary,
    /// Consumer backlog (messages) at the start and the end of the window; `None` without
    /// consumers or when it could not be read.
    pub lag_start: Option<u64>,
    pub lag_end: Option<u64>,
    pub has_consumers: bool,
    /// p99 of how far behind its schedule the generator sent, in µs.
    pub send_gap_p99_us: u64,
}

impl StepFigures {
    fn per_sec(&self, n: u64) -> f64 {
        let s = self.window.as_secs_f64();
        if s > 0.0 { n as f64 / s } else { 0.0 }
    }

    /// Acknowledged messages per second in the window.
    pub fn achieved(&self) -> f64 {
        self.per_sec(self.acked)
    }

    /// Messages handed to the client per second in the window.
    pub fn sent_rate(&self) -> f64 {
        self.per_sec(self.sent)
    }

    /// Failed share of the reported deliveries.
    pub fn error_rate(&self) -> f64 {
        if self.reported == 0 { 0.0 } else { self.failed as f64 / self.reported as f64 }
    }

    /// Growth of the consumer backlog over the window (negative when it shrank).
    pub fn lag_growth(&self) -> Option<i64> {
        Some(self.lag_end? as i64 - self.lag_start? as i64)
    }
}

fn ms(us: u64) -> String {
    crate::vocab::format::latency_us(us as f64)
}

fn pct(x: f64) -> String {
    crate::vocab::format::percent(x)
}

/// Why the step does not show its rate as sustained; empty when it does.
pub fn judge(f: &StepFigures, s: &Sustain) -> Vec<String> {
    let mut why = Vec::new();
    let rate = crate::vocab::format::rate;
    if f.acked == 0 {
        why.push("nothing was acknowledged in the measured window".to_string());
    } else if f.achieved() < s.min_achieved * f.target {
        why.push(format!(
            "achieved {}, below {} of the target {}",
            rate(f.achieved()),
            pct(s.min_achieved),
            rate(f.target)
        ));
    }
    // The generator's own limit, said apart so that nobody reads it as the cluster's.
    if f.sent_rate() < s.min_achieved * f.target {
        why.push(format!(
            "the load generator sent only {} (it, or a full producer queue, held the rate back)",
            rate(f.sent_rate())
        ));
    }
    if f.error_rate() > s.max_error_rate {
        why.push(format!(
            "{} of deliveries failed ({} of {}), above the {} allowed",
            pct(f.error_rate()),
            f.failed,
            f.reported,
            pct(s.max_error_rate)
        ));
    }
    if let Some(bound) = s.produce_p99 {
        let b = bound.as_micros() as u64;
        if f.produce.count > 0 && f.produce.p99_us > b {
            why.push(format!("produce p99 {} above the bound {}", ms(f.produce.p99_us), ms(b)));
        }
    }
    if let Some(bound) = s.e2e_p99 {
        let b = bound.as_micros() as u64;
        if f.e2e.count == 0 {
            why.push("no end-to-end latency was measured: the consumers received nothing in the window".into());
        } else if f.e2e.p99_us > b {
            why.push(format!("end-to-end p99 {} above the bound {}", ms(f.e2e.p99_us), ms(b)));
        }
    }
    if let Some(allow) = s.max_lag_growth
        && f.has_consumers
    {
        let allowed = (f.target * allow.as_secs_f64()).ceil() as i64;
        match f.lag_growth() {
            None => why.push("the consumer backlog could not be read, so keeping up is unproven".into()),
            Some(g) if g > allowed => why.push(format!(
                "consumers fell behind: the backlog grew by {g} messages (allowed {allowed}, {} of traffic)",
                crate::vocab::format::secs(allow.as_secs_f64())
            )),
            Some(_) => {}
        }
    }
    // A failing step where the generator fell behind while the cluster acknowledged what it
    // got measured the generator (the same rule as a run's generator check): said first, so
    // that the summary quotes it. A step that met every bound anyway still passes.
    if !why.is_empty() && f.send_gap_p99_us > MAX_SEND_GAP_P99_US && cluster_kept_up(f.sent, f.acked, f.failed) {
        why.insert(
            0,
            format!(
                "the load generator fell behind its schedule (send gap p99 {}, limit {}) while the cluster acknowledged what it sent: this step measured the generator, not the cluster",
                ms(f.send_gap_p99_us),
                ms(MAX_SEND_GAP_P99_US)
            ),
        );
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(step: StepRule) -> Plan {
        Plan { start: 1000.0, step, max_rate: None, max_steps: 20, refine: 3 }
    }

    /// Runs a search against a cluster whose true capacity is `cap`; returns the tried rates.
    fn drive(mut s: Search, cap: f64) -> (Search, Vec<(f64, Stage)>) {
        let mut tried = Vec::new();
        while let Some((r, stage)) = s.next_rate() {
            tried.push((r, stage));
            s.record(r, r <= cap);
            assert!(tried.len() <= 1000, "runaway search");
        }
        (s, tried)
    }

    #[test]
    fn ramps_multiplicatively_then_bisects() {
        let (s, tried) = drive(Search::new(plan(StepRule::Multiply(2.0))), 5000.0);
        let rates: Vec<f64> = tried.iter().map(|t| t.0).collect();
        // 1k, 2k, 4k pass; 8k fails; bisect 6k (fail), 5k (pass), 5.5k (fail).
        assert_eq!(rates, [1000.0, 2000.0, 4000.0, 8000.0, 6000.0, 5000.0, 5500.0]);
        assert_eq!(tried.iter().filter(|t| t.1 == Stage::Refine).count(), 3);
        assert_eq!(s.sustained(), Some(5000.0));
        assert_eq!(s.first_failed(), Some(5500.0));
        assert_eq!(s.limit(), Some(Limit::Bracketed));
    }

    #[test]
    fn ramp_steps_rise_and_refinement_stays_inside_the_bracket() {
        for cap in [1000.0, 1234.0, 7777.0, 50_000.0, 333_333.0] {
            for step in [StepRule::Multiply(1.5), StepRule::Add(2500.0)] {
                let (s, tried) = drive(Search::new(Plan { max_steps: 1000, ..plan(step) }), cap);
                let ramp: Vec<f64> = tried.iter().filter(|t| t.1 == Stage::Ramp).map(|t| t.0).collect();
                assert!(ramp.windows(2).all(|w| w[1] > w[0]), "{ramp:?}");
                let (good, bad) = (s.sustained().unwrap(), s.first_failed().unwrap());
                assert!(good <= cap && bad > cap, "cap {cap}: {good} {bad}");
                // Every refinement lies strictly between the ramp's last pass and first failure.
                let last_pass = ramp.iter().copied().filter(|r| *r <= cap).fold(0.0, f64::max);
                let first_fail = ramp.iter().copied().find(|r| *r > cap).unwrap();
                for (r, _) in tried.iter().filter(|t| t.1 == Stage::Refine) {
                    assert!(*r > last_pass && *r < first_fail, "{r} outside ({last_pass}, {first_fail})");
                }
            }
        }
    }

    #[test]
    fn a_failing_start_ends_the_search_with_no_rate() {
        let (s, tried) = drive(Search::new(plan(StepRule::Multiply(1.5))), 10.0);
        assert_eq!(tried, [(1000.0, Stage::Ramp)]);
        assert_eq!(s.sustained(), None);
        assert_eq!(s.first_failed(), Some(1000.0));
        assert_eq!(s.limit(), Some(Limit::StartFailed));
    }

    #[test]
    fn max_rate_and_max_steps_bound_the_search() {
        let p = Plan { max_rate: Some(3000.0), ..plan(StepRule::Multiply(2.0)) };
        let (s, tried) = drive(Search::new(p), 1e9);
        assert_eq!(tried.iter().map(|t| t.0).collect::<Vec<_>>(), [1000.0, 2000.0, 3000.0]);
        assert_eq!((s.sustained(), s.limit()), (Some(3000.0), Some(Limit::MaxRate)));

        let p = Plan { max_steps: 4, ..plan(StepRule::Add(1000.0)) };
        let (s, tried) = drive(Search::new(p), 1e9);
        assert_eq!(tried.len(), 4);
        assert_eq!((s.sustained(), s.limit()), (Some(4000.0), Some(Limit::MaxSteps)));

        // Steps run out during refinement: still bracketed, with what was learnt.
        let p = Plan { max_steps: 3, ..plan(StepRule::Multiply(2.0)) };
        let (s, _) = drive(Search::new(p), 1500.0);
        assert_eq!((s.sustained(), s.first_failed(), s.limit()), (Some(1500.0), Some(2000.0), Some(Limit::Bracketed)));

        // No refinement at all.
        let p = Plan { refine: 0, ..plan(StepRule::Multiply(2.0)) };
        let (_, tried) = drive(Search::new(p), 2500.0);
        assert_eq!(tried.last().unwrap(), &(4000.0, Stage::Ramp));
    }

    #[test]
    fn bisection_stops_when_the_bracket_is_one_message_wide() {
        let p = Plan { start: 3.0, refine: 50, ..plan(StepRule::Add(1.0)) };
        let (s, tried) = drive(Search::new(p), 4.0);
        assert_eq!(tried.iter().map(|t| t.0).collect::<Vec<_>>(), [3.0, 4.0, 5.0]);
        assert_eq!(s.limit(), Some(Limit::Bracketed));
    }

    #[test]
    fn an_aborted_search_says_so() {
        let mut s = Search::new(plan(StepRule::Multiply(2.0)));
        let (r, _) = s.next_rate().unwrap();
        s.record(r, true);
        s.abort();
        assert_eq!(s.next_rate(), None);
        assert_eq!((s.sustained(), s.limit()), (Some(1000.0), Some(Limit::Aborted)));
    }

    fn sustain() -> Sustain {
        Sustain {
            produce_p99: Some(Duration::from_millis(50)),
            e2e_p99: None,
            min_achieved: 0.95,
            max_error_rate: 0.001,
            max_lag_growth: Some(Duration::from_secs(1)),
        }
    }

    fn lat(p99_ms: u64) -> LatencySummary {
        LatencySummary { count: 100, p50_us: 1000, p99_us: p99_ms * 1000, p999_us: p99_ms * 1000, ..Default::default() }
    }

    fn good() -> StepFigures {
        StepFigures {
            target: 1000.0,
            window: Duration::from_secs(10),
            sent: 10_000,
            acked: 9_990,
            failed: 0,
            reported: 10_000,
            produce: lat(20),
            e2e: lat(30),
            lag_start: Some(100),
            lag_end: Some(900),
            has_consumers: true,
            send_gap_p99_us: 2_000,
        }
    }

    #[test]
    fn a_healthy_step_passes() {
        assert_eq!(judge(&good(), &sustain()), Vec::<String>::new());
        // The backlog may shrink, and may grow by up to a second of traffic.
        let f = StepFigures { lag_start: Some(5000), lag_end: Some(10), ..good() };
        assert!(judge(&f, &sustain()).is_empty());
        let f = StepFigures { lag_start: Some(0), lag_end: Some(1000), ..good() };
        assert!(judge(&f, &sustain()).is_empty());
    }

    #[test]
    fn each_criterion_fails_on_its_own_with_a_reason() {
        let s = sustain();
        let one = |f: StepFigures, s: &Sustain, needle: &str| {
            let why = judge(&f, s);
            assert_eq!(why.len(), 1, "{why:?}");
            assert!(why[0].contains(needle), "{why:?} lacks {needle:?}");
        };
        one(StepFigures { produce: lat(51), ..good() }, &s, "produce p99 51.0 ms above the bound 50.0 ms");
        one(StepFigures { acked: 9000, ..good() }, &s, "achieved 900 msg/s, below 95.0% of the target 1000 msg/s");
        one(StepFigures { failed: 11, ..good() }, &s, "of deliveries failed (11 of 10000)");
        one(StepFigures { lag_end: Some(1101), ..good() }, &s, "backlog grew by 1001 messages (allowed 1000");
        one(StepFigures { lag_end: None, ..good() }, &s, "could not be read");
        let e2e = Sustain { e2e_p99: Some(Duration::from_millis(25)), ..sustain() };
        one(good(), &e2e, "end-to-end p99 30.0 ms above the bound 25.0 ms");
        one(StepFigures { e2e: LatencySummary::default(), ..good() }, &e2e, "consumers received nothing");
        // Lag is not judged without consumers or when switched off.
        assert!(judge(&StepFigures { has_consumers: false, lag_end: None, ..good() }, &s).is_empty());
        let off = Sustain { max_lag_growth: None, ..sustain() };
        assert!(judge(&StepFigures { lag_end: Some(1_000_000), ..good() }, &off).is_empty());
    }

    #[test]
    fn a_stalled_or_generator_limited_step_fails_clearly() {
        let why = judge(&StepFigures { acked: 0, produce: LatencySummary::default(), ..good() }, &sustain());
        assert!(why[0].contains("nothing was acknowledged"), "{why:?}");
        let why = judge(&StepFigures { sent: 5000, acked: 5000, ..good() }, &sustain());
        assert!(why.iter().any(|w| w.contains("load generator sent only 500 msg/s")), "{why:?}");
        // Behind its schedule while the cluster kept up: said first, whatever else failed.
        let behind = StepFigures { send_gap_p99_us: 80_000, produce: lat(120), ..good() };
        let why = judge(&behind, &sustain());
        assert!(
            why[0].contains("send gap p99 80.0 ms, limit 10.0 ms") && why[0].contains("not the cluster"),
            "{why:?}"
        );
        assert!(why[1].contains("produce p99 120 ms"), "{why:?}");
        // A cluster failing deliveries pushes back on the generator: that gap is the cluster's.
        let pushed = StepFigures { failed: 50, ..behind.clone() };
        assert!(judge(&pushed, &sustain()).iter().all(|w| !w.contains("fell behind")));
        // Every bound met despite the late generator: the cluster sustained the rate.
        assert!(judge(&StepFigures { produce: lat(20), ..behind }, &sustain()).is_empty());
    }
}
