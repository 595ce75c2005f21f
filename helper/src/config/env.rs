//! The environment that tells restic where the repository is and how to get
//! its password.

use std::ffi::OsString;

use super::{Config, Password, Repository};

impl Config {
    /// The variables for the configured repository and password settings.
    pub fn restic_env(&self) -> Vec<(&'static str, OsString)> {
        let mut env = Vec::with_capacity(2);
        env.push(match &self.repository {
            Repository::Location(repo) => ("RESTIC_REPOSITORY", OsString::from(repo)),
            Repository::File(file) => ("RESTIC_REPOSITORY_FILE", file.clone().into_os_string()),
        });
        match &self.password {
            Some(Password::File(file)) => {
                env.push(("RESTIC_PASSWORD_FILE", file.clone().into_os_string()))
            }
            Some(Password::Command(command)) => {
                env.push(("RESTIC_PASSWORD_COMMAND", OsString::from(command)))
            }
            None => {}
        }
        env
    }
}
