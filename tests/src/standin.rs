//! Stand-ins for the helper and for systemd on a private system bus, and
//! a run history in a temporary state directory: what the tray's and the
//! window's tests feed the desktop side with, when they do not run the
//! real helper.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use igotchuu_dbus::errors::Error as BusError;
use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_dbus::{
    ItemError, Operation, OriginalBackupCompleteBody, Outcome, Phase, Progress, SnapshotInfo,
    Summary, BUS_NAME, INTERFACE, OBJECT_PATH,
};
use tempfile::TempDir;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedObjectPath;

use crate::sysbus::{open_policy, BusOptions, SystemBus};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// --------------------------------------------------------- system bus

/// systemd's bus name, for the stand-in that answers for `igotchuu.timer`.
const SYSTEMD_NAME: &str = "org.freedesktop.systemd1";

/// The bus daemon's statistics interface, which tells each connection's
/// match rules.
const STATS: &str = "org.freedesktop.DBus.Debug.Stats";

/// A private system bus with the repository's policy for the helper, and
/// one like systemd's for its name (root owns it, anyone calls), so that a
/// stand-in can answer for `igotchuu.timer`. Root may also ask the daemon
/// for its statistics ([`match_rules_of`]).
pub fn standin_bus() -> SystemBus {
    SystemBus::with(BusOptions {
        polkit: false,
        extra_policy: format!("{}\n  {}", open_policy(SYSTEMD_NAME), stats_policy()),
        ..BusOptions::default()
    })
}

/// Bus policy that lets root ask the daemon for its statistics, which
/// [`match_rules_of`] needs.
pub fn stats_policy() -> String {
    format!(
        r#"<policy user="root"><allow send_destination="org.freedesktop.DBus" send_interface="{STATS}"/></policy>"#
    )
}

/// The match rules that the connections of process `pid` have on `bus`,
/// as the bus daemon holds them (`Debug.Stats.GetAllMatchRules`).
pub fn match_rules_of(bus: &SystemBus, pid: u32) -> Vec<String> {
    async_io::block_on(async {
        let conn = zbus::connection::Builder::address(bus.address())?
            .build()
            .await?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some(STATS),
                "GetAllMatchRules",
                &(),
            )
            .await?;
        let all: std::collections::HashMap<String, Vec<String>> = reply.body().deserialize()?;
        let mut rules = Vec::new();
        for (name, theirs) in all {
            let Ok(name) = zbus::names::BusName::try_from(name.as_str()) else {
                continue;
            };
            // Gone since: not this process's any more.
            if dbus.get_connection_unix_process_id(name).await.ok() == Some(pid) {
                rules.extend(theirs);
            }
        }
        rules.sort();
        zbus::Result::Ok(rules)
    })
    .expect("the bus daemon tells its match rules")
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
    /// What Snapshots answers, or `Deny`.
    snapshots: Vec<SnapshotInfo>,
    snapshots_reply: Reply,
    /// What Browse answers.
    browse_dir: String,
    /// Each call of Snapshots, Browse, CloseBrowse, Restore and
    /// RestoreInPlace, as `Member arg arg…`, in order, with the caller's
    /// unique bus name last.
    calls: Vec<Call>,
}

/// One call of the backups page's methods, as the stand-in got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub member: String,
    pub args: Vec<String>,
    /// The caller's unique bus name.
    pub sender: String,
}

fn sender_of(header: &zbus::message::Header<'_>) -> String {
    header.sender().map(|s| s.to_string()).unwrap_or_default()
}

fn denied() -> BusError {
    BusError::Fdo(zbus::fdo::Error::AccessDenied("Not authorized.".into()))
}

/// The helper's object: the contract's properties and methods. Signals
/// are emitted by name, as the helper emits them.
struct HelperObject {
    phase: Option<Phase>,
    /// The operation under way; a backup when a phase is set and none is.
    operation: Option<Operation>,
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

    async fn snapshots(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) -> Result<Vec<SnapshotInfo>, BusError> {
        let (reply, list, delay) = {
            let mut c = self.control.lock().unwrap();
            c.calls.push(Call {
                member: "Snapshots".into(),
                args: vec![],
                sender: sender_of(&header),
            });
            (c.snapshots_reply, c.snapshots.clone(), c.delay)
        };
        async_io::Timer::after(delay).await;
        match reply {
            Reply::Deny => Err(denied()),
            Reply::Accept => Ok(list),
        }
    }

    fn browse(&self, #[zbus(header)] header: zbus::message::Header<'_>) -> String {
        let mut c = self.control.lock().unwrap();
        c.calls.push(Call {
            member: "Browse".into(),
            args: vec![],
            sender: sender_of(&header),
        });
        c.browse_dir.clone()
    }

    fn close_browse(&self, #[zbus(header)] header: zbus::message::Header<'_>) {
        self.control.lock().unwrap().calls.push(Call {
            member: "CloseBrowse".into(),
            args: vec![],
            sender: sender_of(&header),
        });
    }

    /// Records the call and begins a restore, as the helper does.
    async fn restore(
        &mut self,
        snapshot: String,
        path: String,
        target: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<String, BusError> {
        let name = path
            .rsplit('/')
            .find(|c| !c.is_empty())
            .unwrap_or("restored");
        let restored_to = format!("{}/{name}", target.trim_end_matches('/'));
        self.control.lock().unwrap().calls.push(Call {
            member: "Restore".into(),
            args: vec![snapshot, path.clone(), target],
            sender: sender_of(&header),
        });
        self.begin_operation(&emitter, Operation::Restore, vec![path])
            .await?;
        Ok(restored_to)
    }

    async fn restore_in_place(
        &mut self,
        snapshot: String,
        path: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), BusError> {
        self.control.lock().unwrap().calls.push(Call {
            member: "RestoreInPlace".into(),
            args: vec![snapshot, path.clone()],
            sender: sender_of(&header),
        });
        self.begin_operation(&emitter, Operation::Restore, vec![path])
            .await?;
        Ok(())
    }

    #[zbus(property)]
    fn operation(&self) -> String {
        let op = self.phase.map(|_| self.operation.unwrap_or_default());
        Operation::property_value(op).to_owned()
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
    /// An operation other than a backup begins: OperationStarted, then
    /// the properties, its phase last.
    async fn begin_operation(
        &mut self,
        e: &SignalEmitter<'_>,
        operation: Operation,
        places: Vec<String>,
    ) -> zbus::Result<()> {
        self.operation = Some(operation);
        self.progress = Progress::default();
        self.started_at = unix_now();
        self.places = places;
        self.error_count = 0;
        e.emit(INTERFACE, "OperationStarted", &(operation.as_str(),))
            .await?;
        self.started_at_changed(e).await?;
        self.places_changed(e).await?;
        self.progress_changed(e).await?;
        self.error_count_changed(e).await?;
        self.phase = Some(operation.working_phase());
        self.operation_changed(e).await?;
        self.phase_changed(e).await
    }

    async fn begin(&mut self, e: &SignalEmitter<'_>, places: Vec<String>) -> zbus::Result<()> {
        self.operation = Some(Operation::Backup);
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
            snapshots: Vec::new(),
            snapshots_reply: Reply::Accept,
            browse_dir: String::new(),
            calls: Vec::new(),
        }));
        let object = HelperObject {
            phase: initial.phase,
            operation: None,
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

    /// What Snapshots answers (or AccessDenied, as polkit refusing).
    pub fn serve_snapshots(&self, snapshots: Vec<SnapshotInfo>, reply: Reply) {
        let mut c = self.control.lock().unwrap();
        c.snapshots = snapshots;
        c.snapshots_reply = reply;
    }

    /// The folder Browse answers with.
    pub fn serve_browse(&self, dir: &Path) {
        self.control.lock().unwrap().browse_dir = dir.display().to_string();
    }

    /// The calls of Snapshots, Browse, CloseBrowse, Restore and
    /// RestoreInPlace so far, in order.
    pub fn backup_calls(&self) -> Vec<Call> {
        self.control.lock().unwrap().calls.clone()
    }

    /// An operation other than a backup begins (a restore, a check…), as
    /// the helper starts one.
    pub fn begin_operation(&self, operation: Operation, places: &[&str]) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.begin_operation(
                object.signal_emitter(),
                operation,
                places.iter().map(|s| s.to_string()).collect(),
            )
            .await
        })
        .expect("emit the start of the operation");
    }

    /// The end of an operation other than a backup: OperationFinished, and
    /// the properties back to idle.
    pub fn finish_operation(&self, outcome: Outcome, reason: &str) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            let e = object.signal_emitter();
            let op = o.operation.take().unwrap_or_default();
            e.emit(
                INTERFACE,
                "OperationFinished",
                &(op.as_str(), outcome.as_str(), reason),
            )
            .await?;
            o.phase = None;
            o.started_at = 0;
            o.operation_changed(e).await?;
            o.phase_changed(e).await?;
            o.started_at_changed(e).await
        })
        .expect("emit the end of the operation");
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

    /// The Progress property alone, as the helper reports a restore's,
    /// prune's or check's progress (the Progress signal is a backup's).
    pub fn progress_property(&self, p: &Progress) {
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.progress = p.clone();
            o.progress_changed(object.signal_emitter()).await
        })
        .expect("emit the Progress property");
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

    /// `n` files restic could not read, as the helper reports a flood: one
    /// Error signal, and the rest folded into one ErrorsFolded.
    pub fn item_errors(&self, n: u64, item: &ItemError) {
        assert!(n > 0);
        self.item_error(item);
        let object = self.object();
        async_io::block_on(async {
            let mut o = object.get_mut().await;
            o.error_count += n - 1;
            let e = object.signal_emitter();
            e.emit(INTERFACE, "ErrorsFolded", &(n - 1)).await?;
            o.error_count_changed(e).await
        })
        .expect("emit ErrorsFolded");
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

    /// Leaves the bus, as the helper does when it exits: its name goes.
    pub fn vanish(self) {
        let _ = async_io::block_on(self.conn.close());
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

// ------------------------------------- stand-in for the original helper

/// The original (Python) helper's object: `Stop` and nothing else, so a
/// `GetAll` on the interface answers with no properties at all.
struct OriginalObject;

#[zbus::interface(name = "com.nyantec.igotchuu1")]
impl OriginalObject {
    fn stop(&self) {}
}

/// A stand-in for the original helper, sending exactly its wire shapes (see
/// DESIGN.md §3 and `fixtures/original-helper-signals.txt`): no properties,
/// no `Phase`, `BackupComplete` with thirteen arguments (no `data_added`),
/// and no `BackupFinished`. It leaves the bus when its run is over.
pub struct OriginalStandin {
    conn: zbus::Connection,
}

impl OriginalStandin {
    pub fn start(bus: &SystemBus) -> Self {
        let conn = async_io::block_on(async {
            zbus::connection::Builder::address(bus.address())?
                .name(BUS_NAME)?
                .serve_at(OBJECT_PATH, OriginalObject)?
                .build()
                .await
        })
        .expect("the original stand-in connects and owns the helper's name");
        OriginalStandin { conn }
    }

    fn emit<B>(&self, member: &str, body: &B)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        async_io::block_on(
            self.conn
                .emit_signal(None::<()>, OBJECT_PATH, INTERFACE, member, body),
        )
        .unwrap_or_else(|e| panic!("emit {member}: {e}"));
    }

    pub fn backup_started(&self) {
        self.emit("BackupStarted", &());
    }

    pub fn progress(&self, p: &Progress) {
        self.emit("Progress", p);
    }

    /// `BackupComplete` as the original sends it: `(ttttttxxttdsb)`.
    pub fn backup_complete(&self, s: &Summary) {
        self.emit("BackupComplete", &original_backup_complete_body(s));
    }

    /// Leaves the bus, as the original does when its script ends.
    pub fn vanish(self) {
        let _ = async_io::block_on(self.conn.close());
    }
}

/// The original's thirteen `BackupComplete` arguments: the interface's
/// fourteen without `data_added`.
pub fn original_backup_complete_body(s: &Summary) -> OriginalBackupCompleteBody {
    (
        s.files_new,
        s.files_changed,
        s.files_unmodified,
        s.dirs_new,
        s.dirs_changed,
        s.dirs_unmodified,
        s.data_blobs,
        s.tree_blobs,
        s.total_files_processed,
        s.total_bytes_processed,
        s.total_duration,
        s.snapshot_id.clone(),
        s.dry_run,
    )
}

/// The original helper's run in `fixtures/original-helper-signals.txt`:
/// its progress reports, in order.
pub fn original_progress() -> Vec<Progress> {
    let p = |elapsed, done: f64, files_done, bytes_done, current: &[&str]| Progress {
        seconds_elapsed: elapsed,
        seconds_remaining: 0,
        percent_done: done,
        total_files: 1500,
        files_done,
        total_bytes: 225_150_000,
        bytes_done,
        error_count: 0,
        current_files: current.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        Progress::default(),
        p(
            0,
            0.191985,
            217,
            43_225_400,
            &["/TMP/mnt/home/f1193", "/TMP/mnt/home/f1194"],
        ),
        p(
            0,
            0.392013,
            410,
            88_261_800,
            &["/TMP/mnt/home/f1368", "/TMP/mnt/home/f1369"],
        ),
        p(0, 0.59968, 754, 135_018_000, &["/TMP/mnt/home/f327"]),
        p(
            1,
            0.767025,
            1160,
            172_695_600,
            &["/TMP/mnt/home/f684", "/TMP/mnt/home/f693"],
        ),
        p(
            1,
            0.967496,
            1458,
            217_831_800,
            &["/TMP/mnt/home/f961", "/TMP/mnt/home/f962"],
        ),
    ]
}

/// The original helper's summary in that capture.
pub fn original_summary() -> Summary {
    Summary {
        files_new: 1500,
        dirs_new: 5,
        data_blobs: 1500,
        tree_blobs: 6,
        total_files_processed: 1500,
        total_bytes_processed: 225_150_000,
        total_duration: 1.56763,
        snapshot_id: "fede886f".into(),
        ..Default::default()
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

    /// Adds a run to the history, as the helper does before BackupFinished.
    pub fn append(&self, run: RunRecord) {
        let mut runs = self.read();
        runs.push(run);
        self.write(runs);
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
        reason: reason.into(),
        places: vec!["/home".into(), "/srv".into()],
        summary: outcome
            .saved_snapshot()
            .then(|| sample_summary(&format!("{:08x}c0ffee", finished_at % 0xffff_ffff))),
        error_count: errors,
        item_errors,
        ..RunRecord::new(
            igotchuu_dbus::Operation::Backup,
            outcome,
            finished_at - 190,
            finished_at,
        )
    }
}

/// Snapshots as the helper lists them, newest first: the last one made
/// by a scheduled run here, one by a run of this machine's history that
/// failed after saving, and one of another machine without a size.
pub fn sample_snapshots(now: u64) -> Vec<SnapshotInfo> {
    let snap = |n: u8, ago: u64, host: &str, paths: &[&str]| SnapshotInfo {
        id: format!("{:02x}", n).repeat(32),
        time: now - ago,
        hostname: host.into(),
        username: "root".into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        tags: vec!["igotchuu".into()],
        ..Default::default()
    };
    vec![
        SnapshotInfo {
            size_known: true,
            data_added: 12_345_678,
            run_started_at: now - 3_600 - 190,
            run_outcome: "completed".into(),
            ..snap(0xa1, 3_600, "laptop", &["/home", "/srv"])
        },
        SnapshotInfo {
            size_known: true,
            data_added: 1_500,
            run_started_at: now - 3 * 86_400 - 60,
            run_outcome: "completed-with-warnings".into(),
            ..snap(0xb2, 3 * 86_400, "laptop", &["/home"])
        },
        SnapshotInfo {
            tags: vec![],
            ..snap(0xc3, 40 * 86_400, "workstation", &["/home/alice/Documents"])
        },
    ]
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
