//! The helper's private mount namespace: the bind mounts that put each
//! snapshot over its source exist only here, and vanish with the process.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("cannot create a private mount namespace: {0} (igotchuu must run as root, and systemd units need RestrictNamespaces=mnt)")]
    Unshare(nix::Error),
    #[error("cannot make / a private mount in the new namespace: {0}")]
    MakePrivate(nix::Error),
    #[error("cannot bind-mount {snapshot} over {target}: {errno}")]
    Bind {
        snapshot: String,
        target: String,
        errno: nix::Error,
    },
    #[error("cannot unmount {target}: {errno}")]
    Unmount { target: String, errno: nix::Error },
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

/// Mounts `snapshot` over `target`, so that `target` shows the frozen view.
pub fn bind(snapshot: &Path, target: &Path) -> Result<(), NamespaceError> {
    mount(
        Some(snapshot),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|errno| NamespaceError::Bind {
        snapshot: snapshot.display().to_string(),
        target: target.display().to_string(),
        errno,
    })
}

/// Removes the bind mount on `target`; detaches it lazily if it is busy.
pub fn unbind(target: &Path) -> Result<(), NamespaceError> {
    let err = |errno| NamespaceError::Unmount {
        target: target.display().to_string(),
        errno,
    };
    match umount2(target, MntFlags::UMOUNT_NOFOLLOW) {
        Err(nix::Error::EBUSY) => {
            umount2(target, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW).map_err(err)
        }
        other => other.map_err(err),
    }
}
