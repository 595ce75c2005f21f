//! Real systemd, booted in a container: `systemd-nspawn -D / --volatile=yes
//! --boot` on this machine's own read-only `/usr` (as this thread's private
//! mount namespace shows it, overlays included), with a fresh tmpfs for
//! everything else, no network, and the folders and files a test binds in.
//!
//! The container runs in a guard: dropping it (a test that failed or timed
//! out) asks systemd in the container to power off, and after a grace
//! period kills the container's PID 1, which takes every process in its PID
//! namespace with it, and then nspawn. Its mounts live in its own mount
//! namespace and go with it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::guarded::require_tool;
use crate::{procs, wait};

/// How long a powered-off container may take to end before it is killed.
const POWEROFF_GRACE: Duration = Duration::from_secs(15);

/// Where nspawn keeps a folder per machine on the host.
const PROPAGATE: &str = "/run/systemd/nspawn/propagate";

/// A machine name no other container of this process uses.
fn fresh_machine_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "igotchuu-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a container gets besides the machine's `/usr`.
#[derive(Debug, Default)]
pub struct Container {
    args: Vec<OsString>,
}

impl Container {
    pub fn new() -> Self {
        Self::default()
    }

    /// `host` (a file or folder) at `inside`, writable.
    pub fn bind(&mut self, host: &Path, inside: &str) -> &mut Self {
        self.arg("--bind", host, inside)
    }

    /// `host` at `inside`, read-only.
    pub fn bind_ro(&mut self, host: &Path, inside: &str) -> &mut Self {
        self.arg("--bind-ro", host, inside)
    }

    /// The host's device node `dev` (e.g. `/dev/fuse`, which nspawn of
    /// systemd 252 does not give a container) at the same path inside.
    pub fn device(&mut self, dev: &str) -> &mut Self {
        self.arg("--bind", Path::new(dev), dev)
    }

    fn arg(&mut self, option: &str, host: &Path, inside: &str) -> &mut Self {
        let host = host.to_str().expect("UTF-8 path");
        assert!(!host.contains(':'), "nspawn cannot bind {host:?}");
        self.args.push(format!("{option}={host}:{inside}").into());
        self
    }

    /// Boots the container; its console goes to `log`.
    pub fn boot(&self, log: &Path) -> Booted {
        require_tool("systemd-nspawn", "systemd-container");
        let machine = fresh_machine_name();
        let console = std::fs::File::create(log).expect("console log");
        let mut cmd = Command::new("systemd-nspawn");
        cmd.args(["-D", "/", "--volatile=yes", "--boot", "--register=no"])
            .args(["--keep-unit", "--private-network", "--console=read-only"])
            .arg(format!("--machine={machine}"))
            .args(&self.args)
            // The kernel command line's part for systemd: no first-boot
            // questions, and no colours in the log.
            .args(["--", "systemd.firstboot=off", "systemd.log_color=0"])
            .env("SYSTEMD_COLORS", "0")
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .process_group(0);
        let child = cmd.spawn().expect("start systemd-nspawn");
        Booted {
            child: Some(child),
            log: log.to_owned(),
            machine,
        }
    }
}

/// A booted container; powered off, or killed, when dropped.
pub struct Booted {
    child: Option<Child>,
    log: PathBuf,
    machine: String,
}

impl Booted {
    /// Waits until the container has powered itself off. After `limit` it
    /// is stopped, and the test fails with the end of its console log.
    pub fn wait(mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        let child = self.child.as_mut().expect("not waited yet");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if start.elapsed() > limit {
                self.stop();
                panic!(
                    "the container did not power off within {limit:?}; stopped it\n{}",
                    tail(&self.log, 60)
                );
            }
            std::thread::sleep(wait::POLL * 10);
        }
    }

    /// Powers the container off (nspawn turns SIGTERM into a clean shutdown
    /// request), then kills whatever is left.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let nspawn = child.id() as i32;
        if child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(nspawn), Signal::SIGTERM);
            if !wait::pid_gone_within(nspawn, POWEROFF_GRACE) {
                for init in container_inits(nspawn) {
                    // The end of a PID namespace's init ends all of it.
                    let _ = kill(Pid::from_raw(init), Signal::SIGKILL);
                }
                let _ = killpg(Pid::from_raw(nspawn), Signal::SIGKILL);
            }
        }
        let _ = child.wait();
        // The (empty) folder a killed nspawn could not remove itself.
        let _ = std::fs::remove_dir(Path::new(PROPAGATE).join(&self.machine));
    }
}

impl Drop for Booted {
    fn drop(&mut self) {
        self.stop();
    }
}

/// nspawn's descendants that are PID 1 of a PID namespace of their own.
fn container_inits(nspawn: i32) -> Vec<i32> {
    procs::descendants(nspawn)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    let nspid = s.lines().find(|l| l.starts_with("NSpid:"))?.to_owned();
                    Some(nspid.split_whitespace().last() == Some("1"))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// The last `lines` lines of a file, for a failure message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!("--- {} ---\n{}", path.display(), all[from..].join("\n"))
}
