//! Kernel filesystems mounted below a place (`/proc`, `/sys`, `/dev`, …)
//! hold no data, only the kernel's view of the running machine, and their
//! entries come and go while restic reads them: a process that ends
//! between restic's listing of `/proc` and its `lstat` was a "could not be
//! read" warning on a backup of `/`, even with `--one-file-system`, which
//! rejects another filesystem's entries only after `lstat`. restic is told
//! to leave their contents out by name, before it looks at them; their
//! mount points stay in the backup as empty folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::mountinfo::{self, MountEntry};
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

/// `--exclude` options for the contents of every kernel filesystem mounted
/// strictly below one of `places`, from this process's mount table. A
/// table that cannot be read gives none (the backup is then as before).
pub fn kernel_excludes(places: &[PathBuf]) -> Vec<String> {
    match mountinfo::mounts() {
        Ok(mounts) => excludes_for(&mounts, places),
        Err(e) => {
            tracing::warn!("cannot read the mount table to leave out /proc and the like: {e}");
            Vec::new()
        }
    }
}

fn excludes_for(mounts: &[MountEntry], places: &[PathBuf]) -> Vec<String> {
    // The last mount at a point is the one on top, which restic sees.
    let mut top: BTreeMap<&Path, &str> = BTreeMap::new();
    for m in mounts {
        top.insert(&m.point, &m.fstype);
    }
    let kernel: Vec<&Path> = top
        .into_iter()
        .filter(|(_, fstype)| KERNEL_FSTYPES.contains(fstype))
        .map(|(point, _)| point)
        .filter(|point| places.iter().any(|p| point.starts_with(p) && point != p))
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

    fn mount(point: &str, fstype: &str) -> MountEntry {
        MountEntry {
            point: PathBuf::from(point),
            fstype: fstype.to_owned(),
            source: "none".to_owned(),
        }
    }

    #[test]
    fn kernel_filesystems_below_a_place_are_left_out() {
        let mounts = [
            mount("/", "btrfs"),
            mount("/proc", "proc"),
            mount("/sys", "sysfs"),
            mount("/sys/fs/cgroup", "cgroup2"),
            mount("/dev", "devtmpfs"),
            mount("/dev/pts", "devpts"),
            mount("/dev/shm", "tmpfs"),
            mount("/tmp", "tmpfs"),
            mount("/home", "btrfs"),
            mount("/srv/chroot/proc", "proc"),
            mount("/srv/odd*[name]", "sysfs"),
            mount("/mnt/usb", "vfat"),
        ];
        let places = [PathBuf::from("/")];
        assert_eq!(
            excludes_for(&mounts, &places),
            [
                "--exclude=/dev/*",
                "--exclude=/proc/*",
                "--exclude=/srv/chroot/proc/*",
                "--exclude=/srv/odd\\*\\[name\\]/*",
                "--exclude=/sys/*",
            ]
        );
        // Only below the places, and never a place itself.
        let places = [PathBuf::from("/srv"), PathBuf::from("/proc")];
        assert_eq!(
            excludes_for(&mounts, &places),
            [
                "--exclude=/srv/chroot/proc/*",
                "--exclude=/srv/odd\\*\\[name\\]/*"
            ]
        );
    }

    #[test]
    fn what_is_mounted_on_top_decides() {
        let mounts = [mount("/data", "proc"), mount("/data", "ext4")];
        assert!(excludes_for(&mounts, &[PathBuf::from("/")]).is_empty());
        let mounts = [mount("/data", "ext4"), mount("/data", "proc")];
        assert_eq!(
            excludes_for(&mounts, &[PathBuf::from("/")]),
            ["--exclude=/data/*"]
        );
    }
}
