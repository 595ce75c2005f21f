//! The snapshot journal. Each snapshot is recorded here *before* it is
//! created and removed only after it is deleted, so that a run killed with
//! SIGKILL leaves a precise list of what to clean up, and the cleanup
//! never deletes anything igotchuu did not create.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic;

const FILE_NAME: &str = "journal.json";
/// A journal lists a handful of snapshots; anything larger is not ours.
const MAX_BYTES: u64 = 1 << 20;

/// One snapshot a run was about to create or created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub source: PathBuf,
    pub snapshot: PathBuf,
    /// The source subvolume's uuid: a snapshot we made has it as parent uuid.
    pub source_uuid: String,
}

#[derive(Debug, thiserror::Error)]
#[error("snapshot journal {path}: {source}")]
pub struct JournalError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// The journal file in the state directory.
pub struct Journal {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl Journal {
    /// Opens the journal, with whatever a previous run left in it.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        let path = state_dir.join(FILE_NAME);
        let entries = match atomic::read_bounded(&path, MAX_BYTES) {
            Ok(None) => Vec::new(),
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).map_err(|e| JournalError {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })?,
            Err(source) => return Err(JournalError { path, source }),
        };
        Ok(Journal { path, entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Records a snapshot that is about to be created, durably.
    pub fn add(&mut self, entry: Entry) -> Result<(), JournalError> {
        self.entries.push(entry);
        self.save()
    }

    /// Forgets a snapshot that is gone.
    pub fn remove(&mut self, snapshot: &Path) -> Result<(), JournalError> {
        self.entries.retain(|e| e.snapshot != snapshot);
        self.save()
    }

    fn save(&self) -> Result<(), JournalError> {
        let result = if self.entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let json = serde_json::to_vec_pretty(&self.entries).expect("journal serializes");
            atomic::write(&self.path, &json, 0o600)
        };
        result.map_err(|source| JournalError {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: &str) -> Entry {
        Entry {
            source: "/home".into(),
            snapshot: format!("/home-{n}").into(),
            source_uuid: "u".into(),
        }
    }

    #[test]
    fn survives_reopening_and_disappears_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.add(entry("1")).unwrap();
        j.add(entry("2")).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries(), [entry("1"), entry("2")]);
        j.remove(Path::new("/home-1")).unwrap();
        assert_eq!(Journal::open(dir.path()).unwrap().entries(), [entry("2")]);
        j.remove(Path::new("/home-2")).unwrap();
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn a_corrupt_journal_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{nope").unwrap();
        let err = Journal::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("journal.json"), "{err}");
    }
}
