//! What a follower knows, what it is told, and what it tells.

use std::collections::VecDeque;

use crate::history::{History, RunRecord};
use crate::signal::{HelperSignal, Properties};
use crate::{ItemError, Operation, Outcome, Phase, Progress, Summary};

/// How many item errors of one run a follower keeps: the latest ones. The
/// rest are counted in [`State::errors_not_listed`]. (A history record
/// keeps the first [`ITEM_ERRORS_RECORDED`](crate::history::ITEM_ERRORS_RECORDED).)
pub const ITEM_ERRORS_FOLLOWED: usize = 500;

/// Why a run's outcome is unknown: its helper left without saying how it
/// ended, restic's summary was not heard, and no history record is
/// provably that run's.
pub const UNKNOWN_END_REASON: &str = "The backup helper did not say how the backup ended, \
     and its history has no record of this run. See the helper's log.";

/// As [`UNKNOWN_END_REASON`], for an operation other than a backup.
pub fn unknown_end_reason(operation: Operation) -> String {
    match operation {
        Operation::Backup => UNKNOWN_END_REASON.to_owned(),
        other => format!(
            "The backup helper did not say how the {} ended, and its history has no \
             record of it. See the helper's log.",
            operation_noun(other)
        ),
    }
}

/// "backup", "forget", "prune", "repository check": what people call it.
pub fn operation_noun(operation: Operation) -> &'static str {
    match operation {
        Operation::Backup => "backup",
        Operation::Forget => "removal of old snapshots",
        Operation::Prune => "removal of unused data",
        Operation::Check => "repository check",
        Operation::Restore => "restore",
    }
}

/// Everything a client knows about the helper.
///
/// The run fields (`phase` to `summary`) describe the current run, or the
/// latest one this client saw: they are kept after it ends, with `phase`
/// back to `None`, so that a window can still show its numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Whether the system bus is reachable. While it is not, nothing below
    /// is current.
    pub bus_available: bool,
    /// Whether the helper owns `com.nyantec.IGotChuu`: a run is on, or it
    /// was started on demand and waits for `Start`.
    pub helper_present: bool,
    /// What the run is doing; `None` when no run is on.
    pub phase: Option<Phase>,
    /// restic's latest report; all zero before its first.
    pub progress: Progress,
    /// When the run started, in seconds since the Unix epoch: the helper's
    /// `StartedAt`, or, from a helper without it, when this client heard
    /// `BackupStarted`; 0 if unknown.
    pub started_at: u64,
    /// The configuration profile of the run; empty for none.
    pub profile: String,
    /// The paths the run backs up.
    pub places: Vec<String>,
    /// Files and folders restic could not read in this run, all of them.
    pub error_count: u64,
    /// The latest [`ITEM_ERRORS_FOLLOWED`] of them, oldest first.
    pub item_errors: VecDeque<ItemError>,
    /// Item errors of this run that are not in `item_errors`: folded by the
    /// helper's rate limit, or dropped for the bound.
    pub errors_not_listed: u64,
    /// restic's summary, once `BackupComplete` came.
    pub summary: Option<Summary>,
    /// The summary came without `data_added` (the original helper's
    /// thirteen arguments): `summary.data_added` is 0 and means nothing.
    pub data_added_unknown: bool,
    /// How the latest backup this client saw end ended (a postponed one
    /// never ran, and is not it).
    pub last_finished: Option<Finished>,
    /// The operation under way, as the helper said it (its `Operation`
    /// property or `OperationStarted`); `None` when it did not say, or none
    /// is under way. See [`State::running_operation`].
    pub operation: Option<Operation>,
}

impl State {
    /// Whether a run is on.
    pub fn running(&self) -> bool {
        self.phase.is_some()
    }

    /// The operation under way, if a run is on: as the helper said, else
    /// as its phase tells (a helper that does not say runs backups only).
    pub fn running_operation(&self) -> Option<Operation> {
        let phase = self.phase?;
        Some(self.operation.unwrap_or_else(|| operation_of_phase(phase)))
    }
}

/// The operation a phase belongs to; the shared phases (preparing,
/// stopping, cleaning up) are a backup's unless the helper says otherwise.
pub fn operation_of_phase(phase: Phase) -> Operation {
    match phase {
        Phase::Forgetting => Operation::Forget,
        Phase::Pruning => Operation::Prune,
        Phase::Checking => Operation::Check,
        Phase::Restoring => Operation::Restore,
        _ => Operation::Backup,
    }
}

/// How a run of one operation ended: what a notification needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Which operation ended; the fields below that only backups have
    /// (summary, places, error count) are empty for the others.
    pub operation: Operation,
    /// `None`: nobody can say (see [`UNKNOWN_END_REASON`]).
    pub outcome: Option<Outcome>,
    /// One sentence for people; may be empty for a plain success.
    pub reason: String,
    /// restic's summary, when it saved a snapshot.
    pub summary: Option<Summary>,
    /// As [`State::data_added_unknown`].
    pub data_added_unknown: bool,
    /// Seconds since the Unix epoch; 0 if unknown.
    pub started_at: u64,
    /// Seconds since the Unix epoch: from the history file, or when this
    /// client heard of the end.
    pub finished_at: u64,
    /// Files and folders restic could not read.
    pub error_count: u64,
    pub places: Vec<String>,
}

impl Finished {
    /// How a run recorded in the history file ended.
    pub fn from_record(record: &RunRecord) -> Self {
        Finished {
            operation: record.operation,
            outcome: Some(record.outcome),
            reason: record.reason.clone(),
            summary: record.summary.clone(),
            data_added_unknown: false,
            started_at: record.started_at,
            finished_at: record.finished_at,
            error_count: record.error_count,
            places: record.places.clone(),
        }
    }

    /// The summary's `data_added`, when the helper said it.
    pub fn data_added(&self) -> Option<u64> {
        let s = self.summary.as_ref()?;
        (!self.data_added_unknown).then_some(s.data_added)
    }
}

/// What changed, as a [`Follower`](super::Follower) reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The state changed: read [`Follower::state`](super::Follower::state).
    State,
    /// One more file or folder restic could not read; it is also the last
    /// entry of [`State::item_errors`] by now.
    ItemError(ItemError),
    /// A run of an operation ended ([`Finished::operation`] says which).
    /// Exactly once for each run this client saw running, also when the
    /// signal was missed (the bus restarted, the helper crashed, or it is
    /// the original helper, which never sends one). Also for a postponed
    /// operation, which never ran.
    Finished(Finished),
}

/// Something a client heard or found out.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Connected to the system bus.
    BusUp,
    /// Lost the system bus, or could not reach it.
    BusLost,
    /// The helper owns its name; its properties, read at once (all `None`
    /// when the read failed or it has none). `history` is the history
    /// file, read when [`Follower::wants_history`] said so.
    HelperPresent {
        properties: Properties,
        history: Option<History>,
    },
    /// Nobody owns the helper's name (any more). `history` as above.
    HelperGone {
        history: Option<History>,
    },
    Signal(HelperSignal),
}
