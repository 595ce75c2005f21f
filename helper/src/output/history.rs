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
