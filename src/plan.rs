//! The pure plan of a run, built from a validated scenario before anything touches a cluster:
//! producer ids from one checked allocator, every producer instance with its share of the
//! rate, the ids each topic's consumers expect, the phases with their offsets, and the fault
//! timeline. `run`, `run --dry-run` and `capacity` all start from it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::scenario::fault::{FaultSpec, FaultStart};
use crate::vocab::units::Rate;

/// Bits of a producer id that number the instances of one run; the bits above hold the run's
/// nonce, so that messages of earlier runs in a reused topic count as unexpected instead of
/// as duplicates.
const INDEX_BITS: u32 = 12;
/// The most producer instances one run (or one capacity search, over all its steps) can have.
pub const MAX_PRODUCER_INSTANCES: u32 = 1 << INDEX_BITS;

/// Why a scenario cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// More producer instances than ids: past this the ledger would see false duplicates.
    #[error(
        "the run needs more than {max} producer instances, but producer ids of one run have room for {max}: \
         lower `instances` (or, for a capacity search, `max_steps`)",
        max = MAX_PRODUCER_INSTANCES
    )]
    TooManyProducers,
    /// A scenario without phases describes a capacity search.
    #[error("scenario {0} has no phases: it describes a capacity search, which `aftershock capacity FILE` runs")]
    NoPhases(String),
}

impl From<PlanError> for crate::error::Error {
    fn from(e: PlanError) -> Self {
        crate::error::Error::Plan(Box::new(e))
    }
}

/// Hands out the producer ids of one run: `nonce << 12 | index`, never the same twice.
#[derive(Debug, Clone)]
pub struct ProducerIds {
    nonce: u32,
    next: u32,
}

impl ProducerIds {
    /// Ids under a nonce; only its low 20 bits are used.
    pub fn new(nonce: u32) -> ProducerIds {
        ProducerIds { nonce: nonce & ((1 << (32 - INDEX_BITS)) - 1), next: 0 }
    }

    /// A random nonce, as a run uses.
    pub fn random() -> ProducerIds {
        ProducerIds::new(rand::random())
    }

    /// The next id.
    ///
    /// # Errors
    /// [`PlanError::TooManyProducers`] once every index is taken.
    pub fn allocate(&mut self) -> Result<u32, PlanError> {
        if self.next >= MAX_PRODUCER_INSTANCES {
            return Err(PlanError::TooManyProducers);
        }
        let id = (self.nonce << INDEX_BITS) | self.next;
        self.next += 1;
        Ok(id)
    }
}

/// One producer instance of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerInstance {
    /// Index into the scenario's `producers`.
    pub spec: usize,
    pub instance: u32,
    pub producer_id: u32,
    /// This instance's share of the producer's rate.
    pub rate: Rate,
}

/// A phase, laid out from the start of the load.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPhase {
    pub name: String,
    /// From the start of the load.
    pub offset: Duration,
    pub duration: Duration,
    pub measured: bool,
    /// The scenario's total produce rate, when every producer has one.
    pub target_rate: Option<f64>,
}

impl PlannedPhase {
    pub fn end(&self) -> Duration {
        self.offset + self.duration
    }
}

/// One planned occurrence of a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// 1-based, in start order; the key of the fault ledger and of the producers' fault marks.
    pub seq: u32,
    pub spec: FaultSpec,
    /// Which repetition of the fault (0-based).
    pub repeat: u32,
    /// Offset from the start of the load.
    pub start: Duration,
}

/// Everything a run will do, in order, before it does any of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub producers: Vec<ProducerInstance>,
    /// The producer ids writing to each topic: what the consumers of that topic expect.
    pub producer_ids: BTreeMap<String, Vec<u32>>,
    /// Partitions of each topic of the scenario.
    pub partitions: BTreeMap<String, usize>,
    pub phases: Vec<PlannedPhase>,
    /// The fault timeline, sorted by start.
    pub faults: Vec<Occurrence>,
}

impl RunPlan {
    /// Plans a validated scenario with the given producer ids.
    ///
    /// # Errors
    /// A scenario without phases, or with more producer instances than ids.
    pub fn new(s: &Scenario, mut ids: ProducerIds) -> Result<RunPlan, PlanError> {
        if s.phases.is_empty() {
            return Err(PlanError::NoPhases(s.name.clone()));
        }
        let mut producers = Vec::new();
        let mut producer_ids: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (spec, p) in s.producers.iter().enumerate() {
            for instance in 0..p.instances {
                let producer_id = ids.allocate()?;
                producer_ids.entry(p.topic.clone()).or_default().push(producer_id);
                producers.push(ProducerInstance {
                    spec,
                    instance,
                    producer_id,
                    rate: p.rate.per_instance(p.instances),
                });
            }
        }
        let partitions = s.topics.iter().map(|t| (t.name.clone(), t.partitions as usize)).collect();
        let phases = phases(s);
        let starts: Vec<(String, Duration)> = phases.iter().map(|p| (p.name.clone(), p.offset)).collect();
        Ok(RunPlan { producers, producer_ids, partitions, phases, faults: timeline(&s.faults, &starts) })
    }

    /// How long the load runs: the sum of the phases.
    pub fn load_duration(&self) -> Duration {
        self.phases.last().map(PlannedPhase::end).unwrap_or_default()
    }
}

/// The scenario's phases laid out one after the other from the start of the load.
fn phases(s: &Scenario) -> Vec<PlannedPhase> {
    let target_rate: Option<f64> = s
        .producers
        .iter()
        .map(|p| match p.rate {
            Rate::PerSec(r) => Some(r),
            Rate::Max => None,
        })
        .sum();
    let mut at = Duration::ZERO;
    s.phases
        .iter()
        .map(|ph| {
            let p = PlannedPhase {
                name: ph.name.clone(),
                offset: at,
                duration: ph.duration,
                measured: ph.measured,
                target_rate,
            };
            at += ph.duration;
            p
        })
        .collect()
}

/// Expands `every`/`times` and phase-relative starts into a timeline sorted by start.
/// `phases` are (name, offset of its start from the start of the load).
pub fn timeline(faults: &[FaultSpec], phases: &[(String, Duration)]) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for f in faults {
        let first = match &f.start {
            FaultStart::At(d) => *d,
            FaultStart::Phase { phase, offset } => {
                phases.iter().find(|(n, _)| n == phase).map(|(_, s)| *s).unwrap_or_default() + *offset
            }
        };
        for repeat in 0..f.times.max(1) {
            let start = first + f.every.unwrap_or_default() * repeat;
            out.push(Occurrence { seq: 0, spec: f.clone(), repeat, start });
        }
    }
    out.sort_by_key(|o| o.start);
    for (i, o) in out.iter_mut().enumerate() {
        o.seq = i as u32 + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::fault::{FaultAction, TargetSpec};

    fn spec(name: &str, start: FaultStart, every: Option<u64>, times: u32) -> FaultSpec {
        FaultSpec {
            name: name.into(),
            start,
            action: FaultAction::Pause,
            target: TargetSpec::Random,
            duration: Duration::from_secs(5),
            restart_after: None,
            every: every.map(Duration::from_secs),
            times,
        }
    }

    fn scenario(json: &str) -> Scenario {
        crate::scenario::parse_str(json, "plan.json").expect("valid scenario")
    }

    const TWO_PRODUCERS: &str = r#"{
        "name": "plan",
        "cluster": {"local": {"nodes": 3}},
        "topics": [{"name": "a", "partitions": 6}, {"name": "b", "partitions": 2}],
        "producers": [
            {"name": "p", "topic": "a", "rate": "3000/s", "instances": 3},
            {"name": "q", "topic": "b", "rate": "100/s"}
        ],
        "consumers": [{"name": "c", "topic": "a", "instances": 2}],
        "phases": [{"name": "warmup", "duration": "5s", "measured": false}, {"name": "steady", "duration": "20s"}],
        "faults": [{"name": "k", "phase": "steady", "offset": "5s", "action": "kill", "target": {"node": 1}, "duration": "5s"}]
    }"#;

    #[test]
    fn timeline_expands_repeats_and_phase_offsets_in_order() {
        let phases = vec![("warmup".to_string(), Duration::ZERO), ("steady".to_string(), Duration::from_secs(10))];
        let t = timeline(
            &[
                spec("a", FaultStart::Phase { phase: "steady".into(), offset: Duration::from_secs(5) }, Some(20), 3),
                spec("b", FaultStart::At(Duration::from_secs(20)), None, 1),
            ],
            &phases,
        );
        let got: Vec<(u32, &str, u32, u64)> =
            t.iter().map(|o| (o.seq, o.spec.name.as_str(), o.repeat, o.start.as_secs())).collect();
        assert_eq!(got, vec![(1, "a", 0, 15), (2, "b", 0, 20), (3, "a", 1, 35), (4, "a", 2, 55)]);
    }

    #[test]
    fn a_plan_numbers_every_instance_and_lays_out_phases_and_faults() {
        let plan = RunPlan::new(&scenario(TWO_PRODUCERS), ProducerIds::new(7)).unwrap();
        let ids: Vec<u32> = plan.producers.iter().map(|p| p.producer_id).collect();
        assert_eq!(ids, vec![7 << 12, (7 << 12) | 1, (7 << 12) | 2, (7 << 12) | 3]);
        assert_eq!(plan.producer_ids["a"], ids[..3].to_vec());
        assert_eq!(plan.producer_ids["b"], vec![ids[3]]);
        assert_eq!(plan.producers[0].rate, Rate::PerSec(1000.0));
        assert_eq!(plan.partitions["a"], 6);
        let phases: Vec<(&str, u64, bool)> =
            plan.phases.iter().map(|p| (p.name.as_str(), p.offset.as_secs(), p.measured)).collect();
        assert_eq!(phases, vec![("warmup", 0, false), ("steady", 5, true)]);
        assert_eq!(plan.phases[1].target_rate, Some(3100.0));
        assert_eq!(plan.load_duration(), Duration::from_secs(25));
        assert_eq!(plan.faults.len(), 1);
        assert_eq!((plan.faults[0].seq, plan.faults[0].start), (1, Duration::from_secs(10)));
    }

    #[test]
    fn ids_never_repeat_and_run_out_with_an_error_instead_of_wrapping() {
        let mut ids = ProducerIds::new(u32::MAX);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PRODUCER_INSTANCES {
            assert!(seen.insert(ids.allocate().unwrap()));
        }
        assert_eq!(ids.allocate(), Err(PlanError::TooManyProducers));
        // Four producers at the validator's limit of 1,024 instances each, and one more.
        let mut s = scenario(TWO_PRODUCERS);
        s.producers[0].instances = 1024;
        s.producers[1].instances = 1024;
        s.producers.extend([s.producers[0].clone(), s.producers[1].clone()]);
        assert_eq!(RunPlan::new(&s, ProducerIds::new(1)).map(|p| p.producers.len()), Ok(4096));
        s.producers[3].instances = 1025;
        assert_eq!(RunPlan::new(&s, ProducerIds::new(1)), Err(PlanError::TooManyProducers));
    }

    #[test]
    fn a_scenario_without_phases_is_not_a_run() {
        let mut s = scenario(TWO_PRODUCERS);
        s.phases.clear();
        assert_eq!(RunPlan::new(&s, ProducerIds::new(1)), Err(PlanError::NoPhases("plan".into())));
    }
}
