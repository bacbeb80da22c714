//! Parsers for the human-friendly quantities of scenario files: durations, byte sizes and rates.
//!
//! Each returns a message that quotes the input and shows the accepted syntax, so callers can
//! put it straight into a diagnostic.

use std::fmt;
use std::time::Duration;

/// A target message rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Messages per second, in total across the instances.
    PerSec(f64),
    /// A closed loop: each instance sends as fast as acknowledgements allow.
    Max,
}

impl Rate {
    /// The rate each of `instances` clients should hold.
    pub fn per_instance(&self, instances: u32) -> Rate {
        match self {
            Rate::PerSec(r) => Rate::PerSec(r / f64::from(instances.max(1))),
            Rate::Max => Rate::Max,
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSec(r) => write!(f, "{r} msg/s"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// Parses a duration like `30s`, `2m`, `1h`, `500ms` or `1m 30s` (humantime syntax).
///
/// # Errors
/// A message quoting `s` and the accepted syntax.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    // NB: humantime accepts a bare number of seconds nowhere, but say so explicitly because a
    // bare number is the most common mistake and its own message ("time unit needed") is terse.
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` has no unit: write a duration like \"{t}s\" or \"{t}ms\""));
    }
    let d = humantime::parse_duration(t)
        .map_err(|e| format!("`{s}` is not a duration like \"30s\", \"2m\", \"1h\" or \"500ms\" ({e})"))?;
    if d > MAX_DURATION {
        return Err(format!("`{s}` is longer than the longest duration aftershock takes (10 years)"));
    }
    Ok(d)
}

/// The longest duration a scenario may name. Sums of phases, offsets and repeats are then far
/// from overflowing the run's clock arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a byte size like `100B`, `1KiB` (1024), `1KB` (1000), `1.5MiB`, or a bare number of bytes.
///
/// Units are case-insensitive: B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024).
/// A fractional number is allowed when the result is a whole number of bytes.
///
/// # Errors
/// A message quoting `s` and the accepted syntax.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("`{s}` is not a size like \"100B\", \"1KiB\", \"1MiB\" or \"1KB\" (1000 bytes)");
    if num.is_empty() {
        return Err(bad());
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(|| format!("`{s}` is too large"));
    }
    let x: f64 = num.parse().map_err(|_| bad())?;
    let bytes = x * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    if bytes.fract() != 0.0 {
        return Err(format!("`{s}` is not a whole number of bytes"));
    }
    Ok(bytes as u64)
}

/// Parses a rate in messages per second: `500`, `2.5k`, `10k`, `1M`, optionally followed by
/// `/s` or `msg/s`; or `max` for a closed loop (as fast as acknowledgements allow).
///
/// # Errors
/// A message quoting `s` and the accepted syntax; rates must be finite and above zero.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let bad = || format!("`{s}` is not a rate like 500, \"2.5k\", \"10k\", \"1M\" (messages per second) or \"max\"");
    let t = t.strip_suffix("msg/s").or_else(|| t.strip_suffix("/s")).unwrap_or(t).trim_end();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'M')) => (&t[..i], 1e6),
        _ => (t, 1.0),
    };
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    rate_from_number(x * mult).map_err(|e| format!("`{s}`: {e}"))
}

/// Checks a rate given as a plain number of messages per second.
///
/// # Errors
/// When `x` is not finite or not above zero.
pub fn rate_from_number(x: f64) -> Result<Rate, String> {
    if !x.is_finite() {
        return Err("a rate must be a finite number of messages per second".into());
    }
    if x <= 0.0 {
        return Err(format!("a rate must be above 0 messages per second, got {x}; use \"max\" for a closed loop"));
    }
    Ok(Rate::PerSec(x))
}

/// Formats a byte count the way scenario files write it (`1KiB`, `16MiB`, `100B`).
pub fn format_size(bytes: u64) -> String {
    for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("soon").unwrap_err().contains("not a duration"));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3650days").is_ok());
        assert!(parse_duration("18446744073709551615s").unwrap_err().contains("longest duration"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1kib"), Ok(1024));
        assert_eq!(parse_size("1KB"), Ok(1000));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("4 KiB"), Ok(4096));
        assert!(parse_size("1.5B").unwrap_err().contains("whole number"));
        assert!(parse_size("1XB").unwrap_err().contains("not a size"));
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("-1KiB").is_err());
        assert!(parse_size("1.2.3KiB").is_err());
        assert!(parse_size("99999999999999999999GiB").unwrap_err().contains("too large"));
        assert!(parse_size("18446744073709551615GiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500"), Ok(Rate::PerSec(500.0)));
        assert_eq!(parse_rate("10k"), Ok(Rate::PerSec(10_000.0)));
        assert_eq!(parse_rate("2.5k"), Ok(Rate::PerSec(2_500.0)));
        assert_eq!(parse_rate("1M"), Ok(Rate::PerSec(1_000_000.0)));
        assert_eq!(parse_rate("10k/s"), Ok(Rate::PerSec(10_000.0)));
        assert_eq!(parse_rate("200 msg/s"), Ok(Rate::PerSec(200.0)));
        assert_eq!(parse_rate("0.5"), Ok(Rate::PerSec(0.5)));
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("MAX"), Ok(Rate::Max));
        assert!(parse_rate("0").unwrap_err().contains("above 0"));
        assert!(parse_rate("-5").unwrap_err().contains("above 0"));
        assert!(parse_rate("fast").unwrap_err().contains("not a rate"));
        assert!(parse_rate("1m").is_err(), "lower-case m is ambiguous (milli?) and refused");
        assert!(parse_rate("inf").is_err());
        assert!(parse_rate("NaN").is_err());
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(16 << 20), "16MiB");
        assert_eq!(format_size(100), "100B");
        assert_eq!(format_size(1000), "1000B");
    }
}
