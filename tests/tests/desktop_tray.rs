//! The tray in a real desktop: Xvfb, a private session bus with a real
//! StatusNotifierWatcher, tray host and notification server (dunst), and a
//! private system bus on which a stand-in for the helper serves the
//! contract's properties and sends its signals (`desktop_stack.rs` runs
//! the real helper).
//!
//! Needs root (the stand-in owns the helper's name, which the bus policy
//! gives to root only). Screenshots go to `target/screenshots/tray-*.png`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::{ItemError, Outcome, Phase, Progress, Summary};
use igotchuu_e2e::block_on;
use igotchuu_e2e::desktop::{icon_colour, wait_until, Desktop, Tray};
use igotchuu_e2e::sni::{ItemView, Session};
use igotchuu_e2e::standin::{standin_bus, unix_now as now, Initial, Standin, StateDir};

const WAIT: Duration = Duration::from_secs(20);
/// Longer than the tray's longest wait between tries to reach the bus.
const RECONNECT: Duration = Duration::from_secs(40);
const HOUR: u64 = 3600;

/// A run that is on: backing up /home, `p` of the way.
fn running(started_at: u64, p: Progress) -> Initial {
    Initial {
        phase: Some(Phase::BackingUp),
        progress: p,
        started_at,
        places: vec!["/home".into()],
        error_count: 0,
    }
}

/// The helper between runs, e.g. after D-Bus activation.
fn idle() -> Initial {
    Initial::default()
}

fn unreadable() -> ItemError {
    ItemError {
        error: "permission denied".into(),
        during: "archival".into(),
        item: "/home/secret".into(),
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

fn completed_record(started_at: u64, finished_at: u64) -> RunRecord {
    RunRecord {
        places: vec!["/home".into()],
        summary: Some(summary()),
        ..RunRecord::new(
            igotchuu_dbus::Operation::Backup,
            Outcome::Completed,
            started_at,
            finished_at,
        )
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
    let mut system = standin_bus();
    let mut desktop = Desktop::start(true);
    let t0 = now();
    let state = StateDir::new(vec![completed_record(t0 - 2 * HOUR - 300, t0 - 2 * HOUR)]);
    let (gui, marker) = fake_gui(state.path());
    let mut tray = Tray::start(&desktop, system.address(), state.path(), &gui);
    let session = block_on(Session::connect(desktop.session_address()));

    // It registers with the watcher, and says how the last backup went.
    let item = block_on(session.wait_registered(WAIT));
    let view = || block_on(session.item(&item));
    let wait_view = |what: &str, ok: &dyn Fn(&ItemView) -> bool| {
        block_on(session.wait_for(&item, WAIT, what, ok));
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
    let helper = Standin::start(&system, running(t1, progress(0.42, 170)));
    wait_view("the tooltip of a run joined late", &|v| {
        v.tooltip == "Backing up /home — 42\u{a0}%, about 3 min left"
            && v.icon == "com.nyantec.IGotChuu-backing-up"
    });
    shoot(&mut desktop, "backing-up", icon_colour::BACKING_UP);
    helper.progress(&progress(0.9, 20));
    wait_view("the tooltip to follow progress", &|v| {
        v.tooltip == "Backing up /home — 90\u{a0}%, less than a minute left"
    });

    // "Stop backup" in the menu reaches the helper.
    block_on(session.click(&item, "Stop backup"));
    wait_until(WAIT, "Stop to reach the stand-in", || helper.calls().1 == 1);

    // The run completes: one notification with its numbers.
    helper.progress(&progress(1.0, 0));
    state.append(completed_record(t1, now()));
    helper.finish(Outcome::Completed, "", Some(&summary()));
    helper.vanish();
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
    let helper = Standin::start(&system, idle());
    helper.begin(&["/home"]);
    helper.set_phase(Phase::BackingUp);
    helper.item_errors(3, &unreadable());
    helper.finish(Outcome::CompletedWithWarnings, "", Some(&summary()));
    wait_until(WAIT, "the warnings notification", || {
        desktop.notifications_displayed() == 1
    });
    wait_view("the warning icon", &|v| {
        v.icon == "com.nyantec.IGotChuu-warning"
    });
    helper.begin(&["/home"]);
    helper.finish(Outcome::Failed, "Wrong repository password", None);
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
    helper.vanish();
    let t2 = now();
    let helper = Standin::start(&system, running(t2, progress(0.1, 600)));
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
    // The helper finished while the bus was away: the history says how.
    // (Written before the bus is back: a tray that reconnects at once must
    // find it, or it rightly calls the end unknown.)
    state.append(completed_record(t2, now()));
    system.restart();
    let helper = Standin::start(
        &system,
        Initial {
            phase: None,
            ..running(t2, progress(1.0, 0))
        },
    );
    // Its next try may be up to 30 s away (the backoff's cap, watch.rs).
    tray.wait_for_log_within("connected to the system bus again", RECONNECT);
    wait_until(WAIT, "the missed end to be notified", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(seen[0].0, "Backup completed", "{seen:?}");
    helper.vanish();
    assert!(tray.running(), "the tray survived all of it");

    // "Back up now" with no helper installed says so, in plain words.
    block_on(session.click(&item, "Back up now"));
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
    block_on(session.activate(&item));
    wait_until(WAIT, "a click to open the window", || opened(&marker) == 2);
    block_on(session.click(&item, "Quit"));
    assert!(tray.wait_exit(WAIT), "Quit ends the tray");
    let log = tray.log();
    assert!(!log.contains("panicked"), "{log}");
    desktop.stop_watcher();
}

#[test]
fn a_restore_is_notified_when_it_ends() {
    if !igotchuu_e2e::have_root("a_restore_is_notified_when_it_ends") {
        return;
    }
    let system = standin_bus();
    let desktop = Desktop::start(true);
    let state = StateDir::new(vec![]);
    let (gui, _) = fake_gui(state.path());
    let mut tray = Tray::start(&desktop, system.address(), state.path(), &gui);
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));

    let helper = Standin::start(&system, idle());
    helper.begin_operation(
        igotchuu_dbus::Operation::Restore,
        &["/home/alice/Documents"],
    );
    block_on(session.wait_for(
        &item,
        WAIT,
        "the restore in the tooltip",
        &|v: &ItemView| v.tooltip.starts_with("Restoring files…"),
    ));
    let menu = block_on(session.menu_labels(&item));
    assert!(menu.iter().any(|l| l == "Stop the restore"), "{menu:?}");
    helper.finish_operation(Outcome::Completed, "Files were restored");
    wait_until(WAIT, "the restore's notification", || {
        desktop.notifications_displayed() == 1
    });
    let seen = desktop.close_and_read_notifications();
    assert_eq!(
        seen,
        [(
            "Files restored".to_owned(),
            "Files were restored.".to_owned()
        )]
    );
    assert!(tray.running());
}

#[test]
fn without_a_watcher_it_still_notifies_and_registers_later() {
    if !igotchuu_e2e::have_root("without_a_watcher_it_still_notifies_and_registers_later") {
        return;
    }
    let system = standin_bus();
    let mut desktop = Desktop::start(false);
    let state = StateDir::new(vec![]);
    let (gui, _) = fake_gui(state.path());
    let tray = Tray::start(&desktop, system.address(), state.path(), &gui);
    tray.wait_for_log("no tray to show the icon in");
    let session = block_on(Session::connect(desktop.session_address()));

    let helper = Standin::start(&system, idle());
    helper.begin(&["/home"]);
    helper.finish(Outcome::Failed, "The repository is unreachable.", None);
    helper.vanish();
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
    let item = block_on(session.wait_registered(WAIT));
    let v = block_on(session.item(&item)).unwrap();
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
