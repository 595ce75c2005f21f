//! Reading mount tables (`/proc/…/mountinfo`), to check what the helper
//! mounted in its namespace and that nothing leaked into ours.

use std::path::{Path, PathBuf};

/// One line of a mountinfo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The path inside the filesystem that is mounted here (for a bind
    /// mount of a btrfs subvolume: `/<subvolume path>`).
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match octal {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of a mountinfo file.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(MountEntry {
                root: unescape(l.get(3)?),
                mount_point: PathBuf::from(unescape(l.get(4)?)),
                fs_type: (*r.first()?).to_owned(),
                source: unescape(r.get(1).copied().unwrap_or("")),
            })
        })
        .collect()
}

/// The mount table of the calling thread's mount namespace.
pub fn ours() -> Vec<MountEntry> {
    parse(&std::fs::read_to_string("/proc/thread-self/mountinfo").expect("read mountinfo"))
}

/// The mounts at or below `dir`.
pub fn below<'a>(table: &'a [MountEntry], dir: &Path) -> Vec<&'a MountEntry> {
    table
        .iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .collect()
}

/// The topmost mount at exactly `path`, if any.
pub fn at<'a>(table: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    table.iter().rev().find(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bind_mounts_and_escapes() {
        let text = "\
36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
80 36 0:45 /home-2026-11-22T10-15-30Z /tmp/a\\040b/home ro,relatime shared:5 - btrfs /dev/loop3 rw,space_cache=v2,subvolid=258,subvol=/home-2026-11-22T10-15-30Z
";
        let t = parse(text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].root, "/home-2026-11-22T10-15-30Z");
        assert_eq!(t[1].mount_point, Path::new("/tmp/a b/home"));
        assert_eq!(t[1].fs_type, "btrfs");
        assert_eq!(t[1].source, "/dev/loop3");
        assert_eq!(
            at(&t, Path::new("/tmp/a b/home")).unwrap().root,
            "/home-2026-11-22T10-15-30Z"
        );
        assert_eq!(below(&t, Path::new("/tmp")).len(), 1);
    }

    #[test]
    fn our_table_has_root() {
        assert!(ours().iter().any(|m| m.mount_point == Path::new("/")));
    }
}
