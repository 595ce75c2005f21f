//! Harness for igotchuu's tests that need the real system: a loop-mounted
//! btrfs inside a private mount namespace, so that nothing leaks to the host
//! and everything vanishes with the test, even when it fails.

pub mod bounded;
pub mod busclient;
pub mod busfixture;
pub mod config;
pub mod dbusmock;
pub mod demo;
pub mod desktop;
pub mod fixture;
pub mod gdbus;
pub mod guarded;
pub mod helper;
pub mod iface;
pub mod install;
pub mod installbus;
pub mod login1;
pub mod mounts;
pub mod nspawn;
pub mod po;
pub mod polkit;
pub mod procs;
pub mod repo;
pub mod restoring;
pub mod scenario;
pub mod screen;
pub mod servers;
pub mod snapshots;
pub mod sni;
pub mod standin;
pub mod sysbus;
pub mod wait;
pub mod window;
pub mod wrapper;

/// Runs a future to its end on this thread. zbus runs on async-io here, so
/// any executor will do; this one needs no runtime and nests inside none.
pub use async_io::block_on;

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use tempfile::TempDir;

/// Whether this run is in CI, where a skipped privileged test is a failure.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Returns false (after saying so loudly) when the test cannot run here
/// because it needs root. In CI this panics instead: a skip there is a failure.
#[must_use]
pub fn have_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(!in_ci(), "{test} needs root, and CI must run it");
    eprintln!("\n*** SKIPPED {test}: it needs root (loop btrfs, mount namespaces) ***\n");
    false
}

thread_local! {
    static IN_PRIVATE_NAMESPACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The repository's top folder (for the contract files: `dbus/`, `polkit/` …).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// Enters a private mount namespace unless this thread already has one
/// (a [`LoopBtrfs`] enters one), so that mounts over system folders stay
/// the test's own.
pub fn ensure_private_mount_namespace() {
    if !IN_PRIVATE_NAMESPACE.with(|c| c.get()) {
        enter_private_mount_namespace();
    }
}

/// Moves the calling thread into a private mount namespace of its own.
///
/// Only this thread (and the processes it spawns) sees mounts made
/// afterwards; they are dropped by the kernel when the thread ends.
pub fn enter_private_mount_namespace() {
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
    IN_PRIVATE_NAMESPACE.with(|c| c.set(true));
}

/// The median of measurements (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs a command and panics with its output if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh btrfs on a loop device, mounted in this thread's private mount
/// namespace. The image file is unlinked as soon as it is mounted and the
/// loop device is auto-cleared, so a killed test leaves nothing either.
pub struct LoopBtrfs {
    mountpoint: PathBuf,
    // Dropped after the unmount in `Drop`, which removes the mount point.
    _dir: TempDir,
}

impl LoopBtrfs {
    /// Enters a private mount namespace and mounts a new btrfs of `size_mib`.
    pub fn new(size_mib: u64) -> Self {
        enter_private_mount_namespace();
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-test-")
            .tempdir()
            .expect("temp dir");
        let image = dir.path().join("image");
        let file = std::fs::File::create(&image).expect("create image");
        file.set_len(size_mib << 20).expect("size image");
        drop(file);
        run(Command::new("mkfs.btrfs").arg("-q").arg(&image));
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mount point");
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mountpoint));
        std::fs::remove_file(&image).expect("unlink image");
        LoopBtrfs {
            mountpoint,
            _dir: dir,
        }
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Creates a subvolume at `rel` below the mount point and returns its path.
    pub fn subvolume(&self, rel: &str) -> PathBuf {
        let path = self.mountpoint.join(rel);
        run(Command::new("btrfs")
            .args(["-q", "subvolume", "create"])
            .arg(&path));
        path
    }

    /// Paths (relative to the mount point) of every subvolume on the filesystem.
    pub fn list_subvolumes(&self) -> Vec<String> {
        let out = run(Command::new("btrfs")
            .args(["subvolume", "list", "-o"])
            .arg(&self.mountpoint));
        let mut all: Vec<String> = out
            .lines()
            .filter_map(|l| l.split(" path ").nth(1).map(str::to_owned))
            .collect();
        // `-o` lists only direct children; nested ones come from their parents.
        let mut i = 0;
        while i < all.len() {
            let child = self.mountpoint.join(&all[i]);
            let out = run(Command::new("btrfs")
                .args(["subvolume", "list", "-o"])
                .arg(&child));
            for l in out.lines() {
                if let Some(p) = l.split(" path ").nth(1) {
                    if !all.iter().any(|a| a == p) {
                        all.push(p.to_owned());
                    }
                }
            }
            i += 1;
        }
        all.sort();
        all
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        // Lazy, so that a test failing with files open still unmounts.
        let _ = umount2(&self.mountpoint, MntFlags::MNT_DETACH);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_btrfs_is_private_and_goes_away() {
        if !have_root("loop_btrfs_is_private_and_goes_away") {
            return;
        }
        let mnt_path;
        {
            let fs = LoopBtrfs::new(200);
            mnt_path = fs.path().to_owned();
            fs.subvolume("home");
            fs.subvolume("home/nested");
            assert_eq!(fs.list_subvolumes(), vec!["home", "home/nested"]);
            // The host's mount table does not have it.
            let host = std::fs::read_to_string("/proc/1/mountinfo").unwrap();
            assert!(!host.contains(mnt_path.to_str().unwrap()));
            let ours = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
            assert!(ours.contains(mnt_path.to_str().unwrap()));
        }
        assert!(!mnt_path.exists(), "mount point left behind");
    }
}
