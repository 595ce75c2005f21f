//! The helper's exit codes. Each outcome has its own, so that systemd units,
//! scripts and monitoring can tell them apart.

use igotchuu_dbus::Outcome;

/// Backup completed: restic saved a snapshot of everything. Forget, prune
/// or check completed (check: no errors were found). `forget --dry-run`
/// showed what would go.
pub const COMPLETED: u8 = 0;
/// Backup failed: no snapshot was saved. Forget, prune or check failed;
/// for check, it could not run, or it found damage (the reason says which,
/// and what to do).
pub const FAILED: u8 = 1;
/// Backup completed with warnings: a snapshot was saved, but some files
/// could not be read and are missing from it. Same as restic's own code.
pub const COMPLETED_WITH_WARNINGS: u8 = 3;
/// Wrong command-line usage, as clap exits; also a restore's argument that
/// names no snapshot, or a path outside it.
pub const USAGE: u8 = 2;
/// A scheduled run was postponed: a run condition (on battery, a metered
/// connection) did not clear in time, and nothing ran. Not a failure; the
/// next scheduled run tries again.
pub const POSTPONED: u8 = 5;
/// `igotchuu watch` could not follow a backup: no system bus, Start
/// refused (polkit), or no run began in time (EX_UNAVAILABLE).
pub const UNAVAILABLE: u8 = 69;
/// `igotchuu watch` only: the backup ended, but how is unknown. The helper
/// left the bus without saying (an older helper, or it crashed), restic's
/// summary was not heard, and the history has no record that is provably
/// that run's (EX_PROTOCOL).
pub const OUTCOME_UNKNOWN: u8 = 76;
/// Another run held the lock, and did not end within `wait_timeout`
/// (EX_TEMPFAIL); or another helper owns the bus name.
pub const BUSY: u8 = 75;
/// The configuration was refused (EX_CONFIG); or `forget` was asked for
/// with no retention policy (keep_*) set. Nothing was done.
pub const CONFIG: u8 = 78;
/// Stopped on request (SIGINT, SIGTERM or D-Bus Stop), also while waiting
/// for the run lock or the run conditions: no snapshot was saved.
pub const STOPPED: u8 = 130;

/// The exit code for a run's outcome.
pub fn for_outcome(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Completed => COMPLETED,
        Outcome::CompletedWithWarnings => COMPLETED_WITH_WARNINGS,
        Outcome::Failed => FAILED,
        Outcome::Stopped => STOPPED,
        Outcome::Postponed => POSTPONED,
    }
}
