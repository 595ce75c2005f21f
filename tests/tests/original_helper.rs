//! The desktop and `igotchuu watch` following the ORIGINAL (Python)
//! helper, which is still deployed: no properties, no `Phase`, no
//! `BackupFinished`, and a `BackupComplete` of thirteen arguments, without
//! `data_added` (DESIGN.md §3; `fixtures/original-helper-signals.txt`).
//!
//! The history file holds an older, unrelated failed run. Neither the
//! tray, its notification, the window nor `igotchuu watch` may take that
//! run for this one: a run with `BackupComplete` completed; a run that just
//! ends has an unknown outcome, and says so.
//!
//! Needs root (the stand-in owns the helper's name). Build the binaries
//! first: `cargo build --workspace --bins`. Screenshots go to
//! `target/screenshots/original-*.png`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::Outcome;
use igotchuu_e2e::bounded::Spawned;
use igotchuu_e2e::desktop::{icon_colour, wait_until, Desktop, Tray};
use igotchuu_e2e::helper::helper_bin;
use igotchuu_e2e::sni::{ItemView, Session};
use igotchuu_e2e::standin::{
    original_progress, original_summary, standin_bus, unix_now, OriginalStandin, StateDir,
};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::window::{gui_binary, repo_root, Gui, GuiOptions, Screen, WINDOW_TITLE};
use igotchuu_e2e::{block_on, have_root};

const WAIT: Duration = Duration::from_secs(20);
/// The older run's reason: it must appear nowhere for this run.
const OLD_REASON: &str = "Fatal: wrong password or no key found";
/// `igotchuu watch`: the run ended, but nobody can say how.
const EXIT_OUTCOME_UNKNOWN: i32 = 76;

fn screenshots() -> PathBuf {
    repo_root().join("target/screenshots")
}

/// A failed run that ended five minutes ago: not the run under test.
fn older_failed_run() -> RunRecord {
    let finished_at = unix_now() - 300;
    RunRecord {
        reason: OLD_REASON.into(),
        places: vec!["/home".into()],
        ..RunRecord::new(
            igotchuu_dbus::Operation::Backup,
            Outcome::Failed,
            finished_at - 20,
            finished_at,
        )
    }
}

/// `igotchuu watch` on `bus`, reading the history in `state`; it has said
/// that it waits for a backup.
fn watch(bus: &SystemBus, state: &StateDir) -> Spawned {
    let mut cmd = Command::new(helper_bin());
    cmd.arg("watch")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env("IGOTCHUU_STATE_DIR", state.path())
        .env("NO_COLOR", "1");
    let mut w = Spawned::start("igotchuu watch", cmd);
    w.wait_for_output("Waiting for a backup to start", WAIT);
    w
}

/// The original's run up to its last progress report.
fn run_until_last_progress(bus: &SystemBus) -> OriginalStandin {
    let helper = OriginalStandin::start(bus);
    helper.backup_started();
    for p in original_progress() {
        helper.progress(&p);
    }
    helper
}

/// The tray and dunst, idle, showing the older failed run.
fn tray_showing_the_older_run(
    bus: &SystemBus,
    state: &StateDir,
) -> (Desktop, Tray, Session, (String, String)) {
    let desktop = Desktop::start(true);
    let gui = PathBuf::from("/bin/true");
    let tray = Tray::start(&desktop, bus.address(), state.path(), &gui);
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));
    block_on(
        session.wait_for(&item, WAIT, "the older run's tooltip", |v| {
            v.tooltip.starts_with("Last backup failed 5 minutes ago")
        }),
    );
    (desktop, tray, session, item)
}

#[test]
fn an_original_run_with_its_summary_is_completed_everywhere() {
    if !have_root("an_original_run_with_its_summary_is_completed_everywhere") {
        return;
    }
    let bus = standin_bus();
    let state = StateDir::new(vec![older_failed_run()]);
    let (mut desktop, _tray, session, item) = tray_showing_the_older_run(&bus, &state);
    let watcher = watch(&bus, &state);

    let helper = run_until_last_progress(&bus);
    block_on(
        session.wait_for(&item, WAIT, "the tray to show the run", |v| {
            v.icon == "com.nyantec.IGotChuu-backing-up" && v.tooltip == "Backing up — 96\u{a0}%"
        }),
    );
    helper.backup_complete(&original_summary());
    helper.vanish();

    wait_until(WAIT, "one notification", || {
        desktop.notifications_displayed() == 1
    });
    let view = |what: &str, ok: &dyn Fn(&ItemView) -> bool| {
        block_on(session.wait_for(&item, WAIT, what, ok));
    };
    view("the tooltip of the completed run", &|v| {
        v.title == "igotchuu"
            && v.tooltip == "Last backup just now: 1500 new files"
            && v.icon == "com.nyantec.IGotChuu-idle"
    });
    desktop.shoot_tray(
        &screenshots().join("original-tray-completed.png"),
        icon_colour::IDLE,
    );
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen,
        [(
            "Backup completed".to_owned(),
            "1500 new files, added size unknown. Took 2 seconds.".to_owned()
        )],
        "the older run is not this one"
    );

    let ended = watcher.wait(WAIT);
    eprintln!("{}", ended.output());
    ended.assert_code(0);
    assert!(ended.stdout.contains("fede886f"), "{}", ended.output());
    assert!(
        ended.stdout.contains("Data added              unknown"),
        "no size nobody said: {}",
        ended.output()
    );
    assert!(ended.stdout.contains("1500 new, 0 changed, 0 unmodified"));
    assert!(!ended.output().contains(OLD_REASON), "{}", ended.output());
}

#[test]
fn an_original_run_that_just_ends_has_an_unknown_outcome() {
    if !have_root("an_original_run_that_just_ends_has_an_unknown_outcome") {
        return;
    }
    let bus = standin_bus();
    let state = StateDir::new(vec![older_failed_run()]);
    let (mut desktop, _tray, session, item) = tray_showing_the_older_run(&bus, &state);
    let watcher = watch(&bus, &state);

    let helper = run_until_last_progress(&bus);
    block_on(
        session.wait_for(&item, WAIT, "the tray to show the run", |v| {
            v.icon == "com.nyantec.IGotChuu-backing-up" && v.tooltip == "Backing up — 96\u{a0}%"
        }),
    );
    // No BackupComplete, no BackupFinished: it just leaves.
    helper.vanish();

    wait_until(WAIT, "one notification", || {
        desktop.notifications_displayed() == 1
    });
    block_on(
        session.wait_for(&item, WAIT, "the tooltip of the unknown end", |v| {
            v.title == "igotchuu"
                && v.tooltip == "Last backup ended just now; outcome unknown"
                && v.icon == "com.nyantec.IGotChuu-warning"
        }),
    );
    desktop.shoot_tray(
        &screenshots().join("original-tray-unknown.png"),
        icon_colour::WARNING,
    );
    let seen = desktop.close_and_read_notifications();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (title, body) = &seen[0];
    assert_eq!(title, "Backup ended, outcome unknown", "{seen:?}");
    assert!(!body.contains(OLD_REASON), "{seen:?}");
    assert!(
        body.contains("did not say how the backup ended"),
        "{seen:?}"
    );

    let ended = watcher.wait(WAIT);
    eprintln!("{}", ended.output());
    ended.assert_code(EXIT_OUTCOME_UNKNOWN);
    assert!(!ended.output().contains(OLD_REASON), "{}", ended.output());
    assert!(!ended.output().contains("FAILED"), "{}", ended.output());
}

#[test]
fn the_window_follows_the_original_helper() {
    if !have_root("the_window_follows_the_original_helper") {
        return;
    }
    let bus = standin_bus();
    let state = StateDir::new(vec![older_failed_run()]);
    let screen = Screen::start(1000, 1100);
    let mut gui = Gui::launch(
        &screen,
        &GuiOptions {
            system_bus: bus.address(),
            state_dir: state.path(),
            size: Some((640, 1060)),
            binary: gui_binary(),
        },
    );
    gui.wait_for("the older failed run", |t| t.has("Backup Failed"));

    // Progress is the only sign of a running backup: it is backing up.
    let helper = run_until_last_progress(&bus);
    let shown = gui.wait_for("the run at 97 %", |t| t.progress() == Some(0.967));
    assert!(shown.has("Backing Up…"), "{shown:?}");
    assert!(!shown.has("Preparing…"), "{shown:?}");
    shot(&screen, "original-window-backing-up.png");

    helper.backup_complete(&original_summary());
    helper.vanish();
    let shown = gui.wait_for("the completed run", |t| t.has("Backup Completed"));
    // The older failure is in the history list, as what it is: not as this run.
    assert!(
        shown.has("Finished just now. 1500 new files, added size unknown."),
        "{shown:?}"
    );
    assert!(!shown.has("Backup Failed"), "{shown:?}");
    assert!(
        shown.has("added size unknown; 225.2\u{a0}MB in 1500 files processed"),
        "{shown:?}"
    );
    shot(&screen, "original-window-completed.png");

    // A second run that just ends.
    let helper = run_until_last_progress(&bus);
    gui.wait_for("the second run", |t| t.has("Backing Up…"));
    helper.vanish();
    let shown = gui.wait_for("the unknown end", |t| t.has("Backup Outcome Unknown"));
    assert!(!shown.has("Backup Failed"), "{shown:?}");
    assert!(
        !shown.has("Why it failed") && shown.has("Why it is unknown"),
        "{shown:?}"
    );
    shot(&screen, "original-window-unknown.png");
}

/// Saves a screenshot of the window, once its probe line said it was drawn.
fn shot(screen: &Screen, name: &str) {
    std::thread::sleep(Duration::from_millis(300));
    let x11 = screen.x11();
    let windows = x11.windows_named(WINDOW_TITLE);
    let window = windows.first().expect("the window");
    screen.screenshot(window.area(), &screenshots().join(name));
}
