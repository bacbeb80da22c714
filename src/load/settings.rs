//! The librdkafka settings a client really runs with, read back from the client itself for
//! the report: latency depends on them (at 100 msg/s, a 5 ms `linger.ms` against 0 ms moved
//! the end-to-end p50 from 3.0 to 7.9 ms), so a report without them cannot be compared.
//!
//! # Why from the client, not from the settings given
//! librdkafka adjusts settings when it creates a client: `enable.idempotence` caps
//! `max.in.flight` at 5 and makes `retries` unlimited, `acks` becomes `all`, a `linger.ms`
//! above `message.timeout.ms` is lowered. Its view of a live client (`rd_kafka_conf`) has
//! them as they are in force, and librdkafka's own default for everything nobody set, so no
//! default is written down here.
//!
//! # What is recorded
//! Every setting given to the client (by the cluster's client settings, aftershock or the
//! scenario), under its usual name (`linger.ms`, not its alias `queue.buffering.max.ms`),
//! plus the settings that shape latency and batching for the client's [`Role`], set or not.
//! Secrets never leave this module: [`is_secret`] values are [`REDACTED`].

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char};

use rdkafka::ClientContext;
use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::config::ClientConfig;

/// What a secret's value is replaced with in the report.
pub const REDACTED: &str = "<redacted>";

/// Which kind of client, for the settings recorded whether set or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Consumer,
}

/// The producer settings recorded whether set or not: batching and lingering, durability,
/// compression, retries and the local queue.
const PRODUCER_KEYS: &[&str] = &[
    "linger.ms",
    "batch.size",
    "batch.num.messages",
    "acks",
    "enable.idempotence",
    "compression.type",
    "compression.level",
    "max.in.flight",
    "message.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "message.max.bytes",
    "partitioner",
    "sticky.partitioning.linger.ms",
    "socket.nagle.disable",
];

/// The consumer settings recorded whether set or not: fetching, prefetching, offsets and
/// group membership.
const CONSUMER_KEYS: &[&str] = &[
    "fetch.min.bytes",
    "fetch.wait.max.ms",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.queue.backoff.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "auto.offset.reset",
    "isolation.level",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "group.protocol",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "check.crcs",
    "socket.nagle.disable",
];

/// librdkafka's aliases and the name a setting is recorded under (the usual one, as in
/// Kafka's Java client where librdkafka has it), so that a setting given under an alias is
/// one entry, not two.
const ALIASES: &[(&str, &str)] = &[
    ("queue.buffering.max.ms", "linger.ms"),
    ("request.required.acks", "acks"),
    ("compression.codec", "compression.type"),
    ("max.in.flight.requests.per.connection", "max.in.flight"),
    ("delivery.timeout.ms", "message.timeout.ms"),
    ("message.send.max.retries", "retries"),
    ("metadata.broker.list", "bootstrap.servers"),
    ("fetch.message.max.bytes", "max.partition.fetch.bytes"),
    ("auto.commit.enable", "enable.auto.commit"),
    ("sasl.mechanisms", "sasl.mechanism"),
    ("sasl.oauthbearer.client.credentials.client.id", "sasl.oauthbearer.client.id"),
    ("sasl.oauthbearer.client.credentials.client.secret", "sasl.oauthbearer.client.secret"),
];

/// The settings librdkafka itself flags as sensitive (`_RK_SENSITIVE` in `rdkafka_conf.c`;
/// a unit test keeps this list complete against the vendored source).
const SENSITIVE: &[&str] = &[
    "ssl.key.location",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.ca.pem",
    "ssl.keystore.password",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.assertion.private.key.file",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
];

/// Parts of a name that mark a secret whatever librdkafka flags (a later librdkafka, a
/// plugin's setting): better a harmless value hidden than a password in a CI artifact.
const SECRET_WORDS: &[&str] = &["password", "secret", "passphrase", "private.key", "key.pem", "credential", "token"];

impl Role {
    /// The settings recorded for every client of this role, set or not.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Role::Producer => PRODUCER_KEYS,
            Role::Consumer => CONSUMER_KEYS,
        }
    }
}

/// A client's settings as in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// Each setting's value as librdkafka prints it (`linger.ms` `5`, `acks` `-1`), by its
    /// usual name; secrets are [`REDACTED`].
    pub values: BTreeMap<String, String>,
    /// The settings of `values` that nobody set, in name order: librdkafka's defaults, or
    /// what another setting made of them (`max.in.flight` 5 under idempotence).
    pub defaults: Vec<String>,
}

/// True when the setting `key` holds a secret (a password, a private key, a token, a
/// credential), by librdkafka's flags and by its name.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE.contains(&canonical(&key)) || SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// The name `key` is recorded under: the usual name of an alias, else `key`.
pub fn canonical(key: &str) -> &str {
    ALIASES.iter().find(|(alias, _)| *alias == key).map_or(key, |(_, name)| name)
}

/// The settings `client` runs with: every one `config` (what it was created from) sets and
/// every one of [`Role::keys`], as librdkafka has them in force (see the module docs).
/// A setting librdkafka does not know is left out.
pub fn of_client<C: ClientContext>(client: &Client<C>, config: &ClientConfig, role: Role) -> Effective {
    let conf = LiveConf::of(client);
    collect(config, role, |key| conf.get(key))
}

/// [`of_client`] on any lookup of a setting's value by name.
fn collect(config: &ClientConfig, role: Role, get: impl Fn(&str) -> Option<String>) -> Effective {
    let set: Vec<&str> = config.config_map().into_keys().map(canonical).collect();
    let mut out = Effective::default();
    for key in set.iter().copied().chain(role.keys().iter().copied()) {
        if out.values.contains_key(key) {
            continue;
        }
        // NB: the value is read even for a secret, so that a setting librdkafka does not know
        // is left out the same way; it is dropped at once.
        let Some(value) = get(key) else { continue };
        let value = if is_secret(key) { REDACTED.to_string() } else { value };
        out.values.insert(key.to_string(), value);
        if !set.contains(&key) {
            out.defaults.push(key.to_string());
        }
    }
    out.defaults.sort();
    out
}

/// A live client's configuration, as librdkafka finalized it when it created the client,
/// and its default topic configuration (where topic-level settings like `acks` live).
struct LiveConf<'a> {
    conf: *const rd::rd_kafka_conf_t,
    topic: TopicConf,
    /// The client the configuration belongs to: it must outlive the reads.
    _client: std::marker::PhantomData<&'a ()>,
}

/// A copy of a client's default topic configuration, destroyed on drop.
struct TopicConf(*mut rd::rd_kafka_topic_conf_t);

impl Drop for TopicConf {
    fn drop(&mut self) {
        if !self.0.is_null() {
            #[allow(unsafe_code)]
            // SAFETY: the pointer came from `rd_kafka_default_topic_conf_dup`, which hands over
            // ownership, and is destroyed exactly once, here.
            unsafe {
                rd::rd_kafka_topic_conf_destroy(self.0)
            };
        }
    }
}

impl<'a> LiveConf<'a> {
    fn of<C: ClientContext>(client: &'a Client<C>) -> LiveConf<'a> {
        let rk = client.native_ptr();
        #[allow(unsafe_code)]
        // SAFETY: `rk` is the live client `client` owns, borrowed for `'a`. `rd_kafka_conf`
        // returns the client's own configuration, which librdkafka no longer changes once the
        // client exists; `rd_kafka_default_topic_conf_dup` returns a new copy we own.
        let (conf, topic) = unsafe { (rd::rd_kafka_conf(rk), rd::rd_kafka_default_topic_conf_dup(rk)) };
        LiveConf { conf, topic: TopicConf(topic), _client: std::marker::PhantomData }
    }

    /// The value of `key`, from the client's settings or else its topic settings; `None`
    /// when librdkafka knows no such setting.
    #[allow(unsafe_code)]
    fn get(&self, key: &str) -> Option<String> {
        let name = CString::new(key).ok()?;
        // SAFETY: `conf` is the live client's configuration (see `of`); `name` is a C string;
        // `dest` is null or a buffer of `*size` bytes, as librdkafka expects.
        let global = read_value(|dest, size| unsafe { rd::rd_kafka_conf_get(self.conf, name.as_ptr(), dest, size) });
        global.or_else(|| {
            if self.topic.0.is_null() {
                return None;
            }
            // SAFETY: as above, on the topic configuration copy this struct owns.
            read_value(|dest, size| unsafe { rd::rd_kafka_topic_conf_get(self.topic.0, name.as_ptr(), dest, size) })
        })
    }
}

/// Runs librdkafka's two-step read of a setting: once for the size, once into a buffer.
fn read_value(get: impl Fn(*mut c_char, *mut usize) -> rd::rd_kafka_conf_res_t) -> Option<String> {
    let ok = rd::rd_kafka_conf_res_t::RD_KAFKA_CONF_OK;
    let mut size = 0usize;
    if get(std::ptr::null_mut(), &raw mut size) != ok || size == 0 {
        return None;
    }
    let mut buf = vec![0u8; size];
    if get(buf.as_mut_ptr().cast::<c_char>(), &raw mut size) != ok {
        return None;
    }
    CStr::from_bytes_until_nul(&buf).ok().map(|s| s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseProducer, Producer};

    use super::*;

    /// Clients built without any cluster: librdkafka creates them all the same (and would
    /// only try to connect to the brokers it was given, none here).
    fn config(pairs: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("log_level", "0");
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    fn producer(pairs: &[(&str, &str)]) -> Effective {
        let c = config(pairs);
        let p: BaseProducer = c.create().unwrap();
        of_client(p.client(), &c, Role::Producer)
    }

    fn consumer(pairs: &[(&str, &str)]) -> Effective {
        let c = config(pairs);
        let p: BaseConsumer = c.create().unwrap();
        of_client(p.client(), &c, Role::Consumer)
    }

    #[test]
    fn a_producer_records_what_was_set_and_librdkafkas_defaults() {
        let e = producer(&[("linger.ms", "0"), ("compression.type", "lz4"), ("acks", "1")]);
        assert_eq!(e.values["linger.ms"], "0");
        assert_eq!(e.values["compression.type"], "lz4");
        assert_eq!(e.values["acks"], "1");
        for key in PRODUCER_KEYS {
            assert!(e.values.contains_key(*key), "{key} is not recorded: {:?}", e.values);
        }
        // Nobody set these: librdkafka says what they are.
        assert_eq!(e.values["batch.size"], "1000000");
        assert_eq!(e.values["enable.idempotence"], "false");
        assert!(e.defaults.contains(&"batch.size".to_string()));
        assert!(!e.defaults.contains(&"linger.ms".to_string()));
        assert!(!e.values.contains_key("fetch.wait.max.ms"), "consumer settings stay out of a producer's");
        assert!(e.defaults.windows(2).all(|w| w[0] < w[1]), "sorted: {:?}", e.defaults);
    }

    #[test]
    fn values_are_those_in_force_after_librdkafka_adjusted_them() {
        // Idempotence makes librdkafka cap the requests in flight and retry for ever: the
        // settings as given say 1000000 and 2147483647 only once the client exists.
        let e = producer(&[("enable.idempotence", "true")]);
        assert_eq!(e.values["enable.idempotence"], "true");
        assert_eq!(e.values["max.in.flight"], "5");
        assert_eq!(e.values["retries"], "2147483647");
        assert_eq!(e.values["acks"], "-1");
        assert!(e.defaults.contains(&"max.in.flight".to_string()));
    }

    #[test]
    fn aliases_are_recorded_under_the_usual_name_once() {
        let e = producer(&[("queue.buffering.max.ms", "20"), ("request.required.acks", "all")]);
        assert_eq!(e.values["linger.ms"], "20");
        assert_eq!(e.values["acks"], "-1");
        assert!(!e.values.contains_key("queue.buffering.max.ms"));
        assert!(!e.values.contains_key("request.required.acks"));
        assert!(!e.defaults.contains(&"linger.ms".to_string()), "set, under its alias");
    }

    #[test]
    fn a_consumer_records_its_fetch_settings() {
        let e = consumer(&[("group.id", "g"), ("auto.offset.reset", "earliest"), ("fetch.wait.max.ms", "100")]);
        assert_eq!(e.values["fetch.wait.max.ms"], "100");
        assert_eq!(e.values["auto.offset.reset"], "smallest", "librdkafka's own word for earliest");
        assert_eq!(e.values["group.id"], "g");
        for key in CONSUMER_KEYS {
            assert!(e.values.contains_key(*key), "{key} is not recorded: {:?}", e.values);
        }
        assert_eq!(e.values["fetch.min.bytes"], "1");
        assert!(e.defaults.contains(&"fetch.min.bytes".to_string()));
        assert!(!e.values.contains_key("linger.ms"));
    }

    #[test]
    fn secrets_are_redacted() {
        let e = producer(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "k3y"),
        ]);
        assert_eq!(e.values["sasl.password"], REDACTED);
        assert_eq!(e.values["ssl.key.password"], REDACTED);
        assert_eq!(e.values["sasl.username"], REDACTED, "librdkafka flags it sensitive");
        assert_eq!(e.values["security.protocol"], "sasl_plaintext");
        assert_eq!(e.values["sasl.mechanism"], "PLAIN");
        let all = format!("{e:?}");
        for secret in ["hunter2", "k3y", "alice"] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
    }

    #[test]
    fn secret_names() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.client.credentials.client.secret",
            "ssl.key.pem",
            "ssl_key",
            "sasl.oauthbearer.config",
            "SASL.PASSWORD",
            "plugin.api.token",
        ] {
            assert!(is_secret(key), "{key}");
        }
        for key in ["linger.ms", "sasl.mechanism", "security.protocol", "ssl.certificate.location", "bootstrap.servers"]
        {
            assert!(!is_secret(key), "{key}");
        }
    }

    /// Every setting librdkafka flags `_RK_SENSITIVE` in the vendored source is a secret here.
    #[test]
    fn every_setting_librdkafka_flags_sensitive_is_a_secret() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/rdkafka-sys/librdkafka/src/rdkafka_conf.c");
        let source = std::fs::read_to_string(&path).unwrap();
        let flagged: Vec<&str> = source
            .split("_RK_SENSITIVE")
            .skip(1)
            .filter_map(|rest| {
                // The property's name is the next string literal, unless the flag is being tested.
                let rest = rest.trim_start();
                let rest = rest.strip_prefix(',')?.trim_start();
                let rest = rest.strip_prefix('"')?;
                rest.split('"').next()
            })
            .collect();
        assert!(flagged.len() >= 10, "the source's format changed: {flagged:?}");
        for key in flagged {
            assert!(is_secret(key), "librdkafka flags {key} sensitive");
        }
    }

    #[test]
    fn names_recorded_are_the_usual_ones() {
        assert_eq!(canonical("queue.buffering.max.ms"), "linger.ms");
        assert_eq!(canonical("linger.ms"), "linger.ms");
        for (_, name) in ALIASES {
            assert_eq!(canonical(name), *name, "{name} is itself an alias");
        }
        for key in PRODUCER_KEYS.iter().chain(CONSUMER_KEYS) {
            assert_eq!(canonical(key), *key, "{key} is listed under an alias");
        }
    }
}
