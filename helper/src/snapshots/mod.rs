//! The snapshots of one run, and of runs that were killed.
//!
//! [`SnapshotSet`] is a guard: whatever way the run ends (success, error,
//! signal, panic), dropping it deletes what it made, and only then forgets
//! it in the journal. Snapshots go only into folders that root alone can
//! change ([`place`]).

mod folder;
mod place;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use place::{place, Placement, OWN_FOLDER};

use crate::btrfs;
use crate::events::Notice;
use crate::state::journal::{Entry, Journal, JournalError};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Btrfs(#[from] btrfs::BtrfsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

struct Taken {
    /// The folder it is in, open: every later step goes through it, so a
    /// rename of any folder above cannot redirect them.
    folder: OwnedFd,
    name: OsString,
    snapshot: PathBuf,
    source_uuid: [u8; 16],
}

/// The snapshots this run made.
pub struct SnapshotSet {
    journal: Journal,
    taken: Vec<Taken>,
}

impl SnapshotSet {
    pub fn new(journal: Journal) -> Self {
        SnapshotSet {
            journal,
            taken: Vec::new(),
        }
    }

    /// Journals, then creates a read-only snapshot of `source` where
    /// `placement` says. Returns its index for [`SnapshotSet::open`].
    pub fn take(&mut self, source: &Path, placement: Placement) -> Result<usize, SnapshotError> {
        let Placement { folder, name } = placement;
        let snapshot = folder.path.join(&name);
        let info = btrfs::subvolume_info(source)?;
        self.journal.add(Entry {
            source: source.to_owned(),
            snapshot: snapshot.clone(),
            source_uuid: btrfs::uuid_string(&info.uuid),
        })?;
        if let Err(e) = btrfs::create_readonly_snapshot_in(source, folder.as_fd(), &name, &snapshot)
        {
            // Nothing was created: forget it again.
            let _ = self.journal.remove(&snapshot);
            return Err(e.into());
        }
        self.taken.push(Taken {
            folder: folder.fd,
            name,
            snapshot,
            source_uuid: info.uuid,
        });
        Ok(self.taken.len() - 1)
    }

    /// Opens snapshot `index`, checked to be the read-only snapshot made.
    pub fn open(&self, index: usize) -> io::Result<OwnedFd> {
        let t = &self.taken[index];
        btrfs::open_own_snapshot_in(t.folder.as_fd(), &t.name, &t.snapshot, &t.source_uuid)
            .map_err(io::Error::other)
    }

    /// Deletes every snapshot, newest first; the view must be unmounted.
    /// What cannot be deleted stays in the journal for the next run and is
    /// reported.
    pub fn release(&mut self) -> Vec<Notice> {
        let mut left = Vec::new();
        while let Some(t) = self.taken.pop() {
            match btrfs::delete_subvolume_in(t.folder.as_fd(), &t.name, &t.snapshot) {
                Ok(()) => {
                    if let Err(e) = self.journal.remove(&t.snapshot) {
                        tracing::error!("{e}");
                    }
                }
                Err(e) => left.push(Notice::SnapshotLeft {
                    path: t.snapshot,
                    error: e.to_string(),
                }),
            }
        }
        left
    }
}

impl Drop for SnapshotSet {
    fn drop(&mut self) {
        for notice in self.release() {
            tracing::error!("{notice:?}");
        }
    }
}

/// What a journal entry of a dead run turned out to be.
enum Stale {
    Deleted,
    /// The path is not there (never created, or its filesystem is not
    /// mounted yet: exec_before_snapshot may mount it).
    Missing,
    /// Something is there, but not the snapshot we journalled: never touch it.
    NotOurs(String),
}

/// Deletes the journalled snapshots of runs that were killed. Must be called
/// with the run lock held. With `last_chance`, entries whose path is missing
/// are dropped; otherwise they are kept for a later pass.
pub fn remove_stale(journal: &mut Journal, last_chance: bool) -> Vec<Notice> {
    let mut notices = Vec::new();
    for entry in journal.entries().to_vec() {
        let forget = match remove_one(&entry) {
            Ok(Stale::Deleted) => {
                notices.push(Notice::StaleSnapshotRemoved {
                    path: entry.snapshot.clone(),
                });
                true
            }
            Ok(Stale::Missing) => last_chance,
            Ok(Stale::NotOurs(why)) => {
                tracing::warn!(
                    "not deleting {}: {why}; igotchuu only deletes snapshots it made",
                    entry.snapshot.display()
                );
                true
            }
            Err(e) => {
                notices.push(Notice::SnapshotLeft {
                    path: entry.snapshot.clone(),
                    error: e.to_string(),
                });
                false
            }
        };
        if forget {
            if let Err(e) = journal.remove(&entry.snapshot) {
                tracing::error!("{e}");
            }
        }
    }
    notices
}

fn remove_one(entry: &Entry) -> Result<Stale, btrfs::BtrfsError> {
    if entry.snapshot.symlink_metadata().is_err() {
        return Ok(Stale::Missing);
    }
    if !btrfs::is_subvolume(&entry.snapshot)? {
        return Ok(Stale::NotOurs("it is not a btrfs subvolume".into()));
    }
    let info = btrfs::subvolume_info(&entry.snapshot)?;
    if !info.read_only || btrfs::uuid_string(&info.parent_uuid) != entry.source_uuid {
        return Ok(Stale::NotOurs(format!(
            "it is not a read-only snapshot of {}",
            entry.source.display()
        )));
    }
    btrfs::delete_subvolume(&entry.snapshot)?;
    Ok(Stale::Deleted)
}
