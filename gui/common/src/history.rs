//! The run history the helper writes to `history.json`: reading it (with
//! `igotchuu-dbus`'s one bounded reader) off the main loop, and waking up
//! when it changes (inotify; never polling).
//!
//! The helper replaces the file atomically (a temporary file renamed over
//! it), so the watch is on the directory, for that rename. While the
//! directory does not exist yet (the helper never ran), its parent is
//! watched for the directory to appear.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use async_io::Async;
pub use igotchuu_dbus::history::{
    history_path, read, state_dir, HistoryError, MAX_HISTORY_BYTES, STATE_DIR_ENV,
};
use igotchuu_dbus::history::{History, RunRecord, HISTORY_FILE_NAME};
use igotchuu_dbus::{Operation, Outcome};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// [`read`] on a thread of its own, so that a main loop never waits for
/// the disk. The thread ends with the read: a pool's idle threads would
/// wake up every so often forever (the `blocking` crate's do, twice a
/// second), and a tray must sleep while nothing happens.
pub async fn load(state_dir: &Path) -> Result<History, HistoryError> {
    let dir = state_dir.to_owned();
    let (tx, rx) = async_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("history read".into())
        .spawn(move || {
            let _ = tx.send_blocking(read(&dir));
        });
    if let Err(e) = spawned {
        // No thread to be had: read here rather than not at all.
        tracing::debug!("cannot start a thread to read the history: {e}");
        return read(state_dir);
    }
    match rx.recv().await {
        Ok(result) => result,
        // The thread panicked; reading here tells why, or succeeds.
        Err(_) => read(state_dir),
    }
}

/// The record of the run that started at `started_at`; none for 0 (a run
/// whose start is unknown is nobody's: see
/// [`igotchuu_dbus::follow::attribution`] for how a follower decides).
pub fn find_run(history: &History, started_at: u64) -> Option<&RunRecord> {
    if started_at == 0 {
        return None;
    }
    history
        .runs
        .iter()
        .rev()
        .find(|r| r.started_at == started_at)
}

/// The latest backup that ran (any outcome but postponed): what "Last
/// backup" means. Other operations and postponed runs are not it.
pub fn last_backup(history: &History) -> Option<&RunRecord> {
    history
        .runs
        .iter()
        .rev()
        .find(|r| r.operation == Operation::Backup && r.outcome != Outcome::Postponed)
}

/// Wakes up when `history.json` in a state directory may have changed.
pub struct HistoryWatcher {
    inotify: Async<Inotify>,
    dir: PathBuf,
    /// What is watched: the directory itself, or its parent until it exists.
    target: Target,
}

enum Target {
    Dir(WatchDescriptor),
    Parent(WatchDescriptor),
}

/// Changes to the file: it is replaced by rename, written in place, or removed.
const DIR_EVENTS: AddWatchFlags = AddWatchFlags::IN_MOVED_TO
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR);
/// The state directory appearing in its parent.
const PARENT_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_ONLYDIR);
/// The watched directory itself went away.
const GONE: AddWatchFlags = AddWatchFlags::IN_DELETE_SELF
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_IGNORED);

impl HistoryWatcher {
    /// Watches `state_dir`, or its parent while it does not exist. Fails
    /// when neither exists or inotify is unavailable.
    pub fn new(state_dir: &Path) -> io::Result<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let target = watch(&inotify, state_dir)?;
        Ok(HistoryWatcher {
            inotify: Async::new(inotify)?,
            dir: state_dir.to_owned(),
            target,
        })
    }

    /// Waits until the history may have changed: the file was replaced,
    /// written or removed, or its directory appeared or vanished. Events
    /// that arrive together count once.
    pub async fn changed(&mut self) -> io::Result<()> {
        loop {
            let events = self
                .inotify
                .read_with(|i| i.read_events().map_err(io::Error::from))
                .await?;
            let mut changed = false;
            for e in events {
                changed |= self.handle(e.wd, e.mask, e.name.as_deref())?;
            }
            // Drain what else is queued, so that a burst wakes the caller once.
            while let Ok(more) = self.inotify.get_ref().read_events() {
                for e in more {
                    changed |= self.handle(e.wd, e.mask, e.name.as_deref())?;
                }
            }
            if changed {
                return Ok(());
            }
        }
    }

    fn handle(
        &mut self,
        wd: WatchDescriptor,
        mask: AddWatchFlags,
        name: Option<&OsStr>,
    ) -> io::Result<bool> {
        match self.target {
            Target::Dir(dir_wd) if wd == dir_wd => {
                if mask.intersects(GONE) {
                    tracing::debug!("{} went away; waiting for it", self.dir.display());
                    self.rewatch()?;
                    return Ok(true);
                }
                Ok(name == Some(OsStr::new(HISTORY_FILE_NAME)))
            }
            Target::Parent(_) if name == self.dir.file_name() => {
                self.rewatch()?;
                Ok(matches!(self.target, Target::Dir(_)))
            }
            _ => Ok(false),
        }
    }

    /// Watches the directory again from scratch: after it appeared or vanished.
    fn rewatch(&mut self) -> io::Result<()> {
        let inotify = self.inotify.get_ref();
        let old = match self.target {
            Target::Dir(wd) | Target::Parent(wd) => wd,
        };
        // Already gone when the directory was removed; that error is fine.
        let _ = inotify.rm_watch(old);
        self.target = watch(inotify, &self.dir)?;
        Ok(())
    }
}

/// Watches `dir`, or if it does not exist, its parent for it to appear.
fn watch(inotify: &Inotify, dir: &Path) -> io::Result<Target> {
    match inotify.add_watch(dir, DIR_EVENTS) {
        Ok(wd) => return Ok(Target::Dir(wd)),
        Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(with_path(e.into(), dir)),
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    let wd = inotify
        .add_watch(parent, PARENT_EVENTS)
        .map_err(|e| with_path(e.into(), parent))?;
    // It may have appeared between the two calls.
    match inotify.add_watch(dir, DIR_EVENTS) {
        Ok(dir_wd) => {
            let _ = inotify.rm_watch(wd);
            Ok(Target::Dir(dir_wd))
        }
        Err(_) => Ok(Target::Parent(wd)),
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot watch {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_lite::future;
    use igotchuu_dbus::history::RunRecord;

    use super::*;

    fn record(started_at: u64) -> RunRecord {
        RunRecord {
            places: vec!["/home".into()],
            ..RunRecord::new(
                igotchuu_dbus::Operation::Backup,
                Outcome::Completed,
                started_at,
                started_at + 5,
            )
        }
    }

    fn history(starts: &[u64]) -> History {
        let mut h = History::default();
        for &s in starts {
            h.push(record(s));
        }
        h
    }

    /// As the helper does: a temporary file renamed over the old one.
    fn write_atomically(dir: &Path, h: &History) {
        let tmp = dir.join("history.json.tmp-1");
        std::fs::write(&tmp, serde_json::to_vec(h).unwrap()).unwrap();
        std::fs::rename(tmp, dir.join(HISTORY_FILE_NAME)).unwrap();
    }

    /// `changed()`, or `None` if it did not come within a second.
    fn changed_within(w: &mut HistoryWatcher) -> Option<io::Result<()>> {
        async_io::block_on(future::or(async { Some(w.changed().await) }, async {
            async_io::Timer::after(Duration::from_secs(1)).await;
            None
        }))
    }

    #[test]
    fn reads_what_the_helper_writes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), History::default(), "no file yet");
        let h = history(&[10, 20, 30]);
        write_atomically(dir.path(), &h);
        assert_eq!(read(dir.path()).unwrap(), h);
        assert_eq!(async_io::block_on(load(dir.path())).unwrap(), h);
        assert_eq!(find_run(&h, 20).unwrap().started_at, 20);
        assert!(find_run(&h, 0).is_none(), "an unknown start is no run's");
        assert!(find_run(&h, 25).is_none());
        let mut with_others = h.clone();
        with_others.push(RunRecord {
            operation: Operation::Check,
            ..record(40)
        });
        with_others.push(RunRecord {
            outcome: Outcome::Postponed,
            ..record(50)
        });
        assert_eq!(last_backup(&with_others).unwrap().started_at, 30);
    }

    #[test]
    fn wakes_for_the_rename_and_only_for_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = HistoryWatcher::new(dir.path()).unwrap();
        std::fs::write(dir.path().join("journal.json"), b"{}").unwrap();
        assert!(changed_within(&mut w).is_none(), "another file");
        write_atomically(dir.path(), &history(&[1]));
        assert!(changed_within(&mut w).unwrap().is_ok());
        // The temporary file's writes and the rename came as one wake-up.
        assert!(changed_within(&mut w).is_none());
        std::fs::remove_file(dir.path().join(HISTORY_FILE_NAME)).unwrap();
        assert!(changed_within(&mut w).unwrap().is_ok());
    }

    #[test]
    fn follows_the_directory_appearing_and_vanishing() {
        let parent = tempfile::tempdir().unwrap();
        let state = parent.path().join("igotchuu");
        let mut w = HistoryWatcher::new(&state).unwrap();
        std::fs::create_dir(parent.path().join("other")).unwrap();
        assert!(changed_within(&mut w).is_none(), "another directory");
        std::fs::create_dir(&state).unwrap();
        assert!(changed_within(&mut w).unwrap().is_ok(), "it appeared");
        write_atomically(&state, &history(&[1]));
        assert!(changed_within(&mut w).unwrap().is_ok(), "now watched");
        std::fs::remove_dir_all(&state).unwrap();
        assert!(changed_within(&mut w).unwrap().is_ok(), "it vanished");
        std::fs::create_dir(&state).unwrap();
        assert!(changed_within(&mut w).unwrap().is_ok(), "and came back");
        write_atomically(&state, &history(&[2]));
        assert!(changed_within(&mut w).unwrap().is_ok());
    }
}
