//! What a client that connects mid-backup needs to know at once: the
//! state behind the bus properties, kept current from the run's events.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use igotchuu_dbus::{Operation, Phase, Progress};

use crate::events::Event;

#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// The operation under way; `None` between operations.
    pub operation: Option<Operation>,
    /// `None` when no run is active.
    pub phase: Option<Phase>,
    pub progress: Progress,
    pub started_at: u64,
    pub profile: String,
    pub places: Vec<String>,
    pub error_count: u64,
    /// A run has finished; the helper is about to exit.
    pub finished: bool,
}

/// Which properties an event changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub operation: bool,
    pub phase: bool,
    pub progress: bool,
    pub run_info: bool,
    pub error_count: bool,
}

impl LiveState {
    /// The state at the start of `operation`: no phase, progress or errors yet.
    fn begun(
        operation: Operation,
        started_at: SystemTime,
        profile: &Option<String>,
        places: &[PathBuf],
    ) -> Self {
        LiveState {
            operation: Some(operation),
            started_at: started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            profile: profile.clone().unwrap_or_default(),
            places: places.iter().map(|p| p.display().to_string()).collect(),
            ..LiveState::default()
        }
    }

    pub fn apply(&mut self, event: &Event) -> Changed {
        let mut changed = Changed::default();
        match event {
            Event::OperationStarted(info) => {
                *self =
                    LiveState::begun(info.operation, info.started_at, &info.profile, &info.places);
                changed.operation = true;
                changed.run_info = true;
                changed.progress = true;
                changed.error_count = true;
            }
            Event::OperationFinished(_) => {
                self.phase = None;
                self.operation = None;
                self.finished = true;
                changed.phase = true;
                changed.operation = true;
            }
            Event::Started(info) => {
                // A backup; its OperationStarted came first.
                let operation = self.operation.unwrap_or(Operation::Backup);
                *self = LiveState::begun(operation, info.started_at, &info.profile, &info.places);
                changed.run_info = true;
                changed.progress = true;
                changed.error_count = true;
            }
            Event::PhaseChanged(phase) => {
                self.phase = Some(*phase);
                changed.phase = true;
            }
            Event::Progress(p) => {
                self.progress = p.clone();
                changed.progress = true;
            }
            Event::ItemError(_) => {
                self.error_count += 1;
                changed.error_count = true;
            }
            Event::Finished(f) => {
                self.phase = None;
                self.error_count = f.error_count.max(self.error_count);
                self.finished = true;
                changed.phase = true;
                changed.error_count = true;
            }
            Event::Notice(_) => {}
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Finish, OperationEnd, OperationInfo, RunInfo};
    use igotchuu_dbus::{ItemError, Outcome};
    use std::time::{Duration, SystemTime};

    #[test]
    fn follows_a_run_from_start_to_finish() {
        let mut s = LiveState::default();
        assert_eq!(s.phase, None);
        s.apply(&Event::Started(RunInfo {
            started_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            profile: Some("laptop".into()),
            places: vec!["/home".into()],
        }));
        assert_eq!(
            (s.started_at, s.profile.as_str()),
            (1_700_000_000, "laptop")
        );
        let c = s.apply(&Event::PhaseChanged(Phase::BackingUp));
        assert_eq!(
            c,
            Changed {
                phase: true,
                ..Changed::default()
            }
        );
        assert_eq!(s.phase, Some(Phase::BackingUp));
        s.apply(&Event::ItemError(ItemError::default()));
        s.apply(&Event::Progress(Progress {
            files_done: 7,
            ..Progress::default()
        }));
        assert_eq!((s.error_count, s.progress.files_done), (1, 7));
        s.apply(&Event::Finished(Finish {
            outcome: Outcome::Completed,
            reason: String::new(),
            summary: None,
            error_count: 3,
            item_errors: vec![],
        }));
        assert_eq!((s.phase, s.error_count, s.finished), (None, 3, true));
        assert_eq!(s.operation, Some(Operation::Backup));
        s.apply(&Event::OperationFinished(OperationEnd {
            operation: Operation::Backup,
            outcome: Outcome::Completed,
            reason: String::new(),
        }));
        assert_eq!(s.operation, None);
        // The forget after it starts afresh: Stop may stop it.
        s.apply(&Event::OperationStarted(OperationInfo {
            operation: Operation::Forget,
            started_at: SystemTime::now(),
            profile: None,
            places: vec![],
            overridden: vec![],
        }));
        assert_eq!(
            (s.operation, s.finished, s.error_count),
            (Some(Operation::Forget), false, 0)
        );
    }
}
