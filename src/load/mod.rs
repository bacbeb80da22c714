//! Load generation: the open-loop schedule, numbered payloads, and the producer and consumer
//! instances that drive a cluster and feed the measurement layer.

pub mod ack_stamp;
pub mod consumer;
pub mod payload;
pub mod producer;
pub mod schedule;
