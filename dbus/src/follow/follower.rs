//! The follower's rules: each input, and what it changes.

use std::collections::VecDeque;

use super::attribution::{record_of_run, Sighting};
use super::state::{
    operation_of_phase, unknown_end_reason, Finished, Input, State, Update, ITEM_ERRORS_FOLLOWED,
};
use crate::history::History;
use crate::signal::{HelperSignal, Properties};
use crate::{Operation, Outcome, Phase, Progress};

/// Follows the helper: keeps a [`State`] current and says what changed.
/// See the [module documentation](super).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Follower {
    state: State,
    /// The run that has begun and not yet ended, as far as this client
    /// knows, and when it was seen: it gets exactly one [`Update::Finished`].
    open_run: Option<Sighting>,
    /// Error signals plus folded counts of this run.
    errors_heard: u64,
    /// This helper has a `Phase` property: then it, not `Progress`, says
    /// what the run does.
    phase_from_property: bool,
    /// `BackupComplete` was heard in this run: restic saved a snapshot.
    complete_heard: bool,
}

impl Follower {
    /// What is known now.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The open run, as it was seen.
    #[cfg(test)]
    pub(super) fn open_run(&self) -> Option<Sighting> {
        self.open_run
    }

    /// Whether a run is open: then the driver reads the history for the
    /// next [`Input::HelperPresent`] or [`Input::HelperGone`], which may
    /// end it unheard.
    pub fn wants_history(&self) -> bool {
        self.open_run.is_some()
    }

    /// Applies `input`, heard at `now` (seconds since the Unix epoch), and
    /// appends what a client should hear to `out`.
    pub fn apply(&mut self, input: Input, now: u64, out: &mut VecDeque<Update>) {
        let before = self.state.clone();
        match input {
            Input::BusUp => self.state.bus_available = true,
            Input::BusLost => {
                // The open run stays open: the helper outlives the bus, and
                // when it is back, its properties or the history tell.
                self.state.bus_available = false;
                self.state.helper_present = false;
            }
            Input::HelperPresent {
                properties,
                history,
            } => self.present(properties, history.as_ref(), now, out),
            Input::HelperGone { history } => {
                self.state.helper_present = false;
                self.close_unseen(history.as_ref(), now, out);
                self.state.phase = None;
                // The next owner may be another kind of helper.
                self.phase_from_property = false;
            }
            Input::Signal(signal) => self.signal(signal, now, out),
        }
        if self.state != before {
            out.push_back(Update::State);
        }
    }

    fn present(
        &mut self,
        properties: Properties,
        history: Option<&History>,
        now: u64,
        out: &mut VecDeque<Update>,
    ) {
        self.state.bus_available = true;
        self.state.helper_present = true;
        let live = properties.phase.flatten().is_some();
        let operation = self.operation_of(&properties);
        // Same run: it is still on, it is the one this client saw begin
        // (or saw begin before learning when), of the same operation.
        let same_run = live
            && self.open_run.is_some_and(|r| {
                (r.started_at.is_none() || properties.started_at == r.started_at)
                    && operation.is_none_or(|op| op == r.operation)
            });
        // Unknown when the properties could not be read (or the helper has
        // none): then its signals or its leaving will tell.
        if properties.phase.is_some() && !same_run {
            self.close_unseen(history, now, out);
        }
        let said_start = properties.started_at.filter(|&t| t != 0);
        let new_run = properties
            .started_at
            .is_some_and(|t| t != 0 && t != self.state.started_at);
        if new_run {
            self.begin_run();
        }
        self.properties(properties);
        if self.state.running() && self.open_run.is_none() {
            let operation = self.state.running_operation().unwrap_or_default();
            self.open(now, false, said_start, operation);
        }
    }

    /// The operation that `p` says runs, if it says one runs: its
    /// `Operation`, else what its phase tells.
    fn operation_of(&self, p: &Properties) -> Option<Operation> {
        match p.operation {
            Some(Some(op)) => Some(op),
            _ => p.phase.flatten().map(operation_of_phase),
        }
    }

    fn signal(&mut self, signal: HelperSignal, now: u64, out: &mut VecDeque<Update>) {
        let s = &mut self.state;
        match signal {
            HelperSignal::BackupStarted => {
                self.begin_run();
                // Until StartedAt says otherwise (if the helper has it).
                self.state.started_at = now;
                // Running from now on, even before the Phase property says so.
                self.state.phase.get_or_insert(Phase::Preparing);
                self.open(now, true, None, Operation::Backup);
            }
            HelperSignal::Progress(p) => {
                s.error_count = s.error_count.max(p.error_count);
                s.progress = p;
                // A helper without a Phase property: its reports are the
                // only sign that it is backing up.
                if !self.phase_from_property {
                    s.phase = Some(Phase::BackingUp);
                    if self.open_run.is_none() {
                        self.open(now, false, None, Operation::Backup);
                    }
                }
            }
            HelperSignal::Error(e) => {
                self.errors_heard += 1;
                s.error_count = s.error_count.max(self.errors_heard);
                if s.item_errors.len() >= ITEM_ERRORS_FOLLOWED {
                    s.item_errors.pop_front();
                    s.errors_not_listed += 1;
                }
                s.item_errors.push_back(e.clone());
                out.push_back(Update::ItemError(e));
            }
            HelperSignal::ErrorsFolded(n) => {
                self.errors_heard = self.errors_heard.saturating_add(n);
                s.errors_not_listed = s.errors_not_listed.saturating_add(n);
                s.error_count = s.error_count.max(self.errors_heard);
            }
            HelperSignal::BackupComplete {
                summary,
                data_added_known,
            } => {
                s.summary = Some(summary);
                s.data_added_unknown = !data_added_known;
                self.complete_heard = true;
            }
            HelperSignal::BackupFinished { outcome, reason } => {
                // An outcome from a newer helper is a failure, not a success
                // (drivers log it: see HelperSignal::unknown_outcome).
                let outcome = outcome.parse().unwrap_or(Outcome::Failed);
                s.phase = None;
                if self.open_run.take().is_some() {
                    let finished = self.finished(Operation::Backup, Some(outcome), reason, now);
                    self.end(finished, out);
                }
            }
            HelperSignal::PropertiesChanged(p) => {
                let starts = p.phase.flatten().is_some() && self.open_run.is_none();
                let said_start = p.started_at.filter(|&t| t != 0);
                self.properties(p);
                if starts {
                    let operation = self.state.running_operation().unwrap_or_default();
                    self.open(now, false, said_start, operation);
                }
            }
            HelperSignal::OperationStarted { operation } => {
                // A name from a newer helper: its other signals still tell.
                if let Ok(op) = operation.parse() {
                    self.operation_started(op);
                }
            }
            HelperSignal::OperationFinished {
                operation,
                outcome,
                reason,
            } => {
                if let Ok(op) = operation.parse() {
                    let outcome = outcome.parse().unwrap_or(Outcome::Failed);
                    self.operation_finished(op, outcome, reason, now, out);
                }
            }
        }
    }

    /// `OperationStarted`: which operation the next phases belong to. It
    /// does not mean that one runs: a postponed operation sends only this
    /// and its `OperationFinished`. A run opens when the phase goes live
    /// (`BackupStarted` for a backup).
    fn operation_started(&mut self, op: Operation) {
        self.state.operation = Some(op);
    }

    /// `OperationFinished`: ends any operation but a backup (which ends on
    /// `BackupFinished`), and a postponed backup, which never began.
    fn operation_finished(
        &mut self,
        op: Operation,
        outcome: Outcome,
        reason: String,
        now: u64,
        out: &mut VecDeque<Update>,
    ) {
        self.state.operation = None;
        let open = self.open_run.filter(|r| r.operation == op);
        if op == Operation::Backup && open.is_none() && outcome != Outcome::Postponed {
            // Ended by BackupFinished already.
            return;
        }
        if open.is_some() {
            self.open_run = None;
        }
        self.state.phase = None;
        let mut finished = self.finished(op, Some(outcome), reason, now);
        if open.is_none() {
            // Never began (postponed), or began unseen: not the numbers of
            // the run this client followed.
            finished.started_at = 0;
            finished.summary = None;
            finished.data_added_unknown = false;
            finished.error_count = 0;
        }
        self.end(finished, out);
    }

    /// A run is open from `now`, when it was seen live; `started_at` is the
    /// helper's `StartedAt`, if it said it.
    fn open(&mut self, now: u64, heard_start: bool, started_at: Option<u64>, op: Operation) {
        self.open_run = Some(Sighting {
            started_at,
            live_at: now,
            heard_start,
            operation: op,
        });
    }

    /// Forgets the previous run's numbers.
    fn begin_run(&mut self) {
        let s = &mut self.state;
        s.progress = Progress::default();
        s.error_count = 0;
        s.item_errors.clear();
        s.errors_not_listed = 0;
        s.summary = None;
        s.data_added_unknown = false;
        self.errors_heard = 0;
        self.complete_heard = false;
    }

    fn properties(&mut self, p: Properties) {
        let s = &mut self.state;
        if let Some(phase) = p.phase {
            s.phase = phase;
            self.phase_from_property = true;
        }
        if let Some(progress) = p.progress {
            s.progress = progress;
        }
        if let Some(t) = p.started_at {
            s.started_at = t;
            if let Some(run) = self.open_run.as_mut().filter(|_| t != 0) {
                run.started_at = Some(t);
            }
        }
        if let Some(profile) = p.profile {
            s.profile = profile;
        }
        if let Some(places) = p.places {
            s.places = places;
        }
        if let Some(n) = p.error_count {
            s.error_count = s.error_count.max(n);
        }
        if let Some(op) = p.operation {
            s.operation = op;
        }
    }

    /// Ends the open run whose `BackupFinished` this client did not hear:
    /// from the history record that is provably its own, else from
    /// restic's summary if it was heard, else as unknown.
    fn close_unseen(&mut self, history: Option<&History>, now: u64, out: &mut VecDeque<Update>) {
        let Some(run) = self.open_run.take() else {
            return;
        };
        let record = history.and_then(|h| record_of_run(h, &run));
        let finished = match record {
            Some(r) => {
                if let Some(s) = &r.summary {
                    self.state.summary = Some(s.clone());
                    self.state.data_added_unknown = false;
                }
                Finished::from_record(r)
            }
            None if self.complete_heard && run.operation == Operation::Backup => {
                let outcome = if self.state.error_count > 0 {
                    Outcome::CompletedWithWarnings
                } else {
                    Outcome::Completed
                };
                let id = self
                    .state
                    .summary
                    .as_ref()
                    .map_or("", |s| s.snapshot_id.as_str());
                let reason = if id.is_empty() {
                    "restic saved a snapshot.".to_owned()
                } else {
                    format!("restic saved snapshot {id}.")
                };
                self.finished(Operation::Backup, Some(outcome), reason, now)
            }
            None => self.finished(run.operation, None, unknown_end_reason(run.operation), now),
        };
        self.state.phase = None;
        self.end(finished, out);
    }

    /// The end of the current run, as this client heard it.
    fn finished(
        &self,
        operation: Operation,
        outcome: Option<Outcome>,
        reason: String,
        now: u64,
    ) -> Finished {
        let s = &self.state;
        let backup = operation == Operation::Backup;
        Finished {
            operation,
            outcome,
            reason,
            // The backup's numbers, which another operation does not have.
            summary: s.summary.clone().filter(|_| backup),
            data_added_unknown: s.data_added_unknown && backup,
            started_at: s.started_at,
            finished_at: now,
            error_count: if backup { s.error_count } else { 0 },
            places: s.places.clone(),
        }
    }

    fn end(&mut self, finished: Finished, out: &mut VecDeque<Update>) {
        let ran_a_backup =
            finished.operation == Operation::Backup && finished.outcome != Some(Outcome::Postponed);
        if ran_a_backup {
            self.state.last_finished = Some(finished.clone());
        }
        out.push_back(Update::Finished(finished));
    }
}
