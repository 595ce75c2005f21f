//! A private *system* bus: the real `dbus-daemon` with a config of the
//! test's own that includes the repository's bus policy, so that the test
//! exercises the policy file that gets installed.
//!
//! Start it on the test's thread after the [`Fixture`](crate::fixture::Fixture):
//! the daemon, and every helper it D-Bus-activates, then live in the
//! thread's private mount namespace and see the test's loop btrfs. Dropping
//! the bus stops what it activated (SIGTERM, then SIGKILL) and the daemon.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

pub use crate::guarded::require_tool;
use crate::helper::{helper_bin, HelperEnv};
use crate::{procs, repo_root, wait};

/// The repository's bus policy.
pub const BUS_POLICY: &str = "dbus/com.nyantec.IGotChuu.conf";
/// The repository's activation file (`@bindir@` to substitute).
pub const ACTIVATION_FILE: &str = "dbus/com.nyantec.IGotChuu.service.in";
/// polkitd's own bus policy, from the polkitd package.
pub const POLKIT_BUS_POLICY: &str = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf";
/// How long the daemon may take to listen.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long what the bus activated gets to end on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The default rules of Debian's /usr/share/dbus-1/system.conf that matter
/// here: deny owning and calling, allow signals and replies, allow talking
/// to the bus itself.
pub const SYSTEM_DEFAULTS: &str = r#"
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="UpdateActivationEnvironment"/>
  </policy>
"#;

/// Lets root own `name` and anyone call it: for stand-ins of system
/// services (logind) that have no policy file of ours.
pub fn open_policy(name: &str) -> String {
    format!(
        r#"<policy user="root"><allow own="{name}"/></policy>
  <policy context="default"><allow send_destination="{name}"/></policy>"#
    )
}

/// Whether `s` has a meson-style `@placeholder@` (not `@mount`, a syscall set).
pub fn has_placeholder(s: &str) -> bool {
    s.split('@')
        .skip(1)
        .zip(s.split('@').skip(2))
        .any(|(word, _)| {
            !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
}

/// A `.in` file of the repository with `@bindir@` replaced.
pub fn substituted(rel: &str, bindir: &Path) -> String {
    let path = repo_root().join(rel);
    let s = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .replace("@bindir@", bindir.to_str().expect("UTF-8 path"));
    assert!(!has_placeholder(&s), "{rel} has another @placeholder@");
    s
}

/// What the bus is set up with.
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// Include the repository's bus policy (`dbus/com.nyantec.IGotChuu.conf`).
    pub policy: bool,
    /// Include polkitd's bus policy, so that polkitd can run on the bus.
    pub polkit: bool,
    /// More `<policy>` elements, e.g. [`open_policy`].
    pub extra_policy: String,
    /// More policy files to `<include>`.
    pub includes: Vec<PathBuf>,
    /// The activation file to install, if any.
    pub activation: Option<Activation>,
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            policy: true,
            polkit: true,
            extra_policy: String::new(),
            includes: Vec::new(),
            activation: None,
        }
    }
}

/// The repository's activation file, as a bus with it would run it.
#[derive(Debug, Clone)]
pub struct Activation {
    /// What `@bindir@/igotchuu` becomes.
    pub program: PathBuf,
    /// Appended to `Exec=` (e.g. `-c CONFIG`).
    pub extra_args: Vec<String>,
    /// The daemon's environment, which it passes to what it activates.
    pub env: Vec<(OsString, OsString)>,
}

impl Activation {
    /// `igotchuu serve -c CONFIG` with `env`'s state directory and PATH:
    /// exactly what a run spawned from `env` would get.
    pub fn helper(env: &HelperEnv) -> Self {
        Activation {
            program: helper_bin(),
            extra_args: vec![
                "-c".into(),
                env.config_path().to_str().expect("UTF-8").to_owned(),
            ],
            env: env.vars(),
        }
    }

    /// The activation file's text.
    fn file(&self) -> String {
        let marker = Path::new("/BINDIR-MARKER");
        let text = substituted(ACTIVATION_FILE, marker);
        let program = self.program.to_str().expect("UTF-8 path");
        let mut out = String::new();
        for line in text.lines() {
            if let Some(exec) = line.strip_prefix("Exec=") {
                let exec = exec.replace("/BINDIR-MARKER/igotchuu", program);
                assert!(!exec.contains("BINDIR-MARKER"), "unexpected Exec= {exec}");
                out.push_str("Exec=");
                out.push_str(&exec);
                for a in &self.extra_args {
                    assert!(!a.contains(char::is_whitespace), "{a:?} needs quoting");
                    out.push(' ');
                    out.push_str(a);
                }
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        out
    }
}

/// A running private system bus.
pub struct SystemBus {
    daemon: Option<Child>,
    address: String,
    /// The daemon's environment (passed on to what it activates).
    env: Vec<(OsString, OsString)>,
    dir: TempDir,
}

impl SystemBus {
    /// The repository's policy and polkitd's, nothing to activate.
    pub fn start() -> Self {
        Self::with(BusOptions::default())
    }

    pub fn with(options: BusOptions) -> Self {
        Self::try_with(options).unwrap_or_else(|log| panic!("dbus-daemon did not start:\n{log}"))
    }

    /// Starts the bus, or returns the daemon's log if it refused to start
    /// (a config it does not accept).
    pub fn try_with(options: BusOptions) -> Result<Self, String> {
        require_tool("dbus-daemon", "dbus-daemon");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-bus-")
            .tempdir()
            .expect("temp dir");
        // Clients run as nobody too: they must reach the socket.
        set_mode(dir.path(), 0o755);
        let services = dir.path().join("services");
        std::fs::create_dir(&services).expect("services dir");
        let mut env = Vec::new();
        if let Some(a) = &options.activation {
            std::fs::write(services.join("com.nyantec.IGotChuu.service"), a.file())
                .expect("write activation file");
            env.clone_from(&a.env);
        }
        let socket = dir.path().join("system_bus_socket");
        let address = format!("unix:path={}", socket.display());
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, config_text(&options, &socket, &services)).expect("bus config");
        let mut bus = SystemBus {
            daemon: None,
            address,
            env,
            dir,
        };
        bus.spawn_daemon().map(|()| bus)
    }

    /// Starts the daemon on the bus's config and socket; waits until it listens.
    fn spawn_daemon(&mut self) -> Result<(), String> {
        let socket = self.dir().join("system_bus_socket");
        let out = self.dir().join("daemon.out");
        let log = self.dir().join("daemon.log");
        let append = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let printed_before = std::fs::metadata(&out).map_or(0, |m| m.len());
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!(
            "--config-file={}",
            self.dir().join("bus.conf").display()
        ))
        .args(["--nofork", "--nosyslog", "--print-address"])
        .envs(self.env.iter().cloned())
        .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
        .stdin(Stdio::null())
        // Files, not pipes: activated services write here too, and a pipe
        // nobody reads would block them.
        .stdout(append(&out))
        .stderr(append(&log));
        // The guard holds it before anything can panic.
        self.daemon = Some(cmd.spawn().expect("start dbus-daemon"));
        let child = self.daemon.as_mut().expect("just started");
        wait::until("dbus-daemon to listen", START_LIMIT, || {
            if let Some(status) = child.try_wait().expect("wait dbus-daemon") {
                return Some(Err(format!(
                    "dbus-daemon ended with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )));
            }
            let printed = std::fs::metadata(&out).map_or(0, |m| m.len());
            (printed > printed_before && socket.exists()).then_some(Ok(()))
        })
    }

    /// Starts a new daemon on the same address (after [`kill`](Self::kill)),
    /// as a restarted system bus would be.
    pub fn restart(&mut self) {
        assert!(self.daemon.is_none(), "the daemon still runs");
        let _ = std::fs::remove_file(self.dir().join("system_bus_socket"));
        self.spawn_daemon()
            .unwrap_or_else(|log| panic!("dbus-daemon did not restart:\n{log}"));
    }

    /// `unix:path=…`: what `DBUS_SYSTEM_BUS_ADDRESS` is set to for clients.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The bus's folder (config, socket, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.daemon.as_ref().expect("the daemon was killed").id() as i32
    }

    /// The daemon's stderr, and what activated services wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("daemon.log")).unwrap_or_default()
    }

    /// What activated services wrote to stdout (after the daemon's address).
    pub fn services_stdout(&self) -> String {
        std::fs::read_to_string(self.dir().join("daemon.out")).unwrap_or_default()
    }

    /// A new connection to the bus. Its calls time out after
    /// [`wait::DEADLINE`], so that a hanging helper fails a test.
    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .expect("bus address")
            .method_timeout(wait::DEADLINE)
            .build()
            .await
            .unwrap_or_else(|e| panic!("connect to the private bus: {e}"))
    }

    /// `program` with `DBUS_SYSTEM_BUS_ADDRESS` pointing here.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null());
        c
    }

    /// `program` run as `user` (through `runuser`), on this bus.
    pub fn command_as(&self, user: &str, program: &str) -> Command {
        require_tool("runuser", "util-linux");
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--", program])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null());
        c
    }

    /// The unique name owning `name` now, if any.
    pub async fn owner(&self, conn: &zbus::Connection, name: &str) -> Option<String> {
        let dbus = zbus::fdo::DBusProxy::new(conn).await.expect("bus proxy");
        let name = zbus::names::BusName::try_from(name).expect("bus name");
        dbus.get_name_owner(name).await.ok().map(|n| n.to_string())
    }

    /// Waits until `name` has an owner; returns its unique name and pid.
    pub async fn wait_owner(
        &self,
        conn: &zbus::Connection,
        name: &str,
        timeout: Duration,
    ) -> (String, u32) {
        let dbus = zbus::fdo::DBusProxy::new(conn).await.expect("bus proxy");
        let start = std::time::Instant::now();
        loop {
            if let Some(owner) = self.owner(conn, name).await {
                let bus_name = zbus::names::BusName::try_from(owner.as_str()).expect("unique");
                if let Ok(pid) = dbus.get_connection_unix_process_id(bus_name).await {
                    return (owner, pid);
                }
            }
            assert!(
                start.elapsed() < timeout,
                "nobody owned {name} within {timeout:?}; bus log:\n{}",
                self.log()
            );
            async_io::Timer::after(wait::POLL).await;
        }
    }

    /// Waits until `name` has no owner. A killed owner's connection is
    /// closed at once, but the bus may not have read that yet: a call sent
    /// before it has goes to the dead owner and fails with NoReply.
    pub async fn wait_unowned(&self, conn: &zbus::Connection, name: &str, timeout: Duration) {
        let start = std::time::Instant::now();
        while let Some(owner) = self.owner(conn, name).await {
            assert!(
                start.elapsed() < timeout,
                "{owner} still owns {name} after {timeout:?}; bus log:\n{}",
                self.log()
            );
            async_io::Timer::after(wait::POLL).await;
        }
    }

    /// The live processes this bus activated. dbus-daemon sets
    /// `DBUS_STARTER_ADDRESS` for them; they are not its children (its
    /// activation helper forks them off).
    pub fn activated(&self) -> Vec<i32> {
        procs::with_environ_entry(&format!("DBUS_STARTER_ADDRESS={}", self.address))
    }

    /// Kills the daemon at once (SIGKILL), as a crash would; what it
    /// activated lives on. Returns the daemon's pid.
    pub fn kill(&mut self) -> i32 {
        let mut child = self.daemon.take().expect("the daemon was killed already");
        let pid = child.id() as i32;
        let _ = child.kill();
        let _ = child.wait();
        pid
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            // Ask what it activated to stop in order first, so that it
            // cleans up after itself.
            procs::terminate(&self.activated(), STOP_GRACE);
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

fn config_text(options: &BusOptions, socket: &Path, services: &Path) -> String {
    let mut includes = String::new();
    if options.policy {
        includes.push_str(&format!(
            "<include>{}</include>\n",
            repo_root().join(BUS_POLICY).display()
        ));
    }
    if options.polkit {
        assert!(
            Path::new(POLKIT_BUS_POLICY).is_file(),
            "{POLKIT_BUS_POLICY} is missing: install the Debian package polkitd"
        );
        includes.push_str(&format!("<include>{POLKIT_BUS_POLICY}</include>\n"));
    }
    for p in &options.includes {
        includes.push_str(&format!("<include>{}</include>\n", p.display()));
    }
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  {SYSTEM_DEFAULTS}
  {includes}
  {extra}
</busconfig>
"#,
        socket = socket.display(),
        services = services.display(),
        extra = options.extra_policy,
    )
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        assert!(has_placeholder("Exec=@bindir@/igotchuu"));
        assert!(has_placeholder("a @libexecdir@ b"));
        assert!(!has_placeholder("SystemCallFilter=@system-service @mount"));
        assert!(!has_placeholder("Exec=/usr/bin/igotchuu serve"));
    }

    #[test]
    fn activation_runs_the_given_program_with_the_file_s_arguments() {
        let a = Activation {
            program: "/opt/x/igotchuu-test".into(),
            extra_args: vec!["-c".into(), "/tmp/c.toml".into()],
            env: vec![],
        };
        let file = a.file();
        assert!(
            file.lines()
                .any(|l| l == "Exec=/opt/x/igotchuu-test serve -c /tmp/c.toml"),
            "{file}"
        );
        assert!(file.contains("Name=com.nyantec.IGotChuu"));
    }
}
