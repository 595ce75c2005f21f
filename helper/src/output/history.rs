//! Records each finished run in the history file that the desktop reads.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use igotchuu_dbus::history::RunRecord;

use crate::events::{Event, EventSink, Finish, OperationInfo};
use crate::state;

/// One record per operation, written when it ends: what it was and how it
/// ended, and for a backup what restic saved and could not read.
pub struct HistorySink {
    state_dir: PathBuf,
    info: Option<OperationInfo>,
    /// A backup's end, with restic's summary and item errors.
    finish: Option<Finish>,
    nested: Vec<String>,
}

impl HistorySink {
    pub fn new(state_dir: PathBuf) -> Self {
        HistorySink {
            state_dir,
            info: None,
            finish: None,
            nested: Vec::new(),
        }
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl EventSink for HistorySink {
    fn handle(&mut self, event: &Event) {
        match event {
            Event::OperationStarted(info) => {
                self.info = Some(info.clone());
                self.finish = None;
                self.nested.clear();
            }
            // One short line per folder (the notices are bounded).
            Event::Notice(notice) => self.nested.extend(super::nested::history_line(notice)),
            Event::Finished(finish) => self.finish = Some(finish.clone()),
            Event::OperationFinished(end) => {
                let Some(info) = self.info.take() else { return };
                let finish = self.finish.take();
                let record = RunRecord {
                    operation: end.operation,
                    conditions: info.overridden,
                    started_at: unix(info.started_at),
                    finished_at: unix(SystemTime::now()),
                    outcome: end.outcome,
                    reason: end.reason.clone(),
                    profile: info.profile,
                    places: info
                        .places
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect(),
                    summary: finish.as_ref().and_then(|f| f.summary.clone()),
                    error_count: finish.as_ref().map_or(0, |f| f.error_count),
                    item_errors: finish.map(|f| f.item_errors).unwrap_or_default(),
                    nested_subvolumes: std::mem::take(&mut self.nested),
                };
                if let Err(e) = state::history::append(&self.state_dir, record) {
                    tracing::error!(
                        "cannot record this run in {}: {e}",
                        self.state_dir.display()
                    );
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Finish, OperationEnd};
    use igotchuu_dbus::{Operation, Outcome, RunCondition, Summary};

    fn started(operation: Operation, overridden: Vec<RunCondition>) -> Event {
        Event::OperationStarted(OperationInfo {
            operation,
            started_at: SystemTime::now(),
            profile: Some("laptop".into()),
            places: vec!["/home".into()],
            overridden,
        })
    }

    fn ended(operation: Operation, outcome: Outcome, reason: &str) -> Event {
        Event::OperationFinished(OperationEnd {
            operation,
            outcome,
            reason: reason.into(),
        })
    }

    #[test]
    fn each_operation_is_one_record_with_what_it_overrode() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = HistorySink::new(dir.path().to_owned());
        let on_battery = vec![RunCondition::OnBattery];
        sink.handle(&started(Operation::Backup, on_battery.clone()));
        sink.handle(&Event::Finished(Finish {
            outcome: Outcome::Completed,
            reason: "Backup completed: snapshot 1a2b3c4d".into(),
            summary: Some(Summary {
                snapshot_id: "1a2b3c4d".into(),
                ..Summary::default()
            }),
            error_count: 0,
            item_errors: vec![],
        }));
        sink.handle(&ended(
            Operation::Backup,
            Outcome::Completed,
            "Backup completed: snapshot 1a2b3c4d",
        ));
        sink.handle(&started(Operation::Forget, on_battery.clone()));
        sink.handle(&ended(
            Operation::Forget,
            Outcome::Completed,
            "Forgot 2 old snapshots",
        ));
        sink.handle(&started(Operation::Check, vec![]));
        sink.handle(&ended(Operation::Check, Outcome::Failed, "damage"));
        let h = igotchuu_dbus::history::read_file(
            &dir.path()
                .join(igotchuu_dbus::history::ADMIN_HISTORY_FILE_NAME),
        )
        .unwrap();
        let runs: Vec<_> = h
            .runs
            .iter()
            .map(|r| {
                (
                    r.operation,
                    r.outcome,
                    r.conditions.clone(),
                    r.summary.is_some(),
                )
            })
            .collect();
        assert_eq!(
            runs,
            [
                (
                    Operation::Backup,
                    Outcome::Completed,
                    on_battery.clone(),
                    true
                ),
                (Operation::Forget, Outcome::Completed, on_battery, false),
                (Operation::Check, Outcome::Failed, vec![], false),
            ]
        );
        assert_eq!(h.runs[1].reason, "Forgot 2 old snapshots");
        assert_eq!(h.runs[1].profile.as_deref(), Some("laptop"));
    }
}
