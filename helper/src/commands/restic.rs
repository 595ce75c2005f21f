//! `igotchuu restic -- …` and `igotchuu mount`: restic, configured.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;

use crate::cli::Cli;
use crate::restic::{command, failure::ResticFailure};

/// Replaces this process with restic; it keeps the terminal.
pub fn exec(cli: &Cli, args: &[&OsStr]) -> u8 {
    let config = match super::load_config(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut cmd = command::restic(&config, &[]);
    cmd.args(args);
    let err = cmd.exec();
    super::fail(ResticFailure::from_spawn_error(&err))
}
