//! Was the load generator itself the bottleneck? A pure rule over the phase statistics, so
//! that a report never blames the cluster for latency the generator caused.
//!
//! # The rule
//! A measured phase that ran at least [`MIN_PHASE_SECS`] marks the run **generator-limited**
//! when the cluster was fine in it and the generator still fell behind:
//! - *the cluster was fine*: no failed deliveries, and at least [`MIN_ACK_FRACTION`] of the
//!   messages sent in the phase were acknowledged in it (a stalled or failing cluster pushes
//!   back on the producer, which is the cluster's doing, not the generator's);
//! - *the generator fell behind*: its send gap p99 exceeded [`MAX_SEND_GAP_P99_US`] (it sent
//!   later than scheduled), or the phase has a target rate and the achieved send rate was
//!   below [`MIN_RATE_FRACTION`] of it.
//!
//! Warm-up phases never count: a generator catching up at start is normal.

use super::{GeneratorCheck, PhaseStats};

/// Send gap p99 above which the generator is behind its schedule (10 ms: ten 1 ms pacing ticks).
pub const MAX_SEND_GAP_P99_US: u64 = 10_000;
/// Fraction of the target rate the generator must achieve.
pub const MIN_RATE_FRACTION: f64 = 0.98;
/// Fraction of the sent messages the cluster must acknowledge in the phase to count as fine.
pub const MIN_ACK_FRACTION: f64 = 0.98;
/// Phases shorter than this (an aborted run's last phase) are too short to judge.
pub const MIN_PHASE_SECS: f64 = 1.0;

/// *The cluster was fine*: no failed deliveries, and at least [`MIN_ACK_FRACTION`] of the sent
/// messages acknowledged. Shared with the capacity search's judgement of a step.
pub fn cluster_kept_up(sent: u64, acked: u64, failed: u64) -> bool {
    failed == 0 && acked as f64 >= MIN_ACK_FRACTION * sent as f64
}

/// Applies the rule of this module to the phases of a run.
pub fn assess(phases: &[PhaseStats]) -> GeneratorCheck {
    let measured = || phases.iter().filter(|p| p.measured);
    let max_send_gap_us = measured().map(|p| p.latency.send_gap.max_us).max().unwrap_or(0);
    let mut reasons = Vec::new();
    for p in measured().filter(|p| p.duration_secs >= MIN_PHASE_SECS) {
        if !cluster_kept_up(p.sent, p.acked, p.failed) {
            continue;
        }
        let gap = p.latency.send_gap.p99_us;
        if gap > MAX_SEND_GAP_P99_US {
            reasons.push(format!(
                "phase `{}`: send gap p99 was {:.1} ms (limit {} ms) while the cluster kept up",
                p.name,
                gap as f64 / 1000.0,
                MAX_SEND_GAP_P99_US / 1000
            ));
        }
        if let Some(target) = p.target_rate.filter(|t| *t > 0.0)
            && p.send_rate < MIN_RATE_FRACTION * target
        {
            reasons.push(format!(
                "phase `{}`: sent {:.1} msg/s, below {:.0}% of the {target} msg/s target while the cluster kept up",
                p.name,
                p.send_rate,
                MIN_RATE_FRACTION * 100.0
            ));
        }
    }
    GeneratorCheck {
        limited: !reasons.is_empty(),
        reason: if reasons.is_empty() { None } else { Some(reasons.join("; ")) },
        max_send_gap_us,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::measure::LatencySummary;
    use crate::report::PhaseLatency;

    fn phase(measured: bool, sent: u64, acked: u64, failed: u64, gap_p99: u64, target: Option<f64>) -> PhaseStats {
        let gap = LatencySummary { count: sent, p99_us: gap_p99, max_us: gap_p99 * 2, ..LatencySummary::default() };
        PhaseStats {
            name: "p".into(),
            measured,
            start_secs: 0.0,
            duration_secs: 10.0,
            planned_duration_secs: 10.0,
            sent,
            acked,
            failed,
            consumed: acked,
            send_rate: sent as f64 / 10.0,
            ack_rate: acked as f64 / 10.0,
            consume_rate: acked as f64 / 10.0,
            target_rate: target,
            max_lag: None,
            latency: PhaseLatency { send_gap: gap, ..PhaseLatency::default() },
            errors: BTreeMap::new(),
        }
    }

    #[test]
    fn healthy_run_is_not_limited() {
        let c = assess(&[phase(true, 100_000, 100_000, 0, 900, Some(10_000.0))]);
        assert!(!c.limited, "{c:?}");
        assert_eq!(c.reason, None);
        assert_eq!(c.max_send_gap_us, 1800);
    }

    #[test]
    fn late_sends_with_a_fine_cluster_are_limited() {
        let c = assess(&[phase(true, 100_000, 99_500, 0, 25_000, None)]);
        assert!(c.limited);
        assert!(c.reason.unwrap().contains("send gap p99 was 25.0 ms"));
    }

    #[test]
    fn missing_the_target_rate_is_limited() {
        let c = assess(&[phase(true, 90_000, 90_000, 0, 500, Some(10_000.0))]);
        assert!(c.limited);
        assert!(c.reason.unwrap().contains("9000.0 msg/s"));
        assert!(!assess(&[phase(true, 98_500, 98_500, 0, 500, Some(10_000.0))]).limited);
    }

    #[test]
    fn a_struggling_cluster_or_warmup_is_not_the_generator() {
        // Failures, or a backlog of unacknowledged sends: the cluster pushed back.
        assert!(!assess(&[phase(true, 100_000, 99_000, 5, 50_000, Some(20_000.0))]).limited);
        assert!(!assess(&[phase(true, 100_000, 60_000, 0, 50_000, Some(20_000.0))]).limited);
        // Warm-up never counts, not even for the max gap.
        let c = assess(&[phase(false, 100_000, 100_000, 0, 50_000, Some(20_000.0))]);
        assert!(!c.limited);
        assert_eq!(c.max_send_gap_us, 0);
    }

    #[test]
    fn too_short_phases_are_not_judged() {
        let mut p = phase(true, 10, 10, 0, 50_000, Some(20_000.0));
        p.duration_secs = 0.4;
        assert!(!assess(&[p]).limited);
    }
}
