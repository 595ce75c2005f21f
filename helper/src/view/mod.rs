//! The backup view: the file tree restic reads, in the helper's private
//! mount namespace. It is the live tree with each snapshot source replaced
//! by its read-only snapshot, everything mounted below a source attached
//! again where it was, and restic's own writable folders kept live.
//!
//! Mounts are made with `open_tree(2)` and `move_mount(2)` from file
//! descriptors: a snapshot is mounted from the descriptor that was checked
//! to be this run's read-only snapshot, never from a path that could have
//! changed since.
//!
//! When `/` itself is a source, a mount over `/` would not be seen by a
//! process whose root is the old `/`, so the view is built at a folder of
//! its own and restic runs chrooted into it, with the same paths.

mod kernel;
mod live;
mod mountinfo;
mod plan;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{umount2, MntFlags};
use rustix::fs::{openat, Mode, OFlags, CWD};
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

pub use live::{live_folders, repository_folder};
pub use mountinfo::{mount_points, parse_line as parse_mount_line, MountEntry};
use plan::{Step, StepKind};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("cannot read the mount table: {0}")]
    MountTable(io::Error),
    #[error("cannot keep what is mounted at {path} in the backup: {source}")]
    Capture { path: PathBuf, source: io::Error },
    #[error("cannot mount {what} at {path}: {source}")]
    Attach {
        what: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot make the folder {path} for the backup view: {source}")]
    Staging { path: PathBuf, source: io::Error },
}

/// The view's plan, with the live mounts it needs already cloned: taken
/// before any snapshot is mounted, while the live tree is still visible.
pub struct Captured {
    steps: Vec<(Step, Option<OwnedFd>)>,
    sources: Vec<PathBuf>,
    /// The mount table the plan was made from.
    table: Vec<MountEntry>,
}

impl Captured {
    /// restic's `--exclude` options for the contents of the kernel
    /// filesystems (`/proc`, `/sys`, `/dev`, …) below `places`.
    pub fn kernel_excludes(&self, places: &[PathBuf]) -> Vec<String> {
        kernel::excludes(&self.table, places)
    }
}

/// Plans the view for `sources`, keeping `live_folders` live, and clones
/// every live mount it will attach again.
pub fn capture(sources: &[PathBuf], live_folders: &[PathBuf]) -> Result<Captured, ViewError> {
    let table = mountinfo::mounts().map_err(ViewError::MountTable)?;
    let mut live: Vec<PathBuf> = table.iter().map(|m| m.point.clone()).collect();
    live.extend_from_slice(live_folders);
    let mut steps = Vec::new();
    for step in plan::plan(sources, &live) {
        let clone = match step.kind {
            StepKind::Snapshot(_) => None,
            StepKind::Live => Some(clone_live(&step.path)?),
        };
        steps.push((step, clone));
    }
    Ok(Captured {
        steps,
        sources: sources.to_vec(),
        table,
    })
}

/// A detached copy of the live tree at `path`, with its submounts.
fn clone_live(path: &Path) -> Result<OwnedFd, ViewError> {
    open_tree(
        CWD,
        path,
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| ViewError::Capture {
        path: path.to_owned(),
        source: e.into(),
    })
}

/// The mounted view. Dropping it unmounts it.
pub struct View {
    /// Where the view's `/` is, when `/` itself is a source.
    root: Option<PathBuf>,
    /// Mount points, in the order they were made.
    mounted: Vec<PathBuf>,
}

impl View {
    /// Mounts the view. `snapshot(i)` opens the checked snapshot of source
    /// `i`. `staging` is an empty folder that root alone can write, used as
    /// the view's `/` when `/` is a source.
    pub fn build(
        captured: Captured,
        mut snapshot: impl FnMut(usize) -> io::Result<OwnedFd>,
        staging: &Path,
    ) -> Result<View, ViewError> {
        let whole_root = captured.sources.iter().any(|s| s == Path::new("/"));
        let mut view = View {
            root: None,
            mounted: Vec::new(),
        };
        if whole_root {
            std::fs::create_dir_all(staging).map_err(|source| ViewError::Staging {
                path: staging.to_owned(),
                source,
            })?;
            view.root = Some(staging.to_owned());
        }
        for (step, clone) in captured.steps {
            let target = view.target(&step.path);
            let (what, result) = match (step.kind, clone) {
                (StepKind::Snapshot(i), _) => (
                    format!("the snapshot of {}", captured.sources[i].display()),
                    snapshot(i)
                        .and_then(|fd| clone_fd(fd.as_fd()))
                        .and_then(|tree| attach(&tree, &target)),
                ),
                (StepKind::Live, Some(tree)) => match attach(&tree, &target) {
                    // Inside a nested subvolume that is not a source: its
                    // snapshot is an empty folder there, left out of the
                    // backup (and reported) anyway.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        tracing::info!(
                            "{} is in a part of the tree that the backup does not hold",
                            step.path.display()
                        );
                        continue;
                    }
                    result => ("what was there".to_owned(), result),
                },
                (StepKind::Live, None) => unreachable!("captured with a clone"),
            };
            result.map_err(|source| ViewError::Attach {
                what,
                path: step.path,
                source,
            })?;
            view.mounted.push(target);
        }
        Ok(view)
    }

    /// Where the live path `path` is in the view.
    fn target(&self, path: &Path) -> PathBuf {
        match &self.root {
            Some(root) => root.join(path.strip_prefix("/").unwrap_or(path)),
            None => path.to_owned(),
        }
    }

    /// Makes `cmd` run inside the view: chrooted into it when `/` is a
    /// source (the paths stay the same), as it is otherwise.
    pub fn enter(&self, cmd: &mut Command) {
        let Some(root) = self.root.clone() else {
            return;
        };
        // SAFETY: chroot(2) and chdir(2) are async-signal-safe system calls;
        // the closure allocates nothing (the path was made before the fork).
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::chroot(&root)?;
                nix::unistd::chdir("/")?;
                Ok(())
            });
        }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // Children first; a detach takes whatever is mounted below along.
        let tops: Vec<PathBuf> = match &self.root {
            Some(root) if !self.mounted.is_empty() => vec![root.clone()],
            _ => self.mounted.iter().rev().cloned().collect(),
        };
        for target in tops {
            if let Err(e) = umount2(&target, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
                tracing::error!("cannot unmount {}: {e}", target.display());
            }
        }
    }
}

/// A detached bind of the directory `fd` is open on.
fn clone_fd(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(open_tree(
        fd,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )?)
}

/// Attaches the detached tree `tree` at `target`, whose last component is
/// never a symlink.
fn attach(tree: &OwnedFd, target: &Path) -> io::Result<()> {
    let at = openat(
        CWD,
        target,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    move_mount(
        tree,
        "",
        &at,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}
