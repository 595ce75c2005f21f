//! "Browse the backups in the file manager": `Browse` mounts the repository
//! read-only with `restic mount --allow-other` under `/run/igotchuu/browse`,
//! in the mount namespace the helper was started from (here the test's,
//! which dbus-daemon shares). The kernel's permission checks apply: another
//! user reads a 0644 file through the mount, not a 0600 one. A refused
//! caller mounts nothing; CloseBrowse, the caller leaving the bus, SIGTERM
//! and SIGKILL all end with nothing mounted, a killed restic's mount being
//! removed by the next helper.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use igotchuu_dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::guarded::{require_tool, wait_until};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::polkit::TempUser;
use igotchuu_e2e::{block_on, have_root, procs, wait};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const ROOT: &str = "/run/igotchuu/browse";
const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
/// How long an unmount may take.
const UNMOUNT: Duration = Duration::from_secs(30);

/// restic's FUSE mounts under [`ROOT`] that this thread's namespace sees.
fn browse_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/thread-self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let (fstype, source) = (right.next()?, right.next()?);
            (point.starts_with(ROOT) && fstype.starts_with("fuse") && source == "restic")
                .then(|| point.to_owned())
        })
        .collect()
}

fn mounted(path: &Path) -> bool {
    browse_mounts().iter().any(|p| Path::new(p) == path)
}

/// Every helper removes, as it starts, the folders of dead helpers under
/// [`ROOT`] (on the shared `/run`), which detaches their mounts in every
/// namespace: the test of that removal runs alone ([`alone`]), the others
/// ([`with_others`]) side by side.
static HELPERS: RwLock<()> = RwLock::new(());

fn with_others() -> RwLockReadGuard<'static, ()> {
    HELPERS.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    HELPERS.write().unwrap_or_else(|e| e.into_inner())
}

/// Leaves nothing mounted or made under [`ROOT`], even when a test fails:
/// the mounts this thread's namespace sees, and the folders of the
/// helpers it saw, which the other tests (in parallel) do not use.
#[derive(Default)]
struct Cleanup {
    seen: std::cell::RefCell<Vec<PathBuf>>,
}

impl Cleanup {
    fn saw(&self, path: &Path) {
        self.seen.borrow_mut().push(path.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for point in browse_mounts() {
            let _ = std::process::Command::new("umount")
                .args(["-l", &point])
                .status();
        }
        for path in self.seen.borrow().iter() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// A bus with activation, and a backup of `home` holding a 0644 and a
/// 0600 file of root's, in folders every user may enter.
fn backed_up() -> (Cleanup, BusFixture) {
    require_tool("fusermount3", "fuse3");
    let cleanup = Cleanup::default();
    let w = BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    });
    let open = w.fx.path("home/open.txt");
    let secret = w.fx.path("home/secret.txt");
    std::fs::write(&open, "open\n").unwrap();
    std::fs::write(&secret, "secret\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut dir = w.fx.path("home");
    loop {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o055)).unwrap();
        }
        if !dir.pop() || dir == Path::new("/") {
            break;
        }
    }
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    (cleanup, w)
}

/// Calls Browse on a connection the caller keeps: the mount lasts while
/// it is open. Returns the connection and the mount point.
fn browse(c: &Cleanup, w: &BusFixture) -> (zbus::Connection, PathBuf) {
    let (conn, path) = block_on(async {
        let conn = w.bus.connect().await;
        let reply = conn
            .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), "Browse", &())
            .await
            .unwrap_or_else(|e| {
                panic!("Browse: {e}\n{}\n{}", w.bus.services_stdout(), w.bus.log())
            });
        let path: String = reply.body().deserialize().expect("a path");
        (conn, PathBuf::from(path))
    });
    c.saw(&path);
    (conn, path)
}

fn close_browse(conn: &zbus::Connection) {
    block_on(conn.call_method(
        Some(BUS_NAME),
        OBJECT_PATH,
        Some(INTERFACE),
        "CloseBrowse",
        &(),
    ))
    .expect("CloseBrowse");
}

/// The helper's pid: the mount point's name.
fn helper_pid(path: &Path) -> i32 {
    path.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

fn snapshot_file(w: &BusFixture, mount: &Path, rel: &str) -> PathBuf {
    let original = w.fx.path(rel);
    mount
        .join("snapshots/latest")
        .join(original.strip_prefix("/").unwrap())
}

fn as_user(w: &BusFixture, user: &str, program: &str, args: &[&str]) -> Output {
    w.bus
        .command_as(user, program)
        .args(args)
        .output()
        .expect("run as the user")
}

fn gone(path: &Path) {
    wait_until(UNMOUNT, "the browse mount to go", || {
        !mounted(path) && !path.exists()
    });
}

#[test]
fn browse_mounts_for_everyone_with_the_files_permissions_and_close_unmounts() {
    if !have_root("browse_mounts_for_everyone_with_the_files_permissions_and_close_unmounts") {
        return;
    }
    let _helpers = with_others();
    let (cleanup, w) = backed_up();
    let other = TempUser::new();
    let (conn, path) = browse(&cleanup, &w);
    assert!(path.starts_with(ROOT), "{}", path.display());
    assert!(mounted(&path), "{} is not mounted", path.display());
    let parent = std::fs::metadata(ROOT).unwrap();
    assert_eq!(parent.permissions().mode() & 0o7777, 0o755);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&parent), 0);

    let mut top: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    for dir in ["hosts", "ids", "snapshots", "tags"] {
        assert!(top.contains(&dir.to_owned()), "{top:?}");
    }
    let open = snapshot_file(&w, &path, "home/open.txt");
    let secret = snapshot_file(&w, &path, "home/secret.txt");
    assert_eq!(std::fs::read_to_string(&open).unwrap(), "open\n");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret\n");

    // Another user: the 0644 file, not the 0600 one.
    let out = as_user(&w, &other.user, "cat", &[open.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "open\n");
    let out = as_user(&w, &other.user, "cat", &[secret.to_str().unwrap()]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Permission denied"), "{err}");

    // A second Browse gets the same mount.
    let (conn2, again) = browse(&cleanup, &w);
    assert_eq!(again, path);
    drop(conn2);
    // One caller left the bus; the other still browses.
    std::thread::sleep(Duration::from_secs(1));
    assert!(mounted(&path));

    close_browse(&conn);
    gone(&path);
    // The activated helper has nothing left to do.
    let pid = helper_pid(&path);
    assert!(wait::pid_gone_within(pid, Duration::from_secs(40)));
    drop(conn);
}

#[test]
fn a_backup_runs_while_the_repository_is_mounted() {
    if !have_root("a_backup_runs_while_the_repository_is_mounted") {
        return;
    }
    let _helpers = with_others();
    let (cleanup, w) = backed_up();
    let (conn, path) = browse(&cleanup, &w);
    let ids = |m: &Path| std::fs::read_dir(m.join("ids")).unwrap().count();
    assert_eq!(ids(&path), 1);
    w.fx.wrapper.hold(true);
    block_on(conn.call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), "Start", &()))
        .expect("Start");
    let inv = w.fx.wrapper.wait_started(2, wait::DEADLINE);
    assert!(mounted(&path), "the mount went when the backup began");
    inv.release();
    // The helper that ran the backup exits when it ends, and the mount
    // goes with it.
    assert!(wait::pid_gone_within(helper_pid(&path), wait::DEADLINE));
    gone(&path);
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 2);
    assert_eq!(history.runs[1].outcome, igotchuu_dbus::Outcome::Completed);
    assert_eq!(w.fx.repo.snapshots().len(), 2);
    drop(conn);
}

#[test]
fn a_refused_caller_mounts_nothing() {
    if !have_root("a_refused_caller_mounts_nothing") {
        return;
    }
    let _helpers = with_others();
    let (_cleanup, w) = backed_up();
    let other = TempUser::new();
    let out = as_user(
        &w,
        &other.user,
        "gdbus",
        &[
            "call",
            "--system",
            "--dest",
            BUS_NAME,
            "--object-path",
            OBJECT_PATH,
            "--method",
            &format!("{INTERFACE}.Browse"),
        ],
    );
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(ACCESS_DENIED), "{err}");
    assert!(browse_mounts().is_empty(), "{:?}", browse_mounts());
}

#[test]
fn leaving_the_bus_and_sigterm_unmount() {
    if !have_root("leaving_the_bus_and_sigterm_unmount") {
        return;
    }
    let _helpers = with_others();
    let (cleanup, w) = backed_up();
    let (conn, path) = browse(&cleanup, &w);
    assert!(mounted(&path));
    drop(conn);
    gone(&path);

    let (conn, path) = browse(&cleanup, &w);
    assert!(mounted(&path));
    let pid = helper_pid(&path);
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    gone(&path);
    assert!(wait::pid_gone_within(pid, UNMOUNT));
    drop(conn);
}

#[test]
fn a_mount_left_by_killed_processes_is_removed_by_the_next_helper() {
    if !have_root("a_mount_left_by_killed_processes_is_removed_by_the_next_helper") {
        return;
    }
    let _helpers = alone();
    let (cleanup, w) = backed_up();
    let (conn, path) = browse(&cleanup, &w);
    let pid = helper_pid(&path);
    // restic first, so that it cannot unmount when the helper dies.
    for child in procs::descendants(pid) {
        let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
    }
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    assert!(wait::pid_gone_within(pid, UNMOUNT));
    // Else the next Browse may reach the dead helper (NoReply).
    block_on(w.bus.wait_unowned(&conn, BUS_NAME, wait::DEADLINE));
    drop(conn);
    assert!(mounted(&path), "the killed restic's mount should be stale");

    let (conn, fresh) = browse(&cleanup, &w);
    assert_ne!(fresh, path);
    assert!(!mounted(&path), "the stale mount is still there");
    assert!(!path.exists(), "the stale folder is still there");
    assert!(mounted(&fresh));
    close_browse(&conn);
    gone(&fresh);
}
