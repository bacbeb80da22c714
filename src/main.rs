//! The `aftershock` binary: build the runtime, parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

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
