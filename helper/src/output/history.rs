//! Records each finished run in the history file that the desktop reads.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use igotchuu_dbus::history::RunRecord;

use crate::events::{Event, EventSink, RunInfo};
use crate::state;

pub struct HistorySink {
    state_dir: PathBuf,
    info: Option<RunInfo>,
    nested: Vec<String>,
}

impl HistorySink {
    pub fn new(state_dir: PathBuf) -> Self {
        HistorySink {
            state_dir,
            info: None,
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
            Event::Started(info) => self.info = Some(info.clone()),
            // One short line per folder (the notices are bounded).
            Event::Notice(notice) => self.nested.extend(super::nested::history_line(notice)),
            Event::Finished(finish) => {
                let Some(info) = self.info.take() else { return };
                let record = RunRecord {
                    operation: igotchuu_dbus::Operation::Backup,
                    conditions: Vec::new(),
                    started_at: unix(info.started_at),
                    finished_at: unix(SystemTime::now()),
                    outcome: finish.outcome,
                    reason: finish.reason.clone(),
                    profile: info.profile,
                    places: info
                        .places
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect(),
                    summary: finish.summary.clone(),
                    error_count: finish.error_count,
                    item_errors: finish.item_errors.clone(),
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
