//! The follower's rules, input by input.

use std::collections::VecDeque;

use crate::history::{History, RunRecord};
use crate::signal::{HelperSignal, Properties};
use crate::{ItemError, Outcome, Phase, Progress, Summary};

use super::attribution::Sighting;
use super::*;

impl std::ops::Deref for Follower {
    type Target = State;
    fn deref(&self) -> &State {
        self.state()
    }
}

fn history_of(record: RunRecord) -> History {
    let mut h = History::default();
    h.push(record);
    h
}

const T0: u64 = 1_700_000_000;
const NOW: u64 = T0 + 500;

fn feed(state: &mut Follower, inputs: impl IntoIterator<Item = Input>) -> Vec<Update> {
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

fn present_with(started_at: u64, p: Option<Phase>, history: Option<History>) -> Input {
    Input::HelperPresent {
        properties: Properties {
            phase: Some(p),
            progress: Some(progress(0.5, 0)),
            started_at: Some(started_at),
            profile: Some("laptop".into()),
            places: Some(vec!["/home".into(), "/srv".into()]),
            error_count: Some(2),
            operation: None,
        },
        history,
    }
}

fn record(started_at: u64, outcome: Outcome) -> RunRecord {
    RunRecord {
        reason: "recorded reason".into(),
        places: vec!["/home".into()],
        summary: Some(summary()),
        error_count: 4,
        ..RunRecord::new(crate::Operation::Backup, outcome, started_at, NOW + 60)
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
        sig(HelperSignal::BackupComplete {
            summary: summary(),
            data_added_known: true,
        }),
        finished(outcome.as_str(), ""),
        idle(),
    ]
}

#[test]
fn a_run_is_followed_and_finishes_once() {
    let mut s = Follower::default();
    let updates = feed(&mut s, [Input::BusUp, Input::HelperGone { history: None }]);
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
    assert_eq!(f.outcome, Some(Outcome::CompletedWithWarnings));
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
    let updates = feed(&mut s, [Input::HelperGone { history: None }]);
    assert!(finished_of(&updates).is_empty());
    assert!(!s.helper_present);
    // The numbers of the run stay for the window to show.
    assert_eq!(s.summary.as_ref().unwrap().files_changed, 3);
}

#[test]
fn a_second_run_starts_clean() {
    let mut s = Follower::default();
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
    let mut s = Follower::default();
    let updates = feed(&mut s, [Input::BusUp, present(T0, Some(Phase::BackingUp))]);
    assert!(updates.contains(&Update::State));
    assert!(s.helper_present && s.running());
    assert_eq!(s.progress.percent_done, 0.5);
    assert_eq!(s.places, ["/home", "/srv"]);
    assert_eq!(s.profile, "laptop");
    assert_eq!(s.error_count, 2);
    let updates = feed(&mut s, [finished("stopped", "Stopped on request.")]);
    assert_eq!(finished_of(&updates)[0].outcome, Some(Outcome::Stopped));
    assert_eq!(finished_of(&updates)[0].error_count, 2);
}

#[test]
fn an_idle_helper_is_present_but_not_running() {
    let mut s = Follower::default();
    let updates = feed(
        &mut s,
        [present(0, None), Input::HelperGone { history: None }],
    );
    assert!(finished_of(&updates).is_empty());
    assert!(!s.running() && !s.helper_present);
    // Joining after the run ended (phase idle, started_at set) is not a run we saw.
    let updates = feed(
        &mut s,
        [present(T0, None), Input::HelperGone { history: None }],
    );
    assert!(finished_of(&updates).is_empty());
}

#[test]
fn a_vanished_helper_ends_the_run_from_the_history() {
    let mut s = Follower::default();
    feed(&mut s, [present(T0, Some(Phase::BackingUp))]);
    let updates = feed(
        &mut s,
        [Input::HelperGone {
            history: Some(history_of(record(T0, Outcome::Completed))),
        }],
    );
    let f = finished_of(&updates);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].outcome, Some(Outcome::Completed));
    assert_eq!(f[0].reason, "recorded reason");
    assert_eq!(f[0].error_count, 4);
    assert_eq!(f[0].finished_at, NOW + 60, "from the record");
    assert!(!s.running());
    assert_eq!(s.summary.as_ref().unwrap().files_new, 12);
}

#[test]
fn a_vanished_helper_without_a_record_ended_unknown() {
    let mut s = Follower::default();
    feed(&mut s, [present(T0, Some(Phase::BackingUp))]);
    // A record of another run does not count.
    let updates = feed(
        &mut s,
        [Input::HelperGone {
            history: Some(history_of(record(T0 - 10, Outcome::Completed))),
        }],
    );
    let f = finished_of(&updates);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].outcome, None, "unknown, not failed");
    assert_eq!(f[0].reason, UNKNOWN_END_REASON);
    let updates = feed(&mut s, [Input::HelperGone { history: None }]);
    assert!(finished_of(&updates).is_empty(), "only once");
}

#[test]
fn a_bus_restart_keeps_the_run_when_the_helper_is_still_on_it() {
    let mut s = Follower::default();
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
    let mut s = Follower::default();
    feed(
        &mut s,
        [present(T0, Some(Phase::BackingUp)), Input::BusLost],
    );
    let after = present_with(T0, None, Some(history_of(record(T0, Outcome::Failed))));
    let updates = feed(&mut s, [after]);
    let f = finished_of(&updates);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].outcome, Some(Outcome::Failed));

    // A new run had already begun when the bus came back.
    let mut s = Follower::default();
    feed(
        &mut s,
        [present(T0, Some(Phase::BackingUp)), Input::BusLost],
    );
    let after = present_with(
        T0 + 100,
        Some(Phase::Preparing),
        Some(history_of(record(T0, Outcome::Completed))),
    );
    let updates = feed(&mut s, [after]);
    let f = finished_of(&updates);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].started_at, T0);
    assert!(s.running());
    assert_eq!(s.open_run().and_then(|r| r.started_at), Some(T0 + 100));
}

#[test]
fn item_errors_are_bounded() {
    let mut s = Follower::default();
    feed(&mut s, [sig(HelperSignal::BackupStarted)]);
    let n = ITEM_ERRORS_FOLLOWED as u64 + 25;
    let inputs = (0..n).map(|i| {
        sig(HelperSignal::Error(ItemError {
            error: "e".into(),
            during: "scan".into(),
            item: format!("/f{i}"),
        }))
    });
    feed(&mut s, inputs);
    assert_eq!(s.item_errors.len(), ITEM_ERRORS_FOLLOWED);
    assert_eq!(s.errors_not_listed, 25);
    assert_eq!(s.error_count, n);
    assert_eq!(s.item_errors.front().unwrap().item, "/f25");
    assert_eq!(s.item_errors.back().unwrap().item, format!("/f{}", n - 1));
}

#[test]
fn nothing_new_is_no_update() {
    let mut s = Follower::default();
    feed(&mut s, [Input::BusUp]);
    assert!(feed(&mut s, [Input::BusUp]).is_empty());
    assert!(feed(&mut s, [idle()]).is_empty());
}

#[test]
fn finished_without_a_run_is_not_reported() {
    let mut s = Follower::default();
    let updates = feed(&mut s, [finished("completed", "")]);
    assert!(finished_of(&updates).is_empty());
}

#[test]
fn an_unknown_outcome_counts_as_failed() {
    let mut s = Follower::default();
    feed(&mut s, [sig(HelperSignal::BackupStarted)]);
    let updates = feed(&mut s, [finished("exploded", "")]);
    assert_eq!(finished_of(&updates)[0].outcome, Some(Outcome::Failed));
}

// ------------------------------------------------- the original helper

/// The original (Python) helper: no properties (a GetAll gives none), so
/// nothing says its phase or when it started.
fn original_present() -> Input {
    Input::HelperPresent {
        properties: Properties::default(),
        history: None,
    }
}

fn original_complete() -> Input {
    sig(HelperSignal::BackupComplete {
        summary: Summary {
            files_new: 1500,
            snapshot_id: "fede886f".into(),
            ..Default::default()
        },
        data_added_known: false,
    })
}

/// Feeds `inputs`, heard at `now`.
fn feed_at(s: &mut Follower, now: u64, inputs: impl IntoIterator<Item = Input>) -> Vec<Update> {
    let mut out = VecDeque::new();
    for input in inputs {
        s.apply(input, now, &mut out);
    }
    out.into()
}

#[test]
fn without_a_phase_property_progress_means_backing_up() {
    let mut s = Follower::default();
    feed(&mut s, [Input::BusUp, original_present()]);
    assert!(
        s.helper_present && !s.running(),
        "no properties, no run yet"
    );
    feed(&mut s, [sig(HelperSignal::BackupStarted)]);
    assert_eq!(s.phase, Some(Phase::Preparing));
    assert_eq!(s.started_at, NOW, "when it was heard");
    feed(&mut s, [sig(HelperSignal::Progress(progress(0.2, 0)))]);
    assert_eq!(s.phase, Some(Phase::BackingUp));

    // Joined mid-run: its progress alone says that a backup runs.
    let mut s = Follower::default();
    feed(&mut s, [Input::BusUp, original_present()]);
    feed(&mut s, [sig(HelperSignal::Progress(progress(0.5, 0)))]);
    assert_eq!(s.phase, Some(Phase::BackingUp));
    assert!(s.wants_history());

    // A helper with the property keeps its own word: a late report while
    // it cleans up does not make it back up again.
    let mut s = Follower::default();
    feed(&mut s, a_run(Outcome::Completed)[..10].to_vec());
    assert_eq!(s.phase, Some(Phase::CleaningUp));
    feed(&mut s, [sig(HelperSignal::Progress(progress(1.0, 0)))]);
    assert_eq!(s.phase, Some(Phase::CleaningUp));
}

#[test]
fn an_original_run_with_its_summary_completed_and_an_older_failure_is_not_it() {
    let older = RunRecord {
        operation: crate::Operation::Backup,
        conditions: Vec::new(),
        finished_at: NOW - 300,
        started_at: NOW - 320,
        outcome: Outcome::Failed,
        reason: "wrong password".into(),
        ..record(0, Outcome::Failed)
    };
    let mut s = Follower::default();
    feed(&mut s, [Input::BusUp, original_present()]);
    feed_at(&mut s, NOW, [sig(HelperSignal::BackupStarted)]);
    feed_at(
        &mut s,
        NOW + 1,
        [
            sig(HelperSignal::Progress(progress(0.97, 0))),
            original_complete(),
        ],
    );
    assert!(s.data_added_unknown);
    let updates = feed_at(
        &mut s,
        NOW + 2,
        [Input::HelperGone {
            history: Some(history_of(older)),
        }],
    );
    let f = finished_of(&updates);
    assert_eq!(f.len(), 1, "{updates:?}");
    assert_eq!(f[0].outcome, Some(Outcome::Completed));
    assert_eq!(f[0].reason, "restic saved snapshot fede886f.");
    assert_eq!(f[0].summary.as_ref().unwrap().files_new, 1500);
    assert!(f[0].data_added_unknown);
    assert_eq!(f[0].data_added(), None);
    assert_eq!(f[0].finished_at, NOW + 2);
    assert!(!s.running());
}

#[test]
fn an_original_run_with_unreadable_files_completed_with_warnings() {
    let mut s = Follower::default();
    feed(&mut s, [sig(HelperSignal::BackupStarted)]);
    feed(
        &mut s,
        [
            sig(HelperSignal::Progress(progress(0.5, 2))),
            original_complete(),
        ],
    );
    let updates = feed(&mut s, [Input::HelperGone { history: None }]);
    assert_eq!(
        finished_of(&updates)[0].outcome,
        Some(Outcome::CompletedWithWarnings)
    );
}

#[test]
fn an_original_run_that_just_ends_is_unknown_unless_a_record_is_provably_it() {
    let run = || {
        let mut s = Follower::default();
        feed(&mut s, [Input::BusUp, original_present()]);
        feed_at(&mut s, NOW, [sig(HelperSignal::BackupStarted)]);
        feed_at(
            &mut s,
            NOW + 5,
            [sig(HelperSignal::Progress(progress(0.5, 0)))],
        );
        s
    };
    let gone = |s: &mut Follower, records: Vec<RunRecord>| {
        let mut h = History::default();
        for r in records {
            h.push(r);
        }
        let updates = feed_at(s, NOW + 9, [Input::HelperGone { history: Some(h) }]);
        finished_of(&updates)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    let at = |started_at: u64, finished_at: u64, outcome| RunRecord {
        operation: crate::Operation::Backup,
        conditions: Vec::new(),
        started_at,
        finished_at,
        ..record(0, outcome)
    };
    // An older failure, even as the latest record: unknown.
    let f = gone(&mut run(), vec![at(NOW - 320, NOW - 300, Outcome::Failed)]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].outcome, None);
    assert_eq!(f[0].reason, UNKNOWN_END_REASON);
    assert_eq!(f[0].summary, None);
    // A later run's record: unknown.
    let f = gone(&mut run(), vec![at(NOW + 7, NOW + 8, Outcome::Failed)]);
    assert_eq!(f[0].outcome, None);
    // This run's own record (a helper that writes one): its outcome.
    let f = gone(&mut run(), vec![at(NOW - 1, NOW + 8, Outcome::Failed)]);
    assert_eq!(f[0].outcome, Some(Outcome::Failed));
    assert_eq!(f[0].reason, "recorded reason");
    // No history at all: unknown.
    let mut s = run();
    let updates = feed_at(&mut s, NOW + 9, [Input::HelperGone { history: None }]);
    assert_eq!(finished_of(&updates)[0].outcome, None);
    assert_eq!(s.last_finished.as_ref().unwrap().outcome, None);
}

#[test]
fn the_sighting_takes_started_at_when_the_helper_has_it() {
    let mut s = Follower::default();
    feed_at(
        &mut s,
        NOW,
        [sig(HelperSignal::BackupStarted), run_info(T0)],
    );
    assert_eq!(
        s.open_run(),
        Some(Sighting {
            started_at: Some(T0),
            live_at: NOW,
            heard_start: true,
            operation: crate::Operation::Backup,
        })
    );
}

// ------------------------------------------------------------ operations

fn op_started(op: &str) -> Input {
    sig(HelperSignal::OperationStarted {
        operation: op.into(),
    })
}

fn op_finished(op: &str, outcome: &str, reason: &str) -> Input {
    sig(HelperSignal::OperationFinished {
        operation: op.into(),
        outcome: outcome.into(),
        reason: reason.into(),
    })
}

#[test]
fn a_check_is_followed_and_finishes_once_as_a_check() {
    let mut s = Follower::default();
    feed(&mut s, [Input::BusUp]);
    let u = feed(&mut s, [op_started("check"), phase(Phase::Checking)]);
    assert!(finished_of(&u).is_empty());
    assert_eq!(s.running_operation(), Some(crate::Operation::Check));
    assert_eq!(s.phase, Some(Phase::Checking));
    let u = feed(
        &mut s,
        [
            op_finished("check", "failed", "The repository is damaged."),
            idle(),
        ],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1, "{u:?}");
    assert_eq!(f[0].operation, crate::Operation::Check);
    assert_eq!(f[0].outcome, Some(Outcome::Failed));
    assert_eq!(f[0].reason, "The repository is damaged.");
    assert_eq!(f[0].summary, None);
    assert!(!s.running());
    assert_eq!(s.running_operation(), None);
    // A check is not the last backup.
    assert_eq!(s.last_finished, None);
}

#[test]
fn a_backup_and_its_forget_end_once_each() {
    let mut s = Follower::default();
    let mut inputs = vec![op_started("backup")];
    inputs.extend(a_run(Outcome::Completed));
    inputs.push(op_finished("backup", "completed", ""));
    let u = feed(&mut s, inputs);
    let f = finished_of(&u);
    assert_eq!(
        f.len(),
        1,
        "the backup's OperationFinished adds nothing: {u:?}"
    );
    assert_eq!(f[0].operation, crate::Operation::Backup);
    assert_eq!(f[0].summary, Some(summary()));
    let u = feed(
        &mut s,
        [
            op_started("forget"),
            phase(Phase::Forgetting),
            idle(),
            op_finished("forget", "completed", "2 snapshots forgotten."),
        ],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1, "{u:?}");
    assert_eq!(f[0].operation, crate::Operation::Forget);
    assert_eq!(f[0].outcome, Some(Outcome::Completed));
    assert_eq!(
        f[0].summary, None,
        "the backup's numbers are not the forget's"
    );
    assert_eq!(f[0].error_count, 0);
    // The last backup is still the backup.
    let last = s.last_finished.as_ref().unwrap();
    assert_eq!(last.operation, crate::Operation::Backup);
    assert_eq!(last.summary, Some(summary()));
}

#[test]
fn a_postponed_backup_ends_without_having_run() {
    let mut s = Follower::default();
    let u = feed(
        &mut s,
        [
            op_started("backup"),
            op_finished(
                "backup",
                "postponed",
                "Postponed: the computer is on battery",
            ),
        ],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1, "{u:?}");
    assert_eq!(f[0].operation, crate::Operation::Backup);
    assert_eq!(f[0].outcome, Some(Outcome::Postponed));
    assert_eq!(f[0].started_at, 0);
    assert!(!s.running());
    assert_eq!(s.last_finished, None, "postponed is no finished backup");
    assert!(!s.wants_history());
}

#[test]
fn joined_mid_check_it_ends_from_the_checks_record_only() {
    let present_checking = |history| Input::HelperPresent {
        properties: Properties {
            phase: Some(Some(Phase::Checking)),
            started_at: Some(T0),
            operation: Some(Some(crate::Operation::Check)),
            ..Default::default()
        },
        history,
    };
    let mut s = Follower::default();
    feed(&mut s, [present_checking(None)]);
    assert_eq!(s.running_operation(), Some(crate::Operation::Check));
    assert!(s.wants_history());
    // A backup record of the same start is not the check's.
    let u = feed(
        &mut s,
        [Input::HelperGone {
            history: Some(history_of(record(T0, Outcome::Completed))),
        }],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].operation, crate::Operation::Check);
    assert_eq!(f[0].outcome, None);
    assert!(f[0].reason.contains("repository check"), "{}", f[0].reason);

    let mut s = Follower::default();
    feed(&mut s, [present_checking(None)]);
    let check = RunRecord {
        operation: crate::Operation::Check,
        summary: None,
        ..record(T0, Outcome::Completed)
    };
    let u = feed(
        &mut s,
        [Input::HelperGone {
            history: Some(history_of(check)),
        }],
    );
    let f = finished_of(&u);
    assert_eq!(f[0].operation, crate::Operation::Check);
    assert_eq!(f[0].outcome, Some(Outcome::Completed));
}

#[test]
fn each_working_phase_names_its_operation() {
    for op in crate::Operation::ALL {
        assert_eq!(crate::follow::operation_of_phase(op.working_phase()), op);
    }
}

#[test]
fn a_helper_that_says_no_operation_runs_backups() {
    // The seed's helper: a Phase property, no Operation.
    let mut s = Follower::default();
    feed(&mut s, [present(T0, Some(Phase::BackingUp))]);
    assert_eq!(s.operation, None);
    assert_eq!(s.running_operation(), Some(crate::Operation::Backup));
    let u = feed(&mut s, [finished("completed", "")]);
    assert_eq!(finished_of(&u)[0].operation, crate::Operation::Backup);
    // Unknown operation names are skipped, not guessed.
    let u = feed(
        &mut s,
        [op_started("mirror"), op_finished("mirror", "failed", "x")],
    );
    assert!(finished_of(&u).is_empty(), "{u:?}");
    assert!(!s.running());
}

#[test]
fn a_postponed_check_never_runs() {
    let mut s = Follower::default();
    feed(&mut s, [present(T0, None)]);
    let u = feed(&mut s, [op_started("check")]);
    assert!(!s.running(), "announced, not running");
    assert!(finished_of(&u).is_empty());
    let u = feed(
        &mut s,
        [op_finished(
            "check",
            "postponed",
            "Postponed: the computer is on battery",
        )],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].operation, crate::Operation::Check);
    assert_eq!(f[0].outcome, Some(Outcome::Postponed));
    assert!(!s.running());
    assert!(!s.wants_history());
    // Then it runs, once the condition cleared.
    let u = feed(
        &mut s,
        [
            op_started("check"),
            phase(Phase::Checking),
            op_finished("check", "completed", "No errors were found."),
        ],
    );
    let f = finished_of(&u);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].outcome, Some(Outcome::Completed));
}
