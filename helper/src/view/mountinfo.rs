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

/// One mount: where it is, its filesystem type and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct MountEntry {
    /// The kernel's id of the mount, as `statx(2)` gives it too.
    pub id: u64,
    pub point: PathBuf,
    pub fstype: String,
    /// The device, or what the filesystem calls its source ("restic").
    pub source: String,
}

/// Every mount point, as seen from this process's root.
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    Ok(mounts()?.into_iter().map(|m| m.point).collect())
}

/// Every mount, in the order they were made (a later one at the same
/// point is on top).
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    let text = std::fs::read(MOUNTINFO)?;
    if text.len() > MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{MOUNTINFO} is larger than {MAX_BYTES} bytes"),
        ));
    }
    parse_table(&text)
}

/// Every line of a mount table (mountinfo(5)); a line that is not one is
/// an error.
pub fn parse_table(text: &[u8]) -> io::Result<Vec<MountEntry>> {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            parse_line(line).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{MOUNTINFO}: not a mount: {}",
                        String::from_utf8_lossy(line)
                    ),
                )
            })
        })
        .collect()
}

/// One line: the mount id (first field), the mount point (fifth), and the
/// type and source after the ` - ` that ends the optional fields.
pub fn parse_line(line: &[u8]) -> Option<MountEntry> {
    let mut fields = line.split(|&b| b == b' ');
    let id = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let point = fields.nth(3)?;
    let mut after = fields.skip_while(|f| *f != b"-").skip(1);
    let (fstype, source) = (after.next()?, after.next()?);
    let lossy = |field: &[u8]| String::from_utf8_lossy(&unescape(field)).into_owned();
    Some(MountEntry {
        id,
        point: PathBuf::from(OsString::from_vec(unescape(point))),
        fstype: lossy(fstype),
        source: lossy(source),
    })
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
    use std::path::Path;

    #[test]
    fn mount_points_are_unescaped_and_typed() {
        let text = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
            90 29 0:45 / /media/alice/My\\040Disk rw - vfat /dev/sdb1 rw\n\
            91 29 0:46 /sub /a\\134b\\011c rw shared:1 master:2 - btrfs /dev/sda2 rw\n";
        let mounts = parse_table(text).unwrap();
        let got: Vec<(u64, &Path, &str, &str)> = mounts
            .iter()
            .map(|m| {
                (
                    m.id,
                    m.point.as_path(),
                    m.fstype.as_str(),
                    m.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (22, Path::new("/proc"), "proc", "proc"),
                (90, Path::new("/media/alice/My Disk"), "vfat", "/dev/sdb1"),
                (91, Path::new("/a\\b\tc"), "btrfs", "/dev/sda2"),
            ]
        );
        assert!(parse_table(b"1 2 3\n").is_err());
        assert!(parse_table(b"22 1 0:21 / /proc rw,nosuid proc proc rw\n").is_err());
    }

    #[test]
    fn this_process_sees_its_root() {
        assert!(mount_points().unwrap().iter().any(|p| p.as_os_str() == "/"));
    }
}
