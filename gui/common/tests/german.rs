//! The tray's words in German: the catalogue compiled from `po/de.po`,
//! found through `IGOTCHUU_LOCALEDIR`, as `igotchuu-tray` finds it.
//! Needs gettext's msgfmt.

// Integration tests see all of the crate's dependencies and use few.
#![allow(unused_crate_dependencies)]

use std::path::Path;
use std::process::Command;

use igotchuu_dbus::{Operation, Outcome, Summary};
use igotchuu_desktop::{format, i18n, texts, Finished};

const NOW: u64 = 1_700_000_000;

fn finished(outcome: Outcome, errors: u64) -> Finished {
    Finished {
        operation: Operation::Backup,
        outcome: Some(outcome),
        reason: String::new(),
        summary: Some(Summary {
            files_new: 12,
            files_changed: 1,
            data_added: 1_234_567,
            total_duration: 185.0,
            ..Default::default()
        }),
        data_added_unknown: false,
        started_at: NOW - 400,
        finished_at: NOW - 2 * 3600,
        error_count: errors,
        places: vec!["/home".into()],
    }
}

#[test]
fn notifications_and_times_read_german() {
    let available = Command::new("msgfmt").arg("--version").output().is_ok();
    if !available {
        eprintln!("*** SKIPPED: no msgfmt (Debian: gettext) ***");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let messages = dir.path().join("de/LC_MESSAGES");
    std::fs::create_dir_all(&messages).unwrap();
    let po = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../po/de.po");
    let status = Command::new("msgfmt")
        .arg("-o")
        .arg(messages.join("igotchuu.mo"))
        .arg(&po)
        .status()
        .unwrap();
    assert!(status.success(), "msgfmt {}", po.display());

    // The only test in this binary: nothing else reads the environment.
    std::env::set_var(i18n::LOCALEDIR_ENV, dir.path());
    std::env::set_var("LANGUAGE", "de");
    std::env::set_var("LC_ALL", "C.UTF-8");
    // With the de_DE locale, for its decimal comma, built into the temp
    // folder (glibc's LOCPATH) when its sources are there; without it,
    // messages are German all the same.
    let locales = dir.path().join("locales");
    std::fs::create_dir_all(&locales).unwrap();
    let german = Command::new("localedef")
        .args(["-i", "de_DE", "-f", "UTF-8"])
        .arg(locales.join("de_DE.UTF-8"))
        .output()
        .is_ok_and(|o| o.status.success());
    if german {
        std::env::set_var("LOCPATH", &locales);
        std::env::set_var("LC_ALL", "de_DE.UTF-8");
    }
    i18n::init();
    let mb = if german { "1,2\u{a0}MB" } else { "1.2\u{a0}MB" };

    let n = texts::notification(&finished(Outcome::CompletedWithWarnings, 1));
    assert_eq!(n.title, "Sicherung mit Warnungen abgeschlossen");
    assert_eq!(
        n.body,
        format!(
            "1 Datei konnte nicht gelesen werden und wurde übersprungen. \
             12 neue und 1 geänderte Datei, {mb} hinzugefügt. Dauer: 3 Minuten."
        )
    );
    assert_eq!(format::ago(NOW - 3 * 86_400, NOW), "vor 3 Tagen");
    assert_eq!(format::duration(3600 + 60), "1 Stunde 1 Minute");
    assert_eq!(format::eta(2 * 3600 + 5 * 60), "noch etwa 2 h 5 min");
    let idle = igotchuu_desktop::DesktopState {
        bus_available: true,
        ..Default::default()
    };
    assert_eq!(
        texts::state_line(&idle, Some(&finished(Outcome::Completed, 0)), NOW),
        "Letzte Sicherung vor 2 Stunden: 12 neue und 1 geänderte Datei"
    );
    assert_eq!(texts::state_line(&idle, None, NOW), "Noch nie gesichert");
}
