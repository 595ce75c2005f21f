//! Appending a finished run to the history file that the desktop reads.

use std::io;
use std::path::{Path, PathBuf};

use igotchuu_dbus::history::{self, History, RunRecord, HISTORY_FILE_NAME};

use super::atomic;

/// Appends `record` to the history in `state_dir`, keeping the newest runs.
/// An unreadable old file is moved aside rather than lost.
pub fn append(state_dir: &Path, record: RunRecord) -> io::Result<PathBuf> {
    let path = state_dir.join(HISTORY_FILE_NAME);
    // The same bounded reader as every client's.
    let mut history = history::read_file(&path).unwrap_or_else(|e| {
        set_aside(&path, &e.to_string());
        History::default()
    });
    history.push(record);
    let json = serde_json::to_vec_pretty(&history).map_err(io::Error::other)?;
    // World-readable: the desktop side runs unprivileged. It holds no secrets.
    atomic::write(&path, &json, 0o644)?;
    Ok(path)
}

fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension("json.unreadable");
    tracing::warn!(
        "run history {} is unreadable ({why}); keeping it as {} and starting a new one",
        path.display(),
        aside.display()
    );
    let _ = std::fs::rename(path, aside);
}

#[cfg(test)]
mod tests {
    use super::*;
    use igotchuu_dbus::Outcome;

    fn record(n: u64) -> RunRecord {
        RunRecord {
            started_at: n,
            finished_at: n,
            outcome: Outcome::Failed,
            reason: "r".into(),
            profile: None,
            places: vec![],
            summary: None,
            error_count: 0,
            item_errors: vec![],
            nested_subvolumes: vec![],
        }
    }

    #[test]
    fn appends_and_sets_a_corrupt_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = append(dir.path(), record(1)).unwrap();
        append(dir.path(), record(2)).unwrap();
        let h = History::from_json(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            h.runs.iter().map(|r| r.started_at).collect::<Vec<_>>(),
            [1, 2]
        );

        std::fs::write(&path, b"garbage").unwrap();
        append(dir.path(), record(3)).unwrap();
        let h = History::from_json(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(h.runs.len(), 1);
        let aside = dir.path().join("history.json.unreadable");
        assert_eq!(std::fs::read(aside).unwrap(), b"garbage");
    }
}
