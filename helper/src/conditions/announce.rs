//! Telling the desktop that a scheduled operation was postponed, as the
//! bus contract says: `OperationStarted(op)` then
//! `OperationFinished(op, "postponed", reason)`, and nothing else. The
//! helper's name is taken for just that long, and given up before the
//! wait, which holds no name (a run by hand must find it free).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::{Outcome, BUS_NAME};
use tokio::sync::watch;

use crate::bus::{self, Control, LiveState, NameRole, Publisher};
use crate::config::Config;
use crate::events::{Event, EventSink, OperationEnd, OperationInfo};

use super::services::SystemBus;

/// How long taking the name, or sending the two signals, may take.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends the postponed operation's two signals, if the bus and the name
/// are there; else says why at debug level (the history has the record).
/// A name with an owner is left alone: a run is on, or a helper the bus
/// activated waits for a Start call (perhaps for a person's password),
/// which taking the name would end.
pub async fn postponed(bus: &SystemBus, config: &Config, record: &RunRecord) {
    if bus.has_owner(BUS_NAME).await != Some(false) {
        tracing::debug!(
            "the postponed run is not announced: {BUS_NAME} is taken, or the bus did not say"
        );
        return;
    }
    let control = Control {
        stop: watch::channel(false).0,
        // Not waiting for Start: a Start call meanwhile is refused.
        start: None,
        gate: watch::Sender::new(bus::Gate::accepted()),
        // Gone in a moment: nothing to browse with.
        browse: None,
        restore: None,
    };
    let live = Arc::new(Mutex::new(LiveState::default()));
    let attach = Publisher::attach(live, control, NameRole::Run);
    let publisher = match tokio::time::timeout(ANNOUNCE_TIMEOUT, attach).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::debug!("the postponed run is not announced on the bus: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("the postponed run is not announced: the bus is slow");
            return;
        }
    };
    let conn = publisher.connection().clone();
    let (mut sink, task) = publisher.start();
    sink.handle(&Event::OperationStarted(OperationInfo {
        operation: record.operation,
        started_at: SystemTime::now(),
        profile: config.profile.clone(),
        places: config.places.clone(),
        overridden: Vec::new(),
    }));
    sink.handle(&Event::OperationFinished(OperationEnd {
        operation: record.operation,
        outcome: Outcome::Postponed,
        reason: record.reason.clone(),
    }));
    // The task sends what it has, gives the name up, and ends.
    drop(sink);
    if tokio::time::timeout(ANNOUNCE_TIMEOUT, task).await.is_err() {
        tracing::warn!("the postponed run's D-Bus signals could not be sent in time");
    }
    // Again, in case the task did not get to it: the wait holds no name.
    let _ = tokio::time::timeout(ANNOUNCE_TIMEOUT, bus::release_name(&conn)).await;
}
