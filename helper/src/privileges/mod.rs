//! What the helper's children may do. The helper needs `CAP_SYS_ADMIN` for
//! its namespace, snapshots and mounts; none of its children gets it
//! unless it is the administrator's own command:
//!
//! - restic reads every file (`CAP_DAC_READ_SEARCH`) and writes a local
//!   repository whatever its owner (`CAP_DAC_OVERRIDE`, for a local one
//!   only). Not `CAP_FOWNER`: restic sets `O_NOATIME` with fcntl after
//!   opening a file and ignores the EPERM it gets on another user's file
//!   without it (`internal/fs/setflags_linux.go`, 0.14 to 0.18); on the
//!   read-only snapshots restic reads, atimes do not change anyway. Its
//!   children (ssh for `sftp:`, rclone) run as restic does.
//! - `restic mount`, for Browse, gets `CAP_SYS_ADMIN` too: it runs
//!   `fusermount` to mount, and with no_new_privs the setuid bit does
//!   nothing (`bus::browse`).
//! - `restic restore --target /` (RestoreInPlace, `igotchuu restore
//!   --in-place`) also gets [`RESTORE_IN_PLACE`]: it gives files back
//!   their owners, modes and times.
//! - The copier of a restore into a folder (`run::restore`) runs as the
//!   caller's uid, gid and groups with no capabilities (as root: reading
//!   and writing every file); setting them is why `igotchuu-bus.service`
//!   keeps `CAP_SETUID` and `CAP_SETGID`.
//! - `password_command` runs with no capabilities ([`password`]).
//! - exec_before_snapshot keeps all of the helper's: it is there to mount.

pub mod caps;
pub mod password;

use std::ffi::OsStr;
use std::path::PathBuf;

use caps::{Cap, CapSet};

use crate::config::Repository;

/// What restic gets whatever the repository.
const RESTIC: CapSet = CapSet::of(&[Cap::DAC_READ_SEARCH]);

/// What `restic restore --target /` (RestoreInPlace) gets besides
/// [`restic_caps`]: it writes over any file and gives it back its owner,
/// mode (setuid bits too) and times, as root would.
pub const RESTORE_IN_PLACE: CapSet = CapSet::of(&[
    Cap::DAC_OVERRIDE,
    Cap::CHOWN,
    Cap::FOWNER,
    Cap::FSETID,
    Cap::MKNOD,
]);

/// The variables that name restic's repository (see `restic::command`).
const REPOSITORY_VAR: &str = "RESTIC_REPOSITORY";
const REPOSITORY_FILE_VAR: &str = "RESTIC_REPOSITORY_FILE";

/// restic's capabilities for `repository`: `CAP_DAC_OVERRIDE` too when the
/// repository is a folder on this machine.
pub fn restic_caps(repository: Option<&Repository>) -> CapSet {
    match repository.and_then(crate::view::repository_folder) {
        Some(_) => RESTIC.with(Cap::DAC_OVERRIDE),
        None => RESTIC,
    }
}

/// The repository a restic command will use, from the environment it
/// gets: its own settings, else the helper's (inherited).
pub fn repository_of(cmd: &std::process::Command) -> Option<Repository> {
    let mut location = None;
    let mut file = None;
    for (key, value) in cmd.get_envs() {
        if key == REPOSITORY_VAR {
            location = Some(value.map(OsStr::to_owned));
        } else if key == REPOSITORY_FILE_VAR {
            file = Some(value.map(OsStr::to_owned));
        }
    }
    let location = location.unwrap_or_else(|| std::env::var_os(REPOSITORY_VAR));
    let file = file.unwrap_or_else(|| std::env::var_os(REPOSITORY_FILE_VAR));
    match (location, file) {
        (Some(location), _) => Some(Repository::Location(
            location.to_string_lossy().into_owned(),
        )),
        (None, Some(file)) => Some(Repository::File(PathBuf::from(file))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps_for(vars: &[(&str, &str)]) -> CapSet {
        let mut cmd = std::process::Command::new("restic");
        cmd.env_remove(REPOSITORY_VAR)
            .env_remove(REPOSITORY_FILE_VAR);
        cmd.envs(vars.iter().copied());
        restic_caps(repository_of(&cmd).as_ref())
    }

    #[test]
    fn restic_writes_only_a_local_repository_whatever_its_owner() {
        let read = CapSet::of(&[Cap::DAC_READ_SEARCH]);
        let write = read.with(Cap::DAC_OVERRIDE);
        assert_eq!(caps_for(&[(REPOSITORY_VAR, "/srv/repo")]), write);
        assert_eq!(caps_for(&[(REPOSITORY_VAR, "local:/srv/repo")]), write);
        assert_eq!(caps_for(&[(REPOSITORY_VAR, "sftp:host:/srv/repo")]), read);
        assert_eq!(caps_for(&[(REPOSITORY_VAR, "rest:http://h:8000/")]), read);
        assert_eq!(caps_for(&[]), read);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("repository");
        std::fs::write(&file, "local:/mnt/usb/restic\n").unwrap();
        let file = file.to_str().unwrap();
        assert_eq!(caps_for(&[(REPOSITORY_FILE_VAR, file)]), write);
        std::fs::write(dir.path().join("repository"), "s3:s3.amazonaws.com/b\n").unwrap();
        assert_eq!(caps_for(&[(REPOSITORY_FILE_VAR, file)]), read);
        for set in [read, write] {
            assert!(!set.contains(Cap::SYS_ADMIN) && !set.contains(Cap::FOWNER));
        }
    }
}
