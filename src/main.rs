//! The `aftershock` binary: build the runtime, parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

// librdkafka allocates each fetched message on its broker thread and the consumer frees it on
// its own. glibc serialises such cross-thread frees on the allocating thread's arena lock: while
// a consumer read a backlog, a fifth of the process's CPU went to malloc, free and futex
// wake-ups. jemalloc returns them in batches, and with `unprefixed_malloc_on_supported_platforms`
// it serves librdkafka's malloc and free too. mimalloc was as fast but held on to memory (see
// docs/performance.md).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = aftershock::cli::Cli::parse();
    aftershock::cli::init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(aftershock::Outcome::RunFailed.code());
        }
    };
    let outcome = runtime.block_on(aftershock::run(cli));
    ExitCode::from(outcome.code())
}
