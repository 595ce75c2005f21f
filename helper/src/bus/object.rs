//! The object at `/com/nyantec/igotchuu`: the seed's interface, exactly,
//! plus the additions documented in `dbus/com.nyantec.igotchuu1.xml`.

// The seed's Progress and BackupComplete signals have 9 and 14 arguments.
#![allow(clippy::too_many_arguments)]

use std::sync::{Arc, Mutex};

use igotchuu_dbus::{Phase, Progress, ACTION_START, ACTION_STOP};
use tokio::sync::{mpsc, watch};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection};

use super::authorize::authorize;
use super::live::LiveState;
use igotchuu_dbus::errors::Error as BackupError;

/// How bus callers steer the helper.
#[derive(Clone)]
pub struct Control {
    /// Asks the running backup to stop.
    pub stop: watch::Sender<bool>,
    /// Present when the helper waits for Start (D-Bus activation).
    pub start: Option<mpsc::Sender<()>>,
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
        if !self.live().running() {
            return Err(BackupError::NotRunning("no backup is running".into()));
        }
        authorize(conn, &header, ACTION_STOP, "stop the running backup").await?;
        tracing::info!(
            "stop requested over D-Bus by {}",
            header.sender().map_or("?".into(), |s| s.to_string())
        );
        self.control.stop.send_replace(true);
        Ok(())
    }

    /// Back up now.
    async fn start(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        let busy = {
            let live = self.live();
            live.running() || live.finished
        };
        let Some(start) = self.control.start.as_ref().filter(|_| !busy) else {
            return Err(BackupError::AlreadyRunning(
                "a backup is already running".into(),
            ));
        };
        authorize(conn, &header, ACTION_START, "start a backup").await?;
        start
            .try_send(())
            .map_err(|_| BackupError::AlreadyRunning("a backup is already starting".into()))
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
