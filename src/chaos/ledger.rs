//! The fault ledger: an append-only JSON-lines file in the run dir (or cluster dir) that
//! records every fault *before* it is applied and again once it is undone, so that
//! `aftershock heal` can undo whatever a crashed (even SIGKILLed) aftershock left behind.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the ledger.
pub const LEDGER_FILE: &str = "faults.jsonl";

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LedgerEntry {
    /// Written before the fault touches anything.
    Applying {
        id: u32,
        fault: String,
        action: String,
        /// The cluster dir whose nodes are hit.
        cluster_dir: PathBuf,
        nodes: Vec<i32>,
        /// Pids of the nodes at that moment (SIGCONT targets after a pause).
        pids: Vec<u32>,
        unix_ms: u64,
    },
    /// The fault is undone (or was never applied because applying failed).
    Reverted { id: u32, unix_ms: u64 },
}

/// An open ledger.
#[derive(Debug, Clone)]
pub struct FaultLedger {
    path: PathBuf,
}

impl FaultLedger {
    /// The ledger in `dir` (created on first write).
    pub fn new(dir: &Path) -> FaultLedger {
        FaultLedger { path: dir.join(LEDGER_FILE) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and syncs it to disk before returning: the entry must survive a
    /// SIGKILL that comes right after.
    pub fn append(&self, entry: &LedgerEntry) -> Result<()> {
        let mut line = serde_json::to_string(entry).expect("ledger entries always serialize");
        line.push('\n');
        let ctx = || format!("writing the fault ledger {}", self.path.display());
        let mut f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(Error::io(ctx()))?;
        f.write_all(line.as_bytes()).map_err(Error::io(ctx()))?;
        f.sync_data().map_err(Error::io(ctx()))?;
        Ok(())
    }

    /// Every entry, skipping a torn last line (a crash in the middle of a write).
    pub fn read(&self) -> Result<Vec<LedgerEntry>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("reading {}", self.path.display()))(e)),
        };
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }

    /// Faults applied (or being applied) and never reverted.
    pub fn outstanding(&self) -> Result<Vec<LedgerEntry>> {
        let entries = self.read()?;
        let reverted: Vec<u32> = entries
            .iter()
            .filter_map(|e| match e {
                LedgerEntry::Reverted { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        Ok(entries
            .into_iter()
            .filter(|e| matches!(e, LedgerEntry::Applying { id, .. } if !reverted.contains(id)))
            .collect())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_faults_are_those_never_reverted() {
        let dir = tempfile::tempdir().unwrap();
        let l = FaultLedger::new(dir.path());
        assert!(l.outstanding().unwrap().is_empty());
        let applying = |id| LedgerEntry::Applying {
            id,
            fault: format!("f{id}"),
            action: "pause".into(),
            cluster_dir: "/c".into(),
            nodes: vec![1],
            pids: vec![42],
            unix_ms: 1,
        };
        l.append(&applying(1)).unwrap();
        l.append(&applying(2)).unwrap();
        l.append(&LedgerEntry::Reverted { id: 1, unix_ms: 2 }).unwrap();
        // a torn line from a crash mid-write is ignored
        std::fs::OpenOptions::new().append(true).open(l.path()).unwrap().write_all(b"{\"event\":\"appl").unwrap();
        assert_eq!(l.outstanding().unwrap(), vec![applying(2)]);
        assert_eq!(l.read().unwrap().len(), 3);
    }
}
