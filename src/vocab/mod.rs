//! The shared vocabulary every layer speaks: units and their parsing, numbers for people, metric
//! and latency names, recovery figures, and writing a file atomically. A leaf: it imports no
//! other module of the crate.

pub mod format;
pub mod fs;
pub mod latency;
pub mod metric;
pub mod units;
