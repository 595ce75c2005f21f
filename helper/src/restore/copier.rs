//! `igotchuu restore-copy` (hidden; SOURCE and DEST in the environment,
//! `as_caller::COPY`): the copy of a restore
//! into a folder, run by the helper as the caller (their uid, gid and
//! groups, no capabilities, no_new_privs). SOURCE is in the repository's
//! FUSE mount, which keeps the kernel's permission checks, so the copy
//! reads only what the caller could read of the originals, and what it
//! makes is theirs.
//!
//! - First of all it makes itself undumpable: it runs as the caller, who
//!   could otherwise ptrace it or open `/proc/<pid>/root` into the
//!   helper's private mount namespace.
//! - SOURCE is `<mount>/ids/<id>/<path>`: `<path>` is resolved beneath the
//!   snapshot's folder without following any symlink (`openat2` with
//!   `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), so a symlink in the snapshot
//!   never leads out of it into the live file system.
//! - Everything is read and made relative to folder descriptors, never
//!   following a symlink (`O_NOFOLLOW`, `fchmod`, `futimens`): a folder of
//!   DEST swapped for a symlink while the copy runs does not redirect it.
//! - What it cannot read (a file, or a folder's listing) is left out and
//!   counted, never fatal.
//! - Symlinks are made as symlinks, never followed. Modes are kept without
//!   the setuid and setgid bits, mtimes are kept. Special files (devices,
//!   fifos, sockets) are left out and counted, and said apart
//!   ([`Special`](super::progress::Special)); one as SOURCE itself fails.
//! - DEST must not exist: it is made, never overwritten.
//!
//! It reports on stdout, one short line each ([`Line`]): the totals
//! first, then what is done, at most every [`REPORT_EVERY`].

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{
    fchmod, fstat, futimens, mkdirat, openat, openat2, readlinkat, symlinkat, unlinkat, utimensat,
    AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps, CWD,
};

use super::progress::{Line, Special};

/// How often progress is reported at most.
const REPORT_EVERY: Duration = Duration::from_millis(200);
/// The copy buffer.
const CHUNK: usize = 1 << 20;
/// Folders deeper than this are left out (and counted): a bound on the
/// recursion, far beyond real trees.
const MAX_DEPTH: usize = 256;

/// Exit codes: 0 done (with or without skipped items), 1 failed.
pub fn run(source: &Path, dest: &Path) -> u8 {
    let mut out = io::stdout().lock();
    if let Err(e) = forbid_dumping() {
        let _ = writeln!(
            out,
            "{}",
            Line::Failed(format!("cannot make the copy undumpable: {e}"))
        );
        return 1;
    }
    let result = start(source, dest, &mut out);
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(out, "{}", Line::Failed(e.to_string()));
            1
        }
    }
}

/// The copy runs as the caller: without this, they could ptrace it, or
/// open `/proc/<pid>/root` and its other files (which would then be
/// theirs) into the helper's private mount namespace.
pub(super) fn forbid_dumping() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn start(source: &Path, dest: &Path, out: &mut impl Write) -> io::Result<()> {
    let (root, inside) = split_snapshot(source);
    let root = openat(
        CWD,
        &root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let shown = Path::new("/").join(&inside);
    // One answer whether it is not there or not readable: the caller
    // learns no more of what they may not read.
    let hidden = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT | libc::EACCES | libc::ELOOP | libc::EXDEV | libc::ENOTDIR) => {
            io::Error::other(format!(
                "{} is not in the snapshot, or you may not read it \
                 (a path through a symbolic link in the snapshot is not followed)",
                shown.display()
            ))
        }
        _ => io::Error::other(format!("{}: {e}", shown.display())),
    };
    let stat = open_beneath(root.as_fd(), &inside, OFlags::PATH)
        .and_then(|fd| Ok(fstat(&fd)?))
        .map_err(hidden)?;
    // O_PATH needs no read permission: a file or folder the caller may not
    // read must get the same answer as one that is not there.
    let readable = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Some(OFlags::RDONLY),
        FileType::Directory => Some(OFlags::RDONLY | OFlags::DIRECTORY),
        _ => None,
    };
    if let Some(flags) = readable {
        open_beneath(root.as_fd(), &inside, flags).map_err(hidden)?;
    }
    if let Some(kind) = special(&stat) {
        return Err(io::Error::other(format!(
            "{} is a {kind}, which a restore does not copy",
            shown.display()
        )));
    }
    let (parent, name) = match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => {
            return Err(io::Error::other(format!(
                "{}: no folder to make",
                dest.display()
            )))
        }
    };
    let parent = openat(
        CWD,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::other(format!("{}: {e}", parent.display())))?;
    let (files, bytes) = count(root.as_fd(), &inside, 0);
    let _ = writeln!(out, "{}", Line::Total { files, bytes });
    let mut copy = Copy {
        out,
        files: 0,
        bytes: 0,
        skipped: 0,
        special: 0,
        said: Instant::now(),
    };
    let result = copy.item(root.as_fd(), &inside, parent.as_fd(), name, 0, true);
    copy.report(true);
    result
}

/// SOURCE split into the snapshot's folder (`…/ids/<id>`, which the helper
/// named) and the path inside it; without `ids/<id>`, the parent and the
/// name.
fn split_snapshot(source: &Path) -> (PathBuf, PathBuf) {
    let parts: Vec<Component> = source.components().collect();
    let ids = parts
        .iter()
        .position(|c| *c == Component::Normal(OsStr::new("ids")))
        .filter(|i| i + 2 < parts.len());
    let at = match ids {
        Some(i) => i + 2,
        None => parts.len().saturating_sub(1),
    };
    let root: PathBuf = parts[..at].iter().collect();
    let inside: PathBuf = parts[at..].iter().collect();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    (root, inside)
}

/// Opens `path` beneath `dir`, following no symlink on the way or at its
/// end (with `O_PATH` a symlink at the end is opened itself).
fn open_beneath(dir: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match openat2(dir, path, flags, Mode::empty(), resolve) {
        // A seccomp filter that predates openat2 (systemd 252's in a
        // container) answers ENOSYS, or the unit's EPERM.
        Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => {
            open_by_components(dir, path, flags)
        }
        opened => Ok(opened?),
    }
}

/// [`open_beneath`] without openat2: one component at a time, each folder
/// opened with `O_NOFOLLOW`, so a symlink on the way fails (ELOOP or
/// ENOTDIR); `..` and absolute paths are refused.
fn open_by_components(dir: BorrowedFd, path: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
        }
    }
    let Some((last, folders)) = names.split_last() else {
        return Ok(openat(dir, ".", flags, Mode::empty())?);
    };
    let walk = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut here: Option<OwnedFd> = None;
    for name in folders {
        let at = here.as_ref().map_or(dir, |fd| fd.as_fd());
        here = Some(openat(at, *name, walk, Mode::empty())?);
    }
    let at = here.as_ref().map_or(dir, |fd| fd.as_fd());
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(openat(at, *last, flags, Mode::empty())?)
}

/// What a special file is, for the report; `None` for a file, folder or
/// symlink.
fn special(stat: &Stat) -> Option<&'static str> {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile | FileType::Directory | FileType::Symlink => None,
        FileType::Fifo => Some("named pipe"),
        FileType::Socket => Some("socket"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("device"),
        FileType::Unknown => Some("file of unknown type"),
    }
}

/// The names in the folder `fd`, without `.` and `..`.
fn names(fd: OwnedFd) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for entry in Dir::new(fd)? {
        let name = entry?.file_name().to_owned();
        if name.as_bytes() != b"." && name.as_bytes() != b".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn name_path(name: &CString) -> &Path {
    Path::new(OsStr::from_bytes(name.as_bytes()))
}

/// Files (symlinks included) and bytes below `path` in `dir`, what can be
/// read.
fn count(dir: BorrowedFd, path: &Path, depth: usize) -> (u64, u64) {
    let Ok(stat) = open_beneath(dir, path, OFlags::PATH).and_then(|fd| Ok(fstat(&fd)?)) else {
        return (0, 0);
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory if depth < MAX_DEPTH => {
            let Ok(fd) = open_beneath(dir, path, OFlags::RDONLY | OFlags::DIRECTORY) else {
                return (0, 0);
            };
            let Ok(list) = fd.try_clone().and_then(names) else {
                return (0, 0);
            };
            list.iter().fold((0, 0), |(f, b), name| {
                let (f2, b2) = count(fd.as_fd(), name_path(name), depth + 1);
                (f + f2, b + b2)
            })
        }
        FileType::RegularFile => (1, stat.st_size.max(0) as u64),
        FileType::Symlink => (1, 0),
        _ => (0, 0),
    }
}

struct Copy<W: Write> {
    out: W,
    files: u64,
    bytes: u64,
    /// Left out: unreadable, too deep, or special.
    skipped: u64,
    /// Of `skipped`, the special files.
    special: u64,
    said: Instant,
}

/// The mode a copy gets: the original's, without setuid and setgid.
fn kept_mode(stat: &Stat) -> Mode {
    Mode::from_raw_mode(stat.st_mode & 0o1777)
}

/// The original's mtime, as access and modification time.
fn times(stat: &Stat) -> Timestamps {
    let mtime = Timespec {
        tv_sec: stat.st_mtime as _,
        tv_nsec: stat.st_mtime_nsec as _,
    };
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

impl<W: Write> Copy<W> {
    fn report(&mut self, now: bool) {
        if now || self.said.elapsed() >= REPORT_EVERY {
            if now && self.special > 0 {
                let _ = writeln!(self.out, "{}", Special(self.special));
            }
            let line = Line::Done {
                files: self.files,
                bytes: self.bytes,
                skipped: self.skipped,
            };
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
            self.said = Instant::now();
        }
    }

    /// Copies `src` (beneath the folder `from`) to `name` in the folder
    /// `to`. Only what makes the whole copy impossible (the top item
    /// unreadable or special, `name` not makeable) is an error; below the
    /// top, what fails is skipped and counted.
    fn item(
        &mut self,
        from: BorrowedFd,
        src: &Path,
        to: BorrowedFd,
        name: &OsStr,
        depth: usize,
        top: bool,
    ) -> io::Result<()> {
        let result = self.item_inner(from, src, to, name, depth);
        match result {
            Err(e) if top => Err(e),
            Err(_) => {
                self.skipped += 1;
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn item_inner(
        &mut self,
        from: BorrowedFd,
        src: &Path,
        to: BorrowedFd,
        name: &OsStr,
        depth: usize,
    ) -> io::Result<()> {
        let at = open_beneath(from, src, OFlags::PATH)?;
        let stat = fstat(&at)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => {
                let target = readlinkat(&at, c"", Vec::new())?;
                symlinkat(target.as_c_str(), to, name)?;
                let _ = utimensat(to, name, &times(&stat), AtFlags::SYMLINK_NOFOLLOW);
                self.files += 1;
            }
            FileType::Directory => {
                if depth >= MAX_DEPTH {
                    return Err(io::Error::other("too deep"));
                }
                let list = names(open_beneath(from, src, OFlags::RDONLY | OFlags::DIRECTORY)?)?;
                mkdirat(to, name, Mode::RWXU)?;
                let made = openat(
                    to,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                fchmod(&made, Mode::RWXU)?;
                for entry in &list {
                    let entry = name_path(entry);
                    self.item(
                        at.as_fd(),
                        entry,
                        made.as_fd(),
                        entry.as_os_str(),
                        depth + 1,
                        false,
                    )?;
                }
                fchmod(&made, kept_mode(&stat))?;
                let _ = futimens(&made, &times(&stat));
            }
            FileType::RegularFile => {
                self.file(from, src, to, name, &stat)?;
                self.files += 1;
            }
            _ => {
                self.special += 1;
                return Err(io::Error::other("a special file"));
            }
        }
        self.report(false);
        Ok(())
    }

    fn file(
        &mut self,
        from: BorrowedFd,
        src: &Path,
        to: BorrowedFd,
        name: &OsStr,
        stat: &Stat,
    ) -> io::Result<()> {
        let mut input = File::from(open_beneath(from, src, OFlags::RDONLY)?);
        let mut output = File::from(openat(
            to,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?);
        let mut buf = vec![0u8; CHUNK];
        let copied = loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if let Err(e) = output.write_all(&buf[..n]) {
                break Err(e);
            }
            self.bytes += n as u64;
            self.report(false);
        };
        if let Err(e) = copied {
            // Not half a file: it is left out, and counted.
            drop(output);
            let _ = unlinkat(to, name, AtFlags::empty());
            return Err(e);
        }
        fchmod(&output, kept_mode(stat))?;
        let _ = futimens(&output, &times(stat));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::time::SystemTime;

    /// `start`, and what it said: the last `done` numbers and `special`.
    fn copy(src: &Path, dst: &Path) -> (io::Result<()>, (u64, u64, u64), u64) {
        let mut out = Vec::new();
        let result = start(src, dst, &mut out);
        let text = String::from_utf8(out).unwrap();
        let mut done = (0, 0, 0);
        let mut special = 0;
        for line in text.lines() {
            if let Some(Line::Done {
                files,
                bytes,
                skipped,
            }) = Line::parse(line)
            {
                done = (files, bytes, skipped);
            }
            if let Some(Special(n)) = Special::parse(line) {
                special = n;
            }
        }
        (result, done, special)
    }

    #[test]
    fn copies_files_folders_and_symlinks_keeping_modes_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("ids/0123abcd/src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/a"), b"hello").unwrap();
        fs::set_permissions(src.join("sub/a"), fs::Permissions::from_mode(0o4751)).unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        File::options()
            .write(true)
            .open(src.join("sub/a"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let dst = tmp.path().join("dst");
        let (result, done, special) = copy(&src, &dst);
        result.unwrap();
        assert_eq!((done, special), ((2, 5, 0), 0));
        assert_eq!(fs::read(dst.join("sub/a")).unwrap(), b"hello");
        let meta = fs::metadata(dst.join("sub/a")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o751);
        assert_eq!(meta.mtime(), 1_000_000_000);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // Never over something that is there.
        assert!(copy(&src, &dst).0.is_err());
        let (root, inside) = split_snapshot(&src);
        let root = openat(CWD, &root, OFlags::PATH, Mode::empty()).unwrap();
        assert_eq!(count(root.as_fd(), &inside, 0), (2, 5));
    }

    #[test]
    fn special_files_are_left_out_and_counted_and_fail_at_the_top() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("ids/0123abcd/src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("a"), b"x").unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(src.join("socket")).unwrap();
        let (result, done, special) = copy(&src, &tmp.path().join("dst"));
        result.unwrap();
        assert_eq!((done, special), ((1, 1, 2), 2));
        assert!(!tmp.path().join("dst/fifo").exists());
        let (result, _, _) = copy(&src.join("fifo"), &tmp.path().join("dst2"));
        let why = result.unwrap_err().to_string();
        assert!(why.contains("/src/fifo is a named pipe"), "{why}");
        assert!(!tmp.path().join("dst2").exists());
    }

    #[test]
    fn without_openat2_symlinks_and_dots_on_the_way_are_refused_too() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/f"), "x").unwrap();
        symlink("/etc", dir.path().join("a/out")).unwrap();
        let root = File::open(dir.path()).unwrap();
        let open = |p: &str| open_by_components(root.as_fd(), Path::new(p), OFlags::RDONLY);
        assert!(open("a/b/f").is_ok());
        assert!(
            open("a/out/hostname").is_err(),
            "followed a symlink on the way"
        );
        assert!(open("a/out").is_err(), "followed a symlink at the end");
        assert!(open("a/../a/b/f").is_err(), "went up");
        assert!(open("/etc/hostname").is_err(), "went to /");
        let folder = open_by_components(root.as_fd(), Path::new(""), OFlags::PATH).unwrap();
        assert!(fstat(&folder).unwrap().st_mode & libc::S_IFMT == libc::S_IFDIR);
    }

    #[test]
    fn a_symlink_in_the_snapshot_is_not_followed_out_of_it() {
        let tmp = tempfile::tempdir().unwrap();
        let snapshot = tmp.path().join("ids/0123abcd");
        fs::create_dir_all(snapshot.join("home")).unwrap();
        symlink("/", snapshot.join("home/r")).unwrap();
        symlink("..", snapshot.join("home/up")).unwrap();
        for path in ["home/r/etc/hostname", "home/r/etc", "home/up/home"] {
            let dst = tmp.path().join("dst");
            let (result, done, _) = copy(&snapshot.join(path), &dst);
            let why = result.unwrap_err().to_string();
            assert!(
                why.starts_with(&format!("/{path} is not in the snapshot")),
                "{why}"
            );
            assert_eq!(done, (0, 0, 0));
            assert!(fs::symlink_metadata(&dst).is_err(), "{path}");
        }
        // The symlink itself is copied as one.
        let dst = tmp.path().join("dst");
        copy(&snapshot.join("home/r"), &dst).0.unwrap();
        assert_eq!(fs::read_link(&dst).unwrap(), Path::new("/"));
    }

    #[test]
    fn the_snapshot_folder_is_found_in_the_source() {
        let split = |p: &str| {
            let (a, b) = split_snapshot(Path::new(p));
            (a.display().to_string(), b.display().to_string())
        };
        assert_eq!(
            split("/run/igotchuu/restore/7/ids/0123abcd/home/ids/x"),
            (
                "/run/igotchuu/restore/7/ids/0123abcd".into(),
                "home/ids/x".into()
            )
        );
        assert_eq!(split("/a/b/c"), ("/a/b".into(), "c".into()));
        assert_eq!(split("/a/ids/x"), ("/a/ids".into(), "x".into()));
    }

    #[test]
    fn the_copy_is_not_dumpable() {
        // In a child: the test process stays as it was.
        let mut child = std::process::Command::new("true");
        // SAFETY: only system calls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut child, || {
                forbid_dumping()?;
                if libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 {
                    return Err(io::Error::other("still dumpable"));
                }
                Ok(())
            });
        }
        assert!(child.status().unwrap().success());
    }
}
