//! Many nested subvolumes as a few notices: one per folder, the biggest
//! folders first, the rest counted. A Docker host with 1,500 subvolumes in
//! one folder gets one line, not 1,500.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::events::{NestedGroup, Notice};

/// Folders named one by one; more are counted in one notice.
pub const MAX_GROUPS: usize = 10;
/// Subvolumes named in a folder's notice, so that a person recognises them.
pub const SAMPLE_SIZE: usize = 2;

/// One notice per folder for `paths` (sorted), at most [`MAX_GROUPS`], then
/// one for the rest.
pub fn notices(paths: &[PathBuf]) -> Vec<Notice> {
    let mut folders: BTreeMap<&Path, Vec<&PathBuf>> = BTreeMap::new();
    for path in paths {
        let folder = path.parent().unwrap_or(path);
        folders.entry(folder).or_default().push(path);
    }
    let mut groups: Vec<NestedGroup> = folders
        .into_iter()
        .map(|(folder, members)| NestedGroup {
            folder: folder.to_owned(),
            count: members.len(),
            sample: members.into_iter().take(SAMPLE_SIZE).cloned().collect(),
        })
        .collect();
    // Stable: folders with as many stay in path order.
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    let rest = groups.split_off(groups.len().min(MAX_GROUPS));
    let mut notices: Vec<Notice> = groups.into_iter().map(Notice::NestedNotBackedUp).collect();
    if !rest.is_empty() {
        notices.push(Notice::MoreNestedNotBackedUp {
            folders: rest.len(),
            subvolumes: rest.iter().map(|g| g.count).sum(),
        });
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(notices: &[Notice]) -> Vec<(String, usize, Vec<String>)> {
        notices
            .iter()
            .filter_map(|n| match n {
                Notice::NestedNotBackedUp(g) => Some((
                    g.folder.display().to_string(),
                    g.count,
                    g.sample.iter().map(|p| p.display().to_string()).collect(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_notice_per_folder_biggest_first() {
        let mut paths: Vec<PathBuf> = (0..1500)
            .map(|i| PathBuf::from(format!("/var/lib/docker/btrfs/subvolumes/{i:04}")))
            .collect();
        paths.push("/home/alice/vms".into());
        paths.push("/home/bob/a".into());
        paths.push("/home/bob/b".into());
        paths.sort();
        let notices = notices(&paths);
        let subvolumes = "/var/lib/docker/btrfs/subvolumes";
        assert_eq!(
            groups(&notices),
            [
                (
                    subvolumes.into(),
                    1500,
                    vec![format!("{subvolumes}/0000"), format!("{subvolumes}/0001")]
                ),
                (
                    "/home/bob".into(),
                    2,
                    vec!["/home/bob/a".into(), "/home/bob/b".into()]
                ),
                ("/home/alice".into(), 1, vec!["/home/alice/vms".into()]),
            ]
        );
        assert_eq!(notices.len(), 3);
    }

    #[test]
    fn folders_past_the_limit_are_counted() {
        let paths: Vec<PathBuf> = (0..MAX_GROUPS + 5)
            .flat_map(|f| (0..3).map(move |i| PathBuf::from(format!("/srv/f{f:02}/s{i}"))))
            .collect();
        let notices = notices(&paths);
        assert_eq!(groups(&notices).len(), MAX_GROUPS);
        assert!(
            matches!(
                notices.last(),
                Some(Notice::MoreNestedNotBackedUp {
                    folders: 5,
                    subvolumes: 15
                })
            ),
            "{notices:?}"
        );
        assert_eq!(notices.len(), MAX_GROUPS + 1);
    }

    #[test]
    fn nothing_gives_no_notice() {
        assert!(notices(&[]).is_empty());
    }
}
