//! The run lock: one operation (backup, forget, prune, check, cleanup) at
//! a time per machine. It is held for the whole run, so stale-snapshot
//! cleanup can never touch the snapshots of a run that is still alive, and
//! a prune never runs while a backup writes. An operation that finds it
//! taken may wait its turn ([`RunLock::acquire_waiting`]).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tokio::sync::watch;

/// How often a waiting run tries the lock again. Polling, not a blocking
/// flock in a thread: a waiter that is stopped leaves nothing behind.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another igotchuu backup is running (it holds {0}); try again when it has finished")]
    Busy(PathBuf),
    #[error("another igotchuu run held {} for longer than wait_timeout ({} s); try again when it has finished", .path.display(), .waited.as_secs())]
    WaitedTooLong { path: PathBuf, waited: Duration },
    #[error("stopped on request while waiting for the run in progress")]
    Stopped,
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

impl RunLock {
    /// Takes the lock in `dir`; while another run holds it, waits up to
    /// `timeout` (`None`: not at all), calling `on_wait` once when the
    /// waiting begins. Ends early when `stop` turns true.
    pub async fn acquire_waiting(
        dir: &Path,
        timeout: Option<Duration>,
        on_wait: impl FnOnce(),
        mut stop: watch::Receiver<bool>,
    ) -> Result<RunLock, LockError> {
        let first = match Self::acquire(dir) {
            Err(LockError::Busy(path)) => path,
            taken => return taken,
        };
        let Some(timeout) = timeout.filter(|t| !t.is_zero()) else {
            return Err(LockError::Busy(first));
        };
        on_wait();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = (tokio::time::Instant::now() + POLL_INTERVAL).min(deadline);
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return Err(LockError::Stopped),
                () = tokio::time::sleep_until(next) => {}
            }
            match Self::acquire(dir) {
                Err(LockError::Busy(path)) if tokio::time::Instant::now() >= deadline => {
                    return Err(LockError::WaitedTooLong {
                        path,
                        waited: timeout,
                    })
                }
                Err(LockError::Busy(_)) => {}
                taken => return taken,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let (_tx, stop) = watch::channel(false);
        let path = dir.path().to_owned();
        let mut told = 0;
        let waiter = async {
            let lock =
                RunLock::acquire_waiting(&path, Some(Duration::from_secs(30)), || told += 1, stop)
                    .await;
            (lock, tokio::time::Instant::now())
        };
        let release = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            drop(first);
            tokio::time::Instant::now()
        };
        let ((lock, got), released) = tokio::join!(waiter, release);
        assert!(lock.is_ok(), "{:?}", lock.err());
        assert!(got >= released, "it got the lock before it was let go");
        assert!(got - released <= POLL_INTERVAL * 2);
        assert_eq!(told, 1, "it says once that it waits");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_the_timeout_or_at_once_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RunLock::acquire(dir.path()).unwrap();
        let (_tx, stop) = watch::channel(false);
        let started = std::time::Instant::now();
        let err = RunLock::acquire_waiting(
            dir.path(),
            Some(Duration::from_millis(1200)),
            || {},
            stop.clone(),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, LockError::WaitedTooLong { .. }), "{err}");
        assert!(err.to_string().contains("wait_timeout"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(1200));
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut told = false;
        for timeout in [None, Some(Duration::ZERO)] {
            let err = RunLock::acquire_waiting(dir.path(), timeout, || told = true, stop.clone())
                .await
                .err()
                .unwrap();
            assert!(matches!(err, LockError::Busy(_)), "{err}");
        }
        assert!(!told, "no wait, so nothing to say");
    }

    #[tokio::test]
    async fn a_waiter_stops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RunLock::acquire(dir.path()).unwrap();
        let (tx, stop) = watch::channel(false);
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send_replace(true);
        };
        let started = std::time::Instant::now();
        let (lock, ()) = tokio::join!(
            RunLock::acquire_waiting(dir.path(), Some(Duration::from_secs(60)), || {}, stop),
            stopping
        );
        assert!(matches!(lock, Err(LockError::Stopped)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

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
