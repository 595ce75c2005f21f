//! Building restic command lines with the configuration's settings, so that
//! users never export repository or password settings by hand.

use std::process::Command;

use crate::config::{Config, Password};
use crate::{privileges, snapshots};

/// The binary, looked up in `PATH`.
pub const RESTIC: &str = "restic";

/// The inherited variables that could name another repository, or another
/// password, than the configuration's.
const REPOSITORY_VARS: [&str; 2] = ["RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE"];
const PASSWORD_VARS: [&str; 3] = [
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// `restic <restic_args> <subcommand…>` with the configured environment.
pub fn restic(config: &Config, subcommand: &[&str]) -> Command {
    let mut cmd = Command::new(RESTIC);
    // The configuration decides. Only when it sets no password may one come
    // from the environment (a systemd drop-in, say), as check-config says.
    let password_vars: &[&str] = if config.password.is_some() {
        &PASSWORD_VARS
    } else {
        &[]
    };
    for var in REPOSITORY_VARS.iter().chain(password_vars) {
        cmd.env_remove(var);
    }
    cmd.envs(config.restic_env());
    cmd.args(&config.restic_args);
    cmd.args(subcommand);
    cmd
}

/// `restic backup --json` of the configured places. A `password_command`
/// starts at once, run by the helper without capabilities
/// (`privileges::password`): call this in the tokio runtime, right before
/// running restic.
pub fn backup(config: &Config) -> Command {
    let mut cmd = restic(config, &["backup", "--json"]);
    if let Some(Password::Command(command)) = &config.password {
        privileges::password::hand_over(&mut cmd, command);
    }
    // The folders igotchuu makes for snapshots hold nothing worth keeping
    // (and are empty while a source's snapshot is taken).
    cmd.arg(format!("--exclude={}", snapshots::OWN_FOLDER));
    cmd.args(&config.restic_backup_args);
    // `--` so that a place can never be taken for an option.
    cmd.arg("--");
    cmd.args(&config.places);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Repository;

    fn config(password: Option<Password>) -> Config {
        let text = "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\n";
        let mut c = Config::parse(text, "/etc/igotchuu.toml".as_ref(), None).unwrap();
        c.password = password;
        c.restic_args = vec!["--no-cache".into()];
        c.restic_backup_args = vec!["--one-file-system".into()];
        c
    }

    fn env_of(cmd: &Command) -> Vec<(String, Option<String>)> {
        cmd.get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn the_configuration_decides_the_repository_and_password() {
        let cmd = backup(&config(Some(Password::File("/etc/pw".into()))));
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "--no-cache",
                "backup",
                "--json",
                "--exclude=.igotchuu-snapshots",
                "--one-file-system",
                "--",
                "/srv"
            ]
        );
        let env = env_of(&cmd);
        assert!(env.contains(&("RESTIC_REPOSITORY".into(), Some("/srv/repo".into()))));
        assert!(env.contains(&("RESTIC_PASSWORD_FILE".into(), Some("/etc/pw".into()))));
        // Inherited password settings are removed, not passed on.
        assert!(env.contains(&("RESTIC_PASSWORD".into(), None)));
        assert!(env.contains(&("RESTIC_REPOSITORY_FILE".into(), None)));
        // Every variable the configuration can set is one we clear first.
        let c = config(Some(Password::Command("x".into())));
        for (name, _) in c.restic_env() {
            assert!(REPOSITORY_VARS.contains(&name) || PASSWORD_VARS.contains(&name));
        }
        assert!(matches!(c.repository, Repository::Location(_)));
    }

    #[test]
    fn without_a_configured_password_the_environment_may_supply_one() {
        let env = env_of(&restic(&config(None), &["snapshots"]));
        assert!(!env.iter().any(|(k, _)| k.starts_with("RESTIC_PASSWORD")));
        assert!(env.contains(&("RESTIC_REPOSITORY_FILE".into(), None)));
    }
}
