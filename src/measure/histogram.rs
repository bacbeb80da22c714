//! Latency histograms: an HdrHistogram in microseconds (1 µs to 1 hour, 3 significant
//! digits, so at most 0.1% quantisation), its summary (count, min, mean, percentiles, max),
//! and a mergeable text encoding for report.json.
//!
//! The encoding is HdrHistogram's V2 serialization compressed with DEFLATE, in standard
//! base64 ([`ENCODING`]): other HdrHistogram implementations (Java, Go, Python) read it, and
//! histograms decoded from several reports can be merged exactly, which percentiles cannot.

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// The name of the text encoding of [`LatencyHistogram::encode`], as written in report.json.
pub const ENCODING: &str = "hdrhistogram-v2-deflate-base64";

/// Lowest value told apart from 0, in microseconds.
pub const LOWEST_US: u64 = 1;
/// Highest value tracked, in microseconds (1 hour); larger values are recorded as this.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGNIFICANT_DIGITS: u8 = 3;

// NB: decode works on untrusted text (a report from disk), and HdrHistogram's deserializer
// sizes its buffers from the header it reads; these caps keep a corrupt or hostile input from
// asking for gigabytes. A full 1 µs..1 h histogram is about 200 KB uncompressed, at worst.
const MAX_ENCODED_CHARS: usize = 16 << 20;
const MAX_INFLATED_BYTES: u64 = 4 << 20;
/// Cookies of HdrHistogram's V2 format, plain and DEFLATE-compressed.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// Size of the V2 header: cookie, payload length, normalizing offset, digits, low, high, ratio.
const V2_HEADER_BYTES: usize = 40;

/// Why a histogram could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// The text is not base64.
    #[error("histogram text is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The text or its decompressed form is larger than any histogram aftershock writes.
    #[error("histogram encoding is too large ({0})")]
    TooLarge(String),
    /// The bytes are not a DEFLATE-compressed HdrHistogram V2 histogram.
    #[error("not an {ENCODING} histogram: {0}")]
    Format(String),
    /// A valid histogram, but with other bounds or precision than aftershock's.
    #[error(
        "histogram tracks {low}..{high} with {digits} digits, not aftershock's \
         {LOWEST_US}..{HIGHEST_US} µs with {SIGNIFICANT_DIGITS} digits"
    )]
    Bounds { low: u64, high: u64, digits: u32 },
    /// HdrHistogram rejected the payload.
    #[error("corrupt histogram: {0}")]
    Corrupt(String),
    /// HdrHistogram could not serialize (only with counts beyond i64::MAX).
    #[error("cannot encode histogram: {0}")]
    Encode(String),
}

/// A latency histogram in microseconds, 1 µs to 1 hour, 3 significant digits (about 184 KiB).
///
/// Recording never fails: values above 1 hour are recorded as 1 hour, values below 1 µs as 0.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        // NB: the bounds are constants that HdrHistogram accepts (high >= 2 * low, digits <= 5),
        // so creation cannot fail; `expect` documents that rather than guarding bad input.
        let h =
            Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).expect("constant bounds are valid");
        LatencyHistogram { h }
    }

    /// Records one latency in microseconds, clamped to the tracked range.
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        self.h.saturating_record(us);
    }

    /// Records one latency, clamped to the tracked range.
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_us(duration_us(latency));
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Both sides have the same bounds (decode refuses others), so `add` cannot fail; the
        // fallback keeps that an invariant rather than a panic.
        if self.h.add(&other.h).is_err() {
            for v in other.h.iter_recorded() {
                self.h.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// The value at `quantile` (0.0 to 1.0) in microseconds, 0 when empty.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        if self.h.is_empty() { 0 } else { self.h.value_at_quantile(quantile) }
    }

    /// Count, min, mean, p50/p90/p99/p99.9 and max; all zero when empty.
    ///
    /// Percentiles and max are the highest value equivalent to the recorded ones (HdrHistogram's
    /// convention), so they never understate a latency.
    pub fn summary(&self) -> LatencySummary {
        if self.h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.h.len(),
            min_us: self.h.min(),
            mean_us: round_to(self.h.mean(), 1000.0),
            p50_us: self.h.value_at_quantile(0.50),
            p90_us: self.h.value_at_quantile(0.90),
            p99_us: self.h.value_at_quantile(0.99),
            p999_us: self.h.value_at_quantile(0.999),
            max_us: self.h.max(),
        }
    }

    /// The histogram as text: V2 serialization, DEFLATE-compressed, in standard base64.
    ///
    /// # Errors
    /// Only if a count exceeds `i64::MAX`, which HdrHistogram's format cannot hold.
    pub fn encode(&self) -> Result<String, HistogramError> {
        let mut bytes = Vec::with_capacity(1024);
        V2DeflateSerializer::new()
            .serialize(&self.h, &mut bytes)
            .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Reads a histogram written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// A [`HistogramError`] for anything else: not base64, not compressed V2, truncated,
    /// other bounds or precision, or larger than aftershock ever writes. Never panics.
    pub fn decode(text: &str) -> Result<LatencyHistogram, HistogramError> {
        let text = text.trim();
        if text.len() > MAX_ENCODED_CHARS {
            return Err(HistogramError::TooLarge(format!("{} characters", text.len())));
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
        let cookie = read_u32(&bytes, 0).ok_or_else(|| HistogramError::Format("shorter than its header".into()))?;
        if cookie != V2_COMPRESSED_COOKIE {
            return Err(HistogramError::Format(format!("cookie {cookie:#010x} is not {V2_COMPRESSED_COOKIE:#010x}")));
        }
        let len = read_u32(&bytes, 4).ok_or_else(|| HistogramError::Format("shorter than its header".into()))? as usize;
        let compressed = bytes
            .get(8..8usize.saturating_add(len))
            .ok_or_else(|| HistogramError::Format(format!("says {len} compressed bytes, has {}", bytes.len() - 8)))?;

        let mut inner = Vec::new();
        flate2::read::ZlibDecoder::new(compressed)
            .take(MAX_INFLATED_BYTES + 1)
            .read_to_end(&mut inner)
            .map_err(|e| HistogramError::Format(format!("bad DEFLATE stream: {e}")))?;
        if inner.len() as u64 > MAX_INFLATED_BYTES {
            return Err(HistogramError::TooLarge(format!("more than {MAX_INFLATED_BYTES} bytes decompressed")));
        }
        check_v2_header(&inner)?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut inner.as_slice())
            .map_err(|e| HistogramError::Corrupt(e.to_string()))?;
        Ok(LatencyHistogram { h })
    }
}

/// Checks the uncompressed V2 header before HdrHistogram sizes anything from it.
fn check_v2_header(inner: &[u8]) -> Result<(), HistogramError> {
    let short = || HistogramError::Format("decompressed histogram is shorter than its header".into());
    if inner.len() < V2_HEADER_BYTES {
        return Err(short());
    }
    let cookie = read_u32(inner, 0).ok_or_else(short)?;
    if cookie != V2_COOKIE {
        return Err(HistogramError::Format(format!("inner cookie {cookie:#010x} is not {V2_COOKIE:#010x}")));
    }
    let payload = read_u32(inner, 4).ok_or_else(short)? as usize;
    if payload != inner.len() - V2_HEADER_BYTES {
        return Err(HistogramError::Format(format!(
            "header says {payload} payload bytes, has {}",
            inner.len() - V2_HEADER_BYTES
        )));
    }
    let digits = read_u32(inner, 12).ok_or_else(short)?;
    let low = read_u64(inner, 16).ok_or_else(short)?;
    let high = read_u64(inner, 24).ok_or_else(short)?;
    if low != LOWEST_US || high != HIGHEST_US || digits != u32::from(SIGNIFICANT_DIGITS) {
        return Err(HistogramError::Bounds { low, high, digits });
    }
    Ok(())
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
#[inline]
pub fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Rounds `x` to `1/scale` (e.g. 1000.0 for 3 decimals); non-finite values become 0.
///
/// NB: report numbers are rounded so that they print short and read back bit-identical:
/// serde_json parses such short decimals exactly, while arbitrary doubles may come back one
/// ulp off without its `float_roundtrip` feature.
pub fn round_to(x: f64, scale: f64) -> f64 {
    if x.is_finite() { (x * scale).round() / scale } else { 0.0 }
}

/// The figures of one latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Number of values; every other field is 0 when this is.
    pub count: u64,
    pub min_us: u64,
    /// Mean, rounded to 3 decimals.
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for i in 1..=10_000u64 {
            h.record_us(i * 7 % 5_000 + 100);
        }
        h.record(Duration::from_millis(250));
        h
    }

    #[test]
    fn summary_of_known_values() {
        let mut h = LatencyHistogram::new();
        for v in 1..=1000 {
            h.record_us(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min_us, 1);
        assert_eq!(s.max_us, 1000);
        assert_eq!(s.p50_us, 500);
        assert_eq!(s.p90_us, 900);
        assert_eq!(s.p99_us, 990);
        assert_eq!(s.p999_us, 999);
        assert!((s.mean_us - 500.5).abs() < 0.5, "{}", s.mean_us);
    }

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
        assert_eq!(LatencyHistogram::new().value_at_quantile(0.99), 0);
    }

    #[test]
    fn recording_saturates() {
        let mut h = LatencyHistogram::new();
        h.record_us(u64::MAX);
        h.record(Duration::from_secs(10 * 3600));
        h.record(Duration::from_nanos(10));
        let s = h.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.min_us, 0);
        assert!(s.max_us >= HIGHEST_US && s.max_us <= HIGHEST_US + HIGHEST_US / 1000, "{}", s.max_us);
    }

    #[test]
    fn merge_adds_counts() {
        let (a, b) = (sample(), sample());
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.count(), a.count() * 2);
        assert_eq!(m.summary().p99_us, a.summary().p99_us);
    }

    #[test]
    fn encoding_round_trips_and_merges() {
        let h = sample();
        let text = h.encode().unwrap();
        assert!(text.len() < 8_000, "{} chars", text.len());
        let back = LatencyHistogram::decode(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.summary(), h.summary());

        let empty = LatencyHistogram::new();
        assert_eq!(LatencyHistogram::decode(&empty.encode().unwrap()).unwrap(), empty);

        let mut merged = LatencyHistogram::decode(&text).unwrap();
        merged.merge(&LatencyHistogram::decode(&text).unwrap());
        assert_eq!(merged.count(), 2 * h.count());
    }

    #[test]
    fn bad_encodings_are_errors() {
        let good = sample().encode().unwrap();
        assert!(matches!(LatencyHistogram::decode("not base64!"), Err(HistogramError::Base64(_))));
        assert!(matches!(LatencyHistogram::decode(""), Err(HistogramError::Format(_))));
        assert!(matches!(LatencyHistogram::decode("AAAAAAAAAAA="), Err(HistogramError::Format(_))));
        // Truncated at every length: never a panic, always an error.
        let bytes = base64::engine::general_purpose::STANDARD.decode(&good).unwrap();
        for n in 0..bytes.len() {
            let cut = base64::engine::general_purpose::STANDARD.encode(&bytes[..n]);
            assert!(LatencyHistogram::decode(&cut).is_err(), "prefix of {n} bytes decoded");
        }
        // Flipped bytes: errors or some histogram, never a panic.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            let _ = LatencyHistogram::decode(&base64::engine::general_purpose::STANDARD.encode(&b));
        }
        // Other bounds are refused rather than silently rescaled.
        let other: Histogram<u64> = Histogram::new_with_bounds(1, 60_000_000, 2).unwrap();
        let mut raw = Vec::new();
        V2DeflateSerializer::new().serialize(&other, &mut raw).unwrap();
        let text = base64::engine::general_purpose::STANDARD.encode(raw);
        assert!(matches!(LatencyHistogram::decode(&text), Err(HistogramError::Bounds { digits: 2, .. })));
    }

    #[test]
    fn rounding_reads_back_exactly() {
        for x in [0.0, 1.0 / 3.0, 19_999.871_5, 123_456.789_01, 1e9 / 7.0] {
            let r = round_to(x, 1000.0);
            let back: f64 = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
            assert_eq!(back.to_bits(), r.to_bits());
        }
        assert_eq!(round_to(f64::NAN, 1000.0), 0.0);
    }
}
