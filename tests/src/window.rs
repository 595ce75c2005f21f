//! Harness for the window's tests and its benchmark: the window as a
//! process whose probe lines (what it shows, and when) are collected, and
//! X11 input, lookups and moves through XTest.
//!
//! The window runs on a [`Screen`] of its own size, or on a
//! [`Desktop`](crate::desktop::Desktop)'s screen; it follows the real
//! helper or a [`Standin`](crate::standin::Standin).
//!
//! Debian packages: xvfb, dbus-daemon, imagemagick.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

pub use crate::guarded::{require_tool, wait_until, Guarded};
pub use crate::repo_root;
pub use crate::screen::Screen;

/// The window's title, which names its X window.
pub const WINDOW_TITLE: &str = "igotchuu";
/// How each probe line of the window starts (see the window's `probe.rs`).
pub const PROBE_PREFIX: &str = "igotchuu-gui: ";
/// How long anything in these tests may take to show up.
pub const PATIENCE: Duration = Duration::from_secs(30);

impl Screen {
    /// A connection to the X server, for input and window lookups.
    pub fn x11(&self) -> X11 {
        X11::connect(self.display())
    }

    /// Activates the application action `action` (with a string
    /// parameter, if any) of the app `app_id` on this session's bus, as
    /// `gapplication action` does: GtkApplication exports its actions
    /// as `org.gtk.Actions` at the path of its id.
    pub fn activate_action(&self, app_id: &str, action: &str, param: Option<&str>) {
        use zbus::zvariant::Value;
        let path = format!("/{}", app_id.replace('.', "/"));
        let params: Vec<Value<'_>> = param.map(Value::from).into_iter().collect();
        let platform: std::collections::HashMap<&str, Value<'_>> = Default::default();
        async_io::block_on(async {
            let conn = zbus::connection::Builder::address(self.session_address())?
                .build()
                .await?;
            conn.call_method(
                Some(app_id),
                path.as_str(),
                Some("org.gtk.Actions"),
                "Activate",
                &(action, params, platform),
            )
            .await
        })
        .unwrap_or_else(|e| panic!("activate {app_id}'s action {action}: {e}"));
    }
}

/// A stand-in `xdg-open` first in `PATH`: it records each argument it is
/// given, one a line, and opens nothing.
pub struct FakeOpener {
    dir: TempDir,
}

impl FakeOpener {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-xdg-open-")
            .tempdir()
            .expect("temp dir");
        let script = dir.path().join("xdg-open");
        let record = dir.path().join("opened");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n",
                record.display()
            ),
        )
        .expect("write xdg-open");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        FakeOpener { dir }
    }

    /// `PATH` with this `xdg-open` first.
    pub fn path_var(&self) -> std::ffi::OsString {
        let mut path = self.dir.path().as_os_str().to_owned();
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        path
    }

    /// What was opened so far, in order.
    pub fn opened(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("opened"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Default for FakeOpener {
    fn default() -> Self {
        Self::new()
    }
}

// ------------------------------------------------------------- the window

/// The window binary of this build profile, `target/<profile>/igotchuu-gui`.
/// `cargo test` builds only the tested package's binaries, so it is built
/// (or found fresh) here, with the cargo that runs the tests.
pub fn gui_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_gui).clone()
}

fn build_gui() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe has a directory").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "igotchuu-gui"])
        .current_dir(repo_root());
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p igotchuu-gui failed");
    let gui = dir.join("igotchuu-gui");
    assert!(gui.is_file(), "{} is missing", gui.display());
    gui
}

/// One `texts` probe line: what was on screen, and when.
#[derive(Debug, Clone)]
pub struct Texts {
    /// Milliseconds since the window's process started.
    pub ms: f64,
    pub items: Vec<String>,
}

impl Texts {
    pub fn has(&self, text: &str) -> bool {
        self.items.iter().any(|t| t == text)
    }

    pub fn contains(&self, part: &str) -> bool {
        self.items.iter().any(|t| t.contains(part))
    }

    /// The progress bar's fraction, when one is on screen.
    pub fn progress(&self) -> Option<f64> {
        self.items
            .iter()
            .find_map(|t| t.strip_prefix("progress ")?.parse().ok())
    }
}

/// The window as a process, with its probe lines and its log.
pub struct Gui {
    process: Guarded,
    lines: Arc<Mutex<Vec<String>>>,
    /// How many screenfuls [`wait_for`](Self::wait_for) has looked past.
    seen: usize,
    log: PathBuf,
    _dir: TempDir,
}

/// How to start the window.
pub struct GuiOptions<'a> {
    pub system_bus: &'a str,
    pub state_dir: &'a Path,
    pub size: Option<(u32, u32)>,
    pub binary: PathBuf,
}

impl Gui {
    pub fn launch(screen: &Screen, o: &GuiOptions<'_>) -> Self {
        Self::launch_with(screen, o, &[])
    }

    /// [`launch`](Self::launch) with `env` on top of the screen's.
    pub fn launch_with(
        screen: &Screen,
        o: &GuiOptions<'_>,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-gui-log-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("gui.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = screen.command(&o.binary);
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", o.system_bus)
            .env("IGOTCHUU_STATE_DIR", o.state_dir)
            .env("IGOTCHUU_GUI_PROBE", "1")
            .env("IGOTCHUU_BENCH", "1")
            .env(
                "RUST_LOG",
                std::env::var("IGOTCHUU_TEST_GUI_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(file);
        if let Some((w, h)) = o.size {
            cmd.env("IGOTCHUU_WINDOW_SIZE", format!("{w}x{h}"));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = Guarded::spawn("igotchuu-gui", &mut cmd);
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = process.stdout() {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut gui = Gui {
            process,
            lines,
            seen: 0,
            log,
            _dir: dir,
        };
        gui.wait_settled();
        gui
    }

    /// Waits until the window follows the system bus (after which it misses
    /// none of the helper's signals), says it cannot reach it, or exits
    /// (a second launch hands over). Its first frame may come before it
    /// follows the bus; a run a test starts in between would go unseen.
    fn wait_settled(&mut self) {
        crate::wait::until(
            "the window to follow the system bus, or to exit",
            crate::wait::DEADLINE,
            || {
                let log = self.log();
                let settled = log.contains(crate::desktop::LISTENING)
                    || log.contains("cannot reach the system bus")
                    || !self.process.running();
                settled.then_some(())
            },
        );
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    /// Its log (standard error) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The probe lines of one kind ("texts", "toast", "first-frame", …),
    /// without the kind.
    pub fn events(&self, kind: &str) -> Vec<String> {
        let prefix = format!("{PROBE_PREFIX}{kind} ");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// Every screenful so far, oldest first.
    pub fn texts(&self) -> Vec<Texts> {
        self.events("texts")
            .iter()
            .filter_map(|l| {
                let mut parts = l.split('\t');
                let ms = parts.next()?.parse().ok()?;
                Some(Texts {
                    ms,
                    items: parts.map(str::to_owned).collect(),
                })
            })
            .collect()
    }

    /// Milliseconds from the process's start to its first painted frame.
    pub fn first_frame_ms(&self) -> Option<f64> {
        self.events("first-frame").first()?.trim().parse().ok()
    }

    /// Waits for the first screenful that satisfies `pred`, and returns it.
    /// Screenfuls up to the one an earlier call returned are not looked at
    /// again: a wait is for something new.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Texts) -> bool) -> Texts {
        let end = Instant::now() + PATIENCE;
        loop {
            let texts = self.texts();
            if let Some(i) = (self.seen..texts.len()).find(|&i| pred(&texts[i])) {
                self.seen = i + 1;
                return texts[i].clone();
            }
            assert!(
                self.running(),
                "the window exited while waiting for {what}; its log:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < end,
                "timed out waiting for the window to show {what}; it last showed {:?}\nlog:\n{}",
                self.texts().last(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a probe event of `kind` whose text contains `part`.
    pub fn wait_for_event(&mut self, kind: &str, part: &str) -> String {
        let end = Instant::now() + PATIENCE;
        loop {
            if let Some(e) = self.events(kind).into_iter().find(|e| e.contains(part)) {
                return e;
            }
            assert!(
                self.running(),
                "the window exited; its log:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < end,
                "timed out waiting for {kind} {part:?}; events: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for it to exit by itself; true if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        self.process.wait_exit(timeout)
    }
}

// ---------------------------------------------------------------- X11

/// A mapped top-level window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toplevel {
    pub id: u32,
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Toplevel {
    pub fn area(&self) -> (i32, i32, u32, u32) {
        (self.x, self.y, self.width, self.height)
    }
}

/// Keys, as X keysyms.
pub mod keys {
    pub const ALT: u32 = 0xffe9;
    pub const RETURN: u32 = 0xff0d;
    pub const TAB: u32 = 0xff09;
    pub const ESCAPE: u32 = 0xff1b;
    pub const CONTROL: u32 = 0xffe3;
    pub const SLASH: u32 = 0x2f;
    pub const PERIOD: u32 = 0x2e;
    pub const MINUS: u32 = 0x2d;

    /// A lowercase letter.
    pub fn letter(c: char) -> u32 {
        u32::from(c.to_ascii_lowercase())
    }
}

/// A client of the test display: finds windows and types on them through
/// XTest, as a person at a keyboard would.
pub struct X11 {
    conn: RustConnection,
    root: u32,
}

impl X11 {
    fn connect(display: &str) -> Self {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to the test display");
        let root = conn.setup().roots[screen].root;
        X11 { conn, root }
    }

    /// The mapped top-level windows, bottom to top.
    pub fn toplevels(&self) -> Vec<Toplevel> {
        let tree = self
            .conn
            .query_tree(self.root)
            .expect("query_tree")
            .reply()
            .expect("query_tree reply");
        let mut out = Vec::new();
        for id in tree.children {
            let Ok(attrs) = self
                .conn
                .get_window_attributes(id)
                .expect("request")
                .reply()
            else {
                continue;
            };
            if attrs.map_state != xproto::MapState::VIEWABLE
                || attrs.class == xproto::WindowClass::INPUT_ONLY
            {
                continue;
            }
            let Ok(geo) = self.conn.get_geometry(id).expect("request").reply() else {
                continue;
            };
            let name = self
                .conn
                .get_property(
                    false,
                    id,
                    xproto::AtomEnum::WM_NAME,
                    xproto::AtomEnum::ANY,
                    0,
                    256,
                )
                .expect("request")
                .reply()
                .map(|p| String::from_utf8_lossy(&p.value).into_owned())
                .unwrap_or_default();
            out.push(Toplevel {
                id,
                name,
                x: i32::from(geo.x),
                y: i32::from(geo.y),
                width: u32::from(geo.width),
                height: u32::from(geo.height),
            });
        }
        out
    }

    /// The mapped windows titled `name`.
    pub fn windows_named(&self, name: &str) -> Vec<Toplevel> {
        self.toplevels()
            .into_iter()
            .filter(|t| t.name == name)
            .collect()
    }

    /// The topmost mapped window.
    pub fn topmost(&self) -> Option<Toplevel> {
        self.toplevels().pop()
    }

    /// Moves `window` so that its top left corner is at (`x`, `y`), as a
    /// window manager would (Xvfb has none: a new window opens at 0, 0).
    pub fn move_to(&self, window: u32, x: i32, y: i32) {
        self.conn
            .configure_window(window, &xproto::ConfigureWindowAux::new().x(x).y(y))
            .expect("configure_window");
        self.conn.sync().expect("sync");
    }

    /// Waits for a dialog over the window (the topmost window, not titled
    /// [`WINDOW_TITLE`]) and gives it the keyboard focus; a key sent before
    /// it is mapped would go to the window under it.
    pub fn focus_dialog(&self) -> Toplevel {
        let mut dialog = None;
        wait_until(PATIENCE, "a dialog on top", || {
            dialog = self.topmost().filter(|t| t.name != WINDOW_TITLE);
            dialog.is_some()
        });
        let dialog = dialog.unwrap();
        self.focus(dialog.id);
        // The focus change reaches GTK before the keys that follow.
        std::thread::sleep(Duration::from_millis(200));
        dialog
    }

    /// Gives `window` the keyboard focus, as a window manager would.
    pub fn focus(&self, window: u32) {
        self.conn
            .set_input_focus(
                xproto::InputFocus::POINTER_ROOT,
                window,
                x11rb::CURRENT_TIME,
            )
            .expect("set_input_focus");
        self.conn.sync().expect("sync");
    }

    /// Presses `keys` in order and releases them in reverse: a chord like
    /// Alt+S.
    pub fn chord(&self, keysyms: &[u32]) {
        let codes: Vec<u8> = keysyms.iter().map(|k| self.keycode(*k)).collect();
        for code in &codes {
            self.fake(xproto::KEY_PRESS_EVENT, *code);
        }
        for code in codes.iter().rev() {
            self.fake(xproto::KEY_RELEASE_EVENT, *code);
        }
        self.conn.sync().expect("sync");
    }

    /// Types `text` (lowercase letters, digits and `/`, `.`, `-`), key
    /// by key.
    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            let keysym = match c {
                '/' => keys::SLASH,
                '.' => keys::PERIOD,
                '-' => keys::MINUS,
                c => keys::letter(c),
            };
            self.chord(&[keysym]);
        }
    }

    /// Moves the pointer to (`x`, `y`) on the screen, e.g. out of the
    /// window, so that no tooltip shows in a screenshot.
    pub fn pointer_to(&self, x: i16, y: i16) {
        self.conn
            .warp_pointer(x11rb::NONE, self.root, 0, 0, 0, 0, x, y)
            .expect("warp_pointer");
        self.conn.sync().expect("sync");
    }

    fn fake(&self, kind: u8, code: u8) {
        self.conn
            .xtest_fake_input(kind, code, x11rb::CURRENT_TIME, self.root, 0, 0, 0)
            .expect("xtest_fake_input");
    }

    fn keycode(&self, keysym: u32) -> u8 {
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let map = self
            .conn
            .get_keyboard_mapping(min, max - min + 1)
            .expect("request")
            .reply()
            .expect("keyboard mapping");
        let per = usize::from(map.keysyms_per_keycode);
        map.keysyms
            .chunks(per)
            .position(|syms| syms.first() == Some(&keysym))
            .map(|i| min + i as u8)
            .unwrap_or_else(|| panic!("no key for keysym {keysym:#x}"))
    }
}

// ------------------------------------------------- systemd's three timers

/// A stand-in for systemd on a private system bus that answers for the
/// timers the window shows: each unit's `LoadState`, `ActiveState` and
/// `NextElapseUSecRealtime`. Units it does not know are "not loaded".
pub struct SystemdTimers {
    _conn: zbus::Connection,
}

struct TimersManager {
    units: Vec<String>,
}

fn unit_path(unit: &str) -> String {
    // systemd escapes each byte that is not alphanumeric as _XX.
    let escaped: String = unit
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("_{b:02x}")
            }
        })
        .collect();
    format!("/org/freedesktop/systemd1/unit/{escaped}")
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl TimersManager {
    fn get_unit(&self, name: &str) -> zbus::fdo::Result<zbus::zvariant::OwnedObjectPath> {
        if !self.units.iter().any(|u| u == name) {
            return Err(zbus::fdo::Error::Failed(format!("Unit {name} not loaded.")));
        }
        Ok(zbus::zvariant::OwnedObjectPath::try_from(unit_path(name)).expect("a valid path"))
    }
}

struct TimersUnit;

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl TimersUnit {
    #[zbus(property)]
    fn load_state(&self) -> String {
        "loaded".into()
    }

    #[zbus(property)]
    fn active_state(&self) -> String {
        "active".into()
    }
}

struct TimersTimer {
    next_elapse_usec: u64,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Timer")]
impl TimersTimer {
    #[zbus(property, name = "NextElapseUSecRealtime")]
    fn next_elapse_usec_realtime(&self) -> u64 {
        self.next_elapse_usec
    }
}

impl SystemdTimers {
    /// Serves `timers` (unit name, next elapse in Unix seconds) on the bus
    /// at `address`, as `org.freedesktop.systemd1`.
    pub fn serve(address: &str, timers: &[(&str, u64)]) -> Self {
        let conn = async_io::block_on(async {
            let conn = zbus::connection::Builder::address(address)?.build().await?;
            let server = conn.object_server();
            server
                .at(
                    "/org/freedesktop/systemd1",
                    TimersManager {
                        units: timers.iter().map(|(u, _)| u.to_string()).collect(),
                    },
                )
                .await?;
            for (unit, next) in timers {
                let path = unit_path(unit);
                server.at(path.as_str(), TimersUnit).await?;
                server
                    .at(
                        path.as_str(),
                        TimersTimer {
                            next_elapse_usec: next * 1_000_000,
                        },
                    )
                    .await?;
            }
            conn.request_name("org.freedesktop.systemd1").await?;
            zbus::Result::Ok(conn)
        })
        .expect("serve systemd's timers");
        SystemdTimers { _conn: conn }
    }
}
