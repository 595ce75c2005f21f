//! What a restore into a folder must not do, whatever the snapshot or the
//! caller (review of issue 13): follow a symlink of the snapshot out into
//! the live file system, copy special files, stay ptrace-able by the
//! caller it runs as, or leave its folder in /run after a helper was
//! killed. With the real restic mount, as root from the command line.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::guarded::require_tool;
use igotchuu_e2e::have_root;
use igotchuu_e2e::helper::{exit, helper_bin};
use igotchuu_e2e::restoring::{activated_bus, restic_backup, root_target};

/// `home` with a file, a symlink to `/` and a named pipe, backed up; the
/// snapshot's id.
fn home_with_odd_things(fx: &Fixture) -> String {
    let home = fx.path("home");
    std::fs::write(home.join("a.txt"), "a\n").unwrap();
    std::os::unix::fs::symlink("/", home.join("r")).unwrap();
    nix::unistd::mkfifo(&home.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    fx.env.write_spec(&fx.spec(&["home"]));
    restic_backup(fx, &home, None)
}

/// A fixture with [`home_with_odd_things`] (restic mounts it with FUSE),
/// the snapshot's id and a root-only folder to restore into.
fn odd_home() -> (Fixture, String, tempfile::TempDir) {
    require_tool("fusermount3", "fuse3");
    let fx = Fixture::new(&["home"]);
    let id = home_with_odd_things(&fx);
    (fx, id, root_target())
}

fn restore(fx: &Fixture, id: &str, path: &Path, target: &Path) -> igotchuu_e2e::helper::Finished {
    fx.env.run(&[
        "restore",
        &id[..8],
        path.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
    ])
}

#[test]
fn a_symlink_in_the_snapshot_does_not_lead_out_of_it() {
    if !have_root("a_symlink_in_the_snapshot_does_not_lead_out_of_it") {
        return;
    }
    let (fx, id, target) = odd_home();
    // /etc/shadow would be the file a root copy should never bring out.
    for through in ["r/etc/hostname", "r/etc"] {
        let done = restore(&fx, &id, &fx.path("home").join(through), target.path());
        assert_ne!(done.code(), exit::COMPLETED, "{}", done.output());
        assert!(
            done.output().contains("is not in the snapshot"),
            "{through}: {}",
            done.output()
        );
        let name = Path::new(through).file_name().unwrap();
        assert!(
            std::fs::symlink_metadata(target.path().join(name)).is_err(),
            "{through} was copied"
        );
    }
    // The symlink itself comes back as a symlink.
    restore(&fx, &id, &fx.path("home/r"), target.path()).assert_code(exit::COMPLETED);
    assert_eq!(
        std::fs::read_link(target.path().join("r")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn special_files_are_left_out_and_said() {
    if !have_root("special_files_are_left_out_and_said") {
        return;
    }
    let (fx, id, target) = odd_home();
    let done = restore(&fx, &id, &fx.path("home"), target.path());
    done.assert_code(exit::COMPLETED_WITH_WARNINGS);
    let copy = target.path().join("home");
    assert_eq!(std::fs::read_to_string(copy.join("a.txt")).unwrap(), "a\n");
    assert!(std::fs::symlink_metadata(copy.join("pipe")).is_err());
    // The named pipe as what is restored: a clear failure, nothing made.
    let done = restore(&fx, &id, &fx.path("home/pipe"), target.path());
    done.assert_code(exit::FAILED);
    assert!(
        done.output().contains("is a named pipe"),
        "{}",
        done.output()
    );
    assert!(std::fs::symlink_metadata(target.path().join("pipe")).is_err());
}

/// A pipe whose buffer is full: a writer to it blocks.
fn full_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let (read, write) = nix::unistd::pipe().unwrap();
    fcntl(write.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let chunk = [b'x'; 4096];
    while nix::unistd::write(&write, &chunk).is_ok() {}
    fcntl(write.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty())).unwrap();
    (read, write)
}

fn uid_in_status(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn the_copier_cannot_be_inspected_by_the_user_it_runs_as() {
    if !have_root("the_copier_cannot_be_inspected_by_the_user_it_runs_as") {
        return;
    }
    const NOBODY: u32 = 65534;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let source = tmp.path().join("ids/0123abcd/data");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("f"), "f\n").unwrap();
    for dir in [
        tmp.path().join("ids"),
        tmp.path().join("ids/0123abcd"),
        source.clone(),
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let into = tmp.path().join("into");
    std::fs::create_dir(&into).unwrap();
    std::os::unix::fs::chown(&into, Some(NOBODY), Some(NOBODY)).unwrap();
    // Its first report line blocks on the full pipe: it stays there.
    let (_read, write) = full_pipe();
    let mut copier = Command::new(helper_bin());
    copier
        .arg("restore-copy")
        .env("IGOTCHUU_COPY_SOURCE", &source)
        .env("IGOTCHUU_COPY_DEST", into.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::uid(&mut copier, NOBODY);
    std::os::unix::process::CommandExt::gid(&mut copier, NOBODY);
    let mut child = copier.spawn().unwrap();
    let pid = child.id();
    let bin = std::fs::metadata(helper_bin()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Once it runs the helper as nobody, its /proc files turn root's when
    // it makes itself undumpable; a dumpable one's stay nobody's.
    let mut owner = None;
    while Instant::now() < deadline {
        let exe = std::fs::metadata(format!("/proc/{pid}/exe")).ok();
        let running = exe.is_some_and(|e| (e.dev(), e.ino()) == (bin.dev(), bin.ino()))
            && uid_in_status(pid) == Some(NOBODY);
        if running {
            owner = std::fs::metadata(format!("/proc/{pid}/environ"))
                .ok()
                .map(|m| m.uid());
            if owner == Some(0) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        owner,
        Some(0),
        "the copier's /proc files stay its user's: it is dumpable"
    );
}

/// `/run/igotchuu/restore/<pid>` of a process that is gone, made here.
/// `/run/igotchuu/restore` stays, as every restore's helper leaves it:
/// removed, it would be gone under a parallel test (or helper) that is
/// about to make its folder in it.
struct LeftFolder {
    path: PathBuf,
}

impl LeftFolder {
    fn new(pid: u32) -> Self {
        let root = Path::new("/run/igotchuu/restore");
        std::fs::create_dir_all(root).unwrap();
        let path = root.join(pid.to_string());
        std::fs::create_dir(&path).unwrap();
        LeftFolder { path }
    }
}

impl Drop for LeftFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A live process named `igotchuu` (a `sleep`), whose folder the helpers
/// that start meanwhile (other tests') leave alone until it is killed.
struct NamedHelper {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl NamedHelper {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sleep = ["/usr/bin/sleep", "/bin/sleep"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("sleep");
        let named = dir.path().join("igotchuu");
        std::os::unix::fs::symlink(sleep, &named).unwrap();
        let child = Command::new(&named).arg("120").spawn().unwrap();
        NamedHelper { child, _dir: dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Now it is a helper that is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NamedHelper {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn cleanup_removes_the_folder_of_a_killed_restore() {
    if !have_root("cleanup_removes_the_folder_of_a_killed_restore") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.env.write_spec(&fx.spec(&["home"]));
    let mut gone = NamedHelper::start();
    let left = LeftFolder::new(gone.pid());
    // A live process that is no igotchuu helper does not keep it either.
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    let taken = LeftFolder::new(other.id());
    gone.kill();
    let done = fx.env.run(&["cleanup"]);
    let _ = other.kill();
    let _ = other.wait();
    done.assert_code(exit::COMPLETED);
    // A helper of another test that starts meanwhile may remove one first;
    // cleanup says what it removed itself.
    let said = done.output();
    let removed = [&left, &taken]
        .iter()
        .filter(|f| said.contains(&format!("Removed {}", f.path.display())))
        .count();
    assert!(removed > 0 || said.contains("nothing to do"), "{said}");
    for folder in [&left, &taken] {
        assert!(
            !folder.path.exists(),
            "{} is still there",
            folder.path.display()
        );
    }
}

/// Whether restic's FUSE mount is at `path` in this thread's namespace.
fn restic_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .expect("mountinfo")
        .lines()
        .any(|l| {
            let Some((left, right)) = l.split_once(" - ") else {
                return false;
            };
            let mut right = right.split(' ');
            left.split(' ').nth(4) == path.to_str()
                && right.next().is_some_and(|t| t.starts_with("fuse"))
                && right.next() == Some("restic")
        })
}

/// Detaches what is left mounted at `path`, even when the test fails.
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        if restic_mounted(self.0) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
}

#[test]
fn a_dead_restore_mount_is_removed_by_the_next_helper() {
    if !have_root("a_dead_restore_mount_is_removed_by_the_next_helper") {
        return;
    }
    let w = activated_bus();
    // Alive while restic mounts: another helper that starts meanwhile
    // would take the folder away.
    let mut gone = NamedHelper::start();
    let left = LeftFolder::new(gone.pid());
    let _unmount = Unmount(&left.path);
    // restic killed outright, as with a helper killed with its restic.
    let said = tempfile::NamedTempFile::new().unwrap();
    let mut restic =
        w.fx.repo
            .command()
            .arg("mount")
            .arg(&left.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(said.reopen().unwrap())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !restic_mounted(&left.path) {
        let ended = restic.try_wait().unwrap();
        if ended.is_some() || Instant::now() > deadline {
            let _ = restic.kill();
            let _ = restic.wait();
            panic!(
                "restic did not mount ({ended:?}): {}",
                std::fs::read_to_string(said.path()).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    restic.kill().unwrap();
    restic.wait().unwrap();
    assert!(restic_mounted(&left.path), "the dead mount should stay");
    gone.kill();
    // Any call starts a helper.
    igotchuu_e2e::block_on(async {
        let conn = w.bus.connect().await;
        conn.call_method(
            Some(igotchuu_dbus::BUS_NAME),
            igotchuu_dbus::OBJECT_PATH,
            Some("org.freedesktop.DBus.Peer"),
            "Ping",
            &(),
        )
        .await
        .expect("the helper answers");
    });
    igotchuu_e2e::wait::until(
        "the stale mount and folder to go",
        Duration::from_secs(30),
        || (!restic_mounted(&left.path) && !left.path.exists()).then_some(()),
    );
}
