//! The README's demo, `scripts/demo.sh`, run headless as the test suite
//! runs it (in a folder of its own, on this test's cargo build): it
//! installs with meson into its prefix, backs up twice through D-Bus
//! activation on its private bus, the second time incrementally, and
//! `--clean` then leaves no mount, loop device, process or file of it.
//! A demo that fails half-way (restic refuses to back up) removes all of
//! that by itself.

use std::sync::Mutex;

use igotchuu_dbus::history::{History, HISTORY_FILE_NAME};
use igotchuu_dbus::Outcome;
use igotchuu_e2e::demo::{Demo, CLEAN_LIMIT, DEMO_LIMIT};
use igotchuu_e2e::have_root;
use igotchuu_e2e::repo::ResticSnapshot;

/// The demos share the cargo build and the CPU: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The snapshot ids in `Completed: Backup completed: snapshot ID` lines.
fn completed_snapshots(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Completed: Backup completed: snapshot "))
        .map(str::to_owned)
        .collect()
}

fn assert_clean(demo: &Demo, after: &str) {
    let left = demo.leftovers();
    assert!(left.is_empty(), "after {after}, the demo left: {left:#?}");
}

#[test]
fn the_demo_backs_up_twice_through_the_bus_and_cleans_up_after_itself() {
    if !have_root("the_demo_backs_up_twice_through_the_bus_and_cleans_up_after_itself") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let demo = Demo::new();
    let ran = demo.run(&[], DEMO_LIMIT);
    ran.assert_code(0);

    // Two completed runs in the demo's history, made by the installed
    // helper that the bus activated, and printed by `igotchuu watch`.
    let printed = completed_snapshots(&ran.stdout);
    let history_file = demo.path(&format!("state/{HISTORY_FILE_NAME}"));
    let history = History::from_json(&std::fs::read(&history_file).unwrap()).unwrap();
    let runs = &history.runs;
    assert_eq!(runs.len(), 2, "{}", ran.output());
    for run in runs {
        assert_eq!(run.outcome, Outcome::Completed, "{run:?}");
    }
    let summaries: Vec<_> = runs
        .iter()
        .map(|r| r.summary.clone().expect("a summary"))
        .collect();
    let ids: Vec<_> = summaries.iter().map(|s| s.snapshot_id.clone()).collect();
    assert_eq!(printed, ids, "{}", ran.output());
    // The second is incremental: the one file written in between is new,
    // everything else is recognised unchanged.
    assert!(summaries[0].files_new > 100, "{:?}", summaries[0]);
    assert_eq!(summaries[1].files_new, 1, "{:?}", summaries[1]);
    assert_eq!(summaries[1].files_changed, 0);
    assert_eq!(summaries[1].files_unmodified, summaries[0].files_new);

    let bus_log = std::fs::read_to_string(demo.path("log/bus.log")).unwrap();
    assert_eq!(
        bus_log
            .matches("Successfully activated service 'com.nyantec.IGotChuu'")
            .count(),
        2,
        "{bus_log}"
    );
    // The bus ran the installed helper, with the demo's configuration.
    let prefix = demo.path("prefix");
    let installed = std::fs::read_to_string(
        prefix.join("share/dbus-1/system-services/com.nyantec.IGotChuu.service"),
    )
    .unwrap();
    let exec = format!("Exec={}/bin/igotchuu serve", prefix.display());
    assert!(installed.lines().any(|l| l == exec), "{installed}");
    let used =
        std::fs::read_to_string(demo.path("bus/services/com.nyantec.IGotChuu.service")).unwrap();
    let config = demo.path("igotchuu.toml");
    let exec = format!("{exec} -c {}", config.display());
    assert!(used.lines().any(|l| l == exec), "{used}");
    // And what the helper printed there names the demo's places.
    let places = format!("Backing up {}", demo.path("btrfs/home").display());
    assert!(bus_log.contains(&places), "{bus_log}");

    // The repository has exactly those two snapshots.
    let out = std::process::Command::new(prefix.join("bin/igotchuu"))
        .arg("-c")
        .arg(&config)
        .args(["restic", "--", "snapshots", "--json"])
        .output()
        .expect("igotchuu restic -- snapshots");
    assert!(out.status.success(), "{out:?}");
    let snapshots: Vec<ResticSnapshot> = serde_json::from_slice(&out.stdout).unwrap();
    let mut listed: Vec<_> = snapshots.iter().map(|s| s.short_id.clone()).collect();
    let mut want: Vec<_> = ids.iter().map(|id| id[..8].to_owned()).collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);

    // Running it again starts over and works as well.
    let again = demo.run(&[], DEMO_LIMIT);
    again.assert_code(0);
    assert_eq!(
        completed_snapshots(&again.stdout).len(),
        2,
        "{}",
        again.output()
    );
    let history = History::from_json(&std::fs::read(&history_file).unwrap()).unwrap();
    assert_eq!(history.runs.len(), 2, "a fresh demo, a fresh history");

    // The bus and polkitd stay up after the demo, for the person to try
    // things; --clean stops them and removes everything else.
    assert!(!demo.leftovers().is_empty());
    let cleaned = demo.run(&["--clean"], CLEAN_LIMIT);
    cleaned.assert_code(0);
    assert_clean(&demo, "scripts/demo.sh --clean");
    // And once more, with nothing left to do.
    demo.run(&["--clean"], CLEAN_LIMIT).assert_code(0);
}

#[test]
fn a_demo_that_fails_half_way_removes_what_it_made() {
    if !have_root("a_demo_that_fails_half_way_removes_what_it_made") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut demo = Demo::new();
    // A restic that refuses to back up, first in the PATH of the demo and
    // of the bus (so of the helper it activates): the failure comes when
    // the mount, the loop device, the bus and polkitd are all there.
    let bin = demo.scratch().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let restic = bin.join("restic");
    std::fs::write(
        &restic,
        "#!/bin/sh\n\
         case \" $* \" in *\" backup \"*) echo 'test: this restic does not back up' >&2; exit 1;; esac\n\
         exec /usr/bin/restic \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&restic, std::fs::Permissions::from_mode(0o755)).unwrap();
    demo.path_first(bin);

    let ran = demo.run(&[], DEMO_LIMIT);
    assert_ne!(ran.code(), 0, "{}", ran.output());
    assert!(
        ran.stdout.contains("FAILED:") && ran.stderr.contains("the backup did not complete"),
        "{}",
        ran.output()
    );
    assert!(
        ran.stderr.contains("demo: removing everything it made"),
        "{}",
        ran.output()
    );
    assert_clean(&demo, "a failed demo");
}
