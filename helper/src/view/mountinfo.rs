//! The mount points of this process's mount namespace, from
//! `/proc/self/mountinfo`.
//!
//! Written here rather than taken from procfs-core, which leaves the
//! kernel's octal escapes (`\040` for a space) in the paths it returns.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

const MOUNTINFO: &str = "/proc/self/mountinfo";
/// A machine with Docker or snaps has thousands of mounts; far more than
/// this is not a mount table.
const MAX_BYTES: usize = 16 << 20;

/// Every mount point, as seen from this process's root.
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read(MOUNTINFO)?;
    if text.len() > MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{MOUNTINFO} is larger than {MAX_BYTES} bytes"),
        ));
    }
    parse(&text)
}

/// The fifth field of each line, unescaped.
fn parse(text: &[u8]) -> io::Result<Vec<PathBuf>> {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let field = line.split(|&b| b == b' ').nth(4).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{MOUNTINFO}: a line without a mount point: {}",
                        String::from_utf8_lossy(line)
                    ),
                )
            })?;
            Ok(PathBuf::from(OsString::from_vec(unescape(field))))
        })
        .collect()
}

/// Undoes the kernel's `\ooo` escapes of space, tab, newline and backslash.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        let text = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
            90 29 0:45 / /media/alice/My\\040Disk rw - vfat /dev/sdb1 rw\n\
            91 29 0:46 /sub /a\\134b\\011c rw shared:1 - btrfs /dev/sda2 rw\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                PathBuf::from("/proc"),
                PathBuf::from("/media/alice/My Disk"),
                PathBuf::from("/a\\b\tc"),
            ]
        );
        assert!(parse(b"1 2 3\n").is_err());
    }

    #[test]
    fn this_process_sees_its_root() {
        assert!(mount_points().unwrap().iter().any(|p| p.as_os_str() == "/"));
    }
}
