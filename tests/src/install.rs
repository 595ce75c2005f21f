//! igotchuu as a distribution installs it: `meson setup`, `meson compile` and
//! `DESTDIR=… meson install` into a staging folder, reusing the cargo build
//! the tests themselves run from; and read-only overlays that make the
//! staged files appear at their real paths (`/usr/bin/igotchuu`, …) to this
//! test thread and the processes it starts, inside its private mount
//! namespace, so that the host's `/usr` and `/etc` are never touched.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tempfile::TempDir;

use crate::run;
use crate::sysbus::require_tool;

/// The prefix every staged install uses, as a distribution package does.
pub const PREFIX: &str = "/usr";

/// The source tree (the workspace root).
pub fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The cargo target dir and profile this test binary was built in
/// (`<target>/<debug|release>/deps/<test>`), for meson to build in too:
/// then its `cargo build` finds everything fresh.
pub fn cargo_build_of_this_test() -> (PathBuf, &'static str) {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target dir").to_owned();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some("release") => "release",
        other => panic!(
            "cannot tell the cargo profile from {other:?} ({})",
            exe.display()
        ),
    };
    (target, profile)
}

/// A staged install: the meson build folder and the DESTDIR, both gone when
/// it is dropped.
pub struct Staged {
    dir: TempDir,
}

impl Staged {
    /// Configures (prefix [`PREFIX`], plus `options`), builds and installs
    /// into a fresh DESTDIR. Panics with the tools' output if a step fails.
    pub fn install(options: &[&str]) -> Self {
        require_tool("meson", "meson");
        require_tool("ninja", "ninja-build");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-install-")
            .tempdir()
            .expect("temp dir");
        let staged = Staged { dir };
        let (target, profile) = cargo_build_of_this_test();
        let build = staged.dir.path().join("build");
        run(staged
            .meson()
            .arg("setup")
            .arg(&build)
            .arg(source_root())
            .arg(format!("--prefix={PREFIX}"))
            .arg(format!("-Dprofile={profile}"))
            .arg(format!("-Dcargo_target_dir={}", target.display()))
            .args(options));
        run(staged.meson().args(["compile", "-C"]).arg(&build));
        run(staged
            .meson()
            .args(["install", "--no-rebuild", "-C"])
            .arg(&build)
            .arg("--destdir")
            .arg(staged.root()));
        staged
    }

    /// meson, with the cargo that runs the tests first in PATH.
    fn meson(&self) -> Command {
        let mut cmd = Command::new("meson");
        if let Some(cargo) = std::env::var_os("CARGO") {
            let mut path = OsString::from(Path::new(&cargo).parent().expect("cargo's folder"));
            path.push(":");
            path.push(std::env::var_os("PATH").unwrap_or_default());
            cmd.env("PATH", path);
        }
        cmd
    }

    /// The DESTDIR: the installed tree, below it at its full paths.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    /// An installed file, by its path on the target system (`/usr/bin/igotchuu`).
    pub fn path(&self, installed: &str) -> PathBuf {
        self.root().join(installed.trim_start_matches('/'))
    }

    /// Every file and symbolic link installed, by its path on the target
    /// system, with its permission bits.
    pub fn files(&self) -> BTreeMap<String, u32> {
        let mut files = BTreeMap::new();
        walk(&self.root(), &self.root(), &mut files);
        files
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, u32>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            walk(root, &path, files);
        } else {
            let rel = path.strip_prefix(root).expect("below the root");
            files.insert(
                format!("/{}", rel.display()),
                meta.permissions().mode() & 0o7777,
            );
        }
    }
}

/// Whether this thread has a mount namespace of its own: not the one of the
/// process that started the tests (cargo, meson), which is the host's or
/// at least one this test must not change. (PID 1's may not be readable.)
pub fn in_private_mount_namespace() -> bool {
    let ns = |p: &str| std::fs::read_link(p).unwrap_or_else(|e| panic!("readlink {p}: {e}"));
    let parent = nix::unistd::getppid();
    ns("/proc/thread-self/ns/mnt") != ns(&format!("/proc/{parent}/ns/mnt"))
}

/// A read-only overlay mounted over a folder in this thread's private mount
/// namespace, unmounted when dropped (and gone with the namespace anyway).
pub struct Overlay {
    target: PathBuf,
}

impl Overlay {
    /// Lays `layers` (the first on top) over `target`: their files show up
    /// in it, beside (or in place of) its own, for this thread and the
    /// processes it starts from now on. Refuses to run outside a private
    /// mount namespace, so that a test can never cover the host's folders.
    pub fn over(target: &Path, layers: &[&Path]) -> Self {
        assert!(
            in_private_mount_namespace(),
            "an overlay over {} would reach the host: enter a private mount namespace first",
            target.display()
        );
        let mut lower: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
        lower.push(target.display().to_string());
        for l in &lower {
            assert!(
                !l.contains([':', ',']),
                "overlayfs cannot take {l:?} as a layer"
            );
        }
        // Only lower layers and no upper one: read-only, nothing is copied.
        let options = format!("lowerdir={}", lower.join(":"));
        mount(
            Some("igotchuu-test"),
            target,
            Some("overlay"),
            MsFlags::MS_RDONLY,
            Some(options.as_str()),
        )
        .unwrap_or_else(|e| panic!("overlay {options} over {}: {e}", target.display()));
        Overlay {
            target: target.to_owned(),
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = umount2(&self.target, MntFlags::MNT_DETACH);
    }
}
