//! aftershock: put Apache Kafka clusters under load and under failure, and report how they held up.
//!
//! # Layout
//! - [`capacity`]: `aftershock capacity`, the search for the highest sustained rate.
//! - [`cli`]: the command line (clap) and the dispatch of each subcommand.
//! - [`cluster`]: a local cluster of real Apache Kafka processes (KRaft) that aftershock
//!   fetches, formats, starts, supervises and stops.
//! - [`error`]: the library's error type.
//! - [`gate`]: the checks of a scenario evaluated against a report, after and during a run, and
//!   the comparison of a run with a baseline.
//! - [`scenario`]: scenario files, their validation and the validated model.
//! - [`load`]: open-loop producers and consumers with numbered payloads.
//! - [`measure`]: histograms, per-second counters and the message ledger.
//! - [`render`]: a report for people and CI: summary.md, index.html, plots and JUnit XML.
//! - [`report`]: the versioned report.json, its building from the measurements, its writer.
//! - [`smoke`]: a quick produce/consume check of a cluster.
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

pub use error::{Error, Result};

/// What a command ended with; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for worked and every check passed (exit 0).
    Ok,
    /// The run worked but a check failed (exit 1).
    ChecksFailed,
    /// Bad usage, configuration or a missing prerequisite (exit 2).
    BadConfig,
    /// The run itself failed (exit 3).
    RunFailed,
}

impl Outcome {
    /// The process exit code of this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::ChecksFailed => 1,
            Outcome::BadConfig => 2,
            Outcome::RunFailed => 3,
        }
    }
}

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
