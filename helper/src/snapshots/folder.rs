//! The folders snapshots are created in: only ones that root alone can change.
//!
//! A snapshot's name is predictable. In a folder that another user can
//! write, that user could take the name first (blocking every run), or swap
//! the snapshot for a subvolume of their own, which igotchuu would then back
//! up as if it were the source, and delete. So the folder that receives a
//! snapshot must be owned by root and writable by nobody else, and so must
//! each folder on the way to it (a sticky folder such as `/tmp` is fine on
//! the way: nobody but root can rename root's entries in it). Missing
//! folders are made that way, and nothing on the way is a symlink when it
//! is checked.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, mkdirat, Mode};

use crate::btrfs::open_at;

/// Mode of a snapshot folder that igotchuu makes.
const FOLDER_MODE: u32 = 0o700;

/// An open folder that only root can change.
#[derive(Debug)]
pub struct Folder {
    /// Its path, with the symlinks that root's own folders hold resolved.
    pub path: PathBuf,
    pub fd: OwnedFd,
}

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot open the snapshot folder {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot create the snapshot folder {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "{path} can be changed by {who}, so a snapshot there could be blocked or \
         swapped; igotchuu only creates snapshots in folders that root alone can change"
    )]
    Untrusted { path: PathBuf, who: String },
}

impl Folder {
    /// Opens `path` (absolute), creating the folders that are missing.
    pub fn open_or_create(path: &Path) -> Result<Folder, FolderError> {
        let (real, missing) = resolve(path)?;
        let mut folder = Folder::open(&real)?;
        for name in missing {
            folder = folder.child(&name, true)?;
            // Made by us, or by someone who was quicker: check which.
            folder.check(Trust::Receives)?;
        }
        Ok(folder)
    }

    /// Opens the existing folder `path` (absolute, free of symlinks).
    pub fn open(path: &Path) -> Result<Folder, FolderError> {
        let open_error = |source| FolderError::Open {
            path: path.to_owned(),
            source,
        };
        let root = Path::new("/");
        let fd = open_at(None, root, DIR_NOFOLLOW).map_err(open_error)?;
        let mut folder = Folder {
            path: root.to_owned(),
            fd,
        };
        let names: Vec<&OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        if path
            .components()
            .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not an absolute, plain path");
            return Err(open_error(e));
        }
        for name in names {
            // Each folder on the way only has to keep its own entries.
            folder.check(Trust::OnTheWay)?;
            folder = folder.child(name, false)?;
        }
        folder.check(Trust::Receives)?;
        Ok(folder)
    }

    /// The folder `name` in this one, made (root, 0700) if `create` and
    /// missing; not checked yet.
    fn child(&self, name: &OsStr, create: bool) -> Result<Folder, FolderError> {
        let path = self.path.join(name);
        if create {
            match mkdirat(
                Some(self.fd.as_raw_fd()),
                name,
                Mode::from_bits_truncate(FOLDER_MODE),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => {
                    return Err(FolderError::Create {
                        path,
                        source: e.into(),
                    })
                }
            }
        }
        let fd =
            open_at(Some(self.fd.as_fd()), Path::new(name), DIR_NOFOLLOW).map_err(|source| {
                FolderError::Open {
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(Folder { path, fd })
    }

    fn check(&self, trust: Trust) -> Result<(), FolderError> {
        let st = fstat(self.fd.as_raw_fd()).map_err(|e| FolderError::Open {
            path: self.path.clone(),
            source: e.into(),
        })?;
        let who = untrusted_writers(st.st_uid, st.st_gid, st.st_mode, trust);
        match who {
            None => Ok(()),
            Some(who) => Err(FolderError::Untrusted {
                path: self.path.clone(),
                who,
            }),
        }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Most symlinks followed on the way, as the kernel allows (ELOOP).
const MAX_SYMLINKS: usize = 40;

/// Splits `path` into the existing folder it leads to, with symlinks
/// resolved, and the names below it that are missing. A symlink is only
/// followed when root owns it and the folder it is in is root's alone (such
/// as Silverblue's `/home -> var/home`): one that another user could have
/// planted or changed is a refusal, never a redirection.
fn resolve(path: &Path) -> Result<(PathBuf, Vec<OsString>), FolderError> {
    let mut done = PathBuf::from("/");
    let mut rest: Vec<OsString> = names(path).into_iter().rev().collect();
    let mut hops = 0;
    while let Some(name) = rest.pop() {
        if name == ".." {
            done.pop();
            continue;
        }
        let next = done.join(&name);
        let meta = match next.symlink_metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rest.push(name);
                rest.reverse();
                return Ok((done, rest));
            }
            Err(source) => return Err(FolderError::Open { path: next, source }),
        };
        if !meta.file_type().is_symlink() {
            done = next;
            continue;
        }
        hops += 1;
        if meta.uid() != 0 || hops > MAX_SYMLINKS {
            return Err(FolderError::Untrusted {
                path: next,
                who: format!("its owner, uid {} (it is a symlink)", meta.uid()),
            });
        }
        Folder::open(&done)?;
        let target =
            std::fs::read_link(&next).map_err(|source| FolderError::Open { path: next, source })?;
        if target.is_absolute() {
            done = PathBuf::from("/");
        }
        rest.extend(names(&target).into_iter().rev());
    }
    Ok((done, Vec::new()))
}

/// The names in `path`, with `..` kept and `.` dropped.
fn names(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// What a folder is checked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// A folder on the way: others may create entries if they cannot rename
    /// or remove root's (the sticky bit).
    OnTheWay,
    /// The folder a snapshot is created in: nobody but root may add a name.
    Receives,
}

const DIR_NOFOLLOW: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW);

/// Who besides root could change a folder with this owner and mode, if anyone.
fn untrusted_writers(uid: u32, gid: u32, mode: u32, trust: Trust) -> Option<String> {
    const GROUP_WRITE: u32 = 0o020;
    const OTHER_WRITE: u32 = 0o002;
    const STICKY: u32 = 0o1000;
    if uid != 0 {
        return Some(format!("its owner, uid {uid}"));
    }
    if trust == Trust::OnTheWay && mode & STICKY != 0 {
        return None;
    }
    if mode & OTHER_WRITE != 0 {
        return Some("every user".to_owned());
    }
    if mode & GROUP_WRITE != 0 && gid != 0 {
        return Some(format!("the members of group {gid}"));
    }
    None
}

/// A snapshot's file name for a folder of igotchuu's own: the path from
/// `base` to `dest` with each `/` as `-`, so that two sources stay apart.
pub fn flat_name(dest: &Path, base: &Path) -> OsString {
    let rel = dest.strip_prefix(base).unwrap_or(dest);
    let mut name = OsString::new();
    for (i, part) in rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .enumerate()
    {
        if i > 0 {
            name.push("-");
        }
        name.push(part);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_alone_may_change_a_receiving_folder() {
        let r = Trust::Receives;
        assert_eq!(untrusted_writers(0, 0, 0o40755, r), None);
        assert_eq!(untrusted_writers(0, 0, 0o40700, r), None);
        // Group root's write bit: only root is in it on a sane system.
        assert_eq!(untrusted_writers(0, 0, 0o40775, r), None);
        assert_eq!(
            untrusted_writers(1000, 1000, 0o40700, r).as_deref(),
            Some("its owner, uid 1000")
        );
        assert_eq!(
            untrusted_writers(0, 100, 0o40775, r).as_deref(),
            Some("the members of group 100")
        );
        assert_eq!(
            untrusted_writers(0, 0, 0o41777, r).as_deref(),
            Some("every user")
        );
        // A sticky /tmp may be on the way, but never receive a snapshot.
        assert_eq!(untrusted_writers(0, 0, 0o41777, Trust::OnTheWay), None);
        assert!(untrusted_writers(1000, 0, 0o41777, Trust::OnTheWay).is_some());
    }

    #[test]
    fn flat_names_keep_sources_apart() {
        let n = |d: &str, b: &str| flat_name(Path::new(d), Path::new(b));
        assert_eq!(n("/home/alice/vms-S", "/home"), "alice-vms-S");
        assert_eq!(n("/home/vms-S", "/home"), "vms-S");
    }
}
