//! `faults`: when each fault starts, what it does to which node, its window and repeats,
//! whether the cluster's fault backend (local processes or Kubernetes pods) can inject it, and
//! whether it fires while the load runs.

use std::time::Duration;

use serde_json::Value;

use crate::scenario::checker::{Checker, entries, fmt_duration};
use crate::scenario::fault::{Direction, FaultAction, FaultSpec, FaultStart, Peers, TargetSpec};
use crate::scenario::file::RawFault;
use crate::scenario::model::{ClusterTarget, Phase};
use crate::scenario::position::JsonPath;

impl Checker<'_> {
    /// The `faults` list, with unique names, each checked against the cluster's backend.
    pub(super) fn faults(
        &mut self,
        raw: &[Option<RawFault>],
        at: &JsonPath,
        phases: &[&str],
        topics: &[(&str, i32)],
        cluster: Option<&ClusterTarget>,
        local_nodes: Option<usize>,
    ) -> Vec<Option<FaultSpec>> {
        let faults: Vec<Option<FaultSpec>> =
            entries(self, raw, at, |c, f, at| c.fault(f, at, phases, topics, local_nodes));
        self.unique("fault", at, raw.iter().map(|f| f.as_ref().and_then(|f| f.name.as_deref())));
        for (i, f) in faults.iter().enumerate() {
            let Some(f) = f else { continue };
            self.fault_fits_cluster(f, at.index(i), cluster);
        }
        faults
    }

    fn fault(
        &mut self,
        f: &RawFault,
        at: &JsonPath,
        phases: &[&str],
        topics: &[(&str, i32)],
        local_nodes: Option<usize>,
    ) -> Option<FaultSpec> {
        let name = self.name("fault", f.name.as_deref(), at.key("name"));
        let start = self.fault_start(f, at, phases);
        let action = self.fault_action(f, at);
        let target = match (&f.target, action) {
            (None, Some(FaultAction::Restart)) => Some(TargetSpec::AllButOne),
            (None, _) => {
                self.missing(
                    at.key("target"),
                    "the node to hit: {\"node\": 2}, \"random\", {\"leader_of\": {\"topic\": \"t\", \"partition\": 0}}, \"controller\", \"most_leaders\" or \"all_but_one\"",
                );
                None
            }
            (Some(v), _) => self.target(v, at.key("target"), topics, local_nodes),
        };
        let duration = match &f.duration {
            None if action == Some(FaultAction::Restart) => Some(Duration::ZERO),
            None => {
                self.missing(at.key("duration"), "the fault window, like \"15s\": the fault is undone when it ends");
                None
            }
            Some(d) => self.positive_duration(d, at.key("duration"), "a fault window"),
        };
        let restart_after = match &f.restart_after {
            None => Some(None),
            Some(d) => {
                if !matches!(action, Some(FaultAction::Kill | FaultAction::Stop) | None) {
                    self.err(at.key("restart_after"), "`restart_after` only applies to kill and stop");
                }
                let r = self.duration(d, at.key("restart_after"));
                if let (Some(r), Some(w)) = (r, duration)
                    && r > w
                {
                    self.err(
                        at.key("restart_after"),
                        format!(
                            "restart_after {} is past the end of the window ({})",
                            fmt_duration(r),
                            fmt_duration(w)
                        ),
                    );
                }
                r.map(Some)
            }
        };
        let (every, times) = self.repeats(f, at, duration);
        Some(FaultSpec {
            name: name?,
            start: start?,
            action: action?,
            target: target?,
            duration: duration?,
            restart_after: restart_after?,
            every: every?,
            times: times?,
        })
    }

    /// When the fault starts: `at`, or `phase` with an optional `offset`.
    fn fault_start(&mut self, f: &RawFault, at: &JsonPath, phases: &[&str]) -> Option<FaultStart> {
        match (&f.at, &f.phase) {
            (Some(_), Some(_)) => {
                self.err(at.key("phase"), "give either `at` (an offset from the start of the load) or `phase` (with an optional `offset`), not both");
                None
            }
            (Some(d), None) => {
                if f.offset.is_some() {
                    self.err(at.key("offset"), "`offset` goes with `phase`; with `at`, the offset is `at` itself");
                }
                self.duration(d, at.key("at")).map(FaultStart::At)
            }
            (None, Some(p)) => {
                if !phases.contains(&p.as_str()) {
                    self.err(
                        at.key("phase"),
                        format!("unknown phase `{p}`; the scenario's phases are: {}", phases.join(", ")),
                    );
                }
                let offset = match &f.offset {
                    None => Some(Duration::ZERO),
                    Some(o) => self.duration(o, at.key("offset")),
                };
                offset.map(|offset| FaultStart::Phase { phase: p.clone(), offset })
            }
            (None, None) => {
                self.missing(at.key("at"), "when the fault starts: \"at\": \"20s\" (from the start of the load), or \"phase\": \"steady\" with an optional \"offset\"");
                None
            }
        }
    }

    /// What the fault does; `peers` and `direction` belong to a partition only.
    fn fault_action(&mut self, f: &RawFault, at: &JsonPath) -> Option<FaultAction> {
        let action = match f.action.as_deref() {
            None => {
                self.missing(at.key("action"), "what the fault does: kill, stop, pause, restart or partition");
                None
            }
            Some("kill") => Some(FaultAction::Kill),
            Some("stop") => Some(FaultAction::Stop),
            Some("pause") => Some(FaultAction::Pause),
            Some("restart") => Some(FaultAction::Restart),
            Some("partition") => {
                let peers = match f.peers.as_deref() {
                    None | Some("all") => Some(Peers::All),
                    Some("nodes") => Some(Peers::OtherNodes),
                    Some("clients") => Some(Peers::Clients),
                    Some(other) => {
                        self.err(
                            at.key("peers"),
                            format!("unknown peers `{other}`: expected nodes (the other nodes), clients or all"),
                        );
                        None
                    }
                };
                let direction = match f.direction.as_deref() {
                    None | Some("both") => Some(Direction::Both),
                    Some("inbound") => Some(Direction::Inbound),
                    Some("outbound") => Some(Direction::Outbound),
                    Some(other) => {
                        self.err(
                            at.key("direction"),
                            format!("unknown direction `{other}`: expected both, inbound or outbound"),
                        );
                        None
                    }
                };
                Some(FaultAction::Partition { peers: peers?, direction: direction? })
            }
            Some(other) => {
                self.err(
                    at.key("action"),
                    format!("unknown action `{other}`: expected kill, stop, pause, restart or partition"),
                );
                None
            }
        };
        if !matches!(action, Some(FaultAction::Partition { .. }) | None) {
            for (field, v) in [("peers", &f.peers), ("direction", &f.direction)] {
                if v.is_some() {
                    self.err(at.key(field), format!("`{field}` only applies to the partition action"));
                }
            }
        }
        action
    }

    /// `every` and `times`: a repeating fault's interval, which must exceed its window, and
    /// how often it fires in all.
    fn repeats(
        &mut self,
        f: &RawFault,
        at: &JsonPath,
        duration: Option<Duration>,
    ) -> (Option<Option<Duration>>, Option<u32>) {
        let every = match &f.every {
            None => Some(None),
            Some(d) => {
                let e = self.positive_duration(d, at.key("every"), "a repeat interval");
                if let (Some(e), Some(w)) = (e, duration)
                    && e <= w
                {
                    self.err(
                        at.key("every"),
                        format!(
                            "every {} must be longer than the fault window ({}): windows may not overlap",
                            fmt_duration(e),
                            fmt_duration(w)
                        ),
                    );
                }
                e.map(Some)
            }
        };
        let times = match (f.times, &every) {
            (Some(0), _) => {
                self.err(at.key("times"), "times must be at least 1");
                None
            }
            (Some(t), Some(None)) if t > 1 => {
                self.err(at.key("times"), "times above 1 needs `every`, the interval between repeats");
                None
            }
            (Some(t), _) => Some(t),
            (None, Some(Some(_))) => {
                self.missing(at.key("times"), "how many times the fault fires in all, with `every`");
                None
            }
            (None, _) => Some(1),
        };
        (every, times)
    }

    fn target(
        &mut self,
        v: &Value,
        path: JsonPath,
        topics: &[(&str, i32)],
        local_nodes: Option<usize>,
    ) -> Option<TargetSpec> {
        const FORMS: &str = "{\"node\": 2}, \"random\", {\"leader_of\": {\"topic\": \"t\", \"partition\": 0}}, \"controller\", \"most_leaders\" or \"all_but_one\"";
        match v {
            Value::String(s) => match s.as_str() {
                "random" => Some(TargetSpec::Random),
                "controller" => Some(TargetSpec::Controller),
                "most_leaders" => Some(TargetSpec::MostLeaders),
                "all_but_one" => Some(TargetSpec::AllButOne),
                other => {
                    self.err(path, format!("unknown target `{other}`: expected {FORMS}"));
                    None
                }
            },
            // A local cluster numbers its nodes from 1; elsewhere any Kafka node.id (from 0,
            // as Strimzi numbers its pods) may be named.
            Value::Object(o) if o.len() == 1 && o.contains_key("node") => match o["node"].as_i64() {
                Some(n)
                    if n >= 0
                        && n <= i64::from(i32::MAX)
                        && local_nodes.is_none_or(|max| n >= 1 && n as usize <= max) =>
                {
                    Some(TargetSpec::Node(n as i32))
                }
                Some(n) if n >= 0 && local_nodes.is_some() => {
                    self.err(
                        path.key("node"),
                        format!(
                            "node {n} does not exist: the local cluster has nodes 1 to {}",
                            local_nodes.unwrap_or(0)
                        ),
                    );
                    None
                }
                _ => {
                    let from = if local_nodes.is_some() { 1 } else { 0 };
                    self.err(path.key("node"), format!("a node id: a whole number from {from}"));
                    None
                }
            },
            Value::Object(o) if o.len() == 1 && o.contains_key("leader_of") => {
                let lo = &o["leader_of"];
                let topic = lo.get("topic").and_then(Value::as_str);
                let partition = lo.get("partition").map(|p| p.as_i64());
                let extra: Vec<&String> = lo
                    .as_object()
                    .map(|m| m.keys().filter(|k| *k != "topic" && *k != "partition").collect())
                    .unwrap_or_default();
                if let Some(k) = extra.first() {
                    self.err(
                        path.key("leader_of").key((*k).clone()),
                        format!("unknown field `{k}`, expected `topic` or `partition`"),
                    );
                    return None;
                }
                let Some(topic) = topic else {
                    self.err(
                        path.key("leader_of").key("topic"),
                        "the topic whose partition leader is hit (a declared topic)",
                    );
                    return None;
                };
                let partition = match partition {
                    None => 0,
                    Some(Some(p)) if p >= 0 => p as i32,
                    Some(_) => {
                        self.err(path.key("leader_of").key("partition"), "a partition number from 0");
                        return None;
                    }
                };
                match topics.iter().find(|(t, _)| *t == topic) {
                    None => {
                        self.err(
                            path.key("leader_of").key("topic"),
                            format!("unknown topic `{topic}`: declare it in `topics`"),
                        );
                        None
                    }
                    Some((_, n)) if partition >= *n => {
                        self.err(
                            path.key("leader_of").key("partition"),
                            format!("topic {topic} has partitions 0 to {}", n - 1),
                        );
                        None
                    }
                    Some(_) => Some(TargetSpec::LeaderOf { topic: topic.to_string(), partition }),
                }
            }
            _ => {
                self.err(path, format!("invalid target: expected {FORMS}"));
                None
            }
        }
    }

    /// The local backend acts on the run's own cluster and the Kubernetes backend on pods:
    /// each supports some faults only.
    fn fault_fits_cluster(&mut self, f: &FaultSpec, at: JsonPath, cluster: Option<&ClusterTarget>) {
        match cluster {
            Some(ClusterTarget::Existing { kubernetes: None, .. }) => self.err(
                at,
                "faults need a cluster aftershock started (`local`, or `running` for one from `aftershock cluster up`), or an existing cluster in Kubernetes (`cluster.existing.kubernetes`)",
            ),
            Some(ClusterTarget::Existing { kubernetes: Some(k), .. }) => {
                if f.restart_after.is_some() {
                    self.err(
                        at.key("restart_after"),
                        "on Kubernetes the pod's controller recreates a deleted broker pod: `restart_after` does not apply",
                    );
                }
                match f.action {
                    FaultAction::Pause if !k.chaos_mesh => self.err(
                        at.key("action"),
                        "pause on Kubernetes uses Chaos Mesh (PodChaos pod-failure): set \"chaos_mesh\": true in cluster.existing.kubernetes",
                    ),
                    FaultAction::Partition { peers: Peers::Clients, .. } if k.chaos_mesh => self.err(
                        at.key("peers"),
                        "Chaos Mesh partitions cut a pod from other pods: use peers \"nodes\" or \"all\" (or leave out chaos_mesh for a NetworkPolicy)",
                    ),
                    _ => {}
                }
            }
            Some(ClusterTarget::Local { netns: false, .. }) if matches!(f.action, FaultAction::Partition { .. }) => self.err(
                at.key("action"),
                "a partition needs the nodes in network namespaces: set \"netns\": true on the local cluster (root only)",
            ),
            _ => {}
        }
    }

    /// Each fault against the run's timeline: it must start inside its phase (with `phase`) or
    /// before the load stops (with `at`), and every repeat before the load stops, or it never
    /// fires under load (one due after the load stops fires, if at all, in the drain, when
    /// nothing is produced). A window that outlasts the load is allowed, with a warning
    /// that says when the run undoes it.
    pub(super) fn fault_timing(
        &mut self,
        raw: &[Option<RawFault>],
        faults: &[Option<FaultSpec>],
        phases: &[Option<Phase>],
        drain: Option<Duration>,
        at: &JsonPath,
    ) {
        // Only a whole timeline can be checked; a bad phase or drain has its own problem.
        let (Some(phases), Some(drain)) = (phases.iter().map(Option::as_ref).collect::<Option<Vec<&Phase>>>(), drain)
        else {
            return;
        };
        let mut laid = Vec::new();
        let mut end = 0u128;
        for p in &phases {
            laid.push((p.name.as_str(), end, p.duration));
            end += p.duration.as_nanos();
        }
        let Some(last) = phases.last() else { return };
        let tl = Timeline { phases: laid, end, last: &last.name, drain };
        for (i, (f, r)) in faults.iter().zip(raw).enumerate() {
            if let (Some(f), Some(r)) = (f, r) {
                self.fault_fires(f, r, &at.index(i), &tl);
            }
        }
    }

    /// One fault against the timeline; times in nanoseconds from the start of the load, in
    /// u128 so that no file can overflow them.
    fn fault_fires(&mut self, f: &FaultSpec, r: &RawFault, at: &JsonPath, tl: &Timeline) {
        let first = match &f.start {
            FaultStart::At(d) => {
                let start = d.as_nanos();
                if start >= tl.end {
                    self.err(
                        at.key("at"),
                        format!(
                            "the fault would start at {}, {} the load stops at {} (the end of the last phase, `{}`): it would never fire under load; expected a time before {}",
                            offset(start),
                            past(start, tl.end),
                            offset(tl.end),
                            tl.last,
                            offset(tl.end)
                        ),
                    );
                    return;
                }
                start
            }
            FaultStart::Phase { phase, offset: o } => {
                // An unknown phase has its own problem.
                let Some(&(_, begin, length)) = tl.phases.iter().find(|(n, ..)| n == phase) else { return };
                let (start, end) = (begin + o.as_nanos(), begin + length.as_nanos());
                if start >= end {
                    self.err(
                        at.key(if r.offset.is_some() { "offset" } else { "phase" }),
                        format!(
                            "the fault would start at {}, {} its phase `{phase}` ends at {} (times from the start of the load): expected an offset shorter than the phase ({})",
                            offset(start),
                            past(start, end),
                            offset(end),
                            fmt_duration(length)
                        ),
                    );
                    return;
                }
                start
            }
        };
        let every_d = f.every.unwrap_or_default();
        let every = every_d.as_nanos();
        let times = f.times.max(1);
        let last_start = first + every * u128::from(times - 1);
        if times > 1 && every > 0 && last_start >= tl.end {
            // How many occurrences start before the load stops (the first one does).
            let fit = (tl.end - first).div_ceil(every);
            let late = first + every * fit;
            self.err(
                at.key("times"),
                format!(
                    "with every {}, occurrence {} of {times} would start at {}, {} the load stops at {}: it would never fire under load; expected times at most {fit} (or a shorter `every`)",
                    fmt_duration(every_d),
                    fit + 1,
                    offset(late),
                    past(late, tl.end),
                    offset(tl.end)
                ),
            );
            return;
        }
        let window_end = last_start + f.duration.as_nanos();
        if window_end > tl.end {
            let window = if times > 1 {
                format!("the window of its last occurrence ({times} of {times})")
            } else {
                "the fault window".to_string()
            };
            let path = if r.duration.is_some() { at.key("duration") } else { at.clone() };
            let drain = tl.drain.as_nanos();
            let message = if window_end <= tl.end + drain {
                format!(
                    "{window} ends at {}, {} after the load stops at {}: the fault stays on into the drain, after producing has stopped, and is undone when its window ends",
                    offset(window_end),
                    offset(window_end - tl.end),
                    offset(tl.end)
                )
            } else {
                format!(
                    "{window} would end at {}, after the load stops at {} and the drain ({}) after it: the run does not wait for it and undoes the fault when the drain ends, `drain` after the load stops and the producers' last deliveries are in (about {}), so the fault is on for about {} of its {}",
                    offset(window_end),
                    offset(tl.end),
                    fmt_duration(tl.drain),
                    offset(tl.end + drain),
                    offset(tl.end + drain - last_start),
                    fmt_duration(f.duration)
                )
            };
            self.warn(path, message);
        }
    }
}

/// The run's phases laid out from the start of the load, in nanoseconds.
struct Timeline<'a> {
    /// Name, start and length of each phase.
    phases: Vec<(&'a str, u128, Duration)>,
    /// When the load stops: the end of the last phase.
    end: u128,
    /// The last phase's name.
    last: &'a str,
    drain: Duration,
}

/// A time from the start of the load, as `run --dry-run` prints it (`505s`, `2.500s`).
fn offset(nanos: u128) -> String {
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else {
        format!("{:.3}s", nanos as f64 / 1e9)
    }
}

/// How a start relates to an end it is not before.
fn past(start: u128, end: u128) -> &'static str {
    if start == end { "just as" } else { "after" }
}

#[cfg(test)]
mod tests {
    use crate::scenario::{Diagnostic, Severity, parse_str};

    /// A local run of 25 s (warmup 5 s, steady 20 s) with a drain of 5 s and `faults`.
    fn scenario(faults: &str) -> String {
        format!(
            r#"{{
  "name": "timing",
  "cluster": {{"local": {{"nodes": 3}}}},
  "topics": [{{"name": "t", "partitions": 3}}],
  "producers": [{{"name": "p", "topic": "t", "rate": 100}}],
  "phases": [{{"name": "warmup", "duration": "5s"}}, {{"name": "steady", "duration": "20s"}}],
  "drain": "5s",
  "faults": [
    {faults}
  ]
}}"#
        )
    }

    fn kill(timing: &str) -> String {
        format!(r#"{{"name": "k", {timing}, "action": "kill", "target": "random", "duration": "5s"}}"#)
    }

    fn errors(faults: &str) -> Vec<String> {
        parse_str(&scenario(faults), "f.json").unwrap_err().iter().map(Diagnostic::to_string).collect()
    }

    fn warnings(faults: &str) -> Vec<String> {
        let s = parse_str(&scenario(faults), "f.json").unwrap_or_else(|d| panic!("{d}"));
        assert!(s.warnings.iter().all(|w| w.severity == Severity::Warning));
        s.warnings.iter().map(Diagnostic::to_string).collect()
    }

    #[test]
    fn a_fault_that_starts_after_its_phase_is_an_error_at_its_offset() {
        assert_eq!(
            errors(&kill(r#""phase": "steady", "offset": "500s""#)),
            [
                "f.json:9:48: faults[0].offset: the fault would start at 505s, after its phase `steady` ends at 25s (times from the start of the load): expected an offset shorter than the phase (20s)"
            ]
        );
        // A fault due when its phase ends, or in a later phase, fires outside the phase it names.
        let e = errors(&kill(r#""phase": "warmup", "offset": "5s""#));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("faults[0].offset: the fault would start at 5s, just as its phase `warmup` ends at 5s"));
        assert!(
            errors(&kill(r#""phase": "warmup", "offset": "7s""#))[0].contains("after its phase `warmup` ends at 5s")
        );
        assert_eq!(warnings(&kill(r#""phase": "steady", "offset": "14s""#)), Vec::<String>::new());
    }

    #[test]
    fn a_fault_at_or_after_the_end_of_the_load_is_an_error_at_at() {
        assert_eq!(
            errors(&kill(r#""at": "25s""#)),
            [
                "f.json:9:25: faults[0].at: the fault would start at 25s, just as the load stops at 25s (the end of the last phase, `steady`): it would never fire under load; expected a time before 25s"
            ]
        );
        assert!(errors(&kill(r#""at": "1h""#))[0].contains("start at 3600s, after the load stops at 25s"));
        assert_eq!(warnings(&kill(r#""at": "20s""#)), Vec::<String>::new());
    }

    #[test]
    fn a_repeat_after_the_end_of_the_load_is_an_error_at_times() {
        let f = r#"{"name": "k", "at": "5s", "every": "10s", "times": 3, "action": "pause", "target": "random", "duration": "2s"}"#;
        let e = errors(f);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("f.json:9:56: faults[0].times: with every 10s, occurrence 3 of 3 would start at 25s, just as the load stops at 25s"), "{}", e[0]);
        assert!(e[0].contains("expected times at most 2 (or a shorter `every`)"), "{}", e[0]);
        assert!(parse_str(&scenario(&f.replace("\"times\": 3", "\"times\": 2")), "f.json").is_ok());
    }

    #[test]
    fn a_window_into_the_drain_is_a_warning_that_it_ends_there() {
        assert_eq!(
            warnings(&kill(r#""phase": "steady", "offset": "17s""#)),
            [
                "f.json:9:105: warning: faults[0].duration: the fault window ends at 27s, 2s after the load stops at 25s: the fault stays on into the drain, after producing has stopped, and is undone when its window ends"
            ]
        );
    }

    #[test]
    fn a_window_past_the_drain_is_a_warning_that_the_drain_cuts_it() {
        let w = warnings(r#"{"name": "p", "at": "20s", "action": "pause", "target": "random", "duration": "1m"}"#);
        assert_eq!(
            w,
            [
                "f.json:9:83: warning: faults[0].duration: the fault window would end at 80s, after the load stops at 25s and the drain (5s) after it: the run does not wait for it and undoes the fault when the drain ends, `drain` after the load stops and the producers' last deliveries are in (about 30s), so the fault is on for about 10s of its 1m"
            ]
        );
        // The last occurrence of a repeating fault is the one that can outlast the load.
        let w = warnings(
            r#"{"name": "p", "at": "8s", "every": "10s", "times": 2, "action": "pause", "target": "random", "duration": "9s"}"#,
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("faults[0].duration: the window of its last occurrence (2 of 2) ends at 27s"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn a_rolling_restart_without_a_window_never_outlasts_the_load() {
        let f = r#"{"name": "r", "phase": "steady", "offset": "19s", "action": "restart"}"#;
        assert_eq!(warnings(f), Vec::<String>::new());
    }

    #[test]
    fn errors_and_warnings_come_out_together_in_file_order() {
        let faults = [
            r#"{"name": "late", "at": "20s", "action": "pause", "target": "random", "duration": "1m"}"#,
            &kill(r#""phase": "steady", "offset": "500s""#).replace("\"k\"", "\"never\""),
            r#"{"name": "bad", "at": "5s", "action": "explode", "target": "random", "duration": "1s"}"#,
        ]
        .join(",\n    ");
        let d = parse_str(&scenario(&faults), "f.json").unwrap_err();
        let got: Vec<(usize, Severity, &str)> = d.iter().map(|d| (d.line, d.severity, d.path.as_str())).collect();
        assert_eq!(
            got,
            [
                (9, Severity::Warning, "faults[0].duration"),
                (10, Severity::Error, "faults[1].offset"),
                (11, Severity::Error, "faults[2].action"),
            ]
        );
        assert_eq!(d.errors().count(), 2);
    }

    #[test]
    fn huge_times_are_problems_not_overflows() {
        // The longest duration a scenario takes; anything longer is refused where written.
        const LONG: &str = "3650days";
        let e = errors(&kill(r#""phase": "steady", "offset": "18446744073709551615s""#));
        assert!(
            e[0].contains("faults[0].offset: `18446744073709551615s` is longer than the longest duration"),
            "{e:?}"
        );
        let e = errors(&kill(&format!(r#""phase": "steady", "offset": "{LONG}""#)));
        assert!(e[0].contains("faults[0].offset: the fault would start at 315360005s"), "{e:?}");
        let f = format!(
            r#"{{"name": "k", "at": "5s", "every": "{LONG}", "times": 4294967295, "action": "pause", "target": "random", "duration": "1s"}}"#
        );
        let e = errors(&f);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("faults[0].times: with every 9years 11months"), "{e:?}");
        assert!(e[0].contains("occurrence 2 of 4294967295 would start at 315360005s"), "{e:?}");
        let f = format!(r#"{{"name": "k", "at": "5s", "action": "pause", "target": "random", "duration": "{LONG}"}}"#);
        assert!(warnings(&f)[0].contains("so the fault is on for about 25s of its"), "{:?}", warnings(&f));
    }
}
