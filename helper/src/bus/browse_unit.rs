//! Browse under systemd: the mount made by `igotchuu-browse@<pid>.service`.
//!
//! The mounts must go to the host's mount namespace, where the users'
//! sessions see them. A helper started by dbus-daemon or from a root shell
//! has its parent there and lets restic enter the parent's namespace
//! ([`super::browse`]). Under systemd the parent is PID 1, and its
//! namespace is out of reach, on purpose: the units' `ProtectProc=invisible`
//! and the bounding set without `CAP_SYS_PTRACE` hide `/proc/1`, and
//! `PrivateMounts=yes` keeps every mount the helper makes to itself.
//! Giving every backup `CAP_SYS_PTRACE` and PID 1's `/proc` to open this
//! one door would weaken the sandbox of every run.
//!
//! So the helper asks systemd (root may, without polkit) to start the
//! template unit for its own PID. That unit has no mount namespace of its
//! own and little else: it runs `igotchuu browse-mount <pid>`, which mounts
//! with the same code ([`super::browse::mount`]), says READY=1 once the
//! mount is there, and unmounts when systemd stops it (CloseBrowse, idle,
//! the helper exiting) or when the helper is gone, however it ended: it
//! holds a pidfd of the helper. What a killed `browse-mount` and restic
//! leave, the unit's `ExecStopPost=` detaches.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use igotchuu_dbus::errors::Error as BackupError;
use tokio::signal::unix::{signal, SignalKind};
use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::{fdo, Connection};

use super::browse::{self, ROOT};
use crate::cli::Cli;
use crate::config::Config;
use crate::exit;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";
/// Longer than the unit's TimeoutStartSec=, which systemd enforces.
const START_TIMEOUT: Duration = Duration::from_secs(100);
/// Longer than the unit's TimeoutStopSec=.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);
const POLL: Duration = Duration::from_millis(100);

/// Whether this helper was started by systemd (its parent is PID 1 of a
/// booted systemd), so that its mounts must go through the browse unit.
pub fn under_systemd() -> bool {
    nix::unistd::getppid().as_raw() == 1 && Path::new("/run/systemd/system").is_dir()
}

/// The browse unit of the helper with process id `helper`.
pub fn unit_name(helper: u32) -> String {
    format!("igotchuu-browse@{helper}.service")
}

fn failed(message: String) -> BackupError {
    BackupError::Fdo(fdo::Error::Failed(message))
}

/// A browse session's mount: restic as the helper's child, or the browse
/// unit's.
pub enum Mount {
    Restic(tokio::process::Child),
    Unit(Unit),
}

impl Mount {
    /// Whether the mount's restic (or unit) still runs.
    pub async fn running(&mut self) -> bool {
        match self {
            Mount::Restic(child) => child.try_wait().ok().flatten().is_none(),
            Mount::Unit(unit) => unit.active_state().await.as_deref() == Some("active"),
        }
    }

    /// Unmounts: restic is stopped by the helper, the unit by systemd.
    pub async fn end(&mut self, host: Option<&File>, path: &Path) {
        match self {
            Mount::Restic(child) => browse::unmount(child, host, path).await,
            Mount::Unit(unit) => unit.stop().await,
        }
    }
}

/// The browse unit of this helper, started.
pub struct Unit {
    conn: Connection,
    name: String,
}

impl Unit {
    /// Has systemd start this helper's browse unit and waits until it has
    /// mounted (READY=1) or failed, saying why.
    pub async fn start(conn: &Connection) -> Result<Unit, BackupError> {
        let unit = Unit {
            conn: conn.clone(),
            name: unit_name(std::process::id()),
        };
        tracing::info!("mounting through {}", unit.name);
        // A failed earlier start would otherwise read as this one's end.
        let _ = unit.manager("ResetFailedUnit", &(&unit.name,)).await;
        unit.manager("StartUnit", &(&unit.name, "replace"))
            .await
            .map_err(|e| failed(format!("cannot start {}: {e}", unit.name)))?;
        let started = tokio::time::Instant::now();
        loop {
            match unit.active_state().await.as_deref() {
                Some("active") => return Ok(unit),
                Some("failed") => {
                    let why = unit
                        .property::<String>(SERVICE, "StatusText")
                        .await
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| format!("see journalctl -u {}", unit.name));
                    return Err(failed(format!("cannot mount the repository: {why}")));
                }
                _ if started.elapsed() > START_TIMEOUT => {
                    unit.stop().await;
                    return Err(failed(format!(
                        "{} did not mount within {} s",
                        unit.name,
                        START_TIMEOUT.as_secs()
                    )));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Has systemd stop the unit, and waits until it has.
    pub async fn stop(&self) {
        if let Err(e) = self.manager("StopUnit", &(&self.name, "replace")).await {
            tracing::warn!("cannot stop {}: {e}", self.name);
            return;
        }
        let started = tokio::time::Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            match self.active_state().await.as_deref() {
                None | Some("inactive") | Some("failed") => return,
                _ => tokio::time::sleep(POLL).await,
            }
        }
        tracing::warn!("{} did not stop within {:?}", self.name, STOP_TIMEOUT);
    }

    async fn manager<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), method, body)
            .await
    }

    /// The unit's ActiveState; `None` if systemd has not loaded it (it
    /// never ran, or ended and was unloaded).
    async fn active_state(&self) -> Option<String> {
        self.property(UNIT, "ActiveState").await
    }

    async fn property<T: TryFrom<OwnedValue>>(&self, interface: &str, name: &str) -> Option<T> {
        let reply = self.manager("GetUnit", &(&self.name,)).await.ok()?;
        let path: OwnedObjectPath = reply.body().deserialize().ok()?;
        let reply = self
            .conn
            .call_method(
                Some(SYSTEMD),
                &path,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(interface, name),
            )
            .await
            .ok()?;
        let value: OwnedValue = reply.body().deserialize().ok()?;
        T::try_from(value).ok()
    }
}

// ------------------------------------------------- the unit's side

/// `igotchuu browse-mount <helper>`, the browse unit's program: mounts the
/// repository at [`ROOT`]`/<helper>` in this (the host's) mount namespace
/// and keeps it until systemd stops the unit or the helper is gone.
pub fn serve(cli: &Cli, helper: u32) -> u8 {
    let config = match Config::load(&cli.config, cli.profile.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            notify(&format!("STATUS={e}"));
            eprintln!("igotchuu: {e}");
            return exit::CONFIG;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return refuse(&format!("cannot start: {e}")),
    };
    runtime.block_on(mount_for(&config, helper))
}

fn refuse(why: &str) -> u8 {
    notify(&format!("STATUS={why}"));
    eprintln!("igotchuu: {why}");
    exit::FAILED
}

async fn mount_for(config: &Config, helper: u32) -> u8 {
    let helper_gone = match pidfd_of_helper(helper) {
        Ok(fd) => fd,
        Err(why) => return refuse(&why),
    };
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => return refuse("cannot handle signals"),
    };
    let host = match File::open("/proc/self/ns/mnt") {
        Ok(f) => f,
        Err(e) => return refuse(&format!("cannot open /proc/self/ns/mnt: {e}")),
    };
    let path = Path::new(ROOT).join(helper.to_string());
    let mut restic = match browse::mount(config, &host, &path).await {
        Ok(child) => child,
        Err(BackupError::Fdo(fdo::Error::Failed(why))) => return refuse(&why),
        Err(e) => return refuse(&e.to_string()),
    };
    notify(&format!(
        "READY=1\nSTATUS=mounted at {} for helper {helper}",
        path.display()
    ));
    let why = tokio::select! {
        _ = term.recv() => "stopped",
        _ = int.recv() => "stopped",
        () = exited(&helper_gone) => "the helper is gone",
        _ = restic.wait() => "restic mount exited",
    };
    tracing::info!("unmounting {}: {why}", path.display());
    browse::unmount(&mut restic, Some(&host), &path).await;
    exit::COMPLETED
}

/// Returns once the process of `pidfd` has exited.
async fn exited(pidfd: &OwnedFd) {
    while !has_exited(pidfd) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the process of `pidfd` has exited (its pidfd is readable).
fn has_exited(pidfd: &OwnedFd) -> bool {
    let mut poll = [libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(poll.as_mut_ptr(), 1, 0) != 0 }
}

/// A pidfd of `pid`, which must be an igotchuu helper.
fn pidfd_of_helper(pid: u32) -> Result<OwnedFd, String> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(format!(
            "no helper process {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Checked after the pidfd was taken: if the process is still there,
    // what /proc says is its own.
    let helper = is_helper(pid);
    if has_exited(&fd) {
        return Err(format!(
            "process {pid} is not an igotchuu helper: it is gone"
        ));
    }
    helper.map_err(|why| format!("process {pid} is not an igotchuu helper: {why}"))?;
    Ok(fd)
}

/// Whether `pid` runs as root (real and effective uid 0) and runs this
/// very program (its `/proc/<pid>/exe` is the same file as ours, or, if
/// the kernel does not show it, its name is `igotchuu`): anyone can name
/// a process `igotchuu`.
fn is_helper(pid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read its status: {e}"))?;
    let uids: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    if uids.len() < 2 || uids[..2] != ["0", "0"] {
        return Err("it does not run as root".into());
    }
    let ours =
        std::fs::metadata("/proc/self/exe").map_err(|e| format!("cannot see this program: {e}"))?;
    match std::fs::metadata(format!("/proc/{pid}/exe")) {
        Ok(theirs) if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) => Ok(()),
        Ok(_) => Err("it runs another program".into()),
        // The kernel lets a process see another's program only if it holds
        // all of the other's capabilities (or CAP_SYS_PTRACE): the helper
        // of igotchuu-bus.service has some this unit lacks, on purpose.
        // Then the name must do, for a process that is root anyway.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim_end() == "igotchuu" {
                Ok(())
            } else {
                Err("it runs another program".into())
            }
        }
        Err(e) => Err(format!("cannot see its program: {e}")),
    }
}

/// Tells systemd `state` (sd_notify(3)); nothing outside a notify unit.
fn notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let addr = match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&socket),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr));
    if let Err(e) = sent {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// A `sleep` as `uid`, killed on drop.
    struct Sleep(std::process::Child);

    impl Sleep {
        fn as_user(uid: u32) -> Sleep {
            let mut cmd = std::process::Command::new("sleep");
            cmd.arg("30");
            if nix::unistd::geteuid().is_root() {
                cmd.uid(uid).gid(uid);
            }
            Sleep(cmd.spawn().unwrap())
        }
    }

    impl Drop for Sleep {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn only_a_root_process_of_this_program_is_a_helper() {
        let nobody = Sleep::as_user(65534);
        let why = is_helper(nobody.0.id()).unwrap_err();
        assert!(
            why == "it does not run as root" || !nix::unistd::geteuid().is_root(),
            "{why}"
        );
        assert!(pidfd_of_helper(nobody.0.id()).is_err());
        if nix::unistd::geteuid().is_root() {
            let root = Sleep::as_user(0);
            assert_eq!(
                is_helper(root.0.id()).unwrap_err(),
                "it runs another program"
            );
            assert_eq!(is_helper(std::process::id()), Ok(()));
        }
        assert!(is_helper(u32::MAX).is_err());
    }
}
