//! What the tray reminded the person of, and when: so that a warning that
//! stays true (no backup for days, a postponed run) is a notification at
//! most once a day, across restarts. Kept in the user's own state
//! directory, `$XDG_STATE_HOME/igotchuu/reminders.json` (by default
//! `~/.local/state/igotchuu/`), never in the helper's.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::outlook::DAY;

/// File name inside the user's igotchuu state directory.
pub const REMINDERS_FILE_NAME: &str = "reminders.json";
/// The file is a few lines; anything larger is not ours.
const MAX_BYTES: u64 = 64 << 10;

/// What may be reminded of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// No backup saved a snapshot for longer than `stale_after_days`.
    Stale,
    /// A scheduled run is postponed.
    Postponed,
}

impl Reminder {
    fn key(self) -> &'static str {
        match self {
            Reminder::Stale => "stale",
            Reminder::Postponed => "postponed",
        }
    }
}

/// When each reminder was last shown (Unix seconds), as kept on disk.
#[derive(Debug, Clone)]
pub struct Reminders {
    path: PathBuf,
    shown: BTreeMap<String, u64>,
}

/// The user's igotchuu state directory: `$XDG_STATE_HOME/igotchuu`, else
/// `$HOME/.local/state/igotchuu`; `None` without either.
pub fn user_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
            Some(PathBuf::from(home).join(".local/state"))
        })?;
    Some(base.join("igotchuu"))
}

impl Reminders {
    /// The reminders kept in `dir`; none yet when the file is missing or
    /// unreadable (then a reminder may come twice in a day, which is
    /// better than never).
    pub fn load(dir: &Path) -> Self {
        let path = dir.join(REMINDERS_FILE_NAME);
        let shown = match read(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}; starting afresh", path.display());
                BTreeMap::new()
            }
        };
        Reminders { path, shown }
    }

    /// Whether `reminder` may be shown at `now`: never shown, or a day
    /// ago or longer. A time in the future (the clock went back) counts
    /// as long ago.
    pub fn due(&self, reminder: Reminder, now: u64) -> bool {
        match self.shown.get(reminder.key()) {
            None => true,
            Some(&at) => at > now || now - at >= DAY,
        }
    }

    /// Remembers that `reminder` was shown at `now`, on disk at once.
    pub fn shown(&mut self, reminder: Reminder, now: u64) {
        self.shown.insert(reminder.key().to_owned(), now);
        if let Err(e) = self.save() {
            tracing::warn!(
                "cannot save {} ({e}); a reminder may come again today",
                self.path.display()
            );
        }
    }

    fn save(&self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(&self.shown).map_err(io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, &self.path)
    }
}

fn read(path: &Path) -> io::Result<BTreeMap<String, u64>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES)
        .read_to_end(&mut bytes)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn once_a_day_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("igotchuu");
        let mut r = Reminders::load(&state);
        assert!(r.due(Reminder::Stale, NOW));
        r.shown(Reminder::Stale, NOW);
        assert!(!r.due(Reminder::Stale, NOW + 60));
        assert!(r.due(Reminder::Postponed, NOW + 60), "each on its own");
        // A restart reads what was shown.
        let again = Reminders::load(&state);
        assert!(!again.due(Reminder::Stale, NOW + DAY - 1));
        assert!(again.due(Reminder::Stale, NOW + DAY));
        assert!(
            again.due(Reminder::Stale, NOW - 3600),
            "the clock went back"
        );
        // A broken file is a fresh start, not a failure.
        std::fs::write(state.join(REMINDERS_FILE_NAME), b"{").unwrap();
        assert!(Reminders::load(&state).due(Reminder::Stale, NOW));
    }
}
