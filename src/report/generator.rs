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
//!
//! # Whose fault it was
//! Late sends have two causes that call for different actions, told apart by the CPU time of
//! aftershock and of the whole host over the phase (the report's `process` samples):
//! - the **host's CPU was taken** ([`LimitCause::HostCpu`]): the host's CPUs were at least
//!   [`HOST_BUSY_SHARE`] busy and other processes used at least [`OTHERS_SHARE`] of them (a
//!   local cluster's JVMs on the same host, say): the send thread was not scheduled in time;
//! - otherwise **the generator** itself fell behind ([`LimitCause::Generator`]).

use super::{GeneratorCheck, LimitCause, PhaseStats};
use crate::measure::ProcessSample;

/// Send gap p99 above which the generator is behind its schedule (10 ms: ten 1 ms pacing ticks).
pub const MAX_SEND_GAP_P99_US: u64 = 10_000;
/// Fraction of the target rate the generator must achieve.
pub const MIN_RATE_FRACTION: f64 = 0.98;
/// Fraction of the sent messages the cluster must acknowledge in the phase to count as fine.
pub const MIN_ACK_FRACTION: f64 = 0.98;
/// Phases shorter than this (an aborted run's last phase) are too short to judge.
pub const MIN_PHASE_SECS: f64 = 1.0;
/// Share of the host's CPUs busy from which the host counts as saturated.
pub const HOST_BUSY_SHARE: f64 = 0.9;
/// Share of the host's CPUs other processes must use to be blamed for late sends.
pub const OTHERS_SHARE: f64 = 0.5;

/// CPU use over a phase, in CPUs (CPU seconds per second).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuUse {
    own: f64,
    host: f64,
}

/// Aftershock's and the host's CPU use between the first and the last sample inside
/// [`start`, `end`] (seconds); `None` without two such samples with the host's figure.
fn cpu_use(process: &[ProcessSample], start: f64, end: f64) -> Option<CpuUse> {
    let inside: Vec<&ProcessSample> =
        process.iter().filter(|s| s.sec as f64 >= start && s.sec as f64 <= end && s.host_busy_secs.is_some()).collect();
    let (a, b) = (inside.first()?, inside.last()?);
    let dt = b.sec.checked_sub(a.sec).filter(|d| *d > 0)? as f64;
    Some(CpuUse { own: (b.cpu_secs - a.cpu_secs) / dt, host: (b.host_busy_secs? - a.host_busy_secs?) / dt })
}

/// Why a phase's sends were late, and what that calls for.
fn cause(cpu: Option<CpuUse>, cpus: u32) -> (Option<LimitCause>, String) {
    let Some(c) = cpu else {
        return (None, "(the CPU use of aftershock and of the host was not sampled)".into());
    };
    let n = f64::from(cpus.max(1));
    if c.host >= HOST_BUSY_SHARE * n && c.host - c.own >= OTHERS_SHARE * n {
        (
            Some(LimitCause::HostCpu),
            format!(
                "the host's CPU was taken: its {cpus} CPUs were {:.0}% busy, {:.1} of them with other processes (aftershock {:.1}), which delayed the sends; a local cluster's JVMs share this host (measure a cluster on other machines, or lower the rate)",
                100.0 * c.host / n,
                (c.host - c.own).max(0.0),
                c.own
            ),
        )
    } else {
        (
            Some(LimitCause::Generator),
            format!(
                "the generator fell behind its schedule: aftershock used {:.1} of the host's {cpus} CPUs (host {:.0}% busy); lower the rate, or split the load over more producer instances or hosts",
                c.own,
                100.0 * c.host / n
            ),
        )
    }
}

/// *The cluster was fine*: no failed deliveries, and at least [`MIN_ACK_FRACTION`] of the sent
/// messages acknowledged. Shared with the capacity search's judgement of a step.
pub fn cluster_kept_up(sent: u64, acked: u64, failed: u64) -> bool {
    failed == 0 && acked as f64 >= MIN_ACK_FRACTION * sent as f64
}

/// Applies the rule of this module to the phases of a run, with the run's process samples
/// and the host's CPU count for the cause.
pub fn assess(phases: &[PhaseStats], process: &[ProcessSample], cpus: u32) -> GeneratorCheck {
    let measured = || phases.iter().filter(|p| p.measured);
    let max_send_gap_us = measured().map(|p| p.latency.send_gap.max_us).max().unwrap_or(0);
    let mut reasons = Vec::new();
    let mut causes = Vec::new();
    for p in measured().filter(|p| p.duration_secs >= MIN_PHASE_SECS) {
        if !cluster_kept_up(p.sent, p.acked, p.failed) {
            continue;
        }
        let mut late = Vec::new();
        let gap = p.latency.send_gap.p99_us;
        if gap > MAX_SEND_GAP_P99_US {
            late.push(format!(
                "send gap p99 was {:.1} ms (limit {} ms) while the cluster kept up",
                gap as f64 / 1000.0,
                MAX_SEND_GAP_P99_US / 1000
            ));
        }
        if let Some(target) = p.target_rate.filter(|t| *t > 0.0)
            && p.send_rate < MIN_RATE_FRACTION * target
        {
            late.push(format!(
                "sent {:.1} msg/s, below {:.0}% of the {target} msg/s target while the cluster kept up",
                p.send_rate,
                MIN_RATE_FRACTION * 100.0
            ));
        }
        if late.is_empty() {
            continue;
        }
        let (c, why) = cause(cpu_use(process, p.start_secs, p.start_secs + p.duration_secs), cpus);
        causes.extend(c);
        reasons.push(format!("phase `{}`: {}; {why}", p.name, late.join(", ")));
    }
    // The generator's own shortfall is the one aftershock's user can act on first.
    let cause =
        if causes.contains(&LimitCause::Generator) { Some(LimitCause::Generator) } else { causes.first().copied() };
    GeneratorCheck {
        limited: !reasons.is_empty(),
        reason: if reasons.is_empty() { None } else { Some(reasons.join("; ")) },
        cause,
        max_send_gap_us,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::measure::LatencySummary;
    use crate::report::PhaseLatency;

    fn assess_phases(phases: &[PhaseStats]) -> GeneratorCheck {
        assess(phases, &[], 2)
    }

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
        let c = assess_phases(&[phase(true, 100_000, 100_000, 0, 900, Some(10_000.0))]);
        assert!(!c.limited, "{c:?}");
        assert_eq!(c.reason, None);
        assert_eq!(c.max_send_gap_us, 1800);
    }

    #[test]
    fn late_sends_with_a_fine_cluster_are_limited() {
        let c = assess_phases(&[phase(true, 100_000, 99_500, 0, 25_000, None)]);
        assert!(c.limited);
        assert!(c.reason.unwrap().contains("send gap p99 was 25.0 ms"));
    }

    /// One sample a second over the phase (0..=10 s): aftershock used `own` CPUs and the host
    /// `host` CPUs.
    fn samples(own: f64, host: f64) -> Vec<ProcessSample> {
        (0..=10)
            .map(|sec| ProcessSample {
                sec,
                rss_bytes: 1,
                cpu_secs: own * sec as f64,
                host_busy_secs: Some(host * sec as f64),
            })
            .collect()
    }

    #[test]
    fn late_sends_name_the_host_when_other_processes_took_its_cpu() {
        let late = [phase(true, 100_000, 99_500, 0, 12_300, None)];
        let c = assess(&late, &samples(0.3, 1.95), 2);
        assert_eq!(c.cause, Some(LimitCause::HostCpu), "{c:?}");
        let why = c.reason.unwrap();
        assert!(
            why.contains("the host's CPU was taken: its 2 CPUs were 98% busy, 1.6 of them with other processes"),
            "{why}"
        );
        // aftershock itself busy: the generator.
        let c = assess(&late, &samples(1.0, 1.2), 2);
        assert_eq!(c.cause, Some(LimitCause::Generator), "{c:?}");
        assert!(
            c.reason
                .unwrap()
                .contains("the generator fell behind its schedule: aftershock used 1.0 of the host's 2 CPUs")
        );
        // Busy host, but mostly aftershock: still the generator.
        assert_eq!(assess(&late, &samples(1.5, 1.95), 2).cause, Some(LimitCause::Generator));
        // Not sampled: limited, cause unknown, and said so.
        let c = assess(&late, &[], 2);
        assert!(c.limited && c.cause.is_none() && c.reason.unwrap().contains("not sampled"));
    }

    #[test]
    fn missing_the_target_rate_is_limited() {
        let c = assess_phases(&[phase(true, 90_000, 90_000, 0, 500, Some(10_000.0))]);
        assert!(c.limited);
        assert!(c.reason.unwrap().contains("9000.0 msg/s"));
        assert!(!assess_phases(&[phase(true, 98_500, 98_500, 0, 500, Some(10_000.0))]).limited);
    }

    #[test]
    fn a_struggling_cluster_or_warmup_is_not_the_generator() {
        // Failures, or a backlog of unacknowledged sends: the cluster pushed back.
        assert!(!assess_phases(&[phase(true, 100_000, 99_000, 5, 50_000, Some(20_000.0))]).limited);
        assert!(!assess_phases(&[phase(true, 100_000, 60_000, 0, 50_000, Some(20_000.0))]).limited);
        // Warm-up never counts, not even for the max gap.
        let c = assess_phases(&[phase(false, 100_000, 100_000, 0, 50_000, Some(20_000.0))]);
        assert!(!c.limited);
        assert_eq!(c.max_send_gap_us, 0);
    }

    #[test]
    fn too_short_phases_are_not_judged() {
        let mut p = phase(true, 10, 10, 0, 50_000, Some(20_000.0));
        p.duration_secs = 0.4;
        assert!(!assess_phases(&[p]).limited);
    }
}
