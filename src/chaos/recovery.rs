//! Recovery figures of each fault, from what the engine observed (metadata, quorum state),
//! what the producers timed (first ack per partition after the fault), and the report's
//! per-second time series. A figure that cannot be measured is `None` with a note, never 0.

use std::collections::{BTreeMap, HashMap};

use super::outcome::FaultOutcome;
use crate::measure::fault_acks::FaultAcks;
use crate::report::{FaultRecord, FaultTarget, Interval, Recovery};

/// Seconds of time series before a fault that make up its baseline.
const BASELINE_SECS: u64 = 10;
/// The per-second p99 counts as recovered within this factor of the baseline...
const P99_FACTOR: f64 = 1.5;
/// ...for this many seconds in a row.
const P99_STREAK: usize = 3;
/// Throughput counts as recovered at this share of the baseline ack rate.
const THROUGHPUT_SHARE: f64 = 0.9;

/// The record of one occurrence as far as the engine alone knows it, while the run goes on:
/// the figures it observed (ISR recovered, node registered, new controller, pod Ready); those
/// timed from the producers' acks and the time series stay `None` until the run ends.
pub fn record_so_far(o: &FaultOutcome) -> FaultRecord {
    record(o, &FaultAcks::new(), &HashMap::new(), &[], &[], &[])
}

/// Builds the report's record of one fault occurrence.
///
/// `partitions` lists every (topic index, partition) the producers write to, by the
/// partition number the producers see: a partition with no ack after the fault is reported.
pub fn record(
    o: &FaultOutcome,
    fault_acks: &FaultAcks,
    first_errors: &HashMap<u32, u64>,
    partitions: &[i32],
    series: &[Interval],
    rebalances: &[(bool, u64)],
) -> FaultRecord {
    let mut notes = Vec::new();
    let id = if o.repeat == 0 { o.name.clone() } else { format!("{}#{}", o.name, o.repeat + 1) };
    let Some(injected) = o.injected else {
        notes.push(o.skipped.clone().unwrap_or_else(|| "the fault was not injected".into()));
        notes.extend(o.errors.iter().cloned());
        let at = o.planned_start.as_secs_f64();
        return FaultRecord {
            id,
            name: o.name.clone(),
            action: o.action.clone(),
            target: FaultTarget { nodes: o.nodes.clone(), reason: o.reason.clone(), pods: o.pods.clone() },
            start_secs: round(at),
            end_secs: round(at),
            recovery: Recovery { notes, ..Default::default() },
        };
    };
    let start = injected.as_secs_f64();
    let end = o.reverted.map(|r| r.as_secs_f64()).unwrap_or(start);
    let since = |t: f64| Some(round((t - start).max(0.0)));

    let start_ns = injected.as_nanos() as u64;
    let (unavailable_max_secs, per_partition) = unavailability(o, fault_acks, partitions, start_ns, &mut notes);
    let first_error_secs = first_errors.get(&o.seq).map(|ns| round(ns.saturating_sub(start_ns) as f64 / 1e9));
    if first_error_secs.is_none() {
        notes.push("no delivery failed after the fault".into());
    }

    // Baseline: the seconds before the fault that carried load.
    let start_sec = start.floor() as u64;
    let before: Vec<&Interval> =
        series.iter().filter(|i| i.sec + BASELINE_SECS >= start_sec && i.sec < start_sec && i.acked > 0).collect();
    let baseline_p99 = median(before.iter().map(|i| i.produce.p99_us as f64).collect());
    let baseline_rate = median(before.iter().map(|i| i.acked as f64).collect());
    let after: Vec<&Interval> = series.iter().filter(|i| i.sec >= start_sec).collect();
    let during: Vec<&Interval> =
        series.iter().filter(|i| i.sec >= start_sec && (i.sec as f64) < end.max(start + 1.0)).collect();

    let p99_recovered_secs = p99_recovered(baseline_p99, &after, start, &mut notes).and_then(since);
    let throughput_recovered_secs = throughput_recovered(baseline_rate, &after, &mut notes, since);
    let isr_recovered_secs = match o.healthy_again {
        Some(t) => since(t.as_secs_f64()),
        None if !o.degraded_seen => {
            notes
                .push("no partition lost its leader or an in-sync replica (as seen by 250 ms metadata polling)".into());
            Some(0.0)
        }
        None => {
            notes.push("partitions were not fully in sync again by the end of the run".into());
            None
        }
    };
    let node_registered_secs = o.node_registered.and_then(|t| since(t.as_secs_f64()));
    if node_registered_secs.is_none() && matches!(o.action.as_str(), "kill" | "stop") {
        notes.push(
            "the node was not seen deregistered and back (it may have come back before its session expired)".into(),
        );
    }
    let new_controller_secs = o.new_controller.and_then(|(t, _)| since(t.as_secs_f64()));
    if let Some((_, id)) = o.new_controller {
        notes.push(format!("node {id} became the active controller"));
    }
    let max_latency_us = during.iter().map(|i| i.produce.max_us).max();
    let p99_latency_us = during.iter().map(|i| i.produce.p99_us).max();
    if !during.is_empty() {
        notes.push("p99 during the fault is the worst per-second p99 of the fault window".into());
    }
    let peak_lag = after.iter().filter(|i| (i.sec as f64) <= end + 30.0).filter_map(|i| i.lag).max();
    if peak_lag.is_none() {
        notes.push("consumer lag not measured: no consumer reported lag after the fault".into());
    }
    let rebalance_secs = rebalance_secs(rebalances, start_ns, (end.max(start) * 1e9) as u64, &mut notes);
    let pod_ready_secs = o.pod_ready.and_then(|t| since(t.as_secs_f64()));
    notes.extend(o.notes.iter().cloned());
    notes.extend(o.errors.iter().cloned());
    FaultRecord {
        id,
        name: o.name.clone(),
        action: o.action.clone(),
        target: FaultTarget { nodes: o.nodes.clone(), reason: o.reason.clone(), pods: o.pods.clone() },
        start_secs: round(start),
        end_secs: round(end),
        recovery: Recovery {
            first_error_secs,
            unavailable_max_secs,
            p99_recovered_secs,
            throughput_recovered_secs,
            isr_recovered_secs,
            node_registered_secs,
            pod_ready_secs,
            new_controller_secs,
            max_latency_us,
            p99_latency_us,
            unavailable_by_partition: per_partition.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
            rebalance_secs,
            peak_lag,
            notes,
        },
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Unavailability per partition: from the injection to the first ack of a message meant to
/// be sent after it, or the longest time after the injection without any ack, whichever is
/// longer. The second counts from when the broker really stopped acknowledging, which on
/// Kubernetes comes after the API call that kills it. Returns the longest (`None` when a
/// partition never had an ack again, or nothing was produced) and each partition's.
fn unavailability(
    o: &FaultOutcome,
    fault_acks: &FaultAcks,
    partitions: &[i32],
    start_ns: u64,
    notes: &mut Vec<String>,
) -> (Option<f64>, BTreeMap<i32, f64>) {
    let mut per_partition = BTreeMap::new();
    let mut missing = Vec::new();
    for p in partitions {
        match fault_acks.get(&(o.seq, *p)).and_then(|a| a.first.map(|first| (first, a.longest_gap))) {
            Some((first, gap)) => {
                per_partition.insert(*p, round(first.saturating_sub(start_ns).max(gap) as f64 / 1e9));
            }
            None => missing.push(*p),
        }
    }
    let max = if partitions.is_empty() {
        notes.push("unavailability not measured: no producer in this run".into());
        None
    } else if !missing.is_empty() {
        notes.push(format!(
            "partitions {missing:?} had no acknowledged message after the fault: unavailable until the end of the run"
        ));
        None
    } else {
        per_partition.values().copied().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    if !per_partition.is_empty() {
        let list: Vec<String> = per_partition.iter().map(|(p, s)| format!("{p}: {s:.3}s")).collect();
        notes.push(format!(
            "unavailable per partition (the longest time without an ack after the fault, or to the first ack of a message sent after it): {}",
            list.join(", ")
        ));
    }
    (max, per_partition)
}

/// The first second (run time) from which the per-second p99 stayed within
/// [`P99_FACTOR`]× the pre-fault baseline for [`P99_STREAK`] seconds.
fn p99_recovered(baseline_p99: Option<f64>, after: &[&Interval], start: f64, notes: &mut Vec<String>) -> Option<f64> {
    let Some(b) = baseline_p99 else {
        notes.push("p99 recovery not measured: no load in the 10 s before the fault".into());
        return None;
    };
    let bound = (b * P99_FACTOR).max(1000.0);
    let ok = |i: &Interval| i.produce.count > 0 && (i.produce.p99_us as f64) <= bound;
    // Recovery counts once the fault window is over or the fault no longer shows.
    let found = after
        .windows(P99_STREAK)
        .enumerate()
        .find(|(k, w)| w.iter().all(|i| ok(i)) && (after[*k].sec as f64) >= start)
        .map(|(k, _)| after[k].sec as f64);
    if found.is_none() {
        notes.push(format!(
            "the per-second p99 never stayed within {P99_FACTOR}x the pre-fault {:.1} ms for {P99_STREAK} s",
            b / 1000.0
        ));
    }
    found
}

/// When the acknowledged rate was back to [`THROUGHPUT_SHARE`] of its pre-fault level after
/// it first fell below it (0 when it never fell), as seconds after the fault by `since`.
fn throughput_recovered(
    baseline_rate: Option<f64>,
    after: &[&Interval],
    notes: &mut Vec<String>,
    since: impl Fn(f64) -> Option<f64>,
) -> Option<f64> {
    let b = baseline_rate?;
    let Some(d) = after.iter().position(|i| (i.acked as f64) < b * THROUGHPUT_SHARE) else {
        notes.push("throughput never fell below 90% of its pre-fault level".into());
        return Some(0.0);
    };
    let back = after[d..].iter().find(|i| (i.acked as f64) >= b * THROUGHPUT_SHARE);
    if back.is_none() {
        notes.push("throughput was not back to 90% of its pre-fault level by the end of the run".into());
    }
    back.and_then(|i| since(i.sec as f64))
}

/// The group's first revocation inside the fault window (from injection until undone, in
/// run-clock ns), until its next assignment. Revocations after that are not the fault's (the
/// consumers close at the end of the run, for one).
fn rebalance_secs(rebalances: &[(bool, u64)], start_ns: u64, end_ns: u64, notes: &mut Vec<String>) -> Option<f64> {
    let revoked =
        rebalances.iter().find(|(assigned, at)| !assigned && *at >= start_ns && *at <= end_ns).map(|(_, at)| *at);
    let Some(r) = revoked else {
        notes.push("no consumer group rebalance followed the fault".into());
        return None;
    };
    match rebalances.iter().find(|(assigned, at)| *assigned && *at >= r) {
        Some((_, a)) => Some(round((a - r) as f64 / 1e9)),
        None => {
            notes.push("the consumer group was not assigned partitions again by the end of the run".into());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::LatencySummary;
    use crate::measure::fault_acks::PartitionAcks;
    use std::time::Duration;

    fn sec(sec: u64, acked: u64, p99_ms: u64) -> Interval {
        Interval {
            sec,
            phase: Some("steady".into()),
            sent: acked,
            acked,
            failed: 0,
            consumed: acked,
            lag: Some(0),
            produce: LatencySummary {
                count: acked,
                p99_us: p99_ms * 1000,
                max_us: p99_ms * 2000,
                ..Default::default()
            },
            e2e: LatencySummary::default(),
        }
    }

    #[test]
    fn figures_from_a_leader_kill() {
        // 1000/s at 5 ms p99, a fault at 20.5 s: 3 s of nothing, then slow, then normal.
        let mut series: Vec<Interval> = (0..20).map(|s| sec(s, 1000, 5)).collect();
        series.push(sec(20, 500, 5));
        series.extend((21..24).map(|s| sec(s, 0, 0)));
        series.push(sec(24, 3000, 3000));
        series.push(sec(25, 1000, 40));
        series.extend((26..40).map(|s| sec(s, 1000, 6)));
        let o = FaultOutcome {
            seq: 1,
            name: "kill-leader".into(),
            action: "kill".into(),
            nodes: vec![2],
            reason: "node 2 led t/0".into(),
            injected: Some(Duration::from_millis(20_500)),
            reverted: Some(Duration::from_millis(35_500)),
            healthy_again: Some(Duration::from_millis(38_000)),
            degraded_seen: true,
            node_registered: Some(Duration::from_millis(37_000)),
            ..Default::default()
        };
        // Partition 1's leader acknowledged at once, then stopped for 2 s.
        let acks = FaultAcks::from([
            ((1, 0), PartitionAcks { first: Some(24_100_000_000), longest_gap: 1_000_000_000 }),
            ((1, 1), PartitionAcks { first: Some(20_510_000_000), longest_gap: 2_000_000_000 }),
        ]);
        let errors = HashMap::from([(1u32, 21_000_000_000u64)]);
        let r = record(&o, &acks, &errors, &[0, 1], &series, &[(false, 21_000_000_000), (true, 21_400_000_000)]);
        let rec = &r.recovery;
        assert_eq!(r.id, "kill-leader");
        assert_eq!((r.start_secs, r.end_secs), (20.5, 35.5));
        assert_eq!(rec.unavailable_max_secs, Some(3.6));
        assert_eq!(rec.first_error_secs, Some(0.5));
        assert_eq!(rec.isr_recovered_secs, Some(17.5));
        assert_eq!(rec.node_registered_secs, Some(16.5));
        // p99 back within 1.5 x 5 ms for 3 s from second 26
        assert_eq!(rec.p99_recovered_secs, Some(5.5));
        // throughput below 90% from second 20, back at second 24
        assert_eq!(rec.throughput_recovered_secs, Some(3.5));
        assert_eq!(rec.max_latency_us, Some(6_000_000));
        assert_eq!(rec.new_controller_secs, None);
        assert!(rec.notes.iter().any(|n| n.contains("0: 3.600s")), "{:?}", rec.notes);
        assert_eq!(rec.unavailable_by_partition.get("0"), Some(&3.6));
        assert_eq!(rec.unavailable_by_partition.get("1"), Some(&2.0), "the gap, not the first ack at 0.01 s");
        assert_eq!(rec.rebalance_secs, Some(0.4));
        assert_eq!(rec.peak_lag, Some(0));
    }

    #[test]
    fn unmeasurable_figures_are_none_with_a_reason() {
        let o = FaultOutcome {
            seq: 2,
            name: "pause".into(),
            action: "pause".into(),
            repeat: 1,
            injected: Some(Duration::from_secs(5)),
            reverted: Some(Duration::from_secs(8)),
            degraded_seen: true,
            ..Default::default()
        };
        let r = record(&o, &FaultAcks::new(), &HashMap::new(), &[0], &[], &[]);
        assert_eq!(r.id, "pause#2");
        assert_eq!(r.recovery.unavailable_max_secs, None);
        assert_eq!(r.recovery.p99_recovered_secs, None);
        assert_eq!(r.recovery.isr_recovered_secs, None);
        assert_eq!(r.recovery.rebalance_secs, None);
        assert!(r.recovery.notes.iter().any(|n| n.contains("no consumer group rebalance")));
        // a revocation after the window (consumers closing at the end) is not the fault's
        let late = record(&o, &FaultAcks::new(), &HashMap::new(), &[0], &[], &[(false, 9_000_000_000)]);
        assert_eq!(late.recovery.rebalance_secs, None);
        assert!(r.recovery.notes.iter().any(|n| n.contains("no acknowledged message after the fault")));
        let skipped = FaultOutcome {
            name: "x".into(),
            skipped: Some("the run ended before the fault was due".into()),
            ..Default::default()
        };
        let r = record(&skipped, &FaultAcks::new(), &HashMap::new(), &[0], &[], &[]);
        assert_eq!(r.recovery.notes, vec!["the run ended before the fault was due".to_string()]);
    }
}
