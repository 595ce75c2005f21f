//! `scripts/demo.sh` as a test runs it: in a folder of its own below
//! `/var/tmp` (so that a demo someone left in the default folder is never
//! touched), headless, and reusing this test's cargo build (its target dir
//! and profile), so that the demo adds no build of its own. And what a demo
//! may leave behind: mounts, loop devices, processes and files, found by
//! the demo's folder. Dropping a [`Demo`] runs `--clean` if anything is
//! left, then removes the folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::bounded::{Ended, Spawned};
use crate::install::cargo_build_of_this_test;
use crate::{mounts, procs, repo_root};

/// A whole demo run: packages checked, meson setup and install, sample
/// data, two backups. With the build already made, it takes well under a
/// minute; a slow CI machine gets far more.
pub const DEMO_LIMIT: Duration = Duration::from_secs(900);
/// `--clean` stops processes (up to 20 s each group) and unmounts.
pub const CLEAN_LIMIT: Duration = Duration::from_secs(120);

/// A demo folder, and the demo's clean-up as its guard.
pub struct Demo {
    /// The demo's folder; it does not exist before the demo makes it.
    dir: PathBuf,
    /// Holds `dir`; removed last.
    parent: TempDir,
    /// Put first in the demo's PATH (a stand-in for a tool).
    path_first: Option<PathBuf>,
}

impl Default for Demo {
    fn default() -> Self {
        Self::new()
    }
}

impl Demo {
    pub fn new() -> Self {
        let parent = tempfile::Builder::new()
            .prefix("igotchuu-demo-test-")
            .tempdir_in("/var/tmp")
            .expect("temp dir in /var/tmp");
        Demo {
            dir: parent.path().join("demo"),
            parent,
            path_first: None,
        }
    }

    /// The demo's folder (`IGOTCHUU_DEMO_DIR`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the demo's folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Puts `dir` first in the PATH of the demo and all it starts.
    pub fn path_first(&mut self, dir: PathBuf) {
        self.path_first = Some(dir);
    }

    /// A folder for the test's own files, removed with the demo.
    pub fn scratch(&self) -> PathBuf {
        let dir = self.parent.path().join("scratch");
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// `scripts/demo.sh ARGS`: no display, this test's build, the demo's folder.
    pub fn command(&self, args: &[&str]) -> Command {
        let (target, profile) = cargo_build_of_this_test();
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/demo.sh"))
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("IGOTCHUU_DEMO_DIR", &self.dir)
            .env("IGOTCHUU_DEMO_PROFILE", profile)
            .env("IGOTCHUU_DEMO_CARGO_TARGET_DIR", target)
            .env("PATH", self.path_env());
        cmd
    }

    /// PATH with the stand-ins first, and the cargo that runs the tests
    /// (meson looks for cargo there).
    fn path_env(&self) -> OsString {
        let mut dirs: Vec<PathBuf> = self.path_first.iter().cloned().collect();
        if let Some(cargo) = std::env::var_os("CARGO") {
            dirs.extend(Path::new(&cargo).parent().map(Path::to_owned));
        }
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).expect("PATH")
    }

    /// Runs the demo (or `--clean`) to its end, within `limit`.
    pub fn run(&self, args: &[&str], limit: Duration) -> Ended {
        let label = format!("scripts/demo.sh {}", args.join(" "));
        Spawned::start(label.trim(), self.command(args)).wait(limit)
    }

    /// Everything of the demo that is still there: mounts and loop devices
    /// of its folder, its processes, and the folder itself. Empty: clean.
    pub fn leftovers(&self) -> Vec<String> {
        let dir = self.dir.display().to_string();
        let mut left = Vec::new();
        for m in mounts::parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap()) {
            if m.mount_point.starts_with(&self.dir) || m.source.starts_with(&dir) {
                left.push(format!("mount {} ({})", m.mount_point.display(), m.source));
            }
        }
        for (device, backing) in loop_devices() {
            if backing.starts_with(&dir) {
                left.push(format!("loop device {device} on {backing}"));
            }
        }
        let mut pids = procs::with_environ_entry(&format!("IGOTCHUU_DEMO={dir}"));
        pids.extend(procs::with_cmdline_containing(&dir));
        pids.sort_unstable();
        pids.dedup();
        for pid in pids.into_iter().filter(|p| *p != std::process::id() as i32) {
            left.push(format!(
                "process {pid}: {}",
                procs::cmdline(pid).unwrap_or_default()
            ));
        }
        if self.dir.exists() {
            left.push(format!("folder {dir}"));
        }
        left
    }
}

/// Every loop device with its backing file (`/sys/block/loopN/loop/backing_file`).
pub fn loop_devices() -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            Some((format!("/dev/{name}"), backing.trim().to_owned()))
        })
        .collect()
}

impl Drop for Demo {
    fn drop(&mut self) {
        let left = self.leftovers();
        if left.is_empty() {
            return;
        }
        eprintln!("the demo left {left:?}; running scripts/demo.sh --clean");
        let clean = Spawned::start("scripts/demo.sh --clean", self.command(&["--clean"]));
        if clean.wait_or_kill(CLEAN_LIMIT).is_none() {
            eprintln!("scripts/demo.sh --clean did not end within {CLEAN_LIMIT:?}");
        }
    }
}
