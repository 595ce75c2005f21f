//! The run-history file: the helper appends one record per run, the
//! desktop side reads it. It holds no secrets: no repository location,
//! no password settings, no command lines. Everyone reads it with [`read`]
//! (or [`read_file`]), which bounds its size.

mod read;

use serde::{Deserialize, Serialize};

pub use read::{
    history_path, read, read_file, state_dir, HistoryError, MAX_HISTORY_BYTES, STATE_DIR_ENV,
};

use crate::{ItemError, Outcome, Summary};

/// File name inside the state directory.
pub const HISTORY_FILE_NAME: &str = "history.json";
/// The whole history, reasons, places and item errors included, readable
/// by root and [`crate::ADMIN_GROUP`] only; [`HISTORY_FILE_NAME`] holds the
/// same runs as every local user may see them ([`crate::redact`]).
pub const ADMIN_HISTORY_FILE_NAME: &str = "history-admin.json";
/// How many runs the file keeps; older ones are dropped.
pub const HISTORY_LIMIT: usize = 50;
/// How many item errors one record keeps: the first ones; the count says
/// how many there were. (A follower keeps the latest
/// [`ITEM_ERRORS_FOLLOWED`](crate::follow::ITEM_ERRORS_FOLLOWED).)
pub const ITEM_ERRORS_RECORDED: usize = 100;
/// The format version written by this crate.
pub const HISTORY_VERSION: u32 = 1;

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub finished_at: u64,
    pub outcome: Outcome,
    /// A sentence for people: why it ended the way it did.
    pub reason: String,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub places: Vec<String>,
    /// restic's summary, when it printed one.
    #[serde(default)]
    pub summary: Option<Summary>,
    /// How many files or folders restic could not read.
    #[serde(default)]
    pub error_count: u64,
    /// The first [`ITEM_ERRORS_RECORDED`] of them.
    #[serde(default)]
    pub item_errors: Vec<ItemError>,
    /// Subvolumes inside a snapshotted source; their contents were not backed up.
    #[serde(default)]
    pub nested_subvolumes: Vec<String>,
}

/// The whole file. Runs are oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub version: u32,
    pub runs: Vec<RunRecord>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            version: HISTORY_VERSION,
            runs: Vec::new(),
        }
    }
}

impl History {
    /// Parses the file's contents.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Adds a run, dropping the oldest beyond [`HISTORY_LIMIT`].
    pub fn push(&mut self, record: RunRecord) {
        self.runs.push(record);
        let excess = self.runs.len().saturating_sub(HISTORY_LIMIT);
        self.runs.drain(..excess);
    }

    /// The most recent run, if any.
    pub fn last(&self) -> Option<&RunRecord> {
        self.runs.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> RunRecord {
        RunRecord {
            started_at: n,
            finished_at: n + 1,
            outcome: Outcome::Completed,
            reason: String::new(),
            profile: None,
            places: vec!["/home".into()],
            summary: None,
            error_count: 0,
            item_errors: vec![],
            nested_subvolumes: vec![],
        }
    }

    #[test]
    fn keeps_only_the_newest_runs() {
        let mut h = History::default();
        for n in 0..(HISTORY_LIMIT as u64 + 7) {
            h.push(record(n));
        }
        assert_eq!(h.runs.len(), HISTORY_LIMIT);
        assert_eq!(h.runs[0].started_at, 7);
        assert_eq!(h.last().unwrap().started_at, HISTORY_LIMIT as u64 + 6);
    }

    #[test]
    fn round_trips_through_json() {
        let mut h = History::default();
        h.push(record(5));
        let json = serde_json::to_vec(&h).unwrap();
        assert_eq!(History::from_json(&json).unwrap(), h);
    }
}
