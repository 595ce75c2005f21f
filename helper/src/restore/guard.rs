//! Where root may write by path: only into trees nobody but root can
//! change. restic restoring in place, and a copier running as root, write
//! by path and follow symlinks above what they write; a user who can change
//! a folder on the way (rename it, put a symlink there) could send root's
//! writes, chowns and chmods anywhere. So every existing folder from `/`
//! down must be root's and not writable by its group or others (a sticky
//! `/tmp` too: its missing names can be made by anyone).
//!
//! A symlink on the way is accepted only when root owns it (its folder is
//! already known to be root-only); then what it points to is checked the
//! same way, from `/`.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The most folders looked at below a path restored in place.
pub const MAX_FOLDERS: usize = 100_000;
/// The most symlinks followed on the way to a path.
const MAX_LINKS: u32 = 8;

/// Why a tree is not root's alone: the first offending path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRootOnly {
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for NotRootOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}", self.path, self.why)
    }
}

fn owner(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

fn refuse(path: &Path, why: String) -> NotRootOnly {
    NotRootOnly {
        path: path.to_owned(),
        why,
    }
}

/// `meta` of `path` is root's and, if a folder, writable by root alone.
fn root_only(path: &Path, meta: &std::fs::Metadata) -> Result<(), NotRootOnly> {
    if meta.uid() != 0 {
        return Err(refuse(path, format!("is owned by {}", owner(meta.uid()))));
    }
    if meta.is_dir() && meta.mode() & 0o022 != 0 {
        return Err(refuse(
            path,
            format!(
                "is writable by others than root (mode {:o})",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

fn unreadable(path: &Path, e: io::Error) -> NotRootOnly {
    refuse(path, format!("cannot be checked: {e}"))
}

/// Checks `path` and every existing folder above it (see the module). A
/// missing path is fine when the last folder that exists is root-only:
/// nobody else can make what is missing. Returns what `path` is, if it
/// exists (its real location, symlinks resolved, and its metadata).
pub fn check_path(path: &Path) -> Result<Option<(PathBuf, std::fs::Metadata)>, NotRootOnly> {
    check_path_at(path, 0)
}

fn check_path_at(
    path: &Path,
    links: u32,
) -> Result<Option<(PathBuf, std::fs::Metadata)>, NotRootOnly> {
    let root = Path::new("/");
    let meta = std::fs::symlink_metadata(root).map_err(|e| unreadable(root, e))?;
    root_only(root, &meta)?;
    let mut real = root.to_path_buf();
    let mut last = meta;
    for component in path.components() {
        let name = match component {
            Component::RootDir => continue,
            Component::Normal(n) => n,
            _ => return Err(refuse(path, "is not a normalized path".into())),
        };
        let next = real.join(name);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(&next, e)),
        };
        if meta.file_type().is_symlink() {
            if meta.uid() != 0 {
                return Err(refuse(
                    &next,
                    format!("is a symlink owned by {}", owner(meta.uid())),
                ));
            }
            if links >= MAX_LINKS {
                return Err(refuse(&next, "is one symlink too many".into()));
            }
            let target = std::fs::canonicalize(&next).map_err(|e| unreadable(&next, e))?;
            match check_path_at(&target, links + 1)? {
                Some((resolved, m)) => {
                    real = resolved;
                    last = m;
                }
                // Dangling: a write there would make the target.
                None => return Err(refuse(&next, "points to nothing".into())),
            }
            continue;
        }
        if !last.is_dir() {
            return Err(refuse(&real, "is not a folder".into()));
        }
        root_only(&next, &meta)?;
        real = next;
        last = meta;
    }
    Ok(Some((real, last)))
}

/// [`check_path`], and when `path` is a folder, every folder below it,
/// up to [`MAX_FOLDERS`], never following symlinks.
pub fn check_tree(path: &Path) -> Result<(), NotRootOnly> {
    let Some((real, meta)) = check_path(path)? else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Ok(());
    }
    let mut folders = vec![real];
    let mut seen = 0usize;
    while let Some(dir) = folders.pop() {
        seen += 1;
        if seen > MAX_FOLDERS {
            return Err(refuse(
                path,
                format!("holds more than {MAX_FOLDERS} folders to check"),
            ));
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(&dir, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| unreadable(&entry.path(), e))?;
            if !kind.is_dir() {
                continue;
            }
            let child = entry.path();
            let meta = std::fs::symlink_metadata(&child).map_err(|e| unreadable(&child, e))?;
            root_only(&child, &meta)?;
            folders.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn is_root() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[test]
    fn a_sticky_tmp_is_not_root_only() {
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        let e = check_path(&tmp.path().join("x")).unwrap_err();
        assert_eq!(e.path, Path::new("/tmp"));
        assert!(e.to_string().contains("writable by others"), "{e}");
    }

    #[test]
    fn root_only_trees_pass_and_a_writable_folder_below_does_not() {
        if !is_root() {
            return;
        }
        let top = tempfile::tempdir_in("/run").unwrap();
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let sub = top.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        check_tree(top.path()).unwrap();
        check_path(&sub.join("missing/deeper")).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(check_tree(top.path()).unwrap_err().path, sub);
        // A root symlink in a root-only folder leads to a checked place.
        std::os::unix::fs::symlink(&sub, top.path().join("link")).unwrap();
        assert_eq!(
            check_path(&top.path().join("link/x")).unwrap_err().path,
            sub
        );
    }
}
