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
pub mod checks;
pub mod fault;
mod file;
mod model;
pub mod position;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Outcome;
use position::{JsonPath, PositionIndex};

pub use crate::vocab::units::{parse_duration, parse_rate, parse_size};
pub use model::{
    Acks, ClusterTarget, ConfigValue, ConsumerSpec, KeyDist, KeySampler, Phase, ProducerSpec, Rate, ResolveError,
    Scenario, SizeDist, StartFrom, TopicSpec, seeded_rng,
};

/// The defaults and limits of scenario files (documented in `docs/scenarios.md`).
pub mod defaults {
    use std::time::Duration;

    /// Seed when the file has none: runs are reproducible unless a file asks otherwise.
    pub const SEED: u64 = 1;
    /// Nodes of a local cluster.
    pub const LOCAL_NODES: usize = 3;
    /// Most nodes of a local cluster (as `cluster up` allows).
    pub const MAX_NODES: usize = 64;
    /// Most instances of one producer or consumer entry.
    pub const MAX_INSTANCES: i64 = 1024;
    /// Payload size of each message.
    pub const MESSAGE_SIZE: usize = 1024;
    /// Smallest payload: producer id, sequence number and timestamp take 16 bytes.
    pub const MIN_MESSAGE_SIZE: usize = 16;
    /// Largest payload.
    pub const MAX_MESSAGE_SIZE: usize = 16 << 20;
    /// librdkafka's own `message.max.bytes` default, which payloads must fit unless raised.
    pub const LIBRDKAFKA_MESSAGE_MAX_BYTES: u64 = 1_000_000;
    /// Producer `compression`.
    pub const COMPRESSION: &str = "none";
    /// Producer `linger`.
    pub const LINGER: Duration = Duration::from_millis(5);
    /// librdkafka's upper bound for `linger.ms`.
    pub const MAX_LINGER: Duration = Duration::from_secs(900);
    /// Producer `batch_size`, in bytes.
    pub const BATCH_SIZE: usize = 64 << 10;
    /// Exponent of zipf keys.
    pub const ZIPF_EXPONENT: f64 = 1.0;
    /// Time consumers get after the last phase.
    pub const DRAIN: Duration = Duration::from_secs(10);
}

/// One problem in a scenario file, located by line, column and field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file as named on the command line (or as given to [`parse_str`]).
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// The field, like `producers[0].rate`; `$` for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: PATH: MESSAGE`, the form editors and CI logs recognise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.path, self.message)
    }
}

/// Every problem found in one scenario file, in file order; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    /// One line per problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A problem before it is given a line and column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub path: JsonPath,
    /// Point at the member's key rather than its value (unknown and duplicate fields).
    pub on_key: bool,
    pub message: String,
    /// For a misspelt field, the field it most likely stands for.
    pub meant: Option<JsonPath>,
}

impl Problem {
    pub(crate) fn new(path: JsonPath, message: impl Into<String>) -> Problem {
        Problem { path, on_key: false, message: message.into(), meant: None }
    }
}

/// Reads and validates a scenario file.
///
/// # Errors
/// Every problem in the file, each with its line, column and field path; a file that cannot
/// be read gives one problem at 1:1.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let message = match e.kind() {
            std::io::ErrorKind::InvalidData => "the file is not UTF-8 text".to_string(),
            _ => format!("cannot read the file: {e}"),
        };
        Diagnostics(vec![Diagnostic { file: file.clone(), line: 1, column: 1, path: "$".into(), message }])
    })?;
    parse(&text, &file, Some(path.to_path_buf()))
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
    match validate::validate(&raw, &broken, source, doc) {
        Ok(scenario) if problems.is_empty() => return Ok(scenario),
        Ok(_) => {}
        Err(more) => {
            // A problem inside a node that could not be read is a consequence of that one.
            problems.extend(more.into_iter().filter(|p| !broken.iter().any(|b| p.path.starts_with(b))));
        }
    }
    let mut diags: Vec<Diagnostic> = problems
        .into_iter()
        .map(|p| {
            let pos = index.locate(&p.path, p.on_key);
            Diagnostic {
                file: file.to_string(),
                line: pos.line,
                column: pos.column,
                path: p.path.to_string(),
                // One line per problem, whatever a message quotes.
                message: p.message.replace(['\n', '\r'], " "),
            }
        })
        .collect();
    diags.sort_by_key(|d| (d.line, d.column));
    diags.dedup();
    if diags.is_empty() {
        // Only reachable if validation refused without saying why; never report "ok" then.
        diags.push(Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 1,
            path: "$".into(),
            message: "internal error: the scenario was refused without a reason".into(),
        });
    }
    Err(Diagnostics(diags))
}

/// `aftershock validate FILE...`: checks each file without touching a cluster; prints
/// `FILE: ok` on stdout for each valid file and every problem of the others on stderr.
/// Returns [`Outcome::BadConfig`] when any file is invalid.
pub fn validate_command(files: &[PathBuf]) -> Outcome {
    let mut outcome = Outcome::Ok;
    for f in files {
        match load(f) {
            Ok(_) => println!("{}: ok", f.display()),
            Err(diags) => {
                for d in diags.iter() {
                    eprintln!("{d}");
                }
                outcome = Outcome::BadConfig;
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests;
