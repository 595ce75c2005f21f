//! Kernel filesystems mounted below a place (`/proc`, `/sys`, `/dev`, …)
//! hold no data, only the kernel's view of the running machine, and their
//! entries come and go while restic reads them: a process that ends
//! between restic's listing of `/proc` and its `lstat` was a "could not be
//! read" warning on a backup of `/`, even with `--one-file-system`, which
//! rejects another filesystem's entries only after `lstat`. restic is told
//! to leave their contents out by name, before it looks at them (it reads
//! the mount point's folder, never its entries); the mount points stay in
//! the backup as empty folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::fs::{statx, AtFlags, StatxFlags, CWD};

use super::mountinfo::MountEntry;
use crate::nested::escape_pattern;

/// Filesystem types that are the kernel's interfaces, never anyone's files.
/// (tmpfs is not among them: it may hold what a user wants kept.)
const KERNEL_FSTYPES: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "efivarfs",
    "mqueue",
    "hugetlbfs",
    "fusectl",
    "configfs",
    "binfmt_misc",
    "nsfs",
    "rpc_pipefs",
    "selinuxfs",
];

/// `--exclude` options for the contents of every kernel filesystem that
/// a path lookup reaches strictly below one of `places`, in `table`, and
/// of what is mounted below it (`/dev/shm` goes with `/dev`). A kernel
/// filesystem with a place at or inside its mount point is kept whole: a
/// place that restic's patterns exclude is dropped without a word.
pub(super) fn excludes(table: &[MountEntry], places: &[PathBuf]) -> Vec<String> {
    excludes_for(table, places, reached)
}

/// Whether a lookup of `m`'s mount point reaches `m` itself, not a mount
/// made later at or above it; `None` where the kernel does not say (its
/// mount id in `statx(2)` came with Linux 5.8). One that cannot be looked
/// at is not reached.
fn reached(m: &MountEntry) -> Option<bool> {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    let Ok(st) = statx(CWD, &m.point, flags, StatxFlags::MNT_ID) else {
        return Some(false);
    };
    StatxFlags::from_bits_retain(st.stx_mask)
        .contains(StatxFlags::MNT_ID)
        .then_some(st.stx_mnt_id == m.id)
}

fn excludes_for(
    table: &[MountEntry],
    places: &[PathBuf],
    reached: impl Fn(&MountEntry) -> Option<bool>,
) -> Vec<String> {
    // Without the kernel's word, the last mount at a point is the one on
    // top, which restic sees.
    let mut top: BTreeMap<&Path, &MountEntry> = BTreeMap::new();
    for m in table {
        top.insert(&m.point, m);
    }
    let kernel: Vec<&Path> = top
        .into_values()
        .filter(|m| KERNEL_FSTYPES.contains(&m.fstype.as_str()))
        .filter(|m| {
            let point = &m.point;
            places.iter().any(|p| point.starts_with(p) && point != p)
                && !places.iter().any(|p| p.starts_with(point))
        })
        .filter(|m| reached(m).unwrap_or(true))
        .map(|m| m.point.as_path())
        .collect();
    kernel
        .iter()
        // One for /dev does for /dev/pts and /dev/mqueue.
        .filter(|point| {
            !kernel
                .iter()
                .any(|other| other != *point && point.starts_with(other))
        })
        .filter_map(|point| match point.to_str() {
            Some(path) => Some(format!("--exclude={}/*", escape_pattern(path))),
            None => {
                tracing::warn!(
                    "{} is not valid UTF-8 and cannot be left out by name",
                    point.display()
                );
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(id: u64, point: &str, fstype: &str) -> MountEntry {
        MountEntry {
            id,
            point: PathBuf::from(point),
            fstype: fstype.to_owned(),
            source: "none".to_owned(),
        }
    }

    fn by_table(table: &[MountEntry], places: &[&str]) -> Vec<String> {
        let places: Vec<PathBuf> = places.iter().map(PathBuf::from).collect();
        excludes_for(table, &places, |_| None)
    }

    fn machine() -> Vec<MountEntry> {
        [
            ("/", "btrfs"),
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/sys/fs/cgroup", "cgroup2"),
            ("/sys/fs/pstore", "pstore"),
            ("/dev", "devtmpfs"),
            ("/dev/pts", "devpts"),
            ("/dev/shm", "tmpfs"),
            ("/tmp", "tmpfs"),
            ("/home", "btrfs"),
            ("/srv/chroot/proc", "proc"),
            ("/srv/odd*[name]", "sysfs"),
            ("/mnt/usb", "vfat"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (point, fstype))| mount(i as u64 + 20, point, fstype))
        .collect()
    }

    #[test]
    fn kernel_filesystems_below_a_place_are_left_out() {
        assert_eq!(
            by_table(&machine(), &["/"]),
            [
                "--exclude=/dev/*",
                "--exclude=/proc/*",
                "--exclude=/srv/chroot/proc/*",
                "--exclude=/srv/odd\\*\\[name\\]/*",
                "--exclude=/sys/*",
            ]
        );
        // Only below the places, and never a place itself.
        assert_eq!(
            by_table(&machine(), &["/srv", "/proc"]),
            [
                "--exclude=/srv/chroot/proc/*",
                "--exclude=/srv/odd\\*\\[name\\]/*"
            ]
        );
    }

    #[test]
    fn a_place_inside_a_kernel_filesystem_keeps_it_whole() {
        // restic drops a place that its patterns exclude, without a word.
        let got = by_table(&machine(), &["/", "/sys/fs/pstore"]);
        for kept in ["--exclude=/sys/*", "--exclude=/sys/fs/pstore/*"] {
            assert!(!got.contains(&kept.to_owned()), "{got:?}");
        }
        // What else is below /sys is still left out, on its own.
        for left in ["--exclude=/sys/fs/cgroup/*", "--exclude=/proc/*"] {
            assert!(got.contains(&left.to_owned()), "{got:?}");
        }
        let got = by_table(&machine(), &["/", "/dev/shm"]);
        assert!(!got.contains(&"--exclude=/dev/*".to_owned()), "{got:?}");
        // /dev/pts is then on its own.
        assert!(got.contains(&"--exclude=/dev/pts/*".to_owned()), "{got:?}");
    }

    #[test]
    fn what_a_lookup_reaches_decides() {
        let places = [PathBuf::from("/")];
        // Stacked at one point: the last is on top.
        let table = [mount(1, "/data", "proc"), mount(2, "/data", "ext4")];
        assert!(excludes_for(&table, &places, |_| None).is_empty());
        let table = [mount(1, "/data", "ext4"), mount(2, "/data", "proc")];
        assert_eq!(
            excludes_for(&table, &places, |_| None),
            ["--exclude=/data/*"]
        );
        // Hidden by a mount made later above it: the kernel says so.
        let table = [mount(1, "/mnt/c/proc", "proc"), mount(2, "/mnt/c", "ext4")];
        assert!(excludes_for(&table, &places, |m| Some(m.id != 1)).is_empty());
        assert_eq!(
            excludes_for(&table, &places, |_| Some(true)),
            ["--exclude=/mnt/c/proc/*"]
        );
    }

    #[test]
    fn this_machines_proc_is_reached() {
        let table = super::super::mountinfo::mounts().unwrap();
        let proc = table
            .iter()
            .rev()
            .find(|m| m.point == Path::new("/proc") && m.fstype == "proc")
            .expect("/proc is mounted");
        assert_ne!(reached(proc), Some(false), "{proc:?}");
    }
}
