//! Restoring files of a snapshot (issue 13): into a folder as the caller
//! (`Restore`, `igotchuu restore --target`), or over the originals as root
//! (`RestoreInPlace`, `igotchuu restore --in-place`).
//!
//! The arguments come from the bus or the command line and are untrusted:
//! [`args`] checks them before anything runs. The copy into a folder is
//! made by [`copier`] in a child with the caller's user and groups
//! ([`as_caller`]), who also picks the copy's name; the
//! operation itself (`run::restore`) is a run like a backup.

pub mod args;
pub mod as_caller;
pub mod copier;
pub mod guard;
pub mod list;
pub mod progress;

use std::path::PathBuf;

use igotchuu_dbus::SnapshotInfo;

/// Whose the copy is: the user and groups the copier runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Credentials {
    pub fn root() -> Self {
        Credentials {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
        }
    }
}

/// Where the files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Into `dest` (made by the copy: it does not exist yet), as `user`.
    Copy { dest: PathBuf, user: Credentials },
    /// Over the originals, as root.
    InPlace,
}

/// A restore whose arguments were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreJob {
    pub snapshot: SnapshotInfo,
    /// Absolute, normalized, inside one of the snapshot's paths.
    pub path: PathBuf,
    pub kind: Kind,
}

impl RestoreJob {
    /// restic's short id, as `restic mount` names the snapshot in `ids/`.
    pub fn short_id(&self) -> &str {
        self.snapshot.id.get(..8).unwrap_or(&self.snapshot.id)
    }

    /// Where the files go: the copy's folder, or the path itself.
    pub fn destination(&self) -> &std::path::Path {
        match &self.kind {
            Kind::Copy { dest, .. } => dest,
            Kind::InPlace => &self.path,
        }
    }
}
