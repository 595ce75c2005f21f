//! The configuration as the helper sees it: whole files in, `Config` or a
//! refusal out.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

const FILE: &str = "/etc/igotchuu-test.toml";

fn parse(text: &str) -> Config {
    parse_with(text, None)
}

fn parse_with(text: &str, profile: Option<&str>) -> Config {
    match Config::parse(text, Path::new(FILE), profile) {
        Ok(config) => config,
        Err(e) => panic!("refused: {e}"),
    }
}

fn refusal(text: &str) -> ConfigError {
    refusal_with(text, None)
}

fn refusal_with(text: &str, profile: Option<&str>) -> ConfigError {
    match Config::parse(text, Path::new(FILE), profile) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(e) => e,
    }
}

/// Asserts that the message names the file at `line` and mentions each of `parts`.
fn assert_message(err: &ConfigError, line: usize, parts: &[&str]) {
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{FILE}:{line}: ")),
        "{message}"
    );
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

fn spec(source: &str, location: &str) -> SnapshotSpec {
    SnapshotSpec {
        source: source.into(),
        location: location.into(),
        chosen_at: None,
    }
}

const MINIMAL: &str = "places = [\"/home\"]\nrepo = \"/srv/restic\"\n";

// ---- keys ----

#[test]
fn the_readme_example() {
    let config = parse(
        r#"
exec_before_snapshot = ["mount", "/dev/mapper/root", "/mnt", "-o", "subvol=5"]
snapshot_prefix = "/mnt/snapshots"
places = ["/home", "/var/lib"]
restic_backup_args = [
	"--one-file-system", "--exclude-caches",
	"--exclude-file=/etc/igotchuu/exclude.txt"
]
repo = "sftp://your.host/folder"
password_file = "/root/restic-password"

[[snapshot]]
source = "/home"
[[snapshot]]
source = "/var/lib"
snapshot_location = "/var-lib"
"#,
    );
    assert_eq!(config.file, Path::new(FILE));
    assert_eq!(config.profile, None);
    assert_eq!(config.places, paths(&["/home", "/var/lib"]));
    assert_eq!(
        config.exec_before_snapshot.as_deref(),
        Some(&["mount", "/dev/mapper/root", "/mnt", "-o", "subvol=5"].map(String::from)[..])
    );
    assert_eq!(
        config.restic_backup_args,
        [
            "--one-file-system",
            "--exclude-caches",
            "--exclude-file=/etc/igotchuu/exclude.txt"
        ]
    );
    assert!(config.restic_args.is_empty());
    assert_eq!(
        config.repository,
        Repository::Location("sftp://your.host/folder".into())
    );
    assert_eq!(
        config.password,
        Some(Password::File("/root/restic-password".into()))
    );
    assert_eq!(
        config.snapshots,
        [
            spec("/home", "/mnt/snapshots/home"),
            spec("/var/lib", "/var-lib")
        ]
    );
}

#[test]
fn the_other_keys() {
    let config = parse(
        r#"
places = ["/home"]
restic_args = ["--limit-upload", "1000"]
repository_file = "/root/restic-target"
password_command = "pass show restic"
"#,
    );
    assert_eq!(config.restic_args, ["--limit-upload", "1000"]);
    assert!(config.restic_backup_args.is_empty());
    assert_eq!(config.exec_before_snapshot, None);
    assert_eq!(
        config.repository,
        Repository::File("/root/restic-target".into())
    );
    assert_eq!(
        config.password,
        Some(Password::Command("pass show restic".into()))
    );
}

#[test]
fn no_password_setting_is_allowed() {
    assert_eq!(parse(MINIMAL).password, None);
}

#[test]
fn repo_may_be_any_restic_location() {
    for repo in [
        "/srv/restic",
        "local:/srv/restic",
        "sftp:host:restic",
        "rest:https://h/",
        "s3:s3.amazonaws.com/b",
    ] {
        let config = parse(&format!("places = [\"/home\"]\nrepo = \"{repo}\""));
        assert_eq!(config.repository, Repository::Location(repo.into()));
    }
}

// ---- snapshots ----

#[test]
fn snapshot_forms_mix_in_one_array() {
    let config = parse(
        r#"
places = ["/home", "/var/lib", "/srv"]
repo = "/srv/restic"
snapshot = ["/home", { source = "/var/lib", snapshot_location = "/mnt/var-lib" }, { source = "/srv" }]
"#,
    );
    assert_eq!(
        config.snapshots,
        [
            spec("/home", "/home"),
            spec("/var/lib", "/mnt/var-lib"),
            spec("/srv", "/srv")
        ]
    );
}

#[test]
fn snapshot_prefix_with_or_without_trailing_slash() {
    for prefix in ["/mnt/snapshots", "/mnt/snapshots/"] {
        let config = parse(&format!(
            "places = [\"/home\", \"/var/lib\"]\nrepo = \"/r\"\nsnapshot_prefix = \"{prefix}\"\n\
             snapshot = [\"/home\", {{ source = \"/var/lib\", snapshot_location = \"/x/var-lib\" }}]"
        ));
        assert_eq!(
            config.snapshots,
            [
                spec("/home", "/mnt/snapshots/home"),
                spec("/var/lib", "/x/var-lib")
            ],
            "prefix {prefix}"
        );
        // As strings: no `//`, and the stamp goes right after the name.
        assert_eq!(
            config.snapshots[0]
                .path_at("2024-05-01T10:00:00")
                .into_os_string(),
            "/mnt/snapshots/home-2024-05-01T10:00:00"
        );
    }
}

#[test]
fn paths_are_normalized() {
    let config = parse("places = [\"/home/\"]\nrepo = \"/r\"\nsnapshot_prefix = \"/mnt//s/\"");
    assert_eq!(config.snapshots[0].location.as_os_str(), "/mnt/s/home");
    assert_eq!(
        config.snapshots[0].path_at("1").as_os_str(),
        "/mnt/s/home-1"
    );
}

#[test]
fn snapshot_defaults_to_places() {
    let config = parse("places = [\"/home\", \"/var/lib\"]\nrepo = \"/r\"");
    assert_eq!(
        config.snapshots,
        [spec("/home", "/home"), spec("/var/lib", "/var/lib")]
    );
}

#[test]
fn snapshot_defaults_to_the_profiles_places() {
    let text = r#"
places = ["/home"]
repo = "/r"
snapshot_prefix = "/snap"
[profiles.server]
places = ["/srv", "/var/lib"]
"#;
    assert_eq!(parse(text).snapshots, [spec("/home", "/snap/home")]);
    assert_eq!(
        parse_with(text, Some("server")).snapshots,
        [spec("/srv", "/snap/srv"), spec("/var/lib", "/snap/var/lib")]
    );
}

#[test]
fn an_empty_snapshot_list_snapshots_nothing() {
    let config = parse("places = [\"/home\"]\nrepo = \"/r\"\nsnapshot = []");
    assert!(config.snapshots.is_empty());
}

// ---- profiles ----

const PROFILES: &str = r#"
places = ["/home"]
restic_backup_args = ["--one-file-system"]
restic_args = ["--verbose"]
repo = "/srv/restic"
password_file = "/root/pw"

[profiles.laptop]
places = ["/home", "/etc"]
restic_backup_args = ["--exclude-caches"]
repository_file = "/root/laptop-target"
ignore_nested = ["/home/.snapshots"]

[profiles.offsite]
password_command = "pass show offsite"
exec_before_snapshot = ["true"]

[[profiles.offsite.snapshot]]
source = "/home"
snapshot_location = "/snap/home"
"#;

#[test]
fn a_profile_replaces_the_keys_it_sets() {
    let config = parse_with(PROFILES, Some("laptop"));
    assert_eq!(config.profile.as_deref(), Some("laptop"));
    assert_eq!(config.places, paths(&["/home", "/etc"]));
    // Replaced wholesale, not appended to.
    assert_eq!(config.restic_backup_args, ["--exclude-caches"]);
    // Not set by the profile: the top level's.
    assert_eq!(config.restic_args, ["--verbose"]);
    assert_eq!(config.password, Some(Password::File("/root/pw".into())));
}

#[test]
fn a_profile_setting_one_of_a_pair_replaces_the_other() {
    let laptop = parse_with(PROFILES, Some("laptop"));
    assert_eq!(
        laptop.repository,
        Repository::File("/root/laptop-target".into())
    );
    let offsite = parse_with(PROFILES, Some("offsite"));
    assert_eq!(
        offsite.password,
        Some(Password::Command("pass show offsite".into()))
    );
    assert_eq!(
        offsite.repository,
        Repository::Location("/srv/restic".into())
    );
    assert_eq!(offsite.exec_before_snapshot, Some(vec!["true".to_owned()]));
    assert_eq!(offsite.snapshots, [spec("/home", "/snap/home")]);
}

#[test]
fn without_a_profile_the_top_level_counts() {
    let config = parse(PROFILES);
    assert_eq!(config.profile, None);
    assert_eq!(config.places, paths(&["/home"]));
    assert_eq!(
        config.repository,
        Repository::Location("/srv/restic".into())
    );
    assert_eq!(config.exec_before_snapshot, None);
}

#[test]
fn a_profile_may_supply_what_the_top_level_lacks() {
    let text = "[profiles.a]\nplaces = [\"/home\"]\nrepo = \"/r\"";
    assert_eq!(parse_with(text, Some("a")).places, paths(&["/home"]));
    let err = refusal(text);
    assert!(
        matches!(err, ConfigError::MissingPlaces { profile: None, .. }),
        "{err:?}"
    );
}

#[test]
fn profiles_may_be_written_inline_or_dotted() {
    let text = "places = [\"/home\"]\nrepo = \"/r\"\nprofiles.a.places = [\"/a\"]\nprofiles.b = { places = [\"/b\"] }";
    assert_eq!(parse_with(text, Some("a")).places, paths(&["/a"]));
    assert_eq!(parse_with(text, Some("b")).places, paths(&["/b"]));
}

#[test]
fn ignore_nested_lists_acknowledged_paths_at_the_top_or_in_a_profile() {
    assert!(parse(MINIMAL).ignore_nested.is_empty());
    let text = format!(
        "{MINIMAL}ignore_nested = [\"/var/lib/docker/\", \"/home/.snapshots\"]\n\
         [profiles.bare]\nignore_nested = []\n\
         [profiles.vms]\nignore_nested = [\"/home/alice/vms\"]\n"
    );
    assert_eq!(
        parse(&text).ignore_nested,
        paths(&["/var/lib/docker", "/home/.snapshots"])
    );
    // A profile's list replaces the top level's, and may be empty.
    assert!(parse_with(&text, Some("bare")).ignore_nested.is_empty());
    assert_eq!(
        parse_with(&text, Some("vms")).ignore_nested,
        paths(&["/home/alice/vms"])
    );
    let only_in_profile = format!("{MINIMAL}[profiles.p]\nignore_nested = [\"/srv/x\"]\n");
    assert!(parse(&only_in_profile).ignore_nested.is_empty());
    assert_eq!(
        parse_with(&only_in_profile, Some("p")).ignore_nested,
        paths(&["/srv/x"])
    );
}

#[test]
fn ignore_nested_is_refused_when_wrong() {
    let err = refusal(&format!("{MINIMAL}ignore_nested = \"/var/lib/docker\""));
    assert_message(
        &err,
        3,
        &["`ignore_nested` must be an array of absolute paths, not a string"],
    );
    let err = refusal(&format!("{MINIMAL}ignored_nested = [\"/x\"]"));
    assert_message(
        &err,
        3,
        &[
            "unknown key `ignored_nested`",
            "did you mean `ignore_nested`?",
        ],
    );
    let err = refusal(&format!("{MINIMAL}[profiles.p]\nnested = [\"/x\"]"));
    assert_message(
        &err,
        4,
        &["`profiles.p.nested`", "did you mean `ignore_nested`?"],
    );
}

// ---- refusals ----

#[test]
fn unknown_top_level_key_suggests_the_closest() {
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\nplces = [\"/x\"]");
    assert_message(&err, 3, &["unknown key `plces`", "did you mean `places`?"]);
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\n\n[[snapshots]]\nsource = \"/home\"");
    assert_message(&err, 4, &["`snapshots`", "did you mean `snapshot`?"]);
}

#[test]
fn unknown_key_far_from_all_lists_the_known_ones() {
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\ncolour = \"blue\"");
    assert!(
        matches!(
            err,
            ConfigError::UnknownKey {
                suggestion: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        3,
        &["`colour`", "remove it", "places, snapshot,", "profiles"],
    );
}

#[test]
fn a_profile_name_must_fit_in_a_restic_tag() {
    for name in ["\"a,b\"", "\" laptop\"", "\"\"", "\"tab\\tbed\""] {
        let err = refusal(&format!("{MINIMAL}\n[profiles.{name}]\nkeep_last = 1"));
        assert!(
            matches!(err, ConfigError::BadProfileName { .. }),
            "{name}: {err}"
        );
        assert_message(&err, 4, &["restic tag", "commas"]);
    }
    for name in ["laptop", "\"my laptop\"", "\"nas-2.home\""] {
        Config::parse(
            &format!("{MINIMAL}\n[profiles.{name}]\nkeep_last = 1"),
            Path::new(FILE),
            None,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn unknown_key_in_a_profile() {
    let err = refusal(&format!(
        "{MINIMAL}\n[profiles.laptop]\nrepository = \"/r\""
    ));
    assert_message(
        &err,
        5,
        &[
            "`profiles.laptop.repository`",
            "did you mean `repository_file`?",
        ],
    );
    // Profiles do not nest.
    let err = refusal(&format!(
        "{MINIMAL}\n[profiles.laptop.profiles.x]\nrepo = \"/r\""
    ));
    assert_message(&err, 4, &["`profiles.laptop.profiles`"]);
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn unknown_key_in_a_snapshot_table() {
    let err = refusal(&format!(
        "{MINIMAL}[[snapshot]]\nsource = \"/home\"\n[[snapshot]]\nsource = \"/var\"\nsnapshot_locaton = \"/x\""
    ));
    assert_message(
        &err,
        7,
        &[
            "`snapshot[1].snapshot_locaton`",
            "did you mean `snapshot_location`?",
        ],
    );
    let err = refusal(&format!(
        "{MINIMAL}snapshot = [{{ source = \"/home\", where = \"/x\" }}]"
    ));
    assert_message(
        &err,
        3,
        &["`snapshot[0].where`", "source, snapshot_location"],
    );
}

#[test]
fn wrong_types_name_key_and_expectation() {
    let err = refusal("places = \"/home\"\nrepo = \"/r\"");
    assert_message(
        &err,
        1,
        &["`places` must be an array of absolute paths, not a string"],
    );
    let err = refusal("places = [\"/home\",\n  5]\nrepo = \"/r\"");
    assert_message(
        &err,
        2,
        &["`places[1]` must be an absolute path, not an integer"],
    );
    let err = refusal(&format!("{MINIMAL}snapshot = [\"/home\", true]"));
    assert_message(&err, 3, &["`snapshot[1]`", "not a boolean"]);
    let err = refusal(&format!("{MINIMAL}restic_args = [\"-v\", [\"x\"]]"));
    assert_message(
        &err,
        3,
        &["`restic_args[1]` must be a string, not an array"],
    );
    let err = refusal(&format!("{MINIMAL}password_command = 1979-05-27"));
    assert_message(
        &err,
        3,
        &["`password_command` must be a string, not a date-time"],
    );
    let err = refusal(&format!("{MINIMAL}[snapshot]\nsource = \"/home\""));
    assert_message(&err, 3, &["`snapshot`", "not a table"]);
    let err = refusal(&format!("{MINIMAL}profiles = 3"));
    assert_message(&err, 3, &["`profiles` must be a table of profiles"]);
    let err = refusal(&format!("{MINIMAL}profiles.laptop = \"x\""));
    assert_message(&err, 3, &["`profiles.laptop` must be a table of settings"]);
    let err = refusal(&format!("{MINIMAL}\n[profiles.laptop]\nplaces = [1]"));
    assert_message(&err, 5, &["`profiles.laptop.places[0]`", "not an integer"]);
    let err = refusal(&format!("{MINIMAL}[[snapshot]]\nsource = 1"));
    assert_message(
        &err,
        4,
        &["`snapshot[0].source` must be an absolute path, not an integer"],
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\nrestic_args = [\"-v\"\n\nx = ");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\nx = 1");
    assert_message(&err, 2, &["TOML syntax error"]);
    assert!(!err.to_string().contains('\n'), "{err}");
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\nrepo = \"/s\"");
    assert_message(&err, 3, &["duplicate key"]);
}

#[test]
fn relative_paths_are_refused() {
    let cases = [
        (
            "places = [\"/home\", \"var\"]\nrepo = \"/r\"",
            "places[1]",
            "var",
        ),
        (
            &format!("{MINIMAL}snapshot = [\"home\"]"),
            "snapshot[0]",
            "home",
        ),
        (
            &format!("{MINIMAL}[[snapshot]]\nsource = \"./home\""),
            "snapshot[0].source",
            "./home",
        ),
        (
            &format!(
                "{MINIMAL}[[snapshot]]\nsource = \"/home\"\nsnapshot_location = \"snaps/home\""
            ),
            "snapshot[0].snapshot_location",
            "snaps/home",
        ),
        (
            &format!("{MINIMAL}snapshot_prefix = \"mnt\""),
            "snapshot_prefix",
            "mnt",
        ),
        (
            "places = [\"/home\"]\nrepository_file = \"target\"",
            "repository_file",
            "target",
        ),
        (
            &format!("{MINIMAL}password_file = \"~/pw\""),
            "password_file",
            "~/pw",
        ),
        (
            &format!("{MINIMAL}[profiles.a]\npassword_file = \"pw\""),
            "profiles.a.password_file",
            "pw",
        ),
        (
            &format!("{MINIMAL}ignore_nested = [\"/srv\",\n  \"var/lib/docker\"]"),
            "ignore_nested[1]",
            "var/lib/docker",
        ),
        (
            &format!("{MINIMAL}[profiles.a]\nignore_nested = [\"docker\"]"),
            "profiles.a.ignore_nested[0]",
            "docker",
        ),
    ];
    for (text, key, path) in cases {
        let err = refusal(text);
        assert!(matches!(err, ConfigError::RelativePath { .. }), "{err:?}");
        let line = text
            .lines()
            .position(|l| l.contains(&format!("\"{path}\"")))
            .unwrap()
            + 1;
        assert_message(
            &err,
            line,
            &[
                &format!("`{key}` is the relative path \"{path}\""),
                "absolute path",
            ],
        );
    }
}

#[test]
fn relative_local_repo_is_refused() {
    for repo in ["restic-repo", "./repo", "local:repo"] {
        let err = refusal(&format!("places = [\"/home\"]\nrepo = \"{repo}\""));
        assert_message(
            &err,
            2,
            &[&format!("`repo` is the relative path \"{repo}\""), "sftp:"],
        );
    }
    let err = refusal("places = [\"/home\"]\nrepo = \"\"");
    assert_message(&err, 2, &["`repo` is empty"]);
}

#[test]
fn nul_bytes_are_refused() {
    let err = refusal("places = [\"/home\\u0000x\"]\nrepo = \"/r\"");
    assert_message(&err, 1, &["`places[0]` contains a NUL byte"]);
    let err = refusal(&format!(
        "{MINIMAL}exec_before_snapshot = [\"mount\", \"a\\u0000\"]"
    ));
    assert_message(&err, 3, &["`exec_before_snapshot[1]` contains a NUL byte"]);
}

#[test]
fn both_repository_settings_are_refused() {
    let err = refusal("places = [\"/home\"]\nrepo = \"/r\"\nrepository_file = \"/f\"");
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err:?}");
    assert_message(
        &err,
        3,
        &[
            "`repository_file` and `repo` (line 2) are both set",
            "keep one",
        ],
    );
    let err = refusal(&format!(
        "{MINIMAL}[profiles.laptop]\nrepository_file = \"/f\"\nrepo = \"/r\""
    ));
    assert_message(
        &err,
        5,
        &["`profiles.laptop.repo` and `profiles.laptop.repository_file` (line 4)"],
    );
}

#[test]
fn both_password_settings_are_refused() {
    let err = refusal(&format!(
        "{MINIMAL}password_command = \"pass x\"\npassword_file = \"/pw\""
    ));
    assert_message(
        &err,
        4,
        &["`password_file` and `password_command` (line 3) are both set"],
    );
}

#[test]
fn a_repository_is_required() {
    let err = refusal("places = [\"/home\"]");
    assert!(
        matches!(err, ConfigError::MissingRepository { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with(&format!("{FILE}: ")), "{message}");
    assert!(
        message.contains("neither `repo` nor `repository_file` is set"),
        "{message}"
    );
    let err = refusal_with(
        "places = [\"/home\"]\n[profiles.a]\nrestic_args = []",
        Some("a"),
    );
    assert!(err.to_string().contains("nor in profile `a`"), "{err}");
}

#[test]
fn places_are_required_and_not_empty() {
    let err = refusal("repo = \"/r\"");
    assert!(err.to_string().contains("`places` is not set"), "{err}");
    let err = refusal("places = []\nrepo = \"/r\"");
    assert_message(&err, 1, &["`places` is empty", "at least one"]);
    let err = refusal(&format!("{MINIMAL}[profiles.a]\nplaces = []"));
    assert_message(&err, 4, &["`profiles.a.places` is empty"]);
}

#[test]
fn exec_before_snapshot_must_name_a_command() {
    let err = refusal(&format!("{MINIMAL}exec_before_snapshot = []"));
    assert_message(&err, 3, &["`exec_before_snapshot` is empty"]);
    let err = refusal(&format!("{MINIMAL}exec_before_snapshot = [\"\", \"x\"]"));
    assert_message(&err, 3, &["`exec_before_snapshot[0]` is empty", "program"]);
    let err = refusal(&format!("{MINIMAL}password_command = \"\""));
    assert_message(&err, 3, &["`password_command` is empty"]);
}

#[test]
fn an_unknown_profile_lists_the_known_ones() {
    let err = refusal_with(PROFILES, Some("desktop"));
    let message = err.to_string();
    assert!(message.starts_with(&format!("{FILE}: ")), "{message}");
    assert!(message.contains("no profile `desktop`"), "{message}");
    assert!(message.contains("laptop, offsite"), "{message}");
    let err = refusal_with(MINIMAL, Some("desktop"));
    assert!(err.to_string().contains("defines none"), "{err}");
}

#[test]
fn duplicate_snapshot_sources_are_refused() {
    let err = refusal(&format!(
        "{MINIMAL}snapshot = [\"/home\",\n  {{ source = \"/home/\" }}]"
    ));
    assert!(
        matches!(err, ConfigError::DuplicateSource { .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        4,
        &[
            "`snapshot[1].source` snapshots /home again",
            "`snapshot[0]` (line 3)",
        ],
    );
    // Through the default from places, too.
    let err = refusal("places = [\"/home\",\n \"/home\"]\nrepo = \"/r\"");
    assert_message(&err, 2, &["`places[1]`", "`places[0]` (line 1)"]);
}

#[test]
fn two_snapshots_at_one_location_are_refused() {
    let err = refusal(&format!(
        "{MINIMAL}[[snapshot]]\nsource = \"/home\"\nsnapshot_location = \"/s/x\"\n\
         [[snapshot]]\nsource = \"/var\"\nsnapshot_location = \"/s/x\""
    ));
    assert!(
        matches!(err, ConfigError::DuplicateLocation { .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        8,
        &[
            "`snapshot[1].snapshot_location`",
            "/s/x",
            "`snapshot[0].snapshot_location` (line 5)",
        ],
    );
}

#[test]
fn a_snapshot_table_needs_a_source() {
    let err = refusal(&format!(
        "{MINIMAL}\n[[snapshot]]\nsnapshot_location = \"/x\""
    ));
    assert_message(&err, 4, &["`snapshot[0]` has no `source`"]);
}

// ---- subvolumes ----

#[derive(Debug, thiserror::Error)]
#[error("no such file or directory")]
struct FakeError;

fn resolved(text: &str) -> resolve::Resolved {
    let file = Path::new(FILE);
    resolve::resolve(raw::parse(text, file).unwrap(), file, None).unwrap()
}

#[test]
fn every_source_is_checked_in_order() {
    let r = resolved("places = [\"/home\", \"/var/lib\"]\nrepo = \"/r\"");
    let asked = std::cell::RefCell::new(Vec::new());
    r.check_subvolumes(|p: &Path| {
        asked.borrow_mut().push(p.to_owned());
        Ok::<_, FakeError>(true)
    })
    .unwrap();
    assert_eq!(*asked.borrow(), paths(&["/home", "/var/lib"]));
}

#[test]
fn a_source_that_is_not_a_subvolume_is_refused() {
    let r = resolved(&format!(
        "{MINIMAL}\n[[snapshot]]\nsource = \"/home\"\n[[snapshot]]\nsource = \"/var\""
    ));
    let err = r
        .check_subvolumes(|p: &Path| Ok::<_, FakeError>(p != Path::new("/var")))
        .unwrap_err();
    assert!(matches!(err, ConfigError::NotSubvolume { .. }), "{err:?}");
    assert_message(
        &err,
        7,
        &[
            "`snapshot[1].source`",
            "/var is not a btrfs subvolume",
            "btrfs subvolume create",
        ],
    );

    // A default from places names the place.
    let r = resolved("places = [\"/home\",\n \"/data\"]\nrepo = \"/r\"");
    let err = r
        .check_subvolumes(|p: &Path| Ok::<_, FakeError>(p == Path::new("/home")))
        .unwrap_err();
    assert_message(&err, 2, &["`places[1]`", "/data"]);
}

#[test]
fn a_failed_subvolume_check_is_refused() {
    let r = resolved(MINIMAL);
    let err = r.check_subvolumes(|_: &Path| Err(FakeError)).unwrap_err();
    assert!(matches!(err, ConfigError::SubvolumeCheck { .. }), "{err:?}");
    assert_message(
        &err,
        1,
        &[
            "`places[0]`",
            "cannot tell whether /home",
            "no such file or directory",
        ],
    );
}

// ---- load ----

/// A root-owned, 0600 configuration file holding `text`.
fn config_file(text: &str) -> Option<tempfile::NamedTempFile> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs files owned by root");
        return None;
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    Some(file)
}

#[test]
fn load_checks_file_text_and_subvolumes() {
    let Some(file) =
        config_file("places = [\"/home\"]\nrepo = \"/r\"\n[profiles.a]\nplaces = [\"/srv\"]")
    else {
        return;
    };
    let config =
        Config::load_with(file.path(), Some("a"), |_: &Path| Ok::<_, FakeError>(true)).unwrap();
    assert_eq!(config.file, file.path());
    assert_eq!(config.places, paths(&["/srv"]));

    let err =
        Config::load_with(file.path(), None, |_: &Path| Ok::<_, FakeError>(false)).unwrap_err();
    assert!(matches!(err, ConfigError::NotSubvolume { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1: ", file.path().display())),
        "{err}"
    );

    file.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .unwrap();
    let err =
        Config::load_with(file.path(), None, |_: &Path| Ok::<_, FakeError>(true)).unwrap_err();
    assert!(
        matches!(err, ConfigError::WritableByOthers { .. }),
        "{err:?}"
    );
}

#[test]
fn load_refuses_bad_text_naming_the_file() {
    let Some(file) = config_file("places = [\"/home\"]\nrepo = \"/r\"\nplces = 1") else {
        return;
    };
    let err = Config::load(file.path(), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3: unknown key", file.path().display())),
        "{err}"
    );
}

#[test]
fn load_without_snapshots_needs_no_btrfs() {
    let Some(file) = config_file("places = [\"/home\"]\nrepo = \"/r\"\nsnapshot = []") else {
        return;
    };
    let config = Config::load(file.path(), None).unwrap();
    assert!(config.snapshots.is_empty());
}

// ---- environment ----

#[test]
fn restic_env_sets_what_is_configured() {
    let config = parse(MINIMAL);
    assert_eq!(
        config.restic_env(),
        [("RESTIC_REPOSITORY", OsString::from("/srv/restic"))]
    );

    let config = parse(PROFILES);
    assert_eq!(
        config.restic_env(),
        [
            ("RESTIC_REPOSITORY", OsString::from("/srv/restic")),
            ("RESTIC_PASSWORD_FILE", OsString::from("/root/pw")),
        ]
    );

    let config = parse_with(PROFILES, Some("laptop"));
    assert_eq!(
        config.restic_env()[0],
        (
            "RESTIC_REPOSITORY_FILE",
            OsString::from("/root/laptop-target")
        )
    );

    let config = parse_with(PROFILES, Some("offsite"));
    assert_eq!(
        config.restic_env()[1],
        (
            "RESTIC_PASSWORD_COMMAND",
            OsString::from("pass show offsite")
        )
    );
}

// ---- display ----

const SECRETS: &str = r#"
places = ["/home"]
repo = "rest:https://alice:hunter2@backup.example/alice"
password_command = "pass show hunter2-token"
"#;

#[test]
fn display_and_debug_redact_secrets() {
    let config = parse(SECRETS);
    for shown in [
        config.to_string(),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("rest:https://<redacted>@backup.example/alice"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    assert_eq!(
        format!("{:?}", config.password.unwrap()),
        "Command(<redacted>)"
    );
    assert_eq!(
        format!("{:?}", config.repository),
        "Location(\"rest:https://<redacted>@backup.example/alice\")"
    );
}

#[test]
fn display_keeps_what_is_no_secret() {
    let config = parse(
        "places = [\"/home\"]\nrepo = \"sftp:bob@host:/srv/restic\"\npassword_file = \"/root/pw\"",
    );
    let shown = config.to_string();
    assert!(
        shown.contains("repo = \"sftp:bob@host:/srv/restic\""),
        "{shown}"
    );
    assert!(shown.contains("password_file = \"/root/pw\""), "{shown}");
    assert!(!shown.contains("Neither password_file"), "{shown}");
}

#[test]
fn display_mentions_a_missing_password_setting() {
    let shown = parse(MINIMAL).to_string();
    assert!(
        shown.contains("# Neither password_file nor password_command is set"),
        "{shown}"
    );
}

#[test]
fn display_is_the_effective_configuration_as_toml() {
    let config = parse_with(PROFILES, Some("offsite"));
    let shown = config.to_string();
    assert!(
        shown.starts_with(&format!("# {FILE}, profile `offsite`\n")),
        "{shown}"
    );
    // Without secrets it reads back as the same configuration.
    let config = parse_with(PROFILES, Some("laptop"));
    let again = parse(&config.to_string());
    assert_eq!(again.places, config.places);
    assert_eq!(again.snapshots, config.snapshots);
    assert_eq!(again.exec_before_snapshot, config.exec_before_snapshot);
    assert_eq!(again.ignore_nested, config.ignore_nested);
    assert_eq!(again.restic_backup_args, config.restic_backup_args);
    assert_eq!(again.restic_args, config.restic_args);
    assert_eq!(again.repository, config.repository);
    assert_eq!(again.password, config.password);
}

#[test]
fn stall_timeout_is_seconds_and_zero_turns_it_off() {
    use std::time::Duration;
    assert_eq!(parse(MINIMAL).stall_timeout, Some(DEFAULT_STALL_TIMEOUT));
    let text = format!("{MINIMAL}stall_timeout = 600\n[profiles.patient]\nstall_timeout = 0\n");
    assert_eq!(parse(&text).stall_timeout, Some(Duration::from_secs(600)));
    assert_eq!(parse_with(&text, Some("patient")).stall_timeout, None);
    assert!(parse(&text).to_string().contains("stall_timeout = 600"));
    for bad in ["-5", "\"30m\"", "1.5"] {
        let e = refusal(&format!("{MINIMAL}stall_timeout = {bad}\n"));
        assert_message(&e, 3, &["`stall_timeout`", "a whole number of seconds"]);
    }
}

// ---- retention, checks, run conditions ----

#[test]
fn retention_keys_make_one_policy_and_a_profile_replaces_it_whole() {
    let config = parse(MINIMAL);
    assert!(config.retention.is_empty(), "no policy unless one is set");
    assert!(config.to_string().contains("nothing is ever forgotten"));
    let text = format!(
        "{MINIMAL}keep_last = 3\nkeep_daily = 7\nkeep_within = \"2d\"\n\
         [profiles.laptop]\nkeep_weekly = 4\n[profiles.same]\nplaces = [\"/srv\"]\n"
    );
    let top = parse(&text).retention;
    assert_eq!(
        top.restic_args(),
        ["--keep-last=3", "--keep-daily=7", "--keep-within=2d"]
    );
    // A profile's policy is its own, not a mixture with the top level's.
    let laptop = parse_with(&text, Some("laptop")).retention;
    assert_eq!(laptop.restic_args(), ["--keep-weekly=4"]);
    // A profile that sets no keep_* key keeps the top level's.
    assert_eq!(parse_with(&text, Some("same")).retention, top);
    let shown = parse(&text).to_string();
    for line in ["keep_last = 3", "keep_daily = 7", "keep_within = \"2d\""] {
        assert!(shown.contains(line), "{shown}");
    }
}

#[test]
fn retention_values_are_checked_as_restic_would() {
    for (bad, expected) in [
        ("keep_last = 0", "1 or more"),
        ("keep_daily = -1", "1 or more"),
        ("keep_weekly = \"4\"", "a whole number"),
        ("keep_monthly = 4294967296", "1 or more"),
        ("keep_within = \"1w\"", "a restic duration"),
        ("keep_within = 7", "a string"),
    ] {
        let e = refusal(&format!("{MINIMAL}{bad}\n"));
        let key = bad.split(' ').next().unwrap();
        assert_message(&e, 3, &[&format!("`{key}`"), expected]);
    }
    // In a profile, the key path says which.
    let e = refusal(&format!("{MINIMAL}[profiles.laptop]\nkeep_yearly = 0\n"));
    assert_message(&e, 4, &["`profiles.laptop.keep_yearly`", "= 0"]);
}

#[test]
fn check_subset_run_conditions_staleness_and_waiting() {
    use std::time::Duration;
    let config = parse(MINIMAL);
    assert_eq!(config.check_read_data_subset, None);
    assert!(!config.run_on_battery && !config.run_on_metered);
    assert_eq!(config.stale_after_days, 7);
    assert_eq!(config.wait_timeout, Some(DEFAULT_WAIT_TIMEOUT));
    let text = format!(
        "{MINIMAL}check_read_data_subset = \"2.5%\"\nrun_on_battery = true\n\
         stale_after_days = 14\nwait_timeout = 0\n[profiles.p]\nrun_on_metered = true\nwait_timeout = 60\n"
    );
    let config = parse(&text);
    assert_eq!(config.check_read_data_subset.as_deref(), Some("2.5%"));
    assert!(config.run_on_battery && !config.run_on_metered);
    assert_eq!(config.stale_after_days, 14);
    assert_eq!(config.wait_timeout, None);
    let p = parse_with(&text, Some("p"));
    assert!(p.run_on_battery && p.run_on_metered);
    assert_eq!(p.wait_timeout, Some(Duration::from_secs(60)));
    let settings = p.public_settings();
    assert_eq!(
        (settings.profile.as_deref(), settings.stale_after_days),
        (Some("p"), 14)
    );
    for (bad, expected) in [
        ("check_read_data_subset = \"0/5\"", "a subset of the data"),
        ("check_read_data_subset = \"150%\"", "a subset of the data"),
        ("run_on_battery = \"yes\"", "true or false"),
        ("stale_after_days = 0", "days, 1 or more"),
        ("wait_timeout = -1", "seconds"),
    ] {
        let e = refusal(&format!("{MINIMAL}{bad}\n"));
        let key = bad.split(' ').next().unwrap();
        assert_message(&e, 3, &[&format!("`{key}`"), expected]);
    }
}

#[test]
fn only_a_folder_on_this_machine_is_a_local_repository() {
    let with = |repo: &str| parse(&format!("places = [\"/home\"]\nrepo = \"{repo}\"\n"));
    assert!(!with("/srv/restic").repository_is_remote());
    assert!(!with("local:/srv/restic").repository_is_remote());
    for remote in [
        "sftp:host:/srv",
        "rest:https://h/",
        "s3:s3.amazonaws.com/b",
        "rclone:x:y",
    ] {
        assert!(with(remote).repository_is_remote(), "{remote}");
    }
    // A repository_file nobody can read counts as the network.
    let config = parse("places = [\"/home\"]\nrepository_file = \"/nonexistent/igotchuu-repo\"\n");
    assert!(config.repository_is_remote());
}
