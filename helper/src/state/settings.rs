//! The settings file (`igotchuu_dbus::settings`): what the desktop may know
//! of the configuration, rewritten at the start of every operation run.

use std::io;
use std::path::{Path, PathBuf};

use igotchuu_dbus::settings::{Settings, SETTINGS_FILE_NAME};

use super::atomic;

/// Writes `settings` into `state_dir`, atomically and readable by all
/// (the desktop runs unprivileged). Returns the file.
pub fn write(state_dir: &Path, settings: &Settings) -> io::Result<PathBuf> {
    let path = state_dir.join(SETTINGS_FILE_NAME);
    let json = serde_json::to_vec_pretty(settings).map_err(io::Error::other)?;
    atomic::write(&path, &json, 0o644)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn everyone_reads_what_the_desktop_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            profile: Some("laptop".into()),
            stale_after_days: 3,
            run_on_battery: true,
            ..Settings::default()
        };
        let path = write(dir.path(), &settings).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        assert_eq!(igotchuu_dbus::settings::read(dir.path()).unwrap(), settings);
        write(dir.path(), &Settings::default()).unwrap();
        assert_eq!(
            igotchuu_dbus::settings::read(dir.path()).unwrap(),
            Settings::default()
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
