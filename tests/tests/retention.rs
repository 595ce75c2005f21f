//! Retention: after a backup, `restic forget` applies the keep_* policy to
//! this machine's snapshots of these places, of this profile, and to
//! nothing else, in a real repository that also holds another host's
//! snapshots, another path's, another profile's and untagged ones.
//! `igotchuu forget --dry-run` shows what would go and changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use igotchuu_dbus::{Operation, Outcome};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::repo::{Repo, ResticSnapshot};
use igotchuu_e2e::{have_root, run};

/// The tag a backup without a profile gets.
const TAG: &str = "igotchuu";

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

/// A backup made with restic itself, as another machine or a person would.
/// Returns its id as restic's summary gives it: 8 hex digits in 0.14, all
/// 64 from 0.15.
fn foreign_backup(repo: &Repo, path: &Path, host: Option<&str>, tag: Option<&str>) -> String {
    let mut cmd = repo.command();
    cmd.args(["backup", "--json"]);
    if let Some(host) = host {
        cmd.args(["--host", host]);
    }
    if let Some(tag) = tag {
        cmd.args(["--tag", tag]);
    }
    cmd.arg(path);
    let out = run(&mut cmd);
    let summary = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {out}"));
    summary["snapshot_id"]
        .as_str()
        .expect("snapshot_id")
        .to_owned()
}

/// The full ids of `snapshots` that `matches` selects.
fn ids(
    snapshots: &[ResticSnapshot],
    matches: impl Fn(&ResticSnapshot) -> bool,
) -> BTreeSet<String> {
    snapshots
        .iter()
        .filter(|s| matches(s))
        .map(|s| s.id.clone())
        .collect()
}

/// Ours: this host, the place `home`, the tag of `tag`.
fn ours<'a>(home: &'a str, tag: &'a str) -> impl Fn(&ResticSnapshot) -> bool + 'a {
    let host = this_host();
    move |s| s.hostname == host && s.paths == [home] && s.tags == [tag]
}

#[test]
fn forget_touches_only_this_hosts_snapshots_of_these_places_and_this_profile() {
    if !have_root("forget_touches_only_this_hosts_snapshots_of_these_places_and_this_profile") {
        return;
    }
    let fx = Fixture::new(&["home", "srv"]);
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "a\n"),
        ("srv/b.txt", "b\n"),
    ]));
    let home = fx.path("home");
    let home_text = home.display().to_string();

    // What is not ours: another machine's backups of the same path with
    // the same tag, this machine's of another path, another profile's,
    // and untagged ones made by hand.
    let mut foreign = BTreeSet::new();
    for _ in 0..2 {
        foreign.insert(foreign_backup(
            &fx.repo,
            &home,
            Some("other-laptop"),
            Some(TAG),
        ));
        foreign.insert(foreign_backup(&fx.repo, &fx.path("srv"), None, Some(TAG)));
        foreign.insert(foreign_backup(&fx.repo, &home, None, None));
    }
    assert_eq!(foreign.len(), 6);
    // The full ids, whatever restic's summary gave.
    let foreign: BTreeSet<String> = fx
        .repo
        .snapshots()
        .into_iter()
        .filter(|s| foreign.iter().any(|f| s.id.starts_with(f.as_str())))
        .map(|s| s.id)
        .collect();
    assert_eq!(foreign.len(), 6);

    // Three backups without a policy: nothing is forgotten, and there is
    // no forget record.
    let mut spec = fx.spec(&["home"]);
    fx.env.write_spec(&spec);
    for _ in 0..3 {
        fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    }
    let before = fx.repo.snapshots();
    let mine = ids(&before, ours(&home_text, TAG));
    assert_eq!(
        mine.len(),
        3,
        "three backups, each tagged {TAG}: {before:#?}"
    );
    assert!(fx
        .env
        .history()
        .runs
        .iter()
        .all(|r| r.operation == Operation::Backup));

    // A dry run with keep_last = 1 names the two older ones and changes nothing.
    spec.raw_top = vec!["keep_last = 1".into()];
    fx.env.write_spec(&spec);
    let records_before = fx.env.history().runs.len();
    let dry = fx.env.run(&["forget", "--dry-run"]);
    dry.assert_code(exit::COMPLETED);
    let after_dry = fx.repo.snapshots();
    assert_eq!(
        ids(&after_dry, |_| true),
        ids(&before, |_| true),
        "a dry run forgot something:\n{}",
        dry.output()
    );
    let newest = before
        .iter()
        .rfind(|s| mine.contains(&s.id))
        .expect("newest of ours")
        .short_id
        .clone();
    for s in before.iter().filter(|s| mine.contains(&s.id)) {
        assert!(
            dry.stdout.contains(&s.short_id),
            "the dry run does not name {} (one of ours):\n{}",
            s.short_id,
            dry.output()
        );
    }
    for s in before.iter().filter(|s| foreign.contains(&s.id)) {
        assert!(
            !dry.output().contains(&s.short_id),
            "the dry run names {}, which is not ours ({} {:?} {:?}):\n{}",
            s.short_id,
            s.hostname,
            s.paths,
            s.tags,
            dry.output()
        );
    }
    assert_eq!(
        fx.env.history().runs.len(),
        records_before,
        "a dry run is a look, not a run"
    );

    // A backup with keep_last = 2 leaves two of ours: the new one and the
    // newest before it. Everything foreign stays.
    spec.raw_top = vec!["keep_last = 2".into()];
    fx.env.write_spec(&spec);
    let backup = fx.env.run(&["backup"]);
    backup.assert_code(exit::COMPLETED);
    let after = fx.repo.snapshots();
    let mine_after = ids(&after, ours(&home_text, TAG));
    assert_eq!(mine_after.len(), 2, "{after:#?}\n{}", backup.output());
    assert!(
        after
            .iter()
            .any(|s| s.short_id == newest && mine_after.contains(&s.id)),
        "the newest of the earlier backups was forgotten: {after:#?}"
    );
    assert_eq!(
        ids(&after, |s| foreign.contains(&s.id)),
        foreign,
        "a snapshot that is not ours was forgotten"
    );

    // The history has the backup and then the forget, each with its outcome.
    let history = fx.env.history();
    let last_two: Vec<(Operation, Outcome)> = history.runs[history.runs.len() - 2..]
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert_eq!(
        last_two,
        [
            (Operation::Backup, Outcome::Completed),
            (Operation::Forget, Outcome::Completed)
        ],
        "{history:#?}"
    );
    let forget = history.last().unwrap();
    assert!(!forget.reason.is_empty(), "{forget:?}");
    assert!(
        forget.reason.contains('2'),
        "how many were forgotten (2)? {forget:?}"
    );
    // The public copy has the forget too, with a public reason.
    let public = fx.env.public_history();
    assert_eq!(public.last().unwrap().operation, Operation::Forget);

    // Another profile with the same place has a policy of its own, applied
    // to its own snapshots only.
    spec.raw_tables = "[profiles.laptop]\nkeep_last = 1\n".into();
    fx.env.write_spec(&spec);
    for _ in 0..2 {
        fx.env
            .run(&["-p", "laptop", "backup"])
            .assert_code(exit::COMPLETED);
    }
    let end = fx.repo.snapshots();
    let laptop = ids(&end, ours(&home_text, "igotchuu:laptop"));
    assert_eq!(laptop.len(), 1, "{end:#?}");
    assert_eq!(
        ids(&end, ours(&home_text, TAG)),
        mine_after,
        "the laptop profile's forget touched the default profile's snapshots"
    );
    assert_eq!(ids(&end, |s| foreign.contains(&s.id)), foreign);
}

#[test]
fn forget_without_a_policy_says_so_and_forgets_nothing() {
    if !have_root("forget_without_a_policy_says_so_and_forgets_nothing") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    fx.env.write_spec(&fx.spec(&["home"]));
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    let before = fx.repo.snapshots().len();
    for args in [&["forget", "--dry-run"][..], &["forget"][..]] {
        let out = fx.env.run(args);
        assert!(
            out.code() == exit::COMPLETED || out.code() == exit::CONFIG,
            "{args:?}: {}",
            out.output()
        );
        assert!(
            out.output().contains("keep_"),
            "{args:?} does not say which keys make a policy:\n{}",
            out.output()
        );
    }
    assert_eq!(fx.repo.snapshots().len(), before);
}
