//! Renderings of a report for people and CI, read from [`Report`] alone: every output of a
//! run dir (`summary.md`, `index.html` and `plots/*.svg|png`, written by [`render`]), called by
//! `aftershock run` at its end and by `aftershock report`.
//!
//! - [`summary`]: the summary's document model, as Markdown or HTML; [`html`]: `index.html`;
//! - [`plots`]: the SVG and PNG plots (with their font in `fonts/`);
//! - [`junit`]: checks and comparisons as JUnit XML.
//!
//! Above [`crate::report`] and [`crate::gate`]: it shows check results and comparisons, and
//! neither of them imports it.

pub mod html;
pub mod junit;
pub mod plots;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::report::Report;
use plots::{PlotError, PlotFile};
use summary::{ChecksOutcome, PlotRef};

/// File names inside a run dir.
pub const SUMMARY_FILE: &str = "summary.md";
pub const HTML_FILE: &str = "index.html";
pub const PLOTS_DIR: &str = "plots";

/// What [`render`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub summary: PathBuf,
    pub html: PathBuf,
    pub plots: Vec<PlotFile>,
}

/// Why the outputs could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Plot(#[from] Box<PlotError>),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: Box<crate::Error>,
    },
}

/// Writes the summary, the page and the plots of `report` into `dir`, with the `checks`
/// evaluated on it (see [`crate::gate`]).
///
/// # Errors
/// When a file cannot be written or a histogram of the report cannot be decoded.
pub fn render(report: &Report, checks: &ChecksOutcome, dir: &Path) -> Result<Rendered, RenderError> {
    let plot_files = plots::render(report, &dir.join(PLOTS_DIR)).map_err(Box::new)?;
    let refs: Vec<PlotRef> = plot_files
        .iter()
        .map(|p| PlotRef { title: p.title.to_string(), path: format!("{PLOTS_DIR}/{}.png", p.name) })
        .collect();
    let doc = summary::document(report, checks, &refs);

    let summary_path = dir.join(SUMMARY_FILE);
    let mut md = summary::markdown(&doc);
    md.push('\n');
    write(&summary_path, md.as_bytes())?;

    let html_path = dir.join(HTML_FILE);
    let page = html::page(report, &doc, &|rel: &str| std::fs::read(dir.join(rel)).ok());
    write(&html_path, page.as_bytes())?;
    Ok(Rendered { summary: summary_path, html: html_path, plots: plot_files })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    crate::vocab::fs::write_atomic(path, bytes).map_err(|source| RenderError::Write {
        path: path.to_path_buf(),
        source: Box::new(crate::Error::io(format!("writing {}", path.display()))(source)),
    })
}
