//! The settings file: what the desktop needs to know of the helper's
//! configuration, which it may not read (the configuration is root's and
//! may hold a password). The helper rewrites it, world-readable, in its
//! state directory whenever it starts an operation; the desktop reads it
//! with [`read`], which bounds its size.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Retention;

/// File name inside the state directory.
pub const SETTINGS_FILE_NAME: &str = "settings.json";
/// The largest settings file anyone reads.
pub const MAX_SETTINGS_BYTES: u64 = 64 << 10;
/// `stale_after_days` when the configuration sets none, or before the
/// helper ever ran.
pub const DEFAULT_STALE_AFTER_DAYS: u64 = 7;

/// The public part of the configuration of the helper's latest operation.
/// Nothing here names a file, a repository or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The profile it was written for, if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// Warn when the latest completed backup is older than this many days.
    #[serde(default = "default_stale_after_days")]
    pub stale_after_days: u64,
    /// What forget keeps after each backup; empty: nothing is forgotten.
    #[serde(default)]
    pub retention: Retention,
    /// `restic check --read-data-subset`, if the configuration sets one.
    #[serde(default)]
    pub check_read_data_subset: Option<String>,
    /// Scheduled runs also run on battery.
    #[serde(default)]
    pub run_on_battery: bool,
    /// Scheduled runs to a network repository also run over a metered
    /// connection.
    #[serde(default)]
    pub run_on_metered: bool,
}

fn default_stale_after_days() -> u64 {
    DEFAULT_STALE_AFTER_DAYS
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profile: None,
            stale_after_days: DEFAULT_STALE_AFTER_DAYS,
            retention: Retention::default(),
            check_read_data_subset: None,
            run_on_battery: false,
            run_on_metered: false,
        }
    }
}

/// Why the settings file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("{} is larger than {MAX_SETTINGS_BYTES} bytes", path.display())]
    TooLarge { path: std::path::PathBuf },
    #[error("{} is not valid: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// Reads the settings in `state_dir`, at most [`MAX_SETTINGS_BYTES`] of
/// them. No file yet (the helper never ran) gives the defaults.
pub fn read(state_dir: &Path) -> Result<Settings, SettingsError> {
    let path = state_dir.join(SETTINGS_FILE_NAME);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(source) => return Err(SettingsError::Read { path, source }),
    };
    let mut bytes = Vec::new();
    if let Err(source) = file.take(MAX_SETTINGS_BYTES + 1).read_to_end(&mut bytes) {
        return Err(SettingsError::Read { path, source });
    }
    if bytes.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(SettingsError::TooLarge { path });
    }
    serde_json::from_slice(&bytes).map_err(|source| SettingsError::Parse { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_and_missing_keys_give_the_defaults() {
        let dir = std::env::temp_dir().join(format!("igotchuu-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), Settings::default());
        std::fs::write(dir.join(SETTINGS_FILE_NAME), b"{\"run_on_battery\": true}").unwrap();
        let s = read(&dir).unwrap();
        assert!(s.run_on_battery);
        assert_eq!(s.stale_after_days, DEFAULT_STALE_AFTER_DAYS);
        std::fs::write(dir.join(SETTINGS_FILE_NAME), vec![b' '; 70 << 10]).unwrap();
        assert!(matches!(read(&dir), Err(SettingsError::TooLarge { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
