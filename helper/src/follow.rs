//! A run seen from the bus, turned back into the run's own [`Event`]s, so
//! that `igotchuu watch` prints it with the same terminal printer as
//! `igotchuu backup`. Pure: the caller feeds it what it heard, in order.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use igotchuu_dbus::history::ITEM_ERRORS_KEPT;
use igotchuu_dbus::signal::{HelperSignal, Properties};
use igotchuu_dbus::{ItemError, Outcome, Phase, Summary};

use crate::events::{Event, Finish, RunInfo};

/// What a follower hears about the helper.
#[derive(Debug, Clone)]
pub enum Heard {
    /// The helper was on the bus when the follower connected (or the
    /// follower missed its start): all its properties, read then.
    Joined(Properties),
    /// `BackupStarted`, with the properties read right after it (for the
    /// places; the phases follow as `PropertiesChanged`, in order).
    Started(Properties),
    Signal(HelperSignal),
    /// The process that owned the name left the bus (or lost the name).
    Gone,
}

/// Follows one run, from its start (or from whenever the follower joined)
/// to its `BackupFinished`.
#[derive(Debug, Default)]
pub struct Follower {
    open: bool,
    phase: Option<Phase>,
    summary: Option<Summary>,
    item_errors: Vec<ItemError>,
    errors: u64,
    folded: u64,
    finished: Option<Outcome>,
}

impl Follower {
    /// Whether a run is under way (started or joined, and not finished).
    pub fn run_open(&self) -> bool {
        self.open
    }

    /// How the followed run ended, once it has.
    pub fn finished(&self) -> Option<Outcome> {
        self.finished
    }

    /// The events that `heard` stands for, in order.
    pub fn feed(&mut self, heard: Heard) -> Vec<Event> {
        if self.finished.is_some() {
            return Vec::new();
        }
        let mut events = Vec::new();
        match heard {
            Heard::Joined(p) => self.joined(p, &mut events),
            Heard::Started(p) if !self.open => self.begin(&p, &mut events),
            Heard::Started(_) => {}
            Heard::Signal(s) => self.signal(s, &mut events),
            Heard::Gone if self.open => self.finish(
                Outcome::Failed,
                "the helper left the bus before it said how the run ended; see its log".into(),
                &mut events,
            ),
            Heard::Gone => {}
        }
        events
    }

    /// What the run has said so far, at once.
    fn joined(&mut self, p: Properties, events: &mut Vec<Event>) {
        let Some(phase) = p.phase.flatten() else {
            return;
        };
        if !self.open {
            self.begin(&p, events);
            // Errors before the join were not heard; only their number.
            self.folded = p.error_count.unwrap_or(0);
        }
        self.phase_changed(phase, events);
        if let Some(progress) = p.progress.filter(|_| phase == Phase::BackingUp) {
            events.push(Event::Progress(progress));
        }
    }

    fn signal(&mut self, s: HelperSignal, events: &mut Vec<Event>) {
        match s {
            // Fed as is when its properties could not be read: no places to name.
            HelperSignal::BackupStarted if !self.open => self.begin(&Properties::default(), events),
            HelperSignal::PropertiesChanged(p) if self.open => {
                if let Some(phase) = p.phase.flatten() {
                    self.phase_changed(phase, events);
                }
            }
            HelperSignal::Progress(p) if self.open => events.push(Event::Progress(p)),
            HelperSignal::Error(e) if self.open => {
                self.errors += 1;
                if self.item_errors.len() < ITEM_ERRORS_KEPT {
                    self.item_errors.push(e.clone());
                }
                events.push(Event::ItemError(e));
            }
            HelperSignal::ErrorsFolded(n) if self.open => self.folded += n,
            HelperSignal::BackupComplete(summary) if self.open => self.summary = Some(summary),
            HelperSignal::BackupFinished { outcome, reason } if self.open => {
                let outcome = outcome.parse().unwrap_or_else(|e| {
                    tracing::warn!("the helper sent an outcome this version does not know ({e}); taking it as failed");
                    Outcome::Failed
                });
                self.finish(outcome, reason, events);
            }
            // Signals of a run this follower did not see start.
            _ => {}
        }
    }

    fn begin(&mut self, p: &Properties, events: &mut Vec<Event>) {
        self.open = true;
        let started_at = p
            .started_at
            .filter(|s| *s > 0)
            .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s));
        events.push(Event::Started(RunInfo {
            started_at,
            profile: p.profile.clone().filter(|s| !s.is_empty()),
            places: p
                .places
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        }));
    }

    fn phase_changed(&mut self, phase: Phase, events: &mut Vec<Event>) {
        if self.phase != Some(phase) {
            self.phase = Some(phase);
            events.push(Event::PhaseChanged(phase));
        }
    }

    fn finish(&mut self, outcome: Outcome, reason: String, events: &mut Vec<Event>) {
        self.open = false;
        self.finished = Some(outcome);
        events.push(Event::Finished(Finish {
            outcome,
            reason,
            summary: self.summary.take(),
            error_count: self.errors + self.folded,
            item_errors: std::mem::take(&mut self.item_errors),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igotchuu_dbus::Progress;

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
            })
            .collect()
    }

    fn phase(p: &str) -> Heard {
        Heard::Signal(HelperSignal::PropertiesChanged(Properties {
            phase: Some(Phase::from_property(p).unwrap()),
            ..Properties::default()
        }))
    }

    fn progress(n: u64) -> Heard {
        Heard::Signal(HelperSignal::Progress(Progress {
            files_done: n,
            ..Progress::default()
        }))
    }

    fn started_properties() -> Heard {
        Heard::Started(Properties {
            phase: Some(Some(Phase::Preparing)),
            started_at: Some(1_700_000_000),
            profile: Some(String::new()),
            places: Some(vec!["/home".into(), "/srv".into()]),
            ..Properties::default()
        })
    }

    fn feed_all(f: &mut Follower, heard: Vec<Heard>) -> Vec<Event> {
        heard.into_iter().flat_map(|h| f.feed(h)).collect()
    }

    #[test]
    fn a_whole_run_reads_as_the_backup_printed_it() {
        let mut f = Follower::default();
        let summary = Summary {
            files_new: 3,
            snapshot_id: "abcd".into(),
            ..Summary::default()
        };
        let mut events = f.feed(started_properties());
        events.extend(feed_all(
            &mut f,
            vec![
                phase("preparing"),
                phase("snapshotting"),
                phase("backing-up"),
                progress(1),
                Heard::Signal(HelperSignal::Error(ItemError {
                    item: "/home/secret".into(),
                    ..ItemError::default()
                })),
                Heard::Signal(HelperSignal::ErrorsFolded(4)),
                progress(2),
                phase("cleaning-up"),
                Heard::Signal(HelperSignal::BackupComplete(summary.clone())),
                Heard::Signal(HelperSignal::BackupFinished {
                    outcome: "completed-with-warnings".into(),
                    reason: "5 unreadable".into(),
                }),
                phase("idle"),
                Heard::Gone,
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
        let Some(Event::Finished(finish)) = events.last() else {
            panic!("no Finished")
        };
        assert_eq!(finish.summary.as_ref(), Some(&summary));
        assert_eq!(finish.error_count, 5, "one heard, four folded");
        assert_eq!(finish.item_errors.len(), 1);
        assert_eq!(finish.reason, "5 unreadable");
        assert_eq!(f.finished(), Some(Outcome::CompletedWithWarnings));
        assert!(!f.run_open());
    }

    #[test]
    fn the_places_come_from_the_properties_read_at_the_start() {
        let mut f = Follower::default();
        // Connected while the helper waited for Start: idle, nothing to show.
        let idle = Properties {
            phase: Some(None),
            ..Properties::default()
        };
        assert!(f.feed(Heard::Joined(idle)).is_empty());
        assert!(!f.run_open());
        let events = f.feed(started_properties());
        let Some(Event::Started(info)) = events.first() else {
            panic!("{:?}", names(&events))
        };
        assert_eq!(info.places, [Path::new("/home"), Path::new("/srv")]);
        assert_eq!(info.profile, None, "an empty profile is none");
        assert_eq!(
            info.started_at,
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        // The phase comes from the signals that follow, in their order,
        // not from the read (which may already be ahead of them).
        assert_eq!(names(&events), ["started 2"]);
        assert!(
            f.feed(started_properties()).is_empty(),
            "one run, one start"
        );
        // A BackupStarted whose properties could not be read starts it too.
        let mut g = Follower::default();
        let events = g.feed(Heard::Signal(HelperSignal::BackupStarted));
        assert_eq!(names(&events), ["started 0"]);
    }

    use std::path::Path;

    #[test]
    fn joining_mid_run_shows_where_it_is_at_once() {
        let mut f = Follower::default();
        let joined = Heard::Joined(Properties {
            phase: Some(Some(Phase::BackingUp)),
            progress: Some(Progress {
                files_done: 40,
                ..Progress::default()
            }),
            error_count: Some(2),
            places: Some(vec!["/home".into()]),
            ..Properties::default()
        });
        let mut events = f.feed(joined);
        // What was queued meanwhile repeats the phase; it is not shown twice.
        events.extend(feed_all(
            &mut f,
            vec![
                phase("backing-up"),
                progress(41),
                Heard::Signal(HelperSignal::BackupFinished {
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
    fn a_helper_that_vanishes_mid_run_is_a_failure() {
        let mut f = Follower::default();
        f.feed(Heard::Signal(HelperSignal::BackupStarted));
        f.feed(phase("backing-up"));
        let events = f.feed(Heard::Gone);
        assert_eq!(names(&events), ["finished failed"]);
        assert_eq!(f.finished(), Some(Outcome::Failed));
        // And nothing after the end counts.
        assert!(f.feed(progress(9)).is_empty());
        assert!(f
            .feed(Heard::Signal(HelperSignal::BackupStarted))
            .is_empty());
    }

    #[test]
    fn signals_of_a_run_not_seen_starting_are_ignored() {
        let mut f = Follower::default();
        let stray = vec![
            progress(1),
            phase("backing-up"),
            Heard::Signal(HelperSignal::BackupFinished {
                outcome: "completed".into(),
                reason: String::new(),
            }),
            Heard::Gone,
        ];
        assert!(feed_all(&mut f, stray).is_empty());
        assert_eq!(f.finished(), None);
    }

    #[test]
    fn an_unknown_outcome_is_taken_as_failed() {
        let mut f = Follower::default();
        f.feed(Heard::Signal(HelperSignal::BackupStarted));
        let events = f.feed(Heard::Signal(HelperSignal::BackupFinished {
            outcome: "postponed".into(),
            reason: "later".into(),
        }));
        assert_eq!(names(&events), ["finished failed"]);
    }
}
