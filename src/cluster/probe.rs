//! Asks a running cluster what it looks like, through rdkafka metadata.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::error::{Error, Result};

/// The ids of the brokers the cluster's metadata lists as registered, sorted.
///
/// # Errors
/// [`Error::Kafka`] when no broker answered within `timeout`.
pub fn registered_brokers(bootstrap: &str, timeout: Duration) -> Result<Vec<i32>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Probing a half-started cluster is expected to hit refused connections: keep
        // librdkafka from logging each one.
        .set("log_level", "0")
        .set("socket.connection.setup.timeout.ms", "2000")
        .create()
        .map_err(Error::kafka("creating a metadata client"))?;
    let md =
        consumer.fetch_metadata(None, timeout).map_err(Error::kafka(format!("fetching metadata from {bootstrap}")))?;
    let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}
