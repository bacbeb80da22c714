//! Numbers for people: latencies, seconds, rates, counts and shares, each with its unit and
//! three significant digits, the same in terminal tables, Markdown, HTML and plot labels.

/// A latency given in microseconds: `850 µs`, `5.20 ms`, `50.0 ms`, `512 ms`, `1.52 s`.
pub fn latency_us(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".into();
    }
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        let ms = us / 1000.0;
        format!("{} ms", sig3(ms))
    } else {
        format!("{} s", sig3(us / 1e6))
    }
}

/// A time in seconds: `0.25 s`, `4.50 s`, `15.0 s`, `120 s`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    format!("{} s", sig3(s))
}

/// A rate in messages per second: `9512 msg/s`, `60.0 msg/s`, `0.50 msg/s`.
pub fn rate(r: f64) -> String {
    if !r.is_finite() {
        return "n/a".into();
    }
    if r >= 1000.0 { format!("{r:.0} msg/s") } else { format!("{} msg/s", sig3(r)) }
}

/// A count: a whole number when it is one.
pub fn count(c: f64) -> String {
    if c.fract() == 0.0 && c.abs() < 1e15 { format!("{c:.0}") } else { format!("{c:.3}") }
}

/// A share (0 to 1) as a percentage: `0.52%`, `12.5%`, `100%`.
pub fn percent(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let p = x * 100.0;
    if p == 0.0 { "0%".into() } else { format!("{}%", sig3(p)) }
}

/// A signed relative change: `+12.3%`, `-4.00%`, `0%`.
pub fn change(x: f64) -> String {
    if !x.is_finite() {
        return if x > 0.0 { "+∞".into() } else { "n/a".into() };
    }
    let p = x * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p > 0.0 {
        format!("+{}%", sig3(p))
    } else {
        format!("-{}%", sig3(-p))
    }
}

/// A percentage given in percent: `25%`, `2.5%`.
pub fn pct(p: f64) -> String {
    if p.fract() == 0.0 && p.abs() < 1e12 { format!("{p:.0}%") } else { format!("{}%", sig3(p)) }
}

/// Three significant digits, without an exponent: `5.20`, `50.0`, `512`, `1520`.
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a < 10.0 {
        format!("{v:.2}")
    } else if a < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(latency_us(850.0), "850 µs");
        assert_eq!(latency_us(5203.0), "5.20 ms");
        assert_eq!(latency_us(50_000.0), "50.0 ms");
        assert_eq!(latency_us(512_300.0), "512 ms");
        assert_eq!(latency_us(1_520_000.0), "1.52 s");
        assert_eq!(secs(15.0), "15.0 s");
        assert_eq!(secs(0.25), "0.25 s");
        assert_eq!(rate(9512.4), "9512 msg/s");
        assert_eq!(rate(60.0), "60.0 msg/s");
        assert_eq!(count(3.0), "3");
        assert_eq!(percent(0.0052), "0.52%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(change(0.123), "+12.3%");
        assert_eq!(change(-0.04), "-4.00%");
        assert_eq!(change(f64::INFINITY), "+∞");
    }
}
