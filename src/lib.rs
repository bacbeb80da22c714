//! aftershock: put Apache Kafka clusters under load and under failure, and report how they held up.
//!
//! # Layout
//! Listed from the leaves up to the command line; each module imports only those above it in
//! this list (`tests/layering.rs` checks that no two modules or files import each other).
//! - [`vocab`]: the shared vocabulary: units and their parsing, numbers for people, metric and
//!   latency names, recovery figures, atomic file writes. A leaf.
//! - [`error`]: the library's error type, with a config kind (exit 2) and a runtime kind
//!   (exit 3). A leaf.
//! - [`stop`]: a run's cancellation tree and why it stopped. A leaf.
//! - [`cluster`]: a local cluster of real Apache Kafka processes (KRaft) that aftershock
//!   fetches, formats, starts, supervises and stops.
//! - [`scenario`]: scenario files, their validation (one file per section in
//!   `scenario/validate/`) and the validated model; reads no environment.
//! - [`plan`]: the pure plan of a run: producer ids, instances, phases, the fault timeline.
//! - [`measure`]: the run clock, per-worker recorders, the aggregator, histograms and the
//!   message ledger.
//! - [`load`]: open-loop producers and consumers with numbered payloads.
//! - [`report`]: the versioned report.json, its building from the measurements, its writer.
//! - [`chaos`]: the faults: one backend trait with the local and Kubernetes backends, the
//!   engine that fires them, their ledger, healing, and the recovery figures.
//! - [`gate`]: the checks of a scenario evaluated against a report, after and during a run, and
//!   the comparison of a run with a baseline.
//! - [`render`]: a report for people and CI: summary.md, index.html, plots and JUnit XML.
//! - [`smoke`]: a quick produce/consume check of a cluster.
//! - [`runner`]: `aftershock run`: connect, plan, start the load and the faults, drain,
//!   assemble the report.
//! - [`capacity`]: `aftershock capacity`, the search for the highest sustained rate.
//! - [`cli`]: the command line (clap), the [`Outcome`] of a command and its dispatch; the
//!   command bodies are in `cli/commands/` (those that read reports, `report`, `compare`,
//!   `bench memory` and the end of `run`, in `cli/commands/report.rs`).
//!
//! The binary is a thin shell around [`run`]: it parses the command line, calls [`run`], and
//! turns the [`Outcome`] into the process exit code.

// librdkafka allocates each fetched message on its broker thread and the consumer frees it on
// its own. glibc serialises such cross-thread frees on the allocating thread's arena lock: while
// a consumer read a backlog, a fifth of the process's CPU went to malloc, free and futex
// wake-ups. jemalloc returns them in batches, and with `unprefixed_malloc_on_supported_platforms`
// it serves librdkafka's malloc and free too. mimalloc was as fast but held on to memory (see
// docs/performance.md). Declared in the library, not in main.rs, so that the benchmarks and
// tests that run this code in their own process use the allocator users run.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod capacity;
pub mod chaos;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod gate;
pub mod load;
pub mod measure;
pub mod plan;
pub mod render;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod smoke;
pub mod stop;
pub mod vocab;

pub use cli::Outcome;
pub use error::{Error, Result};

/// Runs one parsed command line and reports errors on stderr.
pub async fn run(cli: cli::Cli) -> Outcome {
    match cli::dispatch(cli).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            match e.downcast_ref::<Error>() {
                Some(err) if err.is_config() => Outcome::BadConfig,
                _ => Outcome::RunFailed,
            }
        }
    }
}

/// The error and its causes on one line, skipping causes the message already quotes
/// (our error messages embed their source for readability).
fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
