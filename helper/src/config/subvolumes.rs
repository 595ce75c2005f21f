//! Each snapshot source must be a btrfs subvolume: only those can be
//! snapshotted, and finding out mid-run would leave a half-done backup.
//! And no place may lie in a nested subvolume that a snapshot would hide.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
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
        let sources: Vec<&Path> = self.config.snapshots.iter().map(|s| s.source.as_path()).collect();
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
                        path: place.value.clone(),
                        subvolume: path.to_owned(),
                        snapshotted: covering.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }
}
