//! The run lock: one backup (or cleanup) at a time per machine. It is held
//! for the whole run, so stale-snapshot cleanup can never touch the
//! snapshots of a run that is still alive.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another igotchuu backup is running (it holds {0}); try again when it has finished")]
    Busy(PathBuf),
    #[error("cannot open the lock file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Held for as long as this value lives; the kernel releases it when the
/// process dies, however it dies.
pub struct RunLock {
    _flock: Flock<File>,
}

impl RunLock {
    /// Takes the lock in `dir` without waiting.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = dir.join("lock");
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        // O_CLOEXEC (std's default) keeps restic from inheriting the lock.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_err)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => Ok(RunLock { _flock: flock }),
            Err((_, Errno::EWOULDBLOCK)) => Err(LockError::Busy(path)),
            Err((_, errno)) => Err(io_err(errno.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).err().unwrap();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        assert!(err
            .to_string()
            .contains("another igotchuu backup is running"));
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }
}
