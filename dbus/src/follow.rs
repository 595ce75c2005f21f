//! Following the helper: what a client knows about it, and how each thing
//! it hears changes that. Written once, here, for every client: the tray,
//! the window and `igotchuu watch`. Pure: no bus, no clock, no files. A
//! client's driver reads the bus with [`crate::signal`], reads the history
//! with [`crate::history::read`] when [`Follower::wants_history`] says a
//! run may have ended unheard, and feeds it all to a [`Follower`] as
//! [`Input`]s; the follower answers with [`Update`]s.
//!
//! It follows every helper that speaks the interface, the original
//! (Python) one too: without a `Phase` property, a `Progress` signal means
//! that a backup is running; a `BackupComplete` of thirteen arguments is a
//! summary whose `data_added` is unknown; and a run whose helper left
//! without `BackupFinished` ended:
//!
//! - as its history record says, if one is provably that run's (see
//!   [`attribution`]);
//! - completed, if `BackupComplete` was heard (with warnings if restic
//!   could not read something);
//! - otherwise with an unknown outcome (`Finished::outcome` is `None`),
//!   which a client shows as such, never as a failure or a success.
//!
//! Operations (forget, prune, check) are followed alike: a newer helper
//! brackets each with `OperationStarted` and `OperationFinished` and says
//! which one runs in its `Operation` property; each ends in exactly one
//! [`Update::Finished`] whose [`Finished::operation`] says which it was.
//! Backups still end on `BackupFinished` (their `OperationFinished` adds
//! nothing), except a postponed one, which never began: it ends on its
//! `OperationFinished` alone. A helper that does not say (the original
//! one, or the seed's) runs backups only.

pub mod attribution;
mod follower;
mod state;
#[cfg(test)]
mod tests;

pub use follower::Follower;
pub use state::{
    operation_noun, operation_of_phase, unknown_end_reason, Finished, Input, State, Update,
    ITEM_ERRORS_FOLLOWED, UNKNOWN_END_REASON,
};
