//! The tray in a real desktop: Xvfb, a private session bus with a real
//! StatusNotifierWatcher, tray host and notification server (dunst), and a
//! private system bus on which a small stand-in for the helper serves the
//! contract's properties and sends its signals.
//!
//! Needs root (the stand-in owns the helper's name, which the bus policy
//! gives to root only). Screenshots go to `target/screenshots/tray-*.png`.

// The seed's Progress and BackupComplete signals have 9 and 14 arguments.
#![allow(clippy::too_many_arguments)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_dbus::{Outcome, Progress, Summary, BUS_NAME, OBJECT_PATH};
use igotchuu_e2e::desktop::{icon_colour, tray_bus, wait_until, Desktop, Tray};
use igotchuu_e2e::sni::{ItemView, Session};
use tempfile::TempDir;
use zbus::object_server::SignalEmitter;

const WAIT: Duration = Duration::from_secs(20);
const HOUR: u64 = 3600;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ------------------------------------------------------------- stand-in

/// The helper's object as far as clients see it: properties, signals, and
/// Start and Stop that only count their calls.
#[derive(Default)]
struct StandIn {
    phase: String,
    progress: Progress,
    started_at: u64,
    places: Vec<String>,
    error_count: u64,
    stops: u32,
}

#[zbus::interface(name = "com.nyantec.igotchuu1")]
impl StandIn {
    async fn stop(&mut self) {
        self.stops += 1;
    }

    async fn start(&self) {}

    #[zbus(signal)]
    async fn backup_started(e: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn progress(
        e: &SignalEmitter<'_>,
        seconds_elapsed: u64,
        seconds_remaining: u64,
        percent_done: f64,
        total_files: u64,
        files_done: u64,
        total_bytes: u64,
        bytes_done: u64,
        error_count: u64,
        current_files: &[String],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn backup_complete(
        e: &SignalEmitter<'_>,
        files_new: u64,
        files_changed: u64,
        files_unmodified: u64,
        dirs_new: u64,
        dirs_changed: u64,
        dirs_unmodified: u64,
        data_blobs: i64,
        tree_blobs: i64,
        data_added: u64,
        total_files_processed: u64,
        total_bytes_processed: u64,
        total_duration: f64,
        snapshot_id: &str,
        dry_run: bool,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn error(
        e: &SignalEmitter<'_>,
        error: &str,
        during: &str,
        item: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn backup_finished(
        e: &SignalEmitter<'_>,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn errors_folded(e: &SignalEmitter<'_>, count: u64) -> zbus::Result<()>;

    #[zbus(property)]
    fn phase(&self) -> String {
        self.phase.clone()
    }

    #[zbus(property, name = "Progress")]
    fn progress_state(&self) -> Progress {
        self.progress.clone()
    }

    #[zbus(property)]
    fn started_at(&self) -> u64 {
        self.started_at
    }

    #[zbus(property)]
    fn profile(&self) -> String {
        String::new()
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

/// The stand-in on the bus, owning the helper's name until dropped.
struct Helper {
    conn: zbus::Connection,
}

impl Helper {
    async fn appear(bus: &str, object: StandIn) -> Helper {
        let conn = zbus::connection::Builder::address(bus)
            .unwrap()
            .serve_at(OBJECT_PATH, object)
            .unwrap()
            .name(BUS_NAME)
            .unwrap()
            .build()
            .await
            .expect("the stand-in takes the helper's name");
        Helper { conn }
    }

    async fn iface(&self) -> zbus::object_server::InterfaceRef<StandIn> {
        self.conn
            .object_server()
            .interface::<_, StandIn>(OBJECT_PATH)
            .await
            .unwrap()
    }

    async fn set_phase(&self, phase: &str) {
        let iface = self.iface().await;
        iface.get_mut().await.phase = phase.to_owned();
        iface
            .get()
            .await
            .phase_changed(iface.signal_emitter())
            .await
            .unwrap();
    }

    async fn started(&self, started_at: u64) {
        let iface = self.iface().await;
        {
            let mut o = iface.get_mut().await;
            o.started_at = started_at;
            o.places = vec!["/home".into()];
        }
        let em = iface.signal_emitter();
        StandIn::backup_started(em).await.unwrap();
        let o = iface.get().await;
        o.started_at_changed(em).await.unwrap();
        o.places_changed(em).await.unwrap();
        drop(o);
        self.set_phase("preparing").await;
    }

    async fn progress(&self, p: Progress) {
        let iface = self.iface().await;
        let em = iface.signal_emitter();
        StandIn::progress(
            em,
            p.seconds_elapsed,
            p.seconds_remaining,
            p.percent_done,
            p.total_files,
            p.files_done,
            p.total_bytes,
            p.bytes_done,
            p.error_count,
            &p.current_files,
        )
        .await
        .unwrap();
        iface.get_mut().await.progress = p;
        iface.get().await.progress_changed(em).await.unwrap();
    }

    async fn item_errors(&self, n: u64) {
        let iface = self.iface().await;
        let em = iface.signal_emitter();
        StandIn::error(em, "permission denied", "archival", "/home/secret")
            .await
            .unwrap();
        StandIn::errors_folded(em, n - 1).await.unwrap();
        iface.get_mut().await.error_count = n;
    }

    /// Ends the run as the helper does: summary, outcome, idle.
    async fn finish(&self, outcome: &str, reason: &str, summary: Option<&Summary>) {
        let iface = self.iface().await;
        let em = iface.signal_emitter();
        if let Some(s) = summary {
            StandIn::backup_complete(
                em,
                s.files_new,
                s.files_changed,
                s.files_unmodified,
                s.dirs_new,
                s.dirs_changed,
                s.dirs_unmodified,
                s.data_blobs,
                s.tree_blobs,
                s.data_added,
                s.total_files_processed,
                s.total_bytes_processed,
                s.total_duration,
                &s.snapshot_id,
                s.dry_run,
            )
            .await
            .unwrap();
        }
        StandIn::backup_finished(em, outcome, reason).await.unwrap();
        self.set_phase("idle").await;
    }

    async fn stops(&self) -> u32 {
        self.iface().await.get().await.stops
    }

    /// Leaves the bus, as the helper does when it exits.
    async fn vanish(self) {
        let _ = self.conn.close().await;
    }
}

impl StandIn {
    /// Waiting for Start, as after D-Bus activation.
    fn idle() -> Self {
        StandIn {
            phase: "idle".into(),
            ..Default::default()
        }
    }
}

fn running_props(started_at: u64, phase: &str, p: Progress) -> StandIn {
    StandIn {
        phase: phase.into(),
        progress: p,
        started_at,
        places: vec!["/home".into()],
        ..Default::default()
    }
}

fn progress(percent: f64, eta: u64) -> Progress {
    Progress {
        seconds_elapsed: 60,
        seconds_remaining: eta,
        percent_done: percent,
        total_files: 100,
        files_done: (percent * 100.0) as u64,
        total_bytes: 10_000_000,
        bytes_done: (percent * 1e7) as u64,
        ..Default::default()
    }
}

fn summary() -> Summary {
    Summary {
        files_new: 12,
        files_changed: 3,
        files_unmodified: 85,
        data_blobs: 14,
        tree_blobs: 3,
        data_added: 1_234_567,
        total_files_processed: 100,
        total_bytes_processed: 10_000_000,
        total_duration: 185.0,
        snapshot_id: "0123abcd".into(),
        ..Default::default()
    }
}

/// As the helper does before BackupFinished: append the run to the history.
fn record_run(state_dir: &Path, record: RunRecord) {
    let path = state_dir.join("history.json");
    let mut h = std::fs::read(&path)
        .ok()
        .and_then(|b| History::from_json(&b).ok())
        .unwrap_or_default();
    h.push(record);
    let tmp = state_dir.join("history.json.tmp-1");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&h).unwrap()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn completed_record(started_at: u64, finished_at: u64) -> RunRecord {
    RunRecord {
        started_at,
        finished_at,
        outcome: Outcome::Completed,
        reason: String::new(),
        profile: None,
        places: vec!["/home".into()],
        summary: Some(summary()),
        error_count: 0,
        item_errors: vec![],
        nested_subvolumes: vec![],
    }
}

// --------------------------------------------------------------- fixture

/// A program for "Open igotchuu" that only leaves a mark.
fn fake_gui(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let marker = dir.join("gui-opened");
    let script = dir.join("fake-gui");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho opened >> '{}'\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, marker)
}

fn opened(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn screenshots() -> PathBuf {
    igotchuu_e2e::repo_root().join("target/screenshots")
}

/// Screenshots the desktop as `tray-NAME.png` and checks that the tray bar
/// shows `rgb`, the main colour of the icon for this state.
fn shoot(desktop: &mut Desktop, name: &str, rgb: [u8; 3]) {
    desktop.shoot_tray(&screenshots().join(format!("tray-{name}.png")), rgb);
}

// ----------------------------------------------------------------- tests

#[test]
fn tray_follows_runs_notifies_and_survives_the_bus() {
    if !igotchuu_e2e::have_root("tray_follows_runs_notifies_and_survives_the_bus") {
        return;
    }
    let rt = runtime();
    let mut system = tray_bus();
    let mut desktop = Desktop::start(true);
    let state = TempDir::new().unwrap();
    let (gui, marker) = fake_gui(state.path());
    let t0 = now();
    record_run(
        state.path(),
        completed_record(t0 - 2 * HOUR - 300, t0 - 2 * HOUR),
    );
    let mut tray = Tray::start(&desktop, system.address(), state.path(), &gui);
    let session = rt.block_on(Session::connect(desktop.session_address()));

    // It registers with the watcher, and says how the last backup went.
    let item = rt.block_on(session.wait_registered(WAIT));
    let view = || rt.block_on(session.item(&item));
    let wait_view = |what: &str, ok: &dyn Fn(&ItemView) -> bool| {
        rt.block_on(session.wait_for(&item, WAIT, what, ok));
    };
    wait_view("the idle tooltip", &|v| {
        v.tooltip == "Last backup 2 hours ago: 12 new and 3 changed files"
    });
    let v = view().unwrap();
    assert_eq!(v.title, "igotchuu");
    assert_eq!(v.tooltip_title, "igotchuu");
    assert_eq!(v.icon, "com.nyantec.IGotChuu-idle");
    shoot(&mut desktop, "idle", icon_colour::IDLE);

    // A run that is already on when the helper is seen: properties, at once.
    let t1 = now();
    let helper = rt.block_on(Helper::appear(
        system.address(),
        running_props(t1, "backing-up", progress(0.42, 170)),
    ));
    wait_view("the tooltip of a run joined late", &|v| {
        v.tooltip == "Backing up /home — 42\u{a0}%, about 3 min left"
            && v.icon == "com.nyantec.IGotChuu-backing-up"
    });
    shoot(&mut desktop, "backing-up", icon_colour::BACKING_UP);
    rt.block_on(helper.progress(progress(0.9, 20)));
    wait_view("the tooltip to follow progress", &|v| {
        v.tooltip == "Backing up /home — 90\u{a0}%, less than a minute left"
    });

    // "Stop backup" in the menu reaches the helper.
    rt.block_on(session.click(&item, "Stop backup"));
    wait_until(WAIT, "Stop to reach the stand-in", || {
        rt.block_on(helper.stops()) == 1
    });

    // The run completes: one notification with its numbers.
    rt.block_on(helper.progress(progress(1.0, 0)));
    record_run(state.path(), completed_record(t1, now()));
    rt.block_on(helper.finish("completed", "", Some(&summary())));
    rt.block_on(helper.vanish());
    wait_until(WAIT, "the completed notification", || {
        desktop.notifications_displayed() == 1
    });
    wait_view("the tooltip after the run", &|v| {
        v.tooltip == "Last backup just now: 12 new and 3 changed files"
            && v.icon == "com.nyantec.IGotChuu-idle"
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen.first(),
        Some(&(
            "Backup completed".to_owned(),
            "12 new and 3 changed files, 1.2\u{a0}MB added. Took 3 minutes.".to_owned()
        )),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 1, "exactly one notification per run: {seen:?}");

    // Two more runs: the second notification replaces the first.
    let helper = rt.block_on(Helper::appear(system.address(), StandIn::idle()));
    rt.block_on(async {
        helper.started(now()).await;
        helper.set_phase("backing-up").await;
        helper.item_errors(3).await;
        helper
            .finish("completed-with-warnings", "", Some(&summary()))
            .await;
    });
    wait_until(WAIT, "the warnings notification", || {
        desktop.notifications_displayed() == 1
    });
    wait_view("the warning icon", &|v| {
        v.icon == "com.nyantec.IGotChuu-warning"
    });
    rt.block_on(async {
        helper.started(now()).await;
        helper
            .finish("failed", "Wrong repository password", None)
            .await;
    });
    wait_view("the failed tooltip", &|v| {
        v.tooltip == "Last backup failed just now: Wrong repository password."
            && v.icon == "com.nyantec.IGotChuu-failed"
    });
    shoot(&mut desktop, "failed", icon_colour::FAILED);
    assert_eq!(desktop.notifications_displayed(), 1, "replaced, not added");
    // "Show details" (the notification's default action) opens the window.
    desktop.dunstctl(&["action", "0"]);
    wait_until(WAIT, "Show details to open the window", || {
        opened(&marker) == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen.first(),
        Some(&(
            "Backup failed".to_owned(),
            "Wrong repository password. No snapshot was saved.".to_owned()
        )),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|(s, _)| s == "Backup completed with warnings"),
        "the warnings notification was replaced, so it never reached the history: {seen:?}"
    );

    // The system bus daemon restarts mid-run; the tray comes back to it.
    rt.block_on(helper.vanish());
    let t2 = now();
    let helper = rt.block_on(Helper::appear(
        system.address(),
        running_props(t2, "backing-up", progress(0.1, 600)),
    ));
    wait_view("the next run", &|v| {
        v.tooltip.starts_with("Backing up /home")
    });
    // The daemon dies under both; the helper's connection goes with it.
    system.kill();
    drop(helper);
    tray.wait_for_log("lost the system bus");
    wait_view("the tooltip to say the bus is away", &|v| {
        v.tooltip
            .starts_with("Cannot reach the system bus; waiting for it.")
            && v.icon == "com.nyantec.IGotChuu-failed"
    });
    system.restart();
    // The helper finished while the bus was away: the history says how.
    record_run(state.path(), completed_record(t2, now()));
    let helper = rt.block_on(Helper::appear(
        system.address(),
        running_props(t2, "idle", progress(1.0, 0)),
    ));
    wait_until(WAIT, "the missed end to be notified", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(seen[0].0, "Backup completed", "{seen:?}");
    rt.block_on(helper.vanish());
    assert!(tray.running(), "the tray survived all of it");

    // "Back up now" with no helper installed says so, in plain words.
    rt.block_on(session.click(&item, "Back up now"));
    wait_until(WAIT, "the refusal to be notified", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen[0],
        (
            "Back up now did not work".to_owned(),
            "The igotchuu backup helper is not installed".to_owned()
        ),
        "{seen:?}"
    );

    // Left click opens the window; Quit quits.
    rt.block_on(session.activate(&item));
    wait_until(WAIT, "a click to open the window", || opened(&marker) == 2);
    rt.block_on(session.click(&item, "Quit"));
    assert!(tray.wait_exit(WAIT), "Quit ends the tray");
    let log = tray.log();
    assert!(!log.contains("panicked"), "{log}");
    desktop.stop_watcher();
}

#[test]
fn without_a_watcher_it_still_notifies_and_registers_later() {
    if !igotchuu_e2e::have_root("without_a_watcher_it_still_notifies_and_registers_later") {
        return;
    }
    let rt = runtime();
    let system = tray_bus();
    let mut desktop = Desktop::start(false);
    let state = TempDir::new().unwrap();
    let (gui, _) = fake_gui(state.path());
    let tray = Tray::start(&desktop, system.address(), state.path(), &gui);
    tray.wait_for_log("no tray to show the icon in");
    let session = rt.block_on(Session::connect(desktop.session_address()));

    let helper = rt.block_on(Helper::appear(system.address(), StandIn::idle()));
    rt.block_on(async {
        helper.started(now()).await;
        helper
            .finish("failed", "The repository is unreachable.", None)
            .await;
        helper.vanish().await;
    });
    wait_until(WAIT, "the failed notification", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen,
        [(
            "Backup failed".to_owned(),
            "The repository is unreachable. No snapshot was saved.".to_owned()
        )]
    );

    // A watcher appears: the icon registers, with the state in its tooltip.
    desktop.start_watcher();
    let item = rt.block_on(session.wait_registered(WAIT));
    let v = rt.block_on(session.item(&item)).unwrap();
    assert_eq!(v.icon, "com.nyantec.IGotChuu-failed");
    assert!(
        v.tooltip
            .starts_with("Last backup failed just now: The repository is unreachable."),
        "{v:?}"
    );
    tray.wait_for_log("a StatusNotifierWatcher appeared");
    let log = tray.log();
    let missing = log
        .lines()
        .filter(|l| l.contains("no tray to show the icon in"))
        .count();
    assert_eq!(missing, 1, "one line about the missing tray:\n{log}");
}
