//! The translation path, end to end: `po/de.po` is complete and sound, and
//! the window, with the catalogue compiled from it, speaks German.
//!
//! The screenshot goes to `target/screenshots/window-de.png`. The window
//! test needs root (only root may own the helper's name under the
//! repository's bus policy), Xvfb, dbus-daemon, ImageMagick and gettext's
//! msgfmt; the catalogue tests need msgfmt and xgettext.

// Integration tests see all of the crate's dependencies and use few.
#![allow(unused_crate_dependencies)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use igotchuu_dbus::{Outcome, Phase};
use igotchuu_e2e::po::{extract, messages, potfiles};
use igotchuu_e2e::standin::{
    sample_progress, sample_record, sample_snapshots, standin_bus, unix_now, Initial, Reply,
    Standin, StateDir,
};
use igotchuu_e2e::window::{gui_binary, repo_root, Screen, PATIENCE, WINDOW_TITLE};

const SCREEN: (u32, u32) = (1000, 1100);
/// Tall enough for the safety, schedule and history groups.
const TALL: (u32, u32) = (640, 1060);
const PROBE_TEXTS: &str = "igotchuu-gui: texts ";

fn po_dir() -> PathBuf {
    repo_root().join("po")
}

/// The languages in `po/LINGUAS`.
fn languages() -> Vec<String> {
    std::fs::read_to_string(po_dir().join("LINGUAS"))
        .expect("po/LINGUAS")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The `{name}` placeholders of a message.
fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            let name = &rest[..close];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(name.to_owned());
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every translation keeps its message's placeholders: `fill()` replaces
/// them by name, and one lost or misspelt shows "{count}" to people.
#[test]
fn translations_keep_every_placeholder() {
    for lang in languages() {
        let po = po_dir().join(format!("{lang}.po"));
        for m in messages(&po) {
            let mut wanted = placeholders(&m.id);
            if let Some(p) = &m.plural {
                wanted.extend(placeholders(p));
            }
            for s in m.strs.iter().filter(|s| !s.is_empty()) {
                let got = placeholders(s);
                // A singular may say "one" instead of "{n}".
                let missing: Vec<_> = wanted.difference(&got).filter(|n| *n != "n").collect();
                let extra: Vec<_> = got.difference(&wanted).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "{lang}.po: {:?} → {s:?}: missing {missing:?}, unknown {extra:?}",
                    m.id
                );
            }
        }
    }
}

/// The catalogues hold every message the sources have, translated: what
/// xgettext finds in `po/POTFILES.in` (as `po/meson.build` runs it).
#[test]
fn catalogues_are_complete() {
    if !have("xgettext") || !have("msgfmt") {
        eprintln!(
            "*** SKIPPED catalogues_are_complete: no xgettext or msgfmt (Debian: gettext) ***"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pot = dir.path().join("igotchuu.pot");
    let sources = extract(&repo_root(), &potfiles(&po_dir()), &pot);
    assert!(
        sources.len() > 100,
        "xgettext found {} messages",
        sources.len()
    );
    for lang in languages() {
        let po = po_dir().join(format!("{lang}.po"));
        let status = Command::new("msgfmt")
            .args(["--check", "-o", "/dev/null"])
            .arg(&po)
            .status()
            .expect("run msgfmt");
        assert!(status.success(), "msgfmt --check {}", po.display());
        let translated = messages(&po);
        for m in &sources {
            let t = translated
                .iter()
                .find(|t| t.id == m.id && t.plural == m.plural)
                .unwrap_or_else(|| panic!("{lang}.po lacks {:?}", m.id));
            assert!(
                !t.fuzzy && !t.strs.is_empty() && t.strs.iter().all(|s| !s.is_empty()),
                "{lang}.po: {:?} is not translated",
                m.id
            );
        }
    }
}

/// Compiles `po/<lang>.po` into `<dir>/<lang>/LC_MESSAGES/igotchuu.mo`.
fn compile(lang: &str, dir: &Path) {
    let target = dir.join(lang).join("LC_MESSAGES");
    std::fs::create_dir_all(&target).expect("locale dir");
    let status = Command::new("msgfmt")
        .args(["--check", "-o"])
        .arg(target.join("igotchuu.mo"))
        .arg(po_dir().join(format!("{lang}.po")))
        .status()
        .expect("run msgfmt");
    assert!(status.success(), "msgfmt {lang}.po");
}

/// German dates ("Mo, 5. Feb") need the de_DE locale; the machine may not
/// have it generated, so it is built into `dir` (glibc's LOCPATH), when
/// its sources are there. Without it, messages are German all the same.
fn german_locale(dir: &Path) -> Option<PathBuf> {
    let locales = dir.join("locales");
    std::fs::create_dir_all(&locales).ok()?;
    let ok = Command::new("localedef")
        .args(["-i", "de_DE", "-f", "UTF-8"])
        .arg(locales.join("de_DE.UTF-8"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(locales)
}

/// One window at a time, as in the e2e tests.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The window on `screen`, following a stand-in helper on `bus`, with
/// `env` on top of the screen's; its probe's `texts` lines, as they come.
fn launch(
    screen: &Screen,
    bus: &igotchuu_e2e::sysbus::SystemBus,
    state: &StateDir,
    env: &[(&str, &std::ffi::OsStr)],
) -> (igotchuu_e2e::window::Guarded, Receiver<Vec<String>>) {
    let mut cmd = screen.command(gui_binary());
    cmd.env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env("IGOTCHUU_STATE_DIR", state.path())
        .env("IGOTCHUU_GUI_PROBE", "1")
        .env("IGOTCHUU_WINDOW_SIZE", format!("{}x{}", TALL.0, TALL.1))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut gui = igotchuu_e2e::window::Guarded::spawn("igotchuu-gui", &mut cmd);
    let out = gui.stdout().expect("the window's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Some(texts) = line.strip_prefix(PROBE_TEXTS) else {
                continue;
            };
            let items = texts.split('\t').skip(1).map(str::to_owned).collect();
            if tx.send(items).is_err() {
                break;
            }
        }
    });
    (gui, rx)
}

/// The first screenful of texts that `pred` accepts.
fn wait_for(
    rx: &Receiver<Vec<String>>,
    what: &str,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut last = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(items) if pred(&items) => return items,
            Ok(items) => last = items,
            Err(_) => panic!("the window did not show {what}; it showed {last:?}"),
        }
    }
}

#[test]
fn the_window_speaks_german() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !igotchuu_e2e::have_root("the_window_speaks_german") {
        return;
    }
    igotchuu_e2e::window::require_tool("msgfmt", "gettext");
    let dir = tempfile::tempdir().expect("temp dir");
    let localedir = dir.path().join("locale");
    compile("de", &localedir);

    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    let state = StateDir::new(vec![
        sample_record(3 * 86_400, Outcome::Failed, "Fatal: wrong password", 0),
        sample_record(2 * 3600, Outcome::CompletedWithWarnings, "", 3),
    ]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let locpath = german_locale(dir.path());
    let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![
        ("IGOTCHUU_LOCALEDIR", localedir.as_os_str()),
        ("LANGUAGE", "de".as_ref()),
    ];
    match &locpath {
        Some(locpath) => {
            env.push(("LOCPATH", locpath.as_os_str()));
            env.push(("LC_ALL", "de_DE.UTF-8".as_ref()));
        }
        // gettext honours LANGUAGE in any locale but "C".
        None => env.push(("LC_ALL", "C.UTF-8".as_ref())),
    }
    let (_gui, rx) = launch(&screen, &bus, &state, &env);

    let wanted = [
        "Sicherung mit Warnungen abgeschlossen",
        "Jetzt sichern",
        "Sicherheit",
        "Zeitplan",
        "Verlauf",
        "Kein Zeitplan",
    ];
    let texts = wait_for(&rx, "its German idle page", |items| {
        wanted.iter().all(|w| items.iter().any(|i| i == w))
    });
    for english in [
        "Back Up Now",
        "Safety",
        "Schedule",
        "History",
        "No schedule",
    ] {
        assert!(
            !texts.iter().any(|t| t == english),
            "{english:?} is not translated: {texts:?}"
        );
    }
    assert!(
        texts.iter().any(|t| t.contains("vor 2 Stunden")),
        "relative times are German: {texts:?}"
    );

    screenshot(&screen, "window-de.png");

    // The backups view, in German.
    standin.serve_snapshots(sample_snapshots(unix_now()), Reply::Accept);
    screen.activate_action("com.nyantec.IGotChuu", "show-view", Some("backups"));
    let backups = wait_for(&rx, "the German backups view", |items| {
        items
            .iter()
            .any(|i| i == "3 Sicherungen, die neueste zuerst")
            && items
                .iter()
                .any(|i| i.ends_with("Größe unbekannt · nicht auf diesem Rechner erstellt"))
    });
    for english in ["Browse Files", "Restore…", "Backups", "Status", "added"] {
        assert!(
            !backups.iter().any(|t| t.contains(english)),
            "{english:?} is not translated: {backups:?}"
        );
    }
    assert!(
        backups.iter().any(|t| t == "Dateien durchsuchen"),
        "{backups:?}"
    );
    screenshot_top(&screen, "window-de-backups.png", 760);
    screen.activate_action("com.nyantec.IGotChuu", "show-view", Some("status"));

    standin.begin(&["/home", "/srv"]);
    standin.set_phase(Phase::BackingUp);
    standin.progress(&sample_progress(0.42));
    let running = wait_for(&rx, "the running backup in German", |items| {
        items.iter().any(|i| i == "Sicherung läuft …")
            && items
                .iter()
                .any(|i| i == "Sicherung _stoppen …" || i == "Sicherung stoppen …")
            && items.iter().any(|i| i == "Wird gerade gelesen")
    });
    assert!(
        running
            .iter()
            .any(|i| i.ends_with("Dateien") && i.contains(" von ")),
        "files done of the total, in German: {running:?}"
    );
    screenshot(&screen, "window-de-backing-up.png");
}

/// Saves the window, once what the probe reported has been drawn.
fn screenshot(screen: &Screen, name: &str) {
    screenshot_top(screen, name, u32::MAX);
}

/// Saves the window's top `height` pixels at most.
fn screenshot_top(screen: &Screen, name: &str, height: u32) {
    std::thread::sleep(Duration::from_millis(300));
    let x11 = screen.x11();
    let window = x11
        .windows_named(WINDOW_TITLE)
        .into_iter()
        .next()
        .expect("the window");
    let shot = repo_root().join("target/screenshots").join(name);
    let (x, y, w, h) = window.area();
    screen.screenshot((x, y, w, h.min(height)), &shot);
    eprintln!("screenshot: {}", shot.display());
}

/// GNOME's clock-format says how times read: "Today at 2:05 PM" on a
/// 12-hour desktop.
#[test]
fn times_follow_the_desktops_clock_format() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !igotchuu_e2e::have_root("times_follow_the_desktops_clock_format") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    let keyfile = config.join("glib-2.0/settings/keyfile");
    std::fs::create_dir_all(keyfile.parent().unwrap()).expect("settings dir");
    std::fs::write(
        &keyfile,
        "[org/gnome/desktop/interface]\nclock-format='12h'\n",
    )
    .expect("write the settings");

    let bus = standin_bus();
    let standin = Standin::start(&bus, Initial::default());
    standin.serve_snapshots(sample_snapshots(unix_now()), Reply::Accept);
    let state = StateDir::new(vec![sample_record(600, Outcome::Completed, "", 0)]);
    let screen = Screen::start(SCREEN.0, SCREEN.1);
    let env: [(&str, &std::ffi::OsStr); 2] = [
        ("GSETTINGS_BACKEND", "keyfile".as_ref()),
        ("XDG_CONFIG_HOME", config.as_os_str()),
    ];
    let (_gui, rx) = launch(&screen, &bus, &state, &env);
    // The run started 790 s ago: yesterday in the first 13 minutes of a
    // day (UTC here).
    let twelve_hour = |t: &String| {
        t.split(", ").next().is_some_and(|when| {
            (when.starts_with("Today at ") || when.starts_with("Yesterday at "))
                && (when.ends_with(" AM") || when.ends_with(" PM"))
        })
    };
    let texts = wait_for(&rx, "a start time on a 12-hour clock", |items| {
        items.iter().any(twelve_hour)
    });
    eprintln!("{:?}", texts.iter().find(|t| twelve_hour(t)));

    // The backups too: when each was taken, and the run that made it.
    screen.activate_action("com.nyantec.IGotChuu", "show-view", Some("backups"));
    let backups = wait_for(&rx, "the backups on a 12-hour clock", |items| {
        items.iter().any(|t| t == "3 backups, newest first")
    });
    let newest = backups
        .iter()
        .find(|t| t.starts_with("Today at ") || t.starts_with("Yesterday at "))
        .unwrap_or_else(|| panic!("the newest backup's time: {backups:?}"));
    assert!(
        newest.ends_with(" AM") || newest.ends_with(" PM"),
        "{newest:?}"
    );
    let run = backups
        .iter()
        .find(|t| t.contains("backup of "))
        .unwrap_or_else(|| panic!("the run: {backups:?}"));
    assert!(run.contains(" AM, ") || run.contains(" PM, "), "{run:?}");
}
