//! `producers`: each producer's topic, rate, ramp, message sizes, keys, acks, idempotence,
//! compression, batching and librdkafka settings.

use std::collections::BTreeMap;
use std::time::Duration;

use super::settings::PRODUCER_FIELDS;
use crate::scenario::checker::{Checker, fmt_duration};
use crate::scenario::defaults;
use crate::scenario::file::{AcksText, DurationText, NumOrText, RateText, RawKeys, RawProducer, RawSize, RawSizeDist};
use crate::scenario::model::{Acks, KeyDist, ProducerSpec, SizeDist};
use crate::scenario::position::JsonPath;
use crate::vocab::units::{Rate, format_size, parse_rate, rate_from_number};

const COMPRESSIONS: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

impl Checker<'_> {
    pub(super) fn producer(&mut self, p: &RawProducer, at: &JsonPath, rate_optional: bool) -> Option<ProducerSpec> {
        let name = self.name("producer", p.name.as_deref(), at.key("name"));
        let topic = self.topic_ref(p.topic.as_deref(), at.key("topic"), "producer");
        let instances = self.count(p.instances, at.key("instances"), "instances", defaults::MAX_INSTANCES, 1);
        let rate = match &p.rate {
            // A weight of 1: the capacity search splits each target in proportion to rates.
            None if rate_optional => Some(Rate::PerSec(1.0)),
            None => {
                self.missing(
                    at.key("rate"),
                    "the target rate in messages per second across the instances, like 1000, \"10k\" or \"max\"",
                );
                None
            }
            Some(r) => self.rate(r, at.key("rate")),
        };
        let ramp = match &p.ramp {
            None => self.or_default(&at.key("ramp"), Duration::ZERO),
            Some(d) => self.duration(d, at.key("ramp")),
        };
        if let (Some(Rate::Max), Some(r)) = (rate, ramp)
            && !r.is_zero()
        {
            self.err(at.key("ramp"), "a ramp needs a numeric rate: with \"max\" there is no target to ramp to");
        }
        let message_size = match &p.message_size {
            None => self.or_default(&at.key("message_size"), SizeDist::Fixed(defaults::MESSAGE_SIZE)),
            Some(s) => self.message_size(s, &at.key("message_size")),
        };
        let keys = match &p.keys {
            None => self.or_default(&at.key("keys"), KeyDist::None),
            Some(k) => self.keys(k, &at.key("keys")),
        };
        let acks = match &p.acks {
            None => self.or_default(&at.key("acks"), Acks::All),
            Some(a) => self.acks(a, at.key("acks")),
        };
        // Idempotence is librdkafka's default and needs acks=all; defaulting it to follow acks
        // means `"acks": "1"` alone is valid, while an explicit contradiction is reported.
        let idempotence = match (p.idempotence, acks) {
            (Some(true), Some(a)) if a != Acks::All => {
                self.err(
                    at.key("idempotence"),
                    format!("idempotence needs acks \"all\", but acks is \"{a}\": set acks to \"all\" or idempotence to false"),
                );
                None
            }
            (Some(v), _) => Some(v),
            (None, a) => self.or_default(&at.key("idempotence"), a == Some(Acks::All)),
        };
        let compression = match p.compression.as_deref() {
            None => self.or_default(&at.key("compression"), defaults::COMPRESSION.to_string()),
            Some(c) if COMPRESSIONS.contains(&c) => Some(c.to_string()),
            Some(c) => {
                self.err(
                    at.key("compression"),
                    format!("unknown compression {c:?}; expected one of {}", COMPRESSIONS.join(", ")),
                );
                None
            }
        };
        let linger = self.linger(p.linger.as_ref(), at);
        let batch_size = match &p.batch_size {
            None => self.or_default(&at.key("batch_size"), defaults::BATCH_SIZE),
            Some(s) => self.size_in(s, at.key("batch_size"), "batch_size", 1, i32::MAX as u64),
        };
        let config = self.client_settings(p.config.as_ref(), &at.key("config"), PRODUCER_FIELDS, "producer");
        if let Some(cfg) = &config {
            self.producer_limits(cfg, at, idempotence, message_size);
        }
        Some(ProducerSpec {
            name: name?,
            topic: topic?,
            instances: u32::try_from(instances?).ok()?,
            rate: rate?,
            ramp: ramp?,
            message_size: message_size?,
            keys: keys?,
            acks: acks?,
            idempotence: idempotence?,
            compression: compression?,
            linger: linger?,
            batch_size: batch_size?,
            config: config?,
        })
    }

    /// Settings in `config` that must agree with the producer's own fields.
    fn producer_limits(
        &mut self,
        cfg: &BTreeMap<String, String>,
        at: &JsonPath,
        idempotence: Option<bool>,
        message_size: Option<SizeDist>,
    ) {
        if let Some(v) = cfg.get("max.in.flight.requests.per.connection")
            && idempotence == Some(true)
            && v.trim().parse::<u32>().is_ok_and(|n| n > 5)
        {
            self.err(
                at.key("config").key("max.in.flight.requests.per.connection"),
                format!("{v} is above 5, which idempotence allows at most; lower it or set idempotence to false"),
            );
        }
        if let Some(size) = message_size {
            let limit = cfg
                .get("message.max.bytes")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(defaults::LIBRDKAFKA_MESSAGE_MAX_BYTES);
            if size.max() as u64 > limit {
                self.err(
                    at.key("message_size"),
                    format!(
                        "the largest message ({}) is above librdkafka's message.max.bytes ({limit}): raise config[\"message.max.bytes\"] (and the topic's max.message.bytes)",
                        format_size(size.max() as u64)
                    ),
                );
            }
        }
    }

    /// `linger`, within librdkafka's limit.
    fn linger(&mut self, linger: Option<&DurationText>, at: &JsonPath) -> Option<Duration> {
        match linger {
            None => self.or_default(&at.key("linger"), defaults::LINGER),
            Some(d) => self.duration(d, at.key("linger")).and_then(|l| {
                if l > defaults::MAX_LINGER {
                    self.err(
                        at.key("linger"),
                        format!("linger {} is above librdkafka's limit of 900s", fmt_duration(l)),
                    );
                    None
                } else {
                    Some(l)
                }
            }),
        }
    }

    fn rate(&mut self, r: &RateText, path: JsonPath) -> Option<Rate> {
        let parsed = match &r.0 {
            NumOrText::Text(t) => parse_rate(t),
            NumOrText::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a rate")).and_then(rate_from_number),
        };
        parsed.map_err(|e| self.err(path, e)).ok()
    }

    fn acks(&mut self, a: &AcksText, path: JsonPath) -> Option<Acks> {
        let text = match &a.0 {
            NumOrText::Text(t) => t.trim().to_ascii_lowercase(),
            NumOrText::Number(n) => n.to_string(),
        };
        match text.as_str() {
            "all" | "-1" => Some(Acks::All),
            "1" => Some(Acks::Leader),
            "0" => Some(Acks::None),
            _ => {
                self.err(path, format!("acks must be \"all\" (or -1), \"1\" or \"0\", got {text}"));
                None
            }
        }
    }

    fn message_size(&mut self, s: &RawSize, at: &JsonPath) -> Option<SizeDist> {
        const WHAT: &str = "message size";
        let (lo, hi) = (defaults::MIN_MESSAGE_SIZE as u64, defaults::MAX_MESSAGE_SIZE as u64);
        match s {
            RawSize::Fixed(v) => self.size_in(v, at.clone(), WHAT, lo, hi).map(SizeDist::Fixed),
            RawSize::Dist(RawSizeDist::Uniform(u)) => {
                let at = at.key("uniform");
                let min = self.required(u.min.as_ref(), at.key("min"), "the smallest size, like \"100B\"");
                let max = self.required(u.max.as_ref(), at.key("max"), "the largest size, like \"4KiB\"");
                let min = min.and_then(|v| self.size_in(v, at.key("min"), WHAT, lo, hi));
                let max = max.and_then(|v| self.size_in(v, at.key("max"), WHAT, lo, hi));
                let (min, max) = (min?, max?);
                if min > max {
                    self.err(
                        at.key("min"),
                        format!("min {} is above max {}", format_size(min as u64), format_size(max as u64)),
                    );
                    return None;
                }
                Some(SizeDist::Uniform { min, max })
            }
            RawSize::Dist(RawSizeDist::Normal(n)) => {
                let at = at.key("normal");
                let mean = self.required(n.mean.as_ref(), at.key("mean"), "the mean size, like \"1KiB\"");
                let stddev =
                    self.required(n.stddev.as_ref(), at.key("stddev"), "the standard deviation, like \"256B\"");
                let mean = mean.and_then(|v| self.size_in(v, at.key("mean"), WHAT, lo, hi));
                let stddev = stddev.and_then(|v| self.size(v, at.key("stddev")));
                let (mean, stddev) = (mean?, usize::try_from(stddev?).ok()?);
                // Four standard deviations each side keep the clamp out of the way of the shape.
                let min = match &n.min {
                    Some(v) => self.size_in(v, at.key("min"), WHAT, lo, hi),
                    None => {
                        self.or_default(&at.key("min"), mean.saturating_sub(stddev.saturating_mul(4)).max(lo as usize))
                    }
                };
                let max = match &n.max {
                    Some(v) => self.size_in(v, at.key("max"), WHAT, lo, hi),
                    None => {
                        self.or_default(&at.key("max"), mean.saturating_add(stddev.saturating_mul(4)).min(hi as usize))
                    }
                };
                // The defaults for min and max always surround the mean, so a violation below
                // names a bound the file sets.
                let (min, max) = (min?, max?);
                if min > mean {
                    self.err(
                        at.key("min"),
                        format!("min {} is above the mean {}", format_size(min as u64), format_size(mean as u64)),
                    );
                    return None;
                }
                if max < mean {
                    self.err(
                        at.key("max"),
                        format!("max {} is below the mean {}", format_size(max as u64), format_size(mean as u64)),
                    );
                    return None;
                }
                Some(SizeDist::Normal { mean, stddev, min, max })
            }
        }
    }

    fn keys(&mut self, k: &RawKeys, at: &JsonPath) -> Option<KeyDist> {
        let count = |c: &mut Checker, v: Option<i64>, at: JsonPath| match v {
            None => {
                c.missing(at, "the number of distinct keys, like 1000");
                None
            }
            Some(n) if n < 1 => {
                c.err(at, format!("count must be 1 or more, got {n}"));
                None
            }
            Some(n) => Some(n as u64),
        };
        match k {
            RawKeys::None => Some(KeyDist::None),
            RawKeys::RoundRobin(r) => {
                count(self, r.count, at.key("round_robin").key("count")).map(|keys| KeyDist::RoundRobin { keys })
            }
            RawKeys::Uniform(r) => {
                count(self, r.count, at.key("uniform").key("count")).map(|keys| KeyDist::Uniform { keys })
            }
            RawKeys::Zipf(z) => {
                let keys = count(self, z.count, at.key("zipf").key("count"));
                let exponent = match z.exponent {
                    Some(e) => e,
                    None => self.or_default(&at.key("zipf").key("exponent"), defaults::ZIPF_EXPONENT)?,
                };
                if !(exponent.is_finite() && exponent > 0.0) {
                    self.err(at.key("zipf").key("exponent"), format!("exponent must be above 0, got {exponent}"));
                    return None;
                }
                Some(KeyDist::Zipf { keys: keys?, exponent })
            }
        }
    }
}
