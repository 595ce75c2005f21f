//! The TOML configuration: parsing, profiles, validation and a redacted view.
//! The types below are the contract the rest of the helper uses.
//!
//! [`Config::load`] refuses anything doubtful before the helper acts: the
//! file's ownership and mode, syntax, unknown keys, types, relative paths,
//! conflicting or missing settings, and snapshot sources that are not btrfs
//! subvolumes.

mod display;
mod env;
mod error;
mod file;
mod raw;
mod resolve;
mod subvolumes;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use error::ConfigError;

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
    /// Nested subvolumes at or below these paths are known not to be backed
    /// up, and are not reported.
    pub ignore_nested: Vec<PathBuf>,
    /// Extra arguments for `restic backup` only.
    pub restic_backup_args: Vec<String>,
    /// Extra arguments for every restic command.
    pub restic_args: Vec<String>,
    pub repository: Repository,
    pub password: Option<Password>,
    /// How long restic may make no progress before the run is stopped as
    /// stalled (a repository that stopped answering); `None`: for ever.
    pub stall_timeout: Option<std::time::Duration>,
    /// What `forget` keeps (keep_*); empty: nothing is forgotten.
    pub retention: igotchuu_dbus::Retention,
    /// `restic check --read-data-subset`, if set.
    pub check_read_data_subset: Option<String>,
    /// Scheduled runs also run on battery.
    pub run_on_battery: bool,
    /// Scheduled runs to a network repository also run over a metered
    /// connection.
    pub run_on_metered: bool,
    /// The desktop warns when the last backup is older than this.
    pub stale_after_days: u64,
    /// How long an operation waits for another run to end; `None`: it
    /// does not wait.
    pub wait_timeout: Option<std::time::Duration>,
}

/// The `stall_timeout` when the file sets none: half an hour.
pub const DEFAULT_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The `wait_timeout` when the file sets none: six hours, longer than a
/// long prune or a first backup usually takes.
pub const DEFAULT_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// One subvolume to snapshot.
#[derive(Debug, Clone, Eq)]
pub struct SnapshotSpec {
    /// The subvolume that is snapshotted and later covered by the snapshot.
    pub source: PathBuf,
    /// Where the snapshot goes, before `-<timestamp>` is appended:
    /// `snapshot_location` if given, else `snapshot_prefix` + `source`.
    pub location: PathBuf,
    /// Where the configuration chose `location` (`key`, line), or `None`
    /// when it is the default, next to the source.
    pub chosen_at: Option<(String, usize)>,
}

/// Where a location was chosen is provenance, for messages, like a line
/// number: two specs that snapshot the same source to the same place are equal.
impl PartialEq for SnapshotSpec {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, &self.location) == (&other.source, &other.location)
    }
}

impl SnapshotSpec {
    /// The snapshot path for one run: `<location>-<stamp>`, and
    /// `/rootfs-<stamp>` for the snapshot of `/` next to itself.
    pub fn path_at(&self, stamp: &str) -> PathBuf {
        let location = if self.location.parent().is_none() {
            self.location.join("rootfs")
        } else {
            self.location.clone()
        };
        let mut name = location.into_os_string();
        name.push("-");
        name.push(stamp);
        PathBuf::from(name)
    }
}

/// Where the restic repository is. `Debug` redacts a password in a URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Repository {
    /// `repo`: passed as `RESTIC_REPOSITORY`. May hold credentials (rest:https://user:pw@…).
    Location(String),
    /// `repository_file`: passed as `RESTIC_REPOSITORY_FILE`.
    File(PathBuf),
}

/// How restic gets the repository password. `Debug` redacts the command.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// `password_file`: passed as `RESTIC_PASSWORD_FILE`.
    File(PathBuf),
    /// `password_command`: passed as `RESTIC_PASSWORD_COMMAND`.
    Command(String),
}

impl Config {
    /// Reads, parses and fully validates `file` with `profile` applied,
    /// including the file's owner and mode and that each snapshot source is
    /// a btrfs subvolume.
    pub fn load(file: &Path, profile: Option<&str>) -> Result<Config, ConfigError> {
        Self::load_with(file, profile, crate::btrfs::is_subvolume)
    }

    /// [`Config::load`] with the subvolume test given.
    fn load_with<E>(
        file: &Path,
        profile: Option<&str>,
        is_subvolume: impl Fn(&Path) -> Result<bool, E>,
    ) -> Result<Config, ConfigError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let text = file::read(file)?;
        let resolved = resolve::resolve(raw::parse(&text, file)?, file, profile)?;
        resolved.check_subvolumes(&is_subvolume)?;
        // Without a mount table, every path counts as unmounted: the check
        // can then only refuse more, never less.
        let mount_points = crate::view::mount_points().unwrap_or_default();
        resolved.check_hidden_places(&is_subvolume, &mount_points)?;
        Ok(resolved.config)
    }

    /// Whether restic reaches the repository over the network: anything but
    /// a folder on this machine. A `repository_file` that cannot be read
    /// counts as the network, so that `run_on_metered` errs on the side of
    /// not spending someone's mobile data.
    pub fn repository_is_remote(&self) -> bool {
        crate::view::repository_folder(&self.repository).is_none()
    }

    /// What the desktop may know of this configuration (`settings.json`).
    pub fn public_settings(&self) -> igotchuu_dbus::settings::Settings {
        igotchuu_dbus::settings::Settings {
            profile: self.profile.clone(),
            stale_after_days: self.stale_after_days,
            retention: self.retention.clone(),
            check_read_data_subset: self.check_read_data_subset.clone(),
            run_on_battery: self.run_on_battery,
            run_on_metered: self.run_on_metered,
        }
    }

    /// Parses and validates `text` as if read from `file`, with `profile`
    /// applied; checks neither the file nor the subvolumes.
    #[cfg(test)]
    pub fn parse(text: &str, file: &Path, profile: Option<&str>) -> Result<Config, ConfigError> {
        Ok(resolve::resolve(raw::parse(text, file)?, file, profile)?.config)
    }
}
