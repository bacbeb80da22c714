//! Faults: the schedule from the scenario, Kafka-aware target resolution, the backends that
//! inject and undo faults (local processes and network namespaces), the fault ledger that
//! makes `heal` possible after a crash, and the recovery figures of each fault.

pub mod spec;
pub mod engine;
pub mod ledger;
pub mod local;
pub mod observe;
pub mod recovery;
