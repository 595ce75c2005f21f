//! Which history record, if any, is the run a client followed: the rule a
//! client uses when the helper left the bus without `BackupFinished`.
//!
//! A record counts only when it is *provably* that run's. Otherwise the
//! run's outcome is unknown, and the client says so: an older run's
//! failure, shown as this run's, is a lie.
//!
//! - The helper said when the run started (its `StartedAt` property): the
//!   record must have exactly that `started_at` (the helper writes the one
//!   value to both), must not end before it started, and must not have
//!   ended before the client saw the run live. A run's start second names
//!   it: should two records still share one (a run that failed at once,
//!   and the next started in the same second), the later of them is the
//!   run that was live last, the one the client followed.
//! - It did not (the original helper has no properties): the client knows
//!   a moment, on its own clock, at which the run was live (it heard
//!   `BackupStarted`, or a `Progress`, or read a live `Phase`). The record
//!   must cover that moment: started no later, finished no earlier, within
//!   [`CLOCK_SLACK`] for whole seconds. If the client heard `BackupStarted`
//!   itself, the record must also have started at most
//!   [`START_TOLERANCE`] before it. Runs of one helper never overlap (it
//!   holds a lock), so at most one record covers a moment; if more than one
//!   qualifies anyway, none counts.
//!
//! An older run ended before the moment; a later run started after it;
//! neither is ever taken.

use crate::history::{History, RunRecord};
use crate::Operation;

/// Whole seconds on both clocks: a time truncated to the second may read up
/// to this much early.
pub const CLOCK_SLACK: u64 = 1;
/// How long before `BackupStarted` a run's record may say it started: the
/// helper records the start, then takes its lock and announces the run.
pub const START_TOLERANCE: u64 = 5;

/// What a client knows about when the run it followed took place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// The helper's `StartedAt` (Unix seconds), if it said one.
    pub started_at: Option<u64>,
    /// When this client first knew the run was live (Unix seconds, its own
    /// clock).
    pub live_at: u64,
    /// Whether `live_at` is when this client heard `BackupStarted` (or,
    /// for another operation, `OperationStarted`).
    pub heard_start: bool,
    /// Which operation it was: only a record of that operation is its own
    /// (a forget that follows a backup in the same run may share its start).
    pub operation: Operation,
}

/// The record in `history` that is provably the run seen in `run`.
pub fn record_of_run<'a>(history: &'a History, run: &Sighting) -> Option<&'a RunRecord> {
    let mut candidates = history.runs.iter().filter(|r| is_this_run(r, run));
    if run.started_at.is_some_and(|t| t != 0) {
        // Named by its start: the latest record of that name (runs are
        // appended as they end).
        return candidates.next_back();
    }
    let first = candidates.next()?;
    // Two runs at one moment cannot both be this one: none is provably it.
    candidates.next().is_none().then_some(first)
}

/// Whether `record` is provably the run seen in `run`.
pub fn is_this_run(record: &RunRecord, run: &Sighting) -> bool {
    if record.operation != run.operation || record.finished_at < record.started_at {
        return false;
    }
    let ended_after = record.finished_at + CLOCK_SLACK >= run.live_at;
    if let Some(started_at) = run.started_at.filter(|&t| t != 0) {
        return record.started_at == started_at && ended_after;
    }
    let started_by_then = record.started_at <= run.live_at + CLOCK_SLACK;
    let started_just_before =
        !run.heard_start || run.live_at.saturating_sub(record.started_at) <= START_TOLERANCE;
    started_by_then && ended_after && started_just_before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    const T: u64 = 1_800_000_000;

    fn record(started_at: u64, finished_at: u64, outcome: Outcome) -> RunRecord {
        RunRecord {
            reason: format!("{outcome} at {started_at}"),
            places: vec!["/home".into()],
            ..RunRecord::new(crate::Operation::Backup, outcome, started_at, finished_at)
        }
    }

    fn history<const N: usize>(records: [RunRecord; N]) -> History {
        let mut h = History::default();
        for r in records {
            h.push(r);
        }
        h
    }

    fn heard_start_at(t: u64) -> Sighting {
        Sighting {
            started_at: None,
            live_at: t,
            heard_start: true,
            operation: crate::Operation::Backup,
        }
    }

    #[test]
    fn with_started_at_only_that_run_counts() {
        let this = record(T, T + 60, Outcome::Completed);
        let older = record(T - 600, T - 300, Outcome::Failed);
        let later = record(T + 120, T + 130, Outcome::Failed);
        let h = history([older.clone(), this.clone(), later.clone()]);
        let run = Sighting {
            started_at: Some(T),
            live_at: T + 3,
            heard_start: false,
            operation: crate::Operation::Backup,
        };
        assert_eq!(record_of_run(&h, &run), Some(&this));
        assert_eq!(record_of_run(&history([older, later]), &run), None);
        // A record that ends before it starts is nobody's.
        let broken = record(T, T - 1, Outcome::Completed);
        assert_eq!(record_of_run(&history([broken]), &run), None);
        // Nor one that ended before the run was seen live.
        let seen_later = Sighting {
            live_at: T + 120,
            ..run
        };
        assert_eq!(record_of_run(&history([this.clone()]), &seen_later), None);
        // Two runs that started in the same second: the later record.
        let quick = record(T, T, Outcome::Failed);
        assert_eq!(
            record_of_run(&history([quick.clone(), this.clone()]), &run),
            Some(&this)
        );
        let at_once = Sighting { live_at: T, ..run };
        assert_eq!(
            record_of_run(&history([this.clone(), quick.clone()]), &at_once),
            Some(&quick),
            "appended last, so ended last"
        );
    }

    #[test]
    fn without_started_at_the_record_must_cover_the_moment_it_was_live() {
        // The original helper: BackupStarted heard at T; the record (of a
        // helper that writes one) started a second before and ended later.
        let this = record(T - 1, T + 40, Outcome::CompletedWithWarnings);
        let run = heard_start_at(T);
        assert_eq!(record_of_run(&history([this.clone()]), &run), Some(&this));
        // The bug: an older, unrelated failure is never this run's ...
        let older = record(T - 320, T - 300, Outcome::Failed);
        assert_eq!(record_of_run(&history([older.clone()]), &run), None);
        // ... whether it comes before or after this run's own record.
        assert_eq!(
            record_of_run(&history([this.clone(), older.clone()]), &run),
            Some(&this)
        );
        assert_eq!(
            record_of_run(&history([older, this.clone()]), &run),
            Some(&this)
        );
        // A later run's record is not this run's either.
        let later = record(T + 50, T + 60, Outcome::Failed);
        assert_eq!(record_of_run(&history([later]), &run), None);
        // Nor one that ended just before it was heard to start.
        let just_before = record(T - 10, T - 2, Outcome::Failed);
        assert_eq!(record_of_run(&history([just_before]), &run), None);
    }

    #[test]
    fn a_heard_start_must_be_close_to_the_recorded_one() {
        // Covers the moment, but began long before BackupStarted was heard.
        let long_before = record(T - 3600, T + 10, Outcome::Completed);
        assert_eq!(
            record_of_run(&history([long_before.clone()]), &heard_start_at(T)),
            None
        );
        let edge = record(T - START_TOLERANCE, T + 10, Outcome::Completed);
        assert!(is_this_run(&edge, &heard_start_at(T)));
        let past_edge = record(T - START_TOLERANCE - 1, T + 10, Outcome::Completed);
        assert!(!is_this_run(&past_edge, &heard_start_at(T)));
        // Joined mid-run (no start heard): covering the moment is enough.
        let joined = Sighting {
            started_at: None,
            live_at: T,
            heard_start: false,
            operation: crate::Operation::Backup,
        };
        assert!(is_this_run(&long_before, &joined));
    }

    #[test]
    fn whole_seconds_on_either_side_are_tolerated() {
        // The client's second may be one ahead of the record's end, or the
        // record's start one ahead of the client's.
        assert!(is_this_run(
            &record(T + 1, T + 9, Outcome::Completed),
            &heard_start_at(T)
        ));
        assert!(is_this_run(
            &record(T - 3, T - 1, Outcome::Completed),
            &heard_start_at(T)
        ));
        assert!(!is_this_run(
            &record(T + 2, T + 9, Outcome::Completed),
            &heard_start_at(T)
        ));
    }

    #[test]
    fn only_a_record_of_the_same_operation_counts() {
        // A forget that followed the backup in the same run, with its start.
        let backup = record(T, T + 60, Outcome::Completed);
        let forget = RunRecord {
            operation: crate::Operation::Forget,
            ..record(T, T + 70, Outcome::Failed)
        };
        let run = Sighting {
            started_at: Some(T),
            live_at: T + 3,
            heard_start: false,
            operation: crate::Operation::Backup,
        };
        let h = history([backup.clone(), forget.clone()]);
        assert_eq!(record_of_run(&h, &run), Some(&backup));
        let forgetting = Sighting {
            operation: crate::Operation::Forget,
            live_at: T + 65,
            ..run
        };
        assert_eq!(record_of_run(&h, &forgetting), Some(&forget));
        let check = Sighting {
            operation: crate::Operation::Check,
            ..run
        };
        assert_eq!(record_of_run(&h, &check), None);
    }

    #[test]
    fn two_candidates_are_none() {
        let a = record(T - 1, T, Outcome::Completed);
        let b = record(T, T + 5, Outcome::Failed);
        assert_eq!(record_of_run(&history([a, b]), &heard_start_at(T)), None);
    }
}
