//! The desktop over the whole real stack: the tray (`igotchuu-tray`) and
//! the window (`igotchuu-gui`) in a desktop session (Xvfb, a
//! StatusNotifierWatcher and tray host, dunst), following the real helper
//! on a private system bus with the real polkitd, while the helper backs up
//! a loop btrfs with the real restic. The numbers the desktop shows are
//! checked against what restic itself printed.
//!
//! Needs root (loop btrfs, the helper's bus name). Screenshots go to
//! `target/screenshots/stack-*.png`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use igotchuu_dbus::Outcome;
use igotchuu_desktop::format;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::desktop::{icon_colour, wait_unregistered, wait_until, Desktop, Tray};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::repo::write_private;
use igotchuu_e2e::screen::Screen;
use igotchuu_e2e::sni::{ItemView, Session};
use igotchuu_e2e::window::{gui_binary, Gui, GuiOptions, WINDOW_TITLE};
use igotchuu_e2e::{block_on, have_root, repo_root, wait};

/// Room for the tray bar along the top, the window below it, and dunst's
/// notifications at the top right.
const SCREEN: (u32, u32) = (1100, 900);
/// Where the window is put: below the bar, left of the notifications.
const WINDOW_AT: (i32, i32) = (0, 40);
/// The window's size in these screenshots.
const WINDOW_SIZE: (u32, u32) = (640, 760);
/// "Shows the progress at once": from the properties read on connect, not
/// from a later signal (restic is paused) or a timer. The window's slow
/// paths take far longer: a property read times out after 10 s, the clock
/// ticks every 30 s. The margin is for software rendering on a busy 2-core
/// machine.
const LATE_JOIN_LIMIT_MS: f64 = 3000.0;
const WAIT: Duration = Duration::from_secs(30);

/// One desktop at a time: two GTK apps, a tray host and restic at once on
/// a 2-core machine would make the first-frame timing a coin toss.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn screenshot_path(name: &str) -> PathBuf {
    repo_root().join(format!("target/screenshots/stack-{name}.png"))
}

/// What restic's own JSON said: its last status line before the pause.
fn restic_json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("restic printed {line:?}: {e}"))
}

fn u64_of(json: &serde_json::Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {json}"))
}

/// The desktop on a screen of its own, with a watcher and a tray host.
fn desktop() -> Desktop {
    Desktop::on(Screen::start(SCREEN.0, SCREEN.1), true)
}

/// The tray, registered with the watcher, as `user` (or root).
fn tray(
    desktop: &Desktop,
    w: &BusFixture,
    user: Option<&str>,
) -> (Tray, Session, (String, String)) {
    let tray = Tray::start_as(
        desktop,
        user,
        w.bus.address(),
        &w.fx.env.state_dir(),
        Path::new("/bin/true"),
    );
    let session = block_on(Session::connect(desktop.session_address()));
    let item = block_on(session.wait_registered(WAIT));
    (tray, session, item)
}

fn wait_item(
    session: &Session,
    item: &(String, String),
    what: &str,
    ok: impl Fn(&ItemView) -> bool,
) -> ItemView {
    block_on(session.wait_for(item, WAIT, what, ok))
}

/// Waits until dunst shows a notification.
fn wait_notification(desktop: &Desktop, what: &str) {
    wait_until(WAIT, what, || desktop.notifications_displayed() >= 1);
}

/// Closes the one notification dunst shows, and returns it.
fn take_notification(desktop: &Desktop, what: &str) -> (String, String) {
    assert_eq!(
        desktop.notifications_displayed(),
        1,
        "{what}: one notification, replacing any before it"
    );
    // Newest first.
    desktop.close_and_read_notifications().swap_remove(0)
}

/// The window on the desktop's screen, moved below the tray bar.
fn open_window(desktop: &Desktop, w: &BusFixture) -> Gui {
    Gui::launch(
        desktop.screen(),
        &GuiOptions {
            system_bus: w.bus.address(),
            state_dir: &w.fx.env.state_dir(),
            size: Some(WINDOW_SIZE),
            binary: gui_binary(),
        },
    )
}

/// Moves the window below the bar once it is mapped.
fn place_window(desktop: &Desktop) {
    let x11 = desktop.screen().x11();
    let mut id = None;
    wait_until(WAIT, "the window to be mapped", || {
        id = x11.windows_named(WINDOW_TITLE).first().map(|t| t.id);
        id.is_some()
    });
    x11.move_to(id.unwrap(), WINDOW_AT.0, WINDOW_AT.1);
}

/// A screenshot of the whole desktop (bar, window and notifications), in
/// which the tray shows the icon of colour `icon`.
fn shoot_desktop(desktop: &mut Desktop, name: &str, icon: [u8; 3]) {
    // The probe line comes from an idle callback after the frame that drew
    // it; a little more is margin for the X server and dunst.
    std::thread::sleep(Duration::from_millis(400));
    desktop.shoot_tray(&screenshot_path(name), icon);
}

#[test]
fn the_desktop_follows_a_real_backup_then_a_failed_one() {
    let _serial = serial();
    if !have_root("the_desktop_follows_a_real_backup_then_a_failed_one") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    // Long enough to be seen running: restic is stopped after its first
    // status with numbers in it, until the window has shown it.
    w.slow_backup(24, 4096);
    w.fx.env.set_var("RESTIC_PROGRESS_FPS", "20");
    w.fx.wrapper.tee_stdout(true);
    w.fx.wrapper.pause_on_status(true);
    let mut desktop = desktop();
    let (mut tray, session, item) = tray(&desktop, &w, None);
    // A fresh machine: no backup yet, which the tray warns of.
    let idle = wait_item(&session, &item, "the tray, with no backup yet", |v| {
        v.icon == "com.nyantec.IGotChuu-warning" && v.tooltip_title == "igotchuu: No backup yet"
    });
    assert_eq!(idle.title, "igotchuu", "{idle:?}");

    // The timer's way in: `igotchuu backup`.
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    let status = restic_json(&inv.wait_paused(wait::DEADLINE));
    let percent = format::percent(status["percent_done"].as_f64().expect("percent_done"));
    let home = w.fx.path("home").display().to_string();
    // restic is stopped: the last report the helper held back still reaches
    // the tray when its interval is over.
    let running = wait_item(&session, &item, "the tray to show restic's progress", |v| {
        v.icon == "com.nyantec.IGotChuu-backing-up"
            && v.tooltip
                .starts_with(&format!("Backing up {home} — {percent}"))
    });
    eprintln!("while backing up, the tray says: {running:?}");

    // The window, opened mid-backup, shows restic's numbers at once.
    let mut gui = open_window(&desktop, &w);
    let files = format!(
        "{} of {} files",
        u64_of(&status, "files_done"),
        u64_of(&status, "total_files")
    );
    let shown = gui.wait_for("restic's progress", |t| {
        t.has("Backing Up…") && t.has(&percent) && t.has(&files)
    });
    let first_frame = gui.first_frame_ms().expect("a first-frame line");
    eprintln!(
        "the window: first frame after {first_frame:.0} ms, the progress after {:.0} ms",
        shown.ms
    );
    assert!(
        shown.ms - first_frame < LATE_JOIN_LIMIT_MS,
        "the progress came {:.0} ms after the first frame",
        shown.ms - first_frame
    );
    place_window(&desktop);
    shoot_desktop(&mut desktop, "backing-up", icon_colour::BACKING_UP);

    // restic goes on and completes: the notification has its numbers.
    inv.resume();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    let summary = inv
        .restic_messages("summary")
        .pop()
        .expect("restic printed a summary");
    let files_new = u64_of(&summary, "files_new");
    assert!(files_new > 200, "restic saw the sample files: {summary}");
    wait_notification(&desktop, "the completed notification");
    let snapshot = w.fx.repo.snapshots();
    assert_eq!(snapshot.len(), 1, "one snapshot saved");
    let summary_page = gui.wait_for("the summary", |t| {
        t.has("Backup Completed") && t.has(&snapshot[0].short_id)
    });
    assert!(
        summary_page.has(&format!(
            "{files_new} new, {} changed, {} unmodified",
            u64_of(&summary, "files_changed"),
            u64_of(&summary, "files_unmodified")
        )),
        "{summary_page:?}"
    );
    let done = wait_item(&session, &item, "the tray after the run", |v| {
        v.icon == "com.nyantec.IGotChuu-idle" && v.tooltip.starts_with("Last backup just now")
    });
    eprintln!("after the run, the tray says: {done:?}");
    shoot_desktop(&mut desktop, "completed", icon_colour::IDLE);
    let (title, body) = take_notification(&desktop, "the completed run");
    assert_eq!(title, "Backup completed");
    let numbers = format!(
        "{files_new} new files, {} added.",
        format::size(u64_of(&summary, "data_added"))
    );
    assert!(
        body.starts_with(&numbers) && body.contains(" Took "),
        "the notification says {body:?}; restic's summary: {summary}"
    );

    // A wrong password: the run fails, and everyone says why.
    w.fx.wrapper.pause_on_status(false);
    let wrong = w.fx.env.scratch().join("wrong-password");
    write_private(&wrong, "not the password\n");
    let mut spec = w.fx.spec(&["home"]);
    spec.password_file = Some(wrong);
    w.fx.env.write_spec(&spec);
    w.fx.env.run(&["backup"]).assert_code(exit::FAILED);
    wait_notification(&desktop, "the failed notification");
    let failed = wait_item(&session, &item, "the tray after the failure", |v| {
        v.icon == "com.nyantec.IGotChuu-failed" && v.tooltip.starts_with("Last backup failed")
    });
    eprintln!("after the failure, the tray says: {failed:?}");
    gui.wait_for("the failure", |t| {
        t.has("Backup Failed") && t.contains("wrong password")
    });
    shoot_desktop(&mut desktop, "failed", icon_colour::FAILED);
    let (title, body) = take_notification(&desktop, "the failed run");
    assert_eq!(title, "Backup failed");
    assert!(
        body.contains("wrong password") && body.ends_with("No snapshot was saved."),
        "the notification says {body:?}"
    );

    assert_eq!(
        w.fx.repo.snapshots().len(),
        1,
        "the failed run saved nothing"
    );
    let history = w.fx.env.history();
    let outcomes: Vec<Outcome> = history.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Completed, Outcome::Failed]);
    assert!(tray.running(), "the tray is still there");
    assert!(gui.running(), "the window is still there");
    for (name, log) in [("tray", tray.log()), ("window", gui.log())] {
        assert!(!log.contains("panicked"), "the {name} panicked:\n{log}");
    }
}

#[test]
fn stop_from_the_tray_stops_the_run_and_a_refusal_is_said() {
    let _serial = serial();
    if !have_root("stop_from_the_tray_stops_the_run_and_a_refusal_is_said") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let base = w.fx.baseline();
    let mut desktop = desktop();

    // Someone without the right: polkit says no, and the backup goes on.
    let (session, nobodys) = {
        let (_tray, session, item) = tray(&desktop, &w, Some("nobody"));
        w.fx.wrapper.hold(true);
        let run = w.fx.env.spawn(&["backup"]);
        let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
        wait_item(&session, &item, "nobody's tray to show the run", |v| {
            v.icon == "com.nyantec.IGotChuu-backing-up"
        });
        block_on(session.click(&item, "Stop backup"));
        wait_notification(&desktop, "the refusal");
        shoot_desktop(&mut desktop, "stop-refused", icon_colour::BACKING_UP);
        let (title, body) = take_notification(&desktop, "the refused Stop");
        assert_eq!(title, "Stop backup did not work");
        assert_eq!(body, "You are not allowed to stop backups");
        assert!(inv.signal().is_none(), "restic was signalled");
        inv.release();
        run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
        wait_notification(&desktop, "the completed notification");
        desktop.close_and_read_notifications();
        (session, item)
    };
    // Ended with its guard: root's tray must not find nobody's item.
    wait_unregistered(&session, &nobodys);

    // Root may: restic gets SIGINT, the run ends "stopped", nothing is left.
    let (_tray, session, item) = tray(&desktop, &w, None);
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(2, wait::DEADLINE);
    wait_item(&session, &item, "root's tray to show the run", |v| {
        v.icon == "com.nyantec.IGotChuu-backing-up"
    });
    block_on(session.click(&item, "Stop backup"));
    run.wait(wait::DEADLINE).assert_code(exit::STOPPED);
    assert_eq!(inv.signal().as_deref(), Some("INT"), "restic gets SIGINT");
    wait_notification(&desktop, "the stopped notification");
    let (title, body) = take_notification(&desktop, "the stopped run");
    assert_eq!(title, "Backup stopped", "{body}");
    assert_eq!(body, "Stopped on request; no snapshot was saved.");
    assert_eq!(
        w.fx.repo.snapshots().len(),
        1,
        "only the first run saved one"
    );
    assert!(w.fx.repo.locks().is_empty(), "stale repository lock");
    w.fx.assert_clean(&base, "a run stopped from the tray");
}

#[test]
fn back_up_now_in_the_tray_activates_the_helper_and_it_backs_up() {
    let _serial = serial();
    if !have_root("back_up_now_in_the_tray_activates_the_helper_and_it_backs_up") {
        return;
    }
    let w = BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    });
    let base = w.fx.baseline();
    let mut desktop = desktop();
    let (tray, session, item) = tray(&desktop, &w, None);
    wait_item(&session, &item, "the tray, with no backup yet", |v| {
        v.icon == "com.nyantec.IGotChuu-warning" && v.tooltip_title == "igotchuu: No backup yet"
    });
    assert!(w.bus.activated().is_empty(), "no helper before Back up now");

    // "Back up now": Start on the well-known name; nobody owns it, so the
    // bus starts `igotchuu serve`, which asks polkit about the tray.
    block_on(session.click(&item, "Back up now"));
    wait_notification(&desktop, "the completed notification");
    shoot_desktop(&mut desktop, "back-up-now", icon_colour::IDLE);
    let (title, body) = take_notification(&desktop, "the run Back up now started");
    assert_eq!(title, "Backup completed", "{body}");
    assert!(body.starts_with("2 new files, "), "{body:?}");
    assert!(
        w.bus
            .log()
            .contains("Activating service name='com.nyantec.IGotChuu'"),
        "the bus did not activate the helper:\n{}",
        w.bus.log()
    );
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1, "{}", w.fx.env.history_text());
    assert_eq!(history.runs[0].outcome, Outcome::Completed);
    assert_eq!(w.fx.repo.snapshots().len(), 1);

    // The activated helper leaves once its run is done.
    wait_until(WAIT, "the activated helper to exit", || {
        w.bus.activated().is_empty()
    });
    w.fx.assert_clean(&base, "a run started from the tray");
    assert!(!tray.log().contains("did not work"), "{}", tray.log());
}

/// The pack files of the repository at `repo`, largest first.
fn packs_by_size(repo: &Path) -> Vec<(PathBuf, u64)> {
    let mut packs = Vec::new();
    for dir in std::fs::read_dir(repo.join("data")).expect("data/") {
        for pack in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let pack = pack.unwrap();
            packs.push((pack.path(), pack.metadata().unwrap().len()));
        }
    }
    packs.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    packs
}

#[test]
fn a_real_check_that_finds_damage_is_a_failure_the_tray_and_the_window_say() {
    let _serial = serial();
    if !have_root("a_real_check_that_finds_damage_is_a_failure_the_tray_and_the_window_say") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    igotchuu_e2e::fixture::write_file(
        &w.fx.path("home/big.bin"),
        &igotchuu_e2e::fixture::noise(2 << 20),
    );
    let mut spec = w.fx.spec(&["home"]);
    spec.raw_top = vec![
        "check_read_data_subset = \"100%\"".into(),
        "keep_last = 3".into(),
        "keep_daily = 7".into(),
    ];
    w.fx.env.write_spec(&spec);
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);

    // Bytes flipped in the middle of the largest pack: only reading the
    // data finds it.
    let (pack, size) = packs_by_size(&w.fx.repo.location())
        .into_iter()
        .next()
        .expect("a pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    let middle = (size / 2) as usize;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&pack, perms).unwrap();
    std::fs::write(&pack, &bytes).unwrap();

    let mut desktop = desktop();
    let (tray, session, item) = tray(&desktop, &w, None);
    wait_item(&session, &item, "the tray after the backup", |v| {
        v.icon == "com.nyantec.IGotChuu-idle" && v.tooltip_title == "igotchuu"
    });
    let mut gui = open_window(&desktop, &w);
    place_window(&desktop);
    gui.wait_for("the policy the helper published", |t| {
        t.has("Backup Completed") && t.has("Keep the last 3, 7 daily")
    });

    w.fx.env.run(&["check"]).assert_code(exit::FAILED);
    wait_notification(&desktop, "the failed check's notification");
    let shown = gui.wait_for("the failed check", |t| {
        t.has("The last repository check failed") && t.has("Repository check: Failed")
    });
    assert!(
        shown
            .items
            .iter()
            .any(|i| i.starts_with("Failed today at ")),
        "{shown:?}"
    );
    // The backup is still the last backup: the icon stays as it was.
    shoot_desktop(&mut desktop, "check-failed", icon_colour::IDLE);
    let (title, body) = take_notification(&desktop, "the failed check");
    assert_eq!(title, "Repository check failed", "{body}");
    let lower = body.to_lowercase();
    assert!(
        lower.contains("repair") || lower.contains("rebuild-index"),
        "the notification does not say what to do: {body:?}"
    );
    let record = w.fx.env.history().last().cloned().expect("a record");
    assert_eq!(record.operation, igotchuu_dbus::Operation::Check);
    assert!(
        shown.contains(record.reason.trim_end_matches('.')),
        "{shown:?}"
    );
    let log = tray.log();
    assert!(log.contains("notified: Repository check failed"), "{log}");
    assert!(
        !log.contains("notified: Backup"),
        "no backup was notified: {log}"
    );
}

/// The backups view against the real helper: it lists the real snapshot
/// (with the run of this machine's history that made it), and a restore
/// chosen in the window copies the files into the folder, as the real
/// helper's operation "restore", which the window follows to its end.
#[test]
fn the_window_lists_the_real_snapshots_and_restores_from_them() {
    let _serial = serial();
    if !have_root("the_window_lists_the_real_snapshots_and_restores_from_them") {
        return;
    }
    igotchuu_e2e::guarded::require_tool("fusermount3", "fuse3");
    let w = BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    });
    let home = w.fx.path("home");
    std::fs::write(home.join("notes.txt"), "the notes of then\n").unwrap();
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    let snapshot = w.fx.repo.snapshots()[0].id.clone();
    std::fs::write(home.join("notes.txt"), "changed since\n").unwrap();

    // The copy goes to the default folder: the home, here. The window runs
    // as root, whose copy goes only into a folder nobody else can change
    // (not below /tmp).
    let target = igotchuu_e2e::restoring::root_target();
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = Gui::launch_with(
        &screen,
        &GuiOptions {
            system_bus: w.bus.address(),
            state_dir: &w.fx.env.state_dir(),
            size: Some(WINDOW_SIZE),
            binary: gui_binary(),
        },
        &[("HOME", target.path().as_os_str())],
    );
    gui.wait_for("the idle page", |t| t.has("Backup Completed"));
    screen.activate_action("com.nyantec.IGotChuu", "show-view", Some("backups"));
    let list = gui.wait_for("the real snapshot", |t| t.has("1 backup, newest first"));
    let place = home.display().to_string();
    assert!(
        list.contains(&place) && list.contains(", completed"),
        "the snapshot's place and the run that made it: {list:?}"
    );

    screen.activate_action("com.nyantec.IGotChuu", "restore", Some(&snapshot));
    gui.wait_for("the restore dialog", |t| t.has("Copy into"));
    let x11 = screen.x11();
    x11.focus_dialog();
    x11.chord(&[
        igotchuu_e2e::window::keys::ALT,
        igotchuu_e2e::window::keys::letter('r'),
    ]);
    let toast = gui.wait_for_event("toast", "Files restored");
    assert_eq!(toast, "Files restored", "{}", w.fx.env.history_text());
    let copy = target.path().join("home/notes.txt");
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display())),
        "the notes of then\n"
    );
    let history = w.fx.env.history();
    let last = history.runs.last().expect("the restore's record");
    assert_eq!(last.operation, igotchuu_dbus::Operation::Restore);
    assert_eq!(last.outcome, Outcome::Completed);
    gui.wait_for("the restore in the history", |t| {
        t.has("Restore: Completed")
    });
}
