//! The diagnostics of a scenario file: [`Diagnostic`] as users see it (an error, or a warning
//! that does not stop the file from being used), and [`Problem`], one before it has a line and
//! column. A leaf of `scenario` (it only needs paths), so that every
//! step of reading and validating can report problems without importing the module that
//! drives them.

use std::fmt;

use super::position::JsonPath;

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is refused (exit 2).
    #[default]
    Error,
    /// The file is accepted, but does something its author likely did not mean.
    Warning,
}

/// One problem in a scenario file, located by line, column and field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file as named on the command line (or as given to [`super::parse_str`]).
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// The field, like `producers[0].rate`; `$` for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
    pub severity: Severity,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: PATH: MESSAGE`, the form editors and CI logs recognise; a warning has
    /// `warning: ` before the path, as compilers write it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(f, "{}:{}:{}: {severity}{}: {}", self.file, self.line, self.column, self.path, self.message)
    }
}

/// Every problem found in one scenario file, in file order; when returned as an error, it holds
/// at least one [`Severity::Error`] (and the file's warnings beside them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// The errors only, without the warnings.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// Number of problems, warnings included.
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
