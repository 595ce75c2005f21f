//! The helper's persistent state: lock, snapshot journal, run history.

pub mod atomic;
pub mod damage;
pub mod history;
pub mod journal;
pub mod lock;
pub mod settings;

use std::path::PathBuf;

use igotchuu_dbus::DEFAULT_STATE_DIR;

/// The state directory: systemd's `StateDirectory=` passes it as
/// `$STATE_DIRECTORY`; otherwise the default.
pub fn state_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        // systemd passes a colon-separated list when several are configured.
        .and_then(|v| {
            v.to_str()
                .and_then(|s| s.split(':').next())
                .map(PathBuf::from)
        })
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}
