//! The order in which the backup view is built.
//!
//! restic must see the live file tree with each snapshotted subvolume
//! replaced by its snapshot. A mount hides whatever was mounted below its
//! mount point, so the view is built from the top down: a source's snapshot
//! first, then what belongs below it: the snapshots of nested sources, and
//! the other mounts that were there in the live tree (another filesystem, a
//! tmpfs), each attached again where it was. That holds whatever order the
//! configuration lists the sources in.

use std::path::{Path, PathBuf};

/// One mount of the view, at `path` (a path of the live tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: PathBuf,
    pub kind: StepKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The snapshot of `sources[i]`, over it.
    Snapshot(usize),
    /// What the live tree has at this path, with everything mounted below
    /// it: a mount below a source, or a live folder that restic must write
    /// to (its cache, a local repository, the temporary folder).
    Live,
}

/// The steps that build the view, in order. `sources` are the snapshot
/// sources; `live` are the live tree's mount points and the folders that
/// must stay live. Only those below a source need a step: the rest of the
/// tree is the live one anyway. Of those, only the topmost below each
/// source does: a live step carries along what is mounted below it.
pub fn plan(sources: &[PathBuf], live: &[PathBuf]) -> Vec<Step> {
    let mut candidates: Vec<&Path> = live
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| !sources.iter().any(|s| s == p))
        .filter(|p| deepest_source(sources, p).is_some())
        .collect();
    candidates.sort();
    candidates.dedup();

    let mut steps: Vec<Step> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| Step {
            path: s.clone(),
            kind: StepKind::Snapshot(i),
        })
        .collect();
    for &p in &candidates {
        let owner = deepest_source(sources, p).expect("filtered above");
        // A live step between this path's source and the path carries it.
        let carried = candidates
            .iter()
            .any(|&q| q != p && p.starts_with(q) && q.starts_with(owner));
        if !carried {
            steps.push(Step {
                path: p.to_owned(),
                kind: StepKind::Live,
            });
        }
    }
    // Parents before children. A snapshot and a live step never share a
    // path; the tie-break only keeps the order stable.
    steps.sort_by(|a, b| {
        depth(&a.path)
            .cmp(&depth(&b.path))
            .then_with(|| a.path.cmp(&b.path))
    });
    steps
}

/// The deepest source that `path` is strictly below.
fn deepest_source<'a>(sources: &'a [PathBuf], path: &Path) -> Option<&'a Path> {
    sources
        .iter()
        .filter(|s| path != s.as_path() && path.starts_with(s))
        .max_by_key(|s| depth(s))
        .map(PathBuf::as_path)
}

fn depth(path: &Path) -> usize {
    path.components().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    fn show(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s.kind {
                StepKind::Snapshot(i) => format!("snap{i} {}", s.path.display()),
                StepKind::Live => format!("live {}", s.path.display()),
            })
            .collect()
    }

    #[test]
    fn nested_sources_mount_parents_first_in_either_order() {
        let a = plan(&paths(&["/home/alice/vms", "/home"]), &[]);
        assert_eq!(show(&a), ["snap1 /home", "snap0 /home/alice/vms"]);
        let b = plan(&paths(&["/home", "/home/alice/vms"]), &[]);
        assert_eq!(show(&b), ["snap0 /home", "snap1 /home/alice/vms"]);
    }

    #[test]
    fn mounts_below_a_source_come_back_and_others_stay_untouched() {
        let steps = plan(
            &paths(&["/home"]),
            &paths(&[
                "/",
                "/proc",
                "/home",
                "/home/bob/data",
                "/home/bob/data/inner",
                "/home/tmp",
                "/homework",
            ]),
        );
        // inner is carried along by data; /home itself is the source.
        assert_eq!(
            show(&steps),
            ["snap0 /home", "live /home/tmp", "live /home/bob/data"]
        );
    }

    #[test]
    fn the_root_as_a_source_keeps_every_other_mount_live() {
        let steps = plan(
            &paths(&["/", "/home/alice/vms", "/home"]),
            &paths(&[
                "/",
                "/proc",
                "/home",
                "/mnt/disk",
                "/home/alice/vms/iso",
                "/var/repo",
            ]),
        );
        assert_eq!(
            show(&steps),
            [
                "snap0 /",
                "snap2 /home",
                "live /proc",
                "live /mnt/disk",
                "live /var/repo",
                "snap1 /home/alice/vms",
                "live /home/alice/vms/iso",
            ]
        );
    }

    #[test]
    fn a_mount_that_holds_a_source_is_attached_before_it() {
        // /srv/data is another filesystem below the source /srv, and holds
        // the source /srv/data/sub: data first, then sub's snapshot in it,
        // and sub's own mounts after that.
        let steps = plan(
            &paths(&["/srv", "/srv/data/sub"]),
            &paths(&["/srv/data", "/srv/data/sub/m", "/srv/data/other"]),
        );
        assert_eq!(
            show(&steps),
            [
                "snap0 /srv",
                "live /srv/data",
                "snap1 /srv/data/sub",
                "live /srv/data/sub/m",
            ]
        );
    }
}
