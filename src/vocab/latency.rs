//! The latencies aftershock measures, named once for the recorders, the report, the checks and the gate.
