//! The run-history file: the helper appends one record per run, the
//! desktop side reads it. It holds no secrets: no repository location,
//! no password settings, no command lines. Everyone reads it with [`read`]
//! (or [`read_file`]), which bounds its size.

mod read;

use serde::{Deserialize, Serialize};

pub use read::{
    history_path, read, read_file, state_dir, HistoryError, MAX_HISTORY_BYTES, STATE_DIR_ENV,
};

use crate::{ItemError, Operation, Outcome, RunCondition, Summary};

/// File name inside the state directory.
pub const HISTORY_FILE_NAME: &str = "history.json";
/// The whole history, reasons, places and item errors included, readable
/// by root and [`crate::ADMIN_GROUP`] only; [`HISTORY_FILE_NAME`] holds the
/// same runs as every local user may see them ([`crate::redact`]).
pub const ADMIN_HISTORY_FILE_NAME: &str = "history-admin.json";
/// How many runs of each [`Operation`] the file keeps; older ones are
/// dropped. Per operation, so that hourly backups never push the monthly
/// check out of the history.
pub const HISTORY_LIMIT: usize = 50;
/// How many item errors one record keeps: the first ones; the count says
/// how many there were. (A follower keeps the latest
/// [`ITEM_ERRORS_FOLLOWED`](crate::follow::ITEM_ERRORS_FOLLOWED).)
pub const ITEM_ERRORS_RECORDED: usize = 100;
/// The format version written by this crate.
pub const HISTORY_VERSION: u32 = 1;

/// One finished run of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// What ran; records written before there were other operations are
    /// backups.
    #[serde(default)]
    pub operation: Operation,
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
    /// For a postponed run: the conditions that held it back. For any
    /// other: the conditions it ran under because it was started by hand
    /// ("Back up now" overrides them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RunCondition>,
}

impl RunRecord {
    /// A record of `operation` that ended as `outcome`, with nothing else
    /// in it: no reason, places, summary, errors or conditions.
    pub fn new(operation: Operation, outcome: Outcome, started_at: u64, finished_at: u64) -> Self {
        RunRecord {
            operation,
            started_at,
            finished_at,
            outcome,
            reason: String::new(),
            profile: None,
            places: Vec::new(),
            summary: None,
            error_count: 0,
            item_errors: Vec::new(),
            nested_subvolumes: Vec::new(),
            conditions: Vec::new(),
        }
    }
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

    /// Adds a run, dropping the oldest of its operation beyond [`HISTORY_LIMIT`].
    pub fn push(&mut self, record: RunRecord) {
        let operation = record.operation;
        self.runs.push(record);
        let mut excess = self
            .runs
            .iter()
            .filter(|r| r.operation == operation)
            .count()
            .saturating_sub(HISTORY_LIMIT);
        self.runs.retain(|r| {
            let drop = excess > 0 && r.operation == operation;
            excess -= usize::from(drop);
            !drop
        });
    }

    /// The most recent run, if any.
    pub fn last(&self) -> Option<&RunRecord> {
        self.runs.last()
    }

    /// The most recent run of `operation`, if any.
    pub fn last_of(&self, operation: Operation) -> Option<&RunRecord> {
        self.runs.iter().rev().find(|r| r.operation == operation)
    }

    /// The most recent backup that saved a snapshot: what staleness is
    /// measured from.
    pub fn last_saved_backup(&self) -> Option<&RunRecord> {
        self.runs
            .iter()
            .rev()
            .find(|r| r.operation == Operation::Backup && r.outcome.saved_snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> RunRecord {
        RunRecord {
            operation: Operation::Backup,
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
            conditions: vec![],
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
    fn each_operation_keeps_its_own_runs() {
        let mut h = History::default();
        h.push(RunRecord {
            operation: Operation::Check,
            ..record(0)
        });
        for n in 1..=(HISTORY_LIMIT as u64 * 2) {
            h.push(record(n));
        }
        assert_eq!(h.runs.len(), HISTORY_LIMIT + 1);
        assert_eq!(h.last_of(Operation::Check).unwrap().started_at, 0);
        assert_eq!(h.last_of(Operation::Prune), None);
        let mut failed = record(1000);
        failed.outcome = Outcome::Failed;
        h.push(failed);
        assert_eq!(
            h.last_saved_backup().unwrap().started_at,
            HISTORY_LIMIT as u64 * 2
        );
    }

    #[test]
    fn records_of_older_helpers_are_backups() {
        let json = br#"{"version":1,"runs":[{"started_at":1,"finished_at":2,"outcome":"completed","reason":""}]}"#;
        let h = History::from_json(json).unwrap();
        assert_eq!(h.runs[0].operation, Operation::Backup);
        assert!(h.runs[0].conditions.is_empty());
    }

    #[test]
    fn round_trips_through_json() {
        let mut h = History::default();
        h.push(record(5));
        let json = serde_json::to_vec(&h).unwrap();
        assert_eq!(History::from_json(&json).unwrap(), h);
    }
}
