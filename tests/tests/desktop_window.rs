//! The window (`igotchuu-gui`) on a test display, against a stand-in for
//! the helper on a private system bus and a history file in a temporary
//! state directory. It reads what the window shows from its probe lines
//! (the texts of the labels that are mapped, see the window's `probe.rs`),
//! types on it through XTest, and saves screenshots of each state to
//! `target/screenshots/window-*.png`.
//!
//! Build the window first: `cargo build --workspace --bins`.
//! Needs root (only root may own the helper's name under the repository's
//! bus policy), Xvfb, dbus-daemon and ImageMagick.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use igotchuu_dbus::{ItemError, Operation, Outcome, Phase, Progress};
use igotchuu_e2e::standin::{
    sample_progress, sample_record, sample_summary, standin_bus, unix_now, Initial, Reply, Standin,
    StateDir,
};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::window::{
    gui_binary, keys, repo_root, Gui, GuiOptions, Screen, Texts, PATIENCE, WINDOW_TITLE, X11,
};

/// One window at a time: four GTK apps at once on a small CI machine would
/// make every timing in here a coin toss.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A normal screen, with room for the window at its default size.
const SCREEN: (u32, u32) = (1000, 1100);
/// A tall window, so that a screenshot shows the history too.
const TALL: (u32, u32) = (640, 1060);
/// The narrowest the window supports.
const NARROW: (u32, u32) = (360, 760);
/// "Shows the progress at once": from the properties read on connect, not
/// from a later signal (the stand-in sends none) or a timer. The window's
/// slow paths take far longer: a property read times out after 10 s, the
/// clock ticks every 30 s. The margin is for software rendering on a busy
/// 2-core machine.
const LATE_JOIN_LIMIT_MS: f64 = 3000.0;
/// GLib and the window put a no-break space before "%".
const NBSP: char = '\u{a0}';

fn screenshots() -> PathBuf {
    repo_root().join("target/screenshots")
}

fn launch(screen: &Screen, bus: &SystemBus, state: &StateDir, size: Option<(u32, u32)>) -> Gui {
    Gui::launch(
        screen,
        &GuiOptions {
            system_bus: bus.address(),
            state_dir: state.path(),
            size,
            binary: gui_binary(),
        },
    )
}

/// The window's one X window.
fn main_window(x11: &X11) -> igotchuu_e2e::window::Toplevel {
    let windows = x11.windows_named(WINDOW_TITLE);
    assert_eq!(
        windows.len(),
        1,
        "one window titled {WINDOW_TITLE}: {windows:?}"
    );
    windows.into_iter().next().unwrap()
}

/// Saves a screenshot of the window, once what `t` shows has been drawn.
fn screenshot(screen: &Screen, x11: &X11, name: &str) {
    // The probe line comes from an idle callback after the frame that drew
    // it; one more frame interval is margin for the X server.
    std::thread::sleep(Duration::from_millis(300));
    let window = main_window(x11);
    screen.screenshot(window.area(), &screenshots().join(name));
}

/// Where the keyboard focus is: the position of the `focused` mark, and
/// the text after it.
fn focus_of(t: &Texts) -> Option<(usize, String)> {
    let at = t.items.iter().position(|i| i == "focused")?;
    Some((at, t.items.get(at + 1).cloned().unwrap_or_default()))
}

/// Presses Tab, and returns the first screenful after it on which the
/// focus has moved: a screenful that came late for an earlier key is
/// never taken for this one's.
fn tab(gui: &Gui, x11: &X11) -> Texts {
    let before = gui.texts();
    let was = before.last().and_then(focus_of);
    x11.chord(&[keys::TAB]);
    igotchuu_e2e::wait::until("the focus to move on Tab", PATIENCE, || {
        gui.texts()
            .into_iter()
            .skip(before.len())
            .find(|t| focus_of(t).is_some_and(|f| Some(f) != was))
    })
}

fn percent(n: u32) -> String {
    format!("{n}{NBSP}%")
}

fn running(places: &[&str], done: f64, errors: u64) -> Initial {
    Initial {
        phase: Some(Phase::BackingUp),
        progress: sample_progress(done),
        started_at: unix_now() - 95,
        places: places.iter().map(|s| s.to_string()).collect(),
        error_count: errors,
    }
}

#[test]
fn opened_mid_backup_it_shows_the_progress_at_once() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("opened_mid_backup_it_shows_the_progress_at_once") {
        return;
    }
    let bus = standin_bus();
    let _standin = Standin::start(&bus, running(&["/home", "/srv"], 0.42, 2));
    let state = StateDir::new(vec![sample_record(86_400, Outcome::Completed, "", 0)]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, Some(NARROW));

    let shown = gui.wait_for("the running backup at 42 %", |t| {
        t.has(&percent(42)) && t.progress() == Some(0.42)
    });
    let first_frame = gui.first_frame_ms().expect("a first-frame line");
    eprintln!(
        "first frame after {first_frame:.0} ms, the progress after {:.0} ms",
        shown.ms
    );
    assert!(
        shown.ms - first_frame < LATE_JOIN_LIMIT_MS,
        "the progress came {:.0} ms after the first frame",
        shown.ms - first_frame
    );
    // Never a stale outcome first: the window waits for the watcher.
    let before: Vec<Texts> = gui
        .texts()
        .into_iter()
        .filter(|t| t.ms < shown.ms)
        .collect();
    assert!(
        before.iter().all(|t| !t.contains("Back Up Now")),
        "the idle page flashed before the running backup: {before:?}"
    );
    // The phase, the numbers, the errors and the places, all from the
    // properties read on connect.
    assert!(shown.has("Backing Up…"), "{shown:?}");
    assert!(shown.has("/home and /srv"), "{shown:?}");
    assert!(shown.has("2384 of 5678 files"), "{shown:?}");
    assert!(shown.has("1.5\u{a0}GB of 3.5\u{a0}GB"), "{shown:?}");
    assert!(shown.has("about 4 min left"), "{shown:?}");
    assert!(
        shown.has("2 files or folders could not be read"),
        "{shown:?}"
    );
    assert!(
        shown.has("/home/alice/Pictures/2024/holiday/IMG_2041.jpg"),
        "{shown:?}"
    );
    assert!(shown.has("Stop Backup…"), "{shown:?}");
    // Too narrow for the view switcher in the header: the title says how
    // far the backup is, and the views switch at the bottom.
    let in_title = |t: &Texts| t.has(&format!("Backing up — 42{NBSP}%"));
    assert!(in_title(&shown), "{shown:?}");
    igotchuu_e2e::window::wait_until(Duration::from_secs(10), "the switcher bar", || {
        gui.texts().iter().any(|t| in_title(t) && t.has("Backups"))
    });

    let x11 = screen.x11();
    let window = main_window(&x11);
    assert_eq!(window.width, NARROW.0, "the window fits in 360 px");
    screenshot(&screen, &x11, "window-backing-up-narrow.png");
}

#[test]
fn follows_a_run_from_idle_through_backing_up_to_completed_and_failed() {
    let _serial = serial();
    if !igotchuu_e2e::have_root(
        "follows_a_run_from_idle_through_backing_up_to_completed_and_failed",
    ) {
        return;
    }
    let bus = standin_bus();
    let standin = Standin::start(
        &bus,
        Initial {
            places: vec!["/home".into(), "/srv".into()],
            ..Default::default()
        },
    );
    // Six hours from now, on a whole minute; the window shows it in UTC.
    let next = (unix_now() / 60 + 6 * 60) * 60;
    standin.serve_timer(next);
    let mut runs = vec![
        sample_record(3 * 86_400, Outcome::Completed, "", 0),
        sample_record(
            2 * 86_400,
            Outcome::Failed,
            "Fatal: unable to open the repository: it is locked by another process",
            0,
        ),
        sample_record(86_400 + 3_600, Outcome::Stopped, "", 0),
        sample_record(2 * 3_600, Outcome::CompletedWithWarnings, "", 3),
    ];
    let state = StateDir::new(runs.clone());
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, Some(TALL));
    let x11 = screen.x11();

    // Idle: the last run's outcome and when, its summary and errors, the
    // schedule from systemd, the runs before.
    let at = format!("{:02}:{:02}", next % 86_400 / 3_600, next % 3_600 / 60);
    let idle = gui.wait_for("the last run, the schedule and the history", |t| {
        t.has("Backup Completed with Warnings")
            && t.items.iter().any(|i| i.ends_with(&format!(" at {at}")))
    });
    assert!(idle.contains("Finished 2 hours ago."), "{idle:?}");
    assert!(idle.has("3 files or folders could not be read"), "{idle:?}");
    assert!(idle.has("12 new, 3 changed, 10234 unmodified"), "{idle:?}");
    for outcome in ["Completed", "Failed", "Stopped", "Completed with warnings"] {
        let title = format!("Backup: {outcome}");
        assert!(idle.has(&title), "history row {title}: {idle:?}");
    }
    assert!(idle.contains("it is locked by another process"), "{idle:?}");
    assert!(!idle.contains("insensitive Back Up Now"), "{idle:?}");
    screenshot(&screen, &x11, "window-idle.png");

    // By keyboard alone: Tab to the failed run in the history, Return to
    // open it; the list scrolls to it.
    let window = main_window(&x11);
    x11.focus(window.id);
    let failed_row_focused = |t: &Texts| {
        t.items
            .windows(2)
            .any(|w| w[0] == "focused" && w[1] == "Backup: Failed")
    };
    let mut focus = gui.texts().pop().expect("the idle page");
    let mut tabs = 0;
    while !failed_row_focused(&focus) {
        assert!(tabs < 40, "Tab never reached the failed run: {focus:?}");
        focus = tab(&gui, &x11);
        tabs += 1;
    }
    x11.chord(&[keys::RETURN]);
    let opened = gui.wait_for("the failed run's details", |t| t.has("Why it failed"));
    assert!(
        opened.has("Fatal: unable to open the repository: it is locked by another process"),
        "{opened:?}"
    );
    // Tab goes on into the details.
    for _ in 0..4 {
        x11.chord(&[keys::TAB]);
    }
    gui.wait_for("the focus in the details", |t| {
        t.items
            .windows(2)
            .any(|w| w[0] == "focused" && w[1] == "Places")
    });
    screenshot(&screen, &x11, "window-history.png");

    // "Back Up Now" by keyboard, from wherever the focus is: Alt+B.
    x11.chord(&[keys::ALT, keys::letter('b')]);
    gui.wait_for("the new run", |t| t.has("Preparing…"));
    assert_eq!(standin.calls(), (1, 0), "one Start call");

    // Backing up: the phase, the progress, errors as they come.
    standin.set_phase(Phase::BackingUp);
    standin.progress(&sample_progress(0.1));
    for name in ["thumbnails.db", "lock"] {
        standin.item_error(&ItemError {
            error: "open: permission denied".into(),
            during: "archival".into(),
            item: format!("/home/alice/.cache/{name}"),
        });
    }
    standin.progress(&sample_progress(0.63));
    let busy = gui.wait_for("63 % and two errors", |t| {
        t.progress() == Some(0.63) && t.has("2 files or folders could not be read")
    });
    assert!(busy.has("Backing Up…"), "{busy:?}");
    assert!(busy.has(&percent(63)), "{busy:?}");
    // Wide enough for the view switcher in the header, which takes the
    // title's place there (the narrow test sees the title's progress).
    assert!(busy.has("Status") && busy.has("Backups"), "{busy:?}");
    screenshot(&screen, &x11, "window-backing-up.png");

    // Completed with warnings: a snapshot, and the files it skipped.
    let started = standin.started_at();
    let summary = sample_summary("0a1b2c3d4e5f60718293");
    standin.finish(Outcome::CompletedWithWarnings, "", Some(&summary));
    let mut warned = sample_record(0, Outcome::CompletedWithWarnings, "", 2);
    warned.started_at = started;
    warned.summary = Some(summary);
    runs.push(warned);
    state.write(runs.clone());
    let warned = gui.wait_for("the run with warnings", |t| {
        t.has("Backup Completed with Warnings") && t.has("0a1b2c3d")
    });
    assert!(
        warned.has("2 files or folders could not be read"),
        "{warned:?}"
    );
    assert!(!warned.contains("insensitive Back Up Now"), "{warned:?}");

    // A scheduled run that completes: the full summary.
    standin.begin(&["/home", "/srv"]);
    standin.set_phase(Phase::BackingUp);
    standin.progress(&sample_progress(0.8));
    gui.wait_for("the scheduled run", |t| t.progress() == Some(0.8));
    let started = standin.started_at();
    let summary = sample_summary("5f3e2d1c0b0a99887766");
    standin.finish(Outcome::Completed, "", Some(&summary));
    let mut done = sample_record(0, Outcome::Completed, "", 0);
    done.started_at = started;
    done.summary = Some(summary);
    runs.push(done);
    state.write(runs.clone());
    let completed = gui.wait_for("the completed run's summary", |t| {
        t.has("Backup Completed") && t.has("5f3e2d1c")
    });
    assert!(completed.contains("Finished just now."), "{completed:?}");
    assert!(
        completed.contains(", took 3 minutes"),
        "the duration: {completed:?}"
    );
    for row in [
        "Files",
        "12 new, 3 changed, 10234 unmodified",
        "Folders",
        "1 new, 4 changed, 812 unmodified",
        "Data",
        "12.3\u{a0}MB added; 3.5\u{a0}GB in 10249 files processed",
        "Snapshot",
        "Places",
        "/home, /srv",
    ] {
        assert!(completed.has(row), "{row:?} in {completed:?}");
    }
    assert!(
        !completed.contains("could not be read"),
        "a clean run has no error list: {completed:?}"
    );
    assert!(
        completed
            .items
            .windows(2)
            .any(|w| w[0] == "focused" && w[1] == "Back Up Now"),
        "the focus is back on Back Up Now: {completed:?}"
    );
    screenshot(&screen, &x11, "window-completed.png");

    // Failed: the outcome and the reason, in words.
    standin.begin(&["/home", "/srv"]);
    standin.set_phase(Phase::BackingUp);
    standin.progress(&sample_progress(0.2));
    gui.wait_for("the second run", |t| t.progress() == Some(0.2));
    let reason =
        "Fatal: unable to open the repository at sftp:backup@nas:/srv/restic: connection refused";
    let started = standin.started_at();
    standin.finish(Outcome::Failed, reason, None);
    let mut failed = sample_record(0, Outcome::Failed, reason, 0);
    failed.started_at = started;
    runs.push(failed);
    state.write(runs);
    let failed = gui.wait_for("the failure and its reason", |t| {
        t.has("Backup Failed") && t.has("Why it failed") && t.has(reason)
    });
    assert!(failed.has("None: nothing was saved"), "{failed:?}");
    screenshot(&screen, &x11, "window-failed.png");
    assert!(gui.running());
}

/// A check (or prune) reports each of restic's steps in the Progress
/// property: the window shows the step's progress and the step itself.
#[test]
fn a_running_check_shows_restics_step_and_its_progress() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_running_check_shows_restics_step_and_its_progress") {
        return;
    }
    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    let state = StateDir::new(vec![sample_record(86_400, Outcome::Completed, "", 0)]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, None);
    gui.wait_for("the idle window", |t| t.has("Back Up Now"));

    standin.begin_operation(Operation::Check, &[]);
    let checking = gui.wait_for("the check without progress yet", |t| {
        t.has("Checking the Repository…")
    });
    assert!(checking.has("This can take a while…"), "{checking:?}");
    let step = "read 5.0% of data packs: 3 / 8 packs";
    standin.progress_property(&Progress {
        seconds_elapsed: 40,
        percent_done: 0.375,
        current_files: vec![step.into()],
        ..Progress::default()
    });
    let shown = gui.wait_for("the step and its progress", |t| {
        t.has(step) && t.progress() == Some(0.375)
    });
    assert!(shown.has("Stop Check…"), "{shown:?}");
    // A check counts no files or bytes of its own, and reads no files:
    // the step is said once, under the bar.
    assert!(!shown.contains(" of 0 files"), "{shown:?}");
    assert!(!shown.has("Now Reading"), "{shown:?}");
    assert_eq!(
        shown.items.iter().filter(|i| i.contains(step)).count(),
        1,
        "{shown:?}"
    );
    let x11 = screen.x11();
    screenshot(&screen, &x11, "window-checking.png");
    standin.finish_operation(Outcome::Completed, "The repository is intact");
}

#[test]
fn a_refused_stop_is_said_in_plain_words_and_the_window_stays() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_refused_stop_is_said_in_plain_words_and_the_window_stays") {
        return;
    }
    let bus = standin_bus();
    let standin = Standin::start(&bus, running(&["/home"], 0.5, 0));
    // As polkit saying no after the password dialog was dismissed; long
    // enough that the pending state is drawn however slow the machine.
    standin.set_replies(Reply::Accept, Reply::Deny, Duration::from_secs(10));
    let state = StateDir::new(vec![]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, None);
    let x11 = screen.x11();
    gui.wait_for("the running backup", |t| t.progress() == Some(0.5));

    // Alt+S on the window: "_Stop Backup…"; it asks first.
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::ALT, keys::letter('s')]);
    gui.wait_for("the confirmation", |t| {
        t.has("Stop the Backup?") && t.has("Cancel")
    });
    assert_eq!(
        standin.calls(),
        (0, 0),
        "nothing is stopped before confirming"
    );
    // Escape cancels: still no call.
    let dialog = x11.topmost().expect("the dialog is mapped");
    assert_ne!(dialog.name, WINDOW_TITLE, "the dialog is on top");
    x11.focus(dialog.id);
    x11.chord(&[keys::ESCAPE]);
    gui.wait_for("the dialog gone", |t| !t.has("Stop the Backup?"));
    assert_eq!(standin.calls(), (0, 0), "Cancel stops nothing");

    // Again, and confirm with the dialog's Alt+S.
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::ALT, keys::letter('s')]);
    gui.wait_for("the confirmation again", |t| t.has("Stop the Backup?"));
    x11.focus(x11.topmost().expect("the dialog").id);
    x11.chord(&[keys::ALT, keys::letter('s')]);
    // While polkit thinks, Stop cannot be pressed twice.
    gui.wait_for("Stop insensitive while the call is pending", |t| {
        !t.has("Stop the Backup?") && t.has("insensitive Stop Backup…")
    });
    let toast = gui.wait_for_event("toast", "You are not allowed");
    assert_eq!(toast, "You are not allowed to stop backups");
    let told = gui.wait_for("the refusal on screen", |t| {
        t.has("You are not allowed to stop backups")
    });
    assert!(
        !told.contains("insensitive Stop Backup…"),
        "Stop can be pressed again: {told:?}"
    );
    assert_eq!(standin.calls(), (0, 1), "one Stop call");
    screenshot(&screen, &x11, "window-stop-refused.png");
    std::thread::sleep(Duration::from_millis(500));
    assert!(gui.running(), "the window is still there:\n{}", gui.log());
    assert!(told.has("Backing Up…"), "still showing the run: {told:?}");

    // Allowed this time: the run stops, and says so.
    standin.set_replies(Reply::Accept, Reply::Accept, Duration::ZERO);
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::ALT, keys::letter('s')]);
    gui.wait_for("the confirmation, third time", |t| {
        t.has("Stop the Backup?")
    });
    x11.focus(x11.topmost().expect("the dialog").id);
    x11.chord(&[keys::ALT, keys::letter('s')]);
    let stopping = gui.wait_for("the run stopping", |t| t.has("Stopping…"));
    assert!(
        stopping.has("insensitive Stop Backup…"),
        "no second Stop while it stops: {stopping:?}"
    );
    assert_eq!(standin.calls(), (0, 2), "two Stop calls in all");
    standin.finish(Outcome::Stopped, "", None);
    let stopped = gui.wait_for("the stopped run", |t| t.has("Backup Stopped"));
    assert!(stopped.contains("Stopped on request"), "{stopped:?}");
    assert!(stopped.has("None: nothing was saved"), "{stopped:?}");
}

#[test]
fn a_second_launch_presents_the_first_window() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_second_launch_presents_the_first_window") {
        return;
    }
    let bus = standin_bus();
    let _standin = Standin::start(&bus, Initial::default());
    let state = StateDir::new(vec![sample_record(600, Outcome::Completed, "", 0)]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut first = launch(&screen, &bus, &state, Some(NARROW));
    first.wait_for("the idle page", |t| {
        t.has("Backup Completed") && t.has("No schedule")
    });
    let x11 = screen.x11();
    let window = main_window(&x11);
    assert_eq!(window.width, NARROW.0, "the window fits in 360 px");
    screenshot(&screen, &x11, "window-idle-narrow.png");

    let mut second = launch(&screen, &bus, &state, None);
    assert!(
        second.wait_exit(Duration::from_secs(20)),
        "the second launch hands over and exits; its log:\n{}",
        second.log()
    );
    assert!(
        second.events("first-frame").is_empty(),
        "the second launch drew no window"
    );
    let presented = "already running: presenting the window";
    igotchuu_e2e::desktop::wait_until(Duration::from_secs(10), presented, || {
        first.log().contains(presented)
    });
    assert!(first.running(), "the first one is still there");
    assert_eq!(
        main_window(&x11),
        window,
        "the same one window, where it was"
    );
}

#[test]
fn the_app_grid_entry_starts_the_window_under_its_app_id() {
    // GNOME matches windows to launchers by the desktop file's name, which
    // must be the application ID the window registers.
    let path = repo_root().join("data/com.nyantec.IGotChuu.desktop");
    let entry = std::fs::read_to_string(&path).expect("the desktop entry exists");
    let value = |key: &str| {
        entry
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in {}", path.display()))
            .to_owned()
    };
    assert_eq!(value("Type"), "Application");
    assert_eq!(value("Exec"), "igotchuu-gui");
    assert_eq!(value("Icon"), "com.nyantec.IGotChuu");
    assert!(
        !entry.contains("NoDisplay=true"),
        "the window is in the app grid"
    );
    let binary = gui_binary();
    assert_eq!(binary.file_name().unwrap(), value("Exec").as_str());
}

#[test]
fn with_no_helper_on_the_bus_back_up_now_says_why_it_cannot() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("with_no_helper_on_the_bus_back_up_now_says_why_it_cannot") {
        return;
    }
    // Between runs the helper is not on the bus; here nothing can start it
    // either: the bus has no activation file for it.
    let bus = standin_bus();
    let state = StateDir::new(vec![]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, None);
    let idle = gui.wait_for("the idle page", |t| t.has("No Backups Yet"));
    assert!(idle.has("No schedule"), "{idle:?}");
    assert!(idle.has("No backups yet"), "the empty history: {idle:?}");
    assert!(!idle.contains("Cannot reach the system bus"), "{idle:?}");

    let x11 = screen.x11();
    x11.focus(main_window(&x11).id);
    // The button has the focus: Return presses it.
    x11.chord(&[keys::RETURN]);
    let toast = gui.wait_for_event("toast", "not installed");
    assert_eq!(toast, "The igotchuu backup helper is not installed");
    let told = gui.wait_for("the reason on screen", |t| {
        t.has("The igotchuu backup helper is not installed")
    });
    assert!(
        !told.contains("insensitive Back Up Now"),
        "it can be tried again: {told:?}"
    );
    assert!(gui.running());
}
