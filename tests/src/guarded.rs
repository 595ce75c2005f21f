//! Processes a test starts and must never leave behind, and the small
//! waits and checks that go with them.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to clean up after SIGTERM (Xvfb removes its
/// socket and lock file) before it is killed.
const GRACE: Duration = Duration::from_secs(3);

/// Panics, naming the Debian package, when a tool is missing. `tool` is a
/// name looked up in PATH, or an absolute path.
pub fn require_tool(tool: &str, package: &str) {
    let found = if tool.starts_with('/') {
        Path::new(tool).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
    };
    assert!(
        found,
        "{tool} is not installed: install the Debian package {package} (scripts/deps.sh test)"
    );
}

/// Waits until `done` is true; panics after `timeout`, saying what it
/// waited for ([`wait::until`](crate::wait::until) for a plain condition).
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    crate::wait::until(what, timeout, || done().then_some(()));
}

/// A child process that is asked to end (SIGTERM), then killed, and always
/// waited for, when it is dropped.
pub struct Guarded {
    name: &'static str,
    child: Child,
}

impl Guarded {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Guarded { name, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for it to exit by itself; true if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if !self.running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The first line it prints on stdout; the rest is read in the
    /// background, so that it never gets SIGPIPE or blocks on a full pipe.
    pub fn first_line(&mut self) -> String {
        let mut line = String::new();
        if let Some(out) = self.stdout() {
            let mut out = BufReader::new(out);
            let _ = out.read_line(&mut line);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out, &mut std::io::sink());
            });
        }
        line.trim().to_owned()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.running() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            if !self.wait_exit(GRACE) {
                let _ = self.child.kill();
            }
        }
        if let Err(e) = self.child.wait() {
            eprintln!("cannot wait for {}: {e}", self.name);
        }
    }
}

/// A private session bus: a `dbus-daemon` with Debian's session
/// configuration, listening in `dir`, that any user may join, so that a
/// test can run a client as `nobody` in the same session. Returns the
/// daemon and its address.
pub fn session_bus(dir: &Path) -> (Guarded, String) {
    require_tool("dbus-daemon", "dbus-daemon");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
    let config = dir.join("session.conf");
    std::fs::write(&config, SESSION_CONFIG).expect("write the session bus config");
    let mut daemon = Guarded::spawn(
        "session dbus-daemon",
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg(format!("--address=unix:dir={}", dir.display()))
            .args(["--nofork", "--nosyslog", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its notes about the accessibility bus and fd limits are noise.
            .stderr(Stdio::null()),
    );
    let address = daemon.first_line();
    assert!(
        address.starts_with("unix:"),
        "the session dbus-daemon did not start"
    );
    (daemon, address)
}

/// Debian's session bus, open to every user of this machine.
const SESSION_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>/usr/share/dbus-1/session.conf</include>
  <policy context="default"><allow user="*"/></policy>
</busconfig>
"#;
