//! The object at `/com/nyantec/igotchuu`: the seed's interface, exactly,
//! plus the additions documented in `dbus/com.nyantec.igotchuu1.xml`.

// The seed's Progress and BackupComplete signals have 9 and 14 arguments.
#![allow(clippy::too_many_arguments)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use igotchuu_dbus::{Phase, Progress, ACTION_START, ACTION_STOP};
use tokio::sync::{mpsc, oneshot, watch};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection};

use super::authorize::authorize;
use super::gate::{closed_error, Gate, Leave};
use super::live::LiveState;
use igotchuu_dbus::errors::Error as BackupError;

/// How bus callers steer the helper.
#[derive(Clone)]
pub struct Control {
    /// Asks the running backup to stop.
    pub stop: watch::Sender<bool>,
    /// Present when the helper waits for Start (D-Bus activation).
    pub start: Option<mpsc::Sender<StartRequest>>,
    /// Shared with the main task: see [`Gate`].
    pub gate: watch::Sender<Gate>,
}

/// A Start call that passed polkit and claimed the run, for the main task
/// to accept (it takes the run lock) or refuse.
pub struct StartRequest {
    /// The caller's unique bus name, for the log.
    pub caller: String,
    pub reply: oneshot::Sender<Result<(), BackupError>>,
}

pub struct BackupObject {
    pub live: Arc<Mutex<LiveState>>,
    pub control: Control,
}

impl BackupObject {
    fn live(&self) -> std::sync::MutexGuard<'_, LiveState> {
        // A panic elsewhere must not take the bus down with it.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn may_stop(&self) -> Result<(), BackupError> {
        let (phase, finished) = {
            let live = self.live();
            (live.phase, live.finished)
        };
        self.control.gate.borrow().may_stop(phase, finished)
    }
}

/// A Start call's polkit check, counted in the gate while it is out, so
/// that an activated helper does not leave while a person types a password.
struct StartCheck<'a> {
    gate: &'a watch::Sender<Gate>,
    counted: bool,
}

impl<'a> StartCheck<'a> {
    fn begin(gate: &'a watch::Sender<Gate>) -> Result<Self, BackupError> {
        let mut begun = Ok(());
        gate.send_modify(|g| begun = g.begin_check());
        begun.map(|()| StartCheck {
            gate,
            counted: true,
        })
    }

    /// Runs the check; gives up when the helper leaves. Ok means the run is
    /// claimed for this call.
    async fn run(
        mut self,
        check: impl Future<Output = Result<(), BackupError>>,
    ) -> Result<(), BackupError> {
        let mut gate = self.gate.subscribe();
        let checked = tokio::select! {
            r = check => r,
            g = gate.wait_for(|g| g.closing().is_some()) => {
                let why = g.ok().and_then(|g| g.closing()).unwrap_or(Leave::Signal);
                Err(closed_error(why))
            }
        };
        self.counted = false;
        let mut claimed = Ok(());
        self.gate.send_modify(|g| claimed = g.end_check(checked));
        claimed
    }
}

impl Drop for StartCheck<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.gate.send_modify(Gate::abandon_check);
        }
    }
}

fn exiting() -> BackupError {
    BackupError::Fdo(zbus::fdo::Error::Failed(
        "the igotchuu helper exited before it could start the backup; call Start again".into(),
    ))
}

fn caller(header: &Header<'_>) -> String {
    header
        .sender()
        .map_or_else(|| "an unknown caller".to_owned(), |s| s.to_string())
}

#[interface(name = "com.nyantec.igotchuu1")]
impl BackupObject {
    /// Stops the running backup: restic is interrupted and waited for, the
    /// snapshots are deleted, and the run ends with `stopped`.
    async fn stop(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        self.may_stop()?;
        authorize(conn, &header, ACTION_STOP, "stop the running backup").await?;
        // The run may have moved on while polkit was asked.
        self.may_stop()?;
        tracing::info!("stop requested over D-Bus by {}", caller(&header));
        self.control.stop.send_replace(true);
        Ok(())
    }

    /// Back up now.
    async fn start(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        let Some(start) = self.control.start.as_ref() else {
            return Err(BackupError::AlreadyRunning(
                "a backup is already running".into(),
            ));
        };
        StartCheck::begin(&self.control.gate)?
            .run(authorize(conn, &header, ACTION_START, "start a backup"))
            .await?;
        let (reply, answer) = oneshot::channel();
        let request = StartRequest {
            caller: caller(&header),
            reply,
        };
        // Only the call that claimed the run gets here, so there is room.
        if start.try_send(request).is_err() {
            return Err(exiting());
        }
        answer.await.unwrap_or_else(|_| Err(exiting()))
    }

    #[zbus(signal)]
    pub async fn backup_started(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn progress(
        emitter: &SignalEmitter<'_>,
        seconds_elapsed: u64,
        seconds_remaining: u64,
        percent_done: f64,
        total_files: u64,
        files_done: u64,
        total_bytes: u64,
        bytes_done: u64,
        error_count: u64,
        current_files: &[String],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn backup_complete(
        emitter: &SignalEmitter<'_>,
        files_new: u64,
        files_changed: u64,
        files_unmodified: u64,
        dirs_new: u64,
        dirs_changed: u64,
        dirs_unmodified: u64,
        data_blobs: i64,
        tree_blobs: i64,
        data_added: u64,
        total_files_processed: u64,
        total_bytes_processed: u64,
        total_duration: f64,
        snapshot_id: &str,
        dry_run: bool,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn error(
        emitter: &SignalEmitter<'_>,
        error: &str,
        during: &str,
        item: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn backup_finished(
        emitter: &SignalEmitter<'_>,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn errors_folded(emitter: &SignalEmitter<'_>, count: u64) -> zbus::Result<()>;

    #[zbus(property)]
    fn phase(&self) -> String {
        Phase::property_value(self.live().phase).to_owned()
    }

    #[zbus(property, name = "Progress")]
    fn progress_property(&self) -> Progress {
        self.live().progress.clone()
    }

    #[zbus(property)]
    fn started_at(&self) -> u64 {
        self.live().started_at
    }

    #[zbus(property)]
    fn profile(&self) -> String {
        self.live().profile.clone()
    }

    #[zbus(property)]
    fn places(&self) -> Vec<String> {
        self.live().places.clone()
    }

    #[zbus(property)]
    fn error_count(&self) -> u64 {
        self.live().error_count
    }
}
