//! The helper's private mount namespace: the backup view (see `view`)
//! exists only here, and vanishes with the process.

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("cannot create a private mount namespace: {0} (igotchuu must run as root, and systemd units need RestrictNamespaces=mnt)")]
    Unshare(nix::Error),
    #[error("cannot make / a private mount in the new namespace: {0}")]
    MakePrivate(nix::Error),
}

/// Moves this process into a new mount namespace whose mounts do not
/// propagate back to the host.
///
/// Must be called while the process has a single thread: `unshare` on a
/// multi-threaded process moves only the calling thread.
pub fn enter_private() -> Result<(), NamespaceError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(NamespaceError::Unshare)?;
    // The raw syscall keeps the host's shared propagation; without this the
    // bind mounts would leak to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(NamespaceError::MakePrivate)
}
