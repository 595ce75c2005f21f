//! Checking a restore's arguments. Every message names the argument, so
//! that a client can say which one is wrong.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use igotchuu_dbus::SnapshotInfo;

use super::{as_caller, guard, Credentials, Kind, RestoreJob};
use crate::restic::message::clean_text;
use crate::restic::snapshots::{self, ResolveError};

/// The longest path argument taken.
const MAX_PATH: usize = 4096;
/// How many "NAME (restored N)" are tried before giving up.
pub const MAX_RESTORED_NAMES: u32 = 1000;

/// A wrong argument: its name, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{argument}: {why}")]
pub struct BadArgument {
    pub argument: &'static str,
    pub why: String,
}

pub(super) fn bad(argument: &'static str, why: impl Into<String>) -> BadArgument {
    BadArgument {
        argument,
        why: why.into(),
    }
}

/// An absolute, normalized path: no `.` or `..`, no empty components, no
/// trailing slash, no NUL.
pub fn absolute(argument: &'static str, text: &str) -> Result<PathBuf, BadArgument> {
    let shown = clean_text(text, 200);
    if text.len() > MAX_PATH || text.contains('\0') {
        return Err(bad(argument, format!("{shown:?} is not a path")));
    }
    // A newline or an escape would forge lines in the journal and on
    // terminals; no real file worth restoring needs one.
    if text.chars().any(char::is_control) {
        return Err(bad(
            argument,
            format!("{text:?} holds a control character (such as a newline)"),
        ));
    }
    let path = Path::new(text);
    if !path.is_absolute() {
        return Err(bad(argument, format!("{shown:?} is not an absolute path")));
    }
    let normal = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let rebuilt: PathBuf = path.components().collect();
    if !normal || rebuilt.as_os_str() != path.as_os_str() {
        return Err(bad(
            argument,
            format!("{shown:?} is not normalized (no \".\", \"..\", \"//\" or trailing \"/\")"),
        ));
    }
    Ok(path.to_owned())
}

/// What can be checked without the repository: the form of each argument.
pub fn check_form(
    snapshot: &str,
    path: &str,
    target: Option<&str>,
) -> Result<(String, PathBuf, Option<PathBuf>), BadArgument> {
    if snapshot.chars().any(char::is_control) {
        return Err(bad(
            "snapshot",
            format!("{snapshot:?} is not a snapshot id"),
        ));
    }
    let id = snapshots::check_id(snapshot).map_err(|e| bad("snapshot", e.to_string()))?;
    let path = absolute("path", path)?;
    let target = target.map(|t| absolute("target", t)).transpose()?;
    Ok((id, path, target))
}

/// The snapshot `id` names in `list`, with `path` inside one of its paths.
pub fn resolve(list: &[SnapshotInfo], id: &str, path: &Path) -> Result<SnapshotInfo, BadArgument> {
    let snapshot = snapshots::resolve(list, id).map_err(|e| match e {
        ResolveError::Malformed(_) | ResolveError::Unknown(_) | ResolveError::Ambiguous(_) => {
            bad("snapshot", e.to_string())
        }
    })?;
    // restic mount names a snapshot by its first 8 digits in ids/: two
    // that share them are one name there.
    let short = &snapshot.id[..8.min(snapshot.id.len())];
    if list
        .iter()
        .any(|s| s.id != snapshot.id && s.id.starts_with(short))
    {
        return Err(bad(
            "snapshot",
            format!("another snapshot's id also begins with {short}: restore it with restic"),
        ));
    }
    if !snapshot.paths.iter().any(|p| path.starts_with(p)) {
        return Err(bad(
            "path",
            format!(
                "{:?} is not in snapshot {} (it holds {})",
                path,
                &snapshot.id[..8.min(snapshot.id.len())],
                snapshot.paths.join(", ")
            ),
        ));
    }
    Ok(snapshot.clone())
}

/// Where a copy of `path` goes in `target`: `target/NAME`, or
/// `target/NAME (restored N)` if that is there. `target` must be a folder.
/// Looked at by whoever calls this: for a user, only as that user
/// ([`super::as_caller::destination`]).
pub fn destination(target: &Path, path: &Path) -> Result<PathBuf, BadArgument> {
    let name = copy_name(path)?;
    let slot = free_slot(target, name)?;
    Ok(slot_path(target, name, slot))
}

/// The name a copy of `path` is made under.
pub fn copy_name(path: &Path) -> Result<&OsStr, BadArgument> {
    path.file_name().ok_or_else(|| {
        bad(
            "path",
            "/ has no name to restore it under; restore a folder in it",
        )
    })
}

/// `target/NAME` for slot 0, `target/NAME (restored N)` for slot N.
pub fn slot_path(target: &Path, name: &OsStr, slot: u32) -> PathBuf {
    if slot == 0 {
        return target.join(name);
    }
    target.join(format!("{} (restored {slot})", name.to_string_lossy()))
}

/// The first slot (see [`slot_path`]) with nothing there, in the folder
/// `target`.
pub fn free_slot(target: &Path, name: &OsStr) -> Result<u32, BadArgument> {
    match std::fs::metadata(target) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad("target", format!("{target:?} is not a folder"))),
        Err(e) => {
            // The units have PrivateTmp=yes: their /tmp and /var/tmp are not
            // the caller's.
            let hint = if [Path::new("/tmp"), Path::new("/var/tmp")]
                .iter()
                .any(|t| target.starts_with(t))
            {
                "; a restore from the desktop cannot go to /tmp or /var/tmp, which the \
                 helper's service has of its own: choose a folder in your home"
            } else {
                ""
            };
            return Err(bad("target", format!("{target:?}: {e}{hint}")));
        }
    }
    // Whoever looks must be able to make the copy there: else a name that
    // cannot be looked at would seem free.
    nix::unistd::access(
        target,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(|e| bad("target", format!("{target:?}: {}", std::io::Error::from(e))))?;
    for slot in 0..=MAX_RESTORED_NAMES {
        let candidate = slot_path(target, name, slot);
        match std::fs::symlink_metadata(&candidate) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(slot),
            Err(e) => return Err(bad("target", format!("{candidate:?}: {e}"))),
        }
    }
    Err(bad(
        "target",
        format!(
            "{} already holds {MAX_RESTORED_NAMES} restored copies of {}",
            target.display(),
            name.to_string_lossy()
        ),
    ))
}

/// Refuses a snapshot of another machine: its files' owners are that
/// machine's uids, and its paths that machine's.
fn this_host(snapshot: &SnapshotInfo, host: &str) -> Result<(), BadArgument> {
    if snapshot.hostname == host {
        return Ok(());
    }
    Err(bad(
        "snapshot",
        format!(
            "snapshot {} was taken on host {:?}, not on this one ({host:?}): only root's \
             igotchuu restore --target restores another machine's files",
            &snapshot.id[..8.min(snapshot.id.len())],
            snapshot.hostname
        ),
    ))
}

/// A checked restore into `target` as `user`. A user restores only this
/// machine's snapshots (`host`); root, into a folder only root can change
/// (its copier writes by path).
pub fn copy_job(
    list: &[SnapshotInfo],
    id: &str,
    path: &Path,
    target: &Path,
    user: Credentials,
    host: &str,
) -> Result<RestoreJob, BadArgument> {
    let snapshot = resolve(list, id, path)?;
    if user.uid != 0 {
        this_host(&snapshot, host)?;
    } else {
        root_target(target)?;
    }
    // As the user: root looking would tell them what is in folders they
    // may not read.
    let dest = as_caller::destination(&user, target, path)?;
    Ok(RestoreJob {
        snapshot,
        path: path.to_owned(),
        kind: Kind::Copy { dest, user },
    })
}

/// A root copier's target: a folder nobody but root can change.
pub fn root_target(target: &Path) -> Result<(), BadArgument> {
    guard::check_path(target).map_err(|e| {
        bad(
            "target",
            format!(
                "{e}: a restore as root goes only into a folder nobody but root can \
                 change, such as /root/restored; or let the user restore it"
            ),
        )
    })?;
    Ok(())
}

/// A path restored in place: in a tree nobody but root can change.
pub fn in_place_tree(path: &Path) -> Result<(), BadArgument> {
    guard::check_tree(path).map_err(|e| {
        bad(
            "path",
            format!(
                "{e}: only what nobody but root can change is restored in place; restore it \
                 into a folder instead (Restore / igotchuu restore --target), as its owner"
            ),
        )
    })
}

/// A checked restore over the originals: this machine's snapshot, into a
/// tree only root can change.
pub fn in_place_job(
    list: &[SnapshotInfo],
    id: &str,
    path: &Path,
    host: &str,
) -> Result<RestoreJob, BadArgument> {
    let snapshot = resolve(list, id, path)?;
    this_host(&snapshot, host)?;
    in_place_tree(path)?;
    Ok(RestoreJob {
        snapshot,
        path: path.to_owned(),
        kind: Kind::InPlace,
    })
}

/// The caller's user and groups: the uid and groups the bus took from the
/// kernel for the caller's connection, never more. The primary group is
/// the account database's if the caller still has it, else the first of
/// their groups (the bus does not say which one is primary). A bus that
/// does not tell the groups is not guessed for from the account database:
/// that would give back groups the caller dropped.
pub fn credentials(uid: u32, bus_groups: Option<&[u32]>) -> Result<Credentials, String> {
    let Some(groups) = bus_groups.filter(|g| !g.is_empty()) else {
        return Err(format!("the bus does not tell the groups of uid {uid}"));
    };
    let primary = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.gid.as_raw());
    let gid = match primary {
        Some(g) if groups.contains(&g) => g,
        _ => groups[0],
    };
    Ok(Credentials {
        uid,
        gid,
        groups: groups.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SnapshotInfo {
        SnapshotInfo {
            id: format!("abcdef01{}", "0".repeat(56)),
            paths: vec!["/home".into(), "/srv/data".into()],
            ..SnapshotInfo::default()
        }
    }

    #[test]
    fn paths_are_absolute_and_normalized() {
        assert!(absolute("path", "/home/a b/c").is_ok());
        assert!(absolute("path", "/").is_ok());
        for wrong in [
            "home",
            "",
            "/home/../etc",
            "/home/./a",
            "/home//a",
            "/home/",
            "/a\0b",
            "/home/a\nb",
            "/home/\u{1b}[31m",
        ] {
            let e = absolute("path", wrong).unwrap_err();
            assert_eq!(e.argument, "path", "{wrong}");
        }
        assert_eq!(absolute("target", "tmp").unwrap_err().argument, "target");
    }

    #[test]
    fn the_form_is_checked_argument_by_argument() {
        assert_eq!(
            check_form("xyz", "/home", None).unwrap_err().argument,
            "snapshot"
        );
        assert_eq!(
            check_form("abcdef01", "/home/..", None)
                .unwrap_err()
                .argument,
            "path"
        );
        assert_eq!(
            check_form("abcdef01", "/home", Some("rel"))
                .unwrap_err()
                .argument,
            "target"
        );
        let (id, path, target) = check_form("ABCDEF01", "/home/u", Some("/tmp")).unwrap();
        assert_eq!(
            (id.as_str(), path, target),
            ("abcdef01", "/home/u".into(), Some("/tmp".into()))
        );
    }

    #[test]
    fn the_path_must_be_in_the_snapshot() {
        let list = [snapshot()];
        assert!(resolve(&list, "abcdef01", Path::new("/home/u/x")).is_ok());
        assert!(resolve(&list, "abcdef01", Path::new("/srv/data")).is_ok());
        let e = resolve(&list, "abcdef01", Path::new("/homework")).unwrap_err();
        assert_eq!(e.argument, "path");
        assert_eq!(
            resolve(&list, "12345678", Path::new("/home"))
                .unwrap_err()
                .argument,
            "snapshot"
        );
    }

    #[test]
    fn the_groups_are_the_buss_never_the_account_databases() {
        assert!(credentials(0, None).is_err());
        assert!(credentials(0, Some(&[])).is_err());
        // root's primary group 0, kept when the caller has it.
        let c = credentials(0, Some(&[5, 0])).unwrap();
        assert_eq!((c.gid, c.groups), (0, vec![5, 0]));
        // Dropped: the primary group is one the caller has.
        let c = credentials(0, Some(&[5, 7])).unwrap();
        assert_eq!((c.gid, c.groups), (5, vec![5, 7]));
    }

    #[test]
    fn a_short_id_shared_by_two_snapshots_is_refused() {
        let mut other = snapshot();
        other.id = format!("abcdef01{}", "1".repeat(56));
        let list = [snapshot(), other];
        let e = resolve(&list, &snapshot().id, Path::new("/home")).unwrap_err();
        assert_eq!(e.argument, "snapshot");
    }

    #[test]
    fn a_copy_never_lands_on_what_is_there() {
        let tmp = tempfile::tempdir().unwrap();
        let first = destination(tmp.path(), Path::new("/home/u/notes")).unwrap();
        assert_eq!(first, tmp.path().join("notes"));
        std::fs::write(&first, "").unwrap();
        let second = destination(tmp.path(), Path::new("/home/u/notes")).unwrap();
        assert_eq!(second, tmp.path().join("notes (restored 1)"));
        std::os::unix::fs::symlink("/nowhere", &second).unwrap();
        assert_eq!(
            destination(tmp.path(), Path::new("/home/u/notes")).unwrap(),
            tmp.path().join("notes (restored 2)")
        );
        assert_eq!(
            destination(&first, Path::new("/x")).unwrap_err().argument,
            "target"
        );
        assert_eq!(
            destination(&tmp.path().join("missing"), Path::new("/x"))
                .unwrap_err()
                .argument,
            "target"
        );
        assert_eq!(
            destination(tmp.path(), Path::new("/"))
                .unwrap_err()
                .argument,
            "path"
        );
    }
}
