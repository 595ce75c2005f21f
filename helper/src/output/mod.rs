//! Event consumers that are not the bus: the terminal and the run history.

pub mod format;
pub mod history;
mod nested;
pub mod terminal;
