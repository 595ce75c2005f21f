//! A run seen from the bus, turned back into the run's own [`Event`]s, so
//! that `igotchuu watch` prints it with the same terminal printer as
//! `igotchuu backup`. The rules of following (what a signal means, when a
//! run is open, how it ended when nobody said) are the desktop's, written
//! once in [`igotchuu_dbus::follow`]; this only says, after each input,
//! what changed, as events. Pure: the caller feeds it what it heard, in
//! order.

use std::collections::VecDeque;
use std::time::{Duration, UNIX_EPOCH};

use igotchuu_dbus::follow::{Finished, Follower, Input, State, Update};
use igotchuu_dbus::history::ITEM_ERRORS_RECORDED;
use igotchuu_dbus::{ItemError, Operation, Outcome, Phase, Progress, Summary};

use crate::events::{Event, Finish, RunInfo};

/// How the followed run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// It said how, or its history or restic's summary did.
    Outcome(Outcome),
    /// Nobody can say: the helper left without a word, and no record is
    /// provably that run's. The sentence says so.
    Unknown(String),
}

/// Follows one run, from its start (or from whenever the watcher joined)
/// to its end.
#[derive(Debug, Default)]
pub struct RunFollower {
    follower: Follower,
    started: bool,
    phase: Option<Phase>,
    progress: Progress,
    /// The first item errors, as `igotchuu backup` lists them at the end.
    item_errors: Vec<ItemError>,
    /// restic's summary without `data_added` (the original helper's): it
    /// is not in the [`Finish`], whose printer would show 0 B.
    summary_without_size: Option<Summary>,
    ended: Option<Ended>,
}

impl RunFollower {
    /// Whether a run is under way (started or joined, and not ended).
    pub fn run_open(&self) -> bool {
        self.started && self.ended.is_none()
    }

    /// How the followed run ended, once it has.
    pub fn ended(&self) -> Option<&Ended> {
        self.ended.as_ref()
    }

    /// restic's summary of the ended run when it came without
    /// `data_added` (the original helper's): the [`Finish`] leaves it out,
    /// so that nobody prints a size nobody said.
    pub fn summary_without_size(&self) -> Option<&Summary> {
        self.summary_without_size.as_ref()
    }

    /// Whether the next [`Input::HelperPresent`] or [`Input::HelperGone`]
    /// should carry the history: a run is open, and may end unheard.
    pub fn wants_history(&self) -> bool {
        self.follower.wants_history()
    }

    /// The events that `inputs`, heard together at `now` (Unix seconds),
    /// stand for, in order.
    pub fn feed(&mut self, inputs: impl IntoIterator<Item = Input>, now: u64) -> Vec<Event> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let mut updates = VecDeque::new();
        for input in inputs {
            self.follower.apply(input, now, &mut updates);
        }
        let mut events = Vec::new();
        self.state_changed(&mut events);
        for update in updates {
            match update {
                Update::State => {}
                Update::ItemError(e) if self.started => {
                    if self.item_errors.len() < ITEM_ERRORS_RECORDED {
                        self.item_errors.push(e.clone());
                    }
                    events.push(Event::ItemError(e));
                }
                Update::ItemError(_) => {}
                Update::Finished(f) if self.started => {
                    self.finish(f, &mut events);
                    break;
                }
                // A run this watcher did not see.
                Update::Finished(_) => {}
            }
        }
        events
    }

    /// What the state says now that was not printed yet.
    fn state_changed(&mut self, events: &mut Vec<Event>) {
        let s = self.follower.state();
        if !self.started {
            if !s.running() {
                return;
            }
            self.started = true;
            // A forget, prune or check has no places to back up: its
            // phase ("Checking the repository…") says what it does.
            if s.running_operation() == Some(Operation::Backup) {
                events.push(Event::Started(run_info(s)));
            }
        }
        if let Some(phase) = s.phase.filter(|p| self.phase != Some(*p)) {
            self.phase = Some(phase);
            events.push(Event::PhaseChanged(phase));
        }
        if s.running() && s.progress != self.progress {
            self.progress = s.progress.clone();
            if self.progress != Progress::default() {
                events.push(Event::Progress(self.progress.clone()));
            }
        }
    }

    fn finish(&mut self, f: Finished, events: &mut Vec<Event>) {
        let Some(outcome) = f.outcome else {
            self.ended = Some(Ended::Unknown(f.reason));
            return;
        };
        self.ended = Some(Ended::Outcome(outcome));
        let summary = if f.data_added_unknown {
            self.summary_without_size = f.summary;
            None
        } else {
            f.summary
        };
        events.push(Event::Finished(Finish {
            outcome,
            reason: f.reason,
            summary,
            error_count: f.error_count,
            item_errors: std::mem::take(&mut self.item_errors),
        }));
    }
}

fn run_info(s: &State) -> RunInfo {
    RunInfo {
        started_at: UNIX_EPOCH + Duration::from_secs(s.started_at),
        profile: Some(s.profile.clone()).filter(|p| !p.is_empty()),
        places: s.places.iter().map(Into::into).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use igotchuu_dbus::history::{History, RunRecord};
    use igotchuu_dbus::signal::{HelperSignal, Properties};
    use igotchuu_dbus::Summary;

    use super::*;

    const NOW: u64 = 1_700_000_100;

    /// A short name for each event, to compare sequences.
    fn names(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Started(i) => format!("started {}", i.places.len()),
                Event::PhaseChanged(p) => format!("phase {p}"),
                Event::Notice(_) => "notice".into(),
                Event::Progress(p) => format!("progress {}", p.files_done),
                Event::ItemError(e) => format!("error {}", e.item),
                Event::Finished(f) => format!("finished {}", f.outcome),
                Event::OperationStarted(i) => format!("operation {}", i.operation),
                Event::OperationFinished(f) => format!("operation {} {}", f.operation, f.outcome),
            })
            .collect()
    }

    fn sig(s: HelperSignal) -> Input {
        Input::Signal(s)
    }

    fn phase(p: &str) -> Input {
        sig(HelperSignal::PropertiesChanged(Properties {
            phase: Some(Phase::from_property(p).unwrap()),
            ..Properties::default()
        }))
    }

    fn progress(n: u64) -> Input {
        sig(HelperSignal::Progress(Progress {
            files_done: n,
            ..Progress::default()
        }))
    }

    /// BackupStarted, and the properties read right after it.
    fn started() -> Vec<Input> {
        vec![
            sig(HelperSignal::BackupStarted),
            sig(HelperSignal::PropertiesChanged(Properties {
                started_at: Some(1_700_000_000),
                profile: Some(String::new()),
                places: Some(vec!["/home".into(), "/srv".into()]),
                ..Properties::default()
            })),
        ]
    }

    fn feed_each(f: &mut RunFollower, inputs: Vec<Input>) -> Vec<Event> {
        inputs.into_iter().flat_map(|i| f.feed([i], NOW)).collect()
    }

    #[test]
    fn a_check_reads_as_its_phase_and_its_outcome() {
        let mut f = RunFollower::default();
        let events = feed_each(
            &mut f,
            vec![
                sig(HelperSignal::OperationStarted {
                    operation: "check".into(),
                }),
                phase("checking"),
                sig(HelperSignal::OperationFinished {
                    operation: "check".into(),
                    outcome: "failed".into(),
                    reason: "The repository is damaged: run igotchuu check".into(),
                }),
            ],
        );
        assert_eq!(names(&events), ["phase checking", "finished failed"]);
        let Some(Event::Finished(finish)) = events.last() else {
            panic!("no Finished")
        };
        assert_eq!(finish.summary, None);
        assert_eq!(
            finish.reason,
            "The repository is damaged: run igotchuu check"
        );
        assert_eq!(f.ended(), Some(&Ended::Outcome(Outcome::Failed)));
    }

    #[test]
    fn a_whole_run_reads_as_the_backup_printed_it() {
        let mut f = RunFollower::default();
        let summary = Summary {
            files_new: 3,
            snapshot_id: "abcd".into(),
            ..Summary::default()
        };
        let mut events = f.feed(started(), NOW);
        events.extend(feed_each(
            &mut f,
            vec![
                phase("preparing"),
                phase("snapshotting"),
                phase("backing-up"),
                progress(1),
                sig(HelperSignal::Error(ItemError {
                    item: "/home/secret".into(),
                    ..ItemError::default()
                })),
                sig(HelperSignal::ErrorsFolded(4)),
                progress(2),
                phase("cleaning-up"),
                sig(HelperSignal::BackupComplete {
                    summary: summary.clone(),
                    data_added_known: true,
                }),
                sig(HelperSignal::BackupFinished {
                    outcome: "completed-with-warnings".into(),
                    reason: "5 unreadable".into(),
                }),
                phase("idle"),
                Input::HelperGone { history: None },
            ],
        ));
        assert_eq!(
            names(&events),
            [
                "started 2",
                "phase preparing",
                "phase snapshotting",
                "phase backing-up",
                "progress 1",
                "error /home/secret",
                "progress 2",
                "phase cleaning-up",
                "finished completed-with-warnings",
            ]
        );
        let Some(Event::Started(info)) = events.first() else {
            panic!()
        };
        assert_eq!(info.places, [Path::new("/home"), Path::new("/srv")]);
        assert_eq!(info.profile, None, "an empty profile is none");
        let Some(Event::Finished(finish)) = events.last() else {
            panic!("no Finished")
        };
        assert_eq!(finish.summary.as_ref(), Some(&summary));
        assert_eq!(finish.error_count, 5, "one heard, four folded");
        assert_eq!(finish.item_errors.len(), 1);
        assert_eq!(finish.reason, "5 unreadable");
        assert_eq!(
            f.ended(),
            Some(&Ended::Outcome(Outcome::CompletedWithWarnings))
        );
        assert!(!f.run_open());
    }

    #[test]
    fn joining_mid_run_shows_where_it_is_at_once() {
        let mut f = RunFollower::default();
        let idle = Input::HelperPresent {
            properties: Properties {
                phase: Some(None),
                ..Properties::default()
            },
            history: None,
        };
        assert!(f.feed([idle], NOW).is_empty(), "idle: nothing to show");
        let joined = Input::HelperPresent {
            properties: Properties {
                phase: Some(Some(Phase::BackingUp)),
                progress: Some(Progress {
                    files_done: 40,
                    ..Progress::default()
                }),
                started_at: Some(1_700_000_000),
                error_count: Some(2),
                places: Some(vec!["/home".into()]),
                ..Properties::default()
            },
            history: None,
        };
        let mut events = f.feed([joined], NOW);
        events.extend(feed_each(
            &mut f,
            vec![
                phase("backing-up"),
                progress(41),
                sig(HelperSignal::BackupFinished {
                    outcome: "completed".into(),
                    reason: "done".into(),
                }),
            ],
        ));
        assert_eq!(
            names(&events),
            [
                "started 1",
                "phase backing-up",
                "progress 40",
                "progress 41",
                "finished completed"
            ]
        );
        let Some(Event::Finished(finish)) = events.last() else {
            panic!()
        };
        assert_eq!(finish.error_count, 2, "the errors before the join count");
    }

    #[test]
    fn the_original_helper_is_followed_to_its_end() {
        // No properties, Progress only, a 13-argument BackupComplete, no
        // BackupFinished; the history holds an older, unrelated failure.
        let older = RunRecord {
            reason: "wrong password".into(),
            ..RunRecord::new(
                igotchuu_dbus::Operation::Backup,
                Outcome::Failed,
                NOW - 320,
                NOW - 300,
            )
        };
        let mut history = History::default();
        history.push(older);
        let no_properties = Input::HelperPresent {
            properties: Properties::default(),
            history: None,
        };

        let mut f = RunFollower::default();
        let mut events = f.feed([no_properties.clone()], NOW);
        events.extend(feed_each(
            &mut f,
            vec![
                sig(HelperSignal::BackupStarted),
                progress(217),
                sig(HelperSignal::BackupComplete {
                    summary: Summary {
                        files_new: 1500,
                        snapshot_id: "fede886f".into(),
                        ..Summary::default()
                    },
                    data_added_known: false,
                }),
            ],
        ));
        assert!(f.wants_history());
        events.extend(f.feed(
            [Input::HelperGone {
                history: Some(history.clone()),
            }],
            NOW + 2,
        ));
        assert_eq!(
            names(&events),
            [
                "started 0",
                "phase preparing",
                "phase backing-up",
                "progress 217",
                "finished completed"
            ]
        );
        assert_eq!(f.ended(), Some(&Ended::Outcome(Outcome::Completed)));
        let Some(Event::Finished(finish)) = events.last() else {
            panic!()
        };
        assert_eq!(finish.summary, None, "not with a data_added of 0");
        assert_eq!(f.summary_without_size().unwrap().files_new, 1500);

        // The same run without BackupComplete: unknown, not the old failure.
        let mut f = RunFollower::default();
        f.feed([no_properties], NOW);
        feed_each(&mut f, vec![sig(HelperSignal::BackupStarted), progress(1)]);
        let events = f.feed(
            [Input::HelperGone {
                history: Some(history),
            }],
            NOW + 2,
        );
        assert!(events.is_empty(), "{:?}", names(&events));
        assert!(
            matches!(f.ended(), Some(Ended::Unknown(why)) if !why.contains("wrong password")),
            "{:?}",
            f.ended()
        );
        assert!(!f.run_open());
        assert!(
            f.feed([progress(9)], NOW).is_empty(),
            "nothing after the end"
        );
    }

    #[test]
    fn signals_of_a_run_not_seen_starting_are_ignored() {
        let mut f = RunFollower::default();
        let stray = vec![
            phase("idle"),
            sig(HelperSignal::BackupFinished {
                outcome: "completed".into(),
                reason: String::new(),
            }),
            Input::HelperGone { history: None },
        ];
        assert!(feed_each(&mut f, stray).is_empty());
        assert_eq!(f.ended(), None);
    }

    #[test]
    fn an_unknown_outcome_name_is_taken_as_failed() {
        let mut f = RunFollower::default();
        f.feed([sig(HelperSignal::BackupStarted)], NOW);
        let events = f.feed(
            [sig(HelperSignal::BackupFinished {
                outcome: "exploded".into(),
                reason: "later".into(),
            })],
            NOW,
        );
        assert_eq!(names(&events), ["finished failed"]);
    }
}
