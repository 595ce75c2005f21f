//! Each snapshot source must be a btrfs subvolume: only those can be
//! snapshotted, and finding out mid-run would leave a half-done backup.

use std::path::Path;

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
