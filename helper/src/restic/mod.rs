//! Running restic and understanding what it says.

pub mod failure;
pub mod lines;
pub mod message;
