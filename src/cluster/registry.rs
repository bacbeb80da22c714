//! The list of dirs aftershock has put clusters and fault ledgers in, so that
//! `aftershock heal --all` can find every one of them after a crash.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// `$AFTERSHOCK_STATE_DIR/known-dirs`, else `$XDG_STATE_HOME/aftershock/known-dirs`, else
/// `~/.local/state/aftershock/known-dirs`.
pub fn registry_file() -> PathBuf {
    if let Some(d) = std::env::var_os("AFTERSHOCK_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("known-dirs");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| super::dist::home_dir().join(".local").join("state"));
    base.join("aftershock").join("known-dirs")
}

/// Remembers `dir` (idempotent). Failures are ignored: the registry is a convenience for
/// `heal --all`, never a reason to fail a run.
pub fn remember(dir: &Path) {
    let file = registry_file();
    let line = dir.display().to_string();
    if known().iter().any(|d| d.as_path() == dir) {
        return;
    }
    if let Some(parent) = file.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&file) {
        let _ = writeln!(f, "{line}");
    }
}

/// Every remembered dir that still exists.
pub fn known() -> Vec<PathBuf> {
    std::fs::read_to_string(registry_file())
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from).filter(|p| p.exists()).collect())
        .unwrap_or_default()
}
