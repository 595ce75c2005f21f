//! The window's backups view on a test display, against a stand-in for the
//! helper (its canned snapshots, and a record of each call) on a private
//! system bus: the list, Browse Files with a stand-in `xdg-open`, a
//! restore into a folder and over the original, CloseBrowse when the
//! window closes, and a refusal in plain words. Screenshots go to
//! `target/screenshots/window-backups*.png`.
//!
//! Needs root (only root may own the helper's name under the repository's
//! bus policy), Xvfb, dbus-daemon and ImageMagick.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::standin::{
    sample_record, sample_snapshots, standin_bus, unix_now, Call, Initial, Reply, Standin, StateDir,
};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::window::{
    gui_binary, keys, repo_root, wait_until, FakeOpener, Gui, GuiOptions, Screen, Texts, Toplevel,
    PATIENCE, WINDOW_TITLE, X11,
};

const APP_ID: &str = "com.nyantec.IGotChuu";
/// Room for the window and a dialog over it.
const SCREEN: (u32, u32) = (1000, 1100);
/// The window's default size.
const WINDOW: (u32, u32) = (640, 760);
/// The narrowest the window supports.
const NARROW: (u32, u32) = (360, 760);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn screenshots() -> PathBuf {
    repo_root().join("target/screenshots")
}

fn main_window(x11: &X11) -> Toplevel {
    let windows = x11.windows_named(WINDOW_TITLE);
    assert_eq!(windows.len(), 1, "one window: {windows:?}");
    windows.into_iter().next().unwrap()
}

fn screenshot(screen: &Screen, x11: &X11, name: &str) {
    std::thread::sleep(Duration::from_millis(300));
    x11.pointer_to(0, 0);
    screen.screenshot(main_window(x11).area(), &screenshots().join(name));
}

/// Saves the topmost window (a dialog) over the window, centred on it as
/// a window manager would place it (Xvfb has none).
fn dialog_screenshot(screen: &Screen, x11: &X11, name: &str) {
    let window = main_window(x11);
    let dialog = x11.topmost().expect("the dialog");
    let x = window.x + (window.width as i32 - dialog.width as i32) / 2;
    let y = window.y + (window.height as i32 - dialog.height as i32) / 3;
    x11.move_to(dialog.id, x.max(0), y.max(0));
    screenshot(screen, x11, name);
}

/// The window with `home` as its home and `opener` as its `xdg-open`.
fn launch(
    screen: &Screen,
    bus: &SystemBus,
    state: &StateDir,
    home: &std::path::Path,
    opener: &FakeOpener,
) -> Gui {
    let path = opener.path_var();
    Gui::launch_with(
        screen,
        &GuiOptions {
            system_bus: bus.address(),
            state_dir: state.path(),
            size: Some(WINDOW),
            binary: gui_binary(),
        },
        &[("HOME", home.as_os_str()), ("PATH", &path)],
    )
}

/// Presses Alt+`key` on the dialog over the window; returns that dialog.
fn alt_on_top(x11: &X11, key: char) -> Toplevel {
    let dialog = x11.focus_dialog();
    x11.chord(&[keys::ALT, keys::letter(key)]);
    dialog
}

fn members(calls: &[Call]) -> Vec<&str> {
    calls.iter().map(|c| c.member.as_str()).collect()
}

/// Waits until the stand-in got a call of `member`, and returns it.
fn wait_call(standin: &Standin, member: &str) -> Call {
    let mut found = None;
    wait_until(Duration::from_secs(30), member, || {
        found = standin
            .backup_calls()
            .into_iter()
            .rev()
            .find(|c| c.member == member);
        found.is_some()
    });
    found.unwrap()
}

fn index_of(t: &Texts, part: &str) -> usize {
    t.items
        .iter()
        .position(|i| i.contains(part))
        .unwrap_or_else(|| panic!("{part:?} on screen: {:?}", t.items))
}

#[test]
fn the_backups_view_lists_browses_and_restores() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("the_backups_view_lists_browses_and_restores") {
        return;
    }
    let now = unix_now();
    let snapshots = sample_snapshots(now);
    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    standin.serve_snapshots(snapshots.clone(), Reply::Accept);
    let mount = tempfile::tempdir().expect("temp dir");
    standin.serve_browse(mount.path());
    let state = StateDir::new(vec![sample_record(3_600, Outcome::Completed, "", 0)]);
    let home = tempfile::tempdir().expect("temp dir");
    let opener = FakeOpener::new();
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, home.path(), &opener);
    gui.wait_for("the idle page", |t| t.has("Backup Completed"));
    assert!(
        standin.backup_calls().is_empty(),
        "opening the window asks for no snapshots (no password prompt on opening)"
    );

    // The backups view, which asks for the list once (by its action, as
    // the switcher does: no keyboard focus ring in the screenshot).
    let x11 = screen.x11();
    screen.activate_action(APP_ID, "show-view", Some("backups"));
    let list = gui.wait_for("the snapshot list", |t| {
        t.has("3 backups, newest first") && t.contains("not made on this computer")
    });
    assert_eq!(members(&standin.backup_calls()), ["Snapshots"]);
    assert!(list.has("Browse Files"), "{list:?}");
    assert!(!list.has("Close Browsing"), "not browsing yet: {list:?}");
    // Newest first, each with its host and places, size and run.
    let first = index_of(&list, "laptop · /home and /srv");
    // (The probe writes a label's lines as one.)
    let second = index_of(&list, "laptop · /home 1.5\u{a0}kB");
    let third = index_of(&list, "workstation · /home/alice/Documents");
    assert!(first < second && second < third, "newest first: {list:?}");
    let rows: Vec<&String> = list.items.iter().filter(|i| i.contains(" · ")).collect();
    assert!(
        rows[0].contains("12.3\u{a0}MB added · backup of ") && rows[0].ends_with(", completed"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("1.5\u{a0}kB added") && rows[1].ends_with("completed with files skipped"),
        "{rows:?}"
    );
    assert!(
        rows[2].contains("size unknown · not made on this computer"),
        "{rows:?}"
    );
    assert_eq!(list.items.iter().filter(|i| *i == "Restore…").count(), 3);
    screenshot(&screen, &x11, "window-backups.png");

    // Browse Files: Browse, then the folder to xdg-open (no portal here).
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::ALT, keys::letter('b')]);
    let browse = wait_call(&standin, "Browse");
    let folder = mount.path().display().to_string();
    wait_until(Duration::from_secs(30), "xdg-open of the mount", || {
        opener.opened() == [folder.clone()]
    });
    gui.wait_for("Close Browsing", |t| t.has("Close Browsing"));

    // Restore… on the newest: the dialog, then Alt+R restores the first
    // place into the default folder (the home: no Downloads folder here).
    screen.activate_action(APP_ID, "restore", Some(&snapshots[0].id));
    gui.wait_for_event("dialog", "Restore Files");
    gui.wait_for("the restore dialog", |t| {
        t.has("File or folder to restore") && t.has("Copy into")
    });
    dialog_screenshot(&screen, &x11, "window-restore-dialog.png");
    alt_on_top(&x11, 'r');
    let restore = wait_call(&standin, "Restore");
    assert_eq!(
        restore.args,
        [
            snapshots[0].id.clone(),
            "/home".to_owned(),
            home.path().display().to_string()
        ]
    );
    let restoring = gui.wait_for("the restore running", |t| t.has("Restoring Files…"));
    assert!(restoring.contains("/home"), "{restoring:?}");
    screenshot(&screen, &x11, "window-restoring.png");
    standin.finish_operation(Outcome::Completed, "Files were restored");
    assert_eq!(
        gui.wait_for_event("toast", "Files restored"),
        "Files restored"
    );
    gui.wait_for("the toast's Open Folder", |t| t.has("Open Folder"));
    screen.activate_action(APP_ID, "open-restored", None);
    let home_s = home.path().display().to_string();
    wait_until(Duration::from_secs(30), "xdg-open of the copy", || {
        opener.opened().last() == Some(&home_s)
    });

    // Over the original (root is an administrator): a second dialog names
    // the path and the snapshot's time; nothing happens before it.
    // The path is picked in the browsed backup, in the snapshot's folder
    // of restic's mount (ids/<short id>): Tab from the path to the folder
    // button, then type the folder's name in the chooser.
    let picked = mount.path().join("ids/b2b2b2b2/home/alice/documents");
    std::fs::create_dir_all(&picked).expect("mkdir");
    screen.activate_action(APP_ID, "restore", Some(&snapshots[1].id));
    gui.wait_for("the restore dialog again", |t| t.has("Copy into"));
    let picker = "Pick a Folder in the Backup";
    x11.focus_dialog();
    x11.chord(&[keys::TAB]);
    x11.chord(&[keys::TAB]);
    x11.chord(&[keys::RETURN]);
    wait_until(PATIENCE, "the folder chooser", || {
        !x11.windows_named(picker).is_empty()
    });
    let chooser = x11.focus_dialog();
    assert_eq!(chooser.name, picker, "the chooser is on top");
    // GTK's chooser writes no probe lines, but takes its keys in order:
    // Ctrl+L, the location (relative to the folder it opened in), and
    // Return, which picks it and closes the chooser. No key after that:
    // with the chooser gone it would reach another window.
    x11.chord(&[keys::CONTROL, keys::letter('l')]);
    x11.type_text("alice/documents/");
    x11.chord(&[keys::RETURN]);
    wait_until(PATIENCE, "the chooser to close", || {
        x11.windows_named(picker).is_empty()
    });
    gui.wait_for("the picked path", |t| t.has("/home/alice/documents"));
    let restore_dialog = alt_on_top(&x11, 'o');
    let confirm = gui.wait_for_event("dialog", "Overwrite the Original Files?");
    // The event comes before the dialog is drawn, and the restore dialog
    // may still be mapped then: its Alt+O would do nothing.
    gui.wait_for("the confirmation drawn", |t| {
        t.has("Overwrite the Original Files?")
    });
    wait_until(PATIENCE, "the confirmation on top", || {
        x11.topmost()
            .is_some_and(|t| t.id != restore_dialog.id && t.name != WINDOW_TITLE)
    });
    assert!(
        confirm.contains("/home/alice/documents is overwritten with its state of "),
        "{confirm}"
    );
    assert!(
        !members(&standin.backup_calls()).contains(&"RestoreInPlace"),
        "not before confirming"
    );
    alt_on_top(&x11, 'o');
    let in_place = wait_call(&standin, "RestoreInPlace");
    assert_eq!(
        in_place.args,
        [snapshots[1].id.clone(), "/home/alice/documents".to_owned()]
    );
    gui.wait_for("the in-place restore running", |t| {
        t.has("Restoring Files…")
    });
    standin.finish_operation(Outcome::Completed, "Files were restored");
    gui.wait_for("idle again", |t| !t.has("Restoring Files…"));

    // Closing the window ends the browsing, on Browse's connection.
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::CONTROL, keys::letter('w')]);
    let close = wait_call(&standin, "CloseBrowse");
    assert_eq!(
        close.sender, browse.sender,
        "CloseBrowse from the browsing connection"
    );
    assert!(
        gui.wait_exit(Duration::from_secs(20)),
        "the window exits after CloseBrowse; its log:\n{}",
        gui.log()
    );
    assert_eq!(
        members(&standin.backup_calls()),
        [
            "Snapshots",
            "Browse",
            "Restore",
            "Browse",
            "RestoreInPlace",
            "CloseBrowse"
        ]
    );
}

#[test]
fn a_refused_list_says_so_and_can_be_tried_again() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_refused_list_says_so_and_can_be_tried_again") {
        return;
    }
    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    standin.serve_snapshots(vec![], Reply::Deny);
    let state = StateDir::new(vec![]);
    let home = tempfile::tempdir().expect("temp dir");
    let opener = FakeOpener::new();
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = launch(&screen, &bus, &state, home.path(), &opener);
    gui.wait_for("the idle page", |t| t.has("No Backups Yet"));
    // Alt+2: the backups view, by keyboard.
    let x11 = screen.x11();
    x11.focus(main_window(&x11).id);
    x11.chord(&[keys::ALT, keys::letter('2')]);
    let refused = gui.wait_for("the refusal", |t| {
        t.has("You are not allowed to see the backups")
    });
    assert!(refused.has("Cannot Show the Backups"), "{refused:?}");
    assert!(refused.has("Try Again"), "{refused:?}");
    screenshot(&screen, &x11, "window-backups-refused.png");

    // Allowed now: Try Again lists them (an empty repository here).
    standin.serve_snapshots(vec![], Reply::Accept);
    screen.activate_action(APP_ID, "refresh-backups", None);
    gui.wait_for("the empty list", |t| t.has("No backups yet"));
    assert_eq!(members(&standin.backup_calls()), ["Snapshots", "Snapshots"]);
}

#[test]
fn a_finished_backup_brings_its_snapshot_into_a_narrow_list() {
    let _serial = serial();
    if !igotchuu_e2e::have_root("a_finished_backup_brings_its_snapshot_into_a_narrow_list") {
        return;
    }
    let now = unix_now();
    let snapshots = sample_snapshots(now);
    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    standin.serve_snapshots(snapshots[1..].to_vec(), Reply::Accept);
    let state = StateDir::new(vec![sample_record(3 * 86_400, Outcome::Completed, "", 0)]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let mut gui = Gui::launch(
        &screen,
        &GuiOptions {
            system_bus: bus.address(),
            state_dir: state.path(),
            size: Some(NARROW),
            binary: gui_binary(),
        },
    );
    gui.wait_for("the idle page", |t| t.has("Backup Completed"));
    screen.activate_action(APP_ID, "show-view", Some("backups"));
    gui.wait_for("the list of two", |t| t.has("2 backups, newest first"));

    // A backup runs and saves a snapshot: the list on screen is asked for
    // again, and has it.
    standin.serve_snapshots(snapshots.clone(), Reply::Accept);
    standin.begin(&["/home", "/srv"]);
    standin.finish(Outcome::Completed, "", None);
    let list = gui.wait_for("the list of three", |t| t.has("3 backups, newest first"));
    assert!(list.contains("12.3\u{a0}MB added"), "{list:?}");
    assert_eq!(members(&standin.backup_calls()), ["Snapshots", "Snapshots"]);
    let x11 = screen.x11();
    assert_eq!(main_window(&x11).width, NARROW.0, "it fits in 360 px");
    screenshot(&screen, &x11, "window-backups-narrow.png");
}
