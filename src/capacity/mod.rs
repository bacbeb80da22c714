//! `aftershock capacity`: the capacity-planning mode. Finds the highest rate the cluster
//! sustains under the scenario's `sustain` criteria, stepping the rate as OpenMessaging
//! Benchmark does, optionally with one node down for the whole search.

pub mod search;
