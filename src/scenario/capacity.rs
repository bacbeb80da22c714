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

use super::file::{DurationText, NumOrText, RateText, RawCapacity, RawStep, Scalar};
use super::position::JsonPath;
use super::problem::Problem;
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

/// Validates the block; every problem goes into `problems`.
pub(crate) fn validate(
    raw: &RawCapacity,
    at: &JsonPath,
    cx: &CapacityContext,
    broken: &[JsonPath],
    problems: &mut Vec<Problem>,
) -> Option<CapacitySpec> {
    let is_broken = |p: &JsonPath| broken.iter().any(|b| p.starts_with(b));
    let mut errs: Vec<Problem> = Vec::new();
    let mut err = |path: JsonPath, message: String| errs.push(Problem::new(path, message));
    let positive = |d: &DurationText, what: &str| -> Result<Duration, String> {
        let v = parse_duration(&d.0)?;
        if v.is_zero() { Err(format!("{what} must be longer than 0s")) } else { Ok(v) }
    };
    // Steps are measured in whole one-second intervals (the recorders' resolution).
    let whole_secs = |d: &DurationText, what: &str, allow_zero: bool| -> Result<Duration, String> {
        let v = parse_duration(&d.0)?;
        if v.is_zero() && !allow_zero {
            return Err(format!("{what} must be longer than 0s"));
        }
        if v.subsec_nanos() != 0 {
            return Err(format!(
                "`{}` is not a whole number of seconds: latency and rates are measured per second",
                d.0
            ));
        }
        Ok(v)
    };

    if !cx.has_producers && !is_broken(&JsonPath::root().key("producers")) {
        err(at.clone(), "a capacity search needs at least one producer: it steps their rate".into());
    }
    let start = match &raw.start {
        None => {
            if !is_broken(&at.key("start")) {
                err(at.key("start"), "required field missing: the first target rate, like \"1k\"".into());
            }
            None
        }
        Some(r) => rate_value(r).map_err(|e| err(at.key("start"), e)).ok(),
    };
    let step = match &raw.step {
        None => (!is_broken(&at.key("step"))).then_some(StepRule::Multiply(defaults::MULTIPLY)),
        Some(RawStep::Multiply(f)) if f.is_finite() && *f > 1.0 && *f <= 100.0 => Some(StepRule::Multiply(*f)),
        Some(RawStep::Multiply(f)) => {
            err(
                at.key("step").key("multiply"),
                format!("{f} is not a growth factor: expected a number above 1 (and at most 100), like 1.5"),
            );
            None
        }
        Some(RawStep::Add(r)) => rate_value(r).map(StepRule::Add).map_err(|e| err(at.key("step").key("add"), e)).ok(),
    };
    let warmup = match &raw.warmup {
        None => (!is_broken(&at.key("warmup"))).then_some(defaults::WARMUP),
        Some(d) => whole_secs(d, "the warm-up", true).map_err(|e| err(at.key("warmup"), e)).ok(),
    };
    let initial_warmup = match &raw.initial_warmup {
        None => (!is_broken(&at.key("initial_warmup"))).then_some(defaults::INITIAL_WARMUP),
        Some(d) => whole_secs(d, "the initial warm-up", true).map_err(|e| err(at.key("initial_warmup"), e)).ok(),
    };
    let duration = match &raw.duration {
        None => (!is_broken(&at.key("duration"))).then_some(defaults::DURATION),
        Some(d) => whole_secs(d, "a step's measured duration", false).map_err(|e| err(at.key("duration"), e)).ok(),
    };
    let settle = match &raw.settle {
        None => (!is_broken(&at.key("settle"))).then_some(defaults::SETTLE),
        Some(d) => positive(d, "the settle time").map_err(|e| err(at.key("settle"), e)).ok(),
    };
    let max_rate = match &raw.max_rate {
        None => (!is_broken(&at.key("max_rate"))).then_some(None),
        Some(r) => rate_value(r).map(Some).map_err(|e| err(at.key("max_rate"), e)).ok(),
    };
    if let (Some(s), Some(Some(m))) = (start, max_rate)
        && m < s
    {
        err(at.key("max_rate"), format!("max_rate {m} is below the start rate {s}"));
    }
    let count =
        |v: Option<i64>, path: JsonPath, what: &str, min: i64, default: u32, errs: &mut dyn FnMut(JsonPath, String)| {
            match v {
                None => (!is_broken(&path)).then_some(default),
                Some(n) if n >= min && n <= i64::from(defaults::MAX_STEPS_LIMIT) => Some(n as u32),
                Some(n) => {
                    errs(path, format!("{what} {n} is out of range: expected {min} to {}", defaults::MAX_STEPS_LIMIT));
                    None
                }
            }
        };
    let max_steps = count(raw.max_steps, at.key("max_steps"), "max_steps", 1, defaults::MAX_STEPS, &mut err);
    let refine = count(raw.refine, at.key("refine"), "refine", 0, defaults::REFINE, &mut err);
    let require = match &raw.require {
        None => (!is_broken(&at.key("require"))).then_some(None),
        Some(r) => rate_value(r).map(Some).map_err(|e| err(at.key("require"), e)).ok(),
    };
    let node_down = match &raw.node_down {
        None | Some(Value::Bool(false)) => Some(NodeDown::No),
        Some(Value::Bool(true)) => Some(NodeDown::Auto),
        Some(Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(id) if id >= 1 => Some(NodeDown::Node(id)),
            _ => {
                err(at.key("node_down"), format!("{n} is not a node id: expected a node number from 1"));
                None
            }
        },
        Some(other) => {
            err(at.key("node_down"), format!("invalid value {other}: expected true, false or a node id like 3"));
            None
        }
    };
    match (node_down, cx.local_nodes) {
        (Some(NodeDown::No) | None, _) => {}
        (Some(_), None) => err(
            at.key("node_down"),
            "taking a node down needs a cluster aftershock started (`local`, or `running` for one from `aftershock cluster up`)".into(),
        ),
        (Some(NodeDown::Node(id)), Some(Some(n))) if id as usize > n => {
            err(at.key("node_down"), format!("the local cluster has nodes 1 to {n}, not {id}"))
        }
        (Some(_), Some(Some(1))) => {
            err(at.key("node_down"), "a cluster of one node has nothing left with that node down".into())
        }
        _ => {}
    }

    let sustain_at = at.key("sustain");
    let sustain = match &raw.sustain {
        None => {
            if !is_broken(&sustain_at) {
                err(
                    sustain_at.clone(),
                    "required field missing: what a sustained rate must show, like {\"produce_p99\": \"50ms\"}".into(),
                );
            }
            None
        }
        Some(s) => {
            let p99 = |d: &Option<DurationText>, key: &str, errs: &mut dyn FnMut(JsonPath, String)| match d {
                None => Some(None),
                Some(d) => positive(d, "a latency bound").map(Some).map_err(|e| errs(sustain_at.key(key), e)).ok(),
            };
            let produce_p99 = p99(&s.produce_p99, "produce_p99", &mut err);
            let e2e_p99 = p99(&s.e2e_p99, "e2e_p99", &mut err);
            if s.produce_p99.is_none()
                && s.e2e_p99.is_none()
                && !is_broken(&sustain_at.key("produce_p99"))
                && !is_broken(&sustain_at.key("e2e_p99"))
            {
                err(
                    sustain_at.clone(),
                    "a latency bound is needed: \"produce_p99\" (ack latency) and/or \"e2e_p99\" (to the consumer), like \"50ms\"".into(),
                );
            }
            if s.e2e_p99.is_some() && !cx.has_consumers {
                err(sustain_at.key("e2e_p99"), "an end-to-end bound needs a consumer of the produced topic".into());
            }
            let min_achieved = match &s.min_achieved {
                None => Some(defaults::MIN_ACHIEVED),
                Some(v) => match share(v) {
                    Ok(x) if x > 0.0 => Some(x),
                    Ok(_) => {
                        err(sustain_at.key("min_achieved"), "min_achieved must be above 0%".into());
                        None
                    }
                    Err(e) => {
                        err(sustain_at.key("min_achieved"), e);
                        None
                    }
                },
            };
            let max_error_rate = match &s.max_error_rate {
                None => Some(defaults::MAX_ERROR_RATE),
                Some(v) => share(v).map_err(|e| err(sustain_at.key("max_error_rate"), e)).ok(),
            };
            let max_lag_growth = match &s.max_lag_growth {
                None => Some(cx.has_consumers.then_some(defaults::MAX_LAG_GROWTH)),
                Some(Value::Bool(false)) => Some(None),
                Some(Value::String(t)) => match parse_duration(t) {
                    Ok(_) if !cx.has_consumers => {
                        err(
                            sustain_at.key("max_lag_growth"),
                            "consumer lag needs a consumer of the produced topic; leave max_lag_growth out".into(),
                        );
                        None
                    }
                    Ok(d) => Some(Some(d)),
                    Err(e) => {
                        err(sustain_at.key("max_lag_growth"), e);
                        None
                    }
                },
                Some(other) => {
                    err(
                        sustain_at.key("max_lag_growth"),
                        format!(
                            "invalid value {other}: expected a duration like \"1s\", or false to not judge consumer lag"
                        ),
                    );
                    None
                }
            };
            (|| {
                Some(Sustain {
                    produce_p99: produce_p99?,
                    e2e_p99: e2e_p99?,
                    min_achieved: min_achieved?,
                    max_error_rate: max_error_rate?,
                    max_lag_growth: max_lag_growth?,
                })
            })()
        }
    };
    let failed = !errs.is_empty();
    problems.extend(errs);
    if failed {
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
