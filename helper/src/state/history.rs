//! Appending a finished run to the run history: the whole of it for root
//! and administrators, and as every local user may see it for the desktop
//! of anyone else (`igotchuu_dbus::redact`).

use std::io;
use std::path::{Path, PathBuf};

use igotchuu_dbus::history::{
    self, History, RunRecord, ADMIN_HISTORY_FILE_NAME, HISTORY_FILE_NAME,
};
use igotchuu_dbus::{redact, ADMIN_GROUP};
use nix::unistd::{chown, Group};

use super::atomic;

/// Appends `record` to the history in `state_dir`, keeping the newest runs,
/// and rewrites the public copy from it. An unreadable old file is moved
/// aside rather than lost. Returns the administrators' file.
pub fn append(state_dir: &Path, record: RunRecord) -> io::Result<PathBuf> {
    let admin = state_dir.join(ADMIN_HISTORY_FILE_NAME);
    let public = state_dir.join(HISTORY_FILE_NAME);
    // Before the split, the one file held everything: it is where the
    // administrators' history goes on from.
    let source = if admin.exists() { &admin } else { &public };
    // The same bounded reader as every client's.
    let mut history = history::read_file(source).unwrap_or_else(|e| {
        set_aside(source, &e.to_string());
        History::default()
    });
    history.push(record);
    write_admin(&admin, &history)?;
    let everyone = History {
        runs: history.runs.iter().map(redact::run_record).collect(),
        ..history
    };
    // World-readable: the desktop side runs unprivileged.
    atomic::write(&public, &to_json(&everyone)?, 0o644)?;
    Ok(admin)
}

fn to_json(history: &History) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(history).map_err(io::Error::other)
}

/// Root's, readable by the administrators' group (if the system has it).
fn write_admin(path: &Path, history: &History) -> io::Result<()> {
    let json = to_json(history)?;
    match Group::from_name(ADMIN_GROUP) {
        Ok(Some(group)) => {
            atomic::write(path, &json, 0o600)?;
            // Group-readable only once it is the group's: never readable by
            // others, not even for a moment.
            chown(path, None, Some(group.gid))?;
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
        }
        _ => {
            tracing::warn!(
                "there is no group {ADMIN_GROUP}: the full run history is for root alone"
            );
            atomic::write(path, &json, 0o600)
        }
    }
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
            reason: "r".into(),
            ..RunRecord::new(igotchuu_dbus::Operation::Backup, Outcome::Failed, n, n)
        }
    }

    #[test]
    fn everyone_reads_the_runs_without_their_details() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut secret = record(1);
        secret.reason = "/home/alice/diary.txt could not be read".into();
        secret.places = vec!["/home".into()];
        let admin = append(dir.path(), secret.clone()).unwrap();
        let full = History::from_json(&std::fs::read(&admin).unwrap()).unwrap();
        assert_eq!(full.runs, [secret.clone()]);
        assert_eq!(
            std::fs::metadata(&admin).unwrap().mode() & 0o777 & !0o040,
            0o600
        );
        let public = dir.path().join(HISTORY_FILE_NAME);
        let text = std::fs::read_to_string(&public).unwrap();
        assert!(!text.contains("alice") && !text.contains("/home"), "{text}");
        assert_eq!(std::fs::metadata(&public).unwrap().mode() & 0o777, 0o644);
        assert_eq!(History::from_json(text.as_bytes()).unwrap().runs.len(), 1);
    }

    #[test]
    fn the_history_from_before_the_split_goes_on_in_the_administrators_file() {
        let dir = tempfile::tempdir().unwrap();
        let old = History {
            runs: vec![record(1)],
            ..History::default()
        };
        std::fs::write(
            dir.path().join(HISTORY_FILE_NAME),
            serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
        let admin = append(dir.path(), record(2)).unwrap();
        let full = History::from_json(&std::fs::read(&admin).unwrap()).unwrap();
        assert_eq!(full.runs.len(), 2);
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
        let aside = dir.path().join("history-admin.json.unreadable");
        assert_eq!(std::fs::read(aside).unwrap(), b"garbage");
    }
}
