//! librdkafka settings in a scenario: the `config` of producers and consumers and an existing
//! cluster's `client_config`. Each is checked against librdkafka's own property table in
//! memory (no client is created), and refused where aftershock sets it itself or where a
//! plain value would put a secret in the file (which is copied into reports).

use std::collections::BTreeMap;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

use crate::scenario::checker::Checker;
use crate::scenario::file::Scalar;
use crate::scenario::position::JsonPath;

/// librdkafka settings that have their own field, and that field's name.
pub(super) const PRODUCER_FIELDS: &[(&str, &str)] = &[
    ("acks", "acks"),
    ("request.required.acks", "acks"),
    ("enable.idempotence", "idempotence"),
    ("compression.type", "compression"),
    ("compression.codec", "compression"),
    ("linger.ms", "linger"),
    ("queue.buffering.max.ms", "linger"),
    ("batch.size", "batch_size"),
];

pub(super) const CONSUMER_FIELDS: &[(&str, &str)] = &[("group.id", "group"), ("auto.offset.reset", "start")];

pub(super) const BOOTSTRAP_KEYS: &[&str] = &["bootstrap.servers", "metadata.broker.list"];

/// True for librdkafka settings whose value is a secret: they must be references, so that
/// the file (which is copied into reports) never holds one.
pub(super) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k == "ssl.key.pem" || k == "sasl.oauthbearer.config"
}

/// Why `key` may not appear in an existing cluster's `client_config`, if it may not.
pub(super) fn reserved_client_key(key: &str) -> Option<String> {
    if BOOTSTRAP_KEYS.contains(&key) {
        return Some(format!("`{key}` is set from `bootstrap`"));
    }
    if let Some((_, field)) = PRODUCER_FIELDS.iter().find(|(k, _)| *k == key) {
        return Some(format!("`{key}` is set per producer with its `{field}` field"));
    }
    if let Some((_, field)) = CONSUMER_FIELDS.iter().find(|(k, _)| *k == key) {
        return Some(format!("`{key}` is set per consumer with its `{field}` field"));
    }
    if key == "transactional.id" {
        return Some("aftershock's producers are not transactional; `transactional.id` is not supported".into());
    }
    None
}

/// Checks a librdkafka setting against librdkafka's property table, in memory. With no value
/// (a secret reference), only the name is checked.
pub(super) fn librdkafka_check(key: &str, value: Option<&str>) -> Result<(), String> {
    let mut conf = rdkafka::ClientConfig::new();
    conf.set(key, value.unwrap_or(""));
    match conf.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(res, _, _, _))
            if value.is_none() && res != RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN =>
        {
            Ok(())
        }
        Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, _, _, _)) => {
            Err(format!("librdkafka has no setting `{key}`"))
        }
        Err(KafkaError::ClientConfig(_, desc, _, _)) => Err(format!("librdkafka refuses it: {desc}")),
        Err(e) => Err(format!("librdkafka refuses it: {e}")),
    }
}

impl Checker<'_> {
    /// Passes-through librdkafka settings of a producer or consumer.
    pub(super) fn client_settings(
        &mut self,
        config: Option<&BTreeMap<String, Scalar>>,
        at: &JsonPath,
        fields: &[(&str, &str)],
        kind: &str,
    ) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in config.into_iter().flatten() {
            let path = at.key(k.clone());
            let problem = if let Some((_, field)) = fields.iter().find(|(key, _)| key == k) {
                Some(format!("`{k}` has its own field: set `{field}` instead"))
            } else if BOOTSTRAP_KEYS.contains(&k.as_str()) {
                Some(format!("`{k}` comes from `cluster` and cannot be set per {kind}"))
            } else if k == "transactional.id" {
                Some("aftershock's producers are not transactional; `transactional.id` is not supported".to_string())
            } else if is_secret_key(k) {
                Some(format!(
                    "`{k}` is a secret: set it in cluster.existing.client_config as {{\"env\": ...}} or {{\"file\": ...}}, never as plain text"
                ))
            } else {
                librdkafka_check(k, Some(&v.0)).err()
            };
            match problem {
                Some(m) => {
                    self.err_key(path, m);
                    ok = false;
                }
                None => {
                    out.insert(k.clone(), v.0.clone());
                }
            }
        }
        ok.then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_settings_are_checked_locally() {
        assert_eq!(librdkafka_check("linger.ms", Some("5")), Ok(()));
        assert_eq!(librdkafka_check("security.protocol", Some("SASL_SSL")), Ok(()));
        assert_eq!(librdkafka_check("ssl.ca.location", Some("/nonexistent/ca.pem")), Ok(()));
        assert_eq!(librdkafka_check("sasl.password", None), Ok(()));
        assert!(librdkafka_check("lingerr.ms", Some("5")).unwrap_err().contains("no setting `lingerr.ms`"));
        assert!(librdkafka_check("nope", None).unwrap_err().contains("no setting"));
        assert!(librdkafka_check("linger.ms", Some("soon")).unwrap_err().contains("refuses"));
        assert!(librdkafka_check("security.protocol", Some("carrier-pigeon")).is_err());
        assert!(librdkafka_check("a\0b", Some("x")).is_err());
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("sasl.password"));
        assert!(is_secret_key("ssl.key.password"));
        assert!(is_secret_key("sasl.oauthbearer.client.secret"));
        assert!(is_secret_key("ssl.key.pem"));
        assert!(!is_secret_key("sasl.username"));
        assert!(!is_secret_key("ssl.ca.location"));
    }
}
