//! The nested-subvolume notices in words: a warning for the terminal, in
//! the person's language, and a short line for the history (which the
//! desktop shows as "Not backed up"), in English like the rest of it.

use std::path::Path;

use super::format::{keep_tail, thousands};
use crate::events::{NestedGroup, Notice};
use crate::i18n::{fill, gettext, ngettext, ngettext_n};

/// A history line longer than this is cut (at its start), so that a record
/// stays small whatever the paths.
const MAX_HISTORY_LINE: usize = 300;

/// The terminal's warning, for the nested-subvolume notices.
pub fn warning(notice: &Notice) -> Option<String> {
    // The words in backquotes are configuration keys.
    Some(match notice {
        Notice::NestedNotBackedUp(group) if group.count == 1 => fill(
            // xgettext: {path} is a btrfs subvolume inside a backed-up one; `snapshot`, `places` and `ignore_nested` are configuration keys.
            &gettext("{path} is a nested subvolume of its own and is not backed up (a snapshot holds an empty folder in its place); list it in `snapshot` and `places` to back it up, or in `ignore_nested` to stop this warning"),
            &[("path", &only_member(group).display().to_string())],
        ),
        Notice::NestedNotBackedUp(group) => fill(
            &ngettext(
                // xgettext: {n} subvolumes (always more than one) in {folder}; {names} lists some of them. `snapshot`, `places` and `ignore_nested` are configuration keys.
                "{n} nested subvolumes below {folder} are not backed up ({names}); list them in `snapshot` and `places` to back them up, or add {folder} to `ignore_nested` to stop this warning",
                "{n} nested subvolumes below {folder} are not backed up ({names}); list them in `snapshot` and `places` to back them up, or add {folder} to `ignore_nested` to stop this warning",
                group.count as u64,
            ),
            &[
                ("n", &thousands(group.count)),
                ("folder", &group.folder.display().to_string()),
                ("names", &sample_names(group)),
            ],
        ),
        Notice::MoreNestedNotBackedUp {
            folders,
            subvolumes,
        } => fill(
            // xgettext: After the warnings for the first folders: {subvolumes} is "12 more nested subvolumes", {folders} "5 other folders".
            &gettext("not backed up either: {subvolumes} in {folders} (`btrfs subvolume list` shows them); list them in `snapshot` and `places`, or in `ignore_nested`"),
            &[
                (
                    "subvolumes",
                    &ngettext_n(
                        // xgettext: Subvolumes not named in the warnings before, as in "12 more nested subvolumes in 5 other folders".
                        "{n} more nested subvolume",
                        "{n} more nested subvolumes",
                        *subvolumes as u64,
                        &thousands(*subvolumes),
                    ),
                ),
                (
                    "folders",
                    &ngettext_n(
                        // xgettext: Follows "in", as in "12 more nested subvolumes in 5 other folders".
                        "{n} other folder",
                        "{n} other folders",
                        *folders as u64,
                        &thousands(*folders),
                    ),
                ),
            ],
        ),
        Notice::NestedSurveyFailed { source, error } => fill(
            // xgettext: {source} is a backed-up subvolume; {error} is the system's reason.
            &gettext("cannot look for nested subvolumes in {source} ({error}); any there are not backed up"),
            &[("source", &source.display().to_string()), ("error", error)],
        ),
        _ => return None,
    })
}

/// The history's line, for the nested-subvolume notices: the path of a
/// lone one, else how many and where.
pub fn history_line(notice: &Notice) -> Option<String> {
    let line = match notice {
        Notice::NestedNotBackedUp(group) if group.count == 1 => {
            only_member(group).display().to_string()
        }
        Notice::NestedNotBackedUp(group) => {
            format!(
                "{} below {}",
                thousands(group.count),
                group.folder.display()
            )
        }
        Notice::MoreNestedNotBackedUp {
            folders,
            subvolumes,
        } => more(*subvolumes, *folders),
        Notice::NestedSurveyFailed { source, .. } => {
            format!("{}: could not be checked", source.display())
        }
        _ => return None,
    };
    Some(keep_tail(&line, MAX_HISTORY_LINE))
}

/// "12 more nested subvolumes in 5 other folders", for the history.
fn more(subvolumes: usize, folders: usize) -> String {
    format!(
        "{} more nested {} in {} other {}",
        thousands(subvolumes),
        if subvolumes == 1 {
            "subvolume"
        } else {
            "subvolumes"
        },
        thousands(folders),
        if folders == 1 { "folder" } else { "folders" }
    )
}

fn only_member(group: &NestedGroup) -> &Path {
    group.sample.first().unwrap_or(&group.folder)
}

/// The sample's names, and `…` when there are more.
fn sample_names(group: &NestedGroup) -> String {
    let mut names: Vec<String> = group
        .sample
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or(p.as_os_str())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if group.count > group.sample.len() {
        names.push("…".to_owned());
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn group(folder: &str, count: usize, sample: &[&str]) -> Notice {
        Notice::NestedNotBackedUp(NestedGroup {
            folder: folder.into(),
            count,
            sample: sample.iter().map(PathBuf::from).collect(),
        })
    }

    #[test]
    fn a_lone_subvolume_is_named() {
        let notice = group("/home/alice", 1, &["/home/alice/vms"]);
        assert_eq!(
            warning(&notice).unwrap(),
            "/home/alice/vms is a nested subvolume of its own and is not backed up (a snapshot \
             holds an empty folder in its place); list it in `snapshot` and `places` to back it \
             up, or in `ignore_nested` to stop this warning"
        );
        assert_eq!(history_line(&notice).unwrap(), "/home/alice/vms");
    }

    #[test]
    fn a_folder_of_them_is_counted() {
        let folder = "/var/lib/docker/btrfs/subvolumes";
        let notice = group(
            folder,
            1500,
            &[&format!("{folder}/0a"), &format!("{folder}/1b")],
        );
        assert_eq!(
            warning(&notice).unwrap(),
            "1,500 nested subvolumes below /var/lib/docker/btrfs/subvolumes are not backed up \
             (0a, 1b, …); list them in `snapshot` and `places` to back them up, or add \
             /var/lib/docker/btrfs/subvolumes to `ignore_nested` to stop this warning"
        );
        assert_eq!(
            history_line(&notice).unwrap(),
            "1,500 below /var/lib/docker/btrfs/subvolumes"
        );
        let two = group("/srv", 2, &["/srv/a", "/srv/b"]);
        assert!(warning(&two).unwrap().contains("(a, b);"));
    }

    #[test]
    fn the_rest_and_failures_are_one_line_each() {
        let more = Notice::MoreNestedNotBackedUp {
            folders: 5,
            subvolumes: 1200,
        };
        assert_eq!(
            warning(&more).unwrap(),
            "not backed up either: 1,200 more nested subvolumes in 5 other folders \
             (`btrfs subvolume list` shows them); list them in `snapshot` and `places`, or in \
             `ignore_nested`"
        );
        assert_eq!(
            history_line(&more).unwrap(),
            "1,200 more nested subvolumes in 5 other folders"
        );
        let one = Notice::MoreNestedNotBackedUp {
            folders: 1,
            subvolumes: 1,
        };
        assert_eq!(
            history_line(&one).unwrap(),
            "1 more nested subvolume in 1 other folder"
        );
        let failed = Notice::NestedSurveyFailed {
            source: "/home".into(),
            error: "Permission denied".into(),
        };
        assert_eq!(
            warning(&failed).unwrap(),
            "cannot look for nested subvolumes in /home (Permission denied); any there are not \
             backed up"
        );
        assert_eq!(
            history_line(&failed).unwrap(),
            "/home: could not be checked"
        );
        let other = Notice::StaleSnapshotRemoved { path: "/x".into() };
        assert_eq!(warning(&other), None);
        assert_eq!(history_line(&other), None);
    }

    #[test]
    fn history_lines_are_bounded() {
        let long = format!("/{}", "x".repeat(5000));
        let line = history_line(&group("/", 1, &[&long])).unwrap();
        assert_eq!(line.chars().count(), MAX_HISTORY_LINE);
    }
}
