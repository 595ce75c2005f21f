//! "Completed with warnings": restic saved a snapshot, but something it was
//! asked to back up is missing from it. The helper must say so, with its
//! own exit code, and list what was skipped; never report a clean success.

use std::collections::BTreeMap;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::config::SnapshotEntry;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::have_root;
use igotchuu_e2e::helper::exit;

#[test]
fn a_missing_place_makes_a_warning_with_a_saved_snapshot() {
    if !have_root("a_missing_place_makes_a_warning_with_a_saved_snapshot") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let base = fx.baseline();
    let missing = fx.path("gone");
    let mut spec = fx.spec(&["home"]);
    spec.places.push(missing.clone());
    spec.snapshot = vec![SnapshotEntry::Source(fx.path("home"))];
    fx.env.write_spec(&spec);

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED_WITH_WARNINGS);
    let missing = missing.display().to_string();
    assert!(run.stdout.contains("Completed with warnings"), "{run:?}");
    assert!(
        run.stdout.contains(&missing),
        "the skipped place is listed: {run:?}"
    );

    // The snapshot was saved, with what exists.
    let snapshots = fx.repo.snapshots();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let record = fx.env.history().runs.pop().expect("a history record");
    assert_eq!(record.outcome, Outcome::CompletedWithWarnings, "{record:?}");
    assert_eq!(record.error_count, 1, "{record:?}");
    assert_eq!(record.item_errors[0].item, missing);
    let summary = record.summary.expect("restic's summary");
    assert!(snapshots[0].id.starts_with(&summary.snapshot_id[..8]));
    fx.assert_clean(&base, "a run with warnings");
}
