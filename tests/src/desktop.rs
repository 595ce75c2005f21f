//! A desktop session for GUI tests, all from Debian: `Xvfb` (on a display
//! it picks itself), a private session bus, `status-notifier-watcher` (a
//! StatusNotifierWatcher), `gtk-sni-tray-standalone` (a tray host), `dunst`
//! (a notification server), and screenshots with ImageMagick's `import`.
//! Also a private *system* bus with the repository's bus policy, and the
//! tray binary as a process whose log is kept.
//!
//! Every process is killed and waited for when its guard drops, also when
//! the test fails: each guard exists before anything that can panic.
//!
//! Debian packages: xvfb, dbus-daemon (and dbus-bin for dbus-send),
//! haskell-status-notifier-item-utils, haskell-gtk-sni-tray-utils, dunst,
//! imagemagick.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Width and height of the virtual screen.
pub const SCREEN: (u32, u32) = (480, 200);
/// Height of the tray host's bar, along the top of the screen.
pub const BAR: u32 = 32;
const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
const NOTIFICATIONS_NAME: &str = "org.freedesktop.Notifications";
/// How long a helper process may take to come up.
const STARTUP: Duration = Duration::from_secs(20);

/// Panics, naming the Debian package, when a tool is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: install the Debian package {package} (scripts/deps.sh test)"
    );
}

/// Calls `done` every 50 ms until it is true; panics after `timeout`,
/// saying what it waited for.
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed and waited for on drop.
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
}

/// How long a process gets to clean up after SIGTERM (Xvfb removes its
/// socket and lock file) before it is killed.
const GRACE: Duration = Duration::from_secs(3);

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

/// A dbus-daemon printing its address on stdout, with `args`.
fn dbus_daemon(name: &'static str, args: &[String]) -> (Guarded, String) {
    require_tool("dbus-daemon", "dbus-daemon");
    let mut daemon = Guarded::spawn(
        name,
        Command::new("dbus-daemon")
            .args(args)
            .args(["--nofork", "--nosyslog", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut address = String::new();
    if let Some(out) = daemon.stdout() {
        let mut out = BufReader::new(out);
        let _ = out.read_line(&mut address);
        // Keep reading in the background: the daemon must never get SIGPIPE.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
    }
    let address = address.trim().to_owned();
    assert!(address.starts_with("unix:"), "{name} did not start");
    (daemon, address)
}

/// The default rules of Debian's system.conf that matter to a client and
/// the helper: deny owning and calling, allow signals and replies, allow
/// talking to the bus itself.
const SYSTEM_DEFAULTS: &str = r#"
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
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
"#;

/// A private system bus with the repository's policy for the helper's
/// name, on a fixed socket path so that a restarted daemon has the same
/// address.
pub struct SystemBus {
    daemon: Option<Guarded>,
    config: PathBuf,
    socket: PathBuf,
    address: String,
    _dir: TempDir,
}

impl SystemBus {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-sysbus-")
            .tempdir()
            .expect("temp dir");
        let socket = dir.path().join("system_bus_socket");
        let policy = crate_root().join("dbus/com.nyantec.IGotChuu.conf");
        let config = dir.path().join("system.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  {SYSTEM_DEFAULTS}
  <include>{}</include>
</busconfig>
"#,
                socket.display(),
                policy.display()
            ),
        )
        .expect("write the bus config");
        let mut bus = SystemBus {
            daemon: None,
            config,
            socket,
            address: String::new(),
            _dir: dir,
        };
        bus.spawn();
        bus
    }

    fn spawn(&mut self) {
        let (daemon, _) = dbus_daemon(
            "system dbus-daemon",
            &[format!("--config-file={}", self.config.display())],
        );
        self.daemon = Some(daemon);
        // Without the daemon's guid, as on a real system: a restarted
        // daemon has another one, and clients must still reach it.
        self.address = format!("unix:path={}", self.socket.display());
    }

    /// `DBUS_SYSTEM_BUS_ADDRESS` for clients.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Kills the daemon, as a crash or an upgrade would.
    pub fn stop(&mut self) {
        self.daemon = None;
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Starts it again at the same address.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// The repository's root.
pub fn crate_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// A desktop session: X, a session bus, a notification server, and (when
/// asked) a StatusNotifierWatcher and a tray host.
pub struct Desktop {
    // Dropped in reverse order of starting: clients before servers.
    host: Option<Guarded>,
    watcher: Option<Guarded>,
    dunst: Option<Guarded>,
    session_bus: Option<Guarded>,
    xvfb: Option<Guarded>,
    display: String,
    session_address: String,
    runtime_dir: PathBuf,
    dir: TempDir,
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("host.log"));
            eprintln!(
                "--- the tray host's log ---\n{}---",
                log.unwrap_or_default()
            );
        }
        self.host = None;
        self.watcher = None;
        self.dunst = None;
        self.session_bus = None;
        self.xvfb = None;
    }
}

impl Desktop {
    /// X, the session bus and dunst; a watcher and a tray host if
    /// `with_tray_host`.
    pub fn start(with_tray_host: bool) -> Self {
        for (tool, package) in [
            ("Xvfb", "xvfb"),
            ("dbus-send", "dbus-bin"),
            ("dunst", "dunst"),
            ("dunstctl", "dunst"),
            ("import", "imagemagick"),
        ] {
            require_tool(tool, package);
        }
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-desktop-")
            .tempdir()
            .expect("temp dir");
        let runtime_dir = dir.path().join("runtime");
        std::fs::create_dir(&runtime_dir).expect("runtime dir");
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
            .expect("runtime dir mode");
        let mut desktop = Desktop {
            host: None,
            watcher: None,
            dunst: None,
            session_bus: None,
            xvfb: None,
            display: String::new(),
            session_address: String::new(),
            runtime_dir,
            dir,
        };

        // -displayfd: Xvfb picks a free display and says which once it is ready.
        let screen = format!("{}x{}x24", SCREEN.0, SCREEN.1);
        let mut xvfb = Guarded::spawn(
            "Xvfb",
            Command::new("Xvfb")
                .args(["-displayfd", "1", "-screen", "0", &screen])
                .args(["-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let out = xvfb.stdout();
        desktop.xvfb = Some(xvfb);
        let mut number = String::new();
        if let Some(out) = out {
            let _ = BufReader::new(out).read_line(&mut number);
        }
        let number = number.trim();
        assert!(
            !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
            "Xvfb did not start"
        );
        desktop.display = format!(":{number}");

        let (bus, address) = dbus_daemon(
            "session dbus-daemon",
            &[
                "--session".to_owned(),
                format!("--address=unix:dir={}", desktop.dir.path().display()),
            ],
        );
        desktop.session_bus = Some(bus);
        desktop.session_address = address;

        let dunstrc = desktop.dir.path().join("dunstrc");
        std::fs::write(&dunstrc, DUNSTRC).expect("write dunstrc");
        desktop.dunst = Some(Guarded::spawn(
            "dunst",
            desktop
                .command("dunst")
                .arg("-config")
                .arg(&dunstrc)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        desktop.wait_for_name(NOTIFICATIONS_NAME);

        if with_tray_host {
            desktop.start_watcher();
            desktop.start_host();
        }
        desktop
    }

    /// A command with this session's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null());
        cmd
    }

    /// `DISPLAY`, `DBUS_SESSION_BUS_ADDRESS` and `XDG_RUNTIME_DIR`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DISPLAY", self.display.clone()),
            ("DBUS_SESSION_BUS_ADDRESS", self.session_address.clone()),
            ("XDG_RUNTIME_DIR", self.runtime_dir.display().to_string()),
            // The host and dunst must not read the machine's own settings.
            (
                "XDG_CONFIG_HOME",
                self.dir.path().join("config").display().to_string(),
            ),
            ("NO_AT_BRIDGE", "1".to_owned()),
        ]
    }

    pub fn session_address(&self) -> &str {
        &self.session_address
    }

    /// Starts `status-notifier-watcher`, and waits until it owns its name.
    pub fn start_watcher(&mut self) {
        require_tool(
            "status-notifier-watcher",
            "haskell-status-notifier-item-utils",
        );
        self.watcher = Some(Guarded::spawn(
            "status-notifier-watcher",
            self.command("status-notifier-watcher")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        self.wait_for_name(WATCHER_NAME);
    }

    /// Starts `gtk-sni-tray-standalone` as a bar along the top.
    pub fn start_host(&mut self) {
        require_tool("gtk-sni-tray-standalone", "haskell-gtk-sni-tray-utils");
        let log = std::fs::File::create(self.dir.path().join("host.log")).expect("host log");
        self.host = Some(Guarded::spawn(
            "gtk-sni-tray-standalone",
            self.command("gtk-sni-tray-standalone")
                .args(["--top", "--beginning", "--size", &BAR.to_string()])
                .args(["--color", "#f6f5f4", "--length", "1 % 1", "-l", "INFO"])
                .stdout(Stdio::null())
                .stderr(log),
        ));
    }

    /// Starts the tray host anew, which reads every item afresh.
    pub fn restart_host(&mut self) {
        self.host = None;
        self.start_host();
    }

    /// Whether `name` has an owner on the session bus.
    pub fn has_owner(&self, name: &str) -> bool {
        let out = self
            .command("dbus-send")
            .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus"])
            .args(["/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner"])
            .arg(format!("string:{name}"))
            .output();
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }

    fn wait_for_name(&self, name: &str) {
        wait_until(STARTUP, name, || self.has_owner(name));
    }

    /// `dunstctl ARGS`' output.
    pub fn dunstctl(&self, args: &[&str]) -> String {
        let out = self
            .command("dunstctl")
            .args(args)
            .output()
            .expect("run dunstctl");
        assert!(out.status.success(), "dunstctl {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many notifications dunst shows right now.
    pub fn notifications_displayed(&self) -> u64 {
        self.dunstctl(&["count", "displayed"])
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Closes every notification shown, so that `dunstctl history` has
    /// them, and returns the history as (summary, body) pairs, newest first.
    pub fn close_and_read_notifications(&self) -> Vec<(String, String)> {
        self.dunstctl(&["close-all"]);
        wait_until(STARTUP, "dunst to close its notifications", || {
            self.notifications_displayed() == 0
        });
        let json: serde_json::Value =
            serde_json::from_str(&self.dunstctl(&["history"])).expect("dunstctl history is JSON");
        let field = |n: &serde_json::Value, key: &str| {
            n[key]["data"].as_str().unwrap_or_default().to_owned()
        };
        json["data"][0]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|n| (field(n, "summary"), field(n, "body")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A screenshot of the whole screen, saved at `path`.
    pub fn screenshot(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        let out = self
            .command("import")
            .args(["-window", "root"])
            .arg(path)
            .output()
            .expect("run import");
        assert!(out.status.success(), "import failed: {out:?}");
    }

    /// The pixels of the screen's top `height` rows, as RGB triples.
    pub fn grab_top(&self, height: u32) -> Vec<[u8; 3]> {
        let out = self
            .command("import")
            .args(["-window", "root", "-crop"])
            .arg(format!("{}x{height}+0+0", SCREEN.0))
            // ImageMagick's Q16 build writes 16-bit samples unless told.
            .args(["-depth", "8", "ppm:-"])
            .output()
            .expect("run import");
        assert!(out.status.success(), "import failed: {out:?}");
        parse_ppm(&out.stdout).expect("import wrote a binary PPM")
    }

    /// Kills the watcher, as a crashed panel would.
    pub fn stop_watcher(&mut self) {
        self.host = None;
        self.watcher = None;
    }
}

/// dunst: notifications stay until closed, so tests can count them.
const DUNSTRC: &str = "\
[global]
    width = 300
    height = 120
    origin = top-right
    offset = 8x40
    font = DejaVu Sans 8
    frame_width = 1
    markup = no
    show_indicators = no
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
    background = \"#ffffff\"
    foreground = \"#241f31\"
[urgency_critical]
    timeout = 0
";

/// Pixels of a binary PPM (P6, maxval 255).
pub fn parse_ppm(bytes: &[u8]) -> Option<Vec<[u8; 3]>> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] == b'#' {
            while *bytes.get(i)? != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !bytes.get(i)?.is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..i]).ok()?.to_owned());
    }
    if fields[0] != "P6" || fields[3] != "255" {
        return None;
    }
    let (w, h): (usize, usize) = (fields[1].parse().ok()?, fields[2].parse().ok()?);
    let data = bytes.get(i + 1..i + 1 + w * h * 3)?;
    Some(data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
}

/// How many of `pixels` are within `tolerance` (per channel) of `rgb`.
pub fn count_near(pixels: &[[u8; 3]], rgb: [u8; 3], tolerance: u8) -> usize {
    pixels
        .iter()
        .filter(|p| p.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= tolerance))
        .count()
}

/// The tray binary of this build profile: `target/<profile>/igotchuu-tray`,
/// built by `cargo build --workspace --bins` (as scripts/test.sh does).
pub fn tray_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe has a directory").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let tray = dir.join("igotchuu-tray");
    assert!(
        tray.is_file(),
        "{} is missing: build it first with `cargo build --workspace --bins`",
        tray.display()
    );
    tray
}

/// The tray, running in a desktop and on a system bus, with its log in a
/// file.
pub struct Tray {
    process: Guarded,
    log: PathBuf,
    _dir: TempDir,
}

impl Tray {
    /// Starts the tray. `state_dir` is the helper's state directory (for
    /// the history); `gui` the program "Open igotchuu" starts.
    pub fn start(desktop: &Desktop, system_bus: &str, state_dir: &Path, gui: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-tray-log-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("tray.log");
        let file = std::fs::File::create(&log).expect("log file");
        let process = Guarded::spawn(
            "igotchuu-tray",
            desktop
                .command(tray_binary())
                .env("DBUS_SYSTEM_BUS_ADDRESS", system_bus)
                .env("IGOTCHUU_STATE_DIR", state_dir)
                .env("IGOTCHUU_GUI", gui)
                .env("IGOTCHUU_ICON_DIR", crate_root().join("data/icons"))
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(file),
        );
        Tray {
            process,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        self.process.wait_exit(timeout)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until its log has a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        wait_until(STARTUP, &format!("the tray to log {needle:?}"), || {
            self.log().contains(needle)
        });
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        // What a failing test needs most.
        if std::thread::panicking() {
            eprintln!("--- igotchuu-tray's log ---\n{}---", self.log());
        }
    }
}

/// A process's resident memory and voluntary context switches, from
/// `/proc/<pid>/status`.
pub fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("voluntary_ctxt_switches:")?))
}

/// Voluntary context switches of each of a process's threads, by thread
/// id and name.
pub fn wakeups_by_thread(pid: u32) -> Vec<(u32, String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    let mut threads: Vec<_> = tasks
        .filter_map(Result::ok)
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let n = status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((tid, name.trim().to_owned(), n))
        })
        .collect();
    threads.sort();
    threads
}

/// Voluntary context switches of all of a process's threads: each is a
/// wake-up from sleep.
pub fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ppm() {
        let mut ppm = b"P6\n# made by hand\n2 1\n255\n".to_vec();
        ppm.extend([1, 2, 3, 250, 251, 252]);
        let px = parse_ppm(&ppm).unwrap();
        assert_eq!(px, vec![[1, 2, 3], [250, 251, 252]]);
        assert_eq!(count_near(&px, [0, 0, 0], 3), 1);
        assert_eq!(count_near(&px, [0, 0, 0], 2), 0);
        assert!(parse_ppm(b"P3\n1 1\n255\n1 2 3").is_none());
        assert!(parse_ppm(b"P6\n2 2\n255\n\x01\x02").is_none(), "short");
    }
}
