//! Scenario files: parsing, validation with precise diagnostics, and the validated model.
// NB: being written now; see issue 3.

use std::path::PathBuf;

use crate::Outcome;

/// `aftershock validate FILE...`: checks each file and prints every problem found.
pub fn validate_command(files: &[PathBuf]) -> Outcome {
    let _ = files;
    eprintln!("error: validate is not implemented yet");
    Outcome::RunFailed
}
