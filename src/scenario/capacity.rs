//! `capacity`: the capacity-search block of a scenario (what `aftershock capacity` runs): the
//! rate steps, how long each step lasts, and what "the cluster sustains this rate" means.
//!
//! ```json
//! "capacity": {
//!   "start": "2k",
//!   "step": {"multiply": 1.5},
//!   "warmup": "5s",
//!   "duration": "15s",
//!   "max_rate": "200k",
//!   "refine": 3,
//!   "sustain": {"produce_p99": "50ms", "min_achieved": "95%", "max_error_rate": "0.1%"},
//!   "node_down": false,
//!   "require": "10k"
//! }
//! ```
//!
//! This module holds the block's model ([`CapacitySpec`]) and its pure validation (the raw
//! block is read with the rest of the file, in `file`); the search itself is [`crate::capacity`]. The format is documented in `docs/scenarios.md`.

use std::time::Duration;

use serde_json::Value;

use super::checker::Checker;
use super::file::{DurationText, NumOrText, RateText, RawCapacity, RawStep, RawSustain, Scalar};
use super::position::JsonPath;
use crate::vocab::units::Rate;
use crate::vocab::units::{parse_duration, parse_rate, rate_from_number};

/// Defaults of the `capacity` block (documented in `docs/scenarios.md`).
pub mod defaults {
    use std::time::Duration;

    /// Growth of the target rate after a passing step (×1.5, about OMB's pace once its
    /// controller has slowed from doubling).
    pub const MULTIPLY: f64 = 1.5;
    pub const WARMUP: Duration = Duration::from_secs(5);
    /// Extra warm-up of the first step: a fresh cluster's JVMs are still compiling. A minute,
    /// as OMB warms up; a freshly started local cluster on 2 cores needed about three.
    pub const INITIAL_WARMUP: Duration = Duration::from_secs(60);
    pub const DURATION: Duration = Duration::from_secs(15);
    /// Longest wait after a step for its deliveries and for consumers to catch up.
    pub const SETTLE: Duration = Duration::from_secs(15);
    pub const MAX_STEPS: u32 = 20;
    /// Bisection steps between the last passing and the first failing rate.
    pub const REFINE: u32 = 3;
    pub const MIN_ACHIEVED: f64 = 0.95;
    pub const MAX_ERROR_RATE: f64 = 0.001;
    /// Consumer backlog growth allowed over a step, as this much traffic at the target rate.
    pub const MAX_LAG_GROWTH: Duration = Duration::from_secs(1);
    /// Most steps a search may be given.
    pub const MAX_STEPS_LIMIT: u32 = 1000;
}

/// How the target rate grows after a passing step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepRule {
    /// Next = previous × factor (> 1).
    Multiply(f64),
    /// Next = previous + messages per second.
    Add(f64),
}

impl StepRule {
    /// The rate after `rate`.
    pub fn next(self, rate: f64) -> f64 {
        match self {
            StepRule::Multiply(f) => rate * f,
            StepRule::Add(a) => rate + a,
        }
    }
}

/// Which node a one-node-down search takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeDown {
    /// A healthy cluster.
    No,
    /// aftershock picks: the highest node id that is not the active controller.
    Auto,
    /// This node id.
    Node(i32),
}

/// What a step must show for its rate to count as sustained.
#[derive(Debug, Clone, PartialEq)]
pub struct Sustain {
    /// Bound on the p99 of produce (ack) latency, measured from each message's intended send time.
    pub produce_p99: Option<Duration>,
    /// Bound on the p99 of end-to-end latency (intended send to consumer receive).
    pub e2e_p99: Option<Duration>,
    /// Lowest acknowledged rate, as a share of the target.
    pub min_achieved: f64,
    /// Highest share of failed deliveries.
    pub max_error_rate: f64,
    /// How much the consumer backlog may grow over the measured window, as this much traffic at
    /// the target rate; `None` when consumers are not judged (or there are none).
    pub max_lag_growth: Option<Duration>,
}

/// The validated `capacity` block.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySpec {
    /// First target rate (messages per second across every producer).
    pub start: f64,
    pub step: StepRule,
    /// The unmeasured start of each step.
    pub warmup: Duration,
    /// Added to the first step's warm-up.
    pub initial_warmup: Duration,
    /// The measured part of each step.
    pub duration: Duration,
    /// Longest wait after each step for in-flight deliveries and consumer catch-up.
    pub settle: Duration,
    /// Highest rate tried; `None` for no bound but `max_steps`.
    pub max_rate: Option<f64>,
    /// Most steps, refinement included.
    pub max_steps: u32,
    /// Bisection steps between the last passing and the first failing rate.
    pub refine: u32,
    pub sustain: Sustain,
    pub node_down: NodeDown,
    /// Lowest acceptable capacity: below it, `aftershock capacity` exits 1.
    pub require: Option<f64>,
}

/// What the block may refer to.
pub(crate) struct CapacityContext {
    /// Nodes of a cluster aftershock starts or runs (`local`, `running`); `None` for an
    /// existing cluster, and `Some(None)` when the node count is not known (`running`).
    pub local_nodes: Option<Option<usize>>,
    pub has_consumers: bool,
    pub has_producers: bool,
}

fn rate_value(r: &RateText) -> Result<f64, String> {
    let parsed = match &r.0 {
        NumOrText::Text(t) => parse_rate(t),
        NumOrText::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a rate")).and_then(rate_from_number),
    };
    match parsed? {
        Rate::PerSec(r) => Ok(r),
        Rate::Max => {
            Err("\"max\" is not a target rate here: write a number of messages per second like \"10k\"".into())
        }
    }
}

/// A share: `"95%"` or a fraction from 0 to 1.
fn share(s: &Scalar) -> Result<f64, String> {
    let t = s.0.trim();
    let parsed = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => t.parse::<f64>().ok(),
    };
    match parsed {
        Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{t}` is not a share: expected a percentage like \"95%\" or a fraction from 0 to 1")),
    }
}

/// A duration above zero.
fn positive(d: &DurationText, what: &str) -> Result<Duration, String> {
    let v = parse_duration(&d.0)?;
    if v.is_zero() { Err(format!("{what} must be longer than 0s")) } else { Ok(v) }
}

/// A duration of whole seconds: steps are measured in whole one-second intervals (the
/// recorders' resolution).
fn whole_secs(d: &DurationText, what: &str, allow_zero: bool) -> Result<Duration, String> {
    let v = parse_duration(&d.0)?;
    if v.is_zero() && !allow_zero {
        return Err(format!("{what} must be longer than 0s"));
    }
    if v.subsec_nanos() != 0 {
        return Err(format!("`{}` is not a whole number of seconds: latency and rates are measured per second", d.0));
    }
    Ok(v)
}

/// The block's problems so far, and where reading already found some (a field missing there
/// was dropped, not left out, so it gets no default).
/// Validates the block; every problem goes into the checker.
pub(in crate::scenario) fn validate(
    raw: &RawCapacity,
    at: &JsonPath,
    cx: &CapacityContext,
    b: &mut Checker<'_>,
) -> Option<CapacitySpec> {
    let before = b.problems.len();
    if !cx.has_producers && !b.is_broken(&JsonPath::root().key("producers")) {
        b.err(at.clone(), "a capacity search needs at least one producer: it steps their rate");
    }
    let start = match &raw.start {
        None => {
            if !b.is_broken(&at.key("start")) {
                b.err(at.key("start"), "required field missing: the first target rate, like \"1k\"");
            }
            None
        }
        Some(r) => b.check(rate_value(r), at.key("start")),
    };
    let step = b.step(raw.step.as_ref(), at);
    let warmup =
        b.duration_or(raw.warmup.as_ref(), at.key("warmup"), defaults::WARMUP, |d| whole_secs(d, "the warm-up", true));
    let initial_warmup =
        b.duration_or(raw.initial_warmup.as_ref(), at.key("initial_warmup"), defaults::INITIAL_WARMUP, |d| {
            whole_secs(d, "the initial warm-up", true)
        });
    let duration = b.duration_or(raw.duration.as_ref(), at.key("duration"), defaults::DURATION, |d| {
        whole_secs(d, "a step's measured duration", false)
    });
    let settle =
        b.duration_or(raw.settle.as_ref(), at.key("settle"), defaults::SETTLE, |d| positive(d, "the settle time"));
    let max_rate = b.optional_rate(raw.max_rate.as_ref(), at.key("max_rate"));
    if let (Some(s), Some(Some(m))) = (start, max_rate)
        && m < s
    {
        b.err(at.key("max_rate"), format!("max_rate {m} is below the start rate {s}"));
    }
    let max_steps = b.steps_count(raw.max_steps, at.key("max_steps"), "max_steps", 1, defaults::MAX_STEPS);
    let refine = b.steps_count(raw.refine, at.key("refine"), "refine", 0, defaults::REFINE);
    let require = b.optional_rate(raw.require.as_ref(), at.key("require"));
    let node_down = b.node_down(raw.node_down.as_ref(), &at.key("node_down"), cx);
    let sustain = b.sustain(raw.sustain.as_ref(), &at.key("sustain"), cx);
    if b.problems.len() > before {
        return None;
    }
    Some(CapacitySpec {
        start: start?,
        step: step?,
        warmup: warmup?,
        initial_warmup: initial_warmup?,
        duration: duration?,
        settle: settle?,
        max_rate: max_rate?,
        max_steps: max_steps?,
        refine: refine?,
        sustain: sustain?,
        node_down: node_down?,
        require: require?,
    })
}

// The capacity block's own readers, on the scenario validator's checker.
impl Checker<'_> {
    /// A duration field with its default.
    fn duration_or(
        &mut self,
        d: Option<&DurationText>,
        path: JsonPath,
        default: Duration,
        parse: impl FnOnce(&DurationText) -> Result<Duration, String>,
    ) -> Option<Duration> {
        match d {
            None => self.or_default(&path, default),
            Some(d) => self.check(parse(d), path),
        }
    }

    /// An optional rate (`max_rate`, `require`): `Some(None)` when absent.
    fn optional_rate(&mut self, r: Option<&RateText>, path: JsonPath) -> Option<Option<f64>> {
        match r {
            None => self.or_default(&path, None),
            Some(r) => self.check(rate_value(r).map(Some), path),
        }
    }

    /// A number of steps, from `min` to the limit.
    fn steps_count(&mut self, v: Option<i64>, path: JsonPath, what: &str, min: i64, default: u32) -> Option<u32> {
        match v {
            None => self.or_default(&path, default),
            Some(n) if n >= min && n <= i64::from(defaults::MAX_STEPS_LIMIT) => Some(n as u32),
            Some(n) => {
                self.err(path, format!("{what} {n} is out of range: expected {min} to {}", defaults::MAX_STEPS_LIMIT));
                None
            }
        }
    }

    fn step(&mut self, step: Option<&RawStep>, at: &JsonPath) -> Option<StepRule> {
        match step {
            None => self.or_default(&at.key("step"), StepRule::Multiply(defaults::MULTIPLY)),
            Some(RawStep::Multiply(f)) if f.is_finite() && *f > 1.0 && *f <= 100.0 => Some(StepRule::Multiply(*f)),
            Some(RawStep::Multiply(f)) => {
                self.err(
                    at.key("step").key("multiply"),
                    format!("{f} is not a growth factor: expected a number above 1 (and at most 100), like 1.5"),
                );
                None
            }
            Some(RawStep::Add(r)) => self.check(rate_value(r).map(StepRule::Add), at.key("step").key("add")),
        }
    }

    /// `node_down`: `true`, `false` or a node id, on a cluster aftershock started.
    fn node_down(&mut self, v: Option<&Value>, path: &JsonPath, cx: &CapacityContext) -> Option<NodeDown> {
        let node_down = match v {
            None | Some(Value::Bool(false)) => Some(NodeDown::No),
            Some(Value::Bool(true)) => Some(NodeDown::Auto),
            Some(Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
                Some(id) if id >= 1 => Some(NodeDown::Node(id)),
                _ => {
                    self.err(path.clone(), format!("{n} is not a node id: expected a node number from 1"));
                    None
                }
            },
            Some(other) => {
                self.err(path.clone(), format!("invalid value {other}: expected true, false or a node id like 3"));
                None
            }
        };
        match (node_down, cx.local_nodes) {
            (Some(NodeDown::No) | None, _) => {}
            (Some(_), None) => self.err(
                path.clone(),
                "taking a node down needs a cluster aftershock started (`local`, or `running` for one from `aftershock cluster up`)",
            ),
            (Some(NodeDown::Node(id)), Some(Some(n))) if id as usize > n => {
                self.err(path.clone(), format!("the local cluster has nodes 1 to {n}, not {id}"))
            }
            (Some(_), Some(Some(1))) => {
                self.err(path.clone(), "a cluster of one node has nothing left with that node down")
            }
            _ => {}
        }
        node_down
    }

    /// `sustain`, required: what a step must show for its rate to count as sustained.
    fn sustain(&mut self, s: Option<&RawSustain>, at: &JsonPath, cx: &CapacityContext) -> Option<Sustain> {
        let Some(s) = s else {
            if !self.is_broken(at) {
                self.err(
                    at.clone(),
                    "required field missing: what a sustained rate must show, like {\"produce_p99\": \"50ms\"}",
                );
            }
            return None;
        };
        let mut p99 = |d: &Option<DurationText>, key: &str| match d {
            None => Some(None),
            Some(d) => self.check(positive(d, "a latency bound").map(Some), at.key(key)),
        };
        let produce_p99 = p99(&s.produce_p99, "produce_p99");
        let e2e_p99 = p99(&s.e2e_p99, "e2e_p99");
        if s.produce_p99.is_none()
            && s.e2e_p99.is_none()
            && !self.is_broken(&at.key("produce_p99"))
            && !self.is_broken(&at.key("e2e_p99"))
        {
            self.err(
                at.clone(),
                "a latency bound is needed: \"produce_p99\" (ack latency) and/or \"e2e_p99\" (to the consumer), like \"50ms\"",
            );
        }
        if s.e2e_p99.is_some() && !cx.has_consumers {
            self.err(at.key("e2e_p99"), "an end-to-end bound needs a consumer of the produced topic");
        }
        let min_achieved = match &s.min_achieved {
            None => Some(defaults::MIN_ACHIEVED),
            Some(v) => match share(v) {
                Ok(x) if x > 0.0 => Some(x),
                Ok(_) => {
                    self.err(at.key("min_achieved"), "min_achieved must be above 0%");
                    None
                }
                Err(e) => {
                    self.err(at.key("min_achieved"), e);
                    None
                }
            },
        };
        let max_error_rate = match &s.max_error_rate {
            None => Some(defaults::MAX_ERROR_RATE),
            Some(v) => self.check(share(v), at.key("max_error_rate")),
        };
        let max_lag_growth = self.max_lag_growth(s.max_lag_growth.as_ref(), at.key("max_lag_growth"), cx);
        Some(Sustain {
            produce_p99: produce_p99?,
            e2e_p99: e2e_p99?,
            min_achieved: min_achieved?,
            max_error_rate: max_error_rate?,
            max_lag_growth: max_lag_growth?,
        })
    }

    /// `sustain.max_lag_growth`: a duration, or `false` to not judge consumers; by default one
    /// second's traffic when there are consumers.
    fn max_lag_growth(&mut self, v: Option<&Value>, path: JsonPath, cx: &CapacityContext) -> Option<Option<Duration>> {
        match v {
            None => Some(cx.has_consumers.then_some(defaults::MAX_LAG_GROWTH)),
            Some(Value::Bool(false)) => Some(None),
            Some(Value::String(t)) => match parse_duration(t) {
                Ok(_) if !cx.has_consumers => {
                    self.err(path, "consumer lag needs a consumer of the produced topic; leave max_lag_growth out");
                    None
                }
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    self.err(path, e);
                    None
                }
            },
            Some(other) => {
                self.err(
                    path,
                    format!(
                        "invalid value {other}: expected a duration like \"1s\", or false to not judge consumer lag"
                    ),
                );
                None
            }
        }
    }
}
