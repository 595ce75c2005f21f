//! `igotchuu restore-copy SOURCE DEST` (hidden): the copy of a restore
//! into a folder, run by the helper as the caller (their uid, gid and
//! groups, no capabilities, no_new_privs). SOURCE is in the repository's
//! FUSE mount, which keeps the kernel's permission checks, so the copy
//! reads only what the caller could read of the originals, and what it
//! makes is theirs.
//!
//! - What it cannot read (a file, or a folder's listing) is left out and
//!   counted, never fatal.
//! - Symlinks are made as symlinks, never followed. Modes are kept without
//!   the setuid and setgid bits, mtimes are kept. Other special files
//!   (devices, fifos, sockets) are left out.
//! - DEST must not exist: it is made, never overwritten.
//!
//! It reports on stdout, one short line each ([`Line`]): the totals
//! first, then what is done, at most every [`REPORT_EVERY`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::progress::Line;

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
    let (files, bytes) = count(source, 0);
    let _ = writeln!(out, "{}", Line::Total { files, bytes });
    let mut copy = Copy {
        out,
        files: 0,
        bytes: 0,
        skipped: 0,
        said: Instant::now(),
    };
    let result = copy.item(source, dest, 0, true);
    copy.report(true);
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(copy.out, "{}", Line::Failed(e.to_string()));
            1
        }
    }
}

/// Files (symlinks included) and bytes below `path`, what can be read.
fn count(path: &Path, depth: usize) -> (u64, u64) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return (0, 0);
    };
    if meta.is_dir() && depth < MAX_DEPTH {
        let Ok(entries) = fs::read_dir(path) else {
            return (0, 0);
        };
        entries.flatten().fold((0, 0), |(f, b), e| {
            let (f2, b2) = count(&e.path(), depth + 1);
            (f + f2, b + b2)
        })
    } else if meta.is_file() {
        (1, meta.len())
    } else if meta.file_type().is_symlink() {
        (1, 0)
    } else {
        (0, 0)
    }
}

struct Copy<W: Write> {
    out: W,
    files: u64,
    bytes: u64,
    skipped: u64,
    said: Instant,
}

/// The mode a copy gets: the original's, without setuid and setgid.
fn kept_mode(mode: u32) -> u32 {
    mode & 0o1777
}

fn set_mtime(path: &Path, mtime: Option<SystemTime>) {
    let Some(t) = mtime else { return };
    let Ok(since) = t.duration_since(SystemTime::UNIX_EPOCH) else {
        return;
    };
    let spec = TimeSpec::from_duration(since);
    let _ = utimensat(None, path, &spec, &spec, UtimensatFlags::NoFollowSymlink);
}

impl<W: Write> Copy<W> {
    fn report(&mut self, now: bool) {
        if now || self.said.elapsed() >= REPORT_EVERY {
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

    /// Copies `src` to `dst`. Only what makes the whole copy impossible
    /// (the top item unreadable, `dst` not makeable) is an error; below
    /// the top, what fails is skipped and counted.
    fn item(&mut self, src: &Path, dst: &Path, depth: usize, top: bool) -> io::Result<()> {
        let result = self.item_inner(src, dst, depth);
        match result {
            Err(e) if top => Err(e),
            Err(_) => {
                self.skipped += 1;
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    fn item_inner(&mut self, src: &Path, dst: &Path, depth: usize) -> io::Result<()> {
        let meta = fs::symlink_metadata(src)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            symlink(fs::read_link(src)?, dst)?;
            set_mtime(dst, meta.modified().ok());
            self.files += 1;
        } else if kind.is_dir() {
            if depth >= MAX_DEPTH {
                return Err(io::Error::other("too deep"));
            }
            let entries = fs::read_dir(src)?;
            fs::DirBuilder::new().create(dst)?;
            fs::set_permissions(dst, fs::Permissions::from_mode(0o700))?;
            for entry in entries {
                match entry {
                    Ok(e) => self.item(&e.path(), &dst.join(e.file_name()), depth + 1, false)?,
                    Err(_) => self.skipped += 1,
                }
            }
            fs::set_permissions(dst, fs::Permissions::from_mode(kept_mode(meta.mode_bits())))?;
            set_mtime(dst, meta.modified().ok());
        } else if kind.is_file() {
            self.file(src, dst, &meta)?;
            self.files += 1;
        }
        self.report(false);
        Ok(())
    }

    fn file(&mut self, src: &Path, dst: &Path, meta: &fs::Metadata) -> io::Result<()> {
        let mut from = File::open(src)?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dst)?;
        let mut buf = vec![0u8; CHUNK];
        let copied = loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if let Err(e) = to.write_all(&buf[..n]) {
                break Err(e);
            }
            self.bytes += n as u64;
            self.report(false);
        };
        if let Err(e) = copied {
            // Not half a file: it is left out, and counted.
            drop(to);
            let _ = fs::remove_file(dst);
            return Err(e);
        }
        to.set_permissions(fs::Permissions::from_mode(kept_mode(meta.mode_bits())))?;
        if let Ok(t) = meta.modified() {
            let _ = to.set_modified(t);
        }
        Ok(())
    }
}

trait ModeBits {
    fn mode_bits(&self) -> u32;
}

impl ModeBits for fs::Metadata {
    fn mode_bits(&self) -> u32 {
        self.permissions().mode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn copies_files_folders_and_symlinks_keeping_modes_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
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
        let mut copy = Copy {
            out: Vec::new(),
            files: 0,
            bytes: 0,
            skipped: 0,
            said: Instant::now(),
        };
        copy.item(&src, &dst, 0, true).unwrap();
        assert_eq!((copy.files, copy.bytes, copy.skipped), (2, 5, 0));
        assert_eq!(fs::read(dst.join("sub/a")).unwrap(), b"hello");
        let meta = fs::metadata(dst.join("sub/a")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o751);
        assert_eq!(meta.mtime(), 1_000_000_000);
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // Never over something that is there.
        assert!(copy.item(&src, &dst, 0, true).is_err());
        assert_eq!(count(&src, 0), (2, 5));
    }
}
