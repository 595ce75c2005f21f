//! btrfs subvolume operations through the kernel's ioctls (no `btrfs` binary).
//! OWNER: btrfs agent. Signatures below are the contract the rest of the helper uses.

use std::path::{Path, PathBuf};

/// An operation on a path failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct BtrfsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

pub type Result<T> = std::result::Result<T, BtrfsError>;

/// Facts about one subvolume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubvolumeInfo {
    pub tree_id: u64,
    pub uuid: [u8; 16],
    /// The uuid of the subvolume this one is a snapshot of; all zero if none.
    pub parent_uuid: [u8; 16],
    pub read_only: bool,
}

/// Whether `path` is the root directory of a btrfs subvolume.
pub fn is_subvolume(path: &Path) -> Result<bool> {
    let _ = path;
    todo!()
}

/// Facts about the subvolume whose root is `path`.
pub fn subvolume_info(path: &Path) -> Result<SubvolumeInfo> {
    let _ = path;
    todo!()
}

/// Creates a read-only snapshot of the subvolume `source` at `dest`.
/// `dest`'s parent must exist on the same btrfs filesystem; `dest` must not exist.
pub fn create_readonly_snapshot(source: &Path, dest: &Path) -> Result<()> {
    let _ = (source, dest);
    todo!()
}

/// Deletes the subvolume whose root is `path`.
pub fn delete_subvolume(path: &Path) -> Result<()> {
    let _ = path;
    todo!()
}

/// The subvolumes nested directly below the subvolume `path` (absolute paths).
pub fn nested_subvolumes(path: &Path) -> Result<Vec<PathBuf>> {
    let _ = path;
    todo!()
}
