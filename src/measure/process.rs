//! The aftershock process's own footprint: resident memory and CPU time sampled once a second
//! into the report, and the rule that decides whether memory stayed flat over a long run.

use serde::{Deserialize, Serialize};

/// The process at one second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSample {
    /// Seconds since the run start.
    pub sec: u64,
    /// Resident set size, bytes (`VmRSS`).
    pub rss_bytes: u64,
    /// User plus system CPU time used by the whole process so far, seconds.
    pub cpu_secs: f64,
    /// CPU time every process on the host has used so far (all CPUs, `/proc/stat`), seconds:
    /// with `cpu_secs`, it tells the generator falling behind from the host's CPU being taken
    /// by others (a local cluster's JVMs, say). Absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_busy_secs: Option<f64>,
}

impl ProcessSample {
    /// This process now, labelled with second `sec`; `None` where `/proc` is not available.
    pub fn of_self(sec: u64) -> Option<ProcessSample> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let rss_bytes = vm_rss_bytes(&status)?;
        let host_busy_secs = std::fs::read_to_string("/proc/stat").ok().and_then(|s| host_busy_secs(&s));
        Some(ProcessSample { sec, rss_bytes, cpu_secs: cpu_secs_of_self().unwrap_or(0.0), host_busy_secs })
    }
}

/// Busy CPU seconds of the whole host from `/proc/stat`'s `cpu` line: user, nice, system, irq,
/// softirq and steal (not idle or iowait), in clock ticks of `CLK_TCK`.
pub fn host_busy_secs(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map_while(|v| v.parse().ok()).collect();
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    if ticks.len() < 4 {
        return None;
    }
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().filter(|h| *h > 0).unwrap_or(100);
    Some(busy as f64 / hz as f64)
}

/// User plus system CPU seconds of this process (every thread, librdkafka's included).
pub fn cpu_secs_of_self() -> Option<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(secs(u.user_time()) + secs(u.system_time()))
}

/// The `VmRSS:` line of a `/proc/<pid>/status` file, in bytes.
pub fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Limits for [`memory_verdict`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryLimits {
    /// Highest RSS allowed at any second.
    pub max_rss_bytes: u64,
    /// Largest allowed growth from the start to the end of the window, as a share (0.05 = 5%).
    pub max_growth: f64,
    /// Length of the windows at each end of the measured span whose medians are compared.
    pub window_secs: u64,
}

impl Default for MemoryLimits {
    fn default() -> MemoryLimits {
        MemoryLimits { max_rss_bytes: 150 * 1024 * 1024, max_growth: 0.05, window_secs: 60 }
    }
}

/// What [`memory_verdict`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryVerdict {
    /// Highest RSS over the whole run, warm-up included.
    pub peak_rss_bytes: u64,
    /// Median RSS of the first window after warm-up.
    pub start_rss_bytes: u64,
    /// Median RSS of the last window.
    pub end_rss_bytes: u64,
    /// `end / start - 1`.
    pub growth: f64,
    /// Seconds compared (after warm-up).
    pub span_secs: u64,
    /// Why the run fails the limits; empty when it passes.
    pub failures: Vec<String>,
}

/// Judges memory over a run: the peak must stay under the limit, and the median RSS of the last
/// window may exceed that of the first window after `warmup_end_sec` by at most the allowed
/// growth. Medians of windows, not single samples, so that one allocation spike or one
/// returned arena does not decide the verdict. `None` when fewer than two windows of samples
/// follow the warm-up.
pub fn memory_verdict(samples: &[ProcessSample], warmup_end_sec: u64, limits: &MemoryLimits) -> Option<MemoryVerdict> {
    let peak_rss_bytes = samples.iter().map(|s| s.rss_bytes).max()?;
    let after: Vec<&ProcessSample> = samples.iter().filter(|s| s.sec >= warmup_end_sec).collect();
    let w = limits.window_secs.max(1) as usize;
    if after.len() < 2 * w {
        return None;
    }
    let median = |xs: &[&ProcessSample]| {
        let mut v: Vec<u64> = xs.iter().map(|s| s.rss_bytes).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let start = median(&after[..w]);
    let end = median(&after[after.len() - w..]);
    let growth = end as f64 / start.max(1) as f64 - 1.0;
    let mut failures = Vec::new();
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    if peak_rss_bytes > limits.max_rss_bytes {
        failures.push(format!(
            "peak RSS {:.1} MiB is above the limit of {:.1} MiB",
            mib(peak_rss_bytes),
            mib(limits.max_rss_bytes)
        ));
    }
    if growth > limits.max_growth {
        failures.push(format!(
            "RSS grew {:.1}% after warm-up ({:.1} MiB -> {:.1} MiB), more than {:.1}%",
            growth * 100.0,
            mib(start),
            mib(end),
            limits.max_growth * 100.0
        ));
    }
    Some(MemoryVerdict {
        peak_rss_bytes,
        start_rss_bytes: start,
        end_rss_bytes: end,
        growth,
        span_secs: after.last().map_or(0, |l| l.sec) - after[0].sec + 1,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn series(f: impl Fn(u64) -> u64, secs: u64) -> Vec<ProcessSample> {
        (0..secs)
            .map(|sec| ProcessSample { sec, rss_bytes: f(sec), cpu_secs: sec as f64, host_busy_secs: None })
            .collect()
    }

    fn limits() -> MemoryLimits {
        MemoryLimits { window_secs: 10, ..MemoryLimits::default() }
    }

    #[test]
    fn reads_vm_rss_from_proc_status() {
        let status = "Name:\taftershock\nVmPeak:\t  300000 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_bytes(status), Some(50 * MIB));
        assert_eq!(vm_rss_bytes("Name: x\n"), None);
        assert!(ProcessSample::of_self(0).is_some_and(|s| s.rss_bytes > 0));
    }

    #[test]
    fn flat_memory_passes_despite_warm_up_growth_and_a_spike() {
        // Warm-up climbs from 20 to 60 MiB; afterwards flat, with one 140 MiB spike.
        let s = series(
            |t| {
                if t < 30 {
                    (20 + t * 4 / 3) * MIB
                } else if t == 70 {
                    140 * MIB
                } else {
                    60 * MIB
                }
            },
            120,
        );
        let v = memory_verdict(&s, 30, &limits()).unwrap();
        assert_eq!(v.start_rss_bytes, 60 * MIB);
        assert_eq!(v.end_rss_bytes, 60 * MIB);
        assert_eq!(v.peak_rss_bytes, 140 * MIB);
        assert_eq!(v.span_secs, 90);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
    }

    #[test]
    fn slow_growth_and_a_high_peak_fail() {
        // 60 MiB growing 0.1 MiB/s: about 15% over the run.
        let s = series(|t| 60 * MIB + t * MIB / 10, 120);
        let v = memory_verdict(&s, 0, &limits()).unwrap();
        assert!(v.growth > 0.1 && v.growth < 0.25, "{}", v.growth);
        assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
        assert!(v.failures[0].contains("grew"));
        let s = series(|_| 151 * MIB, 40);
        let v = memory_verdict(&s, 0, &limits()).unwrap();
        assert!(v.failures[0].contains("peak RSS 151.0 MiB"), "{:?}", v.failures);
    }

    #[test]
    fn too_short_a_run_has_no_verdict() {
        assert_eq!(memory_verdict(&series(|_| MIB, 25), 10, &limits()), None);
        assert_eq!(memory_verdict(&[], 0, &limits()), None);
    }
}
