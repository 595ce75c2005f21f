//! `igotchuu backup` against a real btrfs and restic: what ends up in the
//! repository, that the snapshot is what gets backed up, and where
//! snapshots go.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::config::SnapshotEntry;
use igotchuu_e2e::fixture::{write_file, Fixture};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{have_root, mounts, snapshots, wait};

/// Asserts that every file of `files` (`<subvolume>/<rel>` → contents) is in
/// the latest snapshot, with its contents.
fn assert_backed_up(fx: &Fixture, files: &BTreeMap<&str, &str>) {
    let listing = fx.repo.ls("latest");
    for (path, text) in files {
        let (subvolume, rel) = path.split_once('/').expect("<subvolume>/<rel>");
        let node = listing
            .find(&fx.path(subvolume), rel)
            .unwrap_or_else(|| panic!("{path} is not in the backup: {:#?}", listing.nodes));
        assert_eq!(
            String::from_utf8_lossy(&fx.repo.dump("latest", &node.path)),
            *text,
            "contents of {path} in the backup"
        );
    }
}

fn sorted_strings(paths: &[&Path]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.sort();
    v
}

#[test]
fn backs_up_two_subvolumes_with_their_paths_and_contents() {
    if !have_root("backs_up_two_subvolumes_with_their_paths_and_contents") {
        return;
    }
    let fx = Fixture::new(&["home", "data"]);
    let files = BTreeMap::from([
        ("home/a.txt", "alpha\n"),
        ("home/docs/b.txt", "beta\n"),
        ("data/c.bin", "gamma"),
    ]);
    fx.write_files(&files);
    fx.env.write_spec(&fx.spec(&["home", "data"]));
    let base = fx.baseline();
    fx.wrapper.hold(true);

    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);

    // While restic runs: one read-only snapshot per source, next to it,
    // bind-mounted over it in the helper's namespace only.
    let during = snapshots::added(&base.subvolumes, &fx.fs.list_subvolumes());
    assert_eq!(during.len(), 2, "expected two snapshots, found {during:?}");
    let restic_mounts = inv.mountinfo();
    for source in ["home", "data"] {
        let snap = during
            .iter()
            .find(|s| snapshots::stamp_of(s, source).is_some())
            .unwrap_or_else(|| panic!("no snapshot <{source}>-<stamp> in {during:?}"));
        assert!(
            snapshots::is_read_only(&fx.path(snap)),
            "{snap} is writable"
        );
        let m = mounts::at(&restic_mounts, &fx.path(source))
            .unwrap_or_else(|| panic!("restic saw nothing mounted over {source}"));
        assert_eq!(m.root, format!("/{snap}"), "what covers {source}");
        assert_eq!(m.fs_type, "btrfs");
    }
    assert_eq!(
        mounts::ours(),
        base.mounts,
        "the helper's mounts leaked into the test's namespace"
    );

    inv.release();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    let restic_pid = inv.pid().expect("pid");
    assert!(
        !wait::pid_alive(restic_pid),
        "restic (pid {restic_pid}) outlived the helper"
    );
    fx.assert_clean(&base, "a successful backup");

    // The repository has the original paths, not the snapshots'.
    let snaps = fx.repo.snapshots();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let mut paths = snaps[0].paths.clone();
    paths.sort();
    assert_eq!(paths, sorted_strings(&[&fx.path("home"), &fx.path("data")]));
    let listing = fx.repo.ls("latest");
    assert_eq!(
        listing
            .files_under(&fx.path("home"))
            .keys()
            .collect::<Vec<_>>(),
        ["a.txt", "docs/b.txt"]
    );
    assert_eq!(
        listing
            .files_under(&fx.path("data"))
            .keys()
            .collect::<Vec<_>>(),
        ["c.bin"]
    );
    assert_backed_up(&fx, &files);

    let history = fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    let record = &history.runs[0];
    assert_eq!(record.outcome, Outcome::Completed);
    let summary = record.summary.as_ref().expect("a summary in the history");
    assert_eq!(summary.files_new, 3);
    assert!(
        !summary.snapshot_id.is_empty() && snaps[0].id.starts_with(&summary.snapshot_id),
        "summary names snapshot {:?}, the repository has {}",
        summary.snapshot_id,
        snaps[0].id
    );
}

#[test]
fn unchanged_second_backup_reports_every_file_unmodified() {
    if !have_root("unchanged_second_backup_reports_every_file_unmodified") {
        return;
    }
    let fx = Fixture::new(&["home", "data"]);
    let mut total = 0;
    for d in 0..4 {
        for f in 0..10 {
            for subvolume in ["home", "data"] {
                let text = format!("{subvolume} {d} {f}\n").repeat(f + 1);
                write_file(&fx.path(&format!("{subvolume}/d{d}/f{f}")), text.as_bytes());
                total += 1;
            }
        }
    }
    fx.env.write_spec(&fx.spec(&["home", "data"]));
    let base = fx.baseline();

    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "two backups");

    let history = fx.env.history();
    assert_eq!(history.runs.len(), 2, "{history:?}");
    let first = history.runs[0].summary.as_ref().expect("first summary");
    assert_eq!(first.files_new, total);
    let second = history.runs[1].summary.as_ref().expect("second summary");
    assert_eq!(
        (
            second.files_new,
            second.files_changed,
            second.files_unmodified
        ),
        (0, 0, total),
        "restic rescanned files that did not change: the snapshot must be \
         bind-mounted over the original path ({second:?})"
    );
    assert_eq!(second.total_files_processed, total);

    // restic chose the first backup as the parent of the second.
    let snaps = fx.repo.snapshots();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1].parent.as_deref(), Some(snaps[0].id.as_str()));
}

#[test]
fn a_file_written_while_restic_runs_is_not_in_the_backup() {
    if !have_root("a_file_written_while_restic_runs_is_not_in_the_backup") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "before the snapshot\n"),
        ("home/b.txt", "deleted after the snapshot\n"),
    ]));
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();
    fx.wrapper.hold(true);

    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    // The live subvolume changes after the snapshot, before restic reads it.
    write_file(&fx.path("home/late.txt"), b"written while restic ran\n");
    write_file(&fx.path("home/a.txt"), b"changed while restic ran\n");
    std::fs::remove_file(fx.path("home/b.txt")).unwrap();
    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the backup");

    let listing = fx.repo.ls("latest");
    assert!(
        listing.find(&fx.path("home"), "late.txt").is_none(),
        "a file created after the snapshot is in the backup"
    );
    assert_backed_up(
        &fx,
        &BTreeMap::from([
            ("home/a.txt", "before the snapshot\n"),
            ("home/b.txt", "deleted after the snapshot\n"),
        ]),
    );
    // The changes went to the live data, which the run left alone.
    assert_eq!(
        std::fs::read_to_string(fx.path("home/a.txt")).unwrap(),
        "changed while restic ran\n"
    );
    assert!(fx.path("home/late.txt").exists());
}

#[test]
fn exec_before_snapshot_prepares_where_snapshots_go() {
    if !have_root("exec_before_snapshot_prepares_where_snapshots_go") {
        return;
    }
    let fx = Fixture::new(&["home", "data", "snaps"]);
    // Snapshots live in the subvolume `snaps`, which only the helper's
    // namespace sees at `store`, mounted there by exec_before_snapshot.
    let store = fx.env.scratch().join("store");
    std::fs::create_dir(&store).unwrap();
    let prefix = store.join("prefixed");
    let home = fx.path("home");
    let data = fx.path("data");
    // snapshot_prefix + source: the source's parent must exist below the prefix.
    let prefixed_parent = format!("prefixed{}", home.parent().unwrap().display());
    std::fs::create_dir_all(fx.path("snaps").join(&prefixed_parent)).unwrap();
    fx.write_files(&BTreeMap::from([
        ("home/h.txt", "home\n"),
        ("data/d.txt", "data\n"),
    ]));

    let mut spec = fx.spec(&["home", "data"]);
    spec.exec_before_snapshot = Some(vec![
        "mount".into(),
        "--bind".into(),
        fx.path("snaps").display().to_string(),
        store.display().to_string(),
    ]);
    spec.snapshot_prefix = Some(prefix.clone());
    spec.snapshot = vec![
        SnapshotEntry::Table {
            source: home.clone(),
            location: None,
        },
        SnapshotEntry::Table {
            source: data.clone(),
            location: Some(store.join("data-snap")),
        },
    ];
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    // The wrapper lists the store as the helper's namespace sees it.
    let wrapper_dirs = vec![
        store.clone(),
        prefix.join(home.parent().unwrap().strip_prefix("/").unwrap()),
    ];
    fx.wrapper.list_dirs(&wrapper_dirs);
    fx.wrapper.hold(true);

    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);

    // Seen from the test: the snapshots are in `snaps`, none next to the sources.
    let during = snapshots::added(&base.subvolumes, &fx.fs.list_subvolumes());
    assert_eq!(during.len(), 2, "expected two snapshots, found {during:?}");
    let home_snap = during
        .iter()
        .find(|s| snapshots::stamp_of(s, &format!("snaps/{prefixed_parent}/home")).is_some())
        .unwrap_or_else(|| panic!("no snapshot of home below snapshot_prefix: {during:?}"));
    let data_snap = during
        .iter()
        .find(|s| snapshots::stamp_of(s, "snaps/data-snap").is_some())
        .unwrap_or_else(|| panic!("no snapshot of data at snapshot_location: {during:?}"));
    // Seen from the helper's namespace: the store is mounted, the snapshots are in it.
    let listing = inv.listing();
    let home_name = Path::new(home_snap).file_name().unwrap().to_str().unwrap();
    let data_name = Path::new(data_snap).file_name().unwrap().to_str().unwrap();
    assert!(
        listing[&wrapper_dirs[0]].iter().any(|e| e == data_name),
        "restic did not see {data_name} in {}: {listing:?}",
        store.display()
    );
    assert!(
        listing[&wrapper_dirs[1]].iter().any(|e| e == home_name),
        "restic did not see {home_name} below the prefix: {listing:?}"
    );
    let restic_mounts = inv.mountinfo();
    assert_eq!(
        mounts::at(&restic_mounts, &store).map(|m| m.root.as_str()),
        Some("/snaps"),
        "exec_before_snapshot's mount is not in restic's namespace"
    );
    assert_eq!(
        mounts::at(&restic_mounts, &home).map(|m| m.root.clone()),
        Some(format!("/{home_snap}"))
    );
    assert_eq!(
        mounts::at(&restic_mounts, &data).map(|m| m.root.clone()),
        Some(format!("/{data_snap}"))
    );
    // Nothing of it in the test's namespace.
    assert_eq!(mounts::ours(), base.mounts);
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);

    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the backup");
    assert_backed_up(
        &fx,
        &BTreeMap::from([("home/h.txt", "home\n"), ("data/d.txt", "data\n")]),
    );
}

#[test]
fn a_nested_subvolume_is_named_before_restic_starts() {
    if !have_root("a_nested_subvolume_is_named_before_restic_starts") {
        return;
    }
    let fx = Fixture::new(&["home", "home/inner"]);
    fx.write_files(&BTreeMap::from([
        ("home/outer.txt", "outer\n"),
        ("home/inner/hidden.txt", "in a nested subvolume\n"),
    ]));
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();
    fx.wrapper.hold(true);

    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    let inner = fx.path("home/inner").display().to_string();
    let early = run.stderr_so_far();
    assert!(
        early.lines().any(|l| l.contains("nested subvolume")
            && l.contains(&inner)
            && l.contains("not backed up")),
        "before restic started, stderr did not name the nested subvolume {inner}:\n{early}"
    );
    inv.release();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the backup");

    let listing = fx.repo.ls("latest");
    assert!(listing.find(&fx.path("home"), "outer.txt").is_some());
    assert!(
        listing.find(&fx.path("home"), "inner/hidden.txt").is_none(),
        "the helper said the nested subvolume is not backed up, but it is"
    );
    let history = fx.env.history();
    let record = history.last().expect("a history record");
    assert_eq!(record.nested_subvolumes, [inner]);
}

#[test]
fn a_profile_applies_its_settings() {
    if !have_root("a_profile_applies_its_settings") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let mut spec = fx.spec(&["home"]);
    spec.raw_tables = "[profiles.tagged]\nrestic_backup_args = [\"--tag=from-profile\"]".into();
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    fx.env
        .run(&["-p", "tagged", "backup"])
        .assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "two backups");

    let snaps = fx.repo.snapshots();
    assert_eq!(snaps.len(), 2);
    // Each backup has igotchuu's one tag of its profile (forget selects by
    // it), and the profile's own.
    assert_eq!(snaps[0].tags, ["igotchuu"]);
    let mut tags = snaps[1].tags.clone();
    tags.sort();
    assert_eq!(tags, ["from-profile", "igotchuu:tagged"]);
    let history = fx.env.history();
    assert_eq!(history.runs.len(), 2);
    assert_eq!(history.runs[0].profile, None);
    assert_eq!(history.runs[1].profile.as_deref(), Some("tagged"));
}

#[test]
fn the_log_ends_with_where_restic_got_to() {
    if !have_root("the_log_ends_with_where_restic_got_to") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    for i in 0..300 {
        write_file(&fx.path(&format!("home/f{i:03}.txt")), b"some text\n");
    }
    // Tiny files alone may all be saved before restic's first status;
    // 1 MiB written at 512 KiB/s takes it about 2 s.
    let mut data = vec![0u8; 1 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut data))
        .expect("read /dev/urandom");
    write_file(&fx.path("home/big.bin"), &data);
    let mut spec = fx.spec(&["home"]);
    spec.restic_args = vec!["--limit-upload".into(), "512".into()];
    fx.env.write_spec(&spec);
    fx.env.set_var("RESTIC_PROGRESS_FPS", "60");
    fx.wrapper.tee_stdout(true);

    // Not on a terminal (a journal): a progress line every few seconds.
    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    let status = fx.wrapper.invocations()[0]
        .restic_messages("status")
        .pop()
        .expect("restic printed a status");
    let files = format!(
        "{}/{} files",
        status["files_done"].as_u64().unwrap_or(0),
        status["total_files"].as_u64().unwrap_or(0)
    );
    // The last progress line comes before the snapshots go, and says
    // what restic said last, not what it said a few seconds earlier.
    let lines: Vec<&str> = done.stdout.lines().collect();
    let removing = lines
        .iter()
        .position(|l| l.starts_with("Removing snapshots"))
        .unwrap_or_else(|| panic!("{}", done.output()));
    let last_progress = lines[..removing]
        .iter()
        .rev()
        .find(|l| l.starts_with("progress:"))
        .unwrap_or_else(|| panic!("no progress line: {}", done.output()));
    assert!(
        last_progress.contains(&files),
        "the log's last progress is {last_progress:?}; restic's last status said {files}"
    );
}
