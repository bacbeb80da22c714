//! Scenario files: parsing, validation with precise diagnostics, and the validated model.
//!
//! A file goes through four steps, each collecting every problem it finds rather than the
//! first one:
//! 1. the text is parsed into a `serde_json::Value`; a syntax error stops here, with
//!    serde_json's line and column;
//! 2. `file` reads the value into raw structs (`deny_unknown_fields`), entry by entry and
//!    field by field, recording type errors and unknown fields with their paths;
//! 3. `validate` checks the raw structs purely (ranges, units, references, uniqueness) and
//!    builds the [`Scenario`];
//! 4. each problem's path is mapped to a line and column by [`position::PositionIndex`].
//!
//! The format is documented in `docs/scenarios.md`; `schemas/scenario.schema.json` describes it
//! for editors.

pub mod capacity;
mod checker;
pub mod checks;
pub mod defaults;
pub mod fault;
mod file;
mod model;
pub mod position;
mod problem;
mod validate;

use std::path::{Path, PathBuf};

use position::{JsonPath, PositionIndex};
use problem::Problem;

use crate::vocab::units::format_size;
pub use crate::vocab::units::{parse_duration, parse_rate, parse_size};
pub use model::{
    Acks, ClusterTarget, ConfigValue, ConsumerSpec, KeyDist, KeySampler, Phase, ProducerSpec, Rate, ResolveError,
    Scenario, SizeDist, StartFrom, TopicSpec, seeded_rng,
};
pub use problem::{Diagnostic, Diagnostics, Severity};

/// The largest scenario file aftershock reads. A scenario is a few KiB of JSON; a file far
/// larger is the wrong file (a log, a dump), and would otherwise be read whole into memory,
/// then parsed into a second, larger copy.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Reads and validates a scenario file. Its warnings, if any, are in [`Scenario::warnings`].
///
/// # Errors
/// Every problem in the file, each with its line, column and field path, and the file's
/// warnings beside them; a file that cannot be read, or is over [`MAX_FILE_SIZE`], gives one
/// problem at 1:1.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let file = path.display().to_string();
    let bytes = read_bytes(path).map_err(|message| at_start(&file, message))?;
    parse_utf8(&bytes, &file, Some(path.to_path_buf()))
}

/// Validates a scenario given as the bytes of a file, exactly as [`load`] does once it has
/// read them (`aftershock validate`, and what `fuzz/` feeds arbitrary bytes to); `file`
/// names it in diagnostics. Its warnings, if any, are in [`Scenario::warnings`].
///
/// # Errors
/// Every problem in the bytes, each with its line, column and field path, and the warnings
/// beside them; bytes that are not UTF-8 give one problem at 1:1.
pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Scenario, Diagnostics> {
    parse_utf8(bytes, file, None)
}

/// The file's bytes. Its size is checked before anything is read; a pipe (`/dev/stdin`, a
/// process substitution) has no size up front, so every file is also read no further than one
/// byte past the limit.
fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read the file: {e}");
    let too_large = |size: String| {
        format!(
            "the file is {size}, over the limit of {} for a scenario file (a scenario is a few KiB of JSON): is this the right file?",
            format_size(MAX_FILE_SIZE)
        )
    };
    let f = std::fs::File::open(path).map_err(cannot)?;
    let len = f.metadata().map_err(cannot)?.len();
    if len > MAX_FILE_SIZE {
        return Err(too_large(format!("{len} bytes ({:.1} MiB)", len as f64 / (1u64 << 20) as f64)));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(format!("more than {} bytes (it was read up to there)", MAX_FILE_SIZE)));
    }
    Ok(bytes)
}

fn parse_utf8(bytes: &[u8], file: &str, source: Option<PathBuf>) -> Result<Scenario, Diagnostics> {
    let text = std::str::from_utf8(bytes).map_err(|_| at_start(file, "the file is not UTF-8 text".into()))?;
    parse(text, file, source)
}

/// One problem with the file as a whole, reported at 1:1.
fn at_start(file: &str, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_string(),
        line: 1,
        column: 1,
        path: "$".into(),
        message,
        severity: Severity::Error,
    }])
}

/// Validates a scenario given as text; `file` names it in diagnostics.
///
/// # Errors
/// Every problem in the text, each with its line, column and field path.
pub fn parse_str(text: &str, file: &str) -> Result<Scenario, Diagnostics> {
    parse(text, file, None)
}

fn parse(text: &str, file: &str, source: Option<PathBuf>) -> Result<Scenario, Diagnostics> {
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            // serde_json appends " at line L column C"; the position goes in front instead.
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m);
            return Err(Diagnostics(vec![Diagnostic {
                file: file.to_string(),
                line: e.line().max(1),
                column: e.column().max(1),
                path: "$".into(),
                message: format!("invalid JSON: {msg}"),
                severity: Severity::Error,
            }]));
        }
    };
    let index = PositionIndex::new(text);
    let mut problems: Vec<Problem> = index
        .duplicate_keys()
        .iter()
        .map(|(path, _)| Problem {
            path: path.clone(),
            on_key: true,
            message: "duplicate key: it already appears in this object, and only one value can count".into(),
            meant: None,
        })
        .collect();
    let raw = file::read_scenario(&doc, &mut problems);
    let broken: Vec<JsonPath> =
        problems.iter().flat_map(|p| std::iter::once(p.path.clone()).chain(p.meant.clone())).collect();
    let locate = |p: Problem, severity: Severity| {
        let pos = index.locate(&p.path, p.on_key);
        Diagnostic {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
            path: p.path.to_string(),
            // One line per problem, whatever a message quotes.
            message: p.message.replace(['\n', '\r'], " "),
            severity,
        }
    };
    let (validated, warnings) = validate::validate(&raw, &broken, source, doc);
    let warnings = warnings.into_iter().map(|p| locate(p, Severity::Warning));
    match validated {
        Ok(mut scenario) if problems.is_empty() => {
            scenario.warnings = in_file_order(warnings.collect());
            return Ok(scenario);
        }
        Ok(_) => {}
        Err(more) => {
            // A problem inside a node that could not be read is a consequence of that one.
            problems.extend(more.into_iter().filter(|p| !broken.iter().any(|b| p.path.starts_with(b))));
        }
    }
    // The warnings go out with the errors, so that one pass over the file fixes everything.
    let mut diags = in_file_order(problems.into_iter().map(|p| locate(p, Severity::Error)).chain(warnings).collect());
    if !diags.iter().any(|d| d.severity == Severity::Error) {
        // Only reachable if validation refused without saying why; never report "ok" then.
        diags.insert(
            0,
            Diagnostic {
                file: file.to_string(),
                line: 1,
                column: 1,
                path: "$".into(),
                message: "internal error: the scenario was refused without a reason".into(),
                severity: Severity::Error,
            },
        );
    }
    Err(Diagnostics(diags))
}

/// By position; at one position errors come first, as they were pushed first.
fn in_file_order(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by_key(|d| (d.line, d.column));
    diags.dedup();
    diags
}

#[cfg(test)]
mod tests;
