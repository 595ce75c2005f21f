//! What a run tells the world. The run produces these events; consumers
//! (the terminal printer, the D-Bus publisher, the run history) subscribe
//! to them, so the pipeline never needs to know who is listening.
//!
//! Every operation (backup, forget, prune, check) is bracketed by
//! [`Event::OperationStarted`] and [`Event::OperationFinished`]. A backup
//! also sends, in between, the seed's events: [`Event::Started`] first and
//! [`Event::Finished`] last, with progress and item errors between them.
//! One process may run several operations one after the other (a backup,
//! then a forget).

use std::path::PathBuf;
use std::time::SystemTime;

use igotchuu_dbus::{ItemError, Operation, Outcome, Phase, Progress, RunCondition, Summary};

/// The facts fixed at the start of an operation.
#[derive(Debug, Clone)]
pub struct OperationInfo {
    pub operation: Operation,
    pub started_at: SystemTime,
    pub profile: Option<String>,
    /// The configured places (what a backup saves, what forget selects).
    pub places: Vec<PathBuf>,
    /// Run conditions that were unmet, and overridden because the
    /// operation was started by hand.
    pub overridden: Vec<RunCondition>,
}

/// How an operation ended. Published exactly once per operation, as its
/// last event.
#[derive(Debug, Clone)]
pub struct OperationEnd {
    pub operation: Operation,
    pub outcome: Outcome,
    /// A sentence for people.
    pub reason: String,
}

/// The facts fixed at the start of a backup.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub started_at: SystemTime,
    pub profile: Option<String>,
    pub places: Vec<PathBuf>,
}

/// How a backup ended. Published exactly once, as the backup's last event
/// before its [`Event::OperationFinished`].
#[derive(Debug, Clone)]
pub struct Finish {
    pub outcome: Outcome,
    /// A sentence for people.
    pub reason: String,
    pub summary: Option<Summary>,
    /// How many files or folders restic could not read.
    pub error_count: u64,
    /// The first of them, as many as the run keeps.
    pub item_errors: Vec<ItemError>,
}

/// Something a person should know that does not stop the run.
#[derive(Debug, Clone)]
pub enum Notice {
    /// Nested subvolumes in one folder that nothing covers: a snapshot has
    /// an empty directory in their place, so their contents are not backed up.
    NestedNotBackedUp(NestedGroup),
    /// More folders with such subvolumes than are named one by one.
    MoreNestedNotBackedUp { folders: usize, subvolumes: usize },
    /// The nested subvolumes of a snapshot source could not be listed.
    NestedSurveyFailed { source: PathBuf, error: String },
    /// A snapshot left by a run that was killed was deleted.
    StaleSnapshotRemoved { path: PathBuf },
    /// A snapshot could not be deleted; it stays journalled for the next run.
    SnapshotLeft { path: PathBuf, error: String },
    /// exec_before_snapshot ran.
    PrepareCommandRan { argv: Vec<String> },
    /// Lines for people about what an operation did (the snapshots forget
    /// removed, what check found); bounded by whoever makes them.
    Report(Vec<String>),
    /// A line restic printed about what it does (prune, check).
    ResticSaid(String),
}

/// Nested subvolumes that are not backed up, all directly in one folder.
/// Bounded: however many there are, it holds a count and a small sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedGroup {
    pub folder: PathBuf,
    pub count: usize,
    /// The first few of them, sorted; the only one when `count` is 1.
    pub sample: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum Event {
    OperationStarted(OperationInfo),
    Started(RunInfo),
    PhaseChanged(Phase),
    Notice(Notice),
    Progress(Progress),
    ItemError(ItemError),
    Finished(Finish),
    OperationFinished(OperationEnd),
}

/// A consumer of events. `handle` is called on the run's task: it must not
/// block; slow work (bus I/O) belongs on the consumer's own task.
pub trait EventSink {
    fn handle(&mut self, event: &Event);
}

/// Fans each event out to every subscribed sink, in subscription order.
#[derive(Default)]
pub struct EventBus {
    sinks: Vec<Box<dyn EventSink>>,
}

impl EventBus {
    pub fn subscribe(&mut self, sink: Box<dyn EventSink>) {
        self.sinks.push(sink);
    }

    pub fn publish(&mut self, event: Event) {
        for sink in &mut self.sinks {
            sink.handle(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    struct Recorder(Rc<RefCell<Vec<String>>>, &'static str);

    impl EventSink for Recorder {
        fn handle(&mut self, event: &Event) {
            let name = match event {
                Event::PhaseChanged(p) => p.to_string(),
                _ => "other".into(),
            };
            self.0.borrow_mut().push(format!("{}:{name}", self.1));
        }
    }

    #[test]
    fn every_sink_sees_every_event_in_order() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut bus = EventBus::default();
        bus.subscribe(Box::new(Recorder(log.clone(), "a")));
        bus.subscribe(Box::new(Recorder(log.clone(), "b")));
        bus.publish(Event::PhaseChanged(Phase::Snapshotting));
        bus.publish(Event::PhaseChanged(Phase::BackingUp));
        assert_eq!(
            *log.borrow(),
            [
                "a:snapshotting",
                "b:snapshotting",
                "a:backing-up",
                "b:backing-up"
            ]
        );
    }
}
