//! A desktop session for the tray's tests, all from Debian: a [`Screen`]
//! (Xvfb and a session bus), `status-notifier-watcher` (a
//! StatusNotifierWatcher), `gtk-sni-tray-standalone` (a tray host along the
//! top of the screen) and `dunst` (a notification server); and the tray
//! binary as a process whose log is kept.
//!
//! Every process is ended and waited for when its guard drops, also when
//! the test fails: each guard exists before anything that can panic.
//!
//! Debian packages: xvfb, dbus-daemon (and dbus-bin for dbus-send),
//! haskell-status-notifier-item-utils, haskell-gtk-sni-tray-utils, dunst,
//! imagemagick.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub use crate::guarded::{require_tool, wait_until, Guarded};
use crate::repo_root;
pub use crate::screen::{count_near, Screen};
use crate::sni::Session;

/// Width and height of the tray tests' virtual screen: a strip for the bar
/// and the notifications.
pub const SCREEN: (u32, u32) = (480, 200);
/// Height of the tray host's bar, along the top of the screen.
pub const BAR: u32 = 32;
const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
const NOTIFICATIONS_NAME: &str = "org.freedesktop.Notifications";
/// How long a helper process may take to come up.
const STARTUP: Duration = Duration::from_secs(20);

/// A desktop session: a screen with a notification server, and (when
/// asked) a StatusNotifierWatcher and a tray host.
pub struct Desktop {
    // Dropped in reverse order of starting: clients before servers.
    host: Option<Guarded>,
    watcher: Option<Guarded>,
    dunst: Option<Guarded>,
    screen: Screen,
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.host_log());
            eprintln!(
                "--- the tray host's log ---\n{}---",
                log.unwrap_or_default()
            );
        }
        self.host = None;
        self.watcher = None;
        self.dunst = None;
    }
}

impl Desktop {
    /// A [`SCREEN`]-sized screen with dunst; a watcher and a tray host if
    /// `with_tray_host`.
    pub fn start(with_tray_host: bool) -> Self {
        Self::on(Screen::start(SCREEN.0, SCREEN.1), with_tray_host)
    }

    /// dunst on `screen`; a watcher and a tray host if `with_tray_host`.
    /// dunst shows bodies as plain text, and does not claim `body-markup`.
    pub fn on(screen: Screen, with_tray_host: bool) -> Self {
        Self::with_dunstrc(screen, with_tray_host, DUNSTRC)
    }

    /// As [`start`](Self::start), but dunst reads markup in bodies (its
    /// default, and most servers'), and claims `body-markup`.
    pub fn start_reading_markup(with_tray_host: bool) -> Self {
        let rc = DUNSTRC.replace("markup = no", "markup = full");
        Self::with_dunstrc(Screen::start(SCREEN.0, SCREEN.1), with_tray_host, &rc)
    }

    fn with_dunstrc(screen: Screen, with_tray_host: bool, dunstrc_text: &str) -> Self {
        for (tool, package) in [
            ("dbus-send", "dbus-bin"),
            ("dunst", "dunst"),
            ("dunstctl", "dunst"),
        ] {
            require_tool(tool, package);
        }
        let mut desktop = Desktop {
            host: None,
            watcher: None,
            dunst: None,
            screen,
        };
        let dunstrc = desktop.screen.dir().join("dunstrc");
        // dunst's context menu runs "dmenu": this one writes down the
        // entries it is offered and picks the one asked for.
        let dmenu = desktop.write_dmenu();
        let dunstrc_text = dunstrc_text.replacen(
            "[global]\n",
            &format!("[global]\n    dmenu = \"{}\"\n", dmenu.display()),
            1,
        );
        std::fs::write(&dunstrc, dunstrc_text).expect("write dunstrc");
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

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    /// A command in this session (see [`Screen::command`]).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.screen.command(program)
    }

    pub fn session_address(&self) -> &str {
        self.screen.session_address()
    }

    fn host_log(&self) -> PathBuf {
        self.screen.dir().join("host.log")
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
        let log = std::fs::File::create(self.host_log()).expect("host log");
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

    /// Kills the watcher, as a crashed panel would.
    pub fn stop_watcher(&mut self) {
        self.host = None;
        self.watcher = None;
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
        self.close_and_read("body")
    }

    /// As [`close_and_read_notifications`](Self::close_and_read_notifications),
    /// but each with the markup dunst draws (its `message`: the summary in
    /// bold, a line break, and the body as dunst read it), newest first.
    pub fn close_and_read_drawn(&self) -> Vec<(String, String)> {
        self.close_and_read("message")
    }

    fn close_and_read(&self, text: &str) -> Vec<(String, String)> {
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
                    .map(|n| (field(n, "summary"), field(n, text)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn write_dmenu(&self) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.screen.dir();
        let script = dir.join("dmenu");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 cat > '{offered}.tmp' && mv '{offered}.tmp' '{offered}'\n\
                 [ -f '{choice}' ] && grep -F -m1 -e \"$(cat '{choice}')\" '{offered}'\n\
                 exit 0\n",
                offered = dir.join("dmenu.offered").display(),
                choice = dir.join("dmenu.choice").display(),
            ),
        )
        .expect("write the dmenu script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the dmenu script");
        script
    }

    /// Opens dunst's context menu of the notifications shown, and chooses
    /// the first entry that contains `part` (none if no entry does).
    /// Returns every entry it offered, one a line.
    pub fn choose_in_context_menu(&self, part: &str) -> String {
        let dir = self.screen.dir();
        let offered = dir.join("dmenu.offered");
        let _ = std::fs::remove_file(&offered);
        std::fs::write(dir.join("dmenu.choice"), part).expect("write the choice");
        self.dunstctl(&["context"]);
        wait_until(STARTUP, "dunst to open its context menu", || {
            offered.exists()
        });
        std::fs::read_to_string(&offered).unwrap_or_default()
    }

    /// A screenshot of the whole screen, saved at `path`.
    pub fn screenshot(&self, path: &Path) {
        self.screen.screenshot_all(path);
    }

    /// The pixels of the screen's top `height` rows, as RGB triples.
    pub fn grab_top(&self, height: u32) -> Vec<[u8; 3]> {
        self.screen.pixels((0, 0, self.screen.size().0, height))
    }
}

/// The text Pango draws of `markup` (as dunst's `message`): tags left
/// out, entities read. Enough for what dunst passes on.
pub fn drawn_text(markup: &str) -> String {
    let mut out = String::new();
    let mut rest = markup;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').expect("a tag ends");
            rest = &rest[end + 1..];
        } else if c == '&' {
            let end = rest.find(';').expect("an entity ends");
            out.push(match &rest[1..end] {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                e => panic!("an entity dunst does not write: &{e};"),
            });
            rest = &rest[end + 1..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The main colour of each tray icon, as drawn in the bar.
pub mod icon_colour {
    pub const IDLE: [u8; 3] = [0x35, 0x84, 0xe4];
    pub const BACKING_UP: [u8; 3] = [0x2e, 0xc2, 0x7e];
    pub const FAILED: [u8; 3] = [0xe0, 0x1b, 0x24];
    pub const WARNING: [u8; 3] = [0xf6, 0xd3, 0x2d];
}

/// How many pixels of an icon's colour make "the icon is shown".
const ICON_PIXELS: usize = 40;

impl Desktop {
    /// How many pixels of `rgb` the tray bar shows, waiting up to
    /// `timeout` for at least [`ICON_PIXELS`].
    fn icon_pixels(&self, rgb: [u8; 3], timeout: Duration) -> usize {
        let end = std::time::Instant::now() + timeout;
        loop {
            let found = count_near(&self.grab_top(BAR), rgb, 40);
            if found >= ICON_PIXELS || std::time::Instant::now() >= end {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot at `path` and checks that the tray bar shows
    /// `rgb`, the main colour of the icon the item names now.
    ///
    /// gtk-sni-tray 0.1.8 applies the two updates it makes of one NewIcon
    /// signal from two threads, and sometimes in the wrong order, so that it
    /// keeps drawing the previous icon although it read the new one (its log
    /// shows both). Check the item's IconName over D-Bus before this; when
    /// the host lags, a fresh host shows what the item says.
    pub fn shoot_tray(&mut self, path: &Path, rgb: [u8; 3]) {
        let mut found = self.icon_pixels(rgb, Duration::from_secs(5));
        if found < ICON_PIXELS {
            eprintln!("the tray host missed the icon; starting a fresh host");
            self.restart_host();
            found = self.icon_pixels(rgb, STARTUP);
        }
        self.screenshot(path);
        assert!(
            found >= ICON_PIXELS,
            "the icon is not in the tray bar: {found} pixels of its colour; see {}",
            path.display()
        );
        eprintln!("{}: {found} pixels of the icon's colour", path.display());
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
    _home: UserState,
}

/// A user's own state directory (`$XDG_STATE_HOME`) for the tray, in a
/// temporary directory that any user may write (the tray may run as
/// another user), removed when the last clone drops.
#[derive(Clone)]
pub struct UserState {
    dir: std::sync::Arc<TempDir>,
}

impl Default for UserState {
    fn default() -> Self {
        Self::new()
    }
}

impl UserState {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-user-state-")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod the user state dir");
        UserState {
            dir: std::sync::Arc::new(dir),
        }
    }

    /// `$XDG_STATE_HOME`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The tray's reminders file in it.
    pub fn reminders(&self) -> PathBuf {
        self.path().join("igotchuu/reminders.json")
    }

    /// As if every reminder had just been shown.
    pub fn seed_reminders_shown(&self) {
        use std::os::unix::fs::PermissionsExt;
        let now = crate::standin::unix_now();
        let file = self.reminders();
        let dir = file.parent().expect("a directory");
        std::fs::create_dir_all(dir).expect("create the tray's state dir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            .expect("chmod the tray's state dir");
        std::fs::write(&file, format!("{{\"stale\": {now}, \"postponed\": {now}}}"))
            .expect("write the reminders");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))
            .expect("chmod the reminders");
    }

    /// The reminders file's contents, if any.
    pub fn read_reminders(&self) -> Option<String> {
        std::fs::read_to_string(self.reminders()).ok()
    }
}

/// What the tray logs once it follows the helper: no signal is missed after.
pub const LISTENING: &str = "listening to the backup helper on the system bus";

impl Tray {
    /// Starts the tray. `state_dir` is the helper's state directory (for
    /// the history); `gui` the program "Open igotchuu" starts.
    pub fn start(desktop: &Desktop, system_bus: &str, state_dir: &Path, gui: &Path) -> Self {
        Self::start_as(desktop, None, system_bus, state_dir, gui)
    }

    /// Starts the tray as `user` (through `runuser`), or as this process's
    /// user when `None`. Its own state (`$XDG_STATE_HOME`) is a fresh
    /// directory in which every daily reminder was just shown: tests of
    /// other things see no reminders (see [`Tray::start_remembering`]).
    pub fn start_as(
        desktop: &Desktop,
        user: Option<&str>,
        system_bus: &str,
        state_dir: &Path,
        gui: &Path,
    ) -> Self {
        let home = UserState::new();
        home.seed_reminders_shown();
        Self::start_in(desktop, user, system_bus, state_dir, gui, home)
    }

    /// Starts the tray with its own state in `home`, which outlives it:
    /// a tray started again with the same `home` remembers its reminders.
    pub fn start_remembering(
        desktop: &Desktop,
        system_bus: &str,
        state_dir: &Path,
        gui: &Path,
        home: &UserState,
    ) -> Self {
        Self::start_in(desktop, None, system_bus, state_dir, gui, home.clone())
    }

    fn start_in(
        desktop: &Desktop,
        user: Option<&str>,
        system_bus: &str,
        state_dir: &Path,
        gui: &Path,
        home: UserState,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-tray-log-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("tray.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = match user {
            None => desktop.command(tray_binary()),
            Some(user) => {
                require_tool("runuser", "util-linux");
                let mut cmd = desktop.command("runuser");
                cmd.args(["-u", user, "--"]).arg(tray_binary());
                cmd
            }
        };
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", system_bus)
            .env("IGOTCHUU_STATE_DIR", state_dir)
            .env("XDG_STATE_HOME", home.path())
            .env("IGOTCHUU_GUI", gui)
            .env("IGOTCHUU_ICON_DIR", repo_root().join("data/icons"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(file);
        let process = Guarded::spawn("igotchuu-tray", &mut cmd);
        let tray = Tray {
            process,
            log,
            _dir: dir,
            _home: home,
        };
        // Its icon may be registered before it follows the system bus; a
        // run the test starts in between would never reach it.
        tray.wait_for_log(LISTENING);
        tray
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
        self.wait_for_log_within(needle, STARTUP);
    }

    /// [`wait_for_log`](Self::wait_for_log), waiting up to `limit`.
    pub fn wait_for_log_within(&self, needle: &str, limit: Duration) {
        wait_until(limit, &format!("the tray to log {needle:?}"), || {
            self.log().contains(needle)
        });
    }
}

/// Waits until the watcher no longer lists `item`. An ended tray's process
/// is gone when it drops, but the watcher forgets its item only once it
/// hears the bus name go; until then a new tray's item is not the only one.
pub fn wait_unregistered(session: &Session, item: &(String, String)) {
    wait_until(
        STARTUP,
        "the watcher to forget the ended tray's item",
        || !crate::block_on(session.registered_items()).contains(item),
    );
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
