//! What the desktop knows about the helper, and how each thing it hears
//! changes that. Pure: no bus, no clock, no files; [`crate::watch`] feeds it.

use std::collections::VecDeque;

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::signal::{HelperSignal, Properties};
use igotchuu_dbus::{ItemError, Outcome, Phase, Progress, Summary};

/// How many item errors of one run the state keeps: the latest ones. The
/// rest are counted in [`DesktopState::errors_not_listed`].
pub const ITEM_ERRORS_KEPT: usize = 500;

/// Why a run counts as failed when the helper vanished without saying how
/// it ended, and the history has no record of it either.
pub const VANISHED_REASON: &str = "The backup helper stopped without saying how the backup ended.";

/// Everything the tray and the window show about the helper.
///
/// The run fields (`phase` to `summary`) describe the current run, or the
/// latest one this client saw: they are kept after it ends, with `phase`
/// back to `None`, so that a window can still show its numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesktopState {
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
    /// When the run started, in seconds since the Unix epoch; 0 if unknown.
    pub started_at: u64,
    /// The configuration profile of the run; empty for none.
    pub profile: String,
    /// The paths the run backs up.
    pub places: Vec<String>,
    /// Files and folders restic could not read in this run, all of them.
    pub error_count: u64,
    /// The latest [`ITEM_ERRORS_KEPT`] of them, oldest first.
    pub item_errors: VecDeque<ItemError>,
    /// Item errors of this run that are not in `item_errors`: folded by the
    /// helper's rate limit, or dropped for the bound.
    pub errors_not_listed: u64,
    /// restic's summary, once `BackupComplete` came.
    pub summary: Option<Summary>,
    /// How the latest run this client saw ended.
    pub last_finished: Option<Finished>,
}

/// How a run ended: what a notification needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub outcome: Outcome,
    /// One sentence for people; may be empty for a plain success.
    pub reason: String,
    /// restic's summary, when it saved a snapshot.
    pub summary: Option<Summary>,
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
            outcome: record.outcome,
            reason: record.reason.clone(),
            summary: record.summary.clone(),
            started_at: record.started_at,
            finished_at: record.finished_at,
            error_count: record.error_count,
            places: record.places.clone(),
        }
    }
}

/// What changed, as [`Watcher::next`](crate::watch::Watcher::next) reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The state changed: read [`Watcher::state`](crate::watch::Watcher::state).
    State,
    /// One more file or folder restic could not read; it is also the last
    /// entry of [`DesktopState::item_errors`] by now.
    ItemError(ItemError),
    /// A run ended. Exactly once for each run this client saw running, also
    /// when the signal was missed (the bus restarted, the helper crashed):
    /// then the history file or [`VANISHED_REASON`] says how.
    Finished(Finished),
}

/// Something the watcher heard or found out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// Connected to the system bus.
    BusUp,
    /// Lost the system bus, or could not reach it.
    BusLost,
    /// The helper owns its name; its properties, read at once. `record` is
    /// the history's record of the run this client saw open, if any.
    HelperPresent {
        properties: Properties,
        record: Option<RunRecord>,
    },
    /// Nobody owns the helper's name.
    HelperGone {
        record: Option<RunRecord>,
    },
    Signal(HelperSignal),
}

impl DesktopState {
    /// Whether a run is on.
    pub fn running(&self) -> bool {
        self.phase.is_some()
    }
}

/// The [`DesktopState`] with the bookkeeping a client does not see. It
/// derefs to the state, so that the rules below read as rules about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tracker {
    state: DesktopState,
    /// The `started_at` of a run that has begun but not yet ended, as far
    /// as this client knows: it gets exactly one [`Update::Finished`].
    open_run: Option<u64>,
    /// Error signals plus folded counts of this run.
    errors_heard: u64,
}

impl std::ops::Deref for Tracker {
    type Target = DesktopState;
    fn deref(&self) -> &DesktopState {
        &self.state
    }
}

impl std::ops::DerefMut for Tracker {
    fn deref_mut(&mut self) -> &mut DesktopState {
        &mut self.state
    }
}

impl Tracker {
    /// The `started_at` of the run this client saw begin and not yet end.
    pub(crate) fn open_run(&self) -> Option<u64> {
        self.open_run
    }

    /// Applies `input`, heard at `now` (seconds since the Unix epoch), and
    /// appends what a client should hear to `out`.
    pub(crate) fn apply(&mut self, input: Input, now: u64, out: &mut VecDeque<Update>) {
        let before = self.clone();
        match input {
            Input::BusUp => self.bus_available = true,
            Input::BusLost => {
                // The open run stays open: the helper outlives the bus, and
                // when it is back, its properties or the history tell.
                self.bus_available = false;
                self.helper_present = false;
            }
            Input::HelperPresent { properties, record } => {
                self.bus_available = true;
                self.helper_present = true;
                // Same run: it is still on, and it is the one this client saw
                // begin (or saw begin before learning when).
                let same_run = properties.phase.flatten().is_some()
                    && (self.open_run == Some(0) || properties.started_at == self.open_run);
                // Unknown when the properties could not be read: then the
                // helper's leaving or its next signals will tell.
                let phase_known = properties.phase.is_some();
                if phase_known && !same_run {
                    self.close_unseen(record.as_ref(), now, out);
                }
                let new_run = properties
                    .started_at
                    .is_some_and(|t| t != 0 && t != self.started_at);
                if new_run {
                    self.begin_run();
                }
                self.apply_properties(properties);
                if self.phase.is_some() && self.open_run.is_none() {
                    self.open_run = Some(self.started_at);
                }
            }
            Input::HelperGone { record } => {
                self.helper_present = false;
                self.close_unseen(record.as_ref(), now, out);
                self.phase = None;
            }
            Input::Signal(signal) => self.apply_signal(signal, now, out),
        }
        if *self != before {
            out.push_back(Update::State);
        }
    }

    fn apply_signal(&mut self, signal: HelperSignal, now: u64, out: &mut VecDeque<Update>) {
        match signal {
            HelperSignal::BackupStarted => {
                self.begin_run();
                // Running from now on, even before the Phase property says so.
                self.phase.get_or_insert(Phase::Preparing);
                self.open_run = Some(self.started_at);
            }
            HelperSignal::Progress(p) => {
                self.error_count = self.error_count.max(p.error_count);
                self.progress = p;
            }
            HelperSignal::Error(e) => {
                self.errors_heard += 1;
                self.error_count = self.error_count.max(self.errors_heard);
                if self.item_errors.len() >= ITEM_ERRORS_KEPT {
                    self.item_errors.pop_front();
                    self.errors_not_listed += 1;
                }
                self.item_errors.push_back(e.clone());
                out.push_back(Update::ItemError(e));
            }
            HelperSignal::ErrorsFolded(n) => {
                self.errors_heard = self.errors_heard.saturating_add(n);
                self.errors_not_listed = self.errors_not_listed.saturating_add(n);
                self.error_count = self.error_count.max(self.errors_heard);
            }
            HelperSignal::BackupComplete(summary) => self.summary = Some(summary),
            HelperSignal::BackupFinished { outcome, reason } => {
                // An outcome from a newer helper is a failure, not a success.
                let outcome = outcome.parse().unwrap_or_else(|e| {
                    tracing::warn!(
                        "unknown outcome from the backup helper ({e}); taking it as failed"
                    );
                    Outcome::Failed
                });
                self.phase = None;
                if self.open_run.take().is_some() {
                    let finished = Finished {
                        outcome,
                        reason,
                        summary: self.summary.clone(),
                        started_at: self.started_at,
                        finished_at: now,
                        error_count: self.error_count,
                        places: self.places.clone(),
                    };
                    self.last_finished = Some(finished.clone());
                    out.push_back(Update::Finished(finished));
                }
            }
            HelperSignal::PropertiesChanged(p) => {
                let starts = p.phase.flatten().is_some() && self.open_run.is_none();
                self.apply_properties(p);
                if starts {
                    self.open_run = Some(self.started_at);
                }
            }
        }
    }

    /// Forgets the previous run's numbers.
    fn begin_run(&mut self) {
        self.progress = Progress::default();
        self.error_count = 0;
        self.errors_heard = 0;
        self.item_errors.clear();
        self.errors_not_listed = 0;
        self.summary = None;
    }

    fn apply_properties(&mut self, p: Properties) {
        if let Some(phase) = p.phase {
            self.phase = phase;
        }
        if let Some(progress) = p.progress {
            self.progress = progress;
        }
        if let Some(t) = p.started_at {
            self.started_at = t;
            if self.open_run == Some(0) {
                self.open_run = Some(t);
            }
        }
        if let Some(profile) = p.profile {
            self.profile = profile;
        }
        if let Some(places) = p.places {
            self.places = places;
        }
        if let Some(n) = p.error_count {
            self.error_count = self.error_count.max(n);
        }
    }

    /// Ends the open run whose `BackupFinished` this client did not hear,
    /// from its history record if the helper wrote one.
    fn close_unseen(&mut self, record: Option<&RunRecord>, now: u64, out: &mut VecDeque<Update>) {
        let Some(started_at) = self.open_run.take() else {
            return;
        };
        let record = record.filter(|r| started_at == 0 || r.started_at == started_at);
        let finished = match record {
            Some(r) => Finished::from_record(r),
            None => Finished {
                outcome: Outcome::Failed,
                reason: VANISHED_REASON.to_owned(),
                summary: None,
                started_at,
                finished_at: now,
                error_count: self.error_count,
                places: self.places.clone(),
            },
        };
        if let Some(s) = &finished.summary {
            self.summary = Some(s.clone());
        }
        self.phase = None;
        self.last_finished = Some(finished.clone());
        out.push_back(Update::Finished(finished));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;
    const NOW: u64 = T0 + 500;

    fn feed(state: &mut Tracker, inputs: impl IntoIterator<Item = Input>) -> Vec<Update> {
        let mut out = VecDeque::new();
        for input in inputs {
            state.apply(input, NOW, &mut out);
        }
        out.into()
    }

    fn sig(s: HelperSignal) -> Input {
        Input::Signal(s)
    }

    fn finished(outcome: &str, reason: &str) -> Input {
        sig(HelperSignal::BackupFinished {
            outcome: outcome.into(),
            reason: reason.into(),
        })
    }

    fn phase(p: Phase) -> Input {
        sig(HelperSignal::PropertiesChanged(Properties {
            phase: Some(Some(p)),
            ..Default::default()
        }))
    }

    fn idle() -> Input {
        sig(HelperSignal::PropertiesChanged(Properties {
            phase: Some(None),
            ..Default::default()
        }))
    }

    fn run_info(started_at: u64) -> Input {
        sig(HelperSignal::PropertiesChanged(Properties {
            started_at: Some(started_at),
            places: Some(vec!["/home".into()]),
            profile: Some(String::new()),
            ..Default::default()
        }))
    }

    fn progress(done: f64, errors: u64) -> Progress {
        Progress {
            percent_done: done,
            seconds_remaining: 180,
            error_count: errors,
            ..Default::default()
        }
    }

    fn summary() -> Summary {
        Summary {
            files_new: 12,
            files_changed: 3,
            data_added: 1_234_567,
            total_duration: 200.0,
            snapshot_id: "abcd1234".into(),
            ..Default::default()
        }
    }

    fn finished_of(updates: &[Update]) -> Vec<&Finished> {
        updates
            .iter()
            .filter_map(|u| match u {
                Update::Finished(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    fn present(started_at: u64, p: Option<Phase>) -> Input {
        present_with(started_at, p, None)
    }

    fn present_with(started_at: u64, p: Option<Phase>, record: Option<RunRecord>) -> Input {
        Input::HelperPresent {
            properties: Properties {
                phase: Some(p),
                progress: Some(progress(0.5, 0)),
                started_at: Some(started_at),
                profile: Some("laptop".into()),
                places: Some(vec!["/home".into(), "/srv".into()]),
                error_count: Some(2),
            },
            record,
        }
    }

    fn record(started_at: u64, outcome: Outcome) -> RunRecord {
        RunRecord {
            started_at,
            finished_at: started_at + 60,
            outcome,
            reason: "recorded reason".into(),
            profile: None,
            places: vec!["/home".into()],
            summary: Some(summary()),
            error_count: 4,
            item_errors: vec![],
            nested_subvolumes: vec![],
        }
    }

    /// The signals of a whole successful run, as the helper sends them.
    fn a_run(outcome: Outcome) -> Vec<Input> {
        vec![
            sig(HelperSignal::BackupStarted),
            run_info(T0),
            phase(Phase::Preparing),
            phase(Phase::Snapshotting),
            phase(Phase::BackingUp),
            sig(HelperSignal::Progress(progress(0.42, 0))),
            sig(HelperSignal::Error(ItemError {
                error: "permission denied".into(),
                during: "archival".into(),
                item: "/home/a".into(),
            })),
            sig(HelperSignal::ErrorsFolded(2)),
            sig(HelperSignal::Progress(progress(1.0, 1))),
            phase(Phase::CleaningUp),
            sig(HelperSignal::BackupComplete(summary())),
            finished(outcome.as_str(), ""),
            idle(),
        ]
    }

    #[test]
    fn a_run_is_followed_and_finishes_once() {
        let mut s = Tracker::default();
        let updates = feed(&mut s, [Input::BusUp, Input::HelperGone { record: None }]);
        assert_eq!(updates, vec![Update::State], "connected; no helper");
        assert!(s.bus_available && !s.helper_present && !s.running());

        let mut out = VecDeque::new();
        let inputs = a_run(Outcome::CompletedWithWarnings);
        for (i, input) in inputs.into_iter().enumerate() {
            s.apply(input, NOW, &mut out);
            if i == 5 {
                assert_eq!(s.phase, Some(Phase::BackingUp));
                assert_eq!(s.progress.percent_done, 0.42);
                assert_eq!(s.started_at, T0);
                assert_eq!(s.places, ["/home"]);
            }
        }
        let updates: Vec<_> = out.into();
        let finished = finished_of(&updates);
        assert_eq!(finished.len(), 1, "{updates:?}");
        let f = finished[0];
        assert_eq!(f.outcome, Outcome::CompletedWithWarnings);
        assert_eq!(f.summary.as_ref().unwrap().files_new, 12);
        assert_eq!(f.started_at, T0);
        assert_eq!(f.finished_at, NOW, "when it was heard");
        // One Error signal and two folded: three, more than Progress said.
        assert_eq!(f.error_count, 3);
        assert_eq!(s.item_errors.len(), 1);
        assert_eq!(s.errors_not_listed, 2);
        assert!(updates
            .iter()
            .any(|u| matches!(u, Update::ItemError(e) if e.item == "/home/a")));
        assert!(!s.running());
        assert_eq!(s.last_finished.as_ref(), Some(f));

        // The helper leaves after the run: no second Finished.
        let updates = feed(&mut s, [Input::HelperGone { record: None }]);
        assert!(finished_of(&updates).is_empty());
        assert!(!s.helper_present);
        // The numbers of the run stay for the window to show.
        assert_eq!(s.summary.as_ref().unwrap().files_changed, 3);
    }

    #[test]
    fn a_second_run_starts_clean() {
        let mut s = Tracker::default();
        feed(&mut s, a_run(Outcome::CompletedWithWarnings));
        let updates = feed(
            &mut s,
            [sig(HelperSignal::BackupStarted), run_info(T0 + 3600)],
        );
        assert!(finished_of(&updates).is_empty());
        assert!(s.running());
        assert_eq!(s.error_count, 0);
        assert!(s.item_errors.is_empty());
        assert_eq!(s.errors_not_listed, 0);
        assert_eq!(s.summary, None);
        assert_eq!(s.started_at, T0 + 3600);
        let updates = feed(&mut s, [finished("failed", "No network.")]);
        let f = finished_of(&updates);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reason, "No network.");
        assert_eq!(
            f[0].summary, None,
            "the first run's summary is not this one's"
        );
    }

    #[test]
    fn joining_mid_run_reads_properties_then_follows() {
        let mut s = Tracker::default();
        let updates = feed(&mut s, [Input::BusUp, present(T0, Some(Phase::BackingUp))]);
        assert!(updates.contains(&Update::State));
        assert!(s.helper_present && s.running());
        assert_eq!(s.progress.percent_done, 0.5);
        assert_eq!(s.places, ["/home", "/srv"]);
        assert_eq!(s.profile, "laptop");
        assert_eq!(s.error_count, 2);
        let updates = feed(&mut s, [finished("stopped", "Stopped on request.")]);
        assert_eq!(finished_of(&updates)[0].outcome, Outcome::Stopped);
        assert_eq!(finished_of(&updates)[0].error_count, 2);
    }

    #[test]
    fn an_idle_helper_is_present_but_not_running() {
        let mut s = Tracker::default();
        let updates = feed(
            &mut s,
            [present(0, None), Input::HelperGone { record: None }],
        );
        assert!(finished_of(&updates).is_empty());
        assert!(!s.running() && !s.helper_present);
        // Joining after the run ended (phase idle, started_at set) is not a run we saw.
        let updates = feed(
            &mut s,
            [present(T0, None), Input::HelperGone { record: None }],
        );
        assert!(finished_of(&updates).is_empty());
    }

    #[test]
    fn a_vanished_helper_ends_the_run_from_the_history() {
        let mut s = Tracker::default();
        feed(&mut s, [present(T0, Some(Phase::BackingUp))]);
        let updates = feed(
            &mut s,
            [Input::HelperGone {
                record: Some(record(T0, Outcome::Completed)),
            }],
        );
        let f = finished_of(&updates);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].outcome, Outcome::Completed);
        assert_eq!(f[0].reason, "recorded reason");
        assert_eq!(f[0].error_count, 4);
        assert_eq!(f[0].finished_at, T0 + 60, "from the record");
        assert!(!s.running());
        assert_eq!(s.summary.as_ref().unwrap().files_new, 12);
    }

    #[test]
    fn a_vanished_helper_without_a_record_failed() {
        let mut s = Tracker::default();
        feed(&mut s, [present(T0, Some(Phase::BackingUp))]);
        // A record of another run does not count.
        let updates = feed(
            &mut s,
            [Input::HelperGone {
                record: Some(record(T0 - 10, Outcome::Completed)),
            }],
        );
        let f = finished_of(&updates);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].outcome, Outcome::Failed);
        assert_eq!(f[0].reason, VANISHED_REASON);
        let updates = feed(&mut s, [Input::HelperGone { record: None }]);
        assert!(finished_of(&updates).is_empty(), "only once");
    }

    #[test]
    fn a_bus_restart_keeps_the_run_when_the_helper_is_still_on_it() {
        let mut s = Tracker::default();
        feed(&mut s, [Input::BusUp, present(T0, Some(Phase::BackingUp))]);
        let updates = feed(&mut s, [Input::BusLost]);
        assert_eq!(updates, vec![Update::State]);
        assert!(!s.bus_available && !s.helper_present);
        let updates = feed(&mut s, [Input::BusUp, present(T0, Some(Phase::BackingUp))]);
        assert!(finished_of(&updates).is_empty());
        assert!(s.running());
        // ... and it finishes once.
        let updates = feed(&mut s, [finished("completed", "")]);
        assert_eq!(finished_of(&updates).len(), 1);
    }

    #[test]
    fn a_run_that_ended_during_a_bus_restart_still_finishes() {
        // The helper finished while the bus was away, and is still there.
        let mut s = Tracker::default();
        feed(
            &mut s,
            [present(T0, Some(Phase::BackingUp)), Input::BusLost],
        );
        let after = present_with(T0, None, Some(record(T0, Outcome::Failed)));
        let updates = feed(&mut s, [after]);
        let f = finished_of(&updates);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].outcome, Outcome::Failed);

        // A new run had already begun when the bus came back.
        let mut s = Tracker::default();
        feed(
            &mut s,
            [present(T0, Some(Phase::BackingUp)), Input::BusLost],
        );
        let after = present_with(
            T0 + 100,
            Some(Phase::Preparing),
            Some(record(T0, Outcome::Completed)),
        );
        let updates = feed(&mut s, [after]);
        let f = finished_of(&updates);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].started_at, T0);
        assert!(s.running());
        assert_eq!(s.open_run(), Some(T0 + 100));
    }

    #[test]
    fn item_errors_are_bounded() {
        let mut s = Tracker::default();
        feed(&mut s, [sig(HelperSignal::BackupStarted)]);
        let n = ITEM_ERRORS_KEPT as u64 + 25;
        let inputs = (0..n).map(|i| {
            sig(HelperSignal::Error(ItemError {
                error: "e".into(),
                during: "scan".into(),
                item: format!("/f{i}"),
            }))
        });
        feed(&mut s, inputs);
        assert_eq!(s.item_errors.len(), ITEM_ERRORS_KEPT);
        assert_eq!(s.errors_not_listed, 25);
        assert_eq!(s.error_count, n);
        assert_eq!(s.item_errors.front().unwrap().item, "/f25");
        assert_eq!(s.item_errors.back().unwrap().item, format!("/f{}", n - 1));
    }

    #[test]
    fn nothing_new_is_no_update() {
        let mut s = Tracker::default();
        feed(&mut s, [Input::BusUp]);
        assert!(feed(&mut s, [Input::BusUp]).is_empty());
        assert!(feed(&mut s, [idle()]).is_empty());
    }

    #[test]
    fn finished_without_a_run_is_not_reported() {
        let mut s = Tracker::default();
        let updates = feed(&mut s, [finished("completed", "")]);
        assert!(finished_of(&updates).is_empty());
    }

    #[test]
    fn an_unknown_outcome_counts_as_failed() {
        let mut s = Tracker::default();
        feed(&mut s, [sig(HelperSignal::BackupStarted)]);
        let updates = feed(&mut s, [finished("exploded", "")]);
        assert_eq!(finished_of(&updates)[0].outcome, Outcome::Failed);
    }
}
