//! Signal payloads. Field names, order and meaning follow restic's JSON
//! messages (`internal/ui/backup/json.go`) and the seed's interface XML.

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedValue, Type, Value};

/// One progress report (restic's `status` message).
///
/// On the bus it is the `Progress` signal's arguments and, as one struct
/// `(ttdtttttas)` with the fields in the same order, the `Progress`
/// property. Do not reorder the fields: the order is the wire format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Type, Value, OwnedValue)]
#[zvariant(crate = "zbus::zvariant")]
pub struct Progress {
    pub seconds_elapsed: u64,
    /// 0 while restic is still scanning and cannot estimate.
    pub seconds_remaining: u64,
    /// A fraction from 0 to 1.
    pub percent_done: f64,
    pub total_files: u64,
    pub files_done: u64,
    pub total_bytes: u64,
    pub bytes_done: u64,
    pub error_count: u64,
    pub current_files: Vec<String>,
}

impl Progress {
    /// The estimated time left, when restic has given one.
    pub fn eta_seconds(&self) -> Option<u64> {
        (self.seconds_remaining > 0).then_some(self.seconds_remaining)
    }
}

/// The result of a backup (restic's `summary` message).
///
/// Its first fourteen fields are the `BackupComplete` signal's arguments,
/// in order. It has no zvariant `Type`: the optional fields after them are
/// for the history file, and D-Bus has no optional values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unmodified: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unmodified: u64,
    pub data_blobs: i64,
    pub tree_blobs: i64,
    pub data_added: u64,
    pub total_files_processed: u64,
    pub total_bytes_processed: u64,
    pub total_duration: f64,
    /// Empty when restic made no snapshot (dry run, or 0.17+ with nothing saved).
    pub snapshot_id: String,
    pub dry_run: bool,
    /// Bytes added after compression; restic 0.17+ only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_added_packed: Option<u64>,
    /// RFC 3339 times of the backup; restic 0.18+ only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_end: Option<String>,
}

/// The `BackupComplete` signal's body: [`Summary`]'s first fourteen fields,
/// in order.
pub type BackupCompleteBody = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    i64,
    i64,
    u64,
    u64,
    u64,
    f64,
    String,
    bool,
);

/// The original (Python) helper's `BackupComplete` body: thirteen
/// arguments, [`BackupCompleteBody`] without `data_added`, although its
/// own XML declares it.
pub type OriginalBackupCompleteBody = (
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    i64,
    i64,
    u64,
    u64,
    f64,
    String,
    bool,
);

impl Summary {
    /// A summary from the `BackupComplete` signal's fourteen arguments.
    pub fn from_backup_complete(b: BackupCompleteBody) -> Self {
        let (fn_, fc, fu, dn, dc, du, db, tb, added, tf, tbytes, dur, id, dry) = b;
        Summary {
            files_new: fn_,
            files_changed: fc,
            files_unmodified: fu,
            dirs_new: dn,
            dirs_changed: dc,
            dirs_unmodified: du,
            data_blobs: db,
            tree_blobs: tb,
            data_added: added,
            total_files_processed: tf,
            total_bytes_processed: tbytes,
            total_duration: dur,
            snapshot_id: id,
            dry_run: dry,
            ..Default::default()
        }
    }

    /// A summary from the original helper's thirteen arguments. Its
    /// `data_added` is 0: unknown, not none (see
    /// [`HelperSignal::BackupComplete`](crate::signal::HelperSignal::BackupComplete)).
    pub fn from_original_backup_complete(b: OriginalBackupCompleteBody) -> Self {
        let (fn_, fc, fu, dn, dc, du, db, tb, tf, tbytes, dur, id, dry) = b;
        Self::from_backup_complete((fn_, fc, fu, dn, dc, du, db, tb, 0, tf, tbytes, dur, id, dry))
    }

    /// The `BackupComplete` signal's arguments, to send as the message body.
    pub fn backup_complete_body(&self) -> BackupCompleteBody {
        (
            self.files_new,
            self.files_changed,
            self.files_unmodified,
            self.dirs_new,
            self.dirs_changed,
            self.dirs_unmodified,
            self.data_blobs,
            self.tree_blobs,
            self.data_added,
            self.total_files_processed,
            self.total_bytes_processed,
            self.total_duration,
            self.snapshot_id.clone(),
            self.dry_run,
        )
    }
}

/// A file or folder restic could not read (restic's `error` message).
/// On the bus it is the `Error` signal's arguments, `(sss)` in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[zvariant(crate = "zbus::zvariant")]
pub struct ItemError {
    /// What went wrong. restic before 0.17.1 does not say; then this is
    /// a generic text.
    pub error: String,
    /// `scan` or `archival`.
    pub during: String,
    pub item: String,
}
