//! One backup run, from the first snapshot to the last cleanup, as a
//! producer of [`Event`]s.

mod outcome;
mod prepare;

use std::time::SystemTime;

use igotchuu_dbus::{Outcome, Phase};
use tokio::sync::watch;

pub use outcome::plural;

use crate::btrfs;
use crate::config::Config;
use crate::events::{Event, EventBus, Finish, Notice, RunInfo};
use crate::restic::failure::ResticFailure;
use crate::restic::{command, runner};
use crate::snapshots::{self, SnapshotSet};
use crate::state::journal::Journal;

/// Runs one backup and publishes its events; the last one is always
/// [`Event::Finished`]. Returns the outcome. Snapshots are deleted before
/// this returns, and also if it is unwound by a panic.
pub async fn backup(
    config: &Config,
    mut journal: Journal,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> Outcome {
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
    let result = snapshot_and_back_up(config, &mut snapshots, events, stop).await;

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
    let outcome = finish.outcome;
    if let Some(restic) = restic {
        finish.error_count = restic.error_count;
        finish.item_errors = restic.item_errors;
        finish.summary = restic.summary;
    }
    events.publish(Event::Finished(finish));
    outcome
}

/// Snapshots, bind mounts and restic: everything that the cleanup undoes.
async fn snapshot_and_back_up(
    config: &Config,
    snapshots: &mut SnapshotSet,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Finish, Option<runner::ResticRun>) {
    let stopped = || {
        fin(
            Outcome::Stopped,
            "Stopped on request; no snapshot was saved",
        )
    };
    if *stop.borrow() {
        return (stopped(), None);
    }
    events.publish(Event::PhaseChanged(Phase::Snapshotting));
    let stamp = snapshot_stamp();
    for spec in &config.snapshots {
        // Before the bind mount hides them: nested subvolumes are empty
        // directories in a snapshot, so their contents are not backed up.
        match btrfs::nested_subvolumes(&spec.source) {
            Ok(nested) => {
                for path in nested {
                    events.publish(Event::Notice(Notice::NestedSubvolume {
                        path,
                        inside: spec.source.clone(),
                    }));
                }
            }
            Err(e) => tracing::warn!("cannot look for nested subvolumes: {e}"),
        }
        if let Err(e) = snapshots.take(&spec.source, &spec.path_at(&stamp)) {
            return (fin(Outcome::Failed, &format!("Snapshot failed: {e}")), None);
        }
        if *stop.borrow() {
            return (stopped(), None);
        }
    }
    if let Err(e) = snapshots.mount_all() {
        return (fin(Outcome::Failed, &format!("Snapshot failed: {e}")), None);
    }

    events.publish(Event::PhaseChanged(Phase::BackingUp));
    match runner::run(command::backup(config), events, stop).await {
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
    }
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
fn finish_early(events: &mut EventBus, outcome: Outcome, reason: String) -> Outcome {
    events.publish(Event::PhaseChanged(Phase::CleaningUp));
    events.publish(Event::Finished(fin(outcome, &reason)));
    outcome
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
