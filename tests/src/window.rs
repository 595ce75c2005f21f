//! Harness for the window's tests and its benchmark: a display of a chosen
//! size with a session bus, a private system bus on which root may also
//! stand in for systemd, a stand-in for the backup helper that serves the
//! contract's properties and emits its signals, keyboard input through
//! XTest, and the window as a process whose probe lines are collected.
//!
//! The window runs on a [`Screen`] of its own size, or on a tray test's
//! [`Desktop`](crate::desktop::Desktop) screen; its system bus is a
//! [`SystemBus`] from [`window_bus`].
//!
//! Debian packages: xvfb, dbus-daemon, imagemagick.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use igotchuu_dbus::errors::Error as BusError;
use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_dbus::{
    ItemError, Outcome, Phase, Progress, Summary, BUS_NAME, INTERFACE, OBJECT_PATH,
};
use tempfile::TempDir;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedObjectPath;

pub use crate::guarded::{require_tool, wait_until, Guarded};
pub use crate::repo_root;
pub use crate::screen::Screen;
use crate::sysbus::{open_policy, BusOptions, SystemBus};

/// The window's title, which names its X window.
pub const WINDOW_TITLE: &str = "igotchuu";
/// How each probe line of the window starts (see the window's `probe.rs`).
pub const PROBE_PREFIX: &str = "igotchuu-gui: ";
/// How long anything in these tests may take to show up.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// --------------------------------------------------------- system bus

/// systemd's bus name, for the stand-in that answers for `igotchuu.timer`.
const SYSTEMD_NAME: &str = "org.freedesktop.systemd1";

/// A private system bus with the repository's policy for the helper, and
/// one like systemd's for its name (root owns it, anyone calls), so that a
/// stand-in can answer for `igotchuu.timer`.
pub fn window_bus() -> SystemBus {
    SystemBus::with(BusOptions {
        polkit: false,
        extra_policy: open_policy(SYSTEMD_NAME),
        ..BusOptions::default()
    })
}

impl Screen {
    /// A connection to the X server, for input and window lookups.
    pub fn x11(&self) -> X11 {
        X11::connect(self.display())
    }
}

// ------------------------------------------------- stand-in for the helper

/// How the stand-in answers Start or Stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Accept,
    /// As polkit refusing: `org.freedesktop.DBus.Error.AccessDenied`.
    Deny,
}

#[derive(Debug)]
struct Control {
    start: Reply,
    stop: Reply,
    start_calls: u32,
    stop_calls: u32,
    /// How long Start and Stop take to answer: as a person typing a password.
    delay: Duration,
}

/// The helper's object: the contract's properties and methods. Signals
/// are emitted by name, as the helper emits them.
struct HelperObject {
    phase: Option<Phase>,
    progress: Progress,
    started_at: u64,
    profile: String,
    places: Vec<String>,
    error_count: u64,
    control: Arc<Mutex<Control>>,
}

#[zbus::interface(name = "com.nyantec.igotchuu1")]
impl HelperObject {
    async fn stop(
        &mut self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), BusError> {
        let (reply, delay) = {
            let mut c = self.control.lock().unwrap();
            c.stop_calls += 1;
            (c.stop, c.delay)
        };
        async_io::Timer::after(delay).await;
        if reply == Reply::Deny {
            return Err(BusError::Fdo(zbus::fdo::Error::AccessDenied(
                "Not authorized.".into(),
            )));
        }
        if self.phase.is_none() {
            return Err(BusError::NotRunning("No backup is running.".into()));
        }
        self.phase = Some(Phase::Stopping);
        self.phase_changed(&emitter).await?;
        Ok(())
    }

    async fn start(
        &mut self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), BusError> {
        let (reply, delay) = {
            let mut c = self.control.lock().unwrap();
            c.start_calls += 1;
            (c.start, c.delay)
        };
        async_io::Timer::after(delay).await;
        if reply == Reply::Deny {
            return Err(BusError::Fdo(zbus::fdo::Error::AccessDenied(
                "Not authorized.".into(),
            )));
        }
        if self.phase.is_some() {
            return Err(BusError::AlreadyRunning("A backup is running.".into()));
        }
        let places = self.places.clone();
        self.begin(&emitter, places).await?;
        Ok(())
    }

    #[zbus(property)]
    fn phase(&self) -> String {
        Phase::property_value(self.phase).to_owned()
    }

    #[zbus(property)]
    fn progress(&self) -> Progress {
        self.progress.clone()
    }

    #[zbus(property)]
    fn started_at(&self) -> u64 {
        self.started_at
    }

    #[zbus(property)]
    fn profile(&self) -> String {
        self.profile.clone()
    }

    #[zbus(property)]
    fn places(&self) -> Vec<String> {
        self.places.clone()
    }

    #[zbus(property)]
    fn error_count(&self) -> u64 {
        self.error_count
    }
}

impl HelperObject {
    async fn begin(&mut self, e: &SignalEmitter<'_>, places: Vec<String>) -> zbus::Result<()> {
        self.phase = Some(Phase::Preparing);
        self.progress = Progress::default();
        self.started_at = unix_now();
        self.places = places;
        self.error_count = 0;
        e.emit(INTERFACE, "BackupStarted", &()).await?;
        self.started_at_changed(e).await?;
        self.places_changed(e).await?;
        self.progress_changed(e).await?;
        self.error_count_changed(e).await?;
        self.phase_changed(e).await
    }
}

/// What the stand-in serves when it starts.
#[derive(Debug, Clone, Default)]
pub struct Initial {
    /// `None`: idle, waiting for Start.
    pub phase: Option<Phase>,
    pub progress: Progress,
    pub started_at: u64,
    pub places: Vec<String>,
    pub error_count: u64,
}

/// A stand-in for the helper on a private system bus: it owns the helper's
/// name, serves its properties and methods, and emits what a run emits
/// when told to. zbus answers calls on its own thread.
pub struct Standin {
    conn: zbus::Connection,
    control: Arc<Mutex<Control>>,
}

impl Standin {
    pub fn start(bus: &SystemBus, initial: Initial) -> Self {
        let control = Arc::new(Mutex::new(Control {
            start: Reply::Accept,
            stop: Reply::Accept,
            start_calls: 0,
            stop_calls: 0,
            delay: Duration::ZERO,
        }));
        let object = HelperObject {
            phase: initial.phase,
            progress: initial.progress,
            started_at: initial.started_at,
            profile: String::new(),
            places: initial.places,
            error_count: initial.error_count,
            control: Arc::clone(&control),
        };
        let conn = async_io::block_on(async {
            zbus::connection::Builder::address(bus.address())?
                .name(BUS_NAME)?
                .serve_at(OBJECT_PATH, object)?
                .build()
                .await
        })
        .expect("the stand-in connects and owns the helper's name");
        Standin { conn, control }
    }

    /// How Start and Stop answer, after `delay`.
    pub fn set_replies(&self, start: Reply, stop: Reply, delay: Duration) {
        let mut c = self.control.lock().unwrap();
        c.start = start;
        c.stop = stop;
        c.delay = delay;
    }

    /// How many times Start and Stop were called.
    pub fn calls(&self) -> (u32, u32) {
        let c = self.control.lock().unwrap();
        (c.start_calls, c.stop_calls)
    }

    fn object(&self) -> zbus::object_server::InterfaceRef<HelperObject> {
        async_io::block_on(self.conn.object_server().interface(OBJECT_PATH))
            .expect("the stand-in serves its object")
    }

    /// A run begins, as after Start: BackupStarted, then the properties.
    pub fn begin(&self, places: &[&str]) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.begin(
                object.signal_emitter(),
                places.iter().map(|s| s.to_string()).collect(),
            )
            .await
        })
        .expect("emit the start of a run");
    }

    pub fn set_phase(&self, phase: Phase) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.phase = Some(phase);
            o.phase_changed(object.signal_emitter()).await
        })
        .expect("emit the phase");
    }

    /// restic's status: the Progress signal and property.
    pub fn progress(&self, p: &Progress) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.progress = p.clone();
            let e = object.signal_emitter();
            e.emit(INTERFACE, "Progress", p).await?;
            o.progress_changed(e).await
        })
        .expect("emit Progress");
    }

    /// A file restic could not read.
    pub fn item_error(&self, item: &ItemError) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.error_count += 1;
            let e = object.signal_emitter();
            e.emit(INTERFACE, "Error", item).await?;
            o.error_count_changed(e).await
        })
        .expect("emit Error");
    }

    /// The end of the run: BackupComplete when restic saved a snapshot,
    /// BackupFinished, and the properties back to idle.
    pub fn finish(&self, outcome: Outcome, reason: &str, summary: Option<&Summary>) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            let e = object.signal_emitter();
            if let Some(s) = summary {
                e.emit(INTERFACE, "BackupComplete", &s.backup_complete_body())
                    .await?;
            }
            e.emit(INTERFACE, "BackupFinished", &(outcome.as_str(), reason))
                .await?;
            o.phase = None;
            o.started_at = 0;
            o.phase_changed(e).await?;
            o.started_at_changed(e).await
        })
        .expect("emit the end of the run");
    }

    /// When the current run started, as the helper says.
    pub fn started_at(&self) -> u64 {
        let object = self.object();
        async_io::block_on(async { object.get().await.started_at })
    }

    /// Answers for systemd: `igotchuu.timer` elapses next at `next` (seconds
    /// since the Unix epoch).
    pub fn serve_timer(&self, next: u64) {
        async_io::block_on(async {
            let server = self.conn.object_server();
            server
                .at("/org/freedesktop/systemd1", SystemdManager)
                .await?;
            server.at(TIMER_PATH, TimerUnit).await?;
            server
                .at(
                    TIMER_PATH,
                    Timer {
                        next_elapse_usec: next * 1_000_000,
                    },
                )
                .await?;
            self.conn.request_name(SYSTEMD_NAME).await
        })
        .expect("serve systemd's timer");
    }
}

// --------------------------------------------- stand-in for systemd's timer

const TIMER_PATH: &str = "/org/freedesktop/systemd1/unit/igotchuu_2etimer";

struct SystemdManager;

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl SystemdManager {
    fn get_unit(&self, name: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        if name != "igotchuu.timer" {
            return Err(zbus::fdo::Error::Failed(format!("Unit {name} not loaded.")));
        }
        Ok(OwnedObjectPath::try_from(TIMER_PATH).expect("a valid path"))
    }
}

struct TimerUnit;

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl TimerUnit {
    #[zbus(property)]
    fn load_state(&self) -> String {
        "loaded".into()
    }

    #[zbus(property)]
    fn active_state(&self) -> String {
        "active".into()
    }
}

struct Timer {
    next_elapse_usec: u64,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Timer")]
impl Timer {
    #[zbus(property, name = "NextElapseUSecRealtime")]
    fn next_elapse_usec_realtime(&self) -> u64 {
        self.next_elapse_usec
    }
}

// ------------------------------------------------------------ history

/// A history file in a temporary state directory.
pub struct StateDir {
    dir: TempDir,
}

impl StateDir {
    pub fn new(runs: Vec<RunRecord>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-state-")
            .tempdir()
            .expect("temp dir");
        let state = StateDir { dir };
        state.write(runs);
        state
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the history, atomically, as the helper does.
    pub fn write(&self, runs: Vec<RunRecord>) {
        let mut history = History::default();
        for r in runs {
            history.push(r);
        }
        let tmp = self.dir.path().join(".history.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&history).expect("serialize")).expect("write");
        std::fs::rename(&tmp, self.dir.path().join("history.json")).expect("rename");
    }

    pub fn read(&self) -> Vec<RunRecord> {
        let bytes = std::fs::read(self.dir.path().join("history.json")).expect("read history");
        History::from_json(&bytes).expect("parse history").runs
    }
}

/// A summary like restic's for a day's work.
pub fn sample_summary(snapshot_id: &str) -> Summary {
    Summary {
        files_new: 12,
        files_changed: 3,
        files_unmodified: 10_234,
        dirs_new: 1,
        dirs_changed: 4,
        dirs_unmodified: 812,
        data_blobs: 15,
        tree_blobs: 5,
        data_added: 12_345_678,
        total_files_processed: 10_249,
        total_bytes_processed: 3_456_789_012,
        total_duration: 184.2,
        snapshot_id: snapshot_id.into(),
        dry_run: false,
        ..Default::default()
    }
}

/// A finished run `ago` seconds ago.
pub fn sample_record(ago: u64, outcome: Outcome, reason: &str, errors: u64) -> RunRecord {
    let finished_at = unix_now().saturating_sub(ago);
    let item_errors: Vec<ItemError> = (0..errors)
        .map(|i| ItemError {
            error: "open: permission denied".into(),
            during: "archival".into(),
            item: format!("/home/alice/.cache/private-{i}"),
        })
        .collect();
    RunRecord {
        started_at: finished_at - 190,
        finished_at,
        outcome,
        reason: reason.into(),
        profile: None,
        places: vec!["/home".into(), "/srv".into()],
        summary: outcome
            .saved_snapshot()
            .then(|| sample_summary(&format!("{:08x}c0ffee", finished_at % 0xffff_ffff))),
        error_count: errors,
        item_errors,
        nested_subvolumes: vec![],
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
        Gui {
            process,
            lines,
            seen: 0,
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

/// A progress report: `done` of the way through 5 678 files and 3.4 GB.
pub fn sample_progress(done: f64) -> Progress {
    let total_files = 5_678u64;
    let total_bytes = 3_456_789_012u64;
    Progress {
        seconds_elapsed: 95,
        seconds_remaining: 185,
        percent_done: done,
        total_files,
        files_done: (total_files as f64 * done) as u64,
        total_bytes,
        bytes_done: (total_bytes as f64 * done) as u64,
        error_count: 0,
        current_files: vec![
            "/home/alice/Pictures/2024/holiday/IMG_2041.jpg".into(),
            "/home/alice/Documents/thesis/chapter-3.odt".into(),
        ],
    }
}
