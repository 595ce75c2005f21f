//! Building restic command lines with the configuration's settings, so that
//! users never export repository or password settings by hand.

use std::process::Command;

use crate::config::Config;

/// The binary, looked up in `PATH`.
pub const RESTIC: &str = "restic";

/// Every variable through which restic could pick up a repository or a
/// password. Inherited ones are removed so only the configuration counts.
const INHERITED_SECRETS: [&str; 5] = [
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// `restic <restic_args> <subcommand…>` with the configured environment.
pub fn restic(config: &Config, subcommand: &[&str]) -> Command {
    let mut cmd = Command::new(RESTIC);
    for var in INHERITED_SECRETS {
        cmd.env_remove(var);
    }
    cmd.envs(config.restic_env());
    cmd.args(&config.restic_args);
    cmd.args(subcommand);
    cmd
}

/// `restic backup --json` of the configured places.
pub fn backup(config: &Config) -> Command {
    let mut cmd = restic(config, &["backup", "--json"]);
    cmd.args(&config.restic_backup_args);
    // `--` so that a place can never be taken for an option.
    cmd.arg("--");
    cmd.args(&config.places);
    cmd
}
