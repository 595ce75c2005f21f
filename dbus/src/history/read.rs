//! Reading the history file, with a size bound: the one reader that the
//! helper (before it appends) and every client use.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{History, ADMIN_HISTORY_FILE_NAME, HISTORY_FILE_NAME};
use crate::DEFAULT_STATE_DIR;

/// The largest history file anyone writes or reads. [`HISTORY_LIMIT`]
/// runs with their kept item errors stay far below it.
///
/// [`HISTORY_LIMIT`]: super::HISTORY_LIMIT
pub const MAX_HISTORY_BYTES: u64 = 16 << 20;

/// Overrides a client's idea of the helper's state directory, for tests.
pub const STATE_DIR_ENV: &str = "IGOTCHUU_STATE_DIR";

/// Where a client finds the helper's state: `$IGOTCHUU_STATE_DIR`, else
/// [`DEFAULT_STATE_DIR`].
pub fn state_dir() -> PathBuf {
    state_dir_from(std::env::var_os(STATE_DIR_ENV))
}

fn state_dir_from(env: Option<OsString>) -> PathBuf {
    env.filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from)
}

/// The history file in `state_dir` for this process: the administrators'
/// one if it may read it, else the one everyone may read.
pub fn history_path(state_dir: &Path) -> PathBuf {
    let admin = state_dir.join(ADMIN_HISTORY_FILE_NAME);
    if File::open(&admin).is_ok() {
        admin
    } else {
        state_dir.join(HISTORY_FILE_NAME)
    }
}

/// Why the history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the run history {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the run history {} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("the run history {} is not valid: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Reads the history in `state_dir`. No file yet is an empty history.
/// Blocks on the file system.
pub fn read(state_dir: &Path) -> Result<History, HistoryError> {
    read_file(&history_path(state_dir))
}

/// Reads the history file at `path`, at most [`MAX_HISTORY_BYTES`] of it.
/// No file is an empty history.
pub fn read_file(path: &Path) -> Result<History, HistoryError> {
    let read_err = |source| HistoryError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_HISTORY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_HISTORY_BYTES {
        return Err(HistoryError::TooLarge {
            path: path.to_owned(),
            limit: MAX_HISTORY_BYTES,
        });
    }
    History::from_json(&bytes).map_err(|source| HistoryError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunRecord;
    use crate::Outcome;

    fn history(starts: &[u64]) -> History {
        let mut h = History::default();
        for &s in starts {
            h.push(RunRecord {
                places: vec!["/home".into()],
                ..RunRecord::new(crate::Operation::Backup, Outcome::Completed, s, s + 5)
            });
        }
        h
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "igotchuu-dbus-read-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_what_was_written_and_no_file_is_empty() {
        let dir = temp_dir();
        assert_eq!(read(&dir).unwrap(), History::default(), "no file yet");
        let h = history(&[10, 20, 30]);
        std::fs::write(history_path(&dir), serde_json::to_vec(&h).unwrap()).unwrap();
        assert_eq!(read(&dir).unwrap(), h);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_garbage_giants_and_directories() {
        let dir = temp_dir();
        let path = history_path(&dir);
        std::fs::write(&path, b"{\"version\": 1, \"runs\": [").unwrap();
        let e = read(&dir).unwrap_err();
        assert!(matches!(e, HistoryError::Parse { .. }), "{e}");
        assert!(e.to_string().contains(path.to_str().unwrap()), "{e}");

        let f = File::create(&path).unwrap();
        f.set_len(MAX_HISTORY_BYTES + 1).unwrap();
        assert!(matches!(
            read(&dir).unwrap_err(),
            HistoryError::TooLarge { .. }
        ));

        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(read(&dir).unwrap_err(), HistoryError::Read { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn state_dir_comes_from_the_environment_or_the_default() {
        assert_eq!(state_dir_from(None), Path::new(DEFAULT_STATE_DIR));
        assert_eq!(
            state_dir_from(Some("".into())),
            Path::new(DEFAULT_STATE_DIR)
        );
        assert_eq!(state_dir_from(Some("/tmp/x".into())), Path::new("/tmp/x"));
        assert_eq!(history_path(Path::new("/s")), Path::new("/s/history.json"));
    }
}
