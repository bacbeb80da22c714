//! Metric names shared by the checks, the gate, the report and its renderings, and the recovery figures of a fault.
//!
//! The names here are the words of the scenario format (`recovery.unavailable.max`, `p99`,
//! `lost`): checks parse them, the gate and comparisons print them, and the report's readers
//! look figures up by them. Keeping them in this leaf lets scenario name a recovery figure
//! without importing the report that records it.

/// A statistic of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    pub const ALL: [Stat; 6] = [Stat::P50, Stat::P90, Stat::P99, Stat::P999, Stat::Max, Stat::Mean];

    pub fn key(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }

    /// The quantile of a percentile (max is 1.0; the mean has none).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Max => Some(1.0),
            Stat::Mean => None,
        }
    }
}

/// A count of the message verification (run-wide only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VerificationCount {
    Lost,
    Duplicates,
    Reordered,
    Unexpected,
    Unresolved,
}

impl VerificationCount {
    pub const ALL: [VerificationCount; 5] = [
        VerificationCount::Lost,
        VerificationCount::Duplicates,
        VerificationCount::Reordered,
        VerificationCount::Unexpected,
        VerificationCount::Unresolved,
    ];

    pub fn key(self) -> &'static str {
        match self {
            VerificationCount::Lost => "lost",
            VerificationCount::Duplicates => "duplicates",
            VerificationCount::Reordered => "reordered",
            VerificationCount::Unexpected => "unexpected",
            VerificationCount::Unresolved => "unresolved",
        }
    }
}

/// A recovery figure, by the name checks and comparisons use (`recovery.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecoveryFigure {
    FirstError,
    UnavailableMax,
    /// The mean of the partitions' unavailability: how much of the topic the fault took
    /// away, where `UnavailableMax` is its worst partition.
    UnavailableMean,
    P99Recovered,
    ThroughputRecovered,
    IsrRecovered,
    NodeRegistered,
    NewController,
    PodReady,
    /// How long the consumer group's first rebalance after the fault took (a length).
    Rebalance,
    LatencyMax,
    LatencyP99,
    /// The highest consumer lag from the fault until 30 s after it, in messages.
    LagMax,
}

/// Where recovery figures are read from. The report's per-fault record implements it, so that
/// this leaf names the figures without depending on the report's types.
pub trait RecoveryValues {
    /// The figure's recorded value in its unit (seconds, microseconds for latencies, messages
    /// for lag), finite or not; `None` when it was not measured.
    fn recovery_value(&self, figure: RecoveryFigure) -> Option<f64>;
}

/// A fault as far as choosing which figures to show goes (implemented by the report's record).
pub trait FaultTargets {
    /// True when the fault hit Kubernetes pods.
    fn hit_pods(&self) -> bool;
}

impl RecoveryFigure {
    /// Every figure, in display order.
    pub const ALL: [RecoveryFigure; 13] = [
        RecoveryFigure::FirstError,
        RecoveryFigure::UnavailableMax,
        RecoveryFigure::UnavailableMean,
        RecoveryFigure::P99Recovered,
        RecoveryFigure::ThroughputRecovered,
        RecoveryFigure::IsrRecovered,
        RecoveryFigure::NodeRegistered,
        RecoveryFigure::NewController,
        RecoveryFigure::PodReady,
        RecoveryFigure::Rebalance,
        RecoveryFigure::LatencyMax,
        RecoveryFigure::LatencyP99,
        RecoveryFigure::LagMax,
    ];

    /// The recovery times in seconds that the recovery table and plot show, in their order.
    /// The partitions' mean unavailability goes with the per-partition figures instead, the
    /// latencies and the lag with what happened during the fault.
    pub const TIMES: [RecoveryFigure; 9] = [
        RecoveryFigure::FirstError,
        RecoveryFigure::UnavailableMax,
        RecoveryFigure::P99Recovered,
        RecoveryFigure::ThroughputRecovered,
        RecoveryFigure::IsrRecovered,
        RecoveryFigure::NodeRegistered,
        RecoveryFigure::NewController,
        RecoveryFigure::PodReady,
        RecoveryFigure::Rebalance,
    ];

    /// The time figures worth showing for these faults: pod readiness only when a fault hit
    /// Kubernetes pods, so local runs keep their tables and plots unchanged.
    pub fn times_for<F: FaultTargets>(faults: &[F]) -> Vec<RecoveryFigure> {
        let pods = faults.iter().any(FaultTargets::hit_pods);
        RecoveryFigure::TIMES.into_iter().filter(|f| *f != RecoveryFigure::PodReady || pods).collect()
    }

    /// The metric name after `recovery.`, e.g. `unavailable.max`.
    pub fn key(self) -> &'static str {
        match self {
            RecoveryFigure::FirstError => "first_error",
            RecoveryFigure::UnavailableMax => "unavailable.max",
            RecoveryFigure::UnavailableMean => "unavailable.mean",
            RecoveryFigure::P99Recovered => "p99_recovered",
            RecoveryFigure::ThroughputRecovered => "throughput_recovered",
            RecoveryFigure::IsrRecovered => "isr_recovered",
            RecoveryFigure::NodeRegistered => "node_registered",
            RecoveryFigure::NewController => "new_controller",
            RecoveryFigure::PodReady => "pod_ready",
            RecoveryFigure::Rebalance => "rebalance",
            RecoveryFigure::LatencyMax => "latency.max",
            RecoveryFigure::LatencyP99 => "latency.p99",
            RecoveryFigure::LagMax => "lag.max",
        }
    }

    /// A short human label, e.g. `unavailable (max)`.
    pub fn label(self) -> &'static str {
        match self {
            RecoveryFigure::FirstError => "first error",
            RecoveryFigure::UnavailableMax => "unavailable (longest)",
            RecoveryFigure::UnavailableMean => "unavailable (partition mean)",
            RecoveryFigure::P99Recovered => "p99 recovered",
            RecoveryFigure::ThroughputRecovered => "throughput recovered",
            RecoveryFigure::IsrRecovered => "ISR complete",
            RecoveryFigure::NodeRegistered => "node registered",
            RecoveryFigure::NewController => "new controller",
            RecoveryFigure::PodReady => "pod Ready",
            RecoveryFigure::Rebalance => "rebalance",
            RecoveryFigure::LatencyMax => "max latency",
            RecoveryFigure::LatencyP99 => "p99 latency",
            RecoveryFigure::LagMax => "peak lag",
        }
    }

    /// The field of report.json's recovery record the figure is read from (`None`: computed
    /// from other fields). Named in messages, since the two names differ (`peak_lag` is
    /// `recovery.lag.max`).
    pub fn report_field(self) -> Option<&'static str> {
        Some(match self {
            RecoveryFigure::FirstError => "first_error_secs",
            RecoveryFigure::UnavailableMax => "unavailable_max_secs",
            RecoveryFigure::UnavailableMean => return None,
            RecoveryFigure::P99Recovered => "p99_recovered_secs",
            RecoveryFigure::ThroughputRecovered => "throughput_recovered_secs",
            RecoveryFigure::IsrRecovered => "isr_recovered_secs",
            RecoveryFigure::NodeRegistered => "node_registered_secs",
            RecoveryFigure::NewController => "new_controller_secs",
            RecoveryFigure::PodReady => "pod_ready_secs",
            RecoveryFigure::Rebalance => "rebalance_secs",
            RecoveryFigure::LatencyMax => "max_latency_us",
            RecoveryFigure::LatencyP99 => "p99_latency_us",
            RecoveryFigure::LagMax => "peak_lag",
        })
    }

    /// The figure a report.json field name stands for, with or without its unit
    /// (`peak_lag`, `rebalance_secs`, `rebalance`), for a check that names the field.
    pub fn from_report_field(name: &str) -> Option<RecoveryFigure> {
        RecoveryFigure::ALL.into_iter().find(|f| {
            f.report_field().is_some_and(|field| {
                field == name || field.strip_suffix("_secs").or(field.strip_suffix("_us")) == Some(name)
            })
        })
    }

    /// True for latencies (microseconds).
    pub fn is_latency(self) -> bool {
        matches!(self, RecoveryFigure::LatencyMax | RecoveryFigure::LatencyP99)
    }

    /// True for counts of messages (the lag); the figures that are neither this nor a
    /// latency are times in seconds.
    pub fn is_count(self) -> bool {
        matches!(self, RecoveryFigure::LagMax)
    }

    /// The figure's value in its unit (seconds, microseconds for latencies, messages for
    /// lag); `None` when it was not measured or is not a finite number.
    pub fn of(self, r: &impl RecoveryValues) -> Option<f64> {
        r.recovery_value(self).filter(|v| v.is_finite())
    }

    /// True for the figures the chaos engine observes itself, known as soon as the fault's
    /// observation ends; the others are computed from the producers' acks and the time series
    /// when the run ends, too late to stop it.
    pub fn known_during_the_run(self) -> bool {
        matches!(
            self,
            RecoveryFigure::IsrRecovered
                | RecoveryFigure::NodeRegistered
                | RecoveryFigure::NewController
                | RecoveryFigure::PodReady
        )
    }

    /// The figure whose key (after `recovery.`) is `key`.
    pub fn from_key(key: &str) -> Option<RecoveryFigure> {
        RecoveryFigure::ALL.into_iter().find(|f| f.key() == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_have_unique_keys() {
        for f in RecoveryFigure::ALL {
            assert_eq!(RecoveryFigure::from_key(f.key()), Some(f));
        }
        assert!(RecoveryFigure::TIMES.iter().all(|f| !f.is_latency() && !f.is_count()));
        assert!(RecoveryFigure::ALL.iter().all(|f| !(f.is_latency() && f.is_count())));
        // The names of the scenario format, as docs/ci.md lists them.
        assert_eq!(RecoveryFigure::from_key("rebalance"), Some(RecoveryFigure::Rebalance));
        assert_eq!(RecoveryFigure::from_key("lag.max"), Some(RecoveryFigure::LagMax));
        assert_eq!(RecoveryFigure::from_key("unavailable.mean"), Some(RecoveryFigure::UnavailableMean));
        assert_eq!(RecoveryFigure::from_key("peak_lag"), None);
        assert_eq!(RecoveryFigure::from_report_field("peak_lag"), Some(RecoveryFigure::LagMax));
        assert_eq!(RecoveryFigure::from_report_field("rebalance_secs"), Some(RecoveryFigure::Rebalance));
        assert_eq!(RecoveryFigure::from_report_field("max_latency"), Some(RecoveryFigure::LatencyMax));
        assert_eq!(RecoveryFigure::from_report_field("unavailable_by_partition"), None);
    }

    /// Values keyed by figure, standing in for the report's record.
    struct Values(Vec<(RecoveryFigure, f64)>);

    impl RecoveryValues for Values {
        fn recovery_value(&self, figure: RecoveryFigure) -> Option<f64> {
            self.0.iter().find(|(f, _)| *f == figure).map(|(_, v)| *v)
        }
    }

    struct Hit(bool);

    impl FaultTargets for Hit {
        fn hit_pods(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn figures_are_finite_and_pod_readiness_only_for_pods() {
        let v = Values(vec![(RecoveryFigure::FirstError, f64::NAN), (RecoveryFigure::IsrRecovered, 2.0)]);
        assert_eq!(RecoveryFigure::FirstError.of(&v), None);
        assert_eq!(RecoveryFigure::IsrRecovered.of(&v), Some(2.0));
        assert_eq!(RecoveryFigure::NewController.of(&v), None);
        assert!(!RecoveryFigure::times_for(&[Hit(false)]).contains(&RecoveryFigure::PodReady));
        assert!(RecoveryFigure::times_for(&[Hit(false), Hit(true)]).contains(&RecoveryFigure::PodReady));
        assert_eq!(RecoveryFigure::times_for::<Hit>(&[]).len(), RecoveryFigure::TIMES.len() - 1);
    }
}
