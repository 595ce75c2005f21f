//! The operations, as producers of [`Event`]s: a backup, from the first
//! snapshot to the last cleanup (here), and forget, prune and check
//! ([`maintenance`]). Each is bracketed by `OperationStarted` and
//! `OperationFinished`.

pub mod maintenance;
mod outcome;
mod prepare;
pub mod restore;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use igotchuu_dbus::{Operation, Outcome, Phase, RunCondition};
use tokio::sync::watch;

pub use outcome::plural;

use crate::config::Config;
use crate::events::{Event, EventBus, Finish, Notice, OperationEnd, OperationInfo, RunInfo};
use crate::restic::failure::ResticFailure;
use crate::restic::{command, runner};
use crate::snapshots::{self, SnapshotSet};
use crate::state::journal::Journal;
use crate::view::{self, View};

/// The folder in the state directory where the view is built when `/`
/// itself is a source.
const VIEW_FOLDER: &str = "view";

/// Publishes the start of `operation` with `config`'s settings.
pub fn begin(
    events: &mut EventBus,
    config: &Config,
    operation: Operation,
    overridden: &[RunCondition],
) {
    events.publish(Event::OperationStarted(OperationInfo {
        operation,
        started_at: SystemTime::now(),
        profile: config.profile.clone(),
        places: config.places.clone(),
        overridden: overridden.to_vec(),
    }));
}

/// Publishes how `operation` ended; returns its outcome.
pub fn end(
    events: &mut EventBus,
    operation: Operation,
    outcome: Outcome,
    reason: String,
) -> Outcome {
    events.publish(Event::OperationFinished(OperationEnd {
        operation,
        outcome,
        reason,
    }));
    outcome
}

/// Runs one backup and publishes its events, from
/// [`Event::OperationStarted`] to [`Event::OperationFinished`], with the
/// seed's [`Event::Started`] and [`Event::Finished`] right inside them.
/// Returns the outcome. Snapshots are deleted before this returns, and
/// also if it is unwound by a panic.
pub async fn backup(
    config: &Config,
    journal: Journal,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
    state_dir: &Path,
    overridden: &[RunCondition],
) -> Outcome {
    begin(events, config, Operation::Backup, overridden);
    let (outcome, reason) = back_up(config, journal, events, stop, state_dir).await;
    end(events, Operation::Backup, outcome, reason)
}

/// The backup between `Started` and `Finished`; returns the outcome and
/// the reason given.
async fn back_up(
    config: &Config,
    mut journal: Journal,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
    state_dir: &Path,
) -> (Outcome, String) {
    events.publish(Event::Started(RunInfo {
        started_at: SystemTime::now(),
        profile: config.profile.clone(),
        places: config.places.clone(),
    }));
    events.publish(Event::PhaseChanged(Phase::Preparing));

    publish_notices(events, snapshots::remove_stale(&mut journal, false));
    if let Some(argv) = &config.exec_before_snapshot {
        if let Err(e) = prepare::run(argv, stop.clone()).await {
            let outcome = match e {
                prepare::PrepareError::Stopped => Outcome::Stopped,
                _ => Outcome::Failed,
            };
            return finish_early(events, outcome, e.to_string());
        }
        events.publish(Event::Notice(Notice::PrepareCommandRan {
            argv: argv.clone(),
        }));
    }
    // exec_before_snapshot may have mounted where stale snapshots live.
    publish_notices(events, snapshots::remove_stale(&mut journal, true));

    let mut snapshots = SnapshotSet::new(journal);
    // An empty folder of root's own, the view's `/` when `/` is a source.
    let staging = state_dir.join(VIEW_FOLDER);
    let result = snapshot_and_back_up(config, &mut snapshots, events, stop, &staging).await;

    events.publish(Event::PhaseChanged(Phase::CleaningUp));
    let left = snapshots.release();
    let left_count = left.len();
    publish_notices(events, left);

    let (mut finish, restic) = result;
    if left_count > 0 {
        finish.reason.push_str(&format!(
            " ({} could not be deleted; the next run will retry)",
            plural(left_count as u64, "snapshot", "snapshots")
        ));
    }
    let ended = (finish.outcome, finish.reason.clone());
    if let Some(restic) = restic {
        finish.error_count = restic.error_count;
        finish.item_errors = restic.item_errors;
        finish.summary = restic.summary;
    }
    events.publish(Event::Finished(finish));
    ended
}

/// Snapshots, the view and restic: everything that the cleanup undoes. The
/// view is unmounted when this returns; the caller deletes the snapshots.
async fn snapshot_and_back_up(
    config: &Config,
    snapshots: &mut SnapshotSet,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
    staging: &Path,
) -> (Finish, Option<runner::ResticRun>) {
    let stopped = || {
        fin(
            Outcome::Stopped,
            "Stopped on request; no snapshot was saved",
        )
    };
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        (fin(Outcome::Failed, &format!("{what}: {e}")), None)
    };
    if *stop.borrow() {
        return (stopped(), None);
    }
    events.publish(Event::PhaseChanged(Phase::Snapshotting));
    // Nested subvolumes that a snapshot leaves out, looked for in the live
    // tree before anything is mounted over it.
    publish_notices(events, crate::nested::survey(config));

    // Everything that could refuse is checked before the first snapshot: a
    // configuration that cannot be backed up correctly changes nothing.
    let stamp = snapshot_stamp();
    let order = parents_first(config);
    let mut placements = Vec::with_capacity(order.len());
    for &i in &order {
        match snapshots::place(&config.snapshots[i], &stamp, &config.file) {
            Ok(p) => placements.push((i, p)),
            Err(e) => return failed("Snapshot failed", &e),
        }
    }
    let sources: Vec<PathBuf> = config.snapshots.iter().map(|s| s.source.clone()).collect();
    let captured = match view::capture(&sources, &view::live_folders(config)) {
        Ok(c) => c,
        Err(e) => return failed("Snapshot failed", &e),
    };

    // Parents first, so that a parent's snapshot holds no trace of a child's.
    let mut taken = vec![0; sources.len()];
    for (i, placement) in placements {
        match snapshots.take(&sources[i], placement) {
            Ok(index) => taken[i] = index,
            Err(e) => return failed("Snapshot failed", &e),
        }
        if *stop.borrow() {
            return (stopped(), None);
        }
    }
    let kernel_excludes = captured.kernel_excludes(&config.places);
    let view = match View::build(captured, |i| snapshots.open(taken[i]), staging) {
        Ok(v) => v,
        Err(e) => return failed("Snapshot failed", &e),
    };

    events.publish(Event::PhaseChanged(Phase::BackingUp));
    let mut restic = command::backup(config, &kernel_excludes);
    view.enter(&mut restic);
    let result = match runner::run(restic, events, stop, config.stall_timeout).await {
        Ok(restic) => {
            let (outcome, reason) = outcome::judge(&restic);
            (fin(outcome, &reason), Some(restic))
        }
        Err(e) => (
            fin(
                Outcome::Failed,
                &ResticFailure::from_spawn_error(&e).to_string(),
            ),
            None,
        ),
    };
    drop(view);
    result
}

/// The indexes of `config.snapshots`, parents before what is below them.
fn parents_first(config: &Config) -> Vec<usize> {
    let mut order: Vec<usize> = (0..config.snapshots.len()).collect();
    order.sort_by_key(|&i| config.snapshots[i].source.components().count());
    order
}

fn fin(outcome: Outcome, reason: &str) -> Finish {
    Finish {
        outcome,
        reason: reason.to_owned(),
        summary: None,
        error_count: 0,
        item_errors: Vec::new(),
    }
}

/// Ends a run that failed or stopped before any snapshot was made.
fn finish_early(events: &mut EventBus, outcome: Outcome, reason: String) -> (Outcome, String) {
    events.publish(Event::PhaseChanged(Phase::CleaningUp));
    events.publish(Event::Finished(fin(outcome, &reason)));
    (outcome, reason)
}

fn publish_notices(events: &mut EventBus, notices: Vec<Notice>) {
    for n in notices {
        events.publish(Event::Notice(n));
    }
}

/// The suffix of this run's snapshot names: UTC, sortable, no colons.
fn snapshot_stamp() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .expect("a fixed format always formats")
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_sort_and_hold_no_colons() {
        let s = super::snapshot_stamp();
        assert_eq!(s.len(), "2026-11-22T10-15-30Z".len());
        assert!(!s.contains(':') && s.ends_with('Z'), "{s}");
    }
}
