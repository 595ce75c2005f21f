//! Run conditions for scheduled runs: not on battery (UPower) and not over
//! a metered connection to a network repository (NetworkManager), unless
//! the configuration allows it. A scheduled run that finds a condition
//! unmet is recorded as postponed and waits, without the run lock or the
//! bus name, until the condition clears.
//!
//! Stub: agent B implements it (see /tmp/igotchuu-brief/issue12.md).

use std::path::Path;

use igotchuu_dbus::{Operation, RunCondition};

use crate::config::Config;

/// What the gate decided.
#[derive(Debug)]
pub enum Gate {
    /// Go ahead. The conditions that are unmet but overridden, because the
    /// operation was started by hand: the run says so and records them.
    Go { overridden: Vec<RunCondition> },
    /// A postponed scheduled run has nothing left to do (a backup completed
    /// while it waited), or the conditions did not clear in time: exit
    /// with this code.
    Exit(u8),
}

/// Decides whether `operation` may run now; for a `scheduled` run with a
/// condition unmet, records it as postponed in `state_dir` and waits.
/// Called on the helper's runtime after the mount namespace is private and
/// before the run lock is taken (a waiting run must block nobody); for a
/// Start call (by hand) after the call was accepted, to learn what it
/// overrides.
pub async fn gate(
    _config: &Config,
    _operation: Operation,
    _scheduled: bool,
    _state_dir: &Path,
) -> Gate {
    Gate::Go {
        overridden: Vec::new(),
    }
}
