//! Staleness (issue 12) on the real desktop stack: Xvfb, a private session
//! bus with a real StatusNotifierWatcher, tray host and notification
//! server (dunst), a private system bus with a stand-in for the helper
//! (which counts "Back up now") and for systemd's three timers, and a
//! history file whose times are the clock: its last saved backup finished
//! ten days ago, and the helper's settings say to warn after seven.
//!
//! - The tray warns (icon, tooltip, menu), and dunst shows exactly one
//!   reminder, whose "Back up now" (chosen in dunst's context menu) reaches
//!   the helper; a tray started again the same day does not remind again.
//! - A fresh history warns of nothing. A postponed run is said once.
//! - The window shows the warning, the last check and the retention
//!   policy; screenshots in `target/screenshots/stale-*.png` and
//!   `check-failed-window.png`.
//!
//! Needs root (the stand-in owns the helper's name, which the bus policy
//! gives to root only). Build the binaries first: `cargo build --workspace
//! --bins`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::settings::{Settings, SETTINGS_FILE_NAME};
use igotchuu_dbus::{Operation, Outcome, Retention, RunCondition};
use igotchuu_e2e::block_on;
use igotchuu_e2e::desktop::{icon_colour, wait_unregistered, wait_until, Desktop, Tray, UserState};
use igotchuu_e2e::sni::{ItemView, Session};
use igotchuu_e2e::standin::{
    sample_summary, standin_bus, unix_now as now, Initial, Standin, StateDir,
};
use igotchuu_e2e::window::{gui_binary, Gui, GuiOptions, Screen, SystemdTimers, WINDOW_TITLE};

const WAIT: Duration = Duration::from_secs(20);
const DAY: u64 = 86_400;
/// Longer than the tray holds reminders back after it starts (2 s), with
/// room for a slow machine.
const REMINDER_WINDOW: Duration = Duration::from_secs(6);
const STALE_TITLE: &str = "No backup for 10 days";
const WARNING_ICON: &str = "com.nyantec.IGotChuu-warning";

/// One desktop at a time: the timings in here need the machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn screenshots() -> PathBuf {
    igotchuu_e2e::repo_root().join("target/screenshots")
}

fn record(op: Operation, outcome: Outcome, finished_ago: u64, reason: &str) -> RunRecord {
    let finished_at = now() - finished_ago;
    RunRecord {
        reason: reason.into(),
        places: if op == Operation::Backup {
            vec!["/home".into()]
        } else {
            vec![]
        },
        summary: outcome.saved_snapshot().then(|| sample_summary("5f3e2d1c")),
        ..RunRecord::new(op, outcome, finished_at - 200, finished_at)
    }
}

/// A backup that saved a snapshot `days` ago.
fn saved_days_ago(days: u64) -> RunRecord {
    record(Operation::Backup, Outcome::Completed, days * DAY, "")
}

fn policy() -> Retention {
    Retention {
        keep_last: Some(3),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        ..Retention::default()
    }
}

/// The helper's settings file, as it writes it at the start of a run.
fn write_settings(state: &StateDir, stale_after_days: u64, retention: Retention) {
    let s = Settings {
        stale_after_days,
        retention,
        ..Settings::default()
    };
    std::fs::write(
        state.path().join(SETTINGS_FILE_NAME),
        serde_json::to_vec(&s).unwrap(),
    )
    .unwrap();
}

/// A program for "Open igotchuu" that does nothing.
fn no_gui() -> &'static Path {
    Path::new("/bin/true")
}

fn titles(seen: &[(String, String)], title: &str) -> usize {
    seen.iter().filter(|(t, _)| t == title).count()
}

#[test]
fn a_stale_backup_warns_once_a_day_and_offers_back_up_now() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_stale_backup_warns_once_a_day_and_offers_back_up_now") {
        return;
    }
    let system = standin_bus();
    let helper = Standin::start(&system, Initial::default());
    let mut desktop = Desktop::start(true);
    // Saved ten days ago; a check since saves no backup.
    let state = StateDir::new(vec![
        saved_days_ago(10),
        record(Operation::Check, Outcome::Completed, DAY, ""),
    ]);
    write_settings(&state, 7, Retention::default());
    let home = UserState::new();
    let tray = Tray::start_remembering(&desktop, system.address(), state.path(), no_gui(), &home);
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));
    let wait_view = |what: &str, ok: &dyn Fn(&ItemView) -> bool| {
        block_on(session.wait_for(&item, WAIT, what, ok))
    };

    // The tray warns: the icon, the tooltip's title, a line in the menu.
    let v = wait_view("the staleness warning", &|v| {
        v.tooltip_title == format!("igotchuu: {STALE_TITLE}")
    });
    assert_eq!(v.icon, WARNING_ICON, "{v:?}");
    assert_eq!(
        v.tooltip, "Last backup 10 days ago: 12 new and 3 changed files",
        "{v:?}"
    );
    let menu = block_on(session.menu_labels(&item));
    assert!(menu.iter().any(|l| l == STALE_TITLE), "{menu:?}");

    // Exactly one reminder, with "Back up now".
    wait_until(WAIT, "the staleness reminder", || {
        desktop.notifications_displayed() == 1
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(desktop.notifications_displayed(), 1, "one reminder");
    desktop.shoot_tray(&screenshots().join("stale-tray.png"), icon_colour::WARNING);
    let offered = desktop.choose_in_context_menu("Back up now");
    eprintln!("dunst's context menu offered:\n{offered}");
    assert!(offered.contains("Back up now"), "{offered}");
    wait_until(WAIT, "Back up now to reach the helper", || {
        helper.calls().0 == 1
    });
    tray.wait_for_log("notified: No backup for 10 days");
    let seen = desktop.close_and_read_notifications();
    assert_eq!(titles(&seen, STALE_TITLE), 1, "{seen:?}");
    let (_, body) = seen.iter().find(|(t, _)| t == STALE_TITLE).unwrap();
    assert_eq!(
        body,
        "The last backup finished 10 days ago; igotchuu warns after 7 days. Back up now, \
         or see the history for why scheduled backups did not run."
    );
    let kept = home.read_reminders().expect("the tray keeps its reminders");
    assert!(kept.contains("\"stale\""), "{kept}");

    // The backup it started fails: that is notified as ever.
    state.append(record(
        Operation::Backup,
        Outcome::Failed,
        0,
        "The repository is unreachable",
    ));
    helper.finish(Outcome::Failed, "The repository is unreachable", None);
    wait_until(WAIT, "the failed notification", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(seen[0].0, "Backup failed", "{seen:?}");
    helper.vanish();

    // The same day, a tray started again warns, but does not remind.
    drop(tray);
    wait_unregistered(&session, &item);
    let mut tray =
        Tray::start_remembering(&desktop, system.address(), state.path(), no_gui(), &home);
    let item = block_on(session.wait_registered(WAIT));
    block_on(
        session.wait_for(&item, WAIT, "the warning after a restart", |v| {
            v.tooltip_title == format!("igotchuu: {STALE_TITLE}")
        }),
    );
    // The failure's icon and line, and still the warning.
    let v = block_on(session.wait_for(&item, WAIT, "the failed icon", |v| {
        v.icon == "com.nyantec.IGotChuu-failed"
    }));
    assert!(
        v.tooltip
            .starts_with("Last backup failed just now: The repository is unreachable."),
        "{v:?}"
    );
    assert_eq!(v.tooltip_title, format!("igotchuu: {STALE_TITLE}"));
    std::thread::sleep(REMINDER_WINDOW);
    assert_eq!(
        desktop.notifications_displayed(),
        0,
        "no second reminder the same day: {}",
        tray.log()
    );
    let seen = desktop.close_and_read_notifications();
    assert_eq!(titles(&seen, STALE_TITLE), 1, "{seen:?}");
    assert!(!tray.log().contains("notified:"), "{}", tray.log());
    assert!(tray.running());
    let log = tray.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_backup_that_completes_withdraws_the_stale_reminder() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_backup_that_completes_withdraws_the_stale_reminder") {
        return;
    }
    let system = standin_bus();
    let _helper = Standin::start(&system, Initial::default());
    let desktop = Desktop::start(true);
    let state = StateDir::new(vec![saved_days_ago(10)]);
    write_settings(&state, 7, Retention::default());
    let home = UserState::new();
    let tray = Tray::start_remembering(&desktop, system.address(), state.path(), no_gui(), &home);
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));
    wait_until(WAIT, "the staleness reminder", || {
        desktop.notifications_displayed() == 1
    });
    tray.wait_for_log("notified: No backup for 10 days");

    // A backup completes (here: a scheduled one, heard only through the
    // history): the reminder that there is none goes away by itself.
    state.append(saved_days_ago(0));
    block_on(session.wait_for(&item, WAIT, "the warning to go", |v| {
        !v.tooltip_title.contains(STALE_TITLE)
    }));
    wait_until(WAIT, "the stale reminder to be withdrawn", || {
        desktop.notifications_displayed() == 0
    });
    tray.wait_for_log("withdrew the reminder");
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        titles(&seen, STALE_TITLE),
        1,
        "shown once, then withdrawn: {seen:?}"
    );
    assert!(!tray.log().contains("panicked"), "{}", tray.log());
}

#[test]
fn a_fresh_backup_warns_of_nothing_and_a_postponed_run_is_said_once() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_fresh_backup_warns_of_nothing_and_a_postponed_run_is_said_once")
    {
        return;
    }
    let system = standin_bus();
    let desktop = Desktop::start(true);
    let state = StateDir::new(vec![record(
        Operation::Backup,
        Outcome::Completed,
        3600,
        "",
    )]);
    write_settings(&state, 7, policy());
    let home = UserState::new();
    let tray = Tray::start_remembering(&desktop, system.address(), state.path(), no_gui(), &home);
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));
    let v = block_on(session.wait_for(&item, WAIT, "the fresh tooltip", |v| {
        v.tooltip == "Last backup 1 hour ago: 12 new and 3 changed files"
    }));
    assert_eq!(v.tooltip_title, "igotchuu", "{v:?}");
    assert_eq!(v.icon, "com.nyantec.IGotChuu-idle", "{v:?}");
    let menu = block_on(session.menu_labels(&item));
    assert!(!menu.iter().any(|l| l.starts_with("No backup")), "{menu:?}");
    std::thread::sleep(REMINDER_WINDOW);
    assert_eq!(desktop.notifications_displayed(), 0, "{}", tray.log());

    // A scheduled backup is held back: the tooltip says so, and one
    // notification does, however often the history changes that day.
    let mut postponed = record(
        Operation::Backup,
        Outcome::Postponed,
        60,
        "Postponed: the computer is on battery; it runs when it is plugged in",
    );
    postponed.conditions = vec![RunCondition::OnBattery];
    state.append(postponed.clone());
    let said = "Backup postponed: the computer is on battery; it runs when it is plugged in.";
    block_on(session.wait_for(&item, WAIT, "the postponed line", |v| {
        v.tooltip.ends_with(said) && v.tooltip_title == "igotchuu"
    }));
    wait_until(WAIT, "the postponed notification", || {
        desktop.notifications_displayed() == 1
    });
    postponed.finished_at += 30;
    state.append(postponed);
    std::thread::sleep(REMINDER_WINDOW);
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen,
        [(
            "Backup postponed".to_owned(),
            "The computer is on battery; it runs when it is plugged in.".to_owned()
        )]
    );
    let menu = block_on(session.menu_labels(&item));
    assert!(menu.iter().any(|l| l == said), "{menu:?}");
}

/// A screen for the window, tall enough for all of the idle page.
const SCREEN: (u32, u32) = (700, 1500);
const TALL: (u32, u32) = (640, 1440);

fn launch_window(screen: &Screen, bus: &str, state: &StateDir) -> Gui {
    Gui::launch(
        screen,
        &GuiOptions {
            system_bus: bus,
            state_dir: state.path(),
            size: Some(TALL),
            binary: gui_binary(),
        },
    )
}

fn screenshot(screen: &Screen, name: &str) {
    let x11 = screen.x11();
    // Off the window: a tooltip under the pointer would cover a row.
    x11.pointer_to(SCREEN.0 as i16 - 1, SCREEN.1 as i16 - 1);
    std::thread::sleep(Duration::from_millis(800));
    let windows = x11.windows_named(WINDOW_TITLE);
    assert_eq!(windows.len(), 1, "one window: {windows:?}");
    let path = screenshots().join(name);
    screen.screenshot(windows[0].area(), &path);
    eprintln!("saved {}", path.display());
}

#[test]
fn the_window_shows_staleness_the_last_check_and_the_policy() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("the_window_shows_staleness_the_last_check_and_the_policy") {
        return;
    }
    let system = standin_bus();
    let t = now();
    let _systemd = SystemdTimers::serve(
        system.address(),
        &[
            ("igotchuu.timer", t + 3 * 3600),
            ("igotchuu-prune.timer", t + 4 * DAY),
            ("igotchuu-check.timer", t + 20 * DAY),
        ],
    );

    // Stale: saved ten days ago, never checked, no policy.
    let state = StateDir::new(vec![
        saved_days_ago(10),
        record(
            Operation::Backup,
            Outcome::Failed,
            DAY,
            "The repository is unreachable",
        ),
    ]);
    write_settings(&state, 7, Retention::default());
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch_window(&screen, system.address(), &state);
    let shown = gui.wait_for("the staleness warning", |t| {
        t.has(STALE_TITLE) && t.contains("Next repository check")
    });
    assert!(
        shown.contains("The last backup finished 10 days ago; igotchuu warns after 7 days."),
        "{shown:?}"
    );
    assert!(
        shown.has("Keep everything (no retention policy)"),
        "{shown:?}"
    );
    assert!(shown.contains("10 days ago"), "{shown:?}");
    assert!(shown.has("Next removal of unused data"), "{shown:?}");
    assert!(
        !shown.has("No schedule"),
        "each timer has a time: {shown:?}"
    );
    screenshot(&screen, "stale-window.png");
    drop(gui);

    // Fresh, but the last check found damage; a policy is set.
    let damage = "restic check found errors in the repository: some data cannot be read \
                  back. Run \"igotchuu check\" as root to see which, then \"restic repair \
                  index\" and \"restic repair snapshots\"";
    state.write(vec![
        record(Operation::Check, Outcome::Completed, 30 * DAY, ""),
        record(Operation::Backup, Outcome::Completed, 2 * DAY, ""),
        record(Operation::Forget, Outcome::Completed, 2 * DAY - 60, ""),
        record(Operation::Check, Outcome::Failed, DAY, damage),
        record(Operation::Backup, Outcome::Completed, 3600, ""),
    ]);
    write_settings(&state, 7, policy());
    let mut gui = launch_window(&screen, system.address(), &state);
    let shown = gui.wait_for("the failed check and the policy", |t| {
        t.has("Keep the last 3, 7 daily, 4 weekly") && t.contains(damage)
    });
    assert!(!shown.has(STALE_TITLE), "{shown:?}");
    assert!(shown.has("The last repository check failed"), "{shown:?}");
    assert!(
        shown
            .items
            .iter()
            .any(|i| i.starts_with("Failed yesterday")),
        "{shown:?}"
    );
    assert!(shown.has("Repository check: Failed"), "{shown:?}");
    assert!(shown.has("Forget old snapshots: Completed"), "{shown:?}");
    screenshot(&screen, "check-failed-window.png");
    let log = gui.log();
    assert!(!log.contains("panicked"), "{log}");
}
