//! The object at `/com/nyantec/igotchuu/public`: the interface as every
//! local user may see it. The bus policy lets only root and administrators
//! read the detailed object (`object.rs`), whose signals and properties name
//! the files of every user; everyone else follows this one, which carries
//! the same signals and properties without a path, a file name or an error
//! text in them (`igotchuu_dbus::redact`). `Start` and `Stop` stay on the
//! detailed object, where anyone may call them and polkit decides.

// The seed's Progress and BackupComplete signals have 9 and 14 arguments.
#![allow(clippy::too_many_arguments)]

use std::sync::{Arc, Mutex};

use igotchuu_dbus::{redact, Operation, Phase, Progress};
use zbus::interface;
use zbus::object_server::SignalEmitter;

use super::live::LiveState;

pub struct PublicObject {
    pub live: Arc<Mutex<LiveState>>,
}

impl PublicObject {
    fn live(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[interface(name = "com.nyantec.igotchuu1")]
impl PublicObject {
    #[zbus(signal)]
    pub async fn backup_started(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    /// `current_files` is always empty here.
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

    /// `reason` is [`redact::public_reason`] of the outcome.
    #[zbus(signal)]
    pub async fn backup_finished(
        emitter: &SignalEmitter<'_>,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    /// An operation began: "backup", "forget", "prune" or "check".
    #[zbus(signal)]
    pub async fn operation_started(
        emitter: &SignalEmitter<'_>,
        operation: &str,
    ) -> zbus::Result<()>;

    /// An operation ended; always the last signal of that operation.
    /// `reason` is [`redact::public_reason`] of the operation and outcome.
    #[zbus(signal)]
    pub async fn operation_finished(
        emitter: &SignalEmitter<'_>,
        operation: &str,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn phase(&self) -> String {
        Phase::property_value(self.live().phase).to_owned()
    }

    #[zbus(property)]
    fn operation(&self) -> String {
        Operation::property_value(self.live().operation).to_owned()
    }

    #[zbus(property, name = "Progress")]
    fn progress_property(&self) -> Progress {
        redact::progress(&self.live().progress)
    }

    #[zbus(property)]
    fn started_at(&self) -> u64 {
        self.live().started_at
    }

    #[zbus(property)]
    fn profile(&self) -> String {
        self.live().profile.clone()
    }

    /// Always empty here: the places are paths.
    #[zbus(property)]
    fn places(&self) -> Vec<String> {
        Vec::new()
    }

    #[zbus(property)]
    fn error_count(&self) -> u64 {
        self.live().error_count
    }
}
