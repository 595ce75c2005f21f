//! Nested subvolumes that a backup would miss, said once per folder.
//!
//! A snapshot has an empty directory where a nested subvolume was, so its
//! contents are not backed up unless it is snapshotted itself. Most of them
//! need no warning: Docker's and snapper's come by the thousand, and are
//! either left out on purpose or backups already. So before any snapshot
//! the live tree is surveyed, and only what a person should act on is
//! reported, grouped and bounded.

mod excludes;
mod group;
mod pattern;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::btrfs;
use crate::config::Config;
use crate::events::Notice;
use excludes::Excludes;
pub use pattern::escape as escape_pattern;

/// Lists the nested subvolumes of every snapshot source and returns notices
/// for those whose contents restic would silently miss: not a snapshot
/// source, not read-only (a backup itself), not excluded from restic, not
/// acknowledged under `ignore_nested`, and not inside another such one.
/// A source that cannot be listed gets a notice of its own.
pub fn survey(config: &Config) -> Vec<Notice> {
    let mut notices = Vec::new();
    let mut found = Vec::new();
    for spec in &config.snapshots {
        match btrfs::nested_subvolumes(&spec.source) {
            Ok(paths) => found.extend(paths),
            Err(e) => notices.push(Notice::NestedSurveyFailed {
                source: spec.source.clone(),
                error: e.to_string(),
            }),
        }
    }
    let missed = missed_by_backup(config, found, is_a_backup);
    notices.extend(group::notices(&missed));
    notices
}

/// Of the nested subvolumes `found`, the outermost ones whose contents
/// the backup misses, sorted.
fn missed_by_backup(
    config: &Config,
    mut found: Vec<PathBuf>,
    is_a_backup: impl Fn(&Path) -> bool,
) -> Vec<PathBuf> {
    let excludes = Excludes::from_args(config.restic_args.iter().chain(&config.restic_backup_args));
    found.sort();
    found.dedup();
    found.retain(|path| {
        !config.snapshots.iter().any(|spec| spec.source == *path)
            && !config
                .ignore_nested
                .iter()
                .any(|known| path.starts_with(known))
            && restic_would_read(config, &excludes, path)
    });
    // Last, as it asks the kernel about each one.
    found.retain(|path| !is_a_backup(path));
    outermost(found)
}

/// Whether restic, without the snapshots, would read `path`: it is inside a
/// place that does not exclude it, or a place is inside it (and would be
/// missing from the snapshot).
fn restic_would_read(config: &Config, excludes: &Excludes, path: &Path) -> bool {
    config.places.iter().any(|place| {
        if path.starts_with(place) {
            !excludes.leave_out(place, path)
        } else {
            place.starts_with(path)
        }
    })
}

/// snapper keeps its snapshots in a subvolume of this name.
const SNAPPER_STORE: &str = ".snapshots";

/// Whether the subvolume `path` holds backups, not data: a read-only
/// subvolume (an old snapshot), or snapper's `.snapshots`, whose nested
/// subvolumes are all read-only snapshots (besides them it holds only
/// snapper's notes on them). What cannot be checked counts as data: better
/// a warning too many than data silently missed.
fn is_a_backup(path: &Path) -> bool {
    let read_only = |p: &Path| btrfs::subvolume_info(p).is_ok_and(|info| info.read_only);
    read_only(path)
        || (path.file_name() == Some(SNAPPER_STORE.as_ref())
            && btrfs::nested_subvolumes(path)
                .is_ok_and(|snapshots| snapshots.iter().all(|s| read_only(s))))
}

/// `paths` (sorted) without those inside another of them: a snapshot
/// leaves out the outer one whole.
fn outermost(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let all: HashSet<PathBuf> = paths.iter().cloned().collect();
    paths
        .into_iter()
        .filter(|path| !path.ancestors().skip(1).any(|a| all.contains(a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NestedGroup;
    use igotchuu_e2e::{have_root, LoopBtrfs};

    fn config(extra: &str) -> Config {
        config_with("[\"/home\", \"/var/lib\"]", extra)
    }

    fn config_with(places: &str, extra: &str) -> Config {
        let text = format!("places = {places}\nrepo = \"/srv/restic\"\n{extra}");
        Config::parse(&text, "/etc/igotchuu.toml".as_ref(), None).unwrap()
    }

    fn missed(config: &Config, found: &[&str], read_only: &[&str]) -> Vec<PathBuf> {
        let found = found.iter().map(PathBuf::from).collect();
        missed_by_backup(config, found, |p| {
            read_only.iter().any(|r| p == Path::new(r))
        })
    }

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn snapshot_sources_and_read_only_subvolumes_are_not_missed() {
        let config = config("snapshot = [\"/home\", \"/var/lib\", \"/home/alice/vms\"]");
        let got = missed(
            &config,
            &[
                "/home/alice/vms",
                "/home/.snapshots/1/snapshot",
                "/home/bob/games",
                "/var/lib/machines/x",
            ],
            &["/home/.snapshots/1/snapshot"],
        );
        assert_eq!(got, paths(&["/home/bob/games", "/var/lib/machines/x"]));
    }

    #[test]
    fn excluded_and_acknowledged_subvolumes_are_not_missed() {
        let config = config(
            "restic_backup_args = [\"--one-file-system\", \"--exclude=/var/lib/docker\"]\n\
             restic_args = [\"-e\", \"*.cache\"]\n\
             ignore_nested = [\"/var/lib/machines\"]",
        );
        let got = missed(
            &config,
            &[
                "/var/lib/docker/btrfs/subvolumes/a",
                "/home/alice/.cache",
                "/var/lib/machines/x",
                "/var/lib/machines",
                "/var/lib/portables",
            ],
            &[],
        );
        assert_eq!(got, paths(&["/var/lib/portables"]));
    }

    #[test]
    fn only_what_restic_reads_is_missed() {
        let config = config_with(
            "[\"/home/alice\", \"/srv/www/site\"]",
            "snapshot = [\"/home\", \"/srv\"]",
        );
        // Outside every place; a place's folder; the place itself.
        let got = missed(&config, &["/home/bob/vms", "/srv/www", "/home/alice"], &[]);
        assert_eq!(got, paths(&["/home/alice", "/srv/www"]));
        // Inside a place.
        let got = missed(&config, &["/home/alice/vms"], &[]);
        assert_eq!(got, paths(&["/home/alice/vms"]));
    }

    #[test]
    fn only_the_outermost_is_named() {
        let got = outermost(paths(&["/a/b", "/a/b/c", "/a/b/c/d", "/a/bc", "/x"]));
        assert_eq!(got, paths(&["/a/b", "/a/bc", "/x"]));
    }

    #[test]
    fn survey_reads_the_live_tree() {
        if !have_root("survey_reads_the_live_tree") {
            return;
        }
        let fs = LoopBtrfs::new(200);
        let home = fs.subvolume("home");
        // snapper's layout: its own subvolume, read-only snapshots inside.
        fs.subvolume("home/.snapshots");
        std::fs::create_dir(home.join(".snapshots/1")).unwrap();
        let seed = fs.subvolume("seed");
        btrfs::create_readonly_snapshot(&seed, &home.join(".snapshots/1/snapshot")).unwrap();
        btrfs::create_readonly_snapshot(&seed, &home.join("old-snapshot")).unwrap();
        // Named so, but holding data.
        fs.subvolume("data");
        fs.subvolume("data/.snapshots");
        fs.subvolume("data/.snapshots/work");
        fs.subvolume("home/vms");
        std::fs::create_dir(home.join("d")).unwrap();
        for i in 0..3 {
            fs.subvolume(&format!("home/d/s{i}"));
        }
        let data = fs.path().join("data");
        let text = format!(
            "places = [\"{home}\", \"{data}\"]\n\
             snapshot = [\"{home}\", \"{data}\", \"{missing}\"]\n\
             repo = \"/srv/restic\"\n",
            home = home.display(),
            data = data.display(),
            missing = fs.path().join("missing").display(),
        );
        let config = Config::parse(&text, "/etc/igotchuu.toml".as_ref(), None).unwrap();

        let notices = survey(&config);
        let groups: Vec<&NestedGroup> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::NestedNotBackedUp(g) => Some(g),
                _ => None,
            })
            .collect();
        assert_eq!(
            groups,
            [
                &NestedGroup {
                    folder: home.join("d"),
                    count: 3,
                    sample: vec![home.join("d/s0"), home.join("d/s1")],
                },
                &NestedGroup {
                    folder: data.clone(),
                    count: 1,
                    sample: vec![data.join(".snapshots")],
                },
                &NestedGroup {
                    folder: home.clone(),
                    count: 1,
                    sample: vec![home.join("vms")],
                },
            ]
        );
        assert!(
            notices.iter().any(|n| matches!(n,
                Notice::NestedSurveyFailed { source, .. } if source.ends_with("missing"))),
            "{notices:?}"
        );
        assert_eq!(notices.len(), 4, "{notices:?}");
    }
}
