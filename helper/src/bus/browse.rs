//! Browse: the repository mounted read-only with `restic mount`, where the
//! users' sessions see it, for as long as someone browses.
//!
//! - The mount is `restic mount --allow-other` at
//!   `/run/igotchuu/browse/<helper pid>` in the host's mount namespace
//!   (the helper's own is private): restic enters the namespace of the
//!   process that started the helper (dbus-daemon, a root shell); under
//!   systemd, whose units keep PID 1's out of reach, the mount is made by
//!   `igotchuu-browse@<pid>.service` ([`super::browse_unit`]) with the same
//!   [`mount`]. restic keeps the kernel's default
//!   permission checks (it never gets `--no-default-permissions`), so each
//!   user opens only what the original file's mode let them.
//! - restic mount needs `CAP_SYS_ADMIN` for `fusermount` (it runs as root
//!   with no_new_privs, so the setuid bit does nothing): this one restic
//!   gets it besides what every restic gets.
//! - It ends on CloseBrowse from the last caller who browses, when that
//!   caller's bus connection goes away, after [`IDLE`] without a Browse
//!   call, before a forget (restic's exclusive lock; restic 0.14 has no
//!   lock retry), and when the helper exits. restic gets SIGINT and
//!   unmounts; if it does not, the helper detaches the mount.
//! - restic also gets SIGINT when the helper dies, however it dies; a mount
//!   left by a restic that was killed outright is removed by the next
//!   helper that starts ([`remove_stale`]).
//! - A backup runs while the repository is mounted: both take restic's
//!   non-exclusive lock.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use igotchuu_dbus::errors::Error as BackupError;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zbus::{fdo, Connection};

use super::browse_unit::{self, Mount};
use super::gate::Gate;
use crate::config::Config;
use crate::privileges::{self, caps::Cap};
use crate::view::{parse_mount_line, MountEntry};

/// Where the mounts go; root's, 0755 down to the mount point.
pub const ROOT: &str = "/run/igotchuu/browse";
/// Where a restore into a folder mounts the repository (`run::restore`),
/// in its helper's own mount namespace; the helper's pid below it.
pub const RESTORE_ROOT: &str = "/run/igotchuu/restore";
/// A session without a Browse call for this long ends.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// How long restic gets to show the mount.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long restic gets to unmount after SIGINT.
const UNMOUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of restic's error output a failed mount reports.
const MAX_ERROR: u64 = 4096;

/// The browse session of this helper, shared by the bus object and the
/// main task.
pub struct Browser {
    config: Config,
    /// The mount namespace the mounts go to; `None` if it could not be
    /// opened (Browse then fails, saying why).
    host: Result<File, String>,
    /// Started by systemd: the mounts go through the browse unit instead.
    systemd: bool,
    gate: watch::Sender<Gate>,
    session: Mutex<Option<Session>>,
    /// The helper's runtime: the bus calls come on zbus's own executor,
    /// and restic and the timers need tokio's.
    runtime: tokio::runtime::Handle,
}

struct Session {
    restic: Mount,
    path: PathBuf,
    /// The unique bus names of the callers who browse.
    callers: BTreeSet<String>,
    renewed: watch::Sender<Instant>,
    watcher: JoinHandle<()>,
}

fn failed(message: String) -> BackupError {
    BackupError::Fdo(fdo::Error::Failed(message))
}

impl Browser {
    /// Call it before the process's parent may have gone: the mounts go to
    /// the parent's mount namespace.
    pub fn new(config: Config, gate: watch::Sender<Gate>) -> Arc<Self> {
        let namespace = format!("/proc/{}/ns/mnt", nix::unistd::getppid());
        let systemd = browse_unit::under_systemd();
        let host = if systemd {
            Err("started by systemd".to_owned())
        } else {
            File::open(&namespace).map_err(|e| format!("cannot open {namespace}: {e}"))
        };
        Arc::new(Browser {
            config,
            host,
            systemd,
            gate,
            session: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Mounts the repository for `caller`, or keeps the mount there is;
    /// returns where it is.
    pub async fn open(
        self: &Arc<Self>,
        conn: &Connection,
        caller: &str,
    ) -> Result<String, BackupError> {
        let (me, conn, caller) = (self.clone(), conn.clone(), caller.to_owned());
        self.runtime
            .spawn(async move { me.open_here(&conn, &caller).await })
            .await
            .unwrap_or_else(|e| Err(failed(format!("Browse failed: {e}"))))
    }

    /// `caller` stops browsing; the mount goes with the last one. From any
    /// executor.
    pub async fn close_for(self: &Arc<Self>, caller: &str, why: &'static str) {
        let (me, caller) = (self.clone(), caller.to_owned());
        let _ = self
            .runtime
            .spawn(async move { me.close_for_here(&caller, why).await })
            .await;
    }

    async fn open_here(
        self: &Arc<Self>,
        conn: &Connection,
        caller: &str,
    ) -> Result<String, BackupError> {
        let mut session = self.session.lock().await;
        if let Some(s) = session.as_mut() {
            if s.restic.running().await {
                s.callers.insert(caller.to_owned());
                s.renewed.send_replace(Instant::now());
                return Ok(s.path.display().to_string());
            }
            let gone = session.take().expect("a session");
            self.end(gone, "restic mount exited").await;
        }
        if self.gate.borrow().closing().is_some() {
            return Err(failed(
                "the igotchuu helper is exiting; call Browse again".into(),
            ));
        }
        let path = Path::new(ROOT).join(std::process::id().to_string());
        let restic = if self.systemd {
            Mount::Unit(browse_unit::Unit::start(conn).await?)
        } else {
            let host = self.host.as_ref().map_err(|e| failed(e.clone()))?;
            Mount::Restic(mount(&self.config, host, &path).await?)
        };
        let (renewed, idle) = watch::channel(Instant::now());
        let watcher = tokio::spawn(watch_session(
            Arc::downgrade(self),
            conn.clone(),
            caller.to_owned(),
            idle,
        ));
        *session = Some(Session {
            restic,
            path: path.clone(),
            callers: BTreeSet::from([caller.to_owned()]),
            renewed,
            watcher,
        });
        self.gate.send_modify(|g| g.set_browsing(true));
        tracing::info!(
            "the repository is mounted at {} for {caller}",
            path.display()
        );
        Ok(path.display().to_string())
    }

    async fn close_for_here(&self, caller: &str, why: &str) {
        let mut session = self.session.lock().await;
        let last = match session.as_mut() {
            Some(s) => s.callers.remove(caller) && s.callers.is_empty(),
            None => false,
        };
        if last {
            let s = session.take().expect("a session");
            self.end(s, why).await;
        }
    }

    /// Ends the session whoever browses.
    pub async fn close(&self, why: &str) {
        if let Some(s) = self.session.lock().await.take() {
            self.end(s, why).await;
        }
    }

    async fn end(&self, mut s: Session, why: &str) {
        s.watcher.abort();
        tracing::info!("unmounting {}: {why}", s.path.display());
        s.restic.end(self.host.as_ref().ok(), &s.path).await;
        self.gate.send_modify(|g| g.set_browsing(false));
    }
}

/// Ends a `restic mount` made by [`mount`]: SIGINT, then SIGKILL if it
/// does not exit, then the mount detached if it is still there, and its
/// folder removed.
pub(crate) async fn unmount(restic: &mut tokio::process::Child, host: Option<&File>, path: &Path) {
    if let Some(pid) = restic.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGINT);
    }
    if tokio::time::timeout(UNMOUNT_TIMEOUT, restic.wait())
        .await
        .is_err()
    {
        tracing::warn!("restic mount did not exit after SIGINT; killing it");
        let _ = restic.kill().await;
    }
    if let Some(host) = host {
        if is_mounted(host, path) {
            detach(host, path);
        }
    }
    let _ = std::fs::remove_dir(path);
}

/// Ends the session when its callers have all gone from the bus, or after
/// [`IDLE`] without a Browse call.
async fn watch_session(
    browser: std::sync::Weak<Browser>,
    conn: Connection,
    first: String,
    mut renewed: watch::Receiver<Instant>,
) {
    let mut changes = None;
    if let Ok(proxy) = fdo::DBusProxy::new(&conn).await {
        changes = proxy.receive_name_owner_changed().await.ok();
        // The first caller may have left while restic mounted, before
        // NameOwnerChanged was listened to.
        let there = match zbus::names::BusName::try_from(first.as_str()) {
            Ok(name) => proxy.name_has_owner(name).await.unwrap_or(true),
            Err(_) => true,
        };
        if !there {
            if let Some(browser) = browser.upgrade() {
                tokio::spawn(async move {
                    browser
                        .close_for_here(&first, "the caller left the bus")
                        .await;
                });
            }
        }
    }
    loop {
        let deadline = *renewed.borrow_and_update() + IDLE;
        let gone = async {
            match changes.as_mut() {
                Some(stream) => stream.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            change = gone => {
                let Some(change) = change else { continue };
                let Ok(args) = change.args() else { continue };
                if args.new_owner().is_none() {
                    let Some(browser) = browser.upgrade() else { return };
                    let name = args.name().to_string();
                    // close_for aborts this task once the last caller is gone.
                    tokio::spawn(async move {
                        browser.close_for_here(&name, "the caller left the bus").await;
                    });
                }
            }
            _ = renewed.changed() => {}
            () = tokio::time::sleep_until(deadline) => {
                let Some(browser) = browser.upgrade() else { return };
                tokio::spawn(async move {
                    browser.close(&format!("no Browse call for {} minutes", IDLE.as_secs() / 60)).await;
                });
                return;
            }
        }
    }
}

fn make_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

/// Runs `restic mount` at `path` in the host's mount namespace and waits
/// until the mount is there.
pub(crate) async fn mount(
    config: &Config,
    host: &File,
    path: &Path,
) -> Result<tokio::process::Child, BackupError> {
    make_dir(path).map_err(|e| failed(format!("cannot make {}: {e}", path.display())))?;
    let mut cmd = tokio::process::Command::from(crate::restic::command::mount(config, path));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let caps = privileges::restic_caps(privileges::repository_of(cmd.as_std()).as_ref())
        .with(Cap::SYS_ADMIN);
    let parent = Pid::this();
    let fd = host.as_raw_fd();
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            crate::priority::die_with_parent(parent, Signal::SIGINT)?;
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            privileges::caps::limit_to(caps)
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        let _ = std::fs::remove_dir(path);
        failed(format!("cannot run restic: {e}"))
    })?;
    let started = Instant::now();
    loop {
        if is_mounted(host, path) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut text = String::new();
            if let Some(err) = child.stderr.take() {
                let _ = err.take(MAX_ERROR).read_to_string(&mut text).await;
            }
            let _ = std::fs::remove_dir(path);
            return Err(failed(format!(
                "restic mount failed ({status}): {}",
                text.trim()
            )));
        }
        if started.elapsed() > MOUNT_TIMEOUT {
            let _ = child.kill().await;
            if is_mounted(host, path) {
                detach(host, path);
            }
            let _ = std::fs::remove_dir(path);
            return Err(failed(format!(
                "restic mount did not mount within {} s",
                MOUNT_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `cmd`, run in the mount namespace `host`.
fn in_namespace(host: &File, cmd: &mut std::process::Command) {
    let fd = host.as_raw_fd();
    // SAFETY: only a system call between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The mounts of the namespace `host`.
fn host_mounts(host: &File) -> Vec<MountEntry> {
    let mut cat = std::process::Command::new("cat");
    cat.arg("/proc/self/mountinfo").stdin(Stdio::null());
    in_namespace(host, &mut cat);
    match cat.output() {
        Ok(out) => mounts_in(&out.stdout),
        Err(e) => {
            tracing::warn!("cannot read the mount table: {e}");
            Vec::new()
        }
    }
}

/// The mounts of a mount table; a line that is not a mount is passed
/// over, not the whole table.
fn mounts_in(table: &[u8]) -> Vec<MountEntry> {
    table
        .split(|&b| b == b'\n')
        .filter_map(parse_mount_line)
        .collect()
}

fn is_restic_fuse(mount: &MountEntry) -> bool {
    mount.fstype.starts_with("fuse") && mount.source == "restic"
}

fn is_mounted(host: &File, path: &Path) -> bool {
    host_mounts(host)
        .iter()
        .any(|m| m.point == path && is_restic_fuse(m))
}

/// Detaches the mount at `path` in the namespace `host` (`umount -l`).
fn detach(host: &File, path: &Path) {
    let mut cmd = std::process::Command::new("umount");
    cmd.arg("-l").arg(path).stdin(Stdio::null());
    in_namespace(host, &mut cmd);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::warn!("umount -l {} failed: {s}", path.display()),
        Err(e) => tracing::warn!("cannot run umount for {}: {e}", path.display()),
    }
}

/// Whether `pid` is a live igotchuu helper (not a zombie).
fn helper_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state …"; comm may hold spaces and parentheses.
    let comm = stat
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'));
    match comm {
        Some((comm, rest)) => {
            let state = rest.split_whitespace().next().unwrap_or("");
            comm == "igotchuu" && state != "Z" && state != "X"
        }
        None => false,
    }
}

impl Browser {
    /// Removes what a helper that is gone left in [`ROOT`] and
    /// [`RESTORE_ROOT`]: restic's mounts (of a restic killed outright) and
    /// the folders. Another live helper's mount stays.
    pub fn remove_stale(&self) {
        if let Ok(host) = &self.host {
            remove_stale_in(host, Path::new(ROOT));
        }
        remove_stale_restores(self.host.as_ref().ok());
    }
}

/// Removes the folders (and restic mounts) that helpers that are gone left
/// in [`RESTORE_ROOT`]; returns the folders removed. A restore's mount is
/// in its helper's own namespace and went with it, but its folder is on
/// the host's `/run`. `host` is the host's mount namespace if the helper
/// can reach it; else (under systemd) this process's own, whose `/run` is
/// the host's too.
pub fn remove_stale_restores(host: Option<&File>) -> Vec<PathBuf> {
    let own;
    let namespace = match host {
        Some(h) => h,
        None => match File::open("/proc/self/ns/mnt") {
            Ok(f) => {
                own = f;
                &own
            }
            Err(_) => return Vec::new(),
        },
    };
    remove_stale_in(namespace, Path::new(RESTORE_ROOT))
}

/// The helper pid a folder `root/<pid>` belongs to.
fn helper_of(root: &Path, path: &Path) -> Option<u32> {
    path.strip_prefix(root)
        .ok()
        .and_then(|rest| rest.to_str())
        .and_then(|rest| rest.parse::<u32>().ok())
}

/// [`Browser::remove_stale`] for the folders `root/<pid>` in the mount
/// namespace `host`.
fn remove_stale_in(host: &File, root: &Path) -> Vec<PathBuf> {
    for mount in host_mounts(host) {
        let Some(pid) = helper_of(root, &mount.point) else {
            continue;
        };
        if is_restic_fuse(&mount) && pid != std::process::id() && !helper_alive(pid) {
            tracing::info!(
                "removing the stale restic mount at {}",
                mount.point.display()
            );
            detach(host, &mount.point);
        }
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = helper_of(root, &entry.path()) else {
            continue;
        };
        if pid != std::process::id() && !helper_alive(pid) {
            // There: this helper's private namespace has a copy of the
            // stale mount, if there was one, which keeps the folder busy.
            let mut rmdir = std::process::Command::new("rmdir");
            rmdir
                .arg(entry.path())
                .stdin(Stdio::null())
                .stderr(Stdio::null());
            in_namespace(host, &mut rmdir);
            if rmdir.status().is_ok_and(|s| s.success()) {
                removed.push(entry.path());
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_names_its_helper() {
        let root = Path::new(RESTORE_ROOT);
        assert_eq!(helper_of(root, &root.join("42")), Some(42));
        assert_eq!(helper_of(root, &root.join("42/ids")), None);
        assert_eq!(helper_of(root, &root.join("x")), None);
        assert_eq!(helper_of(root, Path::new("/run/igotchuu/browse/42")), None);
    }

    #[test]
    fn restics_fuse_mounts_are_told_from_others() {
        let table = b"634 29 0:58 / /run/igotchuu/browse/42 ro,nosuid,nodev,relatime shared:344 \
                    - fuse restic ro,user_id=0,group_id=0,default_permissions,allow_other\n\
                    22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                    garbage\n\
                    641 29 0:61 / /run/igotchuu/browse/44 rw - fuse sshfs rw\n";
        let mounts = mounts_in(table);
        let fuse: Vec<_> = mounts.iter().map(is_restic_fuse).collect();
        assert_eq!(fuse, [true, false, false]);
        assert_eq!(mounts[0].point, Path::new("/run/igotchuu/browse/42"));
    }
}
