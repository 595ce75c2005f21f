//! Running restic and understanding what it says.

pub mod check;
pub mod command;
pub mod failure;
pub mod forget;
pub mod lines;
pub mod message;
pub mod plain;
pub mod prune;
pub mod runner;
pub mod snapshots;
pub mod step;
