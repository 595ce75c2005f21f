//! The TOML configuration: parsing, profiles, validation and a redacted view.
//! OWNER: config agent. The types below are the contract the rest of the helper uses.

use std::path::{Path, PathBuf};

/// Where `igotchuu` looks when `-c` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/igotchuu.toml";

/// The effective configuration: the file's top level with the chosen
/// profile applied, every path checked to be absolute.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// The file it came from, for messages.
    pub file: PathBuf,
    /// The profile applied, if any.
    pub profile: Option<String>,
    /// What restic backs up.
    pub places: Vec<PathBuf>,
    /// What gets snapshotted and bind-mounted over its source first.
    pub snapshots: Vec<SnapshotSpec>,
    /// argv of a command run in the helper's mount namespace before snapshotting.
    pub exec_before_snapshot: Option<Vec<String>>,
    /// Extra arguments for `restic backup` only.
    pub restic_backup_args: Vec<String>,
    /// Extra arguments for every restic command.
    pub restic_args: Vec<String>,
    pub repository: Repository,
    pub password: Option<Password>,
}

/// One subvolume to snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSpec {
    /// The subvolume that is snapshotted and later covered by the snapshot.
    pub source: PathBuf,
    /// Where the snapshot goes, before `-<timestamp>` is appended:
    /// `snapshot_location` if given, else `snapshot_prefix` + `source`.
    pub location: PathBuf,
}

impl SnapshotSpec {
    /// The snapshot path for one run: `<location>-<stamp>`.
    pub fn path_at(&self, stamp: &str) -> PathBuf {
        let mut name = self.location.clone().into_os_string();
        name.push("-");
        name.push(stamp);
        PathBuf::from(name)
    }
}

/// Where the restic repository is.
#[derive(Clone, PartialEq, Eq)]
pub enum Repository {
    /// `repo`: passed as `RESTIC_REPOSITORY`. May hold credentials (rest:https://user:pw@…).
    Location(String),
    /// `repository_file`: passed as `RESTIC_REPOSITORY_FILE`.
    File(PathBuf),
}

/// How restic gets the repository password.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `password_file`: passed as `RESTIC_PASSWORD_FILE`.
    File(PathBuf),
    /// `password_command`: passed as `RESTIC_PASSWORD_COMMAND`.
    Command(String),
}

/// Why a configuration was refused. Every message names the file, and the
/// key and line where there is one, and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Todo(String),
}

impl Config {
    /// Reads, parses and fully validates `file` with `profile` applied,
    /// including the file's owner and mode and that each snapshot source is
    /// a btrfs subvolume.
    pub fn load(file: &Path, profile: Option<&str>) -> Result<Config, ConfigError> {
        let _ = (file, profile);
        todo!()
    }
}
