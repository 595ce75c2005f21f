//! A private system bus (the real `dbus-daemon`) and a real polkitd on it,
//! each killed and reaped when dropped, so that a failing test leaves
//! neither behind. Clients reach the bus through `DBUS_SYSTEM_BUS_ADDRESS`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub use crate::guarded::require_tool;
pub use crate::sysbus::POLKIT_BUS_POLICY;
use crate::sysbus::SYSTEM_DEFAULTS;
use crate::{procs, wait};

/// polkitd's bus name.
pub use crate::polkit::{BUS_NAME as POLKIT_NAME, POLKITD};

/// A folder for a bus's socket and files that every user can enter:
/// clients run as `nobody`, and polkitd switches to its own user.
pub fn bus_dir(prefix: &str) -> TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// What goes into a private bus's configuration besides [`SYSTEM_DEFAULTS`].
#[derive(Debug, Clone, Default)]
pub struct BusConfig {
    /// Policy files, each `<include>`d (a missing one is an error).
    pub includes: Vec<PathBuf>,
    /// Folders of policy files, each `<includedir>`.
    pub includedirs: Vec<PathBuf>,
    /// Folders of activation files, each a `<servicedir>`.
    pub servicedirs: Vec<PathBuf>,
}

impl BusConfig {
    /// Writes `dir/bus.conf` for a system bus listening on `listen` (a
    /// D-Bus server address such as `unix:dir=/tmp/x`).
    pub fn write(&self, dir: &Path, listen: &str) -> PathBuf {
        let mut body = String::new();
        let tags = [
            ("servicedir", &self.servicedirs),
            ("include", &self.includes),
            ("includedir", &self.includedirs),
        ];
        for (tag, paths) in tags {
            for p in paths {
                body.push_str(&format!("  <{tag}>{}</{tag}>\n", p.display()));
            }
        }
        let config = format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>{listen}</listen>
  <auth>EXTERNAL</auth>
  {SYSTEM_DEFAULTS}
{body}</busconfig>
"#
        );
        let path = dir.join("bus.conf");
        std::fs::write(&path, config).unwrap();
        path
    }
}

/// Starts `dbus-daemon` on `config` in the foreground, its output piped:
/// for configurations it is expected to refuse.
pub fn spawn_daemon(config: &Path) -> Child {
    require_tool("dbus-daemon", "dbus-daemon");
    Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--nosyslog"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbus-daemon")
}

/// A private system bus, killed and waited for when dropped. Its socket,
/// config and log live in `dir`, which goes with it.
pub struct PrivateBus {
    daemon: Child,
    address: String,
    dir: TempDir,
}

/// The bus's socket, in its folder.
const SOCKET: &str = "system_bus_socket";
/// What the daemon and the services it starts print (they inherit its
/// stdout and stderr, so a pipe nobody reads could fill and block them).
const LOG: &str = "bus.log";

impl PrivateBus {
    /// Starts a bus configured by `config`, listening in `dir`.
    pub fn start(dir: TempDir, config: &BusConfig) -> Self {
        Self::start_with(dir, config, |_| {})
    }

    /// Like [`PrivateBus::start`]; `daemon` may change the daemon's command
    /// first. Services the bus activates inherit its environment.
    pub fn start_with(dir: TempDir, config: &BusConfig, daemon: impl FnOnce(&mut Command)) -> Self {
        require_tool("dbus-daemon", "dbus-daemon");
        let socket = dir.path().join(SOCKET);
        let config = config.write(dir.path(), &format!("unix:path={}", socket.display()));
        let log = std::fs::File::create(dir.path().join(LOG)).unwrap();
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nosyslog", "--print-address"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        daemon(&mut cmd);
        // The guard exists before anything can panic, so the daemon never outlives the test.
        let mut bus = PrivateBus {
            daemon: cmd.spawn().expect("start dbus-daemon"),
            address: format!("unix:path={}", socket.display()),
            dir,
        };
        // It prints its address once it listens (the socket exists from
        // bind on, when a connection is still refused); clients that connect
        // before its main loop runs just wait in the kernel's queue.
        wait::until("dbus-daemon to listen", wait::DEADLINE, || {
            if let Some(status) = bus.daemon.try_wait().unwrap() {
                panic!("dbus-daemon exited with {status}:\n{}", bus.log());
            }
            let log = bus.log();
            let printed = log
                .lines()
                .any(|l| l.starts_with("unix:") && l.contains(",guid="));
            printed.then_some(())
        });
        bus
    }

    /// The address for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The bus's folder (socket, config, log); gone with the bus.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the daemon, and the services it started, printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(LOG)).unwrap_or_default()
    }

    /// Whether someone owns `name` on this bus.
    pub fn name_has_owner(&self, name: &str) -> bool {
        let out = Command::new("dbus-send")
            .args([
                "--system",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
            ])
            .arg(format!("string:{name}"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .output()
            .expect("run dbus-send");
        assert!(
            out.status.success(),
            "NameHasOwner: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }
}

impl PrivateBus {
    /// Every live process this bus started, and what they started: the bus
    /// tells each `DBUS_STARTER_ADDRESS`, and children inherit it. (They
    /// are not the daemon's descendants: it double-forks them.)
    pub fn activated(&self) -> Vec<i32> {
        let mut pids = procs::with_environ_entry(&format!("DBUS_STARTER_ADDRESS={}", self.address));
        pids.sort_unstable();
        pids
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        // What the bus started (a helper, and its restic) would outlive it.
        procs::terminate(&self.activated(), STOP_GRACE);
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// How long processes may take to end after SIGTERM, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// polkitd on a private bus, killed and reaped when dropped. Root is always
/// authorized; a caller of another user without an agent is not. It reads
/// actions from /usr/share/polkit-1/actions: bind or overlay a folder there
/// in the test's private mount namespace to give it others.
pub struct Polkitd {
    child: Child,
}

impl Polkitd {
    /// Starts polkitd on `bus` and waits until it owns its name. The bus
    /// must include [`POLKIT_BUS_POLICY`], and its folder must be open to the
    /// `polkitd` user (see [`bus_dir`]).
    pub fn start(bus: &PrivateBus) -> Self {
        require_tool(POLKITD, "polkitd");
        let log = bus.dir().join("polkitd.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(POLKITD)
            .arg("--no-debug")
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start polkitd");
        let mut polkitd = Polkitd { child };
        wait::until("polkitd to own its name", wait::DEADLINE, || {
            if let Some(status) = polkitd.child.try_wait().unwrap() {
                panic!(
                    "polkitd exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            bus.name_has_owner(POLKIT_NAME).then_some(())
        });
        polkitd
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Polkitd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
