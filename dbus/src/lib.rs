//! The contract between the root helper and its desktop clients.
//!
//! Both sides depend on this crate and on nothing of each other: the bus
//! names, the typed payloads of the `com.nyantec.igotchuu1` signals, the
//! outcome and phase vocabularies, and the run-history file format.

pub mod history;
mod names;
mod payload;
mod state;

pub use names::*;
pub use payload::{ItemError, Progress, Summary};
pub use state::{Outcome, Phase, UnknownName};
