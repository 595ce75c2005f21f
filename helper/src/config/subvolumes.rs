//! Each snapshot source must be a btrfs subvolume: only those can be
//! snapshotted, and finding out mid-run would leave a half-done backup.
//! And no place may lie in a nested subvolume that a snapshot would hide.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, HiddenPaths};
use super::resolve::Resolved;

impl Resolved {
    /// Asks `is_subvolume` about each snapshot source, in order. It is a
    /// parameter so tests can stand in for the ioctl.
    pub(super) fn check_subvolumes<E>(
        &self,
        is_subvolume: impl Fn(&Path) -> Result<bool, E>,
    ) -> Result<(), ConfigError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        for source in &self.sources {
            let error = match is_subvolume(&source.value) {
                Ok(true) => continue,
                Ok(false) => ConfigError::NotSubvolume {
                    file: self.config.file.clone(),
                    line: source.line,
                    key: source.key.clone(),
                    path: source.value.clone(),
                },
                Err(error) => ConfigError::SubvolumeCheck {
                    file: self.config.file.clone(),
                    line: source.line,
                    key: source.key.clone(),
                    path: source.value.clone(),
                    error: Box::new(error),
                },
            };
            return Err(error);
        }
        Ok(())
    }
}

impl Resolved {
    /// Refuses a place that the backup would silently miss: one inside a
    /// subvolume nested in a snapshotted source without being snapshotted
    /// itself. The source's snapshot has an empty folder there. A mount
    /// point on the way (another filesystem) ends the search: the view
    /// keeps what is mounted below a source live.
    pub(super) fn check_hidden_places<E>(
        &self,
        is_subvolume: impl Fn(&Path) -> Result<bool, E>,
        mount_points: &[PathBuf],
    ) -> Result<(), ConfigError> {
        let sources: Vec<&Path> = self
            .config
            .snapshots
            .iter()
            .map(|s| s.source.as_path())
            .collect();
        for place in &self.places {
            let Some(mut covering) = sources
                .iter()
                .copied()
                .filter(|s| place.value.starts_with(s))
                .max_by_key(|s| s.components().count())
            else {
                continue;
            };
            // The folders from below the covering source down to the place.
            let mut below: Vec<&Path> = place
                .value
                .ancestors()
                .take_while(|p| *p != covering)
                .collect();
            below.reverse();
            for path in below {
                if mount_points.iter().any(|m| m == path) {
                    break;
                }
                if sources.contains(&path) {
                    covering = path;
                    continue;
                }
                // A path that cannot be checked is not a subvolume here: a
                // missing place is restic's warning to give.
                if is_subvolume(path).unwrap_or(false) {
                    return Err(ConfigError::HiddenPlace {
                        file: self.config.file.clone(),
                        line: place.line,
                        key: place.key.clone(),
                        paths: Box::new(HiddenPaths {
                            place: place.value.clone(),
                            subvolume: path.to_owned(),
                            snapshotted: covering.to_owned(),
                        }),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{raw, resolve};
    use crate::config::ConfigError;

    /// Checks `places` and `snapshot` (TOML arrays) against a tree whose
    /// subvolumes are `subvolumes` and whose mount points are `mounts`.
    fn check(places: &str, snapshot: &str, subvolumes: &[&str], mounts: &[&str]) -> Option<String> {
        let text = format!("places = {places}\nsnapshot = {snapshot}\nrepo = \"/r\"\n");
        let file = Path::new("/etc/igotchuu.toml");
        let resolved = resolve::resolve(raw::parse(&text, file).unwrap(), file, None).unwrap();
        let is_subvolume =
            |p: &Path| Ok::<_, std::io::Error>(subvolumes.iter().any(|s| p == Path::new(s)));
        let mounts: Vec<PathBuf> = mounts.iter().map(PathBuf::from).collect();
        match resolved.check_hidden_places(is_subvolume, &mounts) {
            Ok(()) => None,
            Err(e @ ConfigError::HiddenPlace { .. }) => Some(e.to_string()),
            Err(e) => panic!("{e}"),
        }
    }

    const TREE: &[&str] = &["/home", "/home/alice/vms", "/home/alice/vms/iso"];

    #[test]
    fn a_place_in_a_subvolume_that_is_snapshotted_too_is_fine() {
        let both = "[\"/home\", \"/home/alice/vms\"]";
        assert_eq!(check("[\"/home/alice/vms/x\"]", both, TREE, &[]), None);
        assert_eq!(check("[\"/home\"]", both, TREE, &[]), None);
        // Nothing snapshotted above it: the live tree is backed up.
        assert_eq!(check("[\"/home/alice/vms\"]", "[]", TREE, &[]), None);
        assert_eq!(check("[\"/srv\"]", "[\"/home\"]", TREE, &[]), None);
    }

    #[test]
    fn a_place_hidden_by_a_parents_snapshot_is_named_with_its_key() {
        let e = check(
            "[\"/srv\", \"/home/alice/vms/disk\"]",
            "[\"/home\"]",
            TREE,
            &[],
        )
        .expect("refused");
        assert!(e.starts_with("/etc/igotchuu.toml:1: `places[1]`: /home/alice/vms/disk is inside the subvolume /home/alice/vms, which the snapshot of /home"), "{e}");
        // Deeper down, below a snapshotted nested source.
        let e = check(
            "[\"/home/alice/vms/iso/a\"]",
            "[\"/home\", \"/home/alice/vms\"]",
            TREE,
            &[],
        )
        .expect("refused");
        assert!(
            e.contains("the subvolume /home/alice/vms/iso, which the snapshot of /home/alice/vms"),
            "{e}"
        );
    }

    #[test]
    fn a_mount_on_the_way_is_kept_live_and_not_refused() {
        let tree = &["/home", "/home/bob/disk"];
        assert_eq!(
            check(
                "[\"/home/bob/disk/x\"]",
                "[\"/home\"]",
                tree,
                &["/home/bob/disk"]
            ),
            None
        );
        assert!(check("[\"/home/bob/disk/x\"]", "[\"/home\"]", tree, &[]).is_some());
    }
}
