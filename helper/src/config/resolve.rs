//! From the file's tables to the effective configuration: the chosen profile
//! laid over the top level, required keys present, and each snapshot's
//! location worked out.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::raw::{At, RawFile, RawSnapshot, RawTable};
use super::{Config, SnapshotSpec};

/// The effective configuration, and where each snapshot source was written
/// (for the subvolume check's messages).
#[derive(Debug)]
pub(super) struct Resolved {
    pub config: Config,
    /// One per `config.snapshots`, in the same order.
    pub sources: Vec<At<PathBuf>>,
    /// Where each of `config.places` was written, in the same order.
    pub places: Vec<At<PathBuf>>,
}

pub(super) fn resolve(
    raw: RawFile,
    file: &Path,
    profile: Option<&str>,
) -> Result<Resolved, ConfigError> {
    let table = match profile {
        None => raw.top,
        Some(name) => {
            let known: Vec<String> = raw.profiles.iter().map(|(n, _)| n.clone()).collect();
            let Some((_, chosen)) = raw.profiles.into_iter().find(|(n, _)| n == name) else {
                return Err(ConfigError::UnknownProfile {
                    file: file.to_owned(),
                    profile: name.to_owned(),
                    known,
                });
            };
            overlay(raw.top, chosen)
        }
    };

    let places = table.places.ok_or_else(|| ConfigError::MissingPlaces {
        file: file.to_owned(),
        profile: profile.map(str::to_owned),
    })?;
    let repository = table
        .repository
        .ok_or_else(|| ConfigError::MissingRepository {
            file: file.to_owned(),
            profile: profile.map(str::to_owned),
        })?;

    // `snapshot` defaults to the effective `places`, so a profile that only
    // changes `places` snapshots what it backs up.
    let wanted = match table.snapshot {
        Some(snapshot) => snapshot.value,
        None => places
            .value
            .iter()
            .map(|place| RawSnapshot {
                source: place.clone(),
                location: None,
            })
            .collect(),
    };
    let (snapshots, sources) = snapshot_specs(wanted, table.snapshot_prefix.as_ref(), file)?;

    Ok(Resolved {
        config: Config {
            file: file.to_owned(),
            profile: profile.map(str::to_owned),
            places: places.value.iter().map(|p| p.value.clone()).collect(),
            snapshots,
            exec_before_snapshot: table.exec_before_snapshot.map(|a| a.value),
            ignore_nested: table
                .ignore_nested
                .map(|a| a.value.into_iter().map(|p| p.value).collect())
                .unwrap_or_default(),
            restic_backup_args: table
                .restic_backup_args
                .map(|a| a.value)
                .unwrap_or_default(),
            restic_args: table.restic_args.map(|a| a.value).unwrap_or_default(),
            repository: repository.value,
            password: table.password.map(|p| p.value),
            stall_timeout: match table.stall_timeout.map(|s| s.value) {
                None => Some(super::DEFAULT_STALL_TIMEOUT),
                Some(0) => None,
                Some(seconds) => Some(std::time::Duration::from_secs(seconds)),
            },
            retention: table.keep.policy(),
            check_read_data_subset: table.check_read_data_subset.map(|s| s.value),
            run_on_battery: table.run_on_battery.is_some_and(|b| b.value),
            run_on_metered: table.run_on_metered.is_some_and(|b| b.value),
            stale_after_days: table
                .stale_after_days
                .map_or(igotchuu_dbus::settings::DEFAULT_STALE_AFTER_DAYS, |d| {
                    d.value
                }),
            wait_timeout: match table.wait_timeout.map(|s| s.value) {
                None => Some(super::DEFAULT_WAIT_TIMEOUT),
                Some(0) => None,
                Some(seconds) => Some(std::time::Duration::from_secs(seconds)),
            },
        },
        sources,
        places: places.value,
    })
}

/// Each key the profile sets replaces the top level's wholesale. The pairs of
/// alternatives are one field each, so setting `repo` in a profile also drops
/// a top-level `repository_file`. The `keep_*` keys are one policy: a
/// profile that sets any of them replaces all of the top level's.
fn overlay(top: RawTable, profile: RawTable) -> RawTable {
    RawTable {
        places: profile.places.or(top.places),
        snapshot: profile.snapshot.or(top.snapshot),
        snapshot_prefix: profile.snapshot_prefix.or(top.snapshot_prefix),
        stall_timeout: profile.stall_timeout.or(top.stall_timeout),
        exec_before_snapshot: profile.exec_before_snapshot.or(top.exec_before_snapshot),
        ignore_nested: profile.ignore_nested.or(top.ignore_nested),
        restic_backup_args: profile.restic_backup_args.or(top.restic_backup_args),
        restic_args: profile.restic_args.or(top.restic_args),
        repository: profile.repository.or(top.repository),
        password: profile.password.or(top.password),
        keep: if profile.keep.is_set() {
            profile.keep
        } else {
            top.keep
        },
        check_read_data_subset: profile
            .check_read_data_subset
            .or(top.check_read_data_subset),
        run_on_battery: profile.run_on_battery.or(top.run_on_battery),
        run_on_metered: profile.run_on_metered.or(top.run_on_metered),
        stale_after_days: profile.stale_after_days.or(top.stale_after_days),
        wait_timeout: profile.wait_timeout.or(top.wait_timeout),
    }
}

/// Where each snapshot goes; refuses a source listed twice and two
/// snapshots that would land on the same path.
fn snapshot_specs(
    wanted: Vec<RawSnapshot>,
    prefix: Option<&At<PathBuf>>,
    file: &Path,
) -> Result<(Vec<SnapshotSpec>, Vec<At<PathBuf>>), ConfigError> {
    let mut specs: Vec<SnapshotSpec> = Vec::with_capacity(wanted.len());
    let mut sources: Vec<At<PathBuf>> = Vec::with_capacity(wanted.len());
    // Where each location was decided: `snapshot_location`, or the source.
    let mut location_origins: Vec<(String, usize)> = Vec::with_capacity(wanted.len());
    for RawSnapshot { source, location } in wanted {
        if let Some(first) = sources.iter().find(|s| s.value == source.value) {
            return Err(ConfigError::DuplicateSource {
                file: file.to_owned(),
                line: source.line,
                key: source.key,
                path: source.value,
                first_key: first.key.clone(),
                first_line: first.line,
            });
        }
        let (location, origin, chosen_at) = match (location, prefix) {
            (Some(at), _) => (at.value, (at.key.clone(), at.line), Some((at.key, at.line))),
            (None, Some(prefix)) => (
                prefixed(&prefix.value, &source.value),
                (source.key.clone(), source.line),
                Some((prefix.key.clone(), prefix.line)),
            ),
            (None, None) => (
                source.value.clone(),
                (source.key.clone(), source.line),
                None,
            ),
        };
        if let Some(i) = specs.iter().position(|s| s.location == location) {
            let (first_key, first_line) = location_origins[i].clone();
            return Err(ConfigError::DuplicateLocation {
                file: file.to_owned(),
                line: origin.1,
                key: origin.0,
                location,
                first_key,
                first_line,
            });
        }
        specs.push(SnapshotSpec {
            source: source.value.clone(),
            location,
            chosen_at,
        });
        sources.push(source);
        location_origins.push(origin);
    }
    Ok((specs, sources))
}

/// `prefix` + `source` as strings: `/mnt/snapshots` + `/home` is
/// `/mnt/snapshots/home` (`Path::join` would drop the prefix, as `source` is
/// absolute). Normalized after, so neither `/` as prefix nor `/` as source
/// leaves a `//` or a trailing slash for `path_at` to append to.
fn prefixed(prefix: &Path, source: &Path) -> PathBuf {
    let mut joined = OsString::from(prefix);
    joined.push(source);
    Path::new(&joined).components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_concatenates_paths() {
        // Compared as strings: Path equality ignores trailing slashes.
        let p = |prefix: &str, source: &str| {
            prefixed(Path::new(prefix), Path::new(source)).into_os_string()
        };
        assert_eq!(p("/mnt/snapshots", "/home"), "/mnt/snapshots/home");
        assert_eq!(p("/mnt/snapshots", "/"), "/mnt/snapshots");
        assert_eq!(p("/", "/var/lib"), "/var/lib");
    }
}
