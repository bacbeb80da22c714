//! The clients of a run as report.json records them: each producer's and consumer's
//! librdkafka settings as they were in force, so that a run says what latency it was measured
//! with (linger, batching, acks, fetch waits) and two runs can be told apart by them.
//!
//! The settings are read back from a live client (see
//! [`load::settings`](crate::load::settings)), so they include librdkafka's defaults and its
//! own adjustments; secrets are `<redacted>`. Reports of schema version 1 have no clients:
//! they read as an empty [`Clients`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The producers and consumers of a run, in scenario order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    pub producers: Vec<ClientSettings>,
    pub consumers: Vec<ClientSettings>,
}

/// One producer's or consumer's settings (its instances share them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The producer's or consumer's name in the scenario.
    pub name: String,
    /// Each librdkafka setting by its usual name (`linger.ms`, `acks`), with its value as
    /// librdkafka prints it (`acks` all is `-1`); secrets `<redacted>`.
    pub settings: BTreeMap<String, String>,
    /// The settings that neither the scenario nor aftershock set: librdkafka's defaults, or
    /// what librdkafka made of them (`max.in.flight` 5 under `enable.idempotence`).
    pub defaults: Vec<String>,
}

/// A setting a summary shows: its name, its column heading, and whether it is a number
/// (right-aligned).
pub type SummaryColumn = (&'static str, &'static str, bool);

/// The settings a summary shows for a producer.
pub const PRODUCER_SUMMARY: [SummaryColumn; 7] = [
    ("linger.ms", "linger", true),
    ("batch.size", "batch size", true),
    ("batch.num.messages", "batch messages", true),
    ("acks", "acks", false),
    ("enable.idempotence", "idempotence", false),
    ("compression.type", "compression", false),
    ("max.in.flight", "in flight", true),
];

/// The settings a summary shows for a consumer.
pub const CONSUMER_SUMMARY: [SummaryColumn; 6] = [
    ("fetch.min.bytes", "fetch min bytes", true),
    ("fetch.wait.max.ms", "fetch wait max", true),
    ("fetch.max.bytes", "fetch max bytes", true),
    ("max.partition.fetch.bytes", "partition fetch max bytes", true),
    ("auto.offset.reset", "offset reset", false),
    ("isolation.level", "isolation", false),
];

impl Clients {
    /// True for a report that does not say (schema version 1).
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty() && self.consumers.is_empty()
    }
}

impl ClientSettings {
    /// The value of `key`, when recorded.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// `key`'s value for people: units on times, librdkafka's words made plain (`acks` `-1`
    /// is `all`, `auto.offset.reset` `smallest` is `earliest`); `-` when not recorded.
    pub fn display(&self, key: &str) -> String {
        let Some(v) = self.get(key) else { return "-".into() };
        match (key, v) {
            ("acks", "-1") => "all".into(),
            ("auto.offset.reset", "smallest" | "beginning") => "earliest".into(),
            ("auto.offset.reset", "largest" | "end") => "latest".into(),
            (k, v) if k.ends_with(".ms") => format!("{v} ms"),
            (_, v) => v.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_plainly() {
        let c = ClientSettings {
            name: "p".into(),
            settings: [
                ("acks", "-1"),
                ("linger.ms", "0.5"),
                ("auto.offset.reset", "smallest"),
                ("batch.size", "16384"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
            defaults: vec![],
        };
        assert_eq!(c.display("acks"), "all");
        assert_eq!(c.display("linger.ms"), "0.5 ms");
        assert_eq!(c.display("auto.offset.reset"), "earliest");
        assert_eq!(c.display("batch.size"), "16384");
        assert_eq!(c.display("fetch.min.bytes"), "-");
        assert!(Clients::default().is_empty());
    }
}
