//! Running restic and understanding what it says.

pub mod command;
pub mod failure;
pub mod lines;
pub mod message;
pub mod runner;
