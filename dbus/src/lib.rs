//! The contract between the root helper and its desktop clients.
//!
//! Both sides depend on this crate and on nothing of each other: the bus
//! names, the typed payloads of the `com.nyantec.igotchuu1` signals, the
//! outcome and phase vocabularies, the error names, a client proxy, a reader
//! of the helper's signals and properties, the one follower of the helper
//! that every client uses ([`follow`]), and the run-history file format
//! with its one bounded reader.
//! The interface itself is specified in `dbus/com.nyantec.igotchuu1.xml`.

pub mod errors;
pub mod follow;
pub mod history;
mod names;
mod payload;
pub mod proxy;
pub mod redact;
mod retention;
pub mod settings;
pub mod signal;
mod snapshot;
mod state;

pub use names::*;
pub use payload::{BackupCompleteBody, ItemError, OriginalBackupCompleteBody, Progress, Summary};
pub use proxy::Igotchuu1Proxy;
pub use retention::Retention;
pub use snapshot::{SnapshotInfo, MAX_SNAPSHOTS};
pub use state::{Operation, Outcome, Phase, RunCondition, UnknownName};
