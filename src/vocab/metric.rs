//! Metric names shared by the checks, the gate, the report and its renderings, and the recovery figures of a fault.
