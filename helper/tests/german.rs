//! The helper's terminal output in German (a backup, `watch`,
//! `check-config`, `forget` without a policy): `po/de.po` compiled into a
//! temporary folder that `IGOTCHUU_LOCALEDIR` points at, as the built
//! helper finds it; and English under the C locale, even with `LANGUAGE`
//! asking for German. Also: `de.po` translates every message that
//! xgettext finds in the helper's files of `po/POTFILES.in`.
//!
//! Needs gettext's msgfmt and xgettext (Debian: gettext) and glibc's
//! locale sources (Debian: locales) for de_DE; the backup needs root.

// Integration tests see all of the crate's dependencies and use few.
#![allow(unused_crate_dependencies)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use igotchuu_e2e::bounded::{Ended, Spawned};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::{exit, helper_bin};
use igotchuu_e2e::po::{extract, messages, potfiles};
use igotchuu_e2e::{have_root, in_ci, repo_root, wait};

/// The compiled German catalogue, and the de_DE locale built next to it.
struct German {
    dir: tempfile::TempDir,
    /// glibc's LOCPATH with de_DE.UTF-8, when its sources are installed.
    locales: Option<PathBuf>,
}

impl German {
    /// `None` (said loudly) without msgfmt; in CI that is a failure.
    fn compile(test: &str) -> Option<German> {
        if !have("msgfmt") {
            assert!(!in_ci(), "{test} needs msgfmt (Debian: gettext)");
            eprintln!("\n*** SKIPPED {test}: no msgfmt (Debian: gettext) ***\n");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        // Readable by the helper whoever it runs as.
        let messages = dir.path().join("de/LC_MESSAGES");
        std::fs::create_dir_all(&messages).unwrap();
        let status = Command::new("msgfmt")
            .args(["--check", "-o"])
            .arg(messages.join("igotchuu.mo"))
            .arg(po_dir().join("de.po"))
            .status()
            .expect("run msgfmt");
        assert!(status.success(), "msgfmt po/de.po");
        let locales = dir.path().join("locales");
        std::fs::create_dir_all(&locales).unwrap();
        let built = Command::new("localedef")
            .args(["-i", "de_DE", "-f", "UTF-8"])
            .arg(locales.join("de_DE.UTF-8"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        // Messages are German without it too (C.UTF-8 is not "C").
        assert!(
            built || !in_ci(),
            "localedef de_DE.UTF-8 failed (Debian: locales)"
        );
        Some(German {
            locales: built.then_some(locales),
            dir,
        })
    }

    /// What a German user's environment says, with this catalogue.
    fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("IGOTCHUU_LOCALEDIR", self.dir.path().display().to_string()),
            ("LANGUAGE", "de".to_owned()),
            ("LANG", "de_DE.UTF-8".to_owned()),
            ("LC_ALL", "C.UTF-8".to_owned()),
        ];
        if let Some(locales) = &self.locales {
            vars.push(("LOCPATH", locales.display().to_string()));
            vars.push(("LC_ALL", "de_DE.UTF-8".to_owned()));
        }
        vars
    }

    /// The C locale, where `LANGUAGE` does not count: English.
    fn c_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IGOTCHUU_LOCALEDIR", self.dir.path().display().to_string()),
            ("LANGUAGE", "de".to_owned()),
            ("LC_ALL", "C".to_owned()),
        ]
    }
}

fn po_dir() -> PathBuf {
    repo_root().join("po")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `igotchuu watch` without a system bus, with `vars`.
fn watch_without_bus(vars: &[(&str, String)]) -> Ended {
    let mut cmd = Command::new(helper_bin());
    cmd.arg("watch")
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/igotchuu-bus",
        )
        .envs(vars.iter().map(|(k, v)| (k, v)));
    let ended = Spawned::start("igotchuu watch", cmd).wait(wait::DEADLINE);
    ended.assert_code(exit::UNAVAILABLE);
    ended
}

#[test]
fn watch_says_in_german_that_there_is_no_bus_and_in_english_under_c() {
    // No root needed: nothing is started.
    let Some(german) = German::compile("watch_says_in_german_…") else {
        return;
    };
    let de = watch_without_bus(&german.vars());
    assert!(
        de.stderr
            .starts_with("igotchuu: der Systembus ist nicht erreichbar: "),
        "{}",
        de.output()
    );
    // The system's error text stays English (it also goes to the journal).
    assert!(
        de.stderr.contains("No such file or directory"),
        "{}",
        de.output()
    );
    let c = watch_without_bus(&german.c_vars());
    assert!(
        c.stderr
            .starts_with("igotchuu: cannot reach the system bus: "),
        "{}",
        c.output()
    );
}

/// `igotchuu ARGS` with `vars`; nothing that needs root or restic.
fn helper_with(args: &[&str], vars: &[(&str, String)]) -> Ended {
    let mut cmd = Command::new(helper_bin());
    cmd.args(args).envs(vars.iter().map(|(k, v)| (k, v)));
    Spawned::start(&format!("igotchuu {}", args.join(" ")), cmd).wait(wait::DEADLINE)
}

#[test]
fn check_config_and_forget_without_a_policy_speak_german_and_english_under_c() {
    // No root needed: the configuration is only read.
    let Some(german) = German::compile("check_config_and_forget_…") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("igotchuu.toml");
    std::fs::write(
        &file,
        "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let check = ["--config", config, "check-config"];
    let forget = ["--config", config, "forget", "--dry-run"];

    let de = helper_with(&check, &german.vars());
    de.assert_code(exit::COMPLETED);
    let lines: Vec<&str> = de.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("# {config} ist gültig. Wirksame Einstellungen:").as_str()),
        "{}",
        de.output()
    );
    // The comments are the reader's; the settings stay TOML.
    for line in [
        "# Kein keep_* ist gesetzt: nichts wird je vergessen, das Archiv behält jeden Schnappschuss.",
        "places = [\"/srv\"]",
        "run_on_battery = false",
    ] {
        assert!(lines.contains(&line), "no line {line:?}\n{}", de.output());
    }
    let de = helper_with(&forget, &german.vars());
    de.assert_code(exit::CONFIG);
    assert!(
        de.stderr.starts_with(&format!(
            "igotchuu: in {config} ist keine Aufbewahrungsregel gesetzt, also würde nichts vergessen."
        )),
        "{}",
        de.output()
    );

    let c = helper_with(&check, &german.c_vars());
    c.assert_code(exit::COMPLETED);
    assert!(
        c.stdout
            .starts_with(&format!("# {config} is valid. Effective settings:\n")),
        "{}",
        c.output()
    );
    assert!(
        c.stdout
            .lines()
            .any(|l| l.starts_with("# No keep_* is set")),
        "{}",
        c.output()
    );
    let c = helper_with(&forget, &german.c_vars());
    c.assert_code(exit::CONFIG);
    assert!(
        c.stderr.starts_with(&format!(
            "igotchuu: no retention policy is set in {config}, so nothing would be forgotten."
        )),
        "{}",
        c.output()
    );
}

#[test]
fn a_backup_reports_in_german_and_records_in_english() {
    if !have_root("a_backup_reports_in_german_and_records_in_english") {
        return;
    }
    let Some(german) = German::compile("a_backup_reports_in_german_…") else {
        return;
    };
    let fx = Fixture::new(&["home", "home/inner"]);
    fx.write_files(&BTreeMap::from([
        ("home/outer.txt", "outer\n"),
        ("home/inner/hidden.txt", "in a nested subvolume\n"),
    ]));
    fx.env.write_spec(&fx.spec(&["home"]));
    for (k, v) in german.vars() {
        fx.env.set_var(k, &v);
    }
    let base = fx.baseline();
    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the German backup");

    // The history and its reason stay English: programs read them.
    let history = fx.env.history();
    let record = history.last().expect("a history record");
    assert!(
        record.reason.starts_with("Backup completed"),
        "{}",
        record.reason
    );
    let summary = record.summary.as_ref().expect("restic's summary");
    let home = fx.path("home").display().to_string();
    let inner = fx.path("home/inner").display().to_string();
    for line in [
        format!("{home} wird gesichert"),
        "Schnappschüsse werden erstellt …".to_owned(),
        "Sicherung läuft …".to_owned(),
        "Schnappschüsse werden entfernt …".to_owned(),
        "Zusammenfassung:".to_owned(),
        row(
            "Dateien",
            &format!(
                "{} neu, {} geändert, {} unverändert",
                summary.files_new, summary.files_changed, summary.files_unmodified
            ),
        ),
        row("Schnappschuss", &summary.snapshot_id),
        format!("Abgeschlossen: {}", record.reason),
    ] {
        assert!(
            done.stdout.lines().any(|l| l == line),
            "no line {line:?}\n{}",
            done.output()
        );
    }
    assert!(
        done.stderr.lines().any(|l| l.starts_with(&format!(
            "Warnung: {inner} ist ein eigenes, verschachteltes Subvolume"
        ))),
        "{}",
        done.output()
    );

    // The C locale: English, the catalogue and LANGUAGE notwithstanding.
    for (k, v) in german.c_vars() {
        fx.env.set_var(k, &v);
    }
    let again = fx.env.run(&["backup"]);
    again.assert_code(exit::COMPLETED);
    for line in ["Summary:", "Backing up…"] {
        assert!(
            again.stdout.lines().any(|l| l == line),
            "no line {line:?}\n{}",
            again.output()
        );
    }
    assert!(
        again.stdout.lines().any(|l| l.starts_with("Completed: ")),
        "{}",
        again.output()
    );
}

/// A summary row as the helper pads it.
fn row(name: &str, value: &str) -> String {
    format!("  {name:<24}{value}")
}

/// Every message in the helper's files of `po/POTFILES.in`, as xgettext
/// reads them (with `po/meson.build`'s keywords), is translated in
/// `po/de.po`.
#[test]
fn the_german_catalogue_has_every_helper_message() {
    if !have("xgettext") || !have("msgfmt") {
        assert!(!in_ci(), "xgettext and msgfmt are needed (Debian: gettext)");
        eprintln!("\n*** SKIPPED: no xgettext or msgfmt (Debian: gettext) ***\n");
        return;
    }
    let files: Vec<String> = potfiles(&po_dir())
        .into_iter()
        .filter(|l| l.starts_with("helper/"))
        .collect();
    for needed in [
        "helper/src/output/terminal.rs",
        "helper/src/commands/watch.rs",
        "helper/src/commands/forget.rs",
        "helper/src/commands/restore.rs",
        "helper/src/config/display.rs",
    ] {
        assert!(files.iter().any(|f| f == needed), "{needed} in POTFILES.in");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pot = dir.path().join("helper.pot");
    let wanted = extract(&repo_root(), &files, &pot);
    assert!(
        wanted.len() > 40,
        "xgettext found {} messages",
        wanted.len()
    );
    let german = messages(&po_dir().join("de.po"));
    for m in &wanted {
        let t = german
            .iter()
            .find(|t| t.id == m.id && t.plural == m.plural)
            .unwrap_or_else(|| panic!("de.po lacks {:?} (plural {:?})", m.id, m.plural));
        assert!(
            !t.fuzzy && !t.strs.is_empty() && t.strs.iter().all(|s| !s.is_empty()),
            "de.po does not translate {:?}",
            m.id
        );
    }
}
