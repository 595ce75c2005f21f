//! btrfs subvolume operations through the kernel's ioctls (no `btrfs` binary).
//! OWNER: btrfs agent. Signatures below are the contract the rest of the helper uses.
//!
//! The helper runs as root on paths that users can write below, so the final
//! component of every path is opened with `O_NOFOLLOW`: a symlink planted
//! there is an error (or "not a subvolume"), never followed. Every check is
//! made on the opened descriptor that the ioctl then uses.

mod ioctl;

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, BTRFS_SUPER_MAGIC};

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

fn error(action: &'static str, path: &Path, source: impl Into<io::Error>) -> BtrfsError {
    BtrfsError {
        action,
        path: path.to_owned(),
        source: source.into(),
    }
}

fn not_a_subvolume() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not the root of a btrfs subvolume",
    )
}

/// `openat(dir, path, flags | O_CLOEXEC)`; `dir == None` means the cwd.
pub(crate) fn open_at(
    dir: Option<BorrowedFd<'_>>,
    path: &Path,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    let raw = nix::fcntl::openat(
        dir.map(|d| d.as_raw_fd()),
        path,
        flags | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: `openat` just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Flags to open a directory without following a symlink in its last component.
const DIR_NOFOLLOW: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW);

/// Whether the open `fd` is the root directory of a btrfs subvolume.
fn fd_is_subvolume(fd: BorrowedFd<'_>) -> io::Result<bool> {
    if fstatfs(fd)?.filesystem_type() != BTRFS_SUPER_MAGIC {
        return Ok(false);
    }
    let st = fstat(fd.as_raw_fd())?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    // A nested subvolume inside a snapshot is an empty directory with inode 2,
    // so the inode number is what tells a subvolume root from a directory.
    Ok(is_dir && st.st_ino == ioctl::FIRST_FREE_OBJECTID)
}

/// Opens `path` (not following a final symlink) and checks it is a subvolume.
fn open_subvolume(action: &'static str, path: &Path) -> Result<OwnedFd> {
    let fd = open_at(None, path, DIR_NOFOLLOW).map_err(|e| error(action, path, e))?;
    match fd_is_subvolume(fd.as_fd()) {
        Ok(true) => Ok(fd),
        Ok(false) => Err(error(action, path, not_a_subvolume())),
        Err(e) => Err(error(action, path, e)),
    }
}

/// Splits `path` into its parent directory and a validated entry name.
fn parent_and_name(path: &Path) -> io::Result<(&Path, &OsStr)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(invalid_name("the path does not end in a name"));
    };
    check_name(name)?;
    // `Path::parent` gives "" for a bare relative name.
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    Ok((parent, name))
}

fn invalid_name(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_owned())
}

/// Refuses a name that is not one directory entry the ioctls can take.
fn check_name(name: &OsStr) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." {
        return Err(invalid_name("the name is empty, `.` or `..`"));
    }
    if bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(invalid_name("the name contains `/` or NUL"));
    }
    // The kernel's buffers hold SUBVOL_NAME_MAX bytes, but a btrfs directory
    // entry is at most VOL_NAME_MAX (255) bytes long, so that is the real limit.
    if bytes.len() > ioctl::VOL_NAME_MAX {
        return Err(invalid_name("the name is longer than 255 bytes"));
    }
    Ok(())
}

/// Copies a validated name into a NUL-terminated ioctl name buffer.
fn copy_name(buf: &mut [u8], name: &OsStr) {
    let bytes = name.as_bytes();
    // `parent_and_name` bounds the length well below every buffer.
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[bytes.len()] = 0;
}

/// The bytes of a NUL-terminated C string buffer (all of it if no NUL).
fn c_bytes(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    &buf[..end]
}

/// A uuid as the usual hyphenated lowercase string (8-4-4-4-12).
pub fn uuid_string(uuid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Whether `path` is the root directory of a btrfs subvolume.
///
/// A symlink is not followed (and so is not a subvolume); a path on another
/// filesystem is not one either. A path that cannot be opened is an error.
pub fn is_subvolume(path: &Path) -> Result<bool> {
    const ACTION: &str = "checking for a btrfs subvolume at";
    // O_PATH opens any kind of file without reading it (or blocking on a fifo).
    let fd = open_at(None, path, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(|e| error(ACTION, path, e))?;
    fd_is_subvolume(fd.as_fd()).map_err(|e| error(ACTION, path, e))
}

/// Facts about the subvolume whose root is `path`.
pub fn subvolume_info(path: &Path) -> Result<SubvolumeInfo> {
    const ACTION: &str = "reading the subvolume info of";
    let fd = open_subvolume(ACTION, path)?;
    let mut args = ioctl::GetSubvolInfoArgs::zeroed();
    ioctl::get_subvol_info(fd.as_fd(), &mut args).map_err(|e| error(ACTION, path, e))?;
    Ok(SubvolumeInfo {
        tree_id: args.treeid,
        uuid: args.uuid,
        parent_uuid: args.parent_uuid,
        read_only: args.flags & ioctl::ROOT_SUBVOL_RDONLY != 0,
    })
}

/// Creates a read-only snapshot of the subvolume `source` at `dest`.
/// `dest`'s parent must exist on the same btrfs filesystem; `dest` must not exist.
#[cfg(test)]
pub fn create_readonly_snapshot(source: &Path, dest: &Path) -> Result<()> {
    let (parent, name) =
        parent_and_name(dest).map_err(|e| error("creating a read-only snapshot at", dest, e))?;
    let dir = open_at(None, parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| error("opening the parent directory of", dest, e))?;
    create_readonly_snapshot_in(source, dir.as_fd(), name, dest)
}

/// Creates a read-only snapshot of the subvolume `source` as `name` in the
/// open directory `dir`, which the caller has checked; `dest` is its path,
/// for messages.
pub fn create_readonly_snapshot_in(
    source: &Path,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    dest: &Path,
) -> Result<()> {
    const ACTION: &str = "creating a read-only snapshot at";
    check_name(name).map_err(|e| error(ACTION, dest, e))?;
    // The kernel would snapshot the whole containing subvolume for any
    // directory inside it; insist on the subvolume root that was named.
    let src = open_subvolume("opening the snapshot source", source)?;
    let on_btrfs = fstatfs(dir)
        .map_err(|e| error("opening the parent directory of", dest, e))?
        .filesystem_type()
        == BTRFS_SUPER_MAGIC;
    if !on_btrfs {
        let e = io::Error::new(io::ErrorKind::InvalidInput, "the parent is not on btrfs");
        return Err(error(ACTION, dest, e));
    }
    let mut args = ioctl::VolArgsV2::zeroed();
    args.fd = i64::from(src.as_raw_fd());
    args.flags = ioctl::SUBVOL_RDONLY;
    copy_name(&mut args.name, name);
    // The kernel creates the entry itself and fails with EEXIST if anything
    // (a symlink included) is already there, so nothing is followed.
    ioctl::snap_create_v2(dir, &args).map_err(|e| error(ACTION, dest, e))
}

/// Opens the snapshot `name` in the open directory `dir` and checks that it
/// is what this run made: a read-only snapshot of the subvolume whose uuid
/// is `source_uuid`. `path` is its path, for messages.
pub fn open_own_snapshot_in(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    source_uuid: &[u8; 16],
) -> Result<OwnedFd> {
    const ACTION: &str = "opening the snapshot";
    let fd =
        open_at(Some(dir), Path::new(name), DIR_NOFOLLOW).map_err(|e| error(ACTION, path, e))?;
    if !fd_is_subvolume(fd.as_fd()).map_err(|e| error(ACTION, path, e))? {
        return Err(error(ACTION, path, not_a_subvolume()));
    }
    let mut args = ioctl::GetSubvolInfoArgs::zeroed();
    ioctl::get_subvol_info(fd.as_fd(), &mut args).map_err(|e| error(ACTION, path, e))?;
    let ours = args.flags & ioctl::ROOT_SUBVOL_RDONLY != 0 && &args.parent_uuid == source_uuid;
    if !ours {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not the read-only snapshot this run made",
        );
        return Err(error(ACTION, path, e));
    }
    Ok(fd)
}

/// Deletes the subvolume whose root is `path`.
///
/// Refuses (and deletes nothing) unless `path` itself, not following a final
/// symlink, is a subvolume root: a plain directory is never removed.
pub fn delete_subvolume(path: &Path) -> Result<()> {
    const ACTION: &str = "deleting the subvolume";
    let (parent, name) = parent_and_name(path).map_err(|e| error(ACTION, path, e))?;
    let dir = open_at(None, parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| error(ACTION, path, e))?;
    delete_subvolume_in(dir.as_fd(), name, path)
}

/// Deletes the subvolume `name` in the open directory `dir`, with the same
/// refusals as [`delete_subvolume`]; `path` is its path, for messages.
pub fn delete_subvolume_in(dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Result<()> {
    const ACTION: &str = "deleting the subvolume";
    check_name(name).map_err(|e| error(ACTION, path, e))?;
    // Check the entry of the very directory the ioctl will act on.
    let target =
        open_at(Some(dir), Path::new(name), DIR_NOFOLLOW).map_err(|e| error(ACTION, path, e))?;
    match fd_is_subvolume(target.as_fd()) {
        Ok(true) => {}
        Ok(false) => return Err(error(ACTION, path, not_a_subvolume())),
        Err(e) => return Err(error(ACTION, path, e)),
    }
    drop(target);

    let mut v2 = ioctl::VolArgsV2::zeroed();
    copy_name(&mut v2.name, name);
    match ioctl::snap_destroy_v2(dir, &v2) {
        // Kernels before 5.7 do not know the V2 request.
        Err(Errno::ENOTTY | Errno::EOPNOTSUPP) => {
            let mut v1 = ioctl::VolArgs::zeroed();
            copy_name(&mut v1.name, name);
            ioctl::snap_destroy(dir, &v1)
        }
        other => other,
    }
    .map_err(|e| error(ACTION, path, e))
}

/// The subvolumes nested directly below the subvolume `path` (absolute paths).
///
/// A snapshot does not contain them (each shows up as an empty directory),
/// so whoever snapshots `path` must deal with these separately.
pub fn nested_subvolumes(path: &Path) -> Result<Vec<PathBuf>> {
    const ACTION: &str = "listing the subvolumes nested in";
    let base = std::path::absolute(path).map_err(|e| error(ACTION, path, e))?;
    let fd = open_subvolume(ACTION, path)?;

    let mut refs = Vec::new();
    let mut args = ioctl::GetSubvolRootrefArgs::zeroed();
    loop {
        let more = match ioctl::get_subvol_rootref(fd.as_fd(), &mut args) {
            Ok(()) => false,
            // The buffer is full; the batch is still valid.
            Err(Errno::EOVERFLOW) => true,
            Err(e) => return Err(error(ACTION, path, e)),
        };
        let n = usize::from(args.num_items).min(ioctl::MAX_ROOTREF_BUFFER_NUM);
        let batch = &args.rootref[..n];
        refs.extend_from_slice(batch);
        // Continue after this batch's last child (an empty batch ends it).
        match batch.last() {
            Some(last) if more => args.min_treeid = last.treeid + 1,
            _ => break,
        }
    }

    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let mut lookup = ioctl::InoLookupUserArgs::zeroed();
        lookup.dirid = r.dirid;
        lookup.treeid = r.treeid;
        ioctl::ino_lookup_user(fd.as_fd(), &mut lookup)
            .map_err(|e| error("resolving a nested subvolume of", path, e))?;
        // `path` is the directory relative to `fd` ("" or "x/y/").
        let dir = Path::new(OsStr::from_bytes(c_bytes(&lookup.path)));
        let name = OsStr::from_bytes(c_bytes(&lookup.name));
        out.push(base.join(dir).join(name));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use igotchuu_e2e::{have_root, run, LoopBtrfs};
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt};
    use std::process::Command;
    use std::time::{Duration, SystemTime};

    /// The field `key` (e.g. "UUID:") of `btrfs subvolume show`.
    fn show_field(path: &Path, key: &str) -> String {
        let out = run(Command::new("btrfs").args(["subvolume", "show"]).arg(path));
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
            .trim()
            .to_owned()
    }

    fn raw_errno(e: &BtrfsError) -> Option<i32> {
        e.source.raw_os_error()
    }

    /// The error is our own "not a subvolume" refusal, made before any
    /// ioctl (the kernel's own refusals carry an errno).
    fn assert_refused_as_not_subvolume(e: &BtrfsError) {
        assert_eq!(e.source.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(e.source.raw_os_error(), None, "{e}");
        assert!(e.to_string().contains(e.path.to_str().unwrap()), "{e}");
    }

    #[test]
    fn uuid_string_is_hyphenated_lowercase() {
        let uuid = [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ];
        assert_eq!(uuid_string(&uuid), "01234567-89ab-cdef-fedc-ba9876543210");
        assert_eq!(
            uuid_string(&[0; 16]),
            "00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn snapshot_names_are_validated() {
        let ok = parent_and_name(Path::new("/a/snap")).unwrap();
        assert_eq!(ok, (Path::new("/a"), OsStr::new("snap")));
        assert_eq!(
            parent_and_name(Path::new("snap")).unwrap().0,
            Path::new(".")
        );
        let long = format!("/a/{}", "x".repeat(256));
        let nul = OsStr::from_bytes(b"/a/sn\0ap");
        for bad in [
            Path::new("/"),
            Path::new(""),
            Path::new("/a/.."),
            Path::new("."),
            Path::new(&long),
            Path::new(nul),
        ] {
            let e = parent_and_name(bad).expect_err(&format!("{bad:?} accepted"));
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(parent_and_name(Path::new(&long[..long.len() - 1])).is_ok());
    }

    #[test]
    fn btrfs_is_subvolume_tells_subvolumes_apart() {
        if !have_root("btrfs_is_subvolume_tells_subvolumes_apart") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        let plain = fs.path().join("plain");
        fs::create_dir(&plain).unwrap();
        let file = home.join("file");
        fs::write(&file, b"data").unwrap();
        let link = fs.path().join("link");
        symlink(&home, &link).unwrap();
        let tmpfs = fs.path().join("tmpfs");
        fs::create_dir(&tmpfs).unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&tmpfs));
        fs::create_dir(tmpfs.join("dir")).unwrap();

        assert!(is_subvolume(&home).unwrap());
        // The top-level subvolume (id 5) at the mount point counts too.
        assert!(is_subvolume(fs.path()).unwrap());
        assert!(!is_subvolume(&plain).unwrap());
        assert!(!is_subvolume(&file).unwrap());
        assert!(!is_subvolume(&link).unwrap(), "followed a symlink");
        assert!(!is_subvolume(Path::new("/proc")).unwrap());
        assert!(!is_subvolume(&tmpfs).unwrap());
        assert!(!is_subvolume(&tmpfs.join("dir")).unwrap());

        assert!(
            is_subvolume(Path::new("")).is_err(),
            "empty path checked the cwd"
        );
        let missing = fs.path().join("missing");
        let e = is_subvolume(&missing).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::ENOENT));
        assert!(e.to_string().contains(missing.to_str().unwrap()), "{e}");

        let e = subvolume_info(&plain).unwrap_err();
        assert_eq!(e.path, plain);
        assert_refused_as_not_subvolume(&e);
        run(Command::new("umount").arg(&tmpfs));
    }

    #[test]
    fn btrfs_snapshot_is_readonly_and_keeps_files() {
        if !have_root("btrfs_snapshot_is_readonly_and_keeps_files") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        fs::create_dir_all(home.join("docs/deep")).unwrap();
        fs::write(home.join("a.txt"), b"alpha").unwrap();
        fs::write(home.join("docs/deep/b.bin"), vec![7u8; 100_000]).unwrap();
        // An mtime in the past, so "equal" cannot just mean "both just now".
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        fs::File::options()
            .write(true)
            .open(home.join("a.txt"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let snaps = fs.path().join("snaps");
        fs::create_dir(&snaps).unwrap();
        let snap = snaps.join("home-1");

        create_readonly_snapshot(&home, &snap).unwrap();

        assert!(is_subvolume(&snap).unwrap());
        let src_info = subvolume_info(&home).unwrap();
        let snap_info = subvolume_info(&snap).unwrap();
        assert!(snap_info.read_only);
        assert!(!src_info.read_only);
        assert_eq!(src_info.parent_uuid, [0; 16]);
        assert_eq!(snap_info.parent_uuid, src_info.uuid);
        assert_ne!(snap_info.uuid, src_info.uuid);
        assert_ne!(snap_info.tree_id, src_info.tree_id);
        // Cross-check the ioctl and uuid_string against btrfs-progs.
        assert_eq!(uuid_string(&snap_info.uuid), show_field(&snap, "UUID:"));
        assert_eq!(
            uuid_string(&snap_info.parent_uuid),
            show_field(&snap, "Parent UUID:")
        );
        assert_eq!(
            snap_info.tree_id.to_string(),
            show_field(&snap, "Subvolume ID:")
        );
        assert_eq!(show_field(&snap, "Flags:"), "readonly");

        let e = fs::write(snap.join("new"), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        let e = fs::write(snap.join("a.txt"), b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));

        for rel in ["a.txt", "docs", "docs/deep", "docs/deep/b.bin"] {
            let (s, d) = (home.join(rel), snap.join(rel));
            let (ms, md) = (fs::metadata(&s).unwrap(), fs::metadata(&d).unwrap());
            assert_eq!(ms.ino(), md.ino(), "{rel} inode");
            assert_eq!(
                (ms.mtime(), ms.mtime_nsec()),
                (md.mtime(), md.mtime_nsec()),
                "{rel} mtime"
            );
            assert_eq!(
                (ms.ctime(), ms.ctime_nsec()),
                (md.ctime(), md.ctime_nsec()),
                "{rel} ctime"
            );
            assert_eq!(ms.size(), md.size(), "{rel} size");
            if ms.is_file() {
                assert_eq!(fs::read(&s).unwrap(), fs::read(&d).unwrap(), "{rel}");
            }
        }
        assert_eq!(
            fs::metadata(snap.join("a.txt"))
                .unwrap()
                .modified()
                .unwrap(),
            old
        );
        // The snapshot is frozen: later changes to the source do not show.
        fs::write(home.join("a.txt"), b"changed").unwrap();
        assert_eq!(fs::read(snap.join("a.txt")).unwrap(), b"alpha");
    }

    #[test]
    fn btrfs_snapshot_refuses_bad_sources_and_dests() {
        if !have_root("btrfs_snapshot_refuses_bad_sources_and_dests") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        let snap = fs.path().join("snap");
        create_readonly_snapshot(&home, &snap).unwrap();

        // An existing snapshot, directory or planted symlink at dest.
        let e = create_readonly_snapshot(&home, &snap).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::EEXIST));
        assert!(e.to_string().contains(snap.to_str().unwrap()), "{e}");
        let dir = fs.path().join("dir");
        fs::create_dir(&dir).unwrap();
        let e = create_readonly_snapshot(&home, &dir).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::EEXIST));
        let target = fs.path().join("target");
        fs::create_dir(&target).unwrap();
        let link = fs.path().join("link");
        symlink(&target, &link).unwrap();
        let e = create_readonly_snapshot(&home, &link).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::EEXIST));
        assert!(fs::read_dir(&target).unwrap().next().is_none());
        assert!(!is_subvolume(&dir).unwrap());

        // A plain directory inside a subvolume is not a snapshot source.
        let inner = home.join("inner");
        fs::create_dir(&inner).unwrap();
        let e = create_readonly_snapshot(&inner, &fs.path().join("s2")).unwrap_err();
        assert_eq!(e.path, inner);
        assert_refused_as_not_subvolume(&e);
        // Nor is a symlink to a subvolume.
        let home_link = fs.path().join("home-link");
        symlink(&home, &home_link).unwrap();
        let e = create_readonly_snapshot(&home_link, &fs.path().join("s3")).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::ENOTDIR));
        // A destination that does not end in a name.
        let e = create_readonly_snapshot(&home, &fs.path().join("x/..")).unwrap_err();
        assert_eq!(e.source.kind(), io::ErrorKind::InvalidInput);
        // A missing parent.
        let e = create_readonly_snapshot(&home, &fs.path().join("no/snap")).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::ENOENT));

        assert_eq!(fs.list_subvolumes(), vec!["home", "snap"]);
    }

    #[test]
    fn btrfs_delete_removes_only_subvolumes() {
        if !have_root("btrfs_delete_removes_only_subvolumes") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        fs::write(home.join("f"), b"keep").unwrap();
        let snap = fs.path().join("snap");
        create_readonly_snapshot(&home, &snap).unwrap();
        assert_eq!(fs.list_subvolumes(), vec!["home", "snap"]);

        // A plain directory (even an empty one) is refused and stays.
        let plain = fs.path().join("plain");
        fs::create_dir(&plain).unwrap();
        fs::write(plain.join("data"), b"x").unwrap();
        let e = delete_subvolume(&plain).unwrap_err();
        assert_eq!(e.path, plain);
        assert_refused_as_not_subvolume(&e);
        assert_eq!(fs::read(plain.join("data")).unwrap(), b"x");
        let empty = fs.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_refused_as_not_subvolume(&delete_subvolume(&empty).unwrap_err());
        assert!(empty.is_dir());
        // A symlink to a subvolume is not followed.
        let link = fs.path().join("link");
        symlink(&home, &link).unwrap();
        let e = delete_subvolume(&link).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::ENOTDIR));
        assert!(delete_subvolume(&home.join("f")).is_err());
        let e = delete_subvolume(&fs.path().join("missing")).unwrap_err();
        assert_eq!(raw_errno(&e), Some(libc::ENOENT));
        assert_eq!(fs.list_subvolumes(), vec!["home", "snap"]);

        delete_subvolume(&snap).unwrap();
        assert!(!snap.exists());
        assert_eq!(fs.list_subvolumes(), vec!["home"]);
        assert_eq!(fs::read(home.join("f")).unwrap(), b"keep");
    }

    #[test]
    fn btrfs_delete_succeeds_while_bind_mounted() {
        if !have_root("btrfs_delete_succeeds_while_bind_mounted") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        fs::write(home.join("f"), b"data").unwrap();
        let snap = fs.path().join("snap");
        create_readonly_snapshot(&home, &snap).unwrap();
        // What the helper does: the snapshot over the original path.
        run(Command::new("mount").arg("--bind").arg(&snap).arg(&home));
        assert_eq!(fs::read(home.join("f")).unwrap(), b"data");
        assert!(
            fs::write(home.join("g"), b"x").is_err(),
            "bind view writable"
        );

        delete_subvolume(&snap).unwrap();
        assert!(!snap.exists());
        assert_eq!(fs.list_subvolumes(), vec!["home"]);
        // The mounted view loses its contents at once (why cleanup must
        // never touch a live run's snapshots).
        assert!(
            fs::read(home.join("f")).is_err(),
            "deleted snapshot still readable"
        );
        run(Command::new("umount").arg(&home));
        assert_eq!(fs::read(home.join("f")).unwrap(), b"data");
    }

    #[test]
    fn btrfs_nested_subvolumes_lists_direct_children() {
        if !have_root("btrfs_nested_subvolumes_lists_direct_children") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        fs::create_dir_all(home.join("x/y")).unwrap();
        fs.subvolume("home/a");
        fs.subvolume("home/x/y/b");
        fs.subvolume("home/a/grandchild");
        fs.subvolume("other");

        assert_eq!(
            nested_subvolumes(&home).unwrap(),
            vec![home.join("a"), home.join("x/y/b")]
        );
        assert_eq!(
            nested_subvolumes(&home.join("a")).unwrap(),
            vec![home.join("a/grandchild")]
        );
        assert!(nested_subvolumes(&home.join("x/y/b")).unwrap().is_empty());
        assert_eq!(
            nested_subvolumes(fs.path()).unwrap(),
            vec![home.clone(), fs.path().join("other")]
        );

        // A snapshot holds no nested subvolumes, only empty placeholders.
        let snap = fs.path().join("snap");
        create_readonly_snapshot(&home, &snap).unwrap();
        assert!(nested_subvolumes(&snap).unwrap().is_empty());
        assert!(snap.join("a").is_dir());
        assert!(!is_subvolume(&snap.join("a")).unwrap());
        assert!(fs::read_dir(snap.join("x/y/b")).unwrap().next().is_none());

        // A relative path (from the cwd, which tests must not change) gives
        // absolute paths to the same places.
        let cwd = std::env::current_dir().unwrap();
        let up = "../".repeat(cwd.components().count() - 1);
        let rel = Path::new(&up).join(home.strip_prefix("/").unwrap());
        assert!(rel.is_relative());
        let got = nested_subvolumes(&rel).unwrap();
        assert!(got.iter().all(|p| p.is_absolute()), "{got:?}");
        let got: Vec<_> = got.iter().map(|p| p.canonicalize().unwrap()).collect();
        assert_eq!(got, vec![home.join("a"), home.join("x/y/b")]);

        let e = nested_subvolumes(&home.join("x")).unwrap_err();
        assert_eq!(e.path, home.join("x"));
        assert_refused_as_not_subvolume(&e);
    }

    /// More children than one GET_SUBVOL_ROOTREF batch (255) holds.
    #[test]
    fn btrfs_nested_subvolumes_reads_every_batch() {
        if !have_root("btrfs_nested_subvolumes_reads_every_batch") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        let seed = fs.subvolume("seed");
        fs::create_dir(home.join("d")).unwrap();
        let mut want = Vec::new();
        for i in 0..300 {
            // Snapshots are the quickest way to make many subvolumes here.
            let dest = home
                .join(if i % 2 == 0 { "d" } else { "" })
                .join(format!("s{i:03}"));
            create_readonly_snapshot(&seed, &dest).unwrap();
            want.push(dest);
        }
        want.sort();
        assert_eq!(nested_subvolumes(&home).unwrap(), want);
    }
}
