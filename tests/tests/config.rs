//! Configurations the helper must refuse (exit 78, a message naming the
//! file and the key, nothing snapshotted, restic never started), and the
//! command line's own errors.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use igotchuu_e2e::config::{toml_array, SnapshotEntry};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::{exit, HelperEnv};
use igotchuu_e2e::wrapper::ResticWrapper;
use igotchuu_e2e::{have_root, mounts};

/// A fixture whose config (written by the caller) is valid except for one thing.
fn fixture() -> Fixture {
    Fixture::new(&["home"])
}

/// Runs `igotchuu -c CONFIG args…` and asserts a refusal that names the
/// config file and every one of `needles`.
fn assert_refused(fx: &Fixture, args: &[&str], needles: &[&str]) {
    let base = fx.baseline();
    let done = fx.env.run(args);
    done.assert_code(exit::CONFIG);
    let message = format!("{}{}", done.stderr, done.stdout);
    let file = fx.env.config_path().display().to_string();
    for needle in std::iter::once(file.as_str()).chain(needles.iter().copied()) {
        assert!(
            message.contains(needle),
            "the refusal does not name {needle:?}:\n{}",
            done.output()
        );
    }
    assert!(
        fx.wrapper.invocations().is_empty(),
        "restic ran for a refused config"
    );
    fx.assert_clean(&base, "a refused config");
}

#[test]
fn a_valid_config_passes_check_config() {
    if !have_root("a_valid_config_passes_check_config") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.raw_tables = "[profiles.other]\nrestic_backup_args = [\"--tag=x\"]".into();
    fx.env.write_spec(&spec);
    let base = fx.baseline();
    fx.env.run(&["check-config"]).assert_code(exit::COMPLETED);
    fx.env
        .run(&["-p", "other", "check-config"])
        .assert_code(exit::COMPLETED);
    assert!(fx.wrapper.invocations().is_empty());
    fx.assert_clean(&base, "check-config");
}

#[test]
fn refuses_an_unknown_key() {
    if !have_root("refuses_an_unknown_key") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.raw_top.push(format!(
        "placez = {}",
        toml_array(&[fx.path("home").to_str().unwrap()])
    ));
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["placez"]);
}

#[test]
fn refuses_an_unknown_key_in_a_profile() {
    if !have_root("refuses_an_unknown_key_in_a_profile") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.raw_tables = "[profiles.p]\nrestic_backup_argz = [\"-x\"]".into();
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["-p", "p", "backup"], &["restic_backup_argz"]);
}

#[test]
fn refuses_a_relative_place() {
    if !have_root("refuses_a_relative_place") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.places.push(PathBuf::from("relative/home"));
    // The snapshot list stays valid: only `places` is wrong.
    spec.snapshot = vec![SnapshotEntry::Source(fx.path("home"))];
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["places", "relative/home"]);
}

#[test]
fn refuses_a_relative_snapshot_location() {
    if !have_root("refuses_a_relative_snapshot_location") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.snapshot = vec![SnapshotEntry::Table {
        source: fx.path("home"),
        location: Some(PathBuf::from("snaps/home")),
    }];
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["snapshot_location", "snaps/home"]);
}

#[test]
fn refuses_a_snapshot_source_that_is_not_a_subvolume() {
    if !have_root("refuses_a_snapshot_source_that_is_not_a_subvolume") {
        return;
    }
    let fx = fixture();
    let plain = fx.path("home/plain");
    std::fs::create_dir(&plain).unwrap();
    let mut spec = fx.spec(&["home"]);
    spec.snapshot = vec![
        SnapshotEntry::Source(fx.path("home")),
        SnapshotEntry::Source(plain.clone()),
    ];
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &[plain.to_str().unwrap(), "subvolume"]);
}

#[test]
fn refuses_both_repo_and_repository_file() {
    if !have_root("refuses_both_repo_and_repository_file") {
        return;
    }
    let fx = fixture();
    let repo_file = fx.env.scratch().join("repository");
    std::fs::write(&repo_file, fx.repo.location().to_str().unwrap()).unwrap();
    let mut spec = fx.spec(&["home"]);
    spec.repository_file = Some(repo_file);
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["repository_file"]);
}

#[test]
fn refuses_neither_repo_nor_repository_file() {
    if !have_root("refuses_neither_repo_nor_repository_file") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.repo = None;
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["repo"]);
}

#[test]
fn refuses_both_password_settings() {
    if !have_root("refuses_both_password_settings") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.password_command = Some(format!("cat {}", fx.repo.password_file().display()));
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["backup"], &["password_file", "password_command"]);
}

#[test]
fn refuses_an_unknown_profile() {
    if !have_root("refuses_an_unknown_profile") {
        return;
    }
    let fx = fixture();
    let mut spec = fx.spec(&["home"]);
    spec.raw_tables = "[profiles.known]\nrestic_backup_args = [\"--tag=x\"]".into();
    fx.env.write_spec(&spec);
    assert_refused(&fx, &["-p", "nosuchprofile", "backup"], &["nosuchprofile"]);
}

#[test]
fn refuses_a_group_or_other_writable_file() {
    if !have_root("refuses_a_group_or_other_writable_file") {
        return;
    }
    let fx = fixture();
    fx.env.write_spec(&fx.spec(&["home"]));
    for mode in [0o620, 0o602] {
        std::fs::set_permissions(fx.env.config_path(), std::fs::Permissions::from_mode(mode))
            .unwrap();
        assert_refused(&fx, &["backup"], &[]);
    }
}

#[test]
fn refuses_a_file_not_owned_by_root() {
    if !have_root("refuses_a_file_not_owned_by_root") {
        return;
    }
    let fx = fixture();
    fx.env.write_spec(&fx.spec(&["home"]));
    let nobody = nix::unistd::Uid::from_raw(65534);
    nix::unistd::chown(&fx.env.config_path(), Some(nobody), None).unwrap();
    assert_refused(&fx, &["backup"], &[]);
}

#[test]
fn refuses_a_config_that_is_not_toml() {
    if !have_root("refuses_a_config_that_is_not_toml") {
        return;
    }
    let fx = fixture();
    let mut text = fx.spec(&["home"]).to_toml();
    text.push_str("places = [\n");
    fx.env.write_config(&text);
    assert_refused(&fx, &["backup"], &[]);
}

#[test]
fn usage_errors_exit_2() {
    // Needs no root: the command line is checked before anything else.
    let wrapper = ResticWrapper::new();
    let env = HelperEnv::new(&wrapper);
    let before = mounts::ours();
    for args in [
        &["frobnicate"][..],
        &[],
        &["mount"],
        &["backup", "--no-such-flag"],
    ] {
        let done = env.run(args);
        done.assert_code(exit::USAGE);
        assert!(!done.stderr.is_empty(), "no usage message for {args:?}");
    }
    assert!(wrapper.invocations().is_empty());
    assert_eq!(mounts::ours(), before);
}
