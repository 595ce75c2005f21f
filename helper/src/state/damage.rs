//! The damage the last repository check found, kept until a check passes.
//!
//! A scheduled prune does not run while it is there: prune rewrites packs
//! and deletes what the index says nothing needs, and on a damaged
//! repository that can destroy data a repair could still save. The check's
//! own reason already tells people not to prune; the weekly timer must not
//! do it behind their back. A prune started by hand still runs.

use std::io;
use std::path::Path;

use super::atomic;

/// In the state directory; root's alone.
pub const FILE_NAME: &str = "damage";
/// The reason is one sentence; more is not ours.
const MAX_BYTES: u64 = 16 * 1024;

/// Keeps `reason` (what the check said) until [`clear`].
pub fn record(state_dir: &Path, reason: &str) -> io::Result<()> {
    atomic::write(&state_dir.join(FILE_NAME), reason.as_bytes(), 0o600)
}

/// A check passed: the repository is intact again.
pub fn clear(state_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(state_dir.join(FILE_NAME)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What the last check found, if it found damage that no check has cleared
/// since. An unreadable marker counts as damage: better a prune too few.
pub fn found(state_dir: &Path) -> Option<String> {
    match atomic::read_bounded(&state_dir.join(FILE_NAME), MAX_BYTES) {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Some(format!("the damage marker cannot be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_stays_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(found(dir.path()), None);
        clear(dir.path()).unwrap();
        record(dir.path(), "The repository check found damage: pack 1a2b").unwrap();
        assert_eq!(
            found(dir.path()).as_deref(),
            Some("The repository check found damage: pack 1a2b")
        );
        clear(dir.path()).unwrap();
        assert_eq!(found(dir.path()), None);
    }
}
