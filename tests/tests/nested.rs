//! Nested subvolumes inside a snapshot source (issue 9): only those whose
//! contents a backup silently misses are reported, once per folder, and a
//! Docker host's thousands of them cost one line and a few bytes of history.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use igotchuu_e2e::config::toml_path;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::{exit, Finished};
use igotchuu_e2e::{have_root, mounts, run};

/// Docker's btrfs storage driver on a busy host.
const DOCKER_SUBVOLUMES: usize = 1500;
/// What one run may add to the history, whatever the layout.
const RECORD_BOUND: usize = 4096;

/// The lines of the run's warnings about nested subvolumes.
fn nested_warnings(run: &Finished) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("nested subvolume"))
        .collect()
}

/// A Docker-like layer id: 64 hex digits.
fn layer_id(i: usize) -> String {
    let i = i as u128 + 1;
    format!(
        "{:032x}{:032x}",
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
        i.wrapping_mul(0xc2b2_ae3d_27d4_eb4f_1656_67b1_9e37_79f9)
    )
}

fn read_only_snapshot(source: &Path, dest: &Path) {
    run(Command::new("btrfs")
        .args(["-q", "subvolume", "snapshot", "-r"])
        .arg(source)
        .arg(dest));
}

#[test]
fn docker_storage_is_one_warning_line_and_a_small_record() {
    if !have_root("docker_storage_is_one_warning_line_and_a_small_record") {
        return;
    }
    let fx = Fixture::new(&["lib"]);
    fx.write_files(&BTreeMap::from([("lib/dpkg/status", "ok\n")]));
    let layers = fx.path("lib/docker/btrfs/subvolumes");
    std::fs::create_dir_all(&layers).unwrap();
    for i in 0..DOCKER_SUBVOLUMES {
        fx.fs
            .subvolume(&format!("lib/docker/btrfs/subvolumes/{}", layer_id(i)));
    }
    fx.env.write_spec(&fx.spec(&["lib"]));
    let mounts_before = mounts::ours();

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let warnings = nested_warnings(&run);
    let layers = layers.display().to_string();
    assert_eq!(warnings.len(), 1, "{}", run.output());
    assert!(
        warnings[0].contains(&format!("1,500 nested subvolumes below {layers} "))
            && warnings[0].contains("not backed up")
            && warnings[0].contains("ignore_nested"),
        "{}",
        warnings[0]
    );
    assert!(run.stderr.len() < 1024, "{}", run.output());

    let record = fx.env.history().runs.pop().expect("a history record");
    assert_eq!(record.nested_subvolumes, [format!("1,500 below {layers}")]);
    let size = serde_json::to_string(&record).unwrap().len();
    println!("history record: {size} bytes");
    assert!(size < RECORD_BOUND, "{size} bytes: {record:?}");

    // Nothing left: the only snapshot went, and so did its mount.
    let top: Vec<_> = std::fs::read_dir(fx.fs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["lib"]);
    assert_eq!(mounts::ours(), mounts_before);
}

#[test]
fn snapper_snapshots_are_not_reported() {
    if !have_root("snapper_snapshots_are_not_reported") {
        return;
    }
    // snapper's layout: `.snapshots` is a subvolume, with read-only
    // snapshots and snapper's notes on them inside.
    let fx = Fixture::new(&["home", "home/.snapshots"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    for n in ["1", "2"] {
        let dir = fx.path(&format!("home/.snapshots/{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("info.xml"), "<snapshot/>\n").unwrap();
        read_only_snapshot(&fx.path("home"), &dir.join("snapshot"));
    }
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    assert_eq!(nested_warnings(&run), [] as [&str; 0], "{}", run.output());
    let record = fx.env.history().runs.pop().expect("a history record");
    assert!(record.nested_subvolumes.is_empty(), "{record:?}");
    fx.assert_clean(&base, "the backup");
}

#[test]
fn subvolumes_restic_excludes_are_not_reported() {
    if !have_root("subvolumes_restic_excludes_are_not_reported") {
        return;
    }
    let fx = Fixture::new(&[
        "home",
        "home/cache",
        "home/vms",
        "home/scratch.tmp",
        "home/alice",
    ]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let exclude_file = fx.env.scratch().join("excludes");
    std::fs::write(
        &exclude_file,
        format!("# VMs\n{}\n", fx.path("home/VMS").display()),
    )
    .unwrap();
    let mut spec = fx.spec(&["home"]);
    spec.restic_backup_args = vec![
        "--one-file-system".into(),
        format!("--exclude={}", fx.path("home/cache").display()),
        "-e".into(),
        "*.tmp".into(),
        "--iexclude-file".into(),
        exclude_file.display().to_string(),
    ];
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    // Only the one that restic would read.
    let warnings = nested_warnings(&run);
    let alice = fx.path("home/alice").display().to_string();
    assert_eq!(warnings.len(), 1, "{}", run.output());
    assert!(warnings[0].contains(&format!("warning: {alice} is a nested subvolume")));
    let record = fx.env.history().runs.pop().expect("a history record");
    assert_eq!(record.nested_subvolumes, [alice]);
    fx.assert_clean(&base, "the backup");
}

#[test]
fn acknowledged_subvolumes_are_not_reported() {
    if !have_root("acknowledged_subvolumes_are_not_reported") {
        return;
    }
    let fx = Fixture::new(&["home", "home/vms", "home/docker"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    std::fs::create_dir(fx.path("home/docker/subvolumes")).unwrap();
    fx.fs.subvolume("home/docker/subvolumes/layer");
    let mut spec = fx.spec(&["home"]);
    // The folder above one, and one itself.
    spec.raw_top = vec![format!(
        "ignore_nested = [{}, {}]",
        toml_path(&fx.path("home/docker")),
        toml_path(&fx.path("home/vms"))
    )];
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    assert_eq!(nested_warnings(&run), [] as [&str; 0], "{}", run.output());
    let record = fx.env.history().runs.pop().expect("a history record");
    assert!(record.nested_subvolumes.is_empty(), "{record:?}");
    fx.assert_clean(&base, "the backup");
}

#[test]
fn an_uncovered_subvolume_is_named_with_the_remedy() {
    if !have_root("an_uncovered_subvolume_is_named_with_the_remedy") {
        return;
    }
    let fx = Fixture::new(&["home", "home/alice"]);
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "a\n"),
        ("home/alice/vms/disk.img", "not backed up\n"),
    ]));
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let alice = fx.path("home/alice").display().to_string();
    assert_eq!(
        nested_warnings(&run),
        [format!(
            "warning: {alice} is a nested subvolume of its own and is not backed up (a snapshot \
             holds an empty folder in its place); list it in `snapshot` and `places` to back it \
             up, or in `ignore_nested` to stop this warning"
        )],
        "{}",
        run.output()
    );
    let record = fx.env.history().runs.pop().expect("a history record");
    assert_eq!(record.nested_subvolumes, [alice]);
    // What the warning says is true.
    let listing = fx.repo.ls("latest");
    assert!(listing.find(&fx.path("home"), "a.txt").is_some());
    assert!(listing
        .find(&fx.path("home"), "alice/vms/disk.img")
        .is_none());
    fx.assert_clean(&base, "the backup");
}
