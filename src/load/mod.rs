//! Load generation: the open-loop schedule, numbered payloads, and the producer and consumer
//! instances that drive a cluster and feed the measurement layer; [`settings`] reads back the
//! librdkafka settings each client runs with.

pub mod ack_stamp;
pub mod consumer;
pub mod payload;
pub mod producer;
pub mod schedule;
pub mod settings;
