//! A postponed run in the history: its record, and whether another run
//! has done its work since.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use igotchuu_dbus::history::{self, RunRecord, ADMIN_HISTORY_FILE_NAME};
use igotchuu_dbus::{Operation, Outcome, RunCondition};

use super::decision;
use crate::config::Config;
use crate::state;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The record of `operation` postponed at `at` for `conditions`.
pub fn record(
    config: &Config,
    operation: Operation,
    conditions: &[RunCondition],
    at: u64,
) -> RunRecord {
    RunRecord {
        reason: decision::postponed_reason(operation, conditions),
        profile: config.profile.clone(),
        places: config
            .places
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        conditions: conditions.to_vec(),
        ..RunRecord::new(operation, Outcome::Postponed, at, at)
    }
}

/// Appends `record` to the history in `state_dir`. A history that cannot
/// be written does not stop the wait: it is logged.
pub fn append(state_dir: &Path, record: RunRecord) {
    if let Err(e) = state::history::append(state_dir, record) {
        tracing::error!(
            "cannot record the postponed run in {}: {e}",
            state_dir.display()
        );
    }
}

/// Whether a run of `operation` for this profile did the work since `since`
/// (see [`decision::satisfied_since`]). An unreadable history says no.
pub fn satisfied_since(
    state_dir: &Path,
    operation: Operation,
    profile: Option<&str>,
    since: u64,
) -> bool {
    let path = state_dir.join(ADMIN_HISTORY_FILE_NAME);
    match history::read_file(&path) {
        Ok(h) => decision::satisfied_since(&h, operation, profile, since),
        Err(e) => {
            tracing::info!("run conditions: cannot read the run history: {e}");
            false
        }
    }
}
